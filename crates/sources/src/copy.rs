//! Reading `COPY … TO STDOUT` answers over a lean [`Connection`]: text lines ([`CopyLines`]), binary
//! `(ctid, xmin)` tuples ([`TidXminReader`]), and splitting/unescaping COPY text fields.
//!
//! Kept outside `diff` because every bulk reader needs it: the diff's merge today, snapshots (which read
//! tables with COPY the same way) next.
//!
//! Why text COPY: it is PostgreSQL's exact, deterministic spelling of every value (the type's output
//! function), so two rows are equal exactly when their lines are byte-equal — which lets the diff skip
//! unchanged rows without decoding them, and makes `1.0` vs `1.00`, NaN, xml, json and point compare
//! correctly without needing an `=` operator.
//!
//! Invariant: the readers are zero-copy over their receive buffers (a line is a [`Bytes`] slice of the
//! block it arrived in) and leave the connection ready for the next query once they returned `None` (or
//! [`TidXminReader::drain`] ran).

use bytes::{Bytes, BytesMut};
use tidemark_pgwire::{Connection, Dsn, PgError};

/// Session settings that make COPY text deterministic and identical on every connection (the diff's
/// two sides, a snapshot's workers). Sequential scans start at block 0 and run unparallelized, so
/// `(ctid, xmin)` streams arrive in ctid order; the diff's fast path checks that order and falls back
/// when it does not hold.
pub const SESSION_SETUP: &str =
    "SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET statement_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0; SET synchronize_seqscans = off; \
     SET max_parallel_workers_per_gather = 0";

/// A lean connection for bulk COPY reads inside the exported snapshot `snapshot` (REPEATABLE READ, READ
/// ONLY), with [`SESSION_SETUP`].
pub async fn join_snapshot(dsn: &Dsn, snapshot: &str) -> Result<Connection, crate::SourceError> {
    use crate::SourceError;
    let mut c = Connection::connect(dsn, false).await.map_err(SourceError::Pg)?;
    c.simple_query(SESSION_SETUP).await.map_err(SourceError::Pg)?;
    c.simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(SourceError::Pg)?;
    c.simple_query(&format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''")))
        .await
        .map_err(SourceError::Pg)?;
    Ok(c)
}

/// Lines of a `COPY … TO STDOUT` (text) answer, without the trailing newline, zero-copy. Read over a
/// [`Connection`] of our own (see [`TidXminReader`] for why).
pub struct CopyLines<'a> {
    conn: &'a mut Connection,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    done: bool,
}

impl std::fmt::Debug for CopyLines<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyLines").field("buffered", &self.buf.len()).finish()
    }
}

impl<'a> CopyLines<'a> {
    /// Start `sql`, a `COPY … TO STDOUT`, on `conn`. The connection is busy until
    /// [`CopyLines::next_line`] returned `None`.
    pub async fn start(conn: &'a mut Connection, sql: &str) -> Result<CopyLines<'a>, PgError> {
        conn.copy_out_start(sql).await?;
        Ok(CopyLines { conn, buf: BytesMut::with_capacity(256 * 1024), scanned: 0, done: false })
    }

    /// Next line, or `None` at the end.
    #[inline]
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, PgError> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                let i = self.scanned + i;
                self.scanned = 0;
                let mut line = self.buf.split_to(i + 1);
                line.truncate(i);
                return Ok(Some(line.freeze()));
            }
            self.scanned = self.buf.len();
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(self.buf.split().freeze()));
            }
            if self.buf.capacity() - self.buf.len() < 64 * 1024 {
                // A fresh block rather than growing one that lines still point into.
                let rest = self.buf.split();
                self.buf = BytesMut::with_capacity(256 * 1024 + rest.len());
                self.buf.extend_from_slice(&rest);
            }
            if !self.conn.copy_out_next(&mut self.buf).await? {
                self.done = true;
            }
        }
    }
}

/// Binary COPY of `(ctid, xmin)` tuples: 20 fixed bytes per row (field count, then two length-prefixed
/// values) after an 11-byte signature and the
/// header words. Cheaper on both ends than text (no `tid` formatting or parsing). Read over a
/// [`Connection`] of our own rather than tokio-postgres: the server sends one message per row, and at
/// ~20 bytes a row the general client's per-message work was half of the fast path's client CPU.
pub struct TidXminReader<'a> {
    conn: &'a mut Connection,
    buf: Vec<u8>,
    pos: usize,
    header_done: bool,
    done: bool,
}

impl std::fmt::Debug for TidXminReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TidXminReader").field("done", &self.done).finish()
    }
}

/// One `(ctid, xmin)` row: `((block, offset), xmin)`.
pub type TidXmin = ((u32, u16), u32);

/// What a binary COPY stream did not look like.
#[derive(Debug)]
pub enum BinaryCopyError {
    /// The server or the connection failed.
    Pg(PgError),
    /// Unexpected layout.
    Format(&'static str),
}

impl From<BinaryCopyError> for crate::SourceError {
    fn from(e: BinaryCopyError) -> Self {
        match e {
            BinaryCopyError::Pg(e) => crate::SourceError::Pg(e),
            BinaryCopyError::Format(m) => crate::SourceError::Pg(PgError::Protocol(m.into())),
        }
    }
}

impl From<PgError> for BinaryCopyError {
    fn from(e: PgError) -> Self {
        BinaryCopyError::Pg(e)
    }
}

impl<'a> TidXminReader<'a> {
    /// Start `sql`, a `COPY (SELECT ctid, xmin ...) TO STDOUT (FORMAT binary)`, on `conn`. The connection
    /// is busy until [`TidXminReader::next_row`] returned `None` or [`TidXminReader::drain`] ran.
    pub async fn start(conn: &'a mut Connection, sql: &str) -> Result<TidXminReader<'a>, PgError> {
        conn.copy_out_start(sql).await?;
        Ok(TidXminReader {
            conn,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            header_done: false,
            done: false,
        })
    }

    async fn fill(&mut self, need: usize) -> Result<bool, BinaryCopyError> {
        while self.buf.len() - self.pos < need {
            if self.done {
                return Ok(false);
            }
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            } else if self.pos >= 32 * 1024 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            if !self.conn.copy_out_next(&mut self.buf).await? {
                self.done = true;
            }
        }
        Ok(true)
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        a
    }

    /// Next `((block, offset), xmin)`, or `None` at the end.
    #[inline]
    pub async fn next_row(&mut self) -> Result<Option<TidXmin>, BinaryCopyError> {
        // The common case, without touching the connection: a whole row is buffered.
        if self.header_done && self.buf.len() - self.pos >= 20 && self.buf[self.pos..self.pos + 2] == [0, 2] {
            self.pos += 2;
            return self.parse_row().map(Some);
        }
        self.next_row_slow().await
    }

    #[inline]
    fn parse_row(&mut self) -> Result<TidXmin, BinaryCopyError> {
        let row = self.take::<18>();
        let word = |i: usize| u32::from_be_bytes([row[i], row[i + 1], row[i + 2], row[i + 3]]);
        if word(0) != 6 {
            return Err(BinaryCopyError::Format("tid is not 6 bytes"));
        }
        if word(10) != 4 {
            return Err(BinaryCopyError::Format("xid is not 4 bytes"));
        }
        Ok(((word(4), u16::from_be_bytes([row[8], row[9]])), word(14)))
    }

    async fn next_row_slow(&mut self) -> Result<Option<TidXmin>, BinaryCopyError> {
        if !self.header_done {
            if !self.fill(19).await? {
                return Err(BinaryCopyError::Format("short header"));
            }
            if &self.buf[self.pos..self.pos + 11] != b"PGCOPY\n\xff\r\n\0" {
                return Err(BinaryCopyError::Format("bad signature"));
            }
            self.pos += 15;
            let ext = u32::from_be_bytes(self.take::<4>()) as usize;
            if !self.fill(ext).await? {
                return Err(BinaryCopyError::Format("short header extension"));
            }
            self.pos += ext;
            self.header_done = true;
        }
        if !self.fill(2).await? {
            return Ok(None);
        }
        let n = i16::from_be_bytes(self.take::<2>());
        if n == -1 {
            self.drain().await?;
            return Ok(None);
        }
        if n != 2 || !self.fill(18).await? {
            return Err(BinaryCopyError::Format("expected (ctid, xmin) tuples"));
        }
        self.parse_row().map(Some)
    }

    /// Read and drop the rest of the COPY, leaving the connection ready for the next query.
    pub async fn drain(&mut self) -> Result<(), BinaryCopyError> {
        while !self.done {
            self.buf.clear();
            self.pos = 0;
            if !self.conn.copy_out_next(&mut self.buf).await? {
                self.done = true;
            }
        }
        Ok(())
    }
}

/// Split a COPY text line into its (still escaped) fields.
pub fn fields(line: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in memchr::memchr_iter(b'\t', line) {
        out.push(line.slice(start..i));
        start = i + 1;
    }
    out.push(line.slice(start..));
    out
}

/// `\N` is NULL.
pub fn is_null(field: &[u8]) -> bool {
    field == b"\\N"
}

/// Undo COPY text escaping. Borrowed when there is nothing to undo.
pub fn unescape(field: &Bytes) -> Bytes {
    if memchr::memchr(b'\\', field).is_none() {
        return field.clone();
    }
    let mut out = Vec::with_capacity(field.len());
    unescape_into(field, &mut out);
    Bytes::from(out)
}

/// Undo COPY text escaping of `field`, appending the bytes to `out`.
pub fn unescape_into(field: &[u8], out: &mut Vec<u8>) {
    let b = field;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            i += 2;
            match c {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut v = (c - b'0') as u32;
                    let mut n = 1;
                    while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                        v = v * 8 + (b[i] - b'0') as u32;
                        i += 1;
                        n += 1;
                    }
                    out.push(v as u8);
                }
                b'x' => {
                    let mut v = 0u32;
                    let mut n = 0;
                    while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                        v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                        i += 1;
                        n += 1;
                    }
                    out.push(v as u8);
                }
                other => out.push(other),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_escapes() {
        let line = Bytes::from_static(b"1\ta\\tb\\\\c\\nd\t\\N\t");
        let f = fields(&line);
        assert_eq!(f.len(), 4);
        assert_eq!(&unescape(&f[1])[..], b"a\tb\\c\nd");
        assert!(is_null(&f[2]));
        assert_eq!(&f[3][..], b"");
        assert_eq!(&unescape(&Bytes::from_static(b"\\101\\x41"))[..], b"AA");
    }
}

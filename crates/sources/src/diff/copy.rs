//! Reading `COPY ... TO STDOUT` (text format) as a stream of lines, and splitting/unescaping fields.
//!
//! Why text COPY: it is PostgreSQL's exact, deterministic spelling of every value (the type's output
//! function), so two rows are equal exactly when their lines are byte-equal — which lets the diff skip
//! unchanged rows without decoding them, and makes `1.0` vs `1.00`, NaN, xml, json and point compare
//! correctly without needing an `=` operator.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio_postgres::CopyOutStream;

/// Lines of a COPY stream (without the trailing newline), zero-copy.
pub struct CopyLines {
    stream: std::pin::Pin<Box<CopyOutStream>>,
    buf: BytesMut,
    done: bool,
}

impl std::fmt::Debug for CopyLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyLines").field("buffered", &self.buf.len()).finish()
    }
}

impl CopyLines {
    /// Wrap a COPY OUT stream.
    pub fn new(stream: CopyOutStream) -> Self {
        CopyLines { stream: Box::pin(stream), buf: BytesMut::new(), done: false }
    }

    /// Next line, or `None` at the end.
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, tokio_postgres::Error> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                let mut line = self.buf.split_to(i + 1);
                line.truncate(i);
                return Ok(Some(line.freeze()));
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.buf.split().freeze()));
            }
            match self.stream.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    if self.buf.is_empty() {
                        // Fast path: keep whole chunks without copying when possible.
                        self.buf = BytesMut::from(&chunk[..]);
                    } else {
                        self.buf.extend_from_slice(&chunk);
                    }
                }
                None => self.done = true,
            }
        }
    }
}

/// Binary COPY of `(ctid, xmin)` tuples: 20 fixed bytes per row after an 11-byte signature and the
/// header words. Cheaper on both ends than text (no `tid` formatting or parsing).
pub struct TidXminReader {
    stream: std::pin::Pin<Box<CopyOutStream>>,
    buf: BytesMut,
    header_done: bool,
    done: bool,
}

impl std::fmt::Debug for TidXminReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TidXminReader").finish()
    }
}

/// One `(ctid, xmin)` row: `((block, offset), xmin)`.
pub type TidXmin = ((u32, u16), u32);

/// What a binary COPY stream did not look like.
#[derive(Debug)]
pub enum BinaryCopyError {
    /// The server failed.
    Pg(tokio_postgres::Error),
    /// Unexpected layout.
    Format(&'static str),
}

impl TidXminReader {
    /// Wrap a `COPY (SELECT ctid, xmin ...) TO STDOUT (FORMAT binary)` stream.
    pub fn new(stream: CopyOutStream) -> Self {
        TidXminReader { stream: Box::pin(stream), buf: BytesMut::new(), header_done: false, done: false }
    }

    async fn fill(&mut self, need: usize) -> Result<bool, BinaryCopyError> {
        while self.buf.len() < need {
            if self.done {
                return Ok(false);
            }
            match self.stream.next().await {
                Some(c) => self.buf.extend_from_slice(&c.map_err(BinaryCopyError::Pg)?),
                None => self.done = true,
            }
        }
        Ok(true)
    }

    /// Next `((block, offset), xmin)`, or `None` at the end.
    pub async fn next_row(&mut self) -> Result<Option<TidXmin>, BinaryCopyError> {
        use bytes::Buf;
        if !self.header_done {
            if !self.fill(19).await? {
                return Err(BinaryCopyError::Format("short header"));
            }
            if &self.buf[..11] != b"PGCOPY\n\xff\r\n\0" {
                return Err(BinaryCopyError::Format("bad signature"));
            }
            self.buf.advance(15);
            let ext = self.buf.get_u32() as usize;
            if !self.fill(ext).await? {
                return Err(BinaryCopyError::Format("short header extension"));
            }
            self.buf.advance(ext);
            self.header_done = true;
        }
        if !self.fill(2).await? {
            return Ok(None);
        }
        let n = i16::from_be_bytes([self.buf[0], self.buf[1]]);
        if n == -1 {
            return Ok(None);
        }
        if n != 2 || !self.fill(22).await? {
            return Err(BinaryCopyError::Format("expected (ctid, xmin) tuples"));
        }
        self.buf.advance(2);
        if self.buf.get_i32() != 6 {
            return Err(BinaryCopyError::Format("tid is not 6 bytes"));
        }
        let block = self.buf.get_u32();
        let offset = self.buf.get_u16();
        if self.buf.get_i32() != 4 {
            return Err(BinaryCopyError::Format("xid is not 4 bytes"));
        }
        let xmin = self.buf.get_u32();
        Ok(Some(((block, offset), xmin)))
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
    let b = &field[..];
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
    Bytes::from(out)
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

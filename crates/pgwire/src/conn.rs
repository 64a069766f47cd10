//! A minimal frontend/backend protocol connection: startup, TLS, authentication, simple queries,
//! `COPY … TO STDOUT` and raw frame I/O. It exists because the replication sub-protocol (CopyBoth)
//! is not exposed by `tokio-postgres`, and for bulk COPY reads (the diff's scans, through
//! `tidemark_sources::copy`) where a general client's per-row cost is the bottleneck; plain SQL uses
//! `tokio-postgres`.
//!
//! Frames are read into one growing buffer and handed out as zero-copy `Bytes`, so pgoutput tuple
//! values can travel to the encoder without being copied. Reading is cancel-safe: a frame is removed
//! from the buffer only when it is complete.

use bytes::{Buf, Bytes, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::transport::Stream;
use crate::{Dsn, PgError, ServerError};

/// One backend message: its type byte and its body (without the length word).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Message type byte.
    pub tag: u8,
    /// Message body.
    pub body: Bytes,
}

/// Result of a simple query: the rows (text format) of the last result set and the command tags.
#[derive(Debug, Default, Clone)]
pub struct QueryResult {
    /// Column names of the last row description.
    pub columns: Vec<String>,
    /// Rows; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// Command tags, e.g. `SELECT 1`.
    pub tags: Vec<String>,
}

impl QueryResult {
    /// Value of `column` in the first row.
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows.first()?.get(i)?.as_deref()
    }
}

/// An authenticated connection, optionally in replication mode.
pub struct Connection {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    addr: String,
    /// Server parameters reported at startup (`server_version`, ...).
    pub parameters: Vec<(String, String)>,
    /// `server_version_num`-like integer (e.g. 150004), 0 if unknown.
    pub server_version_num: u32,
    /// PID of the server process serving this connection (BackendKeyData), 0 if not sent.
    pub backend_pid: i32,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("addr", &self.addr).finish()
    }
}

fn io_err(addr: &str) -> impl FnOnce(std::io::Error) -> PgError + '_ {
    move |source| PgError::Io { addr: addr.to_string(), source }
}

impl Connection {
    /// Connect and authenticate. `replication` adds `replication=database` to the startup packet.
    pub async fn connect(dsn: &Dsn, replication: bool) -> Result<Connection, PgError> {
        let addr = dsn.addr();
        match tokio::time::timeout(dsn.connect_timeout, Self::connect_inner(dsn, replication)).await {
            Ok(r) => r,
            Err(_) => Err(PgError::Timeout(addr)),
        }
    }

    async fn connect_inner(dsn: &Dsn, replication: bool) -> Result<Connection, PgError> {
        let attempts = crate::transport::attempts(dsn);
        let mut first_err = None;
        for (i, &attempt) in attempts.iter().enumerate() {
            let stream = crate::transport::open(dsn, attempt).await;
            let res = match stream {
                Ok(stream) => {
                    let mut conn = Connection {
                        stream,
                        rbuf: BytesMut::with_capacity(256 * 1024),
                        wbuf: BytesMut::with_capacity(8 * 1024),
                        addr: dsn.addr(),
                        parameters: Vec::new(),
                        server_version_num: 0,
                        backend_pid: 0,
                    };
                    conn.startup(dsn, replication).await.map(|()| conn)
                }
                Err(e) => Err(e),
            };
            match res {
                Ok(conn) => return Ok(conn),
                // `allow`: a server that refuses plain text gets a second try with TLS.
                Err(e @ PgError::Server(_)) if i + 1 < attempts.len() => first_err = Some(e),
                Err(e) => {
                    return Err(first_err
                        .filter(|_| matches!(e, PgError::TlsUnsupported { .. }))
                        .unwrap_or(e))
                }
            }
        }
        Err(first_err.unwrap_or_else(|| PgError::Protocol("no connection attempt was made".into())))
    }

    async fn startup(&mut self, dsn: &Dsn, replication: bool) -> Result<(), PgError> {
        let mut params: Vec<(&str, &str)> = vec![
            ("user", &dsn.user),
            ("database", &dsn.dbname),
            ("application_name", &dsn.application_name),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("extra_float_digits", "3"),
        ];
        if replication {
            params.push(("replication", "database"));
        }
        if let Some(o) = &dsn.options {
            params.push(("options", o));
        }
        self.wbuf.clear();
        frontend::startup_message(params.iter().copied(), &mut self.wbuf)
            .map_err(|e| PgError::Protocol(e.to_string()))?;
        self.flush().await?;
        self.authenticate(dsn).await?;
        loop {
            let f = self.read_frame().await?;
            match f.tag {
                b'S' => {
                    let mut it = f.body.split(|&b| b == 0);
                    let k = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
                    let v = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
                    if k == "server_version" {
                        self.server_version_num = parse_version_num(&v);
                    }
                    self.parameters.push((k, v));
                }
                b'K' if f.body.len() >= 4 => {
                    self.backend_pid = i32::from_be_bytes([f.body[0], f.body[1], f.body[2], f.body[3]]);
                }
                b'K' | b'N' => {}
                b'Z' => return Ok(()),
                b'E' => return Err(PgError::Server(ServerError::parse(&f.body))),
                t => {
                    return Err(PgError::Protocol(format!(
                        "unexpected message {:?} during startup",
                        t as char
                    )))
                }
            }
        }
    }

    async fn authenticate(&mut self, dsn: &Dsn) -> Result<(), PgError> {
        let need_password = || dsn.password.clone().ok_or_else(|| dsn.no_password_error());
        loop {
            let f = self.read_frame().await?;
            match f.tag {
                b'R' => {}
                b'E' => return Err(PgError::Server(ServerError::parse(&f.body))),
                t => {
                    return Err(PgError::Protocol(format!("unexpected message {:?} during auth", t as char)))
                }
            }
            let mut body = f.body.clone();
            if body.len() < 4 {
                return Err(PgError::Protocol("short authentication message".into()));
            }
            match body.get_i32() {
                0 => return Ok(()),
                3 => {
                    let pw = need_password()?;
                    self.wbuf.clear();
                    frontend::password_message(pw.as_bytes(), &mut self.wbuf)
                        .map_err(|e| PgError::Protocol(e.to_string()))?;
                    self.flush().await?;
                }
                5 => {
                    let pw = need_password()?;
                    if body.len() < 4 {
                        return Err(PgError::Protocol("short md5 salt".into()));
                    }
                    let salt = [body[0], body[1], body[2], body[3]];
                    let hash =
                        postgres_protocol::authentication::md5_hash(dsn.user.as_bytes(), pw.as_bytes(), salt);
                    self.wbuf.clear();
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf)
                        .map_err(|e| PgError::Protocol(e.to_string()))?;
                    self.flush().await?;
                }
                10 => {
                    let mechs: Vec<&[u8]> = body.split(|&b| b == 0).filter(|m| !m.is_empty()).collect();
                    if !mechs.iter().any(|m| *m == b"SCRAM-SHA-256") {
                        return Err(PgError::Auth(format!(
                            "server offers only SASL mechanisms {:?}; tidemark speaks SCRAM-SHA-256",
                            mechs.iter().map(|m| String::from_utf8_lossy(m)).collect::<Vec<_>>()
                        )));
                    }
                    let pw = need_password()?;
                    self.scram(pw.as_bytes()).await?;
                }
                other => {
                    return Err(PgError::Auth(format!(
                    "unsupported authentication request {other} (only password, md5 and SCRAM-SHA-256 are \
                         supported); change the pg_hba.conf method for this user"
                )))
                }
            }
        }
    }

    async fn scram(&mut self, password: &[u8]) -> Result<(), PgError> {
        let mut scram = ScramSha256::new(password, ChannelBinding::unsupported());
        self.wbuf.clear();
        frontend::sasl_initial_response("SCRAM-SHA-256", scram.message(), &mut self.wbuf)
            .map_err(|e| PgError::Protocol(e.to_string()))?;
        self.flush().await?;
        let f = self.read_auth_step(11).await?;
        scram.update(&f).map_err(|e| PgError::Auth(format!("SCRAM exchange failed: {e}")))?;
        self.wbuf.clear();
        frontend::sasl_response(scram.message(), &mut self.wbuf)
            .map_err(|e| PgError::Protocol(e.to_string()))?;
        self.flush().await?;
        let f = self.read_auth_step(12).await?;
        scram.finish(&f).map_err(|e| PgError::Auth(format!("SCRAM server signature invalid: {e}")))?;
        Ok(())
    }

    async fn read_auth_step(&mut self, want: i32) -> Result<Bytes, PgError> {
        let f = self.read_frame().await?;
        match f.tag {
            b'R' => {
                let mut b = f.body;
                let kind = b.get_i32();
                if kind != want {
                    return Err(PgError::Protocol(format!("expected SASL step {want}, got {kind}")));
                }
                Ok(b)
            }
            b'E' => Err(PgError::Server(ServerError::parse(&f.body))),
            t => Err(PgError::Protocol(format!("unexpected message {:?} during SASL", t as char))),
        }
    }

    /// Read one complete backend frame. Cancel-safe.
    pub async fn read_frame(&mut self) -> Result<Frame, PgError> {
        loop {
            if let Some(f) = self.try_frame()? {
                return Ok(f);
            }
            self.read_more().await?;
        }
    }

    /// Read whatever the socket has into the receive buffer; the server closing is an error.
    async fn read_more(&mut self) -> Result<(), PgError> {
        if self.rbuf.capacity() - self.rbuf.len() < 16 * 1024 {
            self.rbuf.reserve(128 * 1024);
        }
        let n = self.stream.read_buf(&mut self.rbuf).await.map_err(io_err(&self.addr))?;
        if n == 0 {
            return Err(PgError::Io {
                addr: self.addr.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ),
            });
        }
        Ok(())
    }

    /// Length (tag byte included) of the frame at the start of the receive buffer, once all of it is
    /// buffered; until then, room for it is reserved.
    fn buffered_frame_len(&mut self) -> Result<Option<usize>, PgError> {
        if self.rbuf.len() < 5 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.rbuf[1], self.rbuf[2], self.rbuf[3], self.rbuf[4]]);
        if len < 4 {
            return Err(PgError::Protocol(format!("invalid frame length {len}")));
        }
        let total = 1 + len as usize;
        if self.rbuf.len() < total {
            self.rbuf.reserve(total - self.rbuf.len());
            return Ok(None);
        }
        Ok(Some(total))
    }

    /// A complete frame already buffered, without reading.
    pub fn try_frame(&mut self) -> Result<Option<Frame>, PgError> {
        let Some(total) = self.buffered_frame_len()? else {
            return Ok(None);
        };
        let mut frame = self.rbuf.split_to(total);
        let tag = frame[0];
        frame.advance(5);
        Ok(Some(Frame { tag, body: frame.freeze() }))
    }

    /// Send the pending write buffer.
    async fn flush(&mut self) -> Result<(), PgError> {
        self.stream.write_all(&self.wbuf).await.map_err(io_err(&self.addr))?;
        self.stream.flush().await.map_err(io_err(&self.addr))?;
        self.wbuf.clear();
        Ok(())
    }

    /// Send raw, already-framed bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), PgError> {
        self.stream.write_all(bytes).await.map_err(io_err(&self.addr))?;
        self.stream.flush().await.map_err(io_err(&self.addr))
    }

    /// Send a Query message without waiting for the answer.
    pub async fn send_query(&mut self, sql: &str) -> Result<(), PgError> {
        self.wbuf.clear();
        frontend::query(sql, &mut self.wbuf).map_err(|e| PgError::Protocol(e.to_string()))?;
        self.flush().await
    }

    /// Run a simple query and collect its text results.
    pub async fn simple_query(&mut self, sql: &str) -> Result<QueryResult, PgError> {
        self.send_query(sql).await?;
        let mut res = QueryResult::default();
        let mut err = None;
        loop {
            let f = self.read_frame().await?;
            match f.tag {
                b'T' => {
                    res.columns = parse_row_description(&f.body);
                    res.rows.clear();
                }
                b'D' => res.rows.push(parse_data_row(&f.body)?),
                b'C' => res.tags.push(cstr(&f.body)),
                b'E' => err = Some(ServerError::parse(&f.body)),
                b'Z' => break,
                _ => {}
            }
        }
        match err {
            Some(e) => Err(PgError::Server(e)),
            None => Ok(res),
        }
    }

    /// Start a `COPY … TO STDOUT` with the simple protocol and wait for its CopyOutResponse. Read the
    /// data with [`Connection::copy_out_next`] until it returns false.
    ///
    /// This exists beside tokio-postgres for bulk narrow streams (the diff's `(ctid, xmin)` scan), where
    /// a message per row makes the per-message cost of a general client the bottleneck: here a row is
    /// parsed in place from the receive buffer, without allocating or reference counting.
    pub async fn copy_out_start(&mut self, sql: &str) -> Result<(), PgError> {
        self.send_query(sql).await?;
        loop {
            let f = self.read_frame().await?;
            match f.tag {
                b'H' => return Ok(()),
                b'E' => {
                    let e = ServerError::parse(&f.body);
                    self.skip_to_ready().await?;
                    return Err(PgError::Server(e));
                }
                b'N' | b'S' | b'A' => {}
                t => {
                    return Err(PgError::Protocol(format!(
                        "expected CopyOutResponse, got message {:?}",
                        t as char
                    )))
                }
            }
        }
    }

    /// Append the CopyData payloads of a COPY started with [`Connection::copy_out_start`] to `out`: all
    /// those already received, at least one (reading from the socket when none is). Returns false,
    /// appending nothing, once the COPY has ended and the connection is ready for the next query; a
    /// server error ends it with `Err` (the connection stays usable).
    pub async fn copy_out_next(&mut self, out: &mut impl bytes::BufMut) -> Result<bool, PgError> {
        let mut got = false;
        loop {
            while let Some(total) = self.buffered_frame_len()? {
                let tag = self.rbuf[0];
                match tag {
                    b'd' => {
                        out.put_slice(&self.rbuf[5..total]);
                        self.rbuf.advance(total);
                        got = true;
                    }
                    b'Z' if got => return Ok(true),
                    b'Z' => {
                        self.rbuf.advance(total);
                        return Ok(false);
                    }
                    b'E' => {
                        let e = ServerError::parse(&self.rbuf[5..total]);
                        self.rbuf.advance(total);
                        self.skip_to_ready().await?;
                        return Err(PgError::Server(e));
                    }
                    // CopyDone, CommandComplete, notices, parameter status, notifications.
                    b'c' | b'C' | b'N' | b'S' | b'A' => self.rbuf.advance(total),
                    t => {
                        return Err(PgError::Protocol(format!(
                            "unexpected message {:?} during COPY",
                            t as char
                        )))
                    }
                }
            }
            if got {
                return Ok(true);
            }
            self.read_more().await?;
        }
    }

    /// Read and drop messages up to ReadyForQuery.
    async fn skip_to_ready(&mut self) -> Result<(), PgError> {
        while self.read_frame().await?.tag != b'Z' {}
        Ok(())
    }

    /// Send a CopyData frame carrying `payload`.
    pub async fn send_copy_data(&mut self, payload: &[u8]) -> Result<(), PgError> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(b"d");
        self.wbuf.extend_from_slice(&((payload.len() + 4) as i32).to_be_bytes());
        self.wbuf.extend_from_slice(payload);
        self.flush().await
    }

    /// Send CopyDone (ends the client's half of a CopyBoth stream).
    pub async fn send_copy_done(&mut self) -> Result<(), PgError> {
        self.wbuf.clear();
        frontend::copy_done(&mut self.wbuf);
        self.flush().await
    }

    /// Politely close.
    pub async fn terminate(mut self) {
        self.wbuf.clear();
        frontend::terminate(&mut self.wbuf);
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}

fn parse_version_num(v: &str) -> u32 {
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let major: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    major * 10000 + minor
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn parse_row_description(body: &[u8]) -> Vec<String> {
    let mut cols = Vec::new();
    if body.len() < 2 {
        return cols;
    }
    let n = i16::from_be_bytes([body[0], body[1]]) as usize;
    let mut i = 2;
    for _ in 0..n {
        let end = body[i..].iter().position(|&c| c == 0).map(|p| i + p).unwrap_or(body.len());
        cols.push(String::from_utf8_lossy(&body[i..end]).into_owned());
        i = end + 1 + 18;
    }
    cols
}

fn parse_data_row(body: &[u8]) -> Result<Vec<Option<String>>, PgError> {
    let short = || PgError::Protocol("short DataRow".into());
    let mut b = body;
    if b.len() < 2 {
        return Err(short());
    }
    let n = b.get_i16() as usize;
    let mut row = Vec::with_capacity(n);
    for _ in 0..n {
        if b.len() < 4 {
            return Err(short());
        }
        let len = b.get_i32();
        if len < 0 {
            row.push(None);
        } else {
            let len = len as usize;
            if b.len() < len {
                return Err(short());
            }
            row.push(Some(String::from_utf8_lossy(&b[..len]).into_owned()));
            b.advance(len);
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers() {
        assert_eq!(parse_version_num("15.4 (Debian 15.4-1)"), 150004);
        assert_eq!(parse_version_num("16beta1"), 160001);
    }
}

//! Decoder for every pgoutput message of protocol versions 1 and 2.
//!
//! Layout follows PostgreSQL's `logicalrep_write_*` functions. Inside a streamed chunk (between
//! Stream Start and Stream Stop, protocol 2) the data messages carry the (sub)transaction id as an extra
//! leading field, so the decoder takes `in_stream` and callers track it ([`StreamState`] does that).
//!
//! Invariants: decoding never panics on any input (fuzzed); tuple values are zero-copy slices of the
//! message buffer; an unknown message type is an error, never silently skipped, because skipping
//! could lose a change.

use bytes::{Buf, Bytes};

use crate::Lsn;

/// A decoding failure: the message was truncated or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed pgoutput message {kind:?}: {reason}")]
pub struct DecodeError {
    /// Message type byte as a char (`?` when empty).
    pub kind: char,
    /// What was wrong.
    pub reason: String,
}

/// One column value in a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleValue {
    /// `n`: NULL.
    Null,
    /// `u`: unchanged TOASTed value, not sent.
    UnchangedToast,
    /// `t`: text format.
    Text(Bytes),
    /// `b`: binary format.
    Binary(Bytes),
}

/// Column description in a Relation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    /// Flags; bit 1 = part of the replica identity key.
    pub flags: u8,
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier.
    pub type_modifier: i32,
}

/// Relation message: the shape of a table as the stream will send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Streamed transaction id, inside a stream chunk.
    pub xid: Option<u32>,
    /// Relation OID.
    pub oid: u32,
    /// Schema name (`pg_catalog` is sent as an empty string by PostgreSQL).
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// Replica identity byte (`d`, `n`, `f`, `i`).
    pub replica_identity: u8,
    /// Columns.
    pub columns: Vec<RelationColumn>,
}

/// A decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgOutput {
    /// `B`
    Begin {
        /// LSN of the commit record.
        final_lsn: Lsn,
        /// Commit time, µs since 2000-01-01.
        commit_ts: i64,
        /// Transaction id.
        xid: u32,
    },
    /// `C`
    Commit {
        /// Flags (unused, 0).
        flags: u8,
        /// LSN of the commit record.
        commit_lsn: Lsn,
        /// End of the commit record: the position to confirm once the transaction is durable.
        end_lsn: Lsn,
        /// Commit time.
        commit_ts: i64,
    },
    /// `O`
    Origin {
        /// Commit LSN on the origin server.
        lsn: Lsn,
        /// Origin name.
        name: String,
    },
    /// `R`
    Relation(Relation),
    /// `Y`
    Type {
        /// Streamed xid.
        xid: Option<u32>,
        /// Type OID.
        oid: u32,
        /// Schema name.
        namespace: String,
        /// Type name.
        name: String,
    },
    /// `I`
    Insert {
        /// Streamed xid.
        xid: Option<u32>,
        /// Relation OID.
        relid: u32,
        /// New row.
        new: Vec<TupleValue>,
    },
    /// `U`
    Update {
        /// Streamed xid.
        xid: Option<u32>,
        /// Relation OID.
        relid: u32,
        /// Old key (`K`) or full old row (`O`), when sent.
        old: Option<(u8, Vec<TupleValue>)>,
        /// New row.
        new: Vec<TupleValue>,
    },
    /// `D`
    Delete {
        /// Streamed xid.
        xid: Option<u32>,
        /// Relation OID.
        relid: u32,
        /// `K` (key) or `O` (full old row).
        kind: u8,
        /// Old values.
        old: Vec<TupleValue>,
    },
    /// `T`
    Truncate {
        /// Streamed xid.
        xid: Option<u32>,
        /// Bit 1 CASCADE, bit 2 RESTART IDENTITY.
        options: u8,
        /// Truncated relations.
        relids: Vec<u32>,
    },
    /// `M`
    Message {
        /// Streamed xid.
        xid: Option<u32>,
        /// Emitted inside a transaction.
        transactional: bool,
        /// LSN of the message.
        lsn: Lsn,
        /// Prefix.
        prefix: String,
        /// Payload.
        content: Bytes,
    },
    /// `S`
    StreamStart {
        /// Top-level transaction id.
        xid: u32,
        /// First chunk of this transaction.
        first_segment: bool,
    },
    /// `E`
    StreamStop,
    /// `c`
    StreamCommit {
        /// Top-level xid.
        xid: u32,
        /// Flags.
        flags: u8,
        /// Commit record LSN.
        commit_lsn: Lsn,
        /// End of commit record.
        end_lsn: Lsn,
        /// Commit time.
        commit_ts: i64,
    },
    /// `A`
    StreamAbort {
        /// Top-level xid.
        xid: u32,
        /// Aborted (sub)transaction; equal to `xid` when the whole transaction aborted.
        subxid: u32,
    },
}

struct Cur {
    b: Bytes,
    kind: char,
}

impl Cur {
    fn err(&self, reason: &str) -> DecodeError {
        DecodeError { kind: self.kind, reason: reason.to_string() }
    }
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.b.len() < n {
            Err(self.err("truncated"))
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.b.get_u8())
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.b.get_i16())
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.b.get_u32())
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.b.get_i32())
    }
    fn lsn(&mut self) -> Result<Lsn, DecodeError> {
        self.u64().map(Lsn)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8)?;
        Ok(self.b.get_u64())
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.b.get_i64())
    }
    fn cstr(&mut self) -> Result<String, DecodeError> {
        let end = self.b.iter().position(|&c| c == 0).ok_or_else(|| self.err("unterminated string"))?;
        let s = String::from_utf8(self.b[..end].to_vec()).map_err(|_| self.err("string is not UTF-8"))?;
        self.b.advance(end + 1);
        Ok(s)
    }
    fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.b.split_to(n))
    }
    fn xid(&mut self, in_stream: bool) -> Result<Option<u32>, DecodeError> {
        if in_stream {
            Ok(Some(self.u32()?))
        } else {
            Ok(None)
        }
    }
    fn tuple(&mut self) -> Result<Vec<TupleValue>, DecodeError> {
        let n = self.i16()?;
        if n < 0 {
            return Err(self.err("negative column count"));
        }
        let mut vals = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let v = match self.u8()? {
                b'n' => TupleValue::Null,
                b'u' => TupleValue::UnchangedToast,
                k @ (b't' | b'b') => {
                    let len = self.i32()?;
                    if len < 0 {
                        return Err(self.err("negative value length"));
                    }
                    let data = self.bytes(len as usize)?;
                    if k == b't' {
                        TupleValue::Text(data)
                    } else {
                        TupleValue::Binary(data)
                    }
                }
                _ => return Err(self.err("unknown tuple value kind")),
            };
            vals.push(v);
        }
        Ok(vals)
    }
}

/// Decode one pgoutput message. `in_stream` is true between Stream Start and Stream Stop.
pub fn decode(data: Bytes, in_stream: bool) -> Result<PgOutput, DecodeError> {
    let kind = data.first().map(|&b| b as char).unwrap_or('?');
    let mut c = Cur { b: data, kind };
    let tag = c.u8()?;
    let msg = match tag {
        b'B' => PgOutput::Begin { final_lsn: c.lsn()?, commit_ts: c.i64()?, xid: c.u32()? },
        b'C' => {
            PgOutput::Commit { flags: c.u8()?, commit_lsn: c.lsn()?, end_lsn: c.lsn()?, commit_ts: c.i64()? }
        }
        b'O' => PgOutput::Origin { lsn: c.lsn()?, name: c.cstr()? },
        b'R' => {
            let xid = c.xid(in_stream)?;
            let oid = c.u32()?;
            let namespace = c.cstr()?;
            let name = c.cstr()?;
            let replica_identity = c.u8()?;
            let n = c.i16()?;
            if n < 0 {
                return Err(c.err("negative column count"));
            }
            let mut columns = Vec::with_capacity(n as usize);
            for _ in 0..n {
                columns.push(RelationColumn {
                    flags: c.u8()?,
                    name: c.cstr()?,
                    type_oid: c.u32()?,
                    type_modifier: c.i32()?,
                });
            }
            PgOutput::Relation(Relation { xid, oid, namespace, name, replica_identity, columns })
        }
        b'Y' => {
            PgOutput::Type { xid: c.xid(in_stream)?, oid: c.u32()?, namespace: c.cstr()?, name: c.cstr()? }
        }
        b'I' => {
            let xid = c.xid(in_stream)?;
            let relid = c.u32()?;
            if c.u8()? != b'N' {
                return Err(c.err("expected N"));
            }
            PgOutput::Insert { xid, relid, new: c.tuple()? }
        }
        b'U' => {
            let xid = c.xid(in_stream)?;
            let relid = c.u32()?;
            let mut k = c.u8()?;
            let mut old = None;
            if k == b'K' || k == b'O' {
                old = Some((k, c.tuple()?));
                k = c.u8()?;
            }
            if k != b'N' {
                return Err(c.err("expected N"));
            }
            PgOutput::Update { xid, relid, old, new: c.tuple()? }
        }
        b'D' => {
            let xid = c.xid(in_stream)?;
            let relid = c.u32()?;
            let kind = c.u8()?;
            if kind != b'K' && kind != b'O' {
                return Err(c.err("expected K or O"));
            }
            PgOutput::Delete { xid, relid, kind, old: c.tuple()? }
        }
        b'T' => {
            let xid = c.xid(in_stream)?;
            let n = c.i32()?;
            let options = c.u8()?;
            if n < 0 {
                return Err(c.err("negative relation count"));
            }
            let mut relids = Vec::with_capacity((n as usize).min(4096));
            for _ in 0..n {
                relids.push(c.u32()?);
            }
            PgOutput::Truncate { xid, options, relids }
        }
        b'M' => {
            let xid = c.xid(in_stream)?;
            let flags = c.u8()?;
            let lsn = c.lsn()?;
            let prefix = c.cstr()?;
            let len = c.u32()? as usize;
            PgOutput::Message { xid, transactional: flags & 1 == 1, lsn, prefix, content: c.bytes(len)? }
        }
        b'S' => PgOutput::StreamStart { xid: c.u32()?, first_segment: c.u8()? == 1 },
        b'E' => PgOutput::StreamStop,
        b'c' => PgOutput::StreamCommit {
            xid: c.u32()?,
            flags: c.u8()?,
            commit_lsn: c.lsn()?,
            end_lsn: c.lsn()?,
            commit_ts: c.i64()?,
        },
        b'A' => PgOutput::StreamAbort { xid: c.u32()?, subxid: c.u32()? },
        _ => {
            return Err(c.err("unknown or unsupported message type (two-phase messages need proto_version 3)"))
        }
    };
    Ok(msg)
}

/// Tracks whether the stream is inside a streamed-transaction chunk, which changes the layout of
/// data messages.
#[derive(Debug, Default, Clone)]
pub struct StreamState {
    in_stream: bool,
}

impl StreamState {
    /// Decode and update the chunk state.
    pub fn decode(&mut self, data: Bytes) -> Result<PgOutput, DecodeError> {
        let m = decode(data, self.in_stream)?;
        match m {
            PgOutput::StreamStart { .. } => self.in_stream = true,
            PgOutput::StreamStop => self.in_stream = false,
            _ => {}
        }
        Ok(m)
    }

    /// Inside a stream chunk now.
    pub fn in_stream(&self) -> bool {
        self.in_stream
    }
}

/// Encoder for pgoutput messages, the inverse of [`decode`]. Used by tests and the fuzz harness to
/// build well-formed input; PostgreSQL is the only real producer.
pub mod encode {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn cstr(b: &mut BytesMut, s: &str) {
        b.put_slice(s.as_bytes());
        b.put_u8(0);
    }

    fn tuple(b: &mut BytesMut, t: &[TupleValue]) {
        b.put_i16(t.len() as i16);
        for v in t {
            match v {
                TupleValue::Null => b.put_u8(b'n'),
                TupleValue::UnchangedToast => b.put_u8(b'u'),
                TupleValue::Text(d) | TupleValue::Binary(d) => {
                    b.put_u8(if matches!(v, TupleValue::Text(_)) { b't' } else { b'b' });
                    b.put_i32(d.len() as i32);
                    b.put_slice(d);
                }
            }
        }
    }

    fn xid(b: &mut BytesMut, x: &Option<u32>) {
        if let Some(x) = x {
            b.put_u32(*x);
        }
    }

    /// Serialize a message.
    pub fn encode(m: &PgOutput) -> Bytes {
        let mut b = BytesMut::new();
        match m {
            PgOutput::Begin { final_lsn, commit_ts, xid } => {
                b.put_u8(b'B');
                b.put_u64(final_lsn.0);
                b.put_i64(*commit_ts);
                b.put_u32(*xid);
            }
            PgOutput::Commit { flags, commit_lsn, end_lsn, commit_ts } => {
                b.put_u8(b'C');
                b.put_u8(*flags);
                b.put_u64(commit_lsn.0);
                b.put_u64(end_lsn.0);
                b.put_i64(*commit_ts);
            }
            PgOutput::Origin { lsn, name } => {
                b.put_u8(b'O');
                b.put_u64(lsn.0);
                cstr(&mut b, name);
            }
            PgOutput::Relation(r) => {
                b.put_u8(b'R');
                xid(&mut b, &r.xid);
                b.put_u32(r.oid);
                cstr(&mut b, &r.namespace);
                cstr(&mut b, &r.name);
                b.put_u8(r.replica_identity);
                b.put_i16(r.columns.len() as i16);
                for c in &r.columns {
                    b.put_u8(c.flags);
                    cstr(&mut b, &c.name);
                    b.put_u32(c.type_oid);
                    b.put_i32(c.type_modifier);
                }
            }
            PgOutput::Type { xid: x, oid, namespace, name } => {
                b.put_u8(b'Y');
                xid(&mut b, x);
                b.put_u32(*oid);
                cstr(&mut b, namespace);
                cstr(&mut b, name);
            }
            PgOutput::Insert { xid: x, relid, new } => {
                b.put_u8(b'I');
                xid(&mut b, x);
                b.put_u32(*relid);
                b.put_u8(b'N');
                tuple(&mut b, new);
            }
            PgOutput::Update { xid: x, relid, old, new } => {
                b.put_u8(b'U');
                xid(&mut b, x);
                b.put_u32(*relid);
                if let Some((k, t)) = old {
                    b.put_u8(*k);
                    tuple(&mut b, t);
                }
                b.put_u8(b'N');
                tuple(&mut b, new);
            }
            PgOutput::Delete { xid: x, relid, kind, old } => {
                b.put_u8(b'D');
                xid(&mut b, x);
                b.put_u32(*relid);
                b.put_u8(*kind);
                tuple(&mut b, old);
            }
            PgOutput::Truncate { xid: x, options, relids } => {
                b.put_u8(b'T');
                xid(&mut b, x);
                b.put_i32(relids.len() as i32);
                b.put_u8(*options);
                for r in relids {
                    b.put_u32(*r);
                }
            }
            PgOutput::Message { xid: x, transactional, lsn, prefix, content } => {
                b.put_u8(b'M');
                xid(&mut b, x);
                b.put_u8(*transactional as u8);
                b.put_u64(lsn.0);
                cstr(&mut b, prefix);
                b.put_u32(content.len() as u32);
                b.put_slice(content);
            }
            PgOutput::StreamStart { xid, first_segment } => {
                b.put_u8(b'S');
                b.put_u32(*xid);
                b.put_u8(*first_segment as u8);
            }
            PgOutput::StreamStop => b.put_u8(b'E'),
            PgOutput::StreamCommit { xid, flags, commit_lsn, end_lsn, commit_ts } => {
                b.put_u8(b'c');
                b.put_u32(*xid);
                b.put_u8(*flags);
                b.put_u64(commit_lsn.0);
                b.put_u64(end_lsn.0);
                b.put_i64(*commit_ts);
            }
            PgOutput::StreamAbort { xid, subxid } => {
                b.put_u8(b'A');
                b.put_u32(*xid);
                b.put_u32(*subxid);
            }
        }
        b.freeze()
    }
}

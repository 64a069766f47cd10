//! The replication sub-protocol on a `replication=database` connection: IDENTIFY_SYSTEM,
//! CREATE_REPLICATION_SLOT (keeping the exported snapshot alive until the caller is done with it),
//! START_REPLICATION with pgoutput options, and the CopyBoth stream of XLogData and keepalives.
//!
//! The stream never decides what is safe to confirm: callers pass the flush LSN they have made
//! durable to [`ReplicationStream::send_status`]. That keeps the at-least-once rule in one place
//! (the pipeline), not spread over the wire layer.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::conn::Connection;
use crate::{Dsn, Lsn, PgError};

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// Answer to IDENTIFY_SYSTEM.
#[derive(Debug, Clone)]
pub struct IdentifySystem {
    /// Cluster system identifier.
    pub system_id: String,
    /// Current timeline.
    pub timeline: u32,
    /// Current WAL flush position.
    pub xlogpos: Lsn,
    /// Database the connection is bound to.
    pub dbname: Option<String>,
}

/// Answer to CREATE_REPLICATION_SLOT.
#[derive(Debug, Clone)]
pub struct SlotCreated {
    /// Slot name.
    pub slot_name: String,
    /// LSN from which the slot is consistent: the snapshot shows exactly the data before it.
    pub consistent_point: Lsn,
    /// Name of the exported snapshot, usable with `SET TRANSACTION SNAPSHOT` until the next command on
    /// this connection.
    pub snapshot_name: Option<String>,
}

/// pgoutput options for START_REPLICATION.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Slot to read.
    pub slot: String,
    /// Publications to decode for.
    pub publications: Vec<String>,
    /// pgoutput protocol version: 1, or 2 for streaming of in-progress transactions.
    pub proto_version: u32,
    /// Ask for large in-progress transactions in chunks (needs `proto_version >= 2`).
    pub streaming: bool,
    /// Ask for logical decoding messages (`pg_logical_emit_message`).
    pub messages: bool,
    /// Start position; `0/0` means "where the slot's confirmed_flush_lsn is".
    pub start_lsn: Lsn,
}

/// One message on the replication stream.
#[derive(Debug, Clone)]
pub enum ReplicationMessage {
    /// A chunk of decoded WAL (one pgoutput message).
    XLogData {
        /// WAL position the message starts at (0 for some pgoutput messages).
        wal_start: Lsn,
        /// Current end of WAL on the server.
        wal_end: Lsn,
        /// Server clock, microseconds since 2000-01-01.
        server_time: i64,
        /// pgoutput payload.
        data: Bytes,
    },
    /// Server heartbeat.
    Keepalive {
        /// Everything before this has been sent (safe to confirm when nothing is in flight).
        wal_end: Lsn,
        /// Server clock.
        server_time: i64,
        /// The server wants a status update now (it is about to time us out).
        reply_requested: bool,
    },
    /// The server ended the stream: CopyDone, or CommandComplete without one — what a walsender
    /// sends when the server shuts down (`pg_ctl stop -m fast`, `systemctl restart`) after it has
    /// sent and seen confirmed everything it decoded. The connection closes right after.
    End,
}

/// A replication connection.
#[derive(Debug)]
pub struct ReplicationStream {
    conn: Connection,
    streaming: bool,
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Now, in microseconds since PostgreSQL's epoch.
pub fn pg_now_us() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    d.as_micros() as i64 - PG_EPOCH_OFFSET_US
}

impl ReplicationStream {
    /// Open a `replication=database` connection.
    pub async fn connect(dsn: &Dsn) -> Result<ReplicationStream, PgError> {
        Ok(ReplicationStream { conn: Connection::connect(dsn, true).await?, streaming: false })
    }

    /// Server version as an integer like 150004.
    pub fn server_version_num(&self) -> u32 {
        self.conn.server_version_num
    }

    /// PID of the walsender serving this connection (0 if the server did not say).
    pub fn backend_pid(&self) -> i32 {
        self.conn.backend_pid
    }

    /// IDENTIFY_SYSTEM.
    pub async fn identify_system(&mut self) -> Result<IdentifySystem, PgError> {
        let r = self.conn.simple_query("IDENTIFY_SYSTEM").await?;
        let get = |c: &str| r.get(c).map(str::to_string);
        Ok(IdentifySystem {
            system_id: get("systemid").unwrap_or_default(),
            timeline: get("timeline").and_then(|t| t.parse().ok()).unwrap_or(0),
            xlogpos: get("xlogpos").and_then(|x| x.parse().ok()).unwrap_or_default(),
            dbname: get("dbname"),
        })
    }

    /// CREATE_REPLICATION_SLOT ... LOGICAL pgoutput, exporting a snapshot unless `temporary` is set
    /// together with `export_snapshot=false`.
    pub async fn create_slot(
        &mut self,
        name: &str,
        temporary: bool,
        export_snapshot: bool,
    ) -> Result<SlotCreated, PgError> {
        let temp = if temporary { " TEMPORARY" } else { "" };
        let sql = if self.conn.server_version_num >= 150000 {
            let snap = if export_snapshot { "export" } else { "nothing" };
            format!(
                "CREATE_REPLICATION_SLOT {}{temp} LOGICAL pgoutput (SNAPSHOT '{snap}')",
                quote_ident(name)
            )
        } else {
            let snap = if export_snapshot { "EXPORT_SNAPSHOT" } else { "NOEXPORT_SNAPSHOT" };
            format!("CREATE_REPLICATION_SLOT {}{temp} LOGICAL pgoutput {snap}", quote_ident(name))
        };
        let r = self.conn.simple_query(&sql).await?;
        Ok(SlotCreated {
            slot_name: r.get("slot_name").unwrap_or(name).to_string(),
            consistent_point: r.get("consistent_point").and_then(|x| x.parse().ok()).unwrap_or_default(),
            snapshot_name: r.get("snapshot_name").map(str::to_string),
        })
    }

    /// Run any replication command or SQL (replication=database connections accept plain SQL too).
    pub async fn simple_query(&mut self, sql: &str) -> Result<crate::QueryResult, PgError> {
        self.conn.simple_query(sql).await
    }

    /// START_REPLICATION. After this only [`next_message`](Self::next_message) and
    /// [`send_status`](Self::send_status) are valid.
    pub async fn start(&mut self, opts: &StartOptions) -> Result<(), PgError> {
        let pubs = opts.publications.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join(",");
        let mut options = vec![
            format!("proto_version '{}'", opts.proto_version),
            format!("publication_names {}", quote_literal(&pubs)),
        ];
        if opts.messages {
            options.push("messages 'true'".into());
        }
        if opts.streaming && opts.proto_version >= 2 {
            options.push("streaming 'on'".into());
        }
        let sql = format!(
            "START_REPLICATION SLOT {} LOGICAL {} ({})",
            quote_ident(&opts.slot),
            opts.start_lsn,
            options.join(", ")
        );
        self.conn.send_query(&sql).await?;
        loop {
            let f = self.conn.read_frame().await?;
            match f.tag {
                b'W' => {
                    self.streaming = true;
                    return Ok(());
                }
                b'E' => {
                    let e = crate::ServerError::parse(&f.body);
                    // Drain to ReadyForQuery so the connection stays usable for the caller's diagnosis.
                    while let Ok(f) = self.conn.read_frame().await {
                        if f.tag == b'Z' {
                            break;
                        }
                    }
                    return Err(PgError::Server(e));
                }
                b'N' | b'S' => {}
                t => {
                    return Err(PgError::Protocol(format!(
                        "unexpected {:?} after START_REPLICATION",
                        t as char
                    )))
                }
            }
        }
    }

    /// Next message from the server. Cancel-safe.
    pub async fn next_message(&mut self) -> Result<ReplicationMessage, PgError> {
        loop {
            let f = self.conn.read_frame().await?;
            match f.tag {
                b'd' => return parse_copy_data(f.body),
                b'c' | b'C' => return Ok(ReplicationMessage::End),
                b'E' => return Err(PgError::Server(crate::ServerError::parse(&f.body))),
                b'N' | b'S' => continue,
                t => {
                    return Err(PgError::Protocol(format!(
                        "unexpected {:?} in replication stream",
                        t as char
                    )))
                }
            }
        }
    }

    /// Next message only if already buffered (no I/O).
    pub fn try_next_message(&mut self) -> Result<Option<ReplicationMessage>, PgError> {
        while let Some(f) = self.conn.try_frame()? {
            match f.tag {
                b'd' => return parse_copy_data(f.body).map(Some),
                b'c' | b'C' => return Ok(Some(ReplicationMessage::End)),
                b'E' => return Err(PgError::Server(crate::ServerError::parse(&f.body))),
                _ => continue,
            }
        }
        Ok(None)
    }

    /// Standby status update: written/flushed/applied positions. `flush` is what the slot may be
    /// confirmed to, so pass only an LSN whose events are durable downstream.
    pub async fn send_status(&mut self, write: Lsn, flush: Lsn, reply: bool) -> Result<(), PgError> {
        let mut b = BytesMut::with_capacity(34);
        b.put_u8(b'r');
        b.put_u64(write.0);
        b.put_u64(flush.0);
        b.put_u64(flush.0);
        b.put_i64(pg_now_us());
        b.put_u8(reply as u8);
        self.conn.send_copy_data(&b).await
    }

    /// End the stream: CopyDone, then wait for the server's CopyDone/CommandComplete, then close.
    pub async fn finish(mut self) -> Result<(), PgError> {
        if self.streaming {
            self.conn.send_copy_done().await?;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match tokio::time::timeout_at(deadline, self.conn.read_frame()).await {
                    Ok(Ok(f)) if f.tag == b'Z' => break,
                    Ok(Ok(_)) => continue,
                    _ => break,
                }
            }
        }
        self.conn.terminate().await;
        Ok(())
    }
}

fn parse_copy_data(mut b: Bytes) -> Result<ReplicationMessage, PgError> {
    if b.is_empty() {
        return Err(PgError::Protocol("empty CopyData".into()));
    }
    match b.get_u8() {
        b'w' if b.len() >= 24 => {
            let wal_start = Lsn(b.get_u64());
            let wal_end = Lsn(b.get_u64());
            let server_time = b.get_i64();
            Ok(ReplicationMessage::XLogData { wal_start, wal_end, server_time, data: b })
        }
        b'k' if b.len() >= 17 => {
            let wal_end = Lsn(b.get_u64());
            let server_time = b.get_i64();
            let reply_requested = b.get_u8() != 0;
            Ok(ReplicationMessage::Keepalive { wal_end, server_time, reply_requested })
        }
        t => Err(PgError::Protocol(format!("unexpected CopyData kind {:?}", t as char))),
    }
}

//! `postgres://…`: applies typed change events to a PostgreSQL database — the first typed sink (it
//! gets [`Event`]s, not Debezium bytes). Today it is what recovery tests use to prove `diff` events turn
//! the old database into the new one; the full apply sink (conflict handling, schema changes,
//! parallelism) builds on it.
//!
//! Durability: each batch is applied in one transaction with `synchronous_commit = on`; the ticket is
//! acknowledged durable when COMMIT returns. A batch that fails rolls back whole and is reported
//! failed, so nothing after it is confirmed. Transaction boundaries of the source are not kept (a
//! batch may span or split them); messages are not applied.

mod sql;

use async_trait::async_trait;
use tidemark_pgwire::Dsn;
use tokio_postgres::Client;

pub use sql::{literal, statement, ApplyError};

use crate::{AckSender, Event, Sink, SinkError, Ticket};

/// Session settings: literals are standard-conforming, commits durable, no statement timeout.
const SESSION: &str = "SET standard_conforming_strings = on; SET synchronous_commit = on; \
     SET statement_timeout = 0; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'";

/// Applies change events to one database.
pub struct ApplySink {
    dsn: Dsn,
    client: Option<Client>,
    acks: Option<AckSender>,
}

impl std::fmt::Debug for ApplySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplySink").field("target", &self.describe()).finish()
    }
}

impl ApplySink {
    /// A sink for `dsn`; it connects on first use.
    pub fn new(dsn: Dsn) -> ApplySink {
        ApplySink { dsn, client: None, acks: None }
    }

    /// Connect now, so a wrong DSN fails before any data moves.
    pub async fn connect(dsn: Dsn) -> Result<ApplySink, SinkError> {
        let mut s = ApplySink::new(dsn);
        s.client().await?;
        Ok(s)
    }

    async fn client(&mut self) -> Result<&Client, SinkError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let c = tidemark_pgwire::sql::connect(&self.dsn).await.map_err(|e| self.pg_error(e))?;
            c.batch_execute(SESSION)
                .await
                .map_err(|e| self.pg_error(tidemark_pgwire::sql::map_err(&self.dsn, e)))?;
            self.client = Some(c);
        }
        Ok(self.client.as_ref().expect("connected above"))
    }

    fn pg_error(&self, e: tidemark_pgwire::PgError) -> SinkError {
        let dest = self.describe();
        if e.is_transient() {
            SinkError::Unavailable { dest, reason: e.to_string() }
        } else {
            SinkError::Unusable { dest, reason: e.to_string() }
        }
    }

    /// One transaction applying every change of `events`.
    fn script(&self, events: &[Event]) -> Result<String, SinkError> {
        let mut sql = String::from("BEGIN;\n");
        for ev in events {
            if let Event::Change(c) = ev {
                let s = statement(&c.event)
                    .map_err(|e| SinkError::Unusable { dest: self.describe(), reason: e.to_string() })?;
                sql.push_str(&s);
                sql.push('\n');
            }
        }
        sql.push_str("COMMIT;");
        Ok(sql)
    }
}

#[async_trait]
impl Sink<Event> for ApplySink {
    fn attach(&mut self, acks: AckSender) {
        self.acks = Some(acks);
    }

    async fn send(&mut self, ticket: Ticket, events: Vec<Event>) -> Result<(), SinkError> {
        let sql = self.script(&events)?;
        let dsn = self.dsn.clone();
        let res = self.client().await?.batch_execute(&sql).await;
        if let Err(e) = res {
            let err = self.pg_error(tidemark_pgwire::sql::map_err(&dsn, e));
            // The transaction is aborted; end it so the connection is usable (or drop it).
            if let Some(c) = &self.client {
                if c.batch_execute("ROLLBACK").await.is_err() {
                    self.client = None;
                }
            }
            return Err(err);
        }
        if let Some(a) = &self.acks {
            a.durable(ticket);
        }
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        self.client = None;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("postgres://{}/{}", self.dsn.addr(), self.dsn.dbname)
    }
}

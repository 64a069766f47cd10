//! Plain-SQL connections (`tokio-postgres`) built from the same [`Dsn`] as the replication
//! connection. The transport — TCP or socket, keepalives, SSLRequest and the TLS handshake with the
//! DSN's one rustls config — is opened by [`crate::transport`] and handed to tokio-postgres'
//! `connect_raw`, so both connection kinds verify the server identically and fail with the same
//! messages. The connection task is spawned and errors are mapped to [`PgError`].

use tokio_postgres::Client;

use crate::transport::{self, Attempt};
use crate::{Dsn, PgError, ServerError};

/// Convert a `tokio-postgres` error, keeping SQLSTATE and messages.
pub fn map_err(dsn: &Dsn, e: tokio_postgres::Error) -> PgError {
    if let Some(db) = e.as_db_error() {
        return PgError::Server(ServerError {
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
        });
    }
    let msg = e.to_string();
    if msg.contains("timed out") {
        return PgError::Timeout(dsn.addr());
    }
    let cause = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
    if msg.contains("password missing") || cause.contains("password missing") {
        return dsn.no_password_error();
    }
    // Only a failed or closed connection is the network's doing (and worth a retry); any other
    // client error (a conversion, a parse) would fail again the same way.
    let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>());
    match io {
        Some(io) => PgError::Io { addr: dsn.addr(), source: std::io::Error::new(io.kind(), io.to_string()) },
        None if e.is_closed() => PgError::Io { addr: dsn.addr(), source: std::io::Error::other(msg) },
        None => PgError::Client(msg),
    }
}

/// Connect a SQL client; the connection driver runs on the current tokio runtime.
pub async fn connect(dsn: &Dsn) -> Result<Client, PgError> {
    match tokio::time::timeout(dsn.connect_timeout, connect_inner(dsn)).await {
        Ok(r) => r,
        Err(_) => Err(PgError::Timeout(dsn.addr())),
    }
}

async fn connect_inner(dsn: &Dsn) -> Result<Client, PgError> {
    let cfg = dsn.sql_config();
    let attempts = transport::attempts(dsn);
    let mut first_err = None;
    for (i, &attempt) in attempts.iter().enumerate() {
        let res = match transport::open(dsn, attempt).await {
            Ok(stream) => cfg.connect_raw(stream, tokio_postgres::NoTls).await.map_err(|e| map_err(dsn, e)),
            Err(e) => Err(e),
        };
        match res {
            Ok((client, conn)) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                return Ok(client);
            }
            // `allow`: a server that refuses plain text gets a second try with TLS.
            Err(e @ PgError::Server(_)) if i + 1 < attempts.len() && attempt == Attempt::Plain => {
                first_err = Some(e)
            }
            Err(e) => {
                return Err(first_err.filter(|_| matches!(e, PgError::TlsUnsupported { .. })).unwrap_or(e))
            }
        }
    }
    Err(first_err.unwrap_or_else(|| PgError::Protocol("no connection attempt was made".into())))
}

//! Plain-SQL connections (`tokio-postgres`) built from the same [`Dsn`] and TLS rules as the
//! replication connection, with the connection task spawned and errors mapped to [`PgError`].

use tokio_postgres::Client;

use crate::{Dsn, PgError, ServerError, SslMode};

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
    if msg.contains("password missing") {
        return PgError::Auth(format!(
            "the server at {} asks user {:?} for a password and none was given; put it in the DSN or PGPASSWORD",
            dsn.addr(),
            dsn.user
        ));
    }
    let source = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(|io| std::io::Error::new(io.kind(), io.to_string()))
        .unwrap_or_else(|| std::io::Error::other(msg));
    PgError::Io { addr: dsn.addr(), source }
}

/// Connect a SQL client; the connection driver runs on the current tokio runtime.
pub async fn connect(dsn: &Dsn) -> Result<Client, PgError> {
    let cfg = dsn.sql_config();
    let client = if dsn.ssl_mode == SslMode::Disable || dsn.host.starts_with('/') {
        let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.map_err(|e| map_err(dsn, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*crate::tls::client_config()).clone());
        let (client, conn) = cfg.connect(tls).await.map_err(|e| map_err(dsn, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    };
    Ok(client)
}

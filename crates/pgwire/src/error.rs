//! Errors from the wire layer. Server errors keep their SQLSTATE so callers can turn the common ones
//! (bad password, missing REPLICATION attribute, slot in use) into messages a user can act on.

use std::fmt;

/// An ErrorResponse from the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerError {
    /// Non-localized severity (`ERROR`, `FATAL`, ...).
    pub severity: String,
    /// SQLSTATE code, e.g. `28P01`.
    pub code: String,
    /// Primary message.
    pub message: String,
    /// Optional detail.
    pub detail: Option<String>,
    /// Optional hint.
    pub hint: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.severity, self.code, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, "; detail: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "; hint: {h}")?;
        }
        Ok(())
    }
}

impl ServerError {
    /// Parse the fields of an ErrorResponse/NoticeResponse body.
    pub fn parse(body: &[u8]) -> ServerError {
        let mut e = ServerError::default();
        let mut i = 0;
        while i < body.len() && body[i] != 0 {
            let code = body[i];
            i += 1;
            let end = body[i..].iter().position(|&b| b == 0).map(|p| i + p).unwrap_or(body.len());
            let val = String::from_utf8_lossy(&body[i..end]).into_owned();
            i = end + 1;
            match code {
                b'V' => e.severity = val,
                b'S' if e.severity.is_empty() => e.severity = val,
                b'C' => e.code = val,
                b'M' => e.message = val,
                b'D' => e.detail = Some(val),
                b'H' => e.hint = Some(val),
                _ => {}
            }
        }
        e
    }
}

/// Anything that can go wrong talking to PostgreSQL at the wire level.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// TCP/unix-socket I/O failed (connection refused, reset, ...).
    #[error("could not talk to PostgreSQL at {addr}: {source}")]
    Io {
        /// `host:port` or socket path (never credentials).
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The connection attempt timed out.
    #[error("timed out connecting to PostgreSQL at {0}; check the host, port and firewall")]
    Timeout(String),
    /// TLS negotiation failed or was required but refused.
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        /// Address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error.
    #[error("PostgreSQL error: {0}")]
    Server(ServerError),
    /// The server asked for an authentication method we do not speak, or no password was given.
    #[error("authentication: {0}")]
    Auth(String),
    /// The server sent something the protocol does not allow here.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The DSN could not be parsed.
    #[error("invalid connection string: {0}")]
    Dsn(String),
    /// The DSN could not be parsed or its files read: names the part, shows the text password-masked.
    #[error(transparent)]
    BadDsn(#[from] crate::dsn_text::DsnError),
    /// TLS is required but the server does not offer it.
    #[error(
        "the server at {addr} does not support TLS (it runs with ssl=off), but sslmode={mode} requires it. \
         Fix: enable TLS on the server (ssl=on with ssl_cert_file and ssl_key_file), or, on a network you \
         trust, connect with sslmode=prefer or sslmode=disable"
    )]
    TlsUnsupported {
        /// Address.
        addr: String,
        /// The sslmode that required TLS.
        mode: &'static str,
    },
    /// The client library failed on something other than the network or the server (a value it could
    /// not convert, a message it could not parse). Retrying would fail the same way.
    #[error("the PostgreSQL client failed: {0}")]
    Client(String),
    /// The server's certificate (or ours) was rejected.
    #[error("TLS with {addr} failed: {problem}. Fix: {fix}")]
    TlsVerify {
        /// Address.
        addr: String,
        /// What failed.
        problem: String,
        /// What to do.
        fix: String,
    },
}

impl PgError {
    /// SQLSTATE when this is a server error.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Server(e) => Some(&e.code),
            _ => None,
        }
    }

    /// True for errors worth retrying with backoff (network trouble, server restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Io { .. } | PgError::Timeout(_) => true,
            PgError::Server(e) => {
                // 57P01 admin shutdown, 57P03 cannot connect now, 53300 too many connections,
                // 08xxx connection exceptions.
                e.code == "57P01" || e.code == "57P03" || e.code == "53300" || e.code.starts_with("08")
            }
            _ => false,
        }
    }
}

//! Connection strings. Both URL (`postgres://user:pw@host:port/db?sslmode=require`) and key/value
//! (`host=... dbname=...`) forms are accepted, parsed by `tokio-postgres` so the replication connection
//! and the SQL connections agree on every field. `PGPASSWORD` fills in a missing password.
//!
//! The password never appears in `Debug`/`Display` output: [`Dsn::redacted`] is what logs print.

use std::str::FromStr;
use std::time::Duration;

use crate::PgError;

/// TLS policy, as libpq's `sslmode` (verification modes are treated as `require`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Try TLS, fall back to plain text if the server refuses.
    Prefer,
    /// TLS or fail. The certificate is not verified (libpq's `require` semantics).
    Require,
}

/// A parsed connection string.
#[derive(Clone)]
pub struct Dsn {
    /// Host name, IP, or unix-socket directory (starts with `/`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Role name.
    pub user: String,
    /// Password, if any.
    pub password: Option<String>,
    /// Database name.
    pub dbname: String,
    /// TLS policy.
    pub ssl_mode: SslMode,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// `application_name` to report.
    pub application_name: String,
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for Dsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Dsn {
    /// The DSN without its password, for logs and error messages.
    pub fn redacted(&self) -> String {
        format!("postgres://{}@{}/{}", self.user, self.addr(), self.dbname)
    }

    /// `host:port` (or the socket path).
    pub fn addr(&self) -> String {
        if self.host.starts_with('/') {
            format!("{}/.s.PGSQL.{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `tokio-postgres` config for plain SQL connections.
    pub fn sql_config(&self) -> tokio_postgres::Config {
        let mut c = self.config.clone();
        if let Some(p) = &self.password {
            c.password(p);
        }
        c.application_name(&self.application_name);
        c
    }

    /// A copy pointing at another database on the same server.
    pub fn with_dbname(&self, db: &str) -> Dsn {
        let mut d = self.clone();
        d.dbname = db.to_string();
        d.config.dbname(db);
        d
    }

    /// Parse, filling defaults the way libpq does (`PGPASSWORD`, user = OS user, db = user).
    pub fn parse(s: &str) -> Result<Dsn, PgError> {
        let config = tokio_postgres::Config::from_str(s.trim()).map_err(|e| {
            PgError::Dsn(format!(
                "{e}; expected a URL like postgres://user:password@host:5432/dbname?sslmode=prefer or \
                 key/value pairs like 'host=localhost dbname=app user=cdc'"
            ))
        })?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.to_string_lossy().into_owned(),
            None => std::env::var("PGHOST").unwrap_or_else(|_| "localhost".into()),
        };
        let port = config
            .get_ports()
            .first()
            .copied()
            .or_else(|| std::env::var("PGPORT").ok().and_then(|p| p.parse().ok()))
            .unwrap_or(5432);
        let user = config
            .get_user()
            .map(str::to_string)
            .or_else(|| std::env::var("PGUSER").ok())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".into());
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .or_else(|| std::env::var("PGPASSWORD").ok());
        let dbname = config
            .get_dbname()
            .map(str::to_string)
            .or_else(|| std::env::var("PGDATABASE").ok())
            .unwrap_or_else(|| user.clone());
        let ssl_mode = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => SslMode::Disable,
            tokio_postgres::config::SslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        let connect_timeout = config.get_connect_timeout().copied().unwrap_or(Duration::from_secs(10));
        let mut config = config;
        config.user(&user);
        config.dbname(&dbname);
        if config.get_ports().is_empty() {
            config.port(port);
        }
        if config.get_hosts().is_empty() {
            if host.starts_with('/') {
                config.host_path(&host);
            } else {
                config.host(&host);
            }
        }
        config.connect_timeout(connect_timeout);
        Ok(Dsn {
            host,
            port,
            user,
            password,
            dbname,
            ssl_mode,
            connect_timeout,
            application_name: "tidemark".into(),
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_url_and_keyvalue() {
        let d = Dsn::parse("postgres://cdc:s3cret@db.example:6543/app?sslmode=require").unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.user.as_str(), d.dbname.as_str()),
            ("db.example", 6543, "cdc", "app")
        );
        assert_eq!(d.password.as_deref(), Some("s3cret"));
        assert_eq!(d.ssl_mode, SslMode::Require);
        assert!(!format!("{d:?}").contains("s3cret"));
        assert!(!d.redacted().contains("s3cret"));
        let d = Dsn::parse("host=/tmp port=5433 user=u dbname=x sslmode=disable").unwrap();
        assert_eq!(d.host, "/tmp");
        assert_eq!(d.ssl_mode, SslMode::Disable);
        assert!(Dsn::parse("postgres://[::1").is_err());
    }
}

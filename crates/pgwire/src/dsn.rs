//! Connection strings, read the way libpq reads them: URL (`postgres://user:pw@host:port/db?k=v`) or
//! `key=value` pairs, every missing setting taken from libpq's environment variables (`PGHOST`,
//! `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, ...), a missing
//! password from the password file (`.pgpass`), then libpq's defaults.
//!
//! Invariants: the replication connection and the SQL connections are built from this one value (same
//! fields, same TLS config); the password never appears in `Debug`/`Display`/error output —
//! [`Dsn::redacted`] is what logs print, and parse errors show the text with the password masked.

use std::path::PathBuf;
use std::time::Duration;

use crate::dsn_text::{self, DsnError};
use crate::tls::{TlsFiles, TlsPolicy};
use crate::transport::Keepalive;
use crate::PgError;

/// TLS policy, as libpq's `sslmode`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Plain text first; TLS if the server refuses plain text.
    Allow,
    /// Try TLS, fall back to plain text if the server does not offer it.
    Prefer,
    /// TLS or fail. The certificate is checked only when a root certificate file is given.
    Require,
    /// TLS, and the certificate chain must lead to a trusted root.
    VerifyCa,
    /// TLS, trusted chain, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A parsed connection string.
#[derive(Clone)]
pub struct Dsn {
    /// Host name, IP, or unix-socket directory (starts with `/`). TLS checks the certificate against it.
    pub host: String,
    /// Numeric address to connect to instead of resolving `host` (libpq's `hostaddr`).
    pub hostaddr: Option<String>,
    /// Port.
    pub port: u16,
    /// Role name.
    pub user: String,
    /// Password, if any (DSN, `PGPASSWORD`, or the password file).
    pub password: Option<String>,
    /// Database name.
    pub dbname: String,
    /// TLS policy.
    pub ssl_mode: SslMode,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// `application_name` to report (visible in `pg_stat_activity` and `pg_stat_replication`).
    pub application_name: String,
    /// Server options sent at startup (libpq's `options`, e.g. `-c search_path=x`).
    pub options: Option<String>,
    /// TCP keepalive settings.
    pub keepalive: Keepalive,
    /// The TLS config every connection from this DSN uses; `None` under `sslmode=disable`.
    pub tls: Option<TlsPolicy>,
    /// Password came from the DSN or `PGPASSWORD` (not looked up in the password file).
    explicit_password: bool,
    passfile: Option<PathBuf>,
}

impl std::fmt::Debug for Dsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Keys tidemark reads (libpq's names).
const KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "application_name",
    "fallback_application_name",
    "options",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslsni",
    "requiressl",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
];

/// libpq keys accepted only with the values that need nothing from tidemark.
const NEUTRAL: &[(&str, &[&str])] = &[
    ("sslcompression", &["0", "1"]),
    ("gssencmode", &["disable", "prefer"]),
    ("channel_binding", &["disable", "prefer"]),
    ("target_session_attrs", &["any"]),
    ("client_encoding", &["UTF8", "utf8", "UTF-8", "utf-8"]),
];

/// Environment variables for keys a DSN leaves out, as libpq reads them.
const ENV: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("dbname", "PGDATABASE"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("passfile", "PGPASSFILE"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("sslsni", "PGSSLSNI"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
];

/// Settings with where each came from (for messages naming the part).
struct Settings<'a> {
    raw: &'a str,
    pairs: Vec<(String, String, Option<&'static str>)>,
}

impl Settings<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _, _)| k == key).map(|(_, v, _)| v.as_str())
    }

    /// `key "value"` or `PGPORT "value"` for messages; the password's value is never shown.
    fn part(&self, key: &str) -> String {
        match self.pairs.iter().rev().find(|(k, _, _)| k == key) {
            Some((_, _, Some(env))) if key == "password" => format!("{key} (from {env})"),
            Some((_, v, Some(env))) => format!("{key} {v:?} (from environment variable {env})"),
            Some((_, _, None)) if key == "password" => key.to_string(),
            Some((_, v, None)) => format!("{key} {v:?}"),
            None => key.to_string(),
        }
    }

    fn err(&self, key: &str, problem: impl std::fmt::Display, fix: &str) -> DsnError {
        DsnError::new(self.raw, self.part(key), problem, fix)
    }

    fn number<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, DsnError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                v.trim().parse().map(Some).map_err(|_| {
                    self.err(key, format_args!("is not {what}"), &format!("give {key} as {what}"))
                })
            }
        }
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, DsnError> {
        match self.get(key) {
            None => Ok(None),
            Some("1") => Ok(Some(true)),
            Some("0") => Ok(Some(false)),
            Some(_) => Err(self.err(key, "is neither 0 nor 1", &format!("write {key}=0 or {key}=1"))),
        }
    }
}

/// Levenshtein distance between two short names, for "did you mean" hints (DSN keys here, property
/// names in the binary's configuration).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest(key: &str) -> Option<&'static str> {
    KEYS.iter().copied().map(|k| (edit_distance(key, k), k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k)
}

impl Dsn {
    /// The DSN without its password, for logs and error messages.
    pub fn redacted(&self) -> String {
        format!("postgres://{}@{}/{}", self.user, self.addr(), self.dbname)
    }

    /// `host:port` (or the socket path).
    pub fn addr(&self) -> String {
        if self.is_unix_socket() {
            format!("{}/.s.PGSQL.{}", self.host, self.port)
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// True when `host` is a unix-socket directory.
    pub fn is_unix_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    /// The `tokio-postgres` config for plain SQL connections. The transport (TCP, TLS) is opened by
    /// tidemark ([`crate::sql::connect`]), so this carries only what the startup message needs.
    pub fn sql_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.user(&self.user).dbname(&self.dbname).application_name(&self.application_name);
        c.ssl_mode(tokio_postgres::config::SslMode::Disable);
        if let Some(p) = &self.password {
            c.password(p);
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        c
    }

    /// A copy pointing at another database on the same server.
    pub fn with_dbname(&self, db: &str) -> Dsn {
        let mut d = self.clone();
        d.dbname = db.to_string();
        if !d.explicit_password {
            d.password = d.passfile_password();
        }
        d
    }

    /// The error for a server that asks for a password when none is known.
    pub fn no_password_error(&self) -> PgError {
        let file =
            self.passfile.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "~/.pgpass".into());
        PgError::Auth(format!(
            "the server at {} asks user {:?} for a password and none was given. Fix: put it in the DSN \
             (postgres://user:password@host/db), in PGPASSWORD, or in the password file {file} \
             (host:port:database:user:password, chmod 0600)",
            self.addr(),
            self.user
        ))
    }

    fn passfile_password(&self) -> Option<String> {
        let path = self.passfile.as_ref()?;
        let target = crate::pgpass::Target {
            host: &self.host,
            port: self.port,
            dbname: &self.dbname,
            user: &self.user,
        };
        crate::pgpass::lookup(path, target)
    }

    /// Parse, filling what the text leaves out the way libpq does: environment variables, the
    /// password file, then defaults (user = OS user, dbname = user, port 5432, `sslmode=prefer`).
    pub fn parse(s: &str) -> Result<Dsn, PgError> {
        Ok(Self::parse_with_env(s, &|k| std::env::var(k).ok())?)
    }

    /// [`Dsn::parse`] with the environment given (tests).
    pub fn parse_with_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Dsn, DsnError> {
        let raw = s.trim();
        let pairs = if dsn_text::is_url(raw) {
            dsn_text::split_url(raw)?.pairs
        } else if raw.contains("://") {
            return Err(DsnError::new(
                raw,
                format_args!("scheme {:?}", &raw[..raw.find("://").unwrap_or(0)]),
                "is not postgres:// or postgresql://",
                "write the URL as postgres://user@host:5432/dbname",
            ));
        } else {
            dsn_text::split_keyvalue(raw)?
        };
        let mut st = Settings { raw, pairs: pairs.into_iter().map(|(k, v)| (k, v, None)).collect() };
        for (k, _, _) in &st.pairs {
            if KEYS.contains(&k.as_str()) {
                continue;
            }
            if let Some((_, ok)) = NEUTRAL.iter().find(|(n, _)| n == k) {
                let v = st.get(k).unwrap_or_default();
                if !ok.contains(&v) {
                    return Err(st.err(
                        k,
                        "asks for something tidemark does not do",
                        &format!("remove {k}, or set it to one of {}", ok.join(", ")),
                    ));
                }
                continue;
            }
            let fix = match closest(k) {
                Some(c) => format!("did you mean {c}? Known keys: {}", KEYS.join(", ")),
                None => format!("remove it; known keys: {}", KEYS.join(", ")),
            };
            return Err(DsnError::new(raw, format_args!("key {k:?}"), "is not a connection setting", &fix));
        }
        for (key, var) in ENV {
            if st.get(key).is_none() {
                if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                    st.pairs.push((key.to_string(), v, Some(var)));
                }
            }
        }
        Self::resolve(&st, env)
    }

    fn resolve(st: &Settings<'_>, env: &dyn Fn(&str) -> Option<String>) -> Result<Dsn, DsnError> {
        let hostaddr = st.get("hostaddr").map(str::to_string);
        if let Some(a) = &hostaddr {
            if a.parse::<std::net::IpAddr>().is_err() {
                return Err(st.err(
                    "hostaddr",
                    "is not a numeric IP address",
                    "give hostaddr as an IP like 10.0.0.5 (put names in host)",
                ));
            }
        }
        let host = match st.get("host") {
            Some("") => return Err(st.err("host", "is empty", "name the server: host=db.example.com")),
            Some(h) if h.contains('=') => {
                return Err(st.err(
                    "host",
                    "contains '=': an empty host= swallowed the next setting",
                    "name the server (host=db.example.com), or write an empty value as host=''",
                ))
            }
            Some(h) if h.contains(',') => {
                return Err(st.err(
                    "host",
                    "names more than one server",
                    "give one host: tidemark follows one server",
                ))
            }
            Some(h) => h.to_string(),
            None => hostaddr.clone().unwrap_or_else(|| "localhost".into()),
        };
        if host.contains(['@', '/']) && !host.starts_with('/') {
            return Err(st.err(
                "host",
                "contains '@' or '/', so part of the password or path probably ended up in it",
                "percent-encode special characters in the user name and password (@ as %40, / as %2F, : as %3A)",
            ));
        }
        let port = match st.get("port") {
            None => 5432,
            Some(p) => match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(st.err(
                        "port",
                        "is not a port number (1-65535)",
                        "give the port as a number, e.g. 5432",
                    ))
                }
            },
        };
        let user = match st.get("user") {
            Some("") => return Err(st.err("user", "is empty", "name the role: user=cdc")),
            Some(u) => u.to_string(),
            None => env("USER").filter(|u| !u.is_empty()).unwrap_or_else(|| "postgres".into()),
        };
        let dbname = match st.get("dbname") {
            Some("") | None => user.clone(),
            Some(d) => d.to_string(),
        };
        let mut ssl_mode = match st.get("sslmode") {
            None => None,
            Some(m) => Some(SslMode::parse(m).ok_or_else(|| {
                st.err(
                    "sslmode",
                    "is not an sslmode",
                    "use one of disable, allow, prefer, require, verify-ca, verify-full",
                )
            })?),
        };
        if ssl_mode.is_none() && st.flag("requiressl")? == Some(true) {
            ssl_mode = Some(SslMode::Require);
        }
        let root = st.get("sslrootcert").filter(|r| !r.is_empty()).map(str::to_string);
        // libpq: system roots make verify-full the default.
        let ssl_mode = ssl_mode.unwrap_or(if root.as_deref() == Some("system") {
            SslMode::VerifyFull
        } else {
            SslMode::Prefer
        });
        let timeout: Option<u64> = st.number("connect_timeout", "a whole number of seconds")?;
        let connect_timeout = match timeout {
            None => Duration::from_secs(10),
            Some(0) => Duration::from_secs(365 * 86_400),
            Some(s) => Duration::from_secs(s.max(2)),
        };
        let keepalive = Keepalive {
            off: st.flag("keepalives")? == Some(false),
            idle: st.number("keepalives_idle", "a whole number of seconds")?,
            interval: st.number("keepalives_interval", "a whole number of seconds")?,
            count: st.number("keepalives_count", "a whole number")?,
            user_timeout_ms: st.number("tcp_user_timeout", "a whole number of milliseconds")?,
        };
        let files = TlsFiles {
            root,
            cert: st.get("sslcert").filter(|r| !r.is_empty()).map(str::to_string),
            key: st.get("sslkey").filter(|r| !r.is_empty()).map(str::to_string),
            sni: st.flag("sslsni")?.unwrap_or(true),
        };
        let tls = crate::tls::build(ssl_mode, &files, st.raw)?;
        let application_name = st
            .get("application_name")
            .or(st.get("fallback_application_name"))
            .filter(|a| !a.is_empty())
            .unwrap_or("tidemark")
            .to_string();
        let explicit = st.get("password").map(str::to_string);
        let mut d = Dsn {
            host,
            hostaddr,
            port,
            user,
            password: None,
            dbname,
            ssl_mode,
            connect_timeout,
            application_name,
            options: st.get("options").filter(|o| !o.is_empty()).map(str::to_string),
            keepalive,
            tls,
            explicit_password: explicit.is_some(),
            passfile: crate::pgpass::file_path(st.get("passfile"), env),
        };
        d.password = explicit.or_else(|| d.passfile_password());
        Ok(d)
    }
}

#[cfg(test)]
#[path = "dsn_tests.rs"]
mod tests;

//! The byte stream under every connection: TCP (to `hostaddr` or `host`) or a unix socket, TCP
//! keepalives as the DSN asks, and the SSLRequest/TLS handshake with the DSN's one rustls config.
//!
//! Both the replication/COPY [`crate::Connection`] and the tokio-postgres SQL clients
//! ([`crate::sql::connect`], through `connect_raw`) run over a [`Stream`] opened here, so sslmode,
//! certificate checks and their error messages cannot differ between the two.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::{Dsn, PgError, SslMode};

/// An open connection to the server, before the startup message.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Whether to ask the server for TLS on this attempt.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// No SSLRequest.
    Plain,
    /// SSLRequest; a refusal falls back to plain text only under `prefer`.
    Tls,
}

/// The attempts `sslmode` calls for, in order (`allow` tries plain text first, then TLS).
pub(crate) fn attempts(dsn: &Dsn) -> &'static [Attempt] {
    if dsn.is_unix_socket() {
        return &[Attempt::Plain];
    }
    match dsn.ssl_mode {
        SslMode::Disable => &[Attempt::Plain],
        SslMode::Allow => &[Attempt::Plain, Attempt::Tls],
        _ => &[Attempt::Tls],
    }
}

fn io_err(addr: &str) -> impl FnOnce(std::io::Error) -> PgError + '_ {
    move |source| PgError::Io { addr: addr.to_string(), source }
}

/// Connect and, for [`Attempt::Tls`], negotiate TLS.
pub(crate) async fn open(dsn: &Dsn, attempt: Attempt) -> Result<Stream, PgError> {
    let addr = dsn.addr();
    if dsn.is_unix_socket() {
        return Ok(Stream::Unix(UnixStream::connect(&addr).await.map_err(io_err(&addr))?));
    }
    let target = dsn.hostaddr.as_deref().unwrap_or(&dsn.host);
    let tcp = TcpStream::connect((target, dsn.port)).await.map_err(io_err(&addr))?;
    let _ = tcp.set_nodelay(true);
    dsn.keepalive.apply(&tcp).map_err(io_err(&addr))?;
    if attempt == Attempt::Plain {
        return Ok(Stream::Tcp(tcp));
    }
    negotiate(tcp, dsn, &addr).await
}

async fn negotiate(mut tcp: TcpStream, dsn: &Dsn, addr: &str) -> Result<Stream, PgError> {
    let Some(policy) = dsn.tls.as_ref() else {
        return Ok(Stream::Tcp(tcp));
    };
    let mut buf = BytesMut::new();
    frontend::ssl_request(&mut buf);
    tcp.write_all(&buf).await.map_err(io_err(addr))?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(io_err(addr))?;
    match answer[0] {
        b'S' => {
            let connector = tokio_rustls::TlsConnector::from(policy.config.clone());
            let name = rustls::pki_types::ServerName::try_from(dsn.host.clone())
                .map_err(|e| PgError::Tls { addr: addr.into(), reason: format!("bad server name: {e}") })?;
            match connector.connect(name, tcp).await {
                Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
                Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(r) => {
                        let (problem, fix) = crate::tls::explain(r, policy, &dsn.host);
                        Err(PgError::TlsVerify { addr: addr.into(), problem, fix })
                    }
                    None => Err(PgError::Tls { addr: addr.into(), reason: e.to_string() }),
                },
            }
        }
        b'N' if matches!(dsn.ssl_mode, SslMode::Prefer | SslMode::Allow) => Ok(Stream::Tcp(tcp)),
        b'N' => Err(PgError::TlsUnsupported { addr: addr.into(), mode: dsn.ssl_mode.as_str() }),
        other => Err(PgError::Protocol(format!("unexpected answer {other:#x} to SSLRequest"))),
    }
}

/// TCP keepalive default: seconds idle before the first probe (libpq leaves the kernel's 7200).
pub const KEEPALIVE_IDLE_SECS: u64 = 30;
/// TCP keepalive default: seconds between unanswered probes.
pub const KEEPALIVE_INTERVAL_SECS: u64 = 10;
/// TCP keepalive default: unanswered probes before the kernel declares the peer dead.
pub const KEEPALIVE_RETRIES: u32 = 3;

/// TCP keepalive settings (libpq's `keepalives`, `keepalives_idle`, `keepalives_interval`,
/// `keepalives_count`, `tcp_user_timeout`); unset values take tidemark's defaults above.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keepalive {
    /// `keepalives=0` turns them off.
    pub off: bool,
    /// Seconds idle before the first probe.
    pub idle: Option<u64>,
    /// Seconds between probes.
    pub interval: Option<u64>,
    /// Probes lost before the connection is dead.
    pub count: Option<u32>,
    /// Milliseconds transmitted data may stay unacknowledged.
    pub user_timeout_ms: Option<u64>,
}

impl Keepalive {
    fn apply(&self, tcp: &TcpStream) -> std::io::Result<()> {
        let sock = socket2::SockRef::from(tcp);
        if let Some(ms) = self.user_timeout_ms.filter(|&ms| ms > 0) {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            sock.set_tcp_user_timeout(Some(std::time::Duration::from_millis(ms)))?;
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let _ = ms;
        }
        if self.off {
            return Ok(());
        }
        sock.set_keepalive(true)?;
        // Unset values get tidemark's defaults, not the kernel's two hours: a peer that vanished (host
        // down, NAT entry dropped) is then noticed within about a minute of silence.
        let mut ka = socket2::TcpKeepalive::new()
            .with_time(std::time::Duration::from_secs(self.idle.unwrap_or(KEEPALIVE_IDLE_SECS)));
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        {
            ka = ka
                .with_interval(std::time::Duration::from_secs(
                    self.interval.unwrap_or(KEEPALIVE_INTERVAL_SECS),
                ))
                .with_retries(self.count.unwrap_or(KEEPALIVE_RETRIES));
        }
        sock.set_tcp_keepalive(&ka)?;
        Ok(())
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

//! A TCP proxy a test controls, for network faults a real server cannot produce on its own.
//!
//! Why: a network partition, a dropped NAT entry or a vanished peer leave a connection *half-open*:
//! no FIN, no RST, nothing but silence, while the local kernel still accepts writes. Killing the
//! server does not reproduce that (its kernel resets the connection). This proxy forwards bytes
//! between a client and a target until told to [`black-hole`](Proxy::blackhole) them: from then on
//! every connection open at that moment forwards nothing in either direction, for good, while its
//! sockets stay open on both sides — exactly what a client sees in a partition.
//!
//! Invariants: black-holed connections never carry another byte (not even after
//! [`heal`](Proxy::heal)); connections accepted while black-holed are black-holed too; after `heal`
//! new connections forward normally. Dropping the proxy closes everything it holds.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct Shared {
    /// Bumped by `blackhole`; a connection accepted in an earlier epoch is dead from then on.
    epoch: AtomicU64,
    blackholed: AtomicBool,
    closed: AtomicBool,
    accepted: AtomicUsize,
    sockets: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn dead(&self, conn_epoch: u64) -> bool {
        self.blackholed.load(Ordering::SeqCst) || self.epoch.load(Ordering::SeqCst) != conn_epoch
    }
}

/// A running proxy on 127.0.0.1.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listen on a free port of 127.0.0.1 and forward every connection to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        std::thread::Builder::new().name("testkit-proxy".into()).spawn(move || {
            for client in listener.incoming() {
                if sh.closed.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                let epoch = sh.epoch.load(Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut socks = sh.sockets.lock().unwrap_or_else(|e| e.into_inner());
                    socks.extend(client.try_clone().ok());
                    socks.extend(server.try_clone().ok());
                }
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else { continue };
                    let sh = sh.clone();
                    let _ = std::thread::Builder::new()
                        .name("testkit-proxy-pump".into())
                        .spawn(move || pump(from, to, &sh, epoch));
                }
            }
        })?;
        Ok(Proxy { port, shared })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Partition: every connection open now (and any accepted until [`heal`](Self::heal)) stops
    /// forwarding for good, with its sockets left open.
    pub fn blackhole(&self) {
        self.shared.blackholed.store(true, Ordering::SeqCst);
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// End the partition for new connections (black-holed ones stay dead).
    pub fn heal(&self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.blackholed.store(false, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

/// Copy `from` → `to` until either side closes; once the connection is dead, swallow everything and
/// hold both sockets open until the proxy is dropped.
fn pump(mut from: TcpStream, mut to: TcpStream, sh: &Shared, epoch: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                if !sh.dead(epoch) {
                    let _ = to.shutdown(Shutdown::Write);
                }
                break;
            }
            Ok(n) => n,
        };
        if sh.dead(epoch) {
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            let _ = from.shutdown(Shutdown::Read);
            break;
        }
    }
    if sh.dead(epoch) {
        // Half-open: keep the sockets (held by `sockets` too) and read nothing more, so the peers'
        // writes pile up in kernel buffers as they would behind a partition.
        while !sh.closed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        for s in self.shared.sockets.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

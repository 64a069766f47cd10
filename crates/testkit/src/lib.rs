//! Throwaway PostgreSQL clusters for integration tests, benchmarks and `tidemark demo`.
//!
//! A [`Cluster`] is an `initdb`'d data directory in a fresh temporary folder, started with
//! `wal_level=logical` on a random free port of 127.0.0.1 and removed (after an immediate stop) when
//! dropped. When the process runs as root, the server runs as the `postgres` OS user through
//! `runuser`, because `initdb` refuses to run as root.
//!
//! Server binaries are found in `$TIDEMARK_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
//! `pg_config --bindir`. When none exists, [`ClusterError::NoServer`] says how to install them.
//!
//! Modules: `server` ([`ClusterBuilder`]; creating, starting and stopping clusters), `recovery`
//! (archives, base backups, point-in-time restores and standbys of a cluster), `sql` (DSNs, `psql`,
//! clients); [`certs`], [`kafka`] and [`proxy`] are a test CA, a Kafka broker and a TCP proxy that
//! can black-hole connections.

pub mod certs;
pub mod kafka;
pub mod proxy;
mod recovery;
mod server;
mod sql;

pub use certs::TestCa;
pub use server::{find_bin_dir, ClusterBuilder};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What can go wrong starting a cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No server binaries on this machine.
    #[error(
        "no PostgreSQL server binaries found (looked in $TIDEMARK_PG_BIN, /usr/lib/postgresql/*/bin and \
         `pg_config --bindir`). On Debian/Ubuntu: `sudo apt-get install -y postgresql`; elsewhere install the \
         PostgreSQL server package and set TIDEMARK_PG_BIN to the folder holding initdb and pg_ctl"
    )]
    NoServer,
    /// A command failed.
    #[error("{cmd} failed: {output}")]
    Command {
        /// What ran.
        cmd: String,
        /// Its stderr/stdout, or the spawn error.
        output: String,
    },
    /// I/O on the data directory.
    #[error("cluster I/O: {0}")]
    Io(#[from] std::io::Error),
    /// SQL against the cluster failed.
    #[error("SQL failed: {0}")]
    Sql(String),
}

/// How to authenticate TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAuth {
    /// Anyone, no password (default).
    Trust,
    /// SCRAM-SHA-256 passwords; the `postgres` superuser's password is [`SUPERUSER_PASSWORD`].
    Scram,
    /// md5 passwords.
    Md5,
}

/// Password of the `postgres` role when the cluster uses password authentication.
pub const SUPERUSER_PASSWORD: &str = "tidemark-test-pw";

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    auth: HostAuth,
    running: bool,
    ca: Option<TestCa>,
}

impl Cluster {
    /// The test CA (clusters built with [`ClusterBuilder::ssl`]).
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Server binary folder.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Poll `f` every 50 ms until it returns true or `timeout` passes.
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        f()
    }

    /// The server log so far (for failing tests).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

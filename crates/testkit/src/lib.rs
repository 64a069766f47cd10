//! Throwaway PostgreSQL clusters for integration tests, benchmarks and `tidemark demo`.
//!
//! A [`Cluster`] is an `initdb`'d data directory in a fresh temporary folder, started with
//! `wal_level=logical` on a random free port of 127.0.0.1 and removed (after an immediate stop) when
//! dropped. When the process runs as root, the server runs as the `postgres` OS user through
//! `runuser`, because `initdb` refuses to run as root.
//!
//! Server binaries are found in `$TIDEMARK_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
//! `pg_config --bindir`. When none exists, [`ClusterError::NoServer`] says how to install them.

pub mod certs;
pub mod kafka;
pub mod proxy;

pub use certs::TestCa;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// Options for a new cluster.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    settings: Vec<(String, String)>,
    auth: HostAuth,
    ssl: bool,
    archive: bool,
    hba: Vec<String>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            settings: Vec::new(),
            auth: HostAuth::Trust,
            ssl: false,
            archive: false,
            hba: Vec::new(),
        }
    }
}

impl ClusterBuilder {
    /// Add or override a `postgresql.conf` setting.
    pub fn setting(mut self, k: &str, v: &str) -> Self {
        self.settings.push((k.into(), v.into()));
        self
    }
    /// Choose TCP authentication.
    pub fn auth(mut self, a: HostAuth) -> Self {
        self.auth = a;
        self
    }
    /// Enable TLS with a certificate signed by a fresh test CA ([`Cluster::ca`]; subjectAltName
    /// `localhost` only); the server trusts that CA for client certificates. TCP connections without
    /// TLS are then rejected.
    pub fn ssl(mut self, on: bool) -> Self {
        self.ssl = on;
        self
    }
    /// Put a `pg_hba.conf` line before all others (e.g. `hostssl all cdc 127.0.0.1/32 cert`).
    pub fn hba_line(mut self, line: &str) -> Self {
        self.hba.push(line.into());
        self
    }
    /// Archive WAL (archive_mode=on) into the cluster's folder, for base backups and point-in-time
    /// restores ([`Cluster::base_backup`], [`Cluster::restore`]).
    pub fn archive(mut self, on: bool) -> Self {
        self.archive = on;
        self
    }
    /// Create and start.
    pub fn start(self) -> Result<Cluster, ClusterError> {
        Cluster::create(self)
    }
}

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

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Folder holding `initdb`/`pg_ctl`, or `None`.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TIDEMARK_PG_BIN") {
        let p = PathBuf::from(p);
        if p.join("initdb").exists() {
            return Some(p);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, p)) = found.pop() {
        return Some(p);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.join("initdb").exists().then_some(p)
}

fn free_port() -> Result<u16, ClusterError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Start a cluster with default options.
    pub fn start() -> Result<Cluster, ClusterError> {
        ClusterBuilder::default().start()
    }

    /// Options.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn run(&self, prog: &Path, args: &[&str]) -> Result<String, ClusterError> {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(prog);
            c
        } else {
            Command::new(prog)
        };
        cmd.args(args).stdin(Stdio::null());
        let desc = format!("{} {}", prog.display(), args.join(" "));
        let out =
            cmd.output().map_err(|e| ClusterError::Command { cmd: desc.clone(), output: e.to_string() })?;
        if !out.status.success() {
            return Err(ClusterError::Command {
                cmd: desc,
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stderr),
                    String::from_utf8_lossy(&out.stdout)
                ),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn create(b: ClusterBuilder) -> Result<Cluster, ClusterError> {
        let bin = find_bin_dir().ok_or(ClusterError::NoServer)?;
        let as_postgres = is_root();
        let base =
            std::env::var("TIDEMARK_TEST_TMP").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
        let root = base.join(format!(
            "tidemark-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        ));
        std::fs::create_dir_all(&root)?;
        let data = root.join("data");
        let mut c = Cluster {
            root: root.clone(),
            data: data.clone(),
            bin,
            port: 0,
            as_postgres,
            auth: b.auth,
            running: false,
            ca: None,
        };
        if as_postgres {
            let st = Command::new("chown").args(["-R", "postgres:", &root.to_string_lossy()]).status()?;
            if !st.success() {
                return Err(ClusterError::Command { cmd: "chown".into(), output: "failed".into() });
            }
        }
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD)?;
        if as_postgres {
            let _ = Command::new("chown").args(["postgres:", &pwfile.to_string_lossy()]).status();
        }
        let host_auth = match b.auth {
            HostAuth::Trust => "trust",
            HostAuth::Scram => "scram-sha-256",
            HostAuth::Md5 => "md5",
        };
        let initdb = c.bin.join("initdb");
        let pw_arg = format!("--pwfile={}", pwfile.display());
        let auth_arg = format!("--auth-host={host_auth}");
        let mut args = vec!["-D", data.to_str().unwrap_or_default(), "-U", "postgres", "--auth-local=trust"];
        args.push(&auth_arg);
        args.extend(["--no-sync", "-E", "UTF8", "--locale=C"]);
        if b.auth != HostAuth::Trust {
            args.push(&pw_arg);
        }
        c.run(&initdb, &args)?;
        let mut conf = String::from(
            "\n# tidemark test cluster\nlisten_addresses = '127.0.0.1'\nwal_level = logical\nmax_wal_senders = 30\n\
             max_replication_slots = 30\nmax_connections = 120\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nshared_buffers = 256MB\nlog_min_messages = warning\n\
             logging_collector = off\nwal_sender_timeout = 60s\ncheckpoint_timeout = 30min\nmax_wal_size = 4GB\n",
        );
        conf.push_str(&format!("unix_socket_directories = '{}'\n", root.display()));
        if b.ssl {
            let ca = TestCa::create(&root.join("pki"))?;
            let (crt, key) = (data.join("server.crt"), data.join("server.key"));
            std::fs::copy(ca.server().0, &crt)?;
            std::fs::copy(ca.server().1, &key)?;
            std::fs::copy(ca.ca_cert(), data.join("root.crt"))?;
            if as_postgres {
                let _ = Command::new("chown")
                    .args(["postgres:"])
                    .arg(&crt)
                    .arg(&key)
                    .arg(data.join("root.crt"))
                    .status();
            }
            let _ = Command::new("chmod").arg("600").arg(&key).status();
            c.ca = Some(ca);
            conf.push_str(
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'\n",
            );
        }
        if b.archive {
            let archive = root.join("archive");
            std::fs::create_dir_all(&archive)?;
            if as_postgres {
                let _ = Command::new("chown").args(["postgres:"]).arg(&archive).status();
            }
            conf.push_str(&format!(
                "archive_mode = on\narchive_command = 'test ! -f {0}/%f && cp %p {0}/%f'\narchive_timeout = 0\n",
                archive.display()
            ));
        }
        for (k, v) in &b.settings {
            conf.push_str(&format!("{k} = '{}'\n", v.replace('\'', "''")));
        }
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path)?;
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing)?;
        if b.ssl {
            // hostssl lines first so TLS connections are accepted with the same auth.
            let hba_path = data.join("pg_hba.conf");
            let hba = std::fs::read_to_string(&hba_path)?;
            std::fs::write(
                &hba_path,
                format!(
                    "hostssl all all 127.0.0.1/32 {host_auth}\nhostssl replication all 127.0.0.1/32 {host_auth}\n\
                     hostnossl all all 0.0.0.0/0 reject\nhostnossl replication all 0.0.0.0/0 reject\n{hba}"
                ),
            )?;
        }
        if !b.hba.is_empty() {
            let hba_path = data.join("pg_hba.conf");
            let hba = std::fs::read_to_string(&hba_path)?;
            std::fs::write(&hba_path, format!("{}\n{hba}", b.hba.join("\n")))?;
        }
        let mut last_err = None;
        for _ in 0..5 {
            c.port = free_port()?;
            match c.pg_ctl_start() {
                Ok(()) => {
                    c.running = true;
                    return Ok(c);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or(ClusterError::NoServer))
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.root.join("server.log");
        let opts = format!("-p {}", self.port);
        self.run(
            &self.bin.join("pg_ctl"),
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                self.data.to_str().unwrap_or_default(),
                "-l",
                log.to_str().unwrap_or_default(),
                "-o",
                &opts,
            ],
        )
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            ClusterError::Command { cmd: "pg_ctl start".into(), output: format!("{e}\nserver log:\n{tail}") }
        })?;
        Ok(())
    }

    /// Folder of archived WAL (when built with [`ClusterBuilder::archive`]).
    pub fn archive_dir(&self) -> PathBuf {
        self.root.join("archive")
    }

    /// Take a base backup (`pg_basebackup`, WAL streamed into it) into a new folder; returns it.
    pub fn base_backup(&self) -> Result<PathBuf, ClusterError> {
        let dest = self.root.join(format!(
            "backup-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        ));
        let root = self.root.to_string_lossy().into_owned();
        self.run(
            &self.bin.join("pg_basebackup"),
            &[
                "-h",
                &root,
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                dest.to_str().unwrap_or_default(),
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )?;
        Ok(dest)
    }

    /// Switch to a new WAL segment and wait until every segment up to it is archived.
    pub fn archive_all(&self) -> Result<(), ClusterError> {
        let seg = self.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())")?;
        let ok = self.wait_for(Duration::from_secs(60), || {
            self.psql("postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
                .map(|l| l.as_str() >= seg.as_str())
                .unwrap_or(false)
        });
        if ok {
            Ok(())
        } else {
            Err(ClusterError::Command {
                cmd: "archive_all".into(),
                output: format!("segment {seg} was not archived in time"),
            })
        }
    }

    /// A new cluster from a copy of `backup` with `conf` appended to its postgresql.conf (plus its own
    /// socket folder) and `signal` (`recovery.signal`, `standby.signal`) in its data folder, started on
    /// a free port. Shared by [`Cluster::restore`] and [`Cluster::standby`].
    fn start_copy(
        &self,
        backup: &Path,
        kind: &str,
        conf: &str,
        signal: &str,
    ) -> Result<Cluster, ClusterError> {
        let root = std::env::temp_dir().join(format!(
            "tidemark-{kind}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        ));
        std::fs::create_dir_all(&root)?;
        let data = root.join("data");
        let st = Command::new("cp").arg("-a").arg(backup).arg(&data).status()?;
        if !st.success() {
            return Err(ClusterError::Command { cmd: "cp backup".into(), output: "failed".into() });
        }
        let mut text = std::fs::read_to_string(data.join("postgresql.conf"))?;
        text.push_str(conf);
        text.push_str(&format!("unix_socket_directories = '{}'\n", root.display()));
        std::fs::write(data.join("postgresql.conf"), text)?;
        std::fs::write(data.join(signal), "")?;
        if self.as_postgres {
            let _ = Command::new("chown").args(["-R", "postgres:"]).arg(&root).status();
        }
        let mut c = Cluster {
            root,
            data,
            bin: self.bin.clone(),
            port: 0,
            as_postgres: self.as_postgres,
            auth: self.auth,
            running: false,
            ca: None,
        };
        let mut last = None;
        for _ in 0..5 {
            c.port = free_port()?;
            match c.pg_ctl_start() {
                Ok(()) => {
                    c.running = true;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if !c.running {
            return Err(last.unwrap_or(ClusterError::NoServer));
        }
        Ok(c)
    }

    /// Point-in-time restore: a new cluster from `backup` replaying this cluster's archive up to
    /// `target_lsn` (inclusive), then promoted. Same system identifier as this cluster.
    pub fn restore(&self, backup: &Path, target_lsn: &str) -> Result<Cluster, ClusterError> {
        let conf = format!(
            "\n# point-in-time restore\nrestore_command = 'cp {}/%f %p'\nrecovery_target_lsn = '{target_lsn}'\n\
             recovery_target_action = 'promote'\narchive_mode = off\n",
            self.archive_dir().display(),
        );
        let c = self.start_copy(backup, "pitr", &conf, "recovery.signal")?;
        // Wait for promotion (end of recovery).
        let promoted = c.wait_for(Duration::from_secs(60), || {
            c.psql("postgres", "SELECT NOT pg_is_in_recovery()").map(|v| v == "t").unwrap_or(false)
        });
        if !promoted {
            return Err(ClusterError::Command {
                cmd: "restore".into(),
                output: format!("recovery did not finish:\n{}", c.log()),
            });
        }
        Ok(c)
    }

    /// A physical streaming standby of this cluster (base backup, `standby.signal`, `primary_conninfo`
    /// over this cluster's Unix socket), started and replaying; same system identifier.
    pub fn standby(&self) -> Result<Cluster, ClusterError> {
        let backup = self.base_backup()?;
        let conf = format!(
            "\n# streaming standby\nprimary_conninfo = 'host={} port={} user=postgres'\nhot_standby = on\n\
             archive_mode = off\n",
            self.root.display(),
            self.port,
        );
        let c = self.start_copy(&backup, "standby", &conf, "standby.signal")?;
        let streaming = c.wait_for(Duration::from_secs(60), || {
            c.psql("postgres", "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')")
                .map(|v| v == "t")
                .unwrap_or(false)
        });
        if !streaming {
            return Err(ClusterError::Command {
                cmd: "standby".into(),
                output: format!("not streaming:\n{}", c.log()),
            });
        }
        Ok(c)
    }

    /// Wait until `standby` has replayed everything this cluster wrote so far.
    pub fn wait_replayed(&self, standby: &Cluster) -> bool {
        let Ok(target) = self.psql("postgres", "SELECT pg_current_wal_lsn()") else { return false };
        self.wait_for(Duration::from_secs(60), || {
            standby
                .psql("postgres", &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"))
                .map(|v| v == "t")
                .unwrap_or(false)
        })
    }

    /// Stop immediately (like a crash) and keep the data directory.
    pub fn stop(&mut self) {
        if self.running {
            let _ = self.run(
                &self.bin.join("pg_ctl"),
                &["stop", "-m", "immediate", "-w", "-D", self.data.to_str().unwrap_or_default()],
            );
            self.running = false;
        }
    }

    /// Start again after [`stop`](Self::stop), on the same port.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        self.stop();
        self.pg_ctl_start()?;
        self.running = true;
        Ok(())
    }

    /// The test CA (clusters built with [`ClusterBuilder::ssl`]).
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// Restart the way `systemctl restart` does: `pg_ctl stop -m fast` (clients get an orderly end of
    /// their sessions; walsenders first send and see confirmed what they decoded), then start again
    /// on the same port.
    pub fn restart_fast(&mut self) -> Result<(), ClusterError> {
        if self.running {
            self.run(
                &self.bin.join("pg_ctl"),
                &["stop", "-m", "fast", "-w", "-t", "120", "-D", self.data.to_str().unwrap_or_default()],
            )?;
            self.running = false;
        }
        self.pg_ctl_start()?;
        self.running = true;
        Ok(())
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

    /// Key/value DSN for `db` as the superuser (with password when the cluster requires one).
    pub fn dsn(&self, db: &str) -> String {
        self.dsn_as(
            db,
            "postgres",
            if self.auth == HostAuth::Trust { None } else { Some(SUPERUSER_PASSWORD) },
        )
    }

    /// URL DSN for `db`, user and password.
    pub fn dsn_as(&self, db: &str, user: &str, password: Option<&str>) -> String {
        match password {
            Some(p) => format!("postgres://{user}:{p}@127.0.0.1:{}/{db}?sslmode=disable", self.port),
            None => format!("postgres://{user}@127.0.0.1:{}/{db}?sslmode=disable", self.port),
        }
    }

    /// Run SQL through `psql` (over the unix socket, as the superuser) and return unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, ClusterError> {
        let psql = self.bin.join("psql");
        let out = Command::new(&psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.root)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ClusterError::Command { cmd: "psql".into(), output: e.to_string() })?;
        if !out.status.success() {
            return Err(ClusterError::Sql(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Run an SQL file through `psql -f` (each statement its own transaction unless the file groups
    /// them).
    pub fn psql_file(&self, db: &str, file: &Path) -> Result<String, ClusterError> {
        let psql = self.bin.join("psql");
        let out = Command::new(&psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.root)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-f"])
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ClusterError::Command { cmd: "psql -f".into(), output: e.to_string() })?;
        if !out.status.success() {
            return Err(ClusterError::Sql(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// A `tokio-postgres` client for `db` (superuser, unix socket).
    pub async fn client(&self, db: &str) -> Result<tokio_postgres::Client, ClusterError> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(&self.root).port(self.port).user("postgres").dbname(db);
        let (client, conn) =
            cfg.connect(tokio_postgres::NoTls).await.map_err(|e| ClusterError::Sql(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
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

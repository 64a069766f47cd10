//! Creating, starting and stopping a cluster: finding the server binaries, `initdb` (as the
//! `postgres` OS user when running as root), the test settings appended to `postgresql.conf`, TLS
//! and `pg_hba.conf` lines, and `pg_ctl` start/stop/restart on a free port.
//!
//! Invariant: a [`Cluster`] is returned only once `pg_ctl start -w` saw its server accept
//! connections; a start that fails is retried on another free port, five attempts in all.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Cluster, ClusterError, HostAuth, TestCa, SUPERUSER_PASSWORD};

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

pub(crate) fn free_port() -> Result<u16, ClusterError> {
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

    pub(crate) fn run(&self, prog: &Path, args: &[&str]) -> Result<String, ClusterError> {
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

    pub(crate) fn pg_ctl_start(&self) -> Result<(), ClusterError> {
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
}

//! Copies of a cluster: WAL archiving, base backups, point-in-time restores and physical streaming
//! standbys — the servers `diff`/`verify` tests compare (same system identifier as the original).
//!
//! Invariant: [`Cluster::restore`] and [`Cluster::standby`] return only once the copy is promoted or
//! streaming; a copy that does not get there within 60 s is an error carrying its server log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::server::free_port;
use crate::{Cluster, ClusterError};

impl Cluster {
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
}

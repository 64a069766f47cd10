//! Talking to a cluster: DSNs for the code under test, `psql` for setup SQL and files (over the
//! cluster's own Unix socket, as the superuser), and a `tokio-postgres` client.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Cluster, ClusterError, HostAuth, SUPERUSER_PASSWORD};

impl Cluster {
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

    /// Drop replication slot `slot` once no walsender holds it. A client that just exited (or just
    /// stopped streaming) leaves its walsender alive until the server notices the closed socket, so
    /// an immediate `pg_drop_replication_slot` can fail with "is active for PID"; this waits up to
    /// 30 s for `active = false` first.
    pub fn drop_slot(&self, db: &str, slot: &str) -> Result<(), ClusterError> {
        let lit = slot.replace('\'', "''");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let active =
                self.psql(db, &format!("SELECT active FROM pg_replication_slots WHERE slot_name = '{lit}'"))?;
            if active != "t" || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.psql(db, &format!("SELECT pg_drop_replication_slot('{lit}')")).map(|_| ())
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
}

//! Helpers shared by the binary's integration tests: run `tidemark` against a throwaway cluster and
//! read back what the file sink wrote.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use tidemark_testkit::Cluster;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tidemark")
}

/// `tidemark stream` with fast test settings and the given extra args.
pub fn stream_cmd(dsn: &str, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["stream", "--source", dsn, "--sink"])
        .arg(format!("file:{}", out.display()))
        .args([
            "--set",
            "heartbeat.interval.ms=200",
            "--set",
            "offset.flush.interval.ms=100",
            "--set",
            "status.update.interval.ms=500",
        ])
        .args(extra)
        .env_remove("TIDEMARK_SOURCE")
        .env("TIDEMARK_LOG", std::env::var("TEST_TIDEMARK_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null());
    c
}

/// Run to completion (`--until-lsn current` must be among the args for it to stop).
pub fn run_ok(mut c: Command) -> Output {
    let out = c.output().expect("spawn tidemark");
    if std::env::var("TEST_TIDEMARK_LOG").is_ok() {
        eprintln!("--- tidemark stderr ---\n{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        out.status.success(),
        "tidemark failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run expecting failure; returns stderr.
pub fn run_err(mut c: Command) -> String {
    let out = c.output().expect("spawn tidemark");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure, got success; stderr: {stderr}");
    stderr
}

/// Every line of every `*.jsonl` file, parsed, files in name order.
pub fn read_events(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            out.push(
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line in {}: {e}: {l}", f.display())),
            );
        }
    }
    out
}

/// The payload of a record's value (schemas on or off); `Null` for tombstones.
pub fn payload(ev: &serde_json::Value) -> &serde_json::Value {
    let v = &ev["value"];
    if v.get("payload").is_some() {
        &v["payload"]
    } else {
        v
    }
}

/// The payload of a record's key.
pub fn key(ev: &serde_json::Value) -> &serde_json::Value {
    let k = &ev["key"];
    if k.get("payload").is_some() {
        &k["payload"]
    } else {
        k
    }
}

/// Events of one topic.
pub fn topic<'a>(evs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    evs.iter().filter(|e| e["topic"] == t).collect()
}

/// Create publication and slot by running the stream once to the current LSN.
pub fn setup_slot(pg: &Cluster, out: &Path, tables: &str, extra: &[&str]) {
    let mut args = vec!["--tables", tables, "--until-lsn", "current"];
    args.extend_from_slice(extra);
    run_ok(stream_cmd(&pg.dsn("postgres"), out, &args));
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Confirmed LSN of a slot as an integer.
pub fn slot_confirmed(pg: &Cluster, slot: &str) -> u64 {
    let s = pg
        .psql(
            "postgres",
            &format!("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'"),
        )
        .unwrap();
    s.trim().parse::<tidemark_model::Lsn>().map(|l| l.0).unwrap_or(0)
}

/// Peak RSS (VmHWM, kB) of a running child, sampled until it exits; returns (peak kB, output).
pub fn run_measuring_rss(mut c: Command) -> (u64, Output) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child: Child = c.spawn().unwrap();
    let pid = child.id();
    let mut peak = 0u64;
    let status_path = format!("/proc/{pid}/status");
    let handle = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !handle.is_finished() {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kb);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (peak, handle.join().unwrap())
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// Whether the slot `tidemark` is held by a walsender now.
pub fn slot_active(pg: &Cluster) -> bool {
    pg.psql("postgres", "SELECT active FROM pg_replication_slots WHERE slot_name = 'tidemark'").unwrap()
        == "t"
}

/// A cluster whose slots keep at most 1 MB of WAL, with a captured table `t` and a `filler` table
/// for [`lose_slot`].
pub fn slot_losing_cluster() -> Cluster {
    let pg = Cluster::builder()
        .setting("max_slot_wal_keep_size", "1MB")
        .setting("wal_keep_size", "0")
        .start()
        .unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE filler (x text);").unwrap();
    pg
}

/// Write and recycle WAL until the slot `tidemark` of a [`slot_losing_cluster`] is invalidated.
pub fn lose_slot(pg: &Cluster) {
    for _ in 0..4 {
        pg.psql("postgres", "INSERT INTO filler SELECT md5(g::text) FROM generate_series(1, 50000) g")
            .unwrap();
        pg.psql("postgres", "SELECT pg_switch_wal()").unwrap();
        pg.psql("postgres", "CHECKPOINT").unwrap();
    }
    assert_eq!(
        pg.psql("postgres", "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'tidemark'")
            .unwrap(),
        "lost"
    );
}

/// Send SIGTERM to a child (a clean stop: tidemark finishes what it confirmed and exits 0).
pub fn sigterm(pid: u32) {
    let st = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(st.success());
}

/// Independent equality: the row count and an md5 over the table's sorted row texts.
pub fn fingerprint(pg: &Cluster, db: &str, table: &str) -> String {
    pg.psql(db, &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') FROM (SELECT t::text AS x FROM {table} t) s"))
        .unwrap()
}

/// A cluster with databases `src` and `dst`, both created from `schema` (a source and an empty copy
/// for the apply sink).
pub fn source_and_copy(schema: &str) -> Cluster {
    let pg = Cluster::start().unwrap();
    for db in ["src", "dst"] {
        pg.psql("postgres", &format!("CREATE DATABASE {db}")).unwrap();
        pg.psql(db, schema).unwrap();
    }
    pg
}

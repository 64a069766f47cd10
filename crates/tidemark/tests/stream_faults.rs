//! Faults around a running `tidemark stream`: whatever the server, the network, the consumer or the
//! operator does, tidemark reconnects or exits — it never hangs holding the slot, and never loses
//! a row. Real PostgreSQL, real processes, a real TCP proxy for the partition.

mod common;
use std::collections::HashSet;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tidemark_testkit::proxy::Proxy;

const NO_SCHEMAS: [&str; 4] =
    ["--set", "value.converter.schemas.enable=false", "--set", "key.converter.schemas.enable=false"];

/// Ids of the create events for `public.t` written to `dir`.
fn ids(dir: &std::path::Path) -> HashSet<i64> {
    read_events(dir)
        .iter()
        .filter(|e| e["topic"] == "tidemark.public.t" && !e["value"].is_null() && payload(e)["op"] == "c")
        .map(|e| payload(e)["after"]["id"].as_i64().unwrap())
        .collect()
}

/// Insert ids `from..=to` in transactions of 100.
fn insert(pg: &Cluster, from: i64, to: i64) {
    let mut a = from;
    while a <= to {
        let b = (a + 99).min(to);
        pg.psql("postgres", &format!("INSERT INTO t SELECT generate_series({a}, {b})")).unwrap();
        a = b + 1;
    }
}

/// Collect a child's stderr in the background.
fn capture_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let mut err = child.stderr.take().expect("stderr piped");
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = err.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buf
}

fn text(buf: &Arc<Mutex<String>>) -> String {
    buf.lock().unwrap().clone()
}

fn kill(pid: u32, sig: &str) {
    let st = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap();
    assert!(st.success());
}

/// Wait up to `timeout` for the child to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `tidemark stream --sink stdout` with the fast test settings of `stream_cmd`.
fn stdout_cmd(dsn: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["stream", "--source", dsn, "--sink", "stdout"])
        .args(["--set", "heartbeat.interval.ms=200", "--set", "offset.flush.interval.ms=100"])
        .args(["--set", "status.update.interval.ms=500"])
        .args(extra)
        .env_remove("TIDEMARK_SOURCE")
        .env("TIDEMARK_LOG", "warn")
        .stdin(Stdio::null());
    c
}

#[test]
fn fast_shutdown_reconnects() {
    let mut pg = Cluster::builder().setting("synchronous_commit", "on").start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    let mut child = stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t"])
        .args(NO_SCHEMAS)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = capture_stderr(&mut child);
    insert(&pg, 1, 5000);
    assert!(wait_until(Duration::from_secs(30), || ids(out.path()).len() == 5000), "rows before the restart");
    insert(&pg, 5001, 6000); // possibly still in flight when the shutdown begins
    pg.restart_fast().unwrap(); // what `systemctl restart postgresql` does
    assert!(child.try_wait().unwrap().is_none(), "tidemark exited at the fast shutdown:\n{}", text(&stderr));
    insert(&pg, 6001, 10_000);
    let complete = wait_until(Duration::from_secs(60), || ids(out.path()).len() == 10_000);
    let still_running = child.try_wait().unwrap().is_none();
    kill(child.id(), "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30)).expect("exits after SIGTERM");
    let log = text(&stderr);
    assert!(still_running, "tidemark exited instead of reconnecting:\n{log}");
    assert!(complete, "rows missing after the fast restart: have {}\n{log}", ids(out.path()).len());
    assert!(!log.contains("protocol violation"), "{log}");
    assert!(log.contains("ended the replication stream"), "the orderly end is reported:\n{log}");
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn half_open_connection_times_out() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    let proxy = Proxy::start(([127, 0, 0, 1], pg.port()).into()).unwrap();
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable", proxy.port());
    let mut child = stream_cmd(&via_proxy, out.path(), &["--tables", "t"])
        .args(NO_SCHEMAS)
        .args(["--set", "replication.receive.timeout.ms=3000"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = capture_stderr(&mut child);
    insert(&pg, 1, 100);
    assert!(wait_until(Duration::from_secs(30), || ids(out.path()).len() == 100), "{}", text(&stderr));
    // The replication socket has TCP keepalive on, with tidemark's short idle time (30 s), not the
    // kernel's two hours (`timer:(keepalive,29sec,0)` rather than `…,119min,0)`).
    let proxy_side = format!(":{} ", proxy.port());
    let mut ss = String::new();
    let short_keepalive = wait_until(Duration::from_secs(10), || {
        let o = Command::new("ss").args(["-tnoH", "state", "established"]).output().unwrap();
        ss = String::from_utf8_lossy(&o.stdout).into_owned();
        ss.lines().filter(|l| l.contains(&proxy_side)).any(|l| {
            l.split("timer:(keepalive,")
                .nth(1)
                .and_then(|t| t.split(',').next())
                .is_some_and(|left| !left.contains("min") && !left.contains('h') && !left.contains('d'))
        })
    });
    assert!(short_keepalive, "no connection to the proxy with a short keepalive timer:\n{ss}");

    // Partition: nothing passes, nothing is closed. Quiet for longer than half the timeout, so the
    // ping (a status update asking for a reply) is what cannot be answered.
    let black_holed_at = Instant::now();
    proxy.blackhole();
    insert(&pg, 101, 200);
    let noticed =
        wait_until(Duration::from_secs(30), || text(&stderr).contains("no message from the server"));
    let took = black_holed_at.elapsed();
    assert!(noticed, "the half-open connection was never noticed:\n{}", text(&stderr));
    assert!(took >= Duration::from_millis(2500), "timed out after {took:?}, before the 3 s timeout");
    assert!(child.try_wait().unwrap().is_none(), "tidemark must reconnect, not exit:\n{}", text(&stderr));
    let before_heal = proxy.connections();
    proxy.heal();
    insert(&pg, 201, 300);
    let complete = wait_until(Duration::from_secs(90), || ids(out.path()).len() == 300);
    let log = text(&stderr);
    kill(child.id(), "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30)).expect("exits after SIGTERM");
    assert!(complete, "rows missing after the partition healed: have {}\n{log}", ids(out.path()).len());
    assert!(proxy.connections() > before_heal, "reconnected through the proxy");
    assert!(log.contains("ended tidemark's previous walsender"), "the stale walsender is released:\n{log}");
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn stdout_consumer_gone_exits_nonzero() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    insert(&pg, 1, 5); // a few KB: all of it fits in the pipe, so tidemark has nothing left to write
                       // `tidemark stream --sink stdout | head -n 1`
    let mut tm = stdout_cmd(&pg.dsn("postgres"), &["--tables", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = capture_stderr(&mut tm);
    let mut head = Command::new("head")
        .args(["-n", "1"])
        .stdin(tm.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let head_status = wait_exit(&mut head, Duration::from_secs(30)).expect("head reads a line");
    assert!(head_status.success());
    let mut line = String::new();
    head.stdout.take().unwrap().read_to_string(&mut line).unwrap();
    assert!(line.contains("\"op\":\"c\""), "{line}");
    // Everything was written before head exited: tidemark learns of it without writing again.
    let gone_at = Instant::now();
    let status = wait_exit(&mut tm, Duration::from_secs(10));
    let log = text(&stderr);
    let Some(status) = status else {
        let _ = tm.kill();
        panic!("tidemark still runs 10 s after its stdout reader exited:\n{log}");
    };
    assert!(!status.success(), "must exit non-zero: {status}\n{log}");
    assert!(log.contains("went away"), "{log}");
    eprintln!("tidemark exited {:?} after its reader", gone_at.elapsed());
    assert!(
        pg.wait_for(Duration::from_secs(10), || !slot_active(&pg)),
        "the slot stays active after tidemark exited"
    );
}

#[test]
fn second_signal_forces_exit() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, pad text)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &[]);
    // Several MB of output into a pipe nobody reads: the sink blocks in write(2) for good.
    pg.psql("postgres", "INSERT INTO t SELECT g, repeat('x', 1000) FROM generate_series(1, 5000) g").unwrap();
    let mut tm = stdout_cmd(&pg.dsn("postgres"), &["--tables", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _unread_stdout = tm.stdout.take().unwrap();
    let stderr = capture_stderr(&mut tm);
    assert!(
        pg.wait_for(Duration::from_secs(30), || slot_active(&pg)),
        "tidemark never started streaming:\n{}",
        text(&stderr)
    );
    std::thread::sleep(Duration::from_secs(2));
    kill(tm.id(), "TERM");
    // The graceful stop waits for the sink, which never drains.
    assert!(
        wait_exit(&mut tm, Duration::from_secs(3)).is_none(),
        "the first SIGTERM was expected to block on the full pipe:\n{}",
        text(&stderr)
    );
    let second = Instant::now();
    kill(tm.id(), "TERM");
    let status = wait_exit(&mut tm, Duration::from_secs(5));
    let log = text(&stderr);
    let Some(status) = status else {
        let _ = tm.kill();
        panic!("the second SIGTERM did not end tidemark:\n{log}");
    };
    eprintln!("exited {:?} after the second signal", second.elapsed());
    assert_eq!(status.code(), Some(128 + 15), "non-zero, 128 + SIGTERM\n{log}");
    assert!(log.contains("second SIGTERM"), "says so on stderr:\n{log}");
    assert!(pg.wait_for(Duration::from_secs(10), || !slot_active(&pg)), "slot released");
}

#[test]
fn file_sink_directory_is_locked() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    setup_slot(&pg, out.path(), "t", &NO_SCHEMAS);
    pg.psql("postgres", "SELECT pg_create_logical_replication_slot('second', 'pgoutput')").unwrap();
    let mut first =
        stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t"]).args(NO_SCHEMAS).spawn().unwrap();
    assert!(pg.wait_for(Duration::from_secs(30), || slot_active(&pg)), "first instance streams");
    // Another slot, the same directory: refused at start, naming the directory and the holder.
    let started = Instant::now();
    let err = run_err({
        let mut c = stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "t", "--slot", "second"]);
        c.args(NO_SCHEMAS);
        c
    });
    assert!(started.elapsed() < Duration::from_secs(20), "refused at start, not after streaming");
    assert!(err.contains(&out.path().display().to_string()), "names the directory: {err}");
    assert!(err.contains(&format!("PID {}", first.id())), "names the holder: {err}");
    insert(&pg, 1, 10);
    assert!(wait_until(Duration::from_secs(30), || ids(out.path()).len() == 10), "first instance unaffected");
    kill(first.id(), "TERM");
    assert!(first.wait().unwrap().success());
    // Once the holder is gone the directory is free again.
    insert(&pg, 11, 20);
    let mut args = vec!["--tables", "t", "--until-lsn", "current"];
    args.extend_from_slice(&NO_SCHEMAS);
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    assert_eq!(ids(out.path()).len(), 20);
}

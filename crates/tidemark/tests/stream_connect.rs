//! Connection options: SCRAM passwords, TLS (sslmode=require/prefer), configuration layering
//! through the environment and a TOML file.

mod common;
use std::process::Command;

use common::*;
use tidemark_testkit::HostAuth;

#[test]
fn scram_over_tls_streams_events() {
    let pg = Cluster::builder().auth(HostAuth::Scram).ssl(true).start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         CREATE ROLE cdc LOGIN REPLICATION PASSWORD 'cdc-pw';
         GRANT SELECT ON t TO cdc; GRANT CREATE ON DATABASE postgres TO cdc;
         ALTER TABLE t OWNER TO cdc;",
    )
    .unwrap();
    let dsn = format!("postgres://cdc:cdc-pw@127.0.0.1:{}/postgres?sslmode=require", pg.port());
    let out = tempdir();
    run_ok(stream_cmd(&dsn, out.path(), &["--tables", "t", "--until-lsn", "current"]));
    pg.psql("postgres", "INSERT INTO t VALUES (1, 'tls')").unwrap();
    run_ok(stream_cmd(&dsn, out.path(), &["--tables", "t", "--until-lsn", "current"]));
    // The server rejects TCP without TLS, so the runs above were encrypted; prove the rejection.
    let plain = format!("postgres://cdc:cdc-pw@127.0.0.1:{}/postgres?sslmode=disable", pg.port());
    let e = run_err(stream_cmd(&plain, tempdir().path(), &["--tables", "t"]));
    assert!(e.contains("no encryption") || e.contains("rejects"), "{e}");
    let evs = read_events(out.path());
    assert_eq!(payload(topic(&evs, "tidemark.public.t")[0])["after"]["v"], "tls");
}

#[test]
fn sslmode_require_against_a_plain_server_is_a_clear_error() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let dsn = format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=require", pg.port());
    let out = tempdir();
    let e = run_err(stream_cmd(&dsn, out.path(), &["--tables", "t"]));
    assert!(e.to_lowercase().contains("tls") || e.to_lowercase().contains("ssl"), "{e}");
}

#[test]
fn environment_and_file_configuration_layers() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let dir = tempdir();
    let out = dir.path().join("out");
    let cfg = dir.path().join("tidemark.toml");
    std::fs::write(
        &cfg,
        format!(
            "source = \"{}\"\nsink = \"file:{}\"\n[topic]\nprefix = \"fromfile\"\n[table.include]\nlist = \"public.t\"\n",
            pg.dsn("postgres"),
            out.display()
        ),
    )
    .unwrap();
    let run = |env_prefix: Option<&str>, flag_prefix: Option<&str>| {
        let mut c = Command::new(bin());
        c.args(["stream", "--config"]).arg(&cfg).args([
            "--until-lsn",
            "current",
            "--set",
            "heartbeat.interval.ms=200",
        ]);
        if let Some(p) = env_prefix {
            c.env("TIDEMARK_TOPIC_PREFIX", p);
        }
        if let Some(p) = flag_prefix {
            c.args(["--set", &format!("topic.prefix={p}")]);
        }
        c.env("TIDEMARK_LOG", "warn");
        run_ok(c);
    };
    run(None, None);
    pg.psql("postgres", "INSERT INTO t VALUES (1)").unwrap();
    run(None, None);
    pg.psql("postgres", "INSERT INTO t VALUES (2)").unwrap();
    run(Some("fromenv"), None);
    pg.psql("postgres", "INSERT INTO t VALUES (3)").unwrap();
    run(Some("fromenv"), Some("fromflag"));
    let evs = read_events(&out);
    assert_eq!(topic(&evs, "fromfile.public.t").len(), 1);
    assert_eq!(topic(&evs, "fromenv.public.t").len(), 1);
    assert_eq!(topic(&evs, "fromflag.public.t").len(), 1);
}

#[test]
fn help_teaches_the_properties() {
    let out = Command::new(bin()).args(["stream", "--help"]).output().unwrap();
    let h = String::from_utf8_lossy(&out.stdout);
    for p in [
        "topic.prefix",
        "tombstones.on.delete",
        "skipped.operations",
        "provide.transaction.metadata",
        "heartbeat.interval.ms",
        "--until-lsn",
    ] {
        assert!(h.contains(p), "--help lacks {p}");
    }
}

#[test]
fn stdout_sink_writes_json_lines() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let dir = tempdir();
    setup_slot(&pg, dir.path(), "t", &[]);
    pg.psql("postgres", "INSERT INTO t VALUES (7)").unwrap();
    let mut c = Command::new(bin());
    c.args(["stream", "--source", &pg.dsn("postgres"), "--tables", "t", "--until-lsn", "current"])
        .args(["--set", "heartbeat.interval.ms=200", "--set", "value.converter.schemas.enable=false"])
        .env("TIDEMARK_LOG", "warn");
    let out = run_ok(c);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["topic"], "tidemark.public.t");
    assert_eq!(lines[0]["value"]["after"]["id"], 7);
}

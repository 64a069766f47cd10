//! The command line and configuration as a user meets them: every configuration mistake exits 2 with
//! one message naming the key and the fix, printed once; typos are never silently ignored; empty
//! values never quietly become defaults; `--tables` reads PostgreSQL-quoted names; `--help` is true.

mod common;
use std::process::{Command, Output};

use common::*;

/// A source nothing listens on: configuration errors must be found before connecting to it.
const NOWHERE: &str = "postgres://u@127.0.0.1:1/db?connect_timeout=2";

fn tidemark(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).env_remove("TIDEMARK_SOURCE").env_remove("TIDEMARK_CONFIG").env("TIDEMARK_LOG", "warn");
    c
}

fn stream_nowhere(extra: &[&str]) -> Command {
    let mut args = vec!["stream", "--source", NOWHERE];
    args.extend_from_slice(extra);
    tidemark(&args)
}

/// Run, expect exit `code`, return stderr.
fn expect_exit(mut c: Command, code: i32) -> String {
    let out: Output = c.output().expect("spawn tidemark");
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{c:?}\nstderr: {e}");
    e
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("tidemark.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn error_printed_once() {
    let dir = tempdir();
    // (command, the phrase that must occur exactly once in stderr)
    let bad_toml = write_config(dir.path(), "topic.prefix = \n");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = format!("postgres://u:pw@127.0.0.1:{port}/db?sslmode=disable&connect_timeout=2");
    let cases: Vec<(Command, String)> = vec![
        (stream_nowhere(&["--config", &bad_toml]), format!("config file {bad_toml}")),
        (stream_nowhere(&["--set", "decimal.handling.mode=exact"]), "is not valid".into()),
        (stream_nowhere(&["--set", "tombstone.on.delete=false"]), "unknown property".into()),
        (
            tidemark(&["stream", "--source", &unreachable, "--tables", "t"]),
            format!("cannot reach PostgreSQL at 127.0.0.1:{port}"),
        ),
        (stream_nowhere(&["--sink", "file:/proc/tidemark/out"]), "not usable".into()),
        (
            tidemark(&["verify", "--source", &unreachable, "--target", &unreachable, "--tables", "t"]),
            format!("127.0.0.1:{port}"),
        ),
    ];
    for (c, phrase) in cases {
        let desc = format!("{c:?}");
        let out = { c }.output().unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{desc}");
        assert_eq!(e.matches(phrase.as_str()).count(), 1, "{desc}: {phrase:?} must occur once in:\n{e}");
        assert_eq!(e.matches("error:").count(), 1, "{desc}: one error line:\n{e}");
    }
    // A database-side error through the whole chain (source → catalog → server error), once.
    let pg = Cluster::start().unwrap();
    let out = tempdir();
    let e = run_err(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", "public.missing"]));
    assert_eq!(e.matches("public.missing does not exist").count(), 1, "{e}");
}

#[test]
fn config_errors_exit_2() {
    let dir = tempdir();
    let cases: Vec<(&str, Command, &str)> = vec![
        (
            "unknown property",
            stream_nowhere(&["--set", "no.such.property=1"]),
            "unknown property no.such.property",
        ),
        ("bad value", stream_nowhere(&["--set", "tombstones.on.delete=maybe"]), "true or false"),
        (
            "bad enum",
            stream_nowhere(&["--set", "time.precision.mode=seconds"]),
            "adaptive, adaptive_time_microseconds",
        ),
        ("missing source", tidemark(&["stream"]), "no source database"),
        ("bad sink uri", stream_nowhere(&["--sink", "kafka2://x"]), "unknown sink type \"kafka2\""),
        ("file sink without dir", stream_nowhere(&["--sink", "file:"]), "needs a directory"),
        (
            "conflicting options",
            stream_nowhere(&["--set", "kafka.topic=all", "--set", "kafka.topic.regex=x"]),
            "conflicting settings",
        ),
        (
            "conflicting protocol",
            stream_nowhere(&["--set", "pgoutput.streaming=true", "--set", "pgoutput.proto.version=1"]),
            "pgoutput.proto.version=2",
        ),
        ("malformed --tables", stream_nowhere(&["--tables", "public.\"a,b"]), "unterminated double quote"),
        ("malformed DSN", tidemark(&["stream", "--source", "postgres://u@h:notaport/db"]), "source"),
        ("bad --until-lsn", stream_nowhere(&["--until-lsn", "yesterday"]), "--until-lsn"),
        (
            "file: unknown key",
            stream_nowhere(&["--config", &write_config(dir.path(), "slot.nam = \"x\"\n")]),
            "did you mean slot.name?",
        ),
        (
            "diff malformed --tables",
            tidemark(&["diff", "--old", NOWHERE, "--new", NOWHERE, "--tables", "a.b.c"]),
            "more than two parts",
        ),
        (
            "diff nothing to compare",
            tidemark(&["diff", "--old", NOWHERE, "--new", NOWHERE]),
            "nothing to compare",
        ),
        (
            "verify unknown property",
            tidemark(&[
                "verify",
                "--source",
                NOWHERE,
                "--target",
                NOWHERE,
                "--tables",
                "t",
                "--set",
                "topic.prefx=a",
            ]),
            "did you mean topic.prefix?",
        ),
        ("clap usage error", tidemark(&["stream", "--no-such-flag"]), "--no-such-flag"),
    ];
    for (what, c, phrase) in cases {
        let e = expect_exit(c, 2);
        assert!(e.contains(phrase), "{what}: {phrase:?} not in:\n{e}");
    }
    // Not configuration: a source that does not answer is exit 1.
    let e = expect_exit(stream_nowhere(&["--tables", "t"]), 1);
    assert!(e.contains("cannot reach PostgreSQL"), "{e}");
}

#[test]
fn misspelled_property_is_an_error() {
    // Command line: the exact message the issue asks for.
    let e = expect_exit(stream_nowhere(&["--set", "tombstone.on.delete=false"]), 2);
    assert!(e.contains("unknown property tombstone.on.delete; did you mean tombstones.on.delete?"), "{e}");
    assert!(e.contains("command line"), "{e}");
    // Config file.
    let dir = tempdir();
    let f = write_config(dir.path(), "[tombstone.on]\ndelete = false\n");
    let e = expect_exit(stream_nowhere(&["--config", &f]), 2);
    assert!(e.contains("unknown property tombstone.on.delete; did you mean tombstones.on.delete?"), "{e}");
    assert!(e.contains(&f), "names the file: {e}");
    // Environment.
    let mut c = stream_nowhere(&[]);
    c.env("TIDEMARK_TOMBSTONE_ON_DELETE", "false");
    let e = expect_exit(c, 2);
    assert!(e.contains("unknown property tombstone.on.delete; did you mean tombstones.on.delete?"), "{e}");
    assert!(e.contains("TIDEMARK_TOMBSTONE_ON_DELETE"), "names the variable: {e}");
    // A Debezium property tidemark does not have is not silently accepted either.
    let e = expect_exit(stream_nowhere(&["--set", "snapshot.select.statement.overrides=public.t"]), 2);
    assert!(
        e.contains("unknown property snapshot.select.statement.overrides")
            && e.contains("does not implement it yet"),
        "{e}"
    );
    // snapshot.mode values are checked: Debezium's that tidemark lacks say so, others list the choices.
    let e = expect_exit(stream_nowhere(&["--set", "snapshot.mode=always"]), 2);
    assert!(e.contains("snapshot.mode=always is not implemented yet"), "{e}");
    let e = expect_exit(stream_nowhere(&["--set", "snapshot.mode=sometimes"]), 2);
    assert!(e.contains("initial, initial_only or no_data"), "{e}");
    let e = expect_exit(stream_nowhere(&["--set", "snapshot.max.threads=0"]), 2);
    assert!(e.contains("snapshot.max.threads") && e.contains("at least 1"), "{e}");
    // kafka.* is not a wildcard: only kafka.property.<librdkafka name> is open.
    let e = expect_exit(stream_nowhere(&["--set", "kafka.topic.partition=3"]), 2);
    assert!(e.contains("did you mean kafka.topic.partitions?"), "{e}");

    // Unrelated TIDEMARK_ variables are not properties and do not stop a run; TIDEMARK_SOURCE and
    // TIDEMARK_TOPIC_PREFIX are properties and work.
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let out = tempdir();
    let run = |out: &std::path::Path| {
        let mut c = Command::new(bin());
        c.args(["stream", "--tables", "t", "--until-lsn", "current", "--sink"])
            .arg(format!("file:{}", out.display()))
            .env("TIDEMARK_SOURCE", pg.dsn("postgres"))
            .env("TIDEMARK_TOPIC_PREFIX", "fromenv")
            .env("TIDEMARK_LOG", "warn")
            .env("TIDEMARK_TEST_SOMETHING_ELSE", "1")
            .env("TIDEMARK_PG_BIN", "/nonexistent")
            .env("TIDEMARK_BENCH_ROWS", "5")
            .env_remove("TIDEMARK_CONFIG");
        run_ok(c)
    };
    run(out.path());
    pg.psql("postgres", "INSERT INTO t VALUES (1)").unwrap();
    run(out.path());
    let evs = read_events(out.path());
    assert_eq!(topic(&evs, "fromenv.public.t").len(), 1, "{evs:?}");
}

#[test]
fn typed_values_are_checked() {
    let long = "p".repeat(250);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--set".into(), format!("topic.prefix={long}")], "at most 249 characters"),
        (vec!["--set".into(), "topic.prefix=my/prefix".into()], "Kafka topic characters"),
        (vec!["--set".into(), "heartbeat.interval.ms=10s".into()], "milliseconds"),
        (vec!["--set".into(), "heartbeat.interval.ms=-1".into()], "milliseconds"),
        (vec!["--set".into(), "provide.transaction.metadata=ja".into()], "true or false"),
        (vec!["--set".into(), "pgoutput.proto.version=3".into()], "from 1 to 2"),
        (vec!["--set".into(), "file.rotate.bytes=10".into()], "at least 1024"),
        (vec!["--set".into(), "database.port=70000".into()], "from 1 to 65535"),
        (vec!["--set".into(), "kafka.topic.partitions=0".into()], "from 1 to"),
    ];
    for (args, phrase) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = expect_exit(stream_nowhere(&a), 2);
        assert!(e.contains(phrase), "{args:?}: {phrase:?} not in:\n{e}");
        assert_eq!(e.lines().count(), 1, "one line: {e}");
    }
    // A number where a list belongs, a list where one value belongs (config file).
    let dir = tempdir();
    for (text, phrase) in [
        ("table.include.list = 5\n", "a list"),
        ("column.exclude.list = [1, 2]\n", "a list"),
        ("topic.prefix = [\"a\", \"b\"]\n", "a single value"),
        ("heartbeat.interval.ms = 1.5\n", "a single value"),
        ("tombstones.on.delete = 1\n", "a single value"),
    ] {
        let f = write_config(dir.path(), text);
        let e = expect_exit(stream_nowhere(&["--config", &f]), 2);
        assert!(e.contains(phrase) && e.contains(&f), "{text}: {e}");
    }
}

#[test]
fn empty_values_do_not_fall_back_silently() {
    // Empty is an error for properties that need a value...
    for (args, key) in [
        (&["--set", "topic.prefix="][..], "topic.prefix"),
        (&["--set", "topic.delimiter="][..], "topic.delimiter"),
        (&["--slot", ""][..], "slot.name"),
        (&["--publication", ""][..], "publication.name"),
        // An empty table list must not quietly mean "every table the publication holds".
        (&["--tables", ""][..], "table.include.list"),
        (&["--sink", ""][..], "sink"),
        (&["--set", "tombstones.on.delete="][..], "tombstones.on.delete"),
        (&["--set", "decimal.handling.mode="][..], "decimal.handling.mode"),
        (&["--set", "heartbeat.interval.ms="][..], "heartbeat.interval.ms"),
        (&["--set", "unavailable.value.placeholder="][..], "unavailable.value.placeholder"),
    ] {
        let e = expect_exit(stream_nowhere(args), 2);
        assert!(e.contains(key) && e.contains("empty is not a default"), "{args:?}: {e}");
    }
    let e = expect_exit(stream_nowhere(&["--set", "skipped.operations="]), 2);
    assert!(e.contains("skipped.operations") && e.contains("none"), "{e}");
    // ... in the environment too (TIDEMARK_SOURCE= does not fall back to database.hostname).
    let mut c = tidemark(&["stream", "--set", "database.hostname=db"]);
    c.env("TIDEMARK_SOURCE", "");
    let e = expect_exit(c, 2);
    assert!(e.contains("source = \"\"") && e.contains("empty is not a default"), "{e}");
    // ... and in the file.
    let dir = tempdir();
    let f = write_config(dir.path(), "slot.name = \"\"\n");
    let e = expect_exit(stream_nowhere(&["--config", &f]), 2);
    assert!(e.contains("slot.name"), "{e}");

    // Where empty is documented as "unset" it means exactly that: no excluded column.
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, secret text); CREATE PUBLICATION tidemark FOR TABLE t;",
    )
    .unwrap();
    let out = tempdir();
    let args = ["--set", "column.exclude.list=", "--until-lsn", "current"];
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    pg.psql("postgres", "INSERT INTO t VALUES (1, 'kept')").unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &args));
    let evs = read_events(out.path());
    let t = topic(&evs, "tidemark.public.t");
    assert_eq!(t.len(), 1, "{evs:?}");
    assert_eq!(payload(t[0])["after"]["secret"], "kept");
}

#[test]
fn tables_flag_parses_quoted_names() {
    let pg = Cluster::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE public.\"a,b\" (id int PRIMARY KEY, v text);
         CREATE TABLE public.\"x.y\" (id int PRIMARY KEY);
         CREATE SCHEMA s; CREATE TABLE s.t (id int PRIMARY KEY);
         CREATE TABLE public.a (id int PRIMARY KEY); CREATE TABLE public.b (id int PRIMARY KEY);",
    )
    .unwrap();
    let out = tempdir();
    let tables = "public.\"a,b\",public.\"x.y\",s.t";
    setup_slot(&pg, out.path(), tables, &[]);
    // The publication was created for exactly those three tables (not for "public.a" and "b").
    assert_eq!(
        pg.psql("postgres", "SELECT string_agg(schemaname || '.' || tablename, '|' ORDER BY 1, 2) FROM pg_publication_tables WHERE pubname = 'tidemark'")
            .unwrap(),
        "public.a,b|public.x.y|s.t"
    );
    pg.psql(
        "postgres",
        "INSERT INTO public.\"a,b\" VALUES (1, 'comma'); INSERT INTO public.\"x.y\" VALUES (2); INSERT INTO s.t VALUES (3);",
    )
    .unwrap();
    run_ok(stream_cmd(&pg.dsn("postgres"), out.path(), &["--tables", tables, "--until-lsn", "current"]));
    let evs = read_events(out.path());
    let ab: Vec<_> = evs.iter().filter(|e| payload(e)["source"]["table"] == "a,b").collect();
    assert_eq!(ab.len(), 1, "{evs:?}");
    assert_eq!(payload(ab[0])["after"]["v"], "comma");
    assert_eq!(evs.iter().filter(|e| payload(e)["source"]["table"] == "x.y").count(), 1);
    assert_eq!(evs.iter().filter(|e| payload(e)["source"]["table"] == "t").count(), 1);
}

#[test]
fn help_lists_every_sink() {
    let out = tidemark(&["stream", "--help"]).output().unwrap();
    assert!(out.status.success());
    // clap wraps long help at the terminal width: compare with whitespace runs collapsed.
    let h = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    for sink in ["stdout", "file:<dir>", "kafka://", "eventhubs"] {
        assert!(h.contains(sink), "--help must mention {sink}:\n{h}");
    }
    // What --tables does, and what stream does not do.
    assert!(
        h.contains("created for exactly these tables") && h.contains("only these tables are emitted"),
        "{h}"
    );
    assert!(h.contains("initial snapshot") && h.contains("snapshot.mode"), "{h}");
    assert!(h.contains("2 configuration error"), "{h}");
    // Every property in the table is in the help.
    for p in ["tombstones.on.delete", "file.rotate.bytes", "kafka.topic", "eventhubs.connection.string"] {
        assert!(h.contains(p), "{p}");
    }
    let out = tidemark(&["diff", "--help"]).output().unwrap();
    let h = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    for sink in ["stdout", "file:<dir>", "kafka://", "eventhubs"] {
        assert!(h.contains(sink), "diff --help must mention {sink}:\n{h}");
    }
}

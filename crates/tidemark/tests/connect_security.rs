//! Connection security and connection-level messages through the binary: verified TLS end to end,
//! the password file, and the messages for a server without TLS, a malformed DSN and a missing
//! database.

mod common;
use common::*;
use tidemark_testkit::HostAuth;

#[test]
fn verify_full_streams_events_and_wrong_ca_is_refused() {
    let pg = Cluster::builder().ssl(true).start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
    let ca = pg.ca().unwrap();
    let dsn = format!(
        "host=localhost hostaddr=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        pg.port(),
        ca.ca_cert().display()
    );
    let out = tempdir();
    run_ok(stream_cmd(&dsn, out.path(), &["--tables", "t", "--until-lsn", "current"]));
    pg.psql("postgres", "INSERT INTO t VALUES (1, 'verified')").unwrap();
    run_ok(stream_cmd(&dsn, out.path(), &["--tables", "t", "--until-lsn", "current"]));
    let evs = read_events(out.path());
    assert_eq!(payload(topic(&evs, "tidemark.public.t")[0])["after"]["v"], "verified");
    let wrong = dsn.replace(&ca.ca_cert().display().to_string(), &ca.other_ca_cert().display().to_string());
    let e = run_err(stream_cmd(&wrong, tempdir().path(), &["--tables", "t", "--until-lsn", "current"]));
    assert!(e.contains("not signed by a CA in sslrootcert="), "{e}");
    assert!(!e.contains("cannot reach"), "{e}");
}

#[test]
fn require_against_non_tls_server_says_so_on_the_command_line() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let dsn = format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=require", pg.port());
    let e = run_err(stream_cmd(&dsn, tempdir().path(), &["--tables", "t"]));
    assert!(e.contains("does not support TLS"), "{e}");
    assert!(e.contains("sslmode=require requires it"), "{e}");
    assert!(e.contains("Fix: enable TLS on the server"), "{e}");
    assert!(!e.contains("cannot reach"), "{e}");
}

#[test]
fn malformed_dsn_names_the_part_on_the_command_line() {
    for (dsn, part) in [
        ("postgres://cdc:s3cret@127.0.0.1:99999/app", "port \"99999\""),
        ("postgres://cdc:s3cret@127.0.0.1/app?sslmode=requird", "sslmode \"requird\""),
        ("host=127.0.0.1 user=cdc password=s3cret sslmod=require", "key \"sslmod\""),
        ("postgres://cdc:s3cret@127.0.0.1/a%zzpp", "database name"),
        ("postgres://cdc:s3cret@:5432/app", "host"),
    ] {
        let out = stream_cmd(dsn, tempdir().path(), &["--tables", "t"]).output().unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{dsn}: a malformed DSN is a configuration error: {e}");
        assert!(e.contains(part), "{dsn}: {e}");
        assert!(e.contains("****"), "{dsn}: the DSN should be shown with its password masked: {e}");
        assert!(!e.contains("s3cret"), "{dsn}: password leaked: {e}");
        assert_eq!(e.matches("invalid connection string").count(), 1, "{e}");
    }
}

#[test]
fn missing_database_names_it() {
    let pg = Cluster::start().unwrap();
    let dsn = format!("postgres://postgres@127.0.0.1:{}/no_such_db?sslmode=disable", pg.port());
    let e = run_err(stream_cmd(&dsn, tempdir().path(), &["--tables", "t"]));
    assert!(e.contains("database \"no_such_db\" does not exist"), "{e}");
    assert!(e.contains("CREATE DATABASE \"no_such_db\""), "{e}");
    assert!(e.contains("psql -l"), "{e}");
}

#[test]
fn pgpass_supplies_password() {
    let pg = Cluster::builder().auth(HostAuth::Scram).start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY);
         CREATE ROLE cdc LOGIN REPLICATION PASSWORD 'p:w\\x';
         ALTER TABLE t OWNER TO cdc; GRANT CREATE ON DATABASE postgres TO cdc;",
    )
    .unwrap();
    let dir = tempdir();
    let pass = dir.path().join("pgpass");
    // A comment, a line for another server, then a wildcard line whose password needs escapes.
    std::fs::write(
        &pass,
        format!("# tidemark test\nelsewhere:5432:*:cdc:wrong\n127.0.0.1:{}:*:cdc:p\\:w\\\\x\n", pg.port()),
    )
    .unwrap();
    let chmod = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(0o600);
    let dsn = format!("postgres://cdc@127.0.0.1:{}/postgres?sslmode=disable", pg.port());
    let out = tempdir();
    let run = |extra: &[&str]| {
        let mut args = vec!["--tables", "t", "--until-lsn", "current"];
        args.extend_from_slice(extra);
        let mut c = stream_cmd(&dsn, out.path(), &args);
        c.env("PGPASSFILE", &pass).env_remove("PGPASSWORD");
        c
    };
    run_ok(run(&[]));
    // The passfile DSN key works as well as PGPASSFILE.
    let keyed = format!("{dsn}&passfile={}", pass.display());
    let mut c = stream_cmd(&keyed, out.path(), &["--tables", "t", "--until-lsn", "current"]);
    c.env_remove("PGPASSFILE").env_remove("PGPASSWORD");
    run_ok(c);
    // Readable by others: ignored with a warning, as libpq does; the password is then missing.
    chmod(0o644);
    let e = run_err(run(&[]));
    assert!(e.contains("group or world access"), "{e}");
    assert!(e.contains("chmod 0600"), "{e}");
    assert!(e.contains("password file"), "{e}");
    assert!(!e.contains("p:w"), "{e}");
    // No matching line: the same clear message.
    chmod(0o600);
    std::fs::write(&pass, "elsewhere:*:*:*:nope\n").unwrap();
    let e = run_err(run(&[]));
    assert!(e.contains("asks user \"cdc\" for a password"), "{e}");
}

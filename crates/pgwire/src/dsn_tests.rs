//! Table-driven tests of connection-string parsing: every malformed part is named, with the text
//! shown password-masked; the environment fills what the text leaves out.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(s: &str) -> Result<Dsn, DsnError> {
    Dsn::parse_with_env(s, &no_env)
}

#[test]
fn parses_url_and_keyvalue() {
    let d = parse("postgres://cdc:s3cret@db.example:6543/app?sslmode=require").unwrap();
    assert_eq!(
        (d.host.as_str(), d.port, d.user.as_str(), d.dbname.as_str()),
        ("db.example", 6543, "cdc", "app")
    );
    assert_eq!(d.password.as_deref(), Some("s3cret"));
    assert_eq!(d.ssl_mode, SslMode::Require);
    assert!(!format!("{d:?}").contains("s3cret"));
    assert!(!d.redacted().contains("s3cret"));
    let d = parse("host=/tmp port=5433 user=u dbname=x sslmode=disable").unwrap();
    assert_eq!(d.host, "/tmp");
    assert_eq!(d.ssl_mode, SslMode::Disable);
    assert!(parse("postgres://[::1").is_err());
    let d =
        parse("host=db.example hostaddr=10.1.2.3 user=u application_name='my app' options='-c x=1'").unwrap();
    assert_eq!(d.hostaddr.as_deref(), Some("10.1.2.3"));
    assert_eq!(d.application_name, "my app");
    assert_eq!(d.options.as_deref(), Some("-c x=1"));
    assert_eq!(d.ssl_mode, SslMode::Prefer);
    assert_eq!(parse("user=u fallback_application_name=fb").unwrap().application_name, "fb");
    assert_eq!(parse("user=u").unwrap().application_name, "tidemark");
}

#[test]
fn malformed_dsn_names_the_part() {
    // (dsn, the part the message must name, what it must say)
    let cases: &[(&str, &str, &str)] = &[
        ("postgres://cdc:s3cret@db:99999/app", "port \"99999\"", "not a port number"),
        ("postgres://cdc:s3cret@db:abc/app", "port \"abc\"", "not a port number"),
        ("host=db port=0 password=s3cret", "port \"0\"", "not a port number"),
        ("postgres://cdc:s3cret@db/app?sslmode=requir", "sslmode \"requir\"", "verify-full"),
        ("host=db sslmode=on password=s3cret", "sslmode \"on\"", "disable, allow, prefer"),
        ("host=db sslmod=require password=s3cret", "key \"sslmod\"", "did you mean sslmode"),
        ("postgres://cdc:s3cret@db/app?colour=blue", "key \"colour\"", "not a connection setting"),
        ("postgres://cdc:s3cret@db/ap%zzp", "database name", "percent-encoding \"%zz\""),
        ("postgres://cdc:s3%cret@db/app", "password", "percent-encoding"),
        ("postgres://cdc:s3cret@:5432/app", "host", "missing"),
        ("host='' dbname=app password=s3cret", "host \"\"", "empty"),
        ("host= dbname=app password=s3cret", "host \"dbname=app\"", "swallowed the next setting"),
        ("postgres://cdc:s3/cret@db/app", "password", "percent-encode"),
        ("host=db dbname password=s3cret", "\"dbname\"", "no \"=\""),
        ("host=db password='s3cret", "value of \"password\"", "no closing quote"),
        ("mysql://cdc:s3cret@db/app", "scheme \"mysql\"", "postgres://"),
        ("host=a,b password=s3cret", "host \"a,b\"", "more than one server"),
        ("postgres://cdc:s3cret@a:1,b:2/app", "host list", "more than one server"),
        ("host=db connect_timeout=soon password=s3cret", "connect_timeout \"soon\"", "seconds"),
        ("host=db hostaddr=db.example password=s3cret", "hostaddr", "numeric IP"),
        (
            "host=db sslmode=verify-ca sslrootcert=/nonexistent/ca.crt password=s3cret",
            "sslrootcert",
            "cannot be read",
        ),
        (
            "host=db sslmode=require sslrootcert=system password=s3cret",
            "sslmode \"require\"",
            "sslrootcert=system",
        ),
        ("host=db gssencmode=require password=s3cret", "gssencmode \"require\"", "does not do"),
    ];
    for (dsn, part, says) in cases {
        let e = parse(dsn).expect_err(dsn);
        let msg = e.to_string();
        assert!(e.part.contains(part), "{dsn}: part {:?} should name {part:?}: {msg}", e.part);
        assert!(msg.contains(says), "{dsn}: {msg:?} should say {says:?}");
        assert!(msg.contains("Fix:"), "{dsn}: {msg}");
        assert!(!msg.contains("s3cret") && !msg.contains("s3%cret"), "{dsn}: password leaked: {msg}");
        assert!(msg.contains("****") || !dsn.contains("s3"), "{dsn}: DSN not shown masked: {msg}");
    }
}

#[test]
fn environment_fills_what_the_text_leaves_out() {
    let env = |k: &str| {
        Some(
            match k {
                "PGHOST" => "envhost",
                "PGPORT" => "6000",
                "PGUSER" => "envuser",
                "PGDATABASE" => "envdb",
                "PGPASSWORD" => "envpw",
                "PGSSLMODE" => "disable",
                "PGAPPNAME" => "envapp",
                _ => return None,
            }
            .to_string(),
        )
    };
    let d = Dsn::parse_with_env("", &env).unwrap();
    assert_eq!(
        (d.host.as_str(), d.port, d.user.as_str(), d.dbname.as_str()),
        ("envhost", 6000, "envuser", "envdb")
    );
    assert_eq!(d.password.as_deref(), Some("envpw"));
    assert_eq!(d.ssl_mode, SslMode::Disable);
    assert_eq!(d.application_name, "envapp");
    // The text wins over the environment.
    let d = Dsn::parse_with_env("postgres://u@h:1/db?sslmode=require", &env).unwrap();
    assert_eq!((d.host.as_str(), d.port, d.user.as_str(), d.dbname.as_str()), ("h", 1, "u", "db"));
    assert_eq!(d.ssl_mode, SslMode::Require);
    // A bad environment value is named as such.
    let bad = |k: &str| (k == "PGPORT").then(|| "x".to_string());
    let e = Dsn::parse_with_env("host=h", &bad).unwrap_err();
    assert!(e.part.contains("PGPORT"), "{e}");
    let bad = |k: &str| (k == "PGSSLROOTCERT").then(|| "/nonexistent.crt".to_string());
    let e = Dsn::parse_with_env("host=h sslmode=verify-full", &bad).unwrap_err();
    assert!(e.part.contains("PGSSLROOTCERT") || e.part.contains("/nonexistent.crt"), "{e}");
}

#[test]
fn verifying_modes_need_a_root_certificate() {
    let home = tempfile_dir();
    let env = |k: &str| (k == "HOME").then(|| home.clone());
    for mode in ["verify-ca", "verify-full"] {
        let e = Dsn::parse_with_env(&format!("host=h sslmode={mode}"), &env).unwrap_err();
        assert!(e.to_string().contains("sslrootcert"), "{e}");
    }
    let d = Dsn::parse_with_env("host=h sslmode=require", &env).unwrap();
    assert_eq!(d.tls.unwrap().verify, crate::tls::Verify::Nothing);
    assert_eq!(
        Dsn::parse_with_env("host=h sslrootcert=system", &env).map(|d| d.ssl_mode).ok(),
        Some(SslMode::VerifyFull)
    );
}

fn tempfile_dir() -> String {
    let p = std::env::temp_dir().join(format!("tidemark-dsn-test-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    p.display().to_string()
}

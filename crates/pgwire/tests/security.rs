//! TLS, client certificates, the password file and application_name against real PostgreSQL servers
//! whose certificates come from a CA the test creates. Every case runs over both connection kinds
//! — the replication connection and the tokio-postgres SQL client — which must agree.

use tidemark_pgwire::{sql, Connection, Dsn, PgError};
use tidemark_testkit::{Cluster, HostAuth};

/// Connect with both kinds; `Ok` carries `(ssl in use on the replication connection, on the SQL one)`.
async fn both(dsn: &Dsn) -> (Result<bool, PgError>, Result<bool, PgError>) {
    let repl = match Connection::connect(dsn, true).await {
        Ok(mut c) => {
            let r = c.simple_query("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await;
            c.terminate().await;
            r.map(|q| q.rows.first().and_then(|r| r[0].clone()).as_deref() == Some("true"))
        }
        Err(e) => Err(e),
    };
    let sql = match sql::connect(dsn).await {
        Ok(c) => c
            .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .await
            .map(|r| r.get::<_, bool>(0))
            .map_err(|e| sql::map_err(dsn, e)),
        Err(e) => Err(e),
    };
    (repl, sql)
}

fn tls_cluster() -> Cluster {
    let pg = Cluster::builder().ssl(true).start().unwrap();
    pg.psql("postgres", "CREATE ROLE cdc LOGIN REPLICATION").unwrap();
    pg
}

fn path(p: std::path::PathBuf) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn verify_full_with_test_ca_connects() {
    let pg = tls_cluster();
    let ca = path(pg.ca().unwrap().ca_cert());
    // By the name in the certificate, resolving it; and with hostaddr picking the address.
    for dsn in [
        format!(
            "host=localhost port={} user=cdc dbname=postgres sslmode=verify-full sslrootcert={ca}",
            pg.port()
        ),
        format!(
            "postgres://cdc@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}",
            pg.port()
        ),
    ] {
        let d = Dsn::parse(&dsn).unwrap();
        let (r, s) = both(&d).await;
        assert!(r.expect("replication connection"), "replication connection not encrypted");
        assert!(s.expect("SQL connection"), "SQL connection not encrypted");
    }
    // verify-ca with the right CA connects by IP: the name is not checked.
    let d = Dsn::parse(&format!(
        "host=127.0.0.1 port={} user=cdc dbname=postgres sslmode=verify-ca sslrootcert={ca}",
        pg.port()
    ))
    .unwrap();
    let (r, s) = both(&d).await;
    assert!(r.unwrap() && s.unwrap());
}

#[tokio::test]
async fn verify_ca_with_wrong_ca_fails_clearly() {
    let pg = tls_cluster();
    let wrong = path(pg.ca().unwrap().other_ca_cert());
    for mode in ["verify-ca", "verify-full", "require"] {
        // require with a root certificate behaves like verify-ca, as in libpq.
        let d = Dsn::parse(&format!(
            "host=localhost port={} user=cdc dbname=postgres sslmode={mode} sslrootcert={wrong}",
            pg.port()
        ))
        .unwrap();
        let (r, s) = both(&d).await;
        for e in [r.unwrap_err(), s.unwrap_err()] {
            assert!(matches!(e, PgError::TlsVerify { .. }), "{mode}: {e:?}");
            let m = e.to_string();
            assert!(m.contains("not signed by a CA in sslrootcert="), "{mode}: {m}");
            assert!(m.contains(&wrong), "{mode}: {m}");
            assert!(m.contains("Fix:"), "{m}");
        }
    }
}

#[tokio::test]
async fn verify_full_with_wrong_host_fails_clearly() {
    let pg = tls_cluster();
    let ca = path(pg.ca().unwrap().ca_cert());
    // The certificate names only localhost.
    for dsn in [
        format!("host=127.0.0.1 port={} user=cdc dbname=postgres sslmode=verify-full sslrootcert={ca}", pg.port()),
        format!(
            "host=db.example hostaddr=127.0.0.1 port={} user=cdc dbname=postgres sslmode=verify-full sslrootcert={ca}",
            pg.port()
        ),
    ] {
        let d = Dsn::parse(&dsn).unwrap();
        let (r, s) = both(&d).await;
        for e in [r.unwrap_err(), s.unwrap_err()] {
            assert!(matches!(e, PgError::TlsVerify { .. }), "{dsn}: {e:?}");
            let m = e.to_string();
            assert!(m.contains(&format!("does not name host {:?}", d.host)), "{m}");
            assert!(m.contains("verify-ca"), "the fix should offer verify-ca: {m}");
        }
    }
}

#[tokio::test]
async fn require_does_not_verify() {
    let pg = tls_cluster();
    // No root certificate (and none in ~/.postgresql): encrypted, not verified, so a host name the
    // certificate does not carry and a CA nobody gave still connect.
    for mode in ["require", "prefer", "allow"] {
        let d =
            Dsn::parse(&format!("host=127.0.0.1 port={} user=cdc dbname=postgres sslmode={mode}", pg.port()))
                .unwrap();
        assert_eq!(d.tls.as_ref().unwrap().verify, tidemark_pgwire::tls::Verify::Nothing);
        let (r, s) = both(&d).await;
        assert!(r.unwrap_or_else(|e| panic!("{mode}: {e}")), "{mode}: replication connection not encrypted");
        assert!(s.unwrap_or_else(|e| panic!("{mode}: {e}")), "{mode}: SQL connection not encrypted");
    }
    // disable: the server rejects plain text (hostnossl ... reject) on both kinds.
    let d =
        Dsn::parse(&format!("host=127.0.0.1 port={} user=cdc dbname=postgres sslmode=disable", pg.port()))
            .unwrap();
    let (r, s) = both(&d).await;
    for e in [r.unwrap_err(), s.unwrap_err()] {
        assert_eq!(e.code(), Some("28000"), "{e}");
    }
}

#[tokio::test]
async fn require_against_non_tls_server_says_so() {
    let pg = Cluster::start().unwrap();
    // A CA for the verifying modes (the server has no certificate at all).
    let dir = std::env::temp_dir().join(format!("tidemark-ca-{}", std::process::id()));
    let ca = tidemark_testkit::TestCa::create(&dir).unwrap();
    let ca = path(ca.ca_cert());
    for mode in ["require", "verify-ca", "verify-full"] {
        let root = if mode == "require" { String::new() } else { format!(" sslrootcert={ca}") };
        let d = Dsn::parse(&format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode={mode}{root}",
            pg.port()
        ))
        .unwrap();
        let (r, s) = both(&d).await;
        for e in [r.unwrap_err(), s.unwrap_err()] {
            assert!(matches!(e, PgError::TlsUnsupported { .. }), "{mode}: {e:?}");
            let m = e.to_string();
            assert!(m.contains("does not support TLS"), "{m}");
            assert!(m.contains(&format!("sslmode={mode} requires it")), "{m}");
            assert!(m.contains("Fix: enable TLS on the server (ssl=on"), "{m}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // prefer and allow fall back to plain text.
    for mode in ["prefer", "allow"] {
        let d = Dsn::parse(&format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode={mode}",
            pg.port()
        ))
        .unwrap();
        let (r, s) = both(&d).await;
        assert!(!r.unwrap() && !s.unwrap(), "{mode}");
    }
}

#[tokio::test]
async fn client_certificate_auth() {
    let pg = Cluster::builder()
        .ssl(true)
        .auth(HostAuth::Scram)
        .hba_line("hostssl all cdc 127.0.0.1/32 cert")
        .hba_line("hostssl replication cdc 127.0.0.1/32 cert")
        .start()
        .unwrap();
    pg.psql("postgres", "CREATE ROLE cdc LOGIN REPLICATION").unwrap();
    let ca = pg.ca().unwrap();
    let (crt, key) = ca.client_cert("cdc").unwrap();
    let base = format!(
        "host=localhost port={} user=cdc dbname=postgres sslmode=verify-full sslrootcert={}",
        pg.port(),
        path(ca.ca_cert())
    );
    // With the certificate: no password needed.
    let d =
        Dsn::parse(&format!("{base} sslcert={} sslkey={}", path(crt.clone()), path(key.clone()))).unwrap();
    let (r, s) = both(&d).await;
    assert!(r.expect("replication connection with client cert"));
    assert!(s.expect("SQL connection with client cert"));
    // Without it, the server refuses (cert auth needs one), on both kinds.
    let d = Dsn::parse(&base).unwrap();
    let (r, s) = both(&d).await;
    for e in [r.unwrap_err(), s.unwrap_err()] {
        assert!(e.to_string().contains("certificate"), "{e}");
    }
    // A certificate for another role is refused too.
    let (other_crt, other_key) = ca.client_cert("someone").unwrap();
    let d = Dsn::parse(&format!("{base} sslcert={} sslkey={}", path(other_crt), path(other_key))).unwrap();
    let (r, s) = both(&d).await;
    assert!(r.is_err() && s.is_err());
    // A key that does not exist is a configuration error naming it.
    let e = Dsn::parse(&format!("{base} sslcert={} sslkey=/nonexistent/k.pem", path(crt))).unwrap_err();
    assert!(e.to_string().contains("sslkey \"/nonexistent/k.pem\""), "{e}");
}

#[tokio::test]
async fn application_name_is_set() {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE PUBLICATION p FOR ALL TABLES").unwrap();
    let d = Dsn::parse(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable&application_name=orders-cdc",
        pg.port()
    ))
    .unwrap();
    let client = sql::connect(&d).await.unwrap();
    let name: String = client.query_one("SHOW application_name", &[]).await.unwrap().get(0);
    assert_eq!(name, "orders-cdc");
    let mut rs = tidemark_pgwire::ReplicationStream::connect(&d).await.unwrap();
    rs.create_slot("app_name_slot", false, false).await.unwrap();
    rs.start(&tidemark_pgwire::StartOptions {
        slot: "app_name_slot".into(),
        publications: vec!["p".into()],
        proto_version: 1,
        streaming: false,
        messages: false,
        start_lsn: tidemark_pgwire::Lsn::ZERO,
    })
    .await
    .unwrap();
    let ok = pg.wait_for(std::time::Duration::from_secs(20), || {
        pg.psql("postgres", "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'orders-cdc'")
            .map(|n| n == "1")
            .unwrap_or(false)
    });
    assert!(ok, "pg_stat_replication does not show application_name orders-cdc");
    // Without one, tidemark names itself.
    let d = Dsn::parse(&pg.dsn("postgres")).unwrap();
    let client = sql::connect(&d).await.unwrap();
    let name: String = client.query_one("SHOW application_name", &[]).await.unwrap().get(0);
    assert_eq!(name, "tidemark");
}

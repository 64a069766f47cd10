//! Retry-or-not comes from the error's type: a closed connection is transient, a client-side failure
//! that would recur (a value the client cannot convert) is definite — never retried forever.

use tidemark_pgwire::{sql, Dsn, PgError};
use tidemark_testkit::Cluster;

#[tokio::test]
async fn client_conversion_errors_are_definite_and_lost_connections_transient() {
    let pg = Cluster::start().unwrap();
    let dsn = Dsn::parse(&pg.dsn("postgres")).unwrap();
    let client = sql::connect(&dsn).await.unwrap();
    let row = client.query_one("SELECT 'not a number'::text", &[]).await.unwrap();
    let e = row.try_get::<_, i32>(0).unwrap_err();
    let mapped = sql::map_err(&dsn, e);
    assert!(matches!(mapped, PgError::Client(_)), "{mapped:?}");
    assert!(!mapped.is_transient(), "a conversion error would recur: it must not be retried");

    let victim = sql::connect(&dsn).await.unwrap();
    let pid: i32 = victim.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    client.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
    let e = loop {
        match victim.simple_query("SELECT 1").await {
            Err(e) => break e,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    let mapped = sql::map_err(&dsn, e);
    assert!(mapped.is_transient(), "a terminated connection is worth a retry: {mapped:?}");
}

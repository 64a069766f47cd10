//! `tidemark demo`: a throwaway PostgreSQL, the DBSync seed's Users/Restaurant/Visit schema, a mixed
//! workload (inserts, updates, deletes, a primary-key change, an unchanged TOAST column), streamed to
//! `./tidemark-demo/` as Debezium events, then a summary read back from the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tidemark_pgwire::replication::{fmt_lsn, parse_lsn};
use tidemark_pgwire::Dsn;
use tidemark_sources::stream::{Metrics, StreamOptions};
use tidemark_testkit::Cluster;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where the events are written (JSON lines, one file per topic).
    #[arg(long, default_value = "./tidemark-demo")]
    pub dir: PathBuf,
    /// Number of users to create (restaurants and visits scale with it).
    #[arg(long, default_value_t = 500)]
    pub users: u32,
}

const SCHEMA: &str = "
CREATE TABLE Users (
    id SERIAL PRIMARY KEY,
    first_name VARCHAR(255) NOT NULL,
    user_name VARCHAR(255) NOT NULL,
    email VARCHAR(255) NOT NULL UNIQUE,
    avatar VARCHAR(255),
    homepage VARCHAR(255),
    date_of_birth DATE,
    address TEXT,
    interests TEXT[]
);
CREATE TABLE Restaurant (
    id VARCHAR(255) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    address TEXT,
    rating INT,
    tags TEXT[]
);
CREATE TABLE Visit (
    user_id INT REFERENCES Users(id),
    restaurant_id VARCHAR(255) REFERENCES Restaurant(id),
    amount_spent DECIMAL(10, 2) NOT NULL,
    visit_rating INT,
    PRIMARY KEY (user_id, restaurant_id)
);";

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    let marker = dir.join(".tidemark-demo");
    if dir.exists() {
        let entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
        if !entries.is_empty() && !marker.exists() {
            bail!("{} exists and was not written by `tidemark demo`; refusing to overwrite it. Pass --dir <empty or new directory>", dir.display());
        }
        for e in entries {
            if e.path().extension().is_some_and(|x| x == "jsonl") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&marker, "written by tidemark demo; safe to delete\n")?;
    Ok(())
}

fn workload(users: u32) -> Vec<String> {
    let restaurants = (users / 10).max(5);
    let mut w = vec![
        format!(
            "INSERT INTO Users (first_name, user_name, email, avatar, date_of_birth, address, interests) \
             SELECT 'User' || g, 'user' || g, 'user' || g || '@example.com', NULL, DATE '1970-01-01' + g * 17, \
             g || ' Main St', ARRAY['food', 'travel' || (g % 5)] FROM generate_series(1, {users}) g"
        ),
        format!(
            "INSERT INTO Restaurant SELECT 'r' || g, 'Restaurant ' || g, 'Cuisine #' || g, g || ' Market St', g % 5 + 1, \
             ARRAY['tag' || (g % 3)] FROM generate_series(1, {restaurants}) g"
        ),
        format!(
            "INSERT INTO Visit SELECT u, 'r' || (u % {restaurants} + 1), (u * 7 % 10000) / 100.0, u % 5 + 1 \
             FROM generate_series(1, {users}) u"
        ),
        // One transaction touching two tables.
        "BEGIN; UPDATE Users SET homepage = 'https://example.com/' || user_name WHERE id % 10 = 0; \
         UPDATE Restaurant SET rating = 5 WHERE id IN ('r1', 'r2'); COMMIT"
            .into(),
        // A large description is TOASTed; a later update of another column leaves it unchanged.
        "UPDATE Restaurant SET description = (SELECT string_agg(md5(g::text), ' ') FROM generate_series(1, 400) g) WHERE id = 'r3'".into(),
        "UPDATE Restaurant SET rating = 1 WHERE id = 'r3'".into(),
        format!("DELETE FROM Visit WHERE user_id % 25 = 0 AND user_id <= {users}"),
        // Primary-key change: delete + tombstone + create in Debezium terms.
        "UPDATE Visit SET restaurant_id = 'r1' WHERE user_id = 1 AND restaurant_id <> 'r1'".into(),
    ];
    w.push("SELECT pg_logical_emit_message(true, 'demo', 'workload finished')".into());
    w
}

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_dir(&a.dir)?;
    println!("Starting a throwaway PostgreSQL ...");
    let pg = tokio::task::spawn_blocking(Cluster::start).await??;
    println!("  PostgreSQL on 127.0.0.1:{} (data in a temporary directory, removed at exit)", pg.port());
    pg.psql("postgres", SCHEMA)?;

    let dsn = Dsn::parse(&pg.dsn("postgres"))?;
    let mut opts = StreamOptions::new(dsn, "tidemark_demo", "tidemark_demo");
    opts.tables = vec!["public.users".into(), "public.restaurant".into(), "public.visit".into()];
    opts.heartbeat_interval = Duration::from_millis(500);
    opts.flush_interval = Duration::from_millis(200);
    opts.encoder.topic_prefix = "demo".into();
    let sink = tidemark_sinks::build(&format!("file:{}", a.dir.display()), &Default::default())?;
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let m = metrics.clone();
    // Create the publication and slot first so the workload below is captured from its first row.
    let catalog = tidemark_sources::stream::prepare(&opts).await?;
    drop(catalog);
    let stream = tokio::spawn(tidemark_sources::stream::run(opts, sink, stop_rx, m));

    println!("Writing a mixed workload ({} users) ...", a.users);
    for sql in workload(a.users) {
        pg.psql("postgres", &sql)?;
    }
    let marker =
        pg.psql("postgres", "SELECT pg_logical_emit_message(false, 'tidemark.heartbeat', '')::text")?;
    let target = parse_lsn(marker.trim()).context("bad LSN from server")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while metrics.confirmed_lsn.load(Ordering::Relaxed) < target {
        if stream.is_finished() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let summary = stream.await??;
    let slot = pg.psql(
        "postgres",
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'tidemark_demo'",
    )?;

    println!();
    println!("Streamed {} row events as Debezium records into {}/", summary.events, a.dir.display());
    print_summary(&a.dir)?;
    println!();
    println!(
        "Slot tidemark_demo confirmed up to {slot} (everything up to {} is durable in the files).",
        fmt_lsn(summary.confirmed_lsn)
    );
    println!(
        "Done in {:.1}s. Try: head -n1 {}/demo.public.restaurant-000001.jsonl | jq .value.payload",
        started.elapsed().as_secs_f64(),
        a.dir.display()
    );
    Ok(())
}

fn print_summary(dir: &Path) -> anyhow::Result<()> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut sample = None;
    for f in &files {
        for line in std::fs::read_to_string(f)?.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("malformed line in {}", f.display()))?;
            let topic = v["topic"].as_str().unwrap_or("?").to_string();
            let payload =
                if v["value"].get("payload").is_some() { &v["value"]["payload"] } else { &v["value"] };
            let op = if v["value"].is_null() {
                "tombstone".to_string()
            } else {
                payload["op"].as_str().unwrap_or("?").to_string()
            };
            if op == "u"
                && sample.is_none()
                && payload["after"]["description"].as_str().is_some_and(|d| d.starts_with("__debezium"))
            {
                sample = Some(payload.clone());
            }
            *counts.entry(topic).or_default().entry(op).or_default() += 1;
        }
    }
    println!(
        "  {:<26} {:>7} {:>7} {:>7} {:>9} {:>5}",
        "topic", "create", "update", "delete", "tombstone", "msg"
    );
    for (t, c) in &counts {
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        println!("  {:<26} {:>7} {:>7} {:>7} {:>9} {:>5}", t, g("c"), g("u"), g("d"), g("tombstone"), g("m"));
    }
    if let Some(s) = sample {
        let after = &s["after"];
        println!();
        println!("  The unchanged TOAST column arrives as Debezium's placeholder (update of restaurant r3):");
        println!("    after = {}", serde_json::to_string(after)?);
    }
    Ok(())
}

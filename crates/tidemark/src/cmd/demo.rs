//! `tidemark demo`: the whole story on a throwaway PostgreSQL.
//!
//! 1. Stream: the DBSync seed's Users/Restaurant/Visit schema and a mixed workload (inserts, updates,
//!    deletes, a primary-key change, an unchanged TOAST column) streamed to `./tidemark-demo/`.
//! 2. Lose the slot: it is dropped (as `max_slot_wal_keep_size` would invalidate it); a copy of the
//!    database is taken at that moment (PITR1) and writes go on that nobody captures.
//! 3. Slot back: a copy is taken (PITR2), a new slot streams what follows.
//! 4. Recover: `diff` PITR1 → PITR2 writes the missed changes into the same folder.
//!
//! The copies are `CREATE DATABASE … TEMPLATE` block copies, which behave like two point-in-time
//! restores of one cluster (unchanged rows keep their ctid and xmin), so the diff takes its fast path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tidemark_model::Lsn;
use tidemark_pgwire::Dsn;
use tidemark_pipeline::metrics as m;
use tidemark_pipeline::Output;
use tidemark_sources::stream::StreamOptions;
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

fn stream_options(pg: &Cluster) -> anyhow::Result<StreamOptions> {
    let mut opts = StreamOptions::new(Dsn::parse(&pg.dsn("shop"))?, "tidemark_demo", "tidemark_demo");
    opts.tables = vec!["public.users".into(), "public.restaurant".into(), "public.visit".into()];
    opts.heartbeat_interval = Duration::from_millis(500);
    opts.flush_interval = Duration::from_millis(200);
    opts.encoder.topic_prefix = "demo".into();
    // The tables are empty when the slot is created (the story starts with the stream).
    opts.snapshot.mode = tidemark_sources::snapshot::SnapshotMode::NoData;
    Ok(opts)
}

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_dir(&a.dir)?;
    let sink_uri = format!("file:{}", a.dir.display());
    println!("Starting a throwaway PostgreSQL ...");
    let pg = tokio::task::spawn_blocking(Cluster::start).await??;
    println!("  PostgreSQL on 127.0.0.1:{} (data in a temporary directory, removed at exit)", pg.port());
    pg.psql("postgres", "CREATE DATABASE shop")?;
    pg.psql("shop", SCHEMA)?;

    // 1. Stream.
    let opts = stream_options(&pg)?;
    let sink = tidemark_sinks::build(&sink_uri, &Default::default())?;
    let t = crate::telemetry::get();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Create the publication and slot first so the workload below is captured from its first row.
    drop(tidemark_sources::stream::prepare(&opts).await?);
    let stream = tokio::spawn(tidemark_sources::stream::run(opts, Output::new(sink), stop_rx));
    println!("1. Streaming a mixed workload ({} users) to {}/ ...", a.users, a.dir.display());
    for sql in workload(a.users) {
        pg.psql("shop", &sql)?;
    }
    let marker = pg.psql("shop", "SELECT pg_logical_emit_message(false, 'tidemark.heartbeat', '')::text")?;
    let target: Lsn = marker.trim().parse().context("bad LSN from server")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Lsn(t.gauge(m::SOURCE_CONFIRMED_LSN) as u64) < target {
        if stream.is_finished() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let summary = stream.await??;
    println!(
        "   {} row events streamed; the slot confirmed up to {} (everything before it is durable in the files)",
        t.counter(m::EVENTS),
        summary.confirmed_lsn
    );

    // 2. The slot is lost; PITR1; writes nobody captures.
    println!("2. The slot is lost (dropped, as max_slot_wal_keep_size would invalidate it); PITR1 is taken; writes go on ...");
    pg.drop_slot("shop", "tidemark_demo")?;
    copy_database(&pg, "shop", "shop_pitr1").await?;
    for sql in [
        "UPDATE Users SET homepage = 'https://gap.example/' || id WHERE id % 7 = 0",
        "DELETE FROM Visit WHERE user_id % 9 = 0",
        "INSERT INTO Restaurant SELECT 'gap' || g, 'Opened during the gap ' || g, NULL, NULL, 3, NULL FROM generate_series(1, 20) g",
    ] {
        pg.psql("shop", sql)?;
    }

    // 3. The slot is back; PITR2; a new slot streams what follows.
    println!("3. The slot is back: PITR2 is taken and a new slot streams what follows ...");
    copy_database(&pg, "shop", "shop_pitr2").await?;
    let mut opts2 = stream_options(&pg)?;
    drop(tidemark_sources::stream::prepare(&opts2).await?);
    pg.psql("shop", "UPDATE Restaurant SET rating = 4 WHERE id = 'gap1'")?;
    let end = pg.psql("shop", "SELECT pg_current_wal_insert_lsn()::text")?;
    opts2.until_lsn = Some(end.trim().parse::<Lsn>().context("bad LSN from server")?);
    let sink2 = tidemark_sinks::build(&sink_uri, &Default::default())?;
    let (_keep, rx2) = tokio::sync::watch::channel(false);
    let before = t.counter(m::EVENTS);
    tidemark_sources::stream::run(opts2, Output::new(sink2), rx2).await?;
    println!("   {} row event(s) streamed after the slot came back", t.counter(m::EVENTS) - before);

    // 4. Recover the gap.
    println!("4. Recovering the gap: tidemark diff PITR1 -> PITR2, into the same folder ...");
    let encoder = tidemark_debezium::EncoderConfig {
        topic_prefix: "demo".into(),
        database: "shop".into(),
        ..Default::default()
    };
    let diff_opts = tidemark_sources::diff::DiffOptions {
        old: Dsn::parse(&pg.dsn("shop_pitr1"))?,
        new: Dsn::parse(&pg.dsn("shop_pitr2"))?,
        publications: vec![],
        tables: vec!["public.users".into(), "public.restaurant".into(), "public.visit".into()],
        exclude: vec![],
        jobs: 2,
        event_time_us: None,
        verify: false,
        encoder: encoder.clone(),
        method: Default::default(),
    };
    let sink3 = tidemark_sinks::build(&sink_uri, &Default::default())?;
    let report = super::diff::send_through_pipeline(diff_opts, sink3).await?;
    for tr in &report.tables {
        println!(
            "   {:<18} {:>4} created {:>4} updated {:>4} deleted   {}",
            tr.table, tr.created, tr.updated, tr.deleted, tr.method
        );
    }

    println!();
    println!("Every change is now in {}/ (diff events carry source.lsn = null):", a.dir.display());
    print_summary(&a.dir)?;
    println!();
    println!(
        "Done in {:.1}s. Try: head -n1 {}/demo.public.restaurant-000001.jsonl | jq .value.payload",
        started.elapsed().as_secs_f64(),
        a.dir.display()
    );
    Ok(())
}

/// `CREATE DATABASE copy TEMPLATE source`, retried while the stream's connections wind down.
async fn copy_database(pg: &Cluster, source: &str, copy: &str) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..50 {
        match pg.psql("postgres", &format!("CREATE DATABASE {copy} TEMPLATE {source}")) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!("could not copy {source}: {}", last.map(|e| e.to_string()).unwrap_or_default()))
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
            if !v["value"].is_null() && payload["source"]["lsn"].is_null() && op != "m" {
                *counts.entry(topic.clone()).or_default().entry("diff".into()).or_default() += 1;
            }
            *counts.entry(topic).or_default().entry(op).or_default() += 1;
        }
    }
    println!(
        "  {:<26} {:>7} {:>7} {:>7} {:>9} {:>5} {:>10}",
        "topic", "create", "update", "delete", "tombstone", "msg", "from diff"
    );
    for (t, c) in &counts {
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        println!(
            "  {:<26} {:>7} {:>7} {:>7} {:>9} {:>5} {:>10}",
            t,
            g("c"),
            g("u"),
            g("d"),
            g("tombstone"),
            g("m"),
            g("diff")
        );
    }
    if let Some(s) = sample {
        let after = &s["after"];
        println!();
        println!("  The unchanged TOAST column arrives as Debezium's placeholder (update of restaurant r3):");
        println!("    after = {}", serde_json::to_string(after)?);
    }
    Ok(())
}

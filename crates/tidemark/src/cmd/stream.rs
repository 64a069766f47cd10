//! `tidemark stream`: the layered configuration turned into [`StreamOptions`] and a sink, then
//! `tidemark_sources::stream::run`, which feeds the pipeline and confirms the slot as far as the sink
//! reports durable. Also the `--help` property list and the progress lines, read from the metrics
//! (`tidemark_pipeline::metrics` names).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tidemark_model::Lsn;
use tidemark_pgwire::Dsn;
use tidemark_pipeline::metrics as m;
use tidemark_sources::filter::FilterError;
use tidemark_sources::snapshot::SnapshotMode;
use tidemark_sources::stream::{OffsetStorage, StreamOptions};

use crate::config::{Config, ConfigError, Origin, PROPERTIES};

/// Properties `stream` reads, for --help.
fn properties_help() -> String {
    let mut s =
        String::from("Properties (set with --set key=value, TIDEMARK_KEY_NAME, or the config file):\n");
    for (k, d, h) in PROPERTIES {
        if *k == "connector.class" || *k == "name" {
            continue;
        }
        let d = if d.is_empty() { String::new() } else { format!(" [default: {d}]") };
        s.push_str(&format!("  {k}{d}\n      {h}\n"));
    }
    s
}

/// What `stream` does and does not do, shown before the property list.
pub const STREAM_ABOUT: &str = "\
Streams changes from a logical replication slot (pgoutput) to a sink as Debezium events, at-least-once.

When it creates the slot, stream first takes an initial snapshot (snapshot.mode=initial, as Debezium):
every row of every captured table as an `r` event, read in the snapshot the slot exported (so the
stream that follows starts exactly where the rows end: nothing lost, nothing twice), by
snapshot.max.threads workers over heap block ranges. snapshot.mode=initial_only stops after it;
no_data (never) skips it. A run killed during the snapshot takes it again in full at the next start.
An existing slot gets no snapshot (none consistent with it can be exported).

The publication and the slot are created when absent (the publication only when --tables is given).
Exit status: 0 stopped cleanly (--until-lsn reached, SIGINT/SIGTERM), 1 failed, 2 configuration error.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = properties_help())]
pub struct StreamArgs {
    /// Source database DSN: postgres://user:password@host:5432/db?sslmode=prefer (or TIDEMARK_SOURCE).
    #[arg(long)]
    pub source: Option<String>,
    /// Publication to decode for; created FOR TABLE <--tables> when absent [default: tidemark].
    #[arg(long)]
    pub publication: Option<String>,
    /// Tables to capture: schema.table,schema.table (a bare name is in public). Quote names holding
    /// commas, dots or capitals as PostgreSQL does: public."a,b",s."x.y" ("" for a quote). When the
    /// publication is absent it is created for exactly these tables; when it exists, each must be in
    /// it, and only these tables are emitted even if it publishes more. Default: every table the
    /// publication publishes.
    #[arg(long, value_name = "TABLES")]
    pub tables: Option<String>,
    /// Replication slot (created when absent) [default: tidemark].
    #[arg(long)]
    pub slot: Option<String>,
    /// Where events go [default: stdout]: stdout (JSON lines) | file:<dir> (JSON lines, one file per
    /// topic, rotated at file.rotate.bytes) | kafka://host:9092[,host:9092] (one topic per table) |
    /// eventhubs (Azure Event Hubs; connection string in eventhubs.connection.string).
    #[arg(long, value_name = "SINK")]
    pub sink: Option<String>,
    /// TOML configuration file (see tidemark.example.toml).
    #[arg(long, env = "TIDEMARK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Any property as key=value; repeatable. Overrides file and environment.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Stop once everything up to this LSN is durable; `current` = the source's WAL position at start.
    #[arg(long, value_name = "LSN|current")]
    pub until_lsn: Option<String>,
}

/// Build the merged configuration for a command.
pub fn load_config(
    file: Option<&PathBuf>,
    set: &[String],
    flags: &[(&str, Option<&String>)],
) -> Result<Config, ConfigError> {
    let mut c = Config::defaults();
    if let Some(f) = file {
        c.load_file(f)?;
    }
    c.load_env(std::env::vars());
    for kv in set {
        let (k, v) = kv.split_once('=').ok_or_else(|| ConfigError::Value {
            key: "--set".into(),
            value: kv.clone(),
            expected: "key=value".into(),
        })?;
        c.set_flag(k.trim(), v.trim());
    }
    for (k, v) in flags {
        if let Some(v) = v {
            c.set_flag(k, v.as_str());
        }
    }
    c.validate()?;
    Ok(c)
}

/// Turn the configuration into stream options.
pub fn options(c: &Config) -> anyhow::Result<StreamOptions> {
    let dsn_text = c.source_dsn()?;
    let dsn = Dsn::parse(&dsn_text).map_err(|e| ConfigError::Value {
        key: "source".into(),
        value: "(hidden)".into(),
        expected: e.to_string(),
    })?;
    if c.get("plugin.name").is_some_and(|p| p != "pgoutput") {
        return Err(ConfigError::Value {
            key: "plugin.name".into(),
            value: c.get("plugin.name").unwrap_or_default().into(),
            expected: "pgoutput (the only plugin tidemark decodes; it ships with PostgreSQL 10+)".into(),
        }
        .into());
    }
    let mut o = StreamOptions::new(
        dsn,
        c.get("publication.name").unwrap_or("tidemark"),
        c.get("slot.name").unwrap_or("tidemark"),
    );
    // Entries split on commas outside double quotes (`public."a,b"`); the filter reads each entry as an
    // exact name or an anchored pattern.
    o.tables = c.table_entries("table.include.list")?;
    o.exclude_tables = c.table_entries("table.exclude.list")?;
    // Check the filter here so a bad pattern is a configuration error (exit 2).
    if let Err(e) = tidemark_sources::filter::TableFilter::new(&o.tables, &o.exclude_tables) {
        let (key, value) = match &e {
            FilterError::BadPattern { property, pattern, .. } => (*property, pattern.clone()),
            FilterError::IncludeAndExclude => {
                ("table.exclude.list", c.get("table.exclude.list").unwrap_or_default().to_string())
            }
        };
        return Err(ConfigError::Value { key: key.into(), value, expected: e.to_string() }.into());
    }
    let proto = c.u64("pgoutput.proto.version")? as u32;
    if !(1..=2).contains(&proto) {
        return Err(ConfigError::Value {
            key: "pgoutput.proto.version".into(),
            value: proto.to_string(),
            expected: "1 or 2".into(),
        }
        .into());
    }
    o.proto_version = proto;
    o.streaming = c.bool("pgoutput.streaming")?;
    o.emit_messages = c.bool("emit.messages")?;
    o.heartbeat_interval = c.millis("heartbeat.interval.ms")?;
    o.status_interval = c.millis("status.update.interval.ms")?.max(Duration::from_millis(100));
    o.flush_interval = c.millis("offset.flush.interval.ms")?.max(Duration::from_millis(1));
    if let Some(d) = c.get("spill.dir") {
        o.spill_dir = PathBuf::from(d);
    }
    o.encoder = c.encoder()?;
    o.max_retries = c.u64("retry.max.attempts")? as u32;
    let mode = c.get("event.processing.failure.handling.mode").unwrap_or("fail");
    o.failure_mode = mode.parse().map_err(|expected| ConfigError::Value {
        key: "event.processing.failure.handling.mode".into(),
        value: mode.into(),
        expected,
    })?;
    o.slot_max_retries = c.u64("slot.max.retries")? as u32;
    o.slot_retry_delay = c.millis("slot.retry.delay.ms")?;
    o.offsets = offset_storage(c);
    o.receive_timeout = c.millis("replication.receive.timeout.ms")?;
    let smode = c.get("snapshot.mode").unwrap_or("initial");
    o.snapshot.mode = SnapshotMode::parse(smode).map_err(|expected| ConfigError::Value {
        key: "snapshot.mode".into(),
        value: smode.into(),
        expected,
    })?;
    o.snapshot.include = c.table_entries("snapshot.include.collection.list")?;
    let threads = c.u64("snapshot.max.threads")?;
    if threads == 0 {
        return Err(ConfigError::Value {
            key: "snapshot.max.threads".into(),
            value: "0".into(),
            expected: "at least 1".into(),
        }
        .into());
    }
    o.snapshot.max_threads = threads as usize;
    o.snapshot.pages_per_range = c.u64("snapshot.pages.per.range")?.clamp(1, u32::MAX as u64) as u32;
    check_names(c, &o)?;
    Ok(o)
}

/// Where tidemark records the last confirmed position: `offset.storage.file.filename`, else next to a
/// file sink's records, else the user's state directory.
fn offset_storage(c: &Config) -> Option<OffsetStorage> {
    if let Some(f) = c.get("offset.storage.file.filename") {
        return Some(OffsetStorage::File(PathBuf::from(f)));
    }
    if let Some(dir) = c
        .get("sink")
        .and_then(|s| s.trim().strip_prefix("file:"))
        .map(|d| d.strip_prefix("//").unwrap_or(d))
        .filter(|d| !d.is_empty())
    {
        return Some(OffsetStorage::Dir(PathBuf::from(dir)));
    }
    let state =
        std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()).map(PathBuf::from).or_else(|| {
            std::env::var_os("HOME").filter(|s| !s.is_empty()).map(|h| PathBuf::from(h).join(".local/state"))
        });
    match state {
        Some(s) => Some(OffsetStorage::Dir(s.join("tidemark"))),
        None => {
            tracing::warn!("no offset.storage.file.filename and no HOME: tidemark keeps no record of confirmed positions, so it cannot detect a lost slot");
            None
        }
    }
}

/// Names PostgreSQL would reject or change, and names set to empty strings, are configuration errors.
fn check_names(c: &Config, o: &StreamOptions) -> Result<(), ConfigError> {
    for key in ["slot.name", "publication.name", "table.include.list", "offset.storage.file.filename"] {
        let explicit = c.origin(key).is_some_and(|origin| origin != Origin::Default);
        if explicit && c.get(key).is_none_or(|v| v.trim().is_empty()) {
            return Err(ConfigError::Value {
                key: key.into(),
                value: String::new(),
                expected: "a non-empty value (leave the setting out to use the default)".into(),
            });
        }
    }
    if c.get("table.include.list").is_some() && o.tables.is_empty() {
        return Err(ConfigError::Value {
            key: "table.include.list".into(),
            value: c.get("table.include.list").unwrap_or_default().into(),
            expected: "at least one table, as schema.table,schema.table".into(),
        });
    }
    tidemark_sources::stream::preflight::validate_names(o).map_err(|e| match e {
        tidemark_sources::SourceError::InvalidName { what, value, reason, fix } => {
            ConfigError::Value { key: what, value, expected: format!("{reason}; {fix}") }
        }
        other => ConfigError::Missing(other.to_string()),
    })
}

pub async fn run(a: StreamArgs) -> anyhow::Result<()> {
    let c = load_config(
        a.config.as_ref(),
        &a.set,
        &[
            ("source", a.source.as_ref()),
            ("publication.name", a.publication.as_ref()),
            ("table.include.list", a.tables.as_ref()),
            ("slot.name", a.slot.as_ref()),
            ("sink", a.sink.as_ref()),
        ],
    )?;
    let mut opts = options(&c)?;
    let sink_opts = c.sink_options()?;
    let sink_uri = c.get("sink").unwrap_or("stdout").to_string();
    let sink = tidemark_sinks::build(&sink_uri, &sink_opts)?;
    if let Some(u) = &a.until_lsn {
        opts.until_lsn = Some(if u == "current" {
            let client = tidemark_pgwire::sql::connect(&opts.dsn).await.map_err(|e| {
                tidemark_sources::SourceError::from_connect(e, &opts.dsn.user, &opts.dsn.addr())
            })?;
            let row = client.query_one("SELECT pg_current_wal_insert_lsn()::text", &[]).await?;
            row.get::<_, String>(0).parse::<Lsn>().context("server returned a malformed LSN")?
        } else {
            u.parse::<Lsn>().map_err(|_| ConfigError::Value {
                key: "--until-lsn".into(),
                value: u.clone(),
                expected: "an LSN like 0/16B3748, or current".into(),
            })?
        });
    }
    tracing::info!(source = %opts.dsn.redacted(), publication = %opts.publication, slot = %opts.slot, sink = %sink_uri, "starting stream");
    let t = crate::telemetry::get();
    let progress = spawn_progress();
    let shutdown = super::shutdown_on_signals();
    let res = tidemark_sources::stream::run(opts, tidemark_pipeline::Output::new(sink), shutdown).await;
    progress.abort();
    let summary = res?;
    tracing::info!(
        events = t.counter(m::EVENTS),
        records = t.counter(m::SINK_RECORDS),
        confirmed = %summary.confirmed_lsn,
        "stream stopped cleanly"
    );
    Ok(())
}

/// Log throughput and lag every 10 s, from the process's metrics.
pub fn spawn_progress() -> tokio::task::JoinHandle<()> {
    let t = crate::telemetry::get();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        let mut last = (Instant::now(), t.counter(m::EVENTS));
        loop {
            tick.tick().await;
            let ev = t.counter(m::EVENTS);
            let rate = ev.saturating_sub(last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), ev);
            let recv = t.gauge(m::SOURCE_RECEIVED_LSN) as u64;
            let conf = t.gauge(m::SOURCE_CONFIRMED_LSN) as u64;
            tracing::info!(
                events = ev,
                per_sec = rate.round() as u64,
                received = %Lsn(recv),
                confirmed = %Lsn(conf),
                unconfirmed_bytes = recv.saturating_sub(conf),
                "progress"
            );
        }
    })
}

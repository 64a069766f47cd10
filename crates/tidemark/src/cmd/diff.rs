//! `tidemark diff` and `tidemark verify`: flags and configuration turned into `DiffOptions`; `diff`
//! sends the diff's events through the pipeline to the configured sink ([`send_through_pipeline`],
//! also used by the demo), `verify` only counts; then the report, the summary file and the exit
//! status (a verdict only when every selected table was compared).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use tidemark_pgwire::Dsn;
use tidemark_sources::diff::{DiffOptions, DiffReport};

use crate::config::ConfigError;
use crate::ExitStatus;

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Tables come from the publications (read on the new side, honouring column lists and row filters)
or from --tables. Each side is read in one consistent snapshot; nothing is created on either server.
Rows are compared on PostgreSQL's exact text of every value, so 1.0 vs 1.00 is a change and types
without '=' (xml, json, point) work. Keyless tables are compared as multisets.

Events are Debezium events (c/u/d) with source.ts_ms = --event-time, source.lsn/txId/sequence null
(no WAL position exists for a diff) and are written through the same sinks as `stream`.

The (ctid, xmin) fast path is used only when one side provably is an earlier state of the other
(one running cluster, or timeline histories and WAL positions showing it, e.g. a restore that took no
writes after its promotion); otherwise every row is compared and the summary says why.

Exit status: 0 done (with --verify: the databases agree); 1 with --verify when they differ;
2 configuration or usage error (flags, DSN, wrong password, missing database or publication);
3 no verdict: some table could not be compared, or nothing was compared;
4 could not reach a server or the comparison failed.")]
pub struct DiffArgs {
    /// The older database (e.g. the restore taken when the slot was lost).
    #[arg(long)]
    pub old: String,
    /// The newer database (e.g. the restore taken when the slot was back).
    #[arg(long)]
    pub new: String,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where events go [default: stdout]: stdout | file:<dir> | kafka://host:9092[,host:9092] | eventhubs
    /// (the same sinks and properties as `tidemark stream`) | postgres://user@host/db (apply the events
    /// to that database, e.g. --old itself to bring it up to --new).
    #[arg(long, value_name = "SINK")]
    pub sink: Option<String>,
    /// Event time written in ts_ms and source.ts_ms (RFC 3339, e.g. 2025-08-22T14:00:00Z); default: the
    /// new database's clock at the start.
    #[arg(long, value_name = "RFC3339")]
    pub event_time: Option<String>,
    /// Count only, emit nothing; exit 1 when the databases differ.
    #[arg(long)]
    pub verify: bool,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The database that is right (the source).
    #[arg(long)]
    pub source: String,
    /// The database checked against it (the replica).
    #[arg(long)]
    pub target: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Publications whose tables to compare (repeatable).
    #[arg(long = "publication")]
    pub publications: Vec<String>,
    /// Tables to compare: schema.table,schema.table (PostgreSQL quoting for odd names: public."a,b").
    #[arg(long, value_name = "TABLES")]
    pub tables: Option<String>,
    /// Regex over schema.table of tables to leave out (repeatable).
    #[arg(long = "exclude")]
    pub exclude: Vec<String>,
    /// Parallel workers; each holds one connection per side.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Comparison method: auto (ctid/xmin fast path for physical copies such as two PITR restores of
    /// one cluster, full elsewhere), full, or fast (auto, but report tables that cannot take it).
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub method: Method,
    /// Write the per-table summary as JSON to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// TOML configuration file (encoder settings such as topic.prefix).
    #[arg(long, env = "TIDEMARK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Any property as key=value; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Method {
    Auto,
    Full,
    Fast,
}

fn dsn(key: &str, s: &str) -> Result<Dsn, ConfigError> {
    Dsn::parse(s).map_err(|e| ConfigError::Value {
        key: key.into(),
        value: "(hidden)".into(),
        expected: e.to_string(),
    })
}

pub async fn run_diff(a: DiffArgs) -> anyhow::Result<()> {
    let verify = a.verify;
    execute(&a.old, &a.new, ("--old", "--new"), a.common, a.sink, a.event_time, verify)
        .await
        .map_err(classify)
}

pub async fn run_verify(a: VerifyArgs) -> anyhow::Result<()> {
    // The target (replica) plays "old": the events would turn it into the source.
    execute(&a.target, &a.source, ("--target", "--source"), a.common, None, None, true)
        .await
        .map_err(classify)
}

/// Exit codes of errors (never 0 or 1, which are verdicts): 2 for what the user configured (flags, DSN,
/// password, a database or publication that does not exist), 4 for everything else (a server that cannot
/// be reached, a connection lost, a failure while comparing).
fn classify(e: anyhow::Error) -> anyhow::Error {
    use tidemark_pgwire::PgError;
    use tidemark_sources::SourceError;
    if e.is::<ExitStatus>() || e.is::<ConfigError>() {
        return e;
    }
    let code = match e.downcast_ref::<SourceError>() {
        Some(
            SourceError::BadPassword { .. }
            | SourceError::NoLogin(_)
            | SourceError::NoPublication(_)
            | SourceError::DiffNoPublication(_)
            | SourceError::NoDatabase { .. }
            | SourceError::Pg(PgError::Dsn(_)),
        ) => 2,
        // 3D000: the database named in the DSN does not exist.
        Some(SourceError::Pg(PgError::Server(s))) if s.code == "3D000" => 2,
        _ => 4,
    };
    ExitStatus(code, format!("error: {e:#}")).into()
}

/// The one line that ends a run, with its exit status: a verdict only when every selected table was
/// compared and at least one was.
fn outcome(r: &DiffReport, verify: bool) -> Result<Option<&'static str>, ExitStatus> {
    let failed = r.failed().len();
    if failed > 0 {
        let msg = if verify {
            format!("No verdict: {failed} table(s) could not be compared (see above); the databases were not shown to agree.")
        } else {
            format!("{failed} table(s) could not be compared (see above); their events are missing.")
        };
        return Err(ExitStatus(3, msg));
    }
    if r.tables.is_empty() {
        return Err(ExitStatus(
            3,
            "No verdict: nothing was compared (the publications and --tables, after --exclude, selected no \
             table). Fix: check the publication's tables (`SELECT * FROM pg_publication_tables;`), --tables \
             and --exclude"
                .into(),
        ));
    }
    if verify && r.differs() {
        return Err(ExitStatus(1, "The databases differ.".into()));
    }
    Ok(verify.then_some("The databases agree."))
}

async fn execute(
    old: &str,
    new: &str,
    names: (&str, &str),
    common: CommonArgs,
    sink: Option<String>,
    event_time: Option<String>,
    verify: bool,
) -> anyhow::Result<()> {
    let c = super::stream::load_config(common.config.as_ref(), &common.set, &[("sink", sink.as_ref())])?;
    let tables =
        tidemark_model::parse_table_list(common.tables.as_deref().unwrap_or_default()).map_err(|e| {
            ConfigError::Value {
                key: "--tables".into(),
                value: common.tables.clone().unwrap_or_default(),
                expected: e.to_string(),
            }
        })?;
    let old = dsn(names.0, old)?;
    let new = dsn(names.1, new)?;
    let exclude = tidemark_debezium::EncoderConfig::compile_list(&common.exclude.join(",")).map_err(|r| {
        ConfigError::Value { key: "--exclude".into(), value: common.exclude.join(","), expected: r }
    })?;
    if common.jobs == 0 {
        return Err(ConfigError::Value {
            key: "--jobs".into(),
            value: "0".into(),
            expected: "at least 1".into(),
        }
        .into());
    }
    let event_time_us = match &event_time {
        None => None,
        Some(t) => {
            let client = tidemark_pgwire::sql::connect(&new)
                .await
                .map_err(|e| tidemark_sources::SourceError::from_connect(e, &new.user, &new.addr()))?;
            let r = client
                .query_one("SELECT (extract(epoch FROM $1::text::timestamptz) * 1000000)::bigint", &[t])
                .await
                .map_err(|e| ConfigError::Value {
                    key: "--event-time".into(),
                    value: t.clone(),
                    expected: format!(
                        "an RFC 3339 time such as 2025-08-22T14:00:00Z ({})",
                        e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default()
                    ),
                })?;
            Some(r.get::<_, i64>(0))
        }
    };
    let mut encoder = c.encoder()?;
    if encoder.database.is_empty() {
        encoder.database = new.dbname.clone();
    }
    let opts = DiffOptions {
        old,
        new,
        publications: common.publications.clone(),
        tables: tables.iter().map(tidemark_model::TableId::quoted).collect(),
        exclude,
        jobs: common.jobs,
        event_time_us,
        verify,
        encoder,
        method: match common.method {
            Method::Auto => tidemark_sources::diff::DiffMethod::Auto,
            Method::Full => tidemark_sources::diff::DiffMethod::Full,
            Method::Fast => tidemark_sources::diff::DiffMethod::Fast,
        },
    };
    if opts.publications.is_empty() && opts.tables.is_empty() {
        return Err(ConfigError::Missing(
            "nothing to compare: pass --publication NAME (repeatable) or --tables schema.table,...".into(),
        )
        .into());
    }
    let ticker = spawn_progress();
    let report = if verify {
        tidemark_sources::diff::run(opts, None).await?
    } else {
        let sink_opts = c.sink_options()?;
        let dest = tidemark_sinks::build(c.get("sink").unwrap_or("stdout"), &sink_opts)?;
        send_through_pipeline(opts, dest).await?
    };
    ticker.abort();
    print_report(&report);
    if let Some(path) = &common.summary {
        std::fs::write(path, serde_json::to_vec_pretty(&summary_json(&report))?)
            .map_err(|e| anyhow::anyhow!("cannot write the summary to {}: {e}", path.display()))?;
    }
    // The verdict (or why there is none) is printed once: here, or by main from the ExitStatus.
    if let Some(verdict) = outcome(&report, verify)? {
        eprintln!("{verdict}");
    }
    Ok(())
}

/// Run the diff with its events going through the pipeline to `dest`. Encoding runs on up to four
/// workers beside the sink's writes (with schemas on, events are kilobytes each); each key has at most
/// one event in a diff, so the order across batches carries no meaning and the encode stage may run
/// them in parallel.
pub(crate) async fn send_through_pipeline(
    opts: DiffOptions,
    dest: tidemark_pipeline::Destination,
) -> anyhow::Result<DiffReport> {
    use tidemark_pipeline::{Event, Output, PipelineOptions, Running, SourceBatch};
    let mut popts = PipelineOptions::new(tidemark_debezium::Encoder::new(opts.encoder.clone()));
    popts.encode_workers = opts.jobs.clamp(1, 4);
    popts.source_time = true;
    popts.input_capacity = 8;
    let pipeline = Running::start(Output::new(dest), &popts);
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let diff = tokio::spawn(tidemark_sources::diff::run(opts, Some(tx)));
    while let Some(changes) = rx.recv().await {
        let events = changes.into_iter().map(Event::Change).collect();
        if pipeline.input.send(SourceBatch { events, checkpoint: None }).await.is_err() {
            // The pipeline stopped; its error is reported below. Stop the diff's sends too.
            break;
        }
    }
    drop(rx);
    let report = diff.await?;
    let output = pipeline.finish().await.map_err(|(_, e)| e)?;
    output.close().await?;
    Ok(report?)
}

/// The progress bar (or a log line every 10 s), from the process's metrics.
fn spawn_progress() -> tokio::task::JoinHandle<()> {
    use tidemark_pipeline::metrics as m;
    let t = crate::telemetry::get();
    tokio::spawn(async move {
        let interactive = std::io::stderr().is_terminal();
        let bar = if interactive {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] tables {pos}/{len} {wide_bar} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Some(b)
        } else {
            None
        };
        let mut tick = tokio::time::interval(Duration::from_millis(if interactive { 200 } else { 10_000 }));
        tick.tick().await;
        let mut last = (std::time::Instant::now(), 0u64);
        loop {
            tick.tick().await;
            let rows = t.counter(m::DIFF_ROWS);
            let rate = rows.saturating_sub(last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
            last = (std::time::Instant::now(), rows);
            let msg =
                format!("{rows} rows compared ({:.0}/s), {} differences", rate, t.counter(m::DIFF_CHANGES));
            match &bar {
                Some(b) => {
                    b.set_length(t.gauge(m::DIFF_TABLES) as u64);
                    b.set_position(t.counter(m::DIFF_TABLES_DONE));
                    b.set_message(msg);
                }
                None => tracing::info!(
                    "{msg}; {}/{} tables done",
                    t.counter(m::DIFF_TABLES_DONE),
                    t.gauge(m::DIFF_TABLES) as u64
                ),
            }
        }
    })
}

fn print_report(r: &DiffReport) {
    if std::io::stderr().is_terminal() {
        // Clear the progress bar's line.
        eprint!("\r\x1b[2K");
    }
    eprintln!(
        "{:<40} {:>10} {:>10} {:>10} {:>12} {:>8} {:>12}",
        "table", "created", "updated", "deleted", "unchanged", "seconds", "rows/s"
    );
    for t in &r.tables {
        match &t.failure {
            Some(f) => eprintln!("{:<40} FAILED: {f}", t.table),
            None => eprintln!(
                "{:<40} {:>10} {:>10} {:>10} {:>12} {:>8.2} {:>12.0}",
                t.table,
                t.created,
                t.updated,
                t.deleted,
                t.unchanged,
                t.seconds,
                t.rows_per_sec()
            ),
        }
    }
    for t in &r.tables {
        for c in &t.schema_changes {
            eprintln!("{}: {c}", t.table);
        }
    }
    let sum = |f: fn(&tidemark_sources::diff::TableReport) -> u64| r.tables.iter().map(f).sum::<u64>();
    eprintln!(
        "{:<40} {:>10} {:>10} {:>10} {:>12} {:>8.2}",
        "total",
        sum(|t| t.created),
        sum(|t| t.updated),
        sum(|t| t.deleted),
        sum(|t| t.unchanged),
        r.seconds
    );
    if r.fast_path_allowed {
        eprintln!("(ctid, xmin) fast path allowed: {}", r.fast_path_reason);
    } else if r.fast_path_reason != "--method full" {
        eprintln!("(ctid, xmin) fast path not used: {}", r.fast_path_reason);
    }
}

fn summary_json(r: &DiffReport) -> serde_json::Value {
    serde_json::json!({
        "event_time_us": r.event_time_us,
        "seconds": r.seconds,
        "differs": r.differs(),
        "compared_all": r.failed().is_empty() && !r.tables.is_empty(),
        "fast_path": { "allowed": r.fast_path_allowed, "reason": r.fast_path_reason },
        "tables": r.tables.iter().map(|t| serde_json::json!({
            "table": t.table,
            "status": if t.failure.is_some() { "failed" } else { "ok" },
            "error": t.failure,
            "method": t.method,
            "schema_changes": t.schema_changes,
            "created": t.created,
            "updated": t.updated,
            "deleted": t.deleted,
            "unchanged": t.unchanged,
            "seconds": t.seconds,
            "rows_per_sec": t.rows_per_sec(),
        })).collect::<Vec<_>>(),
    })
}

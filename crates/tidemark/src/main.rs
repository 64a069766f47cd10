//! The `tidemark` binary: command-line parsing, configuration layering ([`config`]), logging, the
//! metrics recorder ([`telemetry`]), signals and exit codes. Commands live in [`cmd`]; everything they
//! do is in the library crates.

mod cmd;
mod config;
mod telemetry;

use std::process::ExitCode;

/// jemalloc for the whole process, C libraries included (`unprefixed_malloc`: librdkafka's
/// `malloc`/`free` resolve to it too). With glibc's allocator, records allocated on a runtime thread
/// and freed on librdkafka's threads contend on arena locks: a third of the Kafka path's CPU was
/// `malloc`/`free`/`malloc_consolidate` and futex wake-ups (bench/kafka.sh, perf).
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand};

const ABOUT: &str = "PostgreSQL change data capture in the Debezium format";

const LONG_ABOUT: &str = "\
tidemark turns PostgreSQL changes into the change events Debezium consumers already read.

  tidemark stream --source postgres://cdc@db/app --tables public.orders --sink file:./out
      logical replication -> Debezium events -> sink, at-least-once; the slot is confirmed only
      past what the sink made durable, so kill -9 at any moment loses nothing.
  tidemark diff --old postgres://…/pitr1 --new postgres://…/pitr2 --publication pub --sink file:./gap
      the inserts, updates and deletes between two databases (e.g. two restores around a lost slot).
  tidemark verify --source … --target …
      the same comparison, counting only; exit status says whether the two agree.
  tidemark demo
      the whole story on a throwaway local PostgreSQL (needs the server binaries installed).

Settings come from a TOML file (--config), TIDEMARK_* environment variables and flags, in that
order of precedence (flags win). Debezium property names are accepted: topic.prefix,
tombstones.on.delete, skipped.operations, provide.transaction.metadata, heartbeat.interval.ms,
decimal.handling.mode, time.precision.mode, ... Run `tidemark stream --help` for the list.";

#[derive(Parser, Debug)]
#[command(name = "tidemark", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Log filter (error, warn, info, debug, trace, or a tracing filter); logs go to stderr.
    #[arg(long, global = true, env = "TIDEMARK_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Stream changes from a replication slot to a sink (Debezium events, at-least-once).
    #[command(long_about = cmd::stream::STREAM_ABOUT)]
    Stream(cmd::stream::StreamArgs),
    /// Change feed between two databases (two PITR restores, source vs replica) as Debezium events.
    Diff(cmd::diff::DiffArgs),
    /// Compare a replica with its source; exit 0 when they agree, 1 when they differ.
    Verify(cmd::diff::VerifyArgs),
    /// Run the whole story on a throwaway local PostgreSQL and write the events to ./tidemark-demo/.
    Demo(cmd::demo::DemoArgs),
}

/// An exit status chosen by a command, with the message to print.
#[derive(Debug)]
pub struct ExitStatus(pub u8, pub String);

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitStatus {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async {
        match cli.command {
            Command::Stream(a) => cmd::stream::run(a).await,
            Command::Diff(a) => cmd::diff::run_diff(a).await,
            Command::Verify(a) => cmd::diff::run_verify(a).await,
            Command::Demo(a) => cmd::demo::run(a).await,
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let kind = ExitKind::of(&e);
            match kind {
                ExitKind::Chosen(_) => eprintln!("{e}"),
                _ => eprintln!("error: {}", render(&e)),
            }
            ExitCode::from(kind.code())
        }
    }
}

/// How the process ends after an error: the one place that maps error kinds to exit statuses.
///
/// - 2: the configuration itself is wrong (unknown property, malformed value, missing source,
///   unknown sink, unparseable DSN, contradicting settings) — found before connecting anywhere.
///   clap's own usage errors exit 2 as well.
/// - 1: everything else (the database, the network or the sink refused).
/// - Chosen: a command decided the status (e.g. `verify`'s "the databases differ").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExitKind {
    Config,
    Failure,
    Chosen(u8),
}

impl ExitKind {
    fn of(e: &anyhow::Error) -> ExitKind {
        use tidemark_pgwire::PgError;
        for cause in e.chain() {
            if let Some(ExitStatus(code, _)) = cause.downcast_ref::<ExitStatus>() {
                return ExitKind::Chosen(*code);
            }
            let config = cause.is::<config::ConfigError>()
                || cause.is::<tidemark_model::TableListError>()
                || matches!(
                    cause.downcast_ref::<tidemark_sinks::SinkError>(),
                    Some(tidemark_sinks::SinkError::Config { .. })
                )
                || matches!(cause.downcast_ref::<PgError>(), Some(PgError::Dsn(_)))
                || matches!(
                    cause.downcast_ref::<tidemark_sources::SourceError>(),
                    Some(tidemark_sources::SourceError::Pg(PgError::Dsn(_)))
                );
            if config {
                return ExitKind::Config;
            }
        }
        ExitKind::Failure
    }

    fn code(self) -> u8 {
        match self {
            ExitKind::Config => 2,
            ExitKind::Failure => 1,
            ExitKind::Chosen(c) => c,
        }
    }
}

/// The error and its causes as one line, each piece of text once.
///
/// Many error types embed their cause in their own message (`"writing to X failed: {source}"`) and
/// also report it as `source()`; printing the chain with `{:#}` then repeats the cause two or three
/// times. A cause whose text is already part of the message so far adds nothing and is skipped.
fn render(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        let s = s.trim();
        if s.is_empty() || msg.contains(s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(s);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing to /x failed: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrap(#[from] Outer);

    #[test]
    fn error_printed_once_in_rendered_chain() {
        let io = std::io::Error::other("disk full");
        let e = anyhow::Error::new(Wrap(Outer { source: io }));
        assert_eq!(format!("{e:#}").matches("disk full").count(), 3, "the bug this guards against");
        assert_eq!(render(&e), "writing to /x failed: disk full");
        let e = anyhow::Error::new(std::io::Error::other("inner")).context("outer step");
        assert_eq!(render(&e), "outer step: inner");
    }

    #[test]
    fn exit_kinds() {
        let e: anyhow::Error = config::ConfigError::Missing("x".into()).into();
        assert_eq!(ExitKind::of(&e).code(), 2);
        let e: anyhow::Error = ExitStatus(3, "m".into()).into();
        assert_eq!(ExitKind::of(&e).code(), 3);
        let e = anyhow::anyhow!("other");
        assert_eq!(ExitKind::of(&e).code(), 1);
    }
}

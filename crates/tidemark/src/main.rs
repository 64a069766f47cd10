//! The `tidemark` binary: command-line parsing, configuration layering, logging, signals and exit
//! codes. Commands live in [`cmd`]; everything they do is in the library crates.

mod cmd;
mod config;

use std::process::ExitCode;

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
            if let Some(ExitStatus(code, msg)) = e.downcast_ref::<ExitStatus>() {
                eprintln!("{msg}");
                return ExitCode::from(*code);
            }
            eprintln!("error: {e:#}");
            if e.downcast_ref::<config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

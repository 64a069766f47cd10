//! One module per command, plus the signal handling they share. `stream` and `diff` send their
//! changes through the pipeline (`tidemark_pipeline`) to the sink `tidemark_sinks::build` makes;
//! `verify` runs the diff without a sink; `demo` runs both on a throwaway cluster.

pub mod demo;
pub mod diff;
pub mod stream;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

/// A shutdown flag that turns true on the first SIGINT or SIGTERM; the second one exits the process
/// at once with status 128 + signal number.
///
/// The first signal starts a graceful stop (sync the sink, confirm the slot). That can block for
/// good when the sink does (a full pipe nobody reads, a FIFO, a hung mount), so the second signal
/// must not depend on the stream making progress: signals are watched on their own thread with its
/// own runtime, never on the workers a blocked sink may occupy. Exiting there is safe for the
/// no-loss contract: the slot is only ever confirmed past records that are durable, so whatever was
/// still in flight is delivered again on the next start, as after `kill -9`.
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for signals; SIGINT/SIGTERM end tidemark without a graceful stop");
            return rx;
        }
    };
    // Register in the caller, so no signal can arrive between returning and the watcher starting.
    let signals = {
        let _guard = rt.enter();
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    };
    let (Ok(mut int), Ok(mut term)) = signals else {
        tracing::warn!("cannot install signal handlers; SIGINT/SIGTERM end tidemark without a graceful stop");
        return rx;
    };
    let spawned = std::thread::Builder::new().name("tidemark-signals".into()).spawn(move || {
        rt.block_on(async move {
            let first = next_signal(&mut int, &mut term).await;
            tracing::info!(
                signal = first.0,
                "shutting down: flushing the sink and confirming the slot (send the signal again to exit at once)"
            );
            let _ = tx.send(true);
            let second = next_signal(&mut int, &mut term).await;
            eprintln!(
                "tidemark: second {}: exiting now without waiting for the sink; records not yet durable were \
                 not confirmed to the slot and will be delivered again on the next start",
                second.0
            );
            std::process::exit(128 + second.1);
        })
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the signal thread; SIGINT/SIGTERM are ignored (use SIGKILL)");
    }
    rx
}

/// The next SIGINT or SIGTERM, as (name, number).
async fn next_signal(int: &mut Signal, term: &mut Signal) -> (&'static str, i32) {
    tokio::select! {
        _ = int.recv() => ("SIGINT", 2),
        _ = term.recv() => ("SIGTERM", 15),
    }
}

//! Why a pipeline stopped, typed by what the caller should do about it.
//!
//! Materialize's split: a *transient* error (a destination unreachable for now) is worth retrying from
//! the last durable position; a *definite* one (a record the broker refuses, a value Debezium cannot
//! encode under the configured mode) recurs until someone changes something; an *internal* one (a stage
//! stopped or panicked, a sink acknowledging a ticket it never had) is a tidemark bug and says so.
//! Callers decide on [`PipelineError::is_transient`], never on message text.

use crate::sink::SinkError;
use crate::tracker::UnknownTicket;

/// A pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A change could not be encoded and `event.processing.failure.handling.mode=fail`.
    #[error("the change at LSN {lsn} cannot be streamed: {detail}")]
    EventFailed {
        /// Position of the change.
        lsn: String,
        /// The encoder's reason with the ways out (no source: printed once).
        detail: String,
    },
    /// A stage ended without saying why (its task was cancelled).
    #[error(
        "the pipeline's {stage} stage stopped unexpectedly. This is a bug in tidemark; please report it"
    )]
    StageStopped {
        /// Which stage.
        stage: &'static str,
    },
    /// A stage panicked.
    #[error("the pipeline's {stage} stage panicked: {message}. This is a bug in tidemark; please report it")]
    Panicked {
        /// Which stage.
        stage: &'static str,
        /// The panic message.
        message: String,
    },
    /// The sink broke the acknowledgement contract.
    #[error("{0}. This is a bug in the sink; please report it")]
    Ack(#[from] UnknownTicket),
}

impl PipelineError {
    /// Worth retrying from the last durable position.
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Sink(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The error of a stage task that ended abnormally.
    pub fn from_join(stage: &'static str, e: tokio::task::JoinError) -> PipelineError {
        if e.is_panic() {
            let p = e.into_panic();
            let message = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            PipelineError::Panicked { stage, message }
        } else {
            PipelineError::StageStopped { stage }
        }
    }
}

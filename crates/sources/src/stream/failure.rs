//! `event.processing.failure.handling.mode`: what the stream does with a change it cannot encode.
//!
//! Why: a value Debezium itself refuses (numeric NaN in a key column under
//! `decimal.handling.mode=precise`) would otherwise stop the stream at the same row on every restart,
//! and the only way out would be advancing the slot by hand. Debezium's answer is this property;
//! tidemark implements the same three modes:
//!
//! - `fail` (default): stop with one error naming table, column, value, LSN and the ways out;
//!   nothing at or after the event is confirmed, so a restart stops at the same event again.
//! - `warn`: log the skipped event (table, LSN, reason) once per event and go on.
//! - `skip`: go on silently (logged at debug level).
//!
//! Invariant: a skipped event produces no records at all (never half an envelope), and it is skipped
//! only inside its transaction, so the commit that follows still confirms the slot past it.

use std::str::FromStr;

/// How an event that cannot be encoded is handled.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum FailureMode {
    /// Stop the stream with an error.
    #[default]
    Fail,
    /// Log a warning and skip the event.
    Warn,
    /// Skip the event (debug log only).
    Skip,
}

impl FromStr for FailureMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(FailureMode::Fail),
            "warn" => Ok(FailureMode::Warn),
            "skip" | "ignore" => Ok(FailureMode::Skip),
            _ => Err("fail | warn | skip".into()),
        }
    }
}

/// What to tell the operator about a stopped stream: the encoder's reason plus the ways out.
pub fn advice(reason: &str) -> String {
    let mut ways = Vec::new();
    if reason.contains("decimal.handling.mode") {
        ways.push("set decimal.handling.mode=string or double (they encode NaN and ±Infinity)".to_string());
    }
    ways.push(
        "set event.processing.failure.handling.mode=warn (or skip) to skip this one event and go on; \
         the slot then moves past it"
            .to_string(),
    );
    format!(
        "{reason}. The stream stopped before this event and a restart stops here again (Debezium stops on \
         this value too). Ways out: {}",
        ways.join("; or ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debezium_names() {
        assert_eq!("fail".parse(), Ok(FailureMode::Fail));
        assert_eq!("warn".parse(), Ok(FailureMode::Warn));
        assert_eq!("skip".parse(), Ok(FailureMode::Skip));
        assert!("stop".parse::<FailureMode>().is_err());
        assert!(advice("x decimal.handling.mode=precise").contains("decimal.handling.mode=string"));
    }
}

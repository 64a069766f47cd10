//! The process's metrics recorder: what the library records through the `metrics` facade
//! ([`tidemark_pipeline::metrics`] names every metric), kept in memory for the progress lines, the
//! summaries and the demo. A Prometheus endpoint or `status` command later reads the same recorder
//! (or installs an exporter instead) without touching the code that records.
//!
//! Counters and gauges are atomics registered once per key; recording is a relaxed atomic add, and the
//! map lock is taken only when a call site registers a key (each `counter!` call does, so hot paths
//! record once per batch, not per event).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// In-memory counters and gauges.
#[derive(Debug, Default)]
pub struct Telemetry {
    counters: RwLock<HashMap<Key, Arc<AtomicU64>>>,
    gauges: RwLock<HashMap<Key, Arc<AtomicU64>>>,
}

fn entry(map: &RwLock<HashMap<Key, Arc<AtomicU64>>>, key: &Key) -> Arc<AtomicU64> {
    if let Some(a) = map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
        return a.clone();
    }
    map.write().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().clone()
}

impl Telemetry {
    /// The sum of a counter over all its label sets.
    pub fn counter(&self, name: &str) -> u64 {
        let m = self.counters.read().unwrap_or_else(|p| p.into_inner());
        m.iter().filter(|(k, _)| k.name() == name).map(|(_, v)| v.load(Ordering::Relaxed)).sum()
    }

    /// A gauge's value (0 when never set).
    pub fn gauge(&self, name: &str) -> f64 {
        let m = self.gauges.read().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .find(|(k, _)| k.name() == name)
            .map(|(_, v)| f64::from_bits(v.load(Ordering::Relaxed)))
            .unwrap_or(0.0)
    }
}

struct Shared(&'static Telemetry);

impl Recorder for Shared {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(entry(&self.0.counters, key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(entry(&self.0.gauges, key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// The process's recorder, installed on first use.
pub fn get() -> &'static Telemetry {
    static T: OnceLock<&'static Telemetry> = OnceLock::new();
    T.get_or_init(|| {
        let t: &'static Telemetry = Box::leak(Box::default());
        if metrics::set_global_recorder(Shared(t)).is_err() {
            tracing::debug!(
                "a metrics recorder was already installed; tidemark's progress lines will read zero"
            );
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_over_labels_and_gauges_read_back() {
        let t = get();
        metrics::counter!("test_events_total", "op" => "c").increment(2);
        metrics::counter!("test_events_total", "op" => "u").increment(3);
        metrics::gauge!("test_lsn_bytes").set(42.0);
        assert_eq!(t.counter("test_events_total"), 5);
        assert_eq!(t.gauge("test_lsn_bytes"), 42.0);
    }
}

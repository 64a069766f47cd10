//! Validation of the merged configuration: every key must be a known property, every value must have
//! its property's type, empty values mean what each property documents, and settings that contradict
//! each other are refused — all before tidemark connects anywhere.
//!
//! Why a separate module: the property table ([`PROPERTIES`], in `config/properties.rs`) is
//! `(name, default, help)` and other work appends to it; the type of each property lives here,
//! inferred from its default where that is unambiguous (`true`/`false` → boolean, digits →
//! non-negative integer; any other non-empty default → text that may not be empty) and spelled out
//! otherwise, so a property added to the table is checked without touching this file.
//!
//! Invariants:
//! - A typo is never silently ignored: an unknown key on the command line, in the file or in a
//!   `TIDEMARK_*` variable is an error with the nearest known name as a suggestion.
//! - An empty value is either an error or documented as "unset" for that property (see [`Empty`]);
//!   it never quietly becomes a default the user did not see.
//! - Error values never echo a secret (`database.password`, `eventhubs.connection.string`, `source`
//!   are never printed).

use super::{ConfigError, Origin, PROPERTIES};

/// What an empty value means for a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// Empty is refused: the property needs a value (say so, or remove the setting).
    Error,
    /// Empty means "not set" (no filter, no override, the documented fallback).
    Unset,
}

/// The type of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// true/false (also 1/0, yes/no, on/off).
    Bool,
    /// A non-negative integer within `min..=max`.
    UInt {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// One of these words (case-insensitive).
    Enum(&'static [&'static str]),
    /// A comma-separated list (or a TOML array of strings).
    List,
    /// `schema.table` list with PostgreSQL quoting.
    Tables,
    /// A Kafka topic name or prefix: 1–249 of `[A-Za-z0-9._-]`.
    Topic,
    /// Any single value.
    Text,
    /// Anything at all (accepted so Debezium configurations load; ignored).
    Ignored,
}

/// Type and empty-value rule of one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Value type.
    pub kind: Kind,
    /// What empty means.
    pub empty: Empty,
}

const fn spec(kind: Kind, empty: Empty) -> Spec {
    Spec { kind, empty }
}

const U: Kind = Kind::UInt { min: 0, max: u64::MAX };

/// Longest Kafka topic name.
pub const MAX_TOPIC_LEN: usize = 249;

/// Properties whose keys are free below this prefix (passed through to librdkafka).
pub const OPEN_PREFIXES: &[&str] = &["kafka.property."];

/// The spec of a known property, or `None` for an unknown key.
pub fn spec_of(key: &str) -> Option<Spec> {
    if OPEN_PREFIXES.iter().any(|p| key.strip_prefix(p).is_some_and(|rest| !rest.is_empty())) {
        return Some(spec(Kind::Text, Empty::Unset));
    }
    let (_, default, _) = PROPERTIES.iter().find(|(p, _, _)| *p == key)?;
    use Empty::{Error as E, Unset};
    Some(match key {
        "source" | "publication.name" | "slot.name" | "sink" | "debezium.version" => spec(Kind::Text, E),
        "unavailable.value.placeholder" => spec(Kind::Text, E),
        "topic.prefix" | "topic.delimiter" => spec(Kind::Topic, E),
        "kafka.topic" => spec(Kind::Topic, Unset),
        // An empty include list must not quietly mean "every table the publication holds".
        "table.include.list" => spec(Kind::Tables, E),
        "table.exclude.list" => spec(Kind::Tables, Unset),
        "column.exclude.list" => spec(Kind::List, Unset),
        "skipped.operations" => spec(Kind::List, E),
        "decimal.handling.mode" => spec(Kind::Enum(&["precise", "double", "string"]), E),
        "time.precision.mode" => spec(
            Kind::Enum(&[
                "adaptive",
                "adaptive_time_microseconds",
                "connect",
                "microseconds",
                "nanoseconds",
                "isostring",
            ]),
            E,
        ),
        "binary.handling.mode" => spec(Kind::Enum(&["bytes", "base64", "base64-url-safe", "hex"]), E),
        "interval.handling.mode" => spec(Kind::Enum(&["numeric", "string"]), E),
        "hstore.handling.mode" => spec(Kind::Enum(&["json", "map"]), E),
        "plugin.name" => spec(Kind::Enum(&["pgoutput"]), E),
        "kafka.compression" => spec(Kind::Enum(&["none", "gzip", "snappy", "lz4", "zstd"]), E),
        "kafka.oversize.policy" => spec(Kind::Enum(&["fail", "skip"]), E),
        "database.sslmode" => {
            spec(Kind::Enum(&["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]), E)
        }
        "pgoutput.proto.version" => spec(Kind::UInt { min: 1, max: 2 }, E),
        "database.port" => spec(Kind::UInt { min: 1, max: 65535 }, E),
        "file.rotate.bytes" => spec(Kind::UInt { min: 1024, max: u64::MAX }, E),
        "kafka.topic.partitions" | "kafka.topic.replication.factor" => {
            spec(Kind::UInt { min: 1, max: i32::MAX as u64 }, E)
        }
        "kafka.message.max.bytes" => spec(Kind::UInt { min: 1, max: u64::MAX }, E),
        "money.fraction.digits" => spec(Kind::UInt { min: 0, max: 1000 }, E),
        "connector.class" | "name" => spec(Kind::Ignored, Unset),
        _ if matches!(*default, "true" | "false") => spec(Kind::Bool, E),
        _ if !default.is_empty() && default.bytes().all(|b| b.is_ascii_digit()) => spec(U, E),
        // An empty value must not silently become a non-empty default.
        _ if !default.is_empty() => spec(Kind::Text, E),
        _ => spec(Kind::Text, Unset),
    })
}

/// The known property nearest to `key`, when it is close enough to be a typo.
pub fn suggest(key: &str) -> Option<&'static str> {
    let (d, name) = PROPERTIES.iter().map(|(p, _, _)| (tidemark_pgwire::edit_distance(key, p), *p)).min()?;
    (d <= 3.max(key.len() / 5)).then_some(name)
}

/// An unknown key as an error, phrased for where it came from.
pub fn unknown(key: &str, origin: Origin, file: Option<&str>) -> ConfigError {
    let hint = match (key, suggest(key)) {
        ("snapshot.select.statement.overrides" | "snapshot.fetch.size" | "snapshot.isolation.mode", _) => {
            "; tidemark does not implement it yet: the initial snapshot reads whole tables in the slot's exported \
             snapshot (see snapshot.mode, snapshot.include.collection.list, snapshot.max.threads)"
                .to_string()
        }
        (_, Some(s)) => format!("; did you mean {s}?"),
        (_, None) => String::new(),
    };
    let place = match origin {
        Origin::Flag => "on the command line".to_string(),
        Origin::File => format!("in the config file {}", file.unwrap_or("")),
        Origin::Env => format!("in the environment variable {}", env_name(key)),
        Origin::Default => "in the defaults".to_string(),
    };
    ConfigError::Unknown { key: key.to_string(), hint, place }
}

/// `topic.prefix` → `TIDEMARK_TOPIC_PREFIX`.
pub fn env_name(key: &str) -> String {
    format!("TIDEMARK_{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// Environment variables under `TIDEMARK_` that are not properties: the binary's own flags
/// (`--log`, `--config`) and the variables of tests, benchmarks and debugging aids.
const ENV_NOT_PROPERTIES: &[&str] = &["TIDEMARK_LOG", "TIDEMARK_CONFIG"];
const ENV_NOT_PROPERTY_PREFIXES: &[&str] =
    &["TIDEMARK_TEST_", "TIDEMARK_PG_", "TIDEMARK_DUMP_", "TIDEMARK_PROPTEST_", "TIDEMARK_BENCH_"];

/// The property a `TIDEMARK_*` variable sets, or `None` when the variable is not a property at all
/// (another program's variable, or one of [`ENV_NOT_PROPERTIES`]/[`ENV_NOT_PROPERTY_PREFIXES`]).
/// Every other `TIDEMARK_*` variable is a property and is validated like a `--set`.
pub fn env_property(var: &str) -> Option<String> {
    let rest = var.strip_prefix("TIDEMARK_")?;
    if rest.is_empty()
        || ENV_NOT_PROPERTIES.contains(&var)
        || ENV_NOT_PROPERTY_PREFIXES.iter().any(|p| var.starts_with(p))
    {
        return None;
    }
    Some(rest.to_ascii_lowercase().replace('_', "."))
}

fn bad(key: &str, value: &str, expected: impl Into<String>) -> ConfigError {
    let secret = matches!(key, "source" | "database.password" | "eventhubs.connection.string")
        || key.contains("password")
        || key.contains("secret");
    ConfigError::Value {
        key: key.into(),
        value: if secret && !value.is_empty() { "(hidden)".into() } else { value.into() },
        expected: expected.into(),
    }
}

/// Check one value against its property's spec.
pub fn check_value(key: &str, spec: Spec, value: &str) -> Result<(), ConfigError> {
    let v = value.trim();
    if v.is_empty() {
        return match (spec.empty, spec.kind) {
            (Empty::Unset, _) | (_, Kind::Ignored) => Ok(()),
            (Empty::Error, Kind::List) => Err(bad(key, value, "a value; write none to skip nothing")),
            (Empty::Error, _) => Err(bad(
                key,
                value,
                format!(
                    "a value ({}); empty is not a default — remove the setting to use the default",
                    describe(spec.kind)
                ),
            )),
        };
    }
    match spec.kind {
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "false" | "0" | "no" | "off" => Ok(()),
            _ => Err(bad(key, value, "true or false")),
        },
        Kind::UInt { min, max } => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(bad(key, value, describe_uint(key, min, max))),
        },
        Kind::Enum(options) => {
            if options.iter().any(|o| o.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                Err(bad(key, value, format!("one of {}", options.join(", "))))
            }
        }
        Kind::Topic => {
            if v.chars().count() > MAX_TOPIC_LEN {
                Err(bad(
                    key,
                    &format!(
                        "{}… ({} characters)",
                        v.chars().take(40).collect::<String>(),
                        v.chars().count()
                    ),
                    format!("at most {MAX_TOPIC_LEN} characters (Kafka's limit for a topic name)"),
                ))
            } else if let Some(c) =
                v.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            {
                Err(bad(
                    key,
                    value,
                    format!("letters, digits, '.', '_' and '-' only (Kafka topic characters; found {c:?})"),
                ))
            } else {
                Ok(())
            }
        }
        Kind::Tables => {
            tidemark_model::split_table_list(v).map(|_| ()).map_err(|e| bad(key, value, e.to_string()))
        }
        Kind::List | Kind::Text | Kind::Ignored => Ok(()),
    }
}

fn describe(kind: Kind) -> String {
    match kind {
        Kind::Bool => "true or false".into(),
        Kind::UInt { min, max } => describe_uint("", min, max),
        Kind::Enum(o) => format!("one of {}", o.join(", ")),
        Kind::List => "a comma-separated list".into(),
        Kind::Tables => "schema.table,schema.table (quote names holding commas or dots: public.\"a,b\"; an entry with regex characters is a pattern)".into(),
        Kind::Topic => "a Kafka topic name".into(),
        Kind::Text | Kind::Ignored => "text".into(),
    }
}

fn describe_uint(key: &str, min: u64, max: u64) -> String {
    let unit = if key.ends_with(".ms") {
        " (milliseconds, a whole number such as 10000; no unit suffix)"
    } else if key.ends_with(".bytes") {
        " (bytes, a whole number; no unit suffix)"
    } else {
        ""
    };
    match (min, max) {
        (0, u64::MAX) => format!("a non-negative integer{unit}"),
        (m, u64::MAX) => format!("an integer of at least {m}{unit}"),
        (a, b) => format!("an integer from {a} to {b}{unit}"),
    }
}

/// Check the TOML type of a file value before it is flattened to text: a number where a list
/// belongs, a list where one value belongs, a table where a value belongs.
pub fn check_toml_type(key: &str, v: &toml::Value) -> Result<(), ConfigError> {
    let Some(spec) = spec_of(key) else { return Ok(()) }; // unknown keys are reported later
    let shown = v.to_string();
    let ok = match (spec.kind, v) {
        (Kind::Ignored, _) => true,
        (Kind::List | Kind::Tables, toml::Value::String(_)) => true,
        (Kind::List | Kind::Tables, toml::Value::Array(a)) => a.iter().all(|x| x.is_str()),
        (Kind::List | Kind::Tables, _) => false,
        (_, toml::Value::Array(_) | toml::Value::Table(_) | toml::Value::Datetime(_)) => false,
        (Kind::Bool, toml::Value::Boolean(_) | toml::Value::String(_)) => true,
        (Kind::Bool, _) => false,
        (Kind::UInt { .. }, toml::Value::Integer(_) | toml::Value::String(_)) => true,
        (Kind::UInt { .. }, _) => false,
        (Kind::Enum(_) | Kind::Topic, toml::Value::String(_)) => true,
        (Kind::Enum(_) | Kind::Topic, _) => false,
        (Kind::Text, _) => true,
    };
    if ok {
        Ok(())
    } else {
        let expected = match spec.kind {
            Kind::List | Kind::Tables => {
                "a list: an array of strings or one comma-separated string".to_string()
            }
            k => format!("a single value: {}", describe(k)),
        };
        Err(bad(key, &shown, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    #[test]
    fn typed_values_are_checked() {
        // (key, value, accepted?, phrase in the error)
        let long = "t".repeat(250);
        let max = "t".repeat(249);
        let cases: &[(&str, &str, bool, &str)] = &[
            ("tombstones.on.delete", "false", true, ""),
            ("tombstones.on.delete", "OFF", true, ""),
            ("tombstones.on.delete", "2", false, "true or false"),
            ("heartbeat.interval.ms", "0", true, ""),
            ("heartbeat.interval.ms", "10s", false, "milliseconds"),
            ("heartbeat.interval.ms", "1e3", false, "milliseconds"),
            ("offset.flush.interval.ms", "-5", false, "non-negative"),
            ("file.rotate.bytes", "1023", false, "at least 1024"),
            ("file.rotate.bytes", "1MB", false, "bytes"),
            ("pgoutput.proto.version", "2", true, ""),
            ("pgoutput.proto.version", "0", false, "from 1 to 2"),
            ("database.port", "0", false, "from 1 to 65535"),
            ("decimal.handling.mode", "DOUBLE", true, ""),
            ("decimal.handling.mode", "float", false, "precise, double, string"),
            ("database.sslmode", "verify-full", true, ""),
            ("database.sslmode", "strict", false, "verify-ca"),
            ("kafka.oversize.policy", "truncate", false, "fail, skip"),
            ("topic.prefix", "shop-1.cdc_x", true, ""),
            ("topic.prefix", max.as_str(), true, ""),
            ("topic.prefix", long.as_str(), false, "at most 249"),
            ("topic.prefix", "a b", false, "letters, digits"),
            ("topic.prefix", "ä", false, "letters, digits"),
            ("topic.delimiter", "/", false, "letters, digits"),
            ("kafka.topic", "all events", false, "letters, digits"),
            ("table.include.list", "public.\"a,b\",s.t", true, ""),
            ("table.include.list", "a.b.c", false, "more than two parts"),
            ("kafka.property.socket.timeout.ms", "anything", true, ""),
            ("connector.class", "io.debezium.connector.postgresql.PostgresConnector", true, ""),
            ("database.password", "", true, ""),
        ];
        for (key, value, ok, phrase) in cases {
            let mut c = Config::defaults();
            c.set_flag(key, *value);
            match c.validate() {
                Ok(()) => assert!(ok, "{key}={value} accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!ok, "{key}={value} refused: {e}");
                    assert!(e.contains(key) && e.contains(phrase), "{key}={value}: {phrase:?} not in {e}");
                }
            }
        }
        // Secrets are never echoed.
        let mut c = Config::defaults();
        c.set_flag("source", "");
        c.set_flag("database.password", "hunter2");
        assert!(!c.validate().unwrap_err().to_string().contains("hunter2"));
        // TOML types: a number where a list belongs, a list where one value belongs.
        let dir = tempfile::tempdir().unwrap();
        for (text, ok) in [
            ("table.include.list = [\"a\", \"s.b\"]", true),
            ("table.include.list = \"a,s.b\"", true),
            ("table.include.list = 5", false),
            ("skipped.operations = [1]", false),
            ("heartbeat.interval.ms = 100", true),
            ("heartbeat.interval.ms = \"100\"", true),
            ("heartbeat.interval.ms = [100]", false),
            ("tombstones.on.delete = \"true\"", true),
            ("tombstones.on.delete = 0", false),
            ("decimal.handling.mode = 1", false),
            ("database.port = 5433", true),
        ] {
            let f = dir.path().join("t.toml");
            std::fs::write(&f, text).unwrap();
            let mut c = Config::defaults();
            let r = c.load_file(&f).and_then(|_| c.validate());
            assert_eq!(r.is_ok(), ok, "{text}: {r:?}");
        }
        let mut c = Config::defaults();
        c.set_flag("table.include.list", "public.\"a,b\", s.t");
        let t = c.table_entries("table.include.list").unwrap();
        assert_eq!(t, vec!["public.\"a,b\"".to_string(), "s.t".to_string()]);
        let ids = tidemark_model::parse_table_list(&t.join(",")).unwrap();
        assert_eq!(
            ids,
            vec![tidemark_model::TableId::new("public", "a,b"), tidemark_model::TableId::new("s", "t")]
        );
    }

    #[test]
    fn unknown_keys_suggest_and_empty_values_are_explicit() {
        let mut c = Config::defaults();
        c.set_flag("tombstone.on.delete", "false");
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("unknown property tombstone.on.delete; did you mean tombstones.on.delete?"),
            "{e}"
        );
        let mut c = Config::defaults();
        c.load_env(vec![
            ("TIDEMARK_TOPIC_PREFX".into(), "x".into()),
            ("TIDEMARK_LOG".into(), "debug".into()),
        ]);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("did you mean topic.prefix?") && e.contains("TIDEMARK_TOPIC_PREFX"), "{e}");
        for key in [
            "topic.prefix",
            "slot.name",
            "sink",
            "skipped.operations",
            "money.fraction.digits",
            "table.include.list",
        ] {
            let mut c = Config::defaults();
            c.set_flag(key, "");
            assert!(c.validate().is_err(), "{key}= must not fall back to the default");
        }
        for key in
            ["table.exclude.list", "column.exclude.list", "spill.dir", "kafka.topic", "database.dbname"]
        {
            let mut c = Config::defaults();
            c.set_flag(key, "");
            c.validate().unwrap();
            assert_eq!(c.get(key), None, "{key}= is documented as unset");
        }
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("tombstone.on.delete"), Some("tombstones.on.delete"));
        assert_eq!(suggest("topic.prefx"), Some("topic.prefix"));
        assert_eq!(suggest("heartbeat.interval"), Some("heartbeat.interval.ms"));
        assert_eq!(suggest("completely.unrelated.thing.here"), None);
    }

    #[test]
    fn env_rule() {
        assert_eq!(env_property("TIDEMARK_TOPIC_PREFIX").as_deref(), Some("topic.prefix"));
        assert_eq!(env_property("TIDEMARK_SOURCE").as_deref(), Some("source"));
        assert_eq!(env_property("TIDEMARK_TOMBSTONE_ON_DELETE").as_deref(), Some("tombstone.on.delete"));
        for not in [
            "TIDEMARK_LOG",
            "TIDEMARK_CONFIG",
            "TIDEMARK_TEST_KAFKA_BROKERS",
            "TIDEMARK_PG_BIN",
            "PATH",
            "TIDEMARK_",
        ] {
            assert_eq!(env_property(not), None, "{not}");
        }
    }
}

//! Configuration: one flat map of Debezium-style property names, layered file < environment < flags.
//!
//! - File: TOML; nested tables and dotted keys both flatten to dotted names (`[topic] prefix = "x"` is
//!   `topic.prefix`).
//! - Environment: `TIDEMARK_TOPIC_PREFIX=x` is `topic.prefix` (strip the prefix, lower-case, `_` → `.`).
//! - Flags: the named flags of each command, plus `--set key=value` for any property.
//!
//! Where Debezium has a property for a behaviour, its name is accepted, so a Debezium connector
//! configuration can be pasted in (`database.hostname` & co. build the source DSN).
//!
//! Every accepted name, its default and its help are the table [`PROPERTIES`] (in `properties`).
//! [`Config::validate`] (in [`check`]) runs before anything connects: an unknown key is an error with
//! the nearest property as a suggestion (command line, file and environment alike), every value is
//! checked against its property's type, an empty value is an error unless the property documents
//! empty as "unset", and contradicting settings are refused. All of these exit with status 2.
//!
//! Environment rule: every `TIDEMARK_*` variable is a property (and so validated) except
//! `TIDEMARK_LOG`, `TIDEMARK_CONFIG` (the `--log`/`--config` flags) and the `TIDEMARK_TEST_*`,
//! `TIDEMARK_PG_*`, `TIDEMARK_DUMP_*`, `TIDEMARK_PROPTEST_*`, `TIDEMARK_BENCH_*` families used by
//! tests, benchmarks and debugging aids, which are never read as properties.

mod check;
mod properties;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use properties::PROPERTIES;

use tidemark_debezium::{
    BinaryMode, DecimalMode, EncoderConfig, HstoreMode, IntervalMode, TimePrecisionMode,
};

/// A configuration problem; the message names the key and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File unreadable or not TOML.
    #[error("config file {path}: {reason}")]
    File {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A value is malformed.
    #[error("{key} = {value:?} is not valid: {expected}")]
    Value {
        /// Key.
        key: String,
        /// Given value (never a secret).
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A required setting is missing.
    #[error("{0}")]
    Missing(String),
    /// A key that is no property (a typo, or a Debezium property tidemark does not have).
    #[error(
        "unknown property {key}{hint} (given {place}). Fix: correct or remove it; `tidemark stream --help` lists every property"
    )]
    Unknown {
        /// The key as given.
        key: String,
        /// `; did you mean x?` or empty.
        hint: String,
        /// Where it was given.
        place: String,
    },
    /// Two settings contradict each other.
    #[error("conflicting settings: {0}")]
    Conflict(String),
}

/// Where a value came from (for diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// Config file.
    File,
    /// `TIDEMARK_*` environment.
    Env,
    /// Command-line flag.
    Flag,
}

/// The merged configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<String, (String, Origin)>,
    /// The config file layered in, for messages.
    file: Option<String>,
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) -> Result<(), ConfigError> {
    if !matches!(v, toml::Value::Table(_)) {
        check::check_toml_type(prefix, v)?;
    }
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out)?;
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        toml::Value::Array(a) => out.push((
            prefix.to_string(),
            a.iter()
                .map(|x| match x {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        )),
        other => out.push((prefix.to_string(), other.to_string())),
    }
    Ok(())
}

impl Config {
    /// Defaults only.
    pub fn defaults() -> Config {
        let mut c = Config::default();
        for (k, v, _) in PROPERTIES {
            if !v.is_empty() {
                c.values.insert((*k).to_string(), ((*v).to_string(), Origin::Default));
            }
        }
        c
    }

    /// Layer a TOML file.
    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::File { path: path.display().to_string(), reason: e.to_string() })?;
        let v: toml::Value = toml::from_str(&text)
            .map_err(|e| ConfigError::File { path: path.display().to_string(), reason: e.to_string() })?;
        let mut pairs = Vec::new();
        flatten("", &v, &mut pairs)
            .map_err(|e| ConfigError::File { path: path.display().to_string(), reason: e.to_string() })?;
        self.file = Some(path.display().to_string());
        for (k, v) in pairs {
            self.values.insert(k, (v, Origin::File));
        }
        Ok(())
    }

    /// Layer `TIDEMARK_*` variables from an iterator (the process environment in production).
    pub fn load_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in vars {
            if let Some(key) = check::env_property(&k) {
                self.values.insert(key, (v, Origin::Env));
            }
        }
    }

    /// Set from a flag.
    pub fn set_flag(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), (value.into(), Origin::Flag));
    }

    /// Raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(v, _)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Where a value came from.
    pub fn origin(&self, key: &str) -> Option<Origin> {
        self.values.get(key).map(|(_, o)| *o)
    }

    /// Sink settings (`file.*`, `kafka.*`, `eventhubs.*`).
    pub fn sink_options(&self) -> Result<tidemark_sinks::SinkOptions, ConfigError> {
        use tidemark_sinks::kafka::{KafkaOptions, OversizePolicy, TopicRouting};
        let mut k = KafkaOptions {
            create_topics: self.bool("kafka.topic.create")?,
            partitions: self.u64("kafka.topic.partitions")?.max(1) as i32,
            replication_factor: self.u64("kafka.topic.replication.factor")?.max(1) as i32,
            compression: self
                .choice(
                    "kafka.compression",
                    &[
                        ("none", "none"),
                        ("gzip", "gzip"),
                        ("snappy", "snappy"),
                        ("lz4", "lz4"),
                        ("zstd", "zstd"),
                    ],
                )?
                .to_string(),
            linger_ms: self.u64("kafka.linger.ms")?,
            max_message_bytes: self.u64("kafka.message.max.bytes")? as usize,
            oversize: self.choice(
                "kafka.oversize.policy",
                &[("fail", OversizePolicy::Fail), ("skip", OversizePolicy::Skip)],
            )?,
            delivery_timeout_ms: self.u64("kafka.delivery.timeout.ms")?,
            ..KafkaOptions::default()
        };
        if let Some(t) = self.get("kafka.topic") {
            k.routing = TopicRouting::Single(t.to_string());
            k.table_headers = true;
        } else if let Some(r) = self.get("kafka.topic.regex") {
            let pattern = regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| ConfigError::Value {
                key: "kafka.topic.regex".into(),
                value: r.into(),
                expected: format!("a regular expression ({e})"),
            })?;
            k.routing = TopicRouting::Regex {
                pattern,
                replacement: self.get("kafka.topic.replacement").unwrap_or("$0").to_string(),
            };
        }
        for (key, (v, _)) in &self.values {
            if let Some(name) = key.strip_prefix("kafka.property.") {
                k.properties.push((name.to_string(), v.clone()));
            }
        }
        Ok(tidemark_sinks::SinkOptions {
            file_rotate_bytes: self.u64("file.rotate.bytes")?,
            kafka: k,
            eventhubs_connection_string: self.get("eventhubs.connection.string").map(str::to_string),
        })
    }

    /// Keys that are not known properties ([`Config::validate`] refuses the first of them).
    #[cfg(test)]
    pub fn unknown_keys(&self) -> Vec<String> {
        self.values.keys().filter(|k| check::spec_of(k).is_none()).cloned().collect()
    }

    /// Check every key, value and combination (see the module header); the first problem found is
    /// the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, (value, origin)) in &self.values {
            match check::spec_of(key) {
                None => return Err(check::unknown(key, *origin, self.file.as_deref())),
                Some(spec) => check::check_value(key, spec, value)?,
            }
        }
        let conflict = |s: &str| Err(ConfigError::Conflict(s.to_string()));
        if self.bool("pgoutput.streaming")?
            && self.origin("pgoutput.proto.version").is_some_and(|o| o != Origin::Default)
            && self.u64("pgoutput.proto.version")? < 2
        {
            return conflict(
                "pgoutput.streaming=true needs pgoutput.proto.version=2, but version 1 was set. Fix: set \
                 pgoutput.proto.version=2 or pgoutput.streaming=false",
            );
        }
        if self.get("kafka.topic").is_some() && self.get("kafka.topic.regex").is_some() {
            return conflict(
                "kafka.topic (one topic for every table) and kafka.topic.regex (rename topics) are both set. \
                 Fix: keep only one of them",
            );
        }
        if self.get("kafka.topic.replacement").is_some() && self.get("kafka.topic.regex").is_none() {
            return conflict(
                "kafka.topic.replacement is set without kafka.topic.regex, so it would do nothing. Fix: set \
                 kafka.topic.regex too, or remove kafka.topic.replacement",
            );
        }
        Ok(())
    }

    /// The entries of a table list property (`table.include.list`, `table.exclude.list`): commas
    /// inside double quotes belong to the name (`public."a,b"`); entries with regex characters are kept
    /// as patterns for the stream's filter. Empty when unset.
    pub fn table_entries(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        let Some(v) = self.get(key) else { return Ok(Vec::new()) };
        tidemark_model::split_table_list(v).map_err(|e| ConfigError::Value {
            key: key.into(),
            value: v.into(),
            expected: e.to_string(),
        })
    }

    /// Boolean value.
    pub fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.get(key).unwrap_or("false").to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(ConfigError::Value {
                key: key.into(),
                value: other.into(),
                expected: "true or false".into(),
            }),
        }
    }

    /// Integer value.
    pub fn u64(&self, key: &str) -> Result<u64, ConfigError> {
        let v = self.get(key).unwrap_or("0");
        v.trim().parse().map_err(|_| ConfigError::Value {
            key: key.into(),
            value: v.into(),
            expected: "a non-negative integer".into(),
        })
    }

    /// Milliseconds as a duration.
    pub fn millis(&self, key: &str) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.u64(key)?))
    }

    fn choice<T: Copy>(&self, key: &str, options: &[(&str, T)]) -> Result<T, ConfigError> {
        let v = self.get(key).unwrap_or(options[0].0);
        options.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)).map(|(_, t)| *t).ok_or_else(|| {
            ConfigError::Value {
                key: key.into(),
                value: v.into(),
                expected: format!(
                    "one of {}",
                    options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            }
        })
    }

    /// The source DSN: `source`, else assembled from Debezium's `database.*` properties.
    pub fn source_dsn(&self) -> Result<String, ConfigError> {
        if let Some(s) = self.get("source") {
            return Ok(s.to_string());
        }
        if let Some(host) = self.get("database.hostname") {
            let mut parts =
                vec![format!("host={host}"), format!("port={}", self.get("database.port").unwrap_or("5432"))];
            if let Some(u) = self.get("database.user") {
                parts.push(format!("user={u}"));
            }
            if let Some(p) = self.get("database.password") {
                parts.push(format!("password='{}'", p.replace('\\', "\\\\").replace('\'', "\\'")));
            }
            if let Some(d) = self.get("database.dbname") {
                parts.push(format!("dbname={d}"));
            }
            parts.push(format!("sslmode={}", self.get("database.sslmode").unwrap_or("prefer")));
            for k in ["sslrootcert", "sslcert", "sslkey"] {
                if let Some(v) = self.get(&format!("database.{k}")).filter(|v| !v.is_empty()) {
                    parts.push(format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")));
                }
            }
            return Ok(parts.join(" "));
        }
        Err(ConfigError::Missing(
            "no source database: pass --source postgres://user:password@host:5432/dbname, set TIDEMARK_SOURCE, or put \
             source = \"...\" in the config file"
                .into(),
        ))
    }

    /// Encoder settings.
    pub fn encoder(&self) -> Result<EncoderConfig, ConfigError> {
        let mut e = EncoderConfig {
            topic_prefix: self.get("topic.prefix").unwrap_or("tidemark").to_string(),
            topic_delimiter: self.get("topic.delimiter").unwrap_or(".").to_string(),
            database: self.get("database.dbname").unwrap_or_default().to_string(),
            version: self.get("debezium.version").unwrap_or(tidemark_debezium::DEFAULT_VERSION).to_string(),
            key_schemas: self.bool("key.converter.schemas.enable")?,
            value_schemas: self.bool("value.converter.schemas.enable")?,
            tombstones_on_delete: self.bool("tombstones.on.delete")?,
            transaction_metadata: self.bool("provide.transaction.metadata")?,
            replace_null_with_default: self.bool("replace.null.with.default")?,
            include_unknown_datatypes: self.bool("include.unknown.datatypes")?,
            unavailable_placeholder: self
                .get("unavailable.value.placeholder")
                .unwrap_or("__debezium_unavailable_value")
                .to_string(),
            money_fraction_digits: self.u64("money.fraction.digits")? as u32,
            ..EncoderConfig::default()
        };
        e.origin_fields = EncoderConfig::version_has_origin(&e.version);
        let v = |key: &str, expected: String| {
            let value = self.get(key).unwrap_or_default().to_string();
            ConfigError::Value { key: key.into(), value, expected }
        };
        e.skipped = EncoderConfig::parse_skipped(self.get("skipped.operations").unwrap_or("none"))
            .map_err(|r| v("skipped.operations", r))?;
        e.decimal = self.choice(
            "decimal.handling.mode",
            &[
                ("precise", DecimalMode::Precise),
                ("double", DecimalMode::Double),
                ("string", DecimalMode::String),
            ],
        )?;
        e.time_precision = self.choice(
            "time.precision.mode",
            &[
                ("adaptive", TimePrecisionMode::Adaptive),
                ("adaptive_time_microseconds", TimePrecisionMode::AdaptiveTimeMicroseconds),
                ("connect", TimePrecisionMode::Connect),
                ("microseconds", TimePrecisionMode::Microseconds),
                ("nanoseconds", TimePrecisionMode::Nanoseconds),
                ("isostring", TimePrecisionMode::IsoString),
            ],
        )?;
        e.binary = self.choice(
            "binary.handling.mode",
            &[
                ("bytes", BinaryMode::Bytes),
                ("base64", BinaryMode::Base64),
                ("base64-url-safe", BinaryMode::Base64UrlSafe),
                ("hex", BinaryMode::Hex),
            ],
        )?;
        e.interval = self.choice(
            "interval.handling.mode",
            &[("numeric", IntervalMode::Numeric), ("string", IntervalMode::String)],
        )?;
        e.hstore =
            self.choice("hstore.handling.mode", &[("json", HstoreMode::Json), ("map", HstoreMode::Map)])?;
        if let Some(s) = self.get("column.exclude.list") {
            e.column_exclude = EncoderConfig::compile_list(s).map_err(|r| v("column.exclude.list", r))?;
        }
        if let Some(s) = self.get("message.key.columns") {
            e.message_key_columns =
                EncoderConfig::parse_message_key_columns(s).map_err(|r| v("message.key.columns", r))?;
        }
        // Event Hubs has no log compaction, so tombstones are useless there: off unless asked for.
        if self.get("sink") == Some("eventhubs")
            && self.origin("tombstones.on.delete") == Some(Origin::Default)
        {
            e.tombstones_on_delete = false;
        }
        if self.get("topic.prefix").is_some_and(|p| p.contains(['/', ' '])) {
            return Err(v("topic.prefix", "letters, digits, '.', '_' and '-' only".into()));
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layering_flags_over_env_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(
            &f,
            "source = \"postgres://file\"\n\"tombstones.on.delete\" = false\nheartbeat.interval.ms = 5\n[topic]\nprefix = \"fromfile\"\n",
        )
        .unwrap();
        let mut c = Config::defaults();
        c.load_file(&f).unwrap();
        assert_eq!(c.get("topic.prefix"), Some("fromfile"));
        assert_eq!(c.get("heartbeat.interval.ms"), Some("5"));
        assert!(!c.bool("tombstones.on.delete").unwrap());
        c.load_env(vec![("TIDEMARK_TOPIC_PREFIX".into(), "fromenv".into()), ("OTHER".into(), "x".into())]);
        assert_eq!(c.get("topic.prefix"), Some("fromenv"));
        assert_eq!(c.origin("topic.prefix"), Some(Origin::Env));
        c.set_flag("topic.prefix", "fromflag");
        assert_eq!(c.get("topic.prefix"), Some("fromflag"));
        assert_eq!(c.get("source"), Some("postgres://file"));
        assert!(c.unknown_keys().is_empty());
    }

    #[test]
    fn example_file_is_valid() {
        let mut c = Config::defaults();
        c.load_file(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tidemark.example.toml"))).unwrap();
        assert!(c.unknown_keys().is_empty(), "{:?}", c.unknown_keys());
        c.validate().unwrap();
        c.encoder().unwrap();
        assert_eq!(c.get("table.include.list"), Some("public.orders,public.customers"));
        assert_eq!(c.get("topic.prefix"), Some("shop"));
        assert!(c.bool("tombstones.on.delete").unwrap());
    }

    #[test]
    fn bad_values_name_the_key_and_choices() {
        let mut c = Config::defaults();
        c.set_flag("decimal.handling.mode", "exact");
        let e = c.encoder().unwrap_err().to_string();
        assert!(e.contains("decimal.handling.mode") && e.contains("precise, double, string"), "{e}");
        let mut c = Config::defaults();
        c.set_flag("tombstones.on.delete", "maybe");
        assert!(c.encoder().unwrap_err().to_string().contains("true or false"));
        c.set_flag("bogus.key", "1");
        assert_eq!(c.unknown_keys(), vec!["bogus.key".to_string()]);
    }

    #[test]
    fn kafka_and_eventhubs_options() {
        let mut c = Config::defaults();
        c.set_flag("sink", "eventhubs");
        assert!(!c.encoder().unwrap().tombstones_on_delete, "Event Hubs: tombstones off by default");
        c.set_flag("tombstones.on.delete", "true");
        assert!(c.encoder().unwrap().tombstones_on_delete, "unless asked for");
        let mut c = Config::defaults();
        assert!(c.encoder().unwrap().tombstones_on_delete);
        c.set_flag("kafka.topic.regex", "tidemark\\.public\\.(.*)");
        c.set_flag("kafka.topic.replacement", "cdc.$1");
        c.set_flag("kafka.property.socket.timeout.ms", "30000");
        c.set_flag("kafka.compression", "zstd");
        let o = c.sink_options().unwrap();
        assert!(
            matches!(&o.kafka.routing, tidemark_sinks::kafka::TopicRouting::Regex { pattern, replacement }
            if pattern.replace("tidemark.public.orders", replacement.as_str()) == "cdc.orders")
        );
        assert_eq!(o.kafka.properties, vec![("socket.timeout.ms".to_string(), "30000".to_string())]);
        assert_eq!(o.kafka.compression, "zstd");
        assert!(c.unknown_keys().is_empty());
        c.set_flag("kafka.compression", "brotli");
        assert!(c.sink_options().unwrap_err().to_string().contains("none, gzip, snappy, lz4, zstd"));
    }

    #[test]
    fn debezium_database_properties_build_a_dsn() {
        let mut c = Config::defaults();
        c.set_flag("database.hostname", "db");
        c.set_flag("database.user", "cdc");
        c.set_flag("database.password", "p'w");
        c.set_flag("database.dbname", "app");
        let dsn = c.source_dsn().unwrap();
        let d = tidemark_pgwire::Dsn::parse(&dsn).unwrap();
        assert_eq!((d.host.as_str(), d.user.as_str(), d.dbname.as_str()), ("db", "cdc", "app"));
        assert_eq!(d.password.as_deref(), Some("p'w"));
    }
}

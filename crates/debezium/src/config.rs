//! Encoder settings, named after the Debezium properties they emulate.

use std::collections::BTreeSet;

/// Debezium version string written in `source.version` by default.
pub const DEFAULT_VERSION: &str = "3.6.3.Final";

/// `decimal.handling.mode`
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DecimalMode {
    /// `org.apache.kafka.connect.data.Decimal` bytes / `VariableScaleDecimal` struct.
    Precise,
    /// JSON double.
    Double,
    /// Plain string.
    String,
}

/// `time.precision.mode`
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimePrecisionMode {
    /// Precision-dependent ms/µs types (default).
    Adaptive,
    /// Like adaptive, but every `time` is MicroTime.
    AdaptiveTimeMicroseconds,
    /// Kafka Connect logical types (ms).
    Connect,
    /// MicroTime/MicroTimestamp always.
    Microseconds,
    /// NanoTime/NanoTimestamp.
    Nanoseconds,
    /// ISO strings.
    IsoString,
}

/// `binary.handling.mode`
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinaryMode {
    /// Connect bytes (Base64 in JSON).
    Bytes,
    /// Base64 string.
    Base64,
    /// URL-safe Base64 string.
    Base64UrlSafe,
    /// Hex string.
    Hex,
}

/// `interval.handling.mode`
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IntervalMode {
    /// Approximate microseconds.
    Numeric,
    /// ISO 8601 duration string.
    String,
}

/// `hstore.handling.mode`
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HstoreMode {
    /// JSON text.
    Json,
    /// Connect map.
    Map,
}

/// Operations Debezium can skip (`skipped.operations`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `c`
    Create,
    /// `u`
    Update,
    /// `d`
    Delete,
    /// `t`
    Truncate,
}

/// Everything that shapes the encoded output.
#[derive(Clone, Debug)]
pub struct EncoderConfig {
    /// `topic.prefix`
    pub topic_prefix: String,
    /// `topic.delimiter`
    pub topic_delimiter: String,
    /// `database.dbname` as written in `source.db`.
    pub database: String,
    /// `source.version`
    pub version: String,
    /// `key.converter.schemas.enable`
    pub key_schemas: bool,
    /// `value.converter.schemas.enable`
    pub value_schemas: bool,
    /// `tombstones.on.delete`
    pub tombstones_on_delete: bool,
    /// `skipped.operations`
    pub skipped: BTreeSet<Op>,
    /// `provide.transaction.metadata`
    pub transaction_metadata: bool,
    /// `decimal.handling.mode`
    pub decimal: DecimalMode,
    /// `time.precision.mode`
    pub time_precision: TimePrecisionMode,
    /// `binary.handling.mode`
    pub binary: BinaryMode,
    /// `interval.handling.mode`
    pub interval: IntervalMode,
    /// `hstore.handling.mode`
    pub hstore: HstoreMode,
    /// `unavailable.value.placeholder`
    pub unavailable_placeholder: String,
    /// `include.unknown.datatypes`
    pub include_unknown_datatypes: bool,
    /// `money.fraction.digits`
    pub money_fraction_digits: u32,
    /// `column.exclude.list`: anchored regexes over `schema.table.column`.
    pub column_exclude: Vec<regex::Regex>,
    /// `message.key.columns`: `(anchored regex over schema.table, columns)`.
    pub message_key_columns: Vec<(regex::Regex, Vec<String>)>,
    /// `replace.null.with.default` (Kafka JsonConverter, default true).
    pub replace_null_with_default: bool,
    /// Emit `origin`/`origin_lsn` in `source` (Debezium 3.5+). Derived from `version` unless set.
    pub origin_fields: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            topic_prefix: "tidemark".into(),
            topic_delimiter: ".".into(),
            database: String::new(),
            version: DEFAULT_VERSION.into(),
            key_schemas: true,
            value_schemas: true,
            tombstones_on_delete: true,
            skipped: [Op::Truncate].into_iter().collect(),
            transaction_metadata: false,
            decimal: DecimalMode::Precise,
            time_precision: TimePrecisionMode::Adaptive,
            binary: BinaryMode::Bytes,
            interval: IntervalMode::Numeric,
            hstore: HstoreMode::Json,
            unavailable_placeholder: "__debezium_unavailable_value".into(),
            include_unknown_datatypes: false,
            money_fraction_digits: 2,
            column_exclude: Vec::new(),
            message_key_columns: Vec::new(),
            replace_null_with_default: true,
            origin_fields: true,
        }
    }
}

impl EncoderConfig {
    /// True when Debezium version `v` writes origin fields (3.5 and later).
    pub fn version_has_origin(v: &str) -> bool {
        let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let major = it.next().unwrap_or(0);
        let minor = it.next().unwrap_or(0);
        (major, minor) >= (3, 5)
    }

    /// Parse a `skipped.operations` value (`none`, or a comma list of `c,u,d,t`).
    pub fn parse_skipped(s: &str) -> Result<BTreeSet<Op>, String> {
        let mut out = BTreeSet::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p {
                "none" => {}
                "c" => {
                    out.insert(Op::Create);
                }
                "u" => {
                    out.insert(Op::Update);
                }
                "d" => {
                    out.insert(Op::Delete);
                }
                "t" => {
                    out.insert(Op::Truncate);
                }
                other => return Err(format!("unknown operation {other:?} (use c, u, d, t or none)")),
            }
        }
        Ok(out)
    }

    /// `column.exclude.list` match for `schema.table.column`.
    pub fn column_excluded(&self, schema: &str, table: &str, column: &str) -> bool {
        let full = format!("{schema}.{table}.{column}");
        self.column_exclude.iter().any(|r| r.is_match(&full))
    }

    /// Compile a Debezium regex list (comma separated), anchored at both ends.
    pub fn compile_list(s: &str) -> Result<Vec<regex::Regex>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("bad pattern {p:?}: {e}")))
            .collect()
    }

    /// Parse `message.key.columns` (`<table regex>:<col>,<col>;<table regex>:<col>`).
    pub fn parse_message_key_columns(s: &str) -> Result<Vec<(regex::Regex, Vec<String>)>, String> {
        let mut out = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (table, cols) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not <table>:<column>[,<column>...]"))?;
            let re = regex::Regex::new(&format!("^(?:{})$", table.trim()))
                .map_err(|e| format!("bad table pattern {table:?}: {e}"))?;
            let cols: Vec<String> =
                cols.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
            if cols.is_empty() {
                return Err(format!("{part:?} names no columns"));
            }
            out.push((re, cols));
        }
        Ok(out)
    }
}

//! A table's encoding plan: topic, serialized Connect schemas and one converter per column, built
//! once per table shape so encoding an event is value conversion plus byte copies.

use std::sync::Arc;

use tidemark_model::{Datum, TableSchema};

use crate::config::EncoderConfig;
use crate::convert::Conv;
use crate::json;
use crate::types::TypeRegistry;
use crate::EncodeError;

/// How one column is written.
#[derive(Debug, Clone)]
pub(crate) struct ColPlan {
    /// `"name":` ready to copy.
    pub field_prefix: Vec<u8>,
    pub name: String,
    pub type_name: String,
    pub conv: Conv,
    pub optional: bool,
    /// JSON of the schema default, if any.
    pub default: Option<String>,
    /// Index into the table's columns.
    pub index: usize,
}

/// Everything needed to encode events of one table.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The table shape this plan was built for.
    pub table: Arc<TableSchema>,
    /// Kafka topic.
    pub topic: Arc<str>,
    pub(crate) value_cols: Vec<ColPlan>,
    pub(crate) key_cols: Vec<ColPlan>,
    /// `{"schema":<key schema>,"payload":` or empty when key schemas are off.
    pub(crate) key_prefix: Vec<u8>,
    /// `{"schema":<envelope schema>,"payload":` or empty.
    pub(crate) value_prefix: Vec<u8>,
    /// Columns Debezium drops (unsupported types), for diagnostics.
    pub dropped_columns: Vec<String>,
    /// Size of the last value encoded for this table.
    pub(crate) value_size: SizeHint,
}

/// The size of the last value encoded for a table, so the next one's buffer starts about that large
/// and is written without growing (reallocation was a tenth of a snapshot's CPU). Capped so one huge
/// row does not make every later buffer huge; not a maximum, so it follows the table's typical row.
#[derive(Debug, Default)]
pub(crate) struct SizeHint(std::sync::atomic::AtomicUsize);

impl SizeHint {
    /// Largest starting capacity suggested.
    const CAP: usize = 16 << 10;

    /// A starting capacity for the next value (at least `floor`).
    pub(crate) fn capacity(&self, floor: usize) -> usize {
        (self.0.load(std::sync::atomic::Ordering::Relaxed) + 64).clamp(floor, Self::CAP.max(floor))
    }

    /// Remember the size of the value just written.
    pub(crate) fn record(&self, n: usize) {
        self.0.store(n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clone for SizeHint {
    fn clone(&self) -> Self {
        SizeHint(std::sync::atomic::AtomicUsize::new(self.0.load(std::sync::atomic::Ordering::Relaxed)))
    }
}

/// Debezium's topic-name sanitizing: characters Kafka does not allow in topic names
/// (anything but `[A-Za-z0-9._-]`) become `_`.
pub fn sanitize_topic(t: &str) -> String {
    t.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect()
}

/// Source-block schema (Debezium 3.x, `io.debezium.connector.postgresql.Source` v1).
pub(crate) fn source_schema(cfg: &EncoderConfig) -> String {
    let mut s = String::from(
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},\
{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},\
{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},\
{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},\
{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},\
{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},\
{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},\
{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},\
{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}",
    );
    if cfg.origin_fields {
        s.push_str(",{\"type\":\"string\",\"optional\":true,\"field\":\"origin\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"origin_lsn\"}");
    }
    s.push_str("],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"version\":1,\"field\":\"source\"}");
    s
}

pub(crate) const TX_BLOCK_SCHEMA: &str = "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}";

/// Turn a `pg_get_expr` default into the text Debezium would convert, or the zero placeholder for
/// function defaults it recognises. `None`: no schema default.
fn default_text(expr: &str, conv: &Conv) -> Option<DefaultValue> {
    // Debezium parses no defaults for PostGIS/pgvector columns.
    if matches!(conv, Conv::Ext(_)) {
        return None;
    }
    let e = expr.trim();
    if e.starts_with("nextval(") {
        return Some(DefaultValue::Fallback);
    }
    if e == "now()" || e.starts_with("gen_random_uuid(") || e.starts_with("uuid_generate_v") {
        return Some(DefaultValue::Fallback);
    }
    if let Some(rest) = e.strip_prefix('\'') {
        // 'literal'::type
        let mut lit = String::new();
        let mut chars = rest.chars().peekable();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    lit.push('\'');
                }
                Some('\'') => break,
                Some(c) => lit.push(c),
                None => return None,
            }
        }
        let tail: String = chars.collect();
        if !(tail.is_empty() || tail.starts_with("::")) {
            return None;
        }
        return Some(DefaultValue::Text(lit));
    }
    if e == "true" || e == "false" {
        return Some(DefaultValue::Text(if e == "true" { "t".into() } else { "f".into() }));
    }
    let num = e.trim_start_matches('(').trim_end_matches(')');
    let num = num.split("::").next().unwrap_or(num);
    if !num.is_empty()
        && num
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'e' || b == b'E' || b == b'+')
    {
        if matches!(conv, Conv::Bool) {
            return None;
        }
        return Some(DefaultValue::Text(num.to_string()));
    }
    None
}

enum DefaultValue {
    Text(String),
    Fallback,
}

impl TablePlan {
    /// Build the plan for a table under a configuration.
    pub fn build(
        table: Arc<TableSchema>,
        reg: &TypeRegistry,
        cfg: &EncoderConfig,
    ) -> Result<TablePlan, EncodeError> {
        let d = &cfg.topic_delimiter;
        let topic: Arc<str> =
            sanitize_topic(&format!("{}{d}{}{d}{}", cfg.topic_prefix, table.id.schema, table.id.name)).into();
        // Connect schema names derive from the (sanitized) topic name, as in Debezium.
        let base_name =
            sanitize_topic(&format!("{}.{}.{}", cfg.topic_prefix, table.id.schema, table.id.name));
        let mut all = Vec::with_capacity(table.columns.len());
        let mut dropped = Vec::new();
        for (i, c) in table.columns.iter().enumerate() {
            let type_name = crate::types::builtin_name(c.type_oid)
                .map(str::to_string)
                .or_else(|| reg.get(c.type_oid).map(|t| t.name.clone()))
                .unwrap_or_else(|| format!("oid {}", c.type_oid));
            let Some(conv) = Conv::for_type(c.type_oid, c.type_modifier, reg, cfg) else {
                dropped.push(c.name.clone());
                all.push(None);
                continue;
            };
            let default = match c.default.as_deref().and_then(|e| default_text(e, &conv)) {
                Some(DefaultValue::Text(t)) => {
                    let mut o = Vec::new();
                    conv.write(&mut o, &t).ok().map(|_| String::from_utf8(o).unwrap_or_default())
                }
                Some(DefaultValue::Fallback) => {
                    let mut o = Vec::new();
                    conv.write_fallback(&mut o);
                    Some(String::from_utf8(o).unwrap_or_default())
                }
                None => None,
            };
            let mut field_prefix = Vec::new();
            json::write_str(&mut field_prefix, &c.name);
            field_prefix.push(b':');
            all.push(Some(ColPlan {
                field_prefix,
                name: c.name.clone(),
                type_name,
                conv,
                optional: c.nullable,
                default,
                index: i,
            }));
        }
        // Key columns: message.key.columns override, else primary key, else replica identity index.
        let full = format!("{}.{}", table.id.schema, table.id.name);
        let key_idx: Vec<usize> = match cfg.message_key_columns.iter().find(|(re, _)| re.is_match(&full)) {
            Some((_, cols)) => {
                let mut v = Vec::new();
                for name in cols {
                    let i = table.columns.iter().position(|c| &c.name == name).ok_or_else(|| {
                        EncodeError::Config {
                            table: full.clone(),
                            reason: format!(
                                "message.key.columns names column {name:?}, which the table does not have"
                            ),
                        }
                    })?;
                    v.push(i);
                }
                v
            }
            None if !table.primary_key.is_empty() => table.primary_key.clone(),
            None if table.replica_identity == tidemark_model::ReplicaIdentity::Index => table.key_columns(),
            None => Vec::new(),
        };
        let key_cols: Vec<ColPlan> = key_idx.iter().filter_map(|&i| all.get(i).cloned().flatten()).collect();
        let value_cols: Vec<ColPlan> = all
            .into_iter()
            .flatten()
            .filter(|c| !cfg.column_excluded(&table.id.schema, &table.id.name, &c.name))
            .collect();

        let fields = |cols: &[ColPlan]| -> String {
            cols.iter()
                .map(|c| {
                    let mut s = c.conv.schema_open(c.optional, c.default.as_deref());
                    s.push_str(&format!(",\"field\":{}}}", json::quote(&c.name)));
                    s
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let key_prefix = if cfg.key_schemas && !key_cols.is_empty() {
            format!(
                "{{\"schema\":{{\"type\":\"struct\",\"fields\":[{}],\"optional\":false,\"name\":{}}},\"payload\":",
                fields(&key_cols),
                json::quote(&format!("{base_name}.Key"))
            )
            .into_bytes()
        } else {
            Vec::new()
        };
        let value_prefix = if cfg.value_schemas {
            let value_struct = |field: &str| {
                format!(
                    "{{\"type\":\"struct\",\"fields\":[{}],\"optional\":true,\"name\":{},\"field\":\"{field}\"}}",
                    fields(&value_cols),
                    json::quote(&format!("{base_name}.Value"))
                )
            };
            format!(
                "{{\"schema\":{{\"type\":\"struct\",\"fields\":[{},{},{},{},{{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}},{{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}},{{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"}},{{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}}],\"optional\":false,\"name\":{},\"version\":2}},\"payload\":",
                value_struct("before"),
                value_struct("after"),
                source_schema(cfg),
                TX_BLOCK_SCHEMA,
                json::quote(&format!("{base_name}.Envelope"))
            )
            .into_bytes()
        } else {
            Vec::new()
        };
        Ok(TablePlan {
            table,
            topic,
            value_cols,
            key_cols,
            key_prefix,
            value_prefix,
            dropped_columns: dropped,
            value_size: SizeHint::default(),
        })
    }

    /// True when the table has a key (events get a non-null Kafka key).
    pub fn has_key(&self) -> bool {
        !self.key_cols.is_empty()
    }

    /// Key columns' values differ between two rows (a primary-key change).
    pub fn key_changed(&self, old: &[Datum], new: &[Datum]) -> bool {
        self.key_cols.iter().any(|c| match (old.get(c.index), new.get(c.index)) {
            (Some(Datum::Null), _) | (Some(Datum::UnchangedToast), _) | (None, _) => false,
            (Some(a), Some(b)) => a != b,
            _ => false,
        })
    }
}

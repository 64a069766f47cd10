//! The Connect schema each converter declares (type, semantic name, parameters, default), as
//! Debezium's `PostgresValueConverter.schemaBuilder` and `JsonConverter` spell it.
//!
//! Why one table rather than one per type family: a schema is a pure lookup (no parsing), and one
//! `match` over every converter reads side by side with the connector's own type-to-schema mapping.
//! The values are written by the family modules beside this one.

use super::Conv;
use crate::config::{BinaryMode, DecimalMode, HstoreMode, IntervalMode, TimePrecisionMode};
use crate::json;

impl Conv {
    /// Connect schema JSON for this column, without the trailing `"field"` key and closing brace.
    /// `default` is the JSON of the default value, if any.
    pub fn schema_open(&self, optional: bool, default: Option<&str>) -> String {
        let (ty, extra, name, params): (&str, String, Option<&str>, Option<String>) = match self {
            Conv::Ext(e) => return e.schema_open(optional),
            Conv::Bool | Conv::Bit1 => ("boolean", String::new(), None, None),
            Conv::Int16 => ("int16", String::new(), None, None),
            Conv::Int32 => ("int32", String::new(), None, None),
            Conv::Int64 => ("int64", String::new(), None, None),
            Conv::Float32 => ("float", String::new(), None, None),
            Conv::Float64 | Conv::DecimalDouble => ("double", String::new(), None, None),
            Conv::Money(DecimalMode::Double, _) => ("double", String::new(), None, None),
            Conv::Money(_, _) | Conv::DecimalString | Conv::DecimalStringScale(_) => {
                ("string", String::new(), None, None)
            }
            Conv::Str(n) => ("string", String::new(), *n, None),
            Conv::NullString => ("string", String::new(), None, None),
            Conv::Enum(allowed) => {
                ("string", String::new(), Some("io.debezium.data.Enum"), Some(format!("{{\"allowed\":{}}}", json::quote(allowed))))
            }
            Conv::Decimal { scale, precision } => {
                let p = match precision {
                    Some(p) => format!("{{\"scale\":\"{scale}\",\"connect.decimal.precision\":\"{p}\"}}"),
                    None => format!("{{\"scale\":\"{scale}\"}}"),
                };
                ("bytes", String::new(), Some("org.apache.kafka.connect.data.Decimal"), Some(p))
            }
            Conv::VarDecimal => {
                let mut s = String::from("{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}]");
                s.push_str(&format!(",\"optional\":{optional},\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"doc\":\"Variable scaled decimal\""));
                if let Some(d) = default {
                    s.push_str(&format!(",\"default\":{d}"));
                }
                return s;
            }
            Conv::Bytea(BinaryMode::Bytes) | Conv::UnknownBytes => ("bytes", String::new(), None, None),
            Conv::Bytea(_) => ("string", String::new(), None, None),
            Conv::Bits { length } => {
                ("bytes", String::new(), Some("io.debezium.data.Bits"), Some(format!("{{\"length\":\"{length}\"}}")))
            }
            Conv::Date(m) => match m {
                TimePrecisionMode::Connect => ("int32", String::new(), Some("org.apache.kafka.connect.data.Date"), None),
                TimePrecisionMode::IsoString => ("string", String::new(), Some("io.debezium.time.IsoDate"), None),
                _ => ("int32", String::new(), Some("io.debezium.time.Date"), None),
            },
            Conv::Time { precision, mode } => match mode {
                TimePrecisionMode::Adaptive if *precision <= 3 => ("int32", String::new(), Some("io.debezium.time.Time"), None),
                TimePrecisionMode::Connect => ("int32", String::new(), Some("org.apache.kafka.connect.data.Time"), None),
                TimePrecisionMode::Nanoseconds => ("int64", String::new(), Some("io.debezium.time.NanoTime"), None),
                TimePrecisionMode::IsoString => ("string", String::new(), Some("io.debezium.time.IsoTime"), None),
                _ => ("int64", String::new(), Some("io.debezium.time.MicroTime"), None),
            },
            Conv::TimeTz => ("string", String::new(), Some("io.debezium.time.ZonedTime"), None),
            Conv::Timestamp { precision, mode } => match mode {
                TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds if *precision <= 3 => {
                    ("int64", String::new(), Some("io.debezium.time.Timestamp"), None)
                }
                TimePrecisionMode::Connect => ("int64", String::new(), Some("org.apache.kafka.connect.data.Timestamp"), None),
                TimePrecisionMode::Nanoseconds => ("int64", String::new(), Some("io.debezium.time.NanoTimestamp"), None),
                TimePrecisionMode::IsoString => ("string", String::new(), Some("io.debezium.time.IsoTimestamp"), None),
                _ => ("int64", String::new(), Some("io.debezium.time.MicroTimestamp"), None),
            },
            Conv::TimestampTz { .. } => ("string", String::new(), Some("io.debezium.time.ZonedTimestamp"), None),
            Conv::Interval(IntervalMode::Numeric) => ("int64", String::new(), Some("io.debezium.time.MicroDuration"), None),
            Conv::Interval(IntervalMode::String) => ("string", String::new(), Some("io.debezium.time.Interval"), None),
            Conv::Point => {
                let mut s = String::from("{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},{\"type\":\"double\",\"optional\":false,\"field\":\"y\"},{\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}]");
                s.push_str(&format!(",\"optional\":{optional},\"name\":\"io.debezium.data.geometry.Point\",\"version\":1,\"doc\":\"Geometry (POINT)\""));
                return s;
            }
            Conv::Hstore(HstoreMode::Json) => ("string", String::new(), Some("io.debezium.data.Json"), None),
            Conv::Hstore(HstoreMode::Map) => (
                "map",
                ",\"keys\":{\"type\":\"string\",\"optional\":false},\"values\":{\"type\":\"string\",\"optional\":true}".into(),
                None,
                None,
            ),
            Conv::Array(inner) => {
                let mut items = inner.schema_open(true, None);
                items.push('}');
                (
                    "array",
                    format!(",\"items\":{items}"),
                    None,
                    None,
                )
            }
        };
        let mut s = format!("{{\"type\":\"{ty}\"{extra},\"optional\":{optional}");
        if let Some(n) = name {
            s.push_str(&format!(",\"name\":\"{n}\",\"version\":1"));
        }
        if let Some(p) = params {
            s.push_str(&format!(",\"parameters\":{p}"));
        }
        if let Some(d) = default {
            s.push_str(&format!(",\"default\":{d}"));
        }
        s
    }
}

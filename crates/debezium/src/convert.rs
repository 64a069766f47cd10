//! Per-column converters: the Connect schema a column gets and how its PostgreSQL text becomes the
//! JSON value Debezium writes, for every handling mode.

use crate::array_temporal::{write_array_elem, write_timestamp};
use crate::config::{BinaryMode, DecimalMode, EncoderConfig, HstoreMode, IntervalMode, TimePrecisionMode};
use crate::extension_types::ExtConv;
use crate::instants;
use crate::json::{self, write_b64, write_f32, write_f64, write_int, write_str};
use crate::temporal;
use crate::types::{builtin_array_elem, builtin_name, TypeKind, TypeRegistry};

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq)]
pub enum ConvError {
    /// Debezium's converter cannot express the value (numeric NaN/±Infinity under `precise`, a
    /// numeric array holding one): the connector writes null in a value and stops on a key.
    Unrepresentable(String),
    /// The text cannot be read (Debezium's decoder stops on these too).
    Invalid(String),
}

impl ConvError {
    /// The reason, for messages.
    pub fn reason(&self) -> &str {
        match self {
            ConvError::Unrepresentable(r) | ConvError::Invalid(r) => r,
        }
    }
}

impl From<String> for ConvError {
    fn from(s: String) -> Self {
        ConvError::Invalid(s)
    }
}

impl From<&str> for ConvError {
    fn from(s: &str) -> Self {
        ConvError::Invalid(s.to_string())
    }
}

fn special_numeric(text: &str) -> bool {
    matches!(text, "NaN" | "Infinity" | "-Infinity")
}

fn unrepresentable_decimal(text: &str) -> ConvError {
    ConvError::Unrepresentable(format!(
        "{text} cannot be encoded with decimal.handling.mode=precise (Debezium writes null in a value and \
         stops on a key here); use decimal.handling.mode=string or double"
    ))
}

/// How one column is converted.
#[derive(Clone, Debug, PartialEq)]
pub enum Conv {
    /// boolean
    Bool,
    /// int16
    Int16,
    /// int32
    Int32,
    /// int64
    Int64,
    /// float (real)
    Float32,
    /// double
    Float64,
    /// Plain or semantic string (`name` = Connect schema name).
    Str(Option<&'static str>),
    /// Enum with allowed values.
    Enum(String),
    /// Decimal with fixed scale (precise mode). `precision` None for money.
    Decimal { scale: u32, precision: Option<u32> },
    /// VariableScaleDecimal struct.
    VarDecimal,
    /// numeric in double mode.
    DecimalDouble,
    /// numeric in string mode.
    DecimalString,
    /// numeric(p,s) in string mode: Debezium rescales to the column's scale (which for a negative
    /// scale is the catalog's 11-bit field read unsigned, e.g. 2046 for -2).
    DecimalStringScale(u32),
    /// money in double/string mode: parsed then written.
    Money(DecimalMode, u32),
    /// bytea.
    Bytea(BinaryMode),
    /// bit(1)
    Bit1,
    /// bit(n>1)/varbit.
    Bits { length: u32 },
    /// date.
    Date(TimePrecisionMode),
    /// time(p).
    Time { precision: u32, mode: TimePrecisionMode },
    /// timetz.
    TimeTz,
    /// timestamp(p).
    Timestamp { precision: u32, mode: TimePrecisionMode },
    /// timestamptz(p).
    TimestampTz { precision: u32 },
    /// interval.
    Interval(IntervalMode),
    /// point.
    Point,
    /// hstore.
    Hstore(HstoreMode),
    /// Array of an element converter.
    Array(Box<Conv>),
    /// Unknown type passed through as the bytes of its text (include.unknown.datatypes).
    UnknownBytes,
    /// A string column whose value Debezium always writes as null (`name`).
    NullString,
    /// PostGIS and pgvector types, recognised by name (see [`crate::extension_types`]).
    Ext(ExtConv),
}

fn time_precision(typmod: i32) -> u32 {
    if typmod < 0 {
        6
    } else {
        typmod as u32
    }
}

impl Conv {
    /// Build the converter for a column type; `None` means Debezium drops the column.
    pub fn for_type(oid: u32, typmod: i32, reg: &TypeRegistry, cfg: &EncoderConfig) -> Option<Conv> {
        Self::for_type_depth(oid, typmod, reg, cfg, 0)
    }

    fn for_type_depth(
        oid: u32,
        typmod: i32,
        reg: &TypeRegistry,
        cfg: &EncoderConfig,
        depth: u32,
    ) -> Option<Conv> {
        if depth > 8 {
            return None;
        }
        let tp = cfg.time_precision;
        if let Some(name) = builtin_name(oid) {
            return Some(match name {
                "bool" => Conv::Bool,
                "int2" => Conv::Int16,
                "int4" => Conv::Int32,
                "int8" | "oid" => Conv::Int64,
                "float4" => Conv::Float32,
                "float8" => Conv::Float64,
                // Debezium 3.6 keeps `name` columns in the schema but writes null for their values.
                "name" if cfg.include_unknown_datatypes => Conv::Str(None),
                "name" => Conv::NullString,
                "text" | "varchar" | "bpchar" | "char" | "inet" | "cidr" | "macaddr" | "macaddr8"
                | "int4range" | "int8range" | "numrange" | "daterange" | "tsrange" | "tstzrange" => {
                    Conv::Str(None)
                }
                "json" | "jsonb" => Conv::Str(Some("io.debezium.data.Json")),
                "xml" => Conv::Str(Some("io.debezium.data.Xml")),
                "uuid" => Conv::Str(Some("io.debezium.data.Uuid")),
                "tsvector" => Conv::Str(Some("io.debezium.data.Tsvector")),
                "numeric" => match cfg.decimal {
                    DecimalMode::Precise if typmod >= 4 => {
                        let t = (typmod - 4) as u32;
                        Conv::Decimal { scale: t & 0xffff, precision: Some(t >> 16) }
                    }
                    DecimalMode::Precise => Conv::VarDecimal,
                    DecimalMode::Double => Conv::DecimalDouble,
                    DecimalMode::String if typmod >= 4 => {
                        Conv::DecimalStringScale(((typmod - 4) as u32) & 0xffff)
                    }
                    DecimalMode::String => Conv::DecimalString,
                },
                "money" => match cfg.decimal {
                    DecimalMode::Precise => {
                        Conv::Decimal { scale: cfg.money_fraction_digits, precision: None }
                    }
                    m => Conv::Money(m, cfg.money_fraction_digits),
                },
                "bytea" => Conv::Bytea(cfg.binary),
                "bit" if typmod <= 1 => Conv::Bit1,
                "bit" => Conv::Bits { length: typmod.max(1) as u32 },
                "varbit" => Conv::Bits { length: if typmod < 0 { i32::MAX as u32 } else { typmod as u32 } },
                "date" => Conv::Date(tp),
                "time" => Conv::Time { precision: time_precision(typmod), mode: tp },
                "timetz" => Conv::TimeTz,
                "timestamp" => Conv::Timestamp { precision: time_precision(typmod), mode: tp },
                "timestamptz" => Conv::TimestampTz { precision: time_precision(typmod) },
                "interval" => Conv::Interval(cfg.interval),
                "point" => Conv::Point,
                _ if cfg.include_unknown_datatypes => Conv::UnknownBytes,
                _ => return None,
            });
        }
        if let Some(elem) = builtin_array_elem(oid) {
            return Self::array_of(elem, typmod, reg, cfg, depth);
        }
        let info = reg.get(oid)?;
        match &info.kind {
            TypeKind::Enum(labels) => Some(Conv::Enum(labels.join(","))),
            TypeKind::Domain { base, typmod } => Self::for_type_depth(*base, *typmod, reg, cfg, depth + 1),
            TypeKind::Array { elem } => Self::array_of(*elem, typmod, reg, cfg, depth),
            TypeKind::Range => Some(Conv::Str(None)),
            TypeKind::Base => match info.name.as_str() {
                "citext" => Some(Conv::Str(None)),
                "ltree" => Some(Conv::Str(Some("io.debezium.data.Ltree"))),
                "hstore" => Some(Conv::Hstore(cfg.hstore)),
                name => ExtConv::for_type_name(name)
                    .map(Conv::Ext)
                    .or_else(|| cfg.include_unknown_datatypes.then_some(Conv::UnknownBytes)),
            },
            TypeKind::Other if cfg.include_unknown_datatypes => Some(Conv::UnknownBytes),
            TypeKind::Other => None,
        }
    }

    fn array_of(elem: u32, typmod: i32, reg: &TypeRegistry, cfg: &EncoderConfig, depth: u32) -> Option<Conv> {
        // Debezium has no schema for these element types and drops the column.
        if matches!(builtin_name(elem), Some("money" | "interval" | "varbit" | "xml" | "point" | "name")) {
            return None;
        }
        let inner = Self::for_type_depth(elem, typmod, reg, cfg, depth + 1)?;
        match inner {
            Conv::UnknownBytes | Conv::Array(_) => None,
            Conv::Ext(e) => e.array().map(Conv::Ext),
            inner => Some(Conv::Array(Box::new(inner))),
        }
    }

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

    /// Write the JSON value of `text`.
    pub fn write(&self, out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
        match self {
            Conv::Bool => {
                out.extend_from_slice(if text == "t" || text == "true" { b"true" } else { b"false" })
            }
            Conv::Int16 | Conv::Int32 | Conv::Int64 => {
                if text.is_empty()
                    || !text.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
                {
                    return Err("not an integer".into());
                }
                out.extend_from_slice(text.as_bytes());
            }
            Conv::Float32 => write_f32(out, parse_float32(text)?),
            Conv::Float64 => write_f64(out, parse_float(text)?),
            Conv::Str(_) | Conv::Enum(_) => write_str(out, text),
            Conv::NullString => out.extend_from_slice(b"null"),
            Conv::Decimal { .. } | Conv::VarDecimal if special_numeric(text) => {
                return Err(unrepresentable_decimal(text))
            }
            Conv::Decimal { scale, .. } => {
                let (neg, digits) = if text.starts_with('$')
                    || text.starts_with('(')
                    || text.contains(',')
                    || text.starts_with("-$")
                {
                    money_digits(text, *scale)?
                } else {
                    numeric_digits(text, *scale)?
                };
                write_b64(out, &json::twos_complement(neg, digits.as_bytes()));
            }
            Conv::VarDecimal => {
                let (neg, digits, scale) = numeric_stripped(text)?;
                out.extend_from_slice(b"{\"scale\":");
                write_int(out, scale as i64);
                out.extend_from_slice(b",\"value\":");
                write_b64(out, &json::twos_complement(neg, digits.as_bytes()));
                out.push(b'}');
            }
            Conv::DecimalDouble => match text {
                "NaN" => out.extend_from_slice(b"\"NaN\""),
                "Infinity" => out.extend_from_slice(b"\"Infinity\""),
                "-Infinity" => out.extend_from_slice(b"\"-Infinity\""),
                _ => write_f64(out, parse_float(text)?),
            },
            Conv::DecimalStringScale(scale) if !special_numeric(text) => {
                let (neg, digits) = numeric_digits(text, *scale)?;
                let d = format!("{:0>width$}", digits, width = *scale as usize + 1);
                let (i, f) = d.split_at(d.len() - *scale as usize);
                let mut v = String::with_capacity(d.len() + 2);
                if neg && d.bytes().any(|b| b != b'0') {
                    v.push('-');
                }
                v.push_str(i);
                if *scale > 0 {
                    v.push('.');
                    v.push_str(f);
                }
                write_str(out, &v)
            }
            Conv::DecimalString | Conv::DecimalStringScale(_) => match text {
                "NaN" => write_str(out, "NAN"),
                "Infinity" => write_str(out, "POSITIVE_INFINITY"),
                "-Infinity" => write_str(out, "NEGATIVE_INFINITY"),
                _ => write_str(out, text),
            },
            Conv::Money(mode, scale) => {
                let (neg, digits) = money_digits(text, *scale)?;
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                let d = format!("{:0>width$}", digits, width = *scale as usize + 1);
                let (i, f) = d.split_at(d.len() - *scale as usize);
                s.push_str(i);
                if *scale > 0 {
                    s.push('.');
                    s.push_str(f);
                }
                match mode {
                    DecimalMode::Double => write_f64(out, s.parse::<f64>().map_err(|e| e.to_string())?),
                    _ => write_str(out, &s),
                }
            }
            Conv::Bytea(mode) => {
                let data = parse_bytea(text)?;
                match mode {
                    BinaryMode::Bytes | BinaryMode::Base64 => write_b64(out, &data),
                    BinaryMode::Base64UrlSafe => write_str(out, &json::b64_string(&data, true)),
                    BinaryMode::Hex => {
                        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                        write_str(out, &hex)
                    }
                }
            }
            Conv::UnknownBytes => write_b64(out, text.as_bytes()),
            Conv::Bit1 => out.extend_from_slice(if text == "1" { b"true" } else { b"false" }),
            Conv::Bits { .. } => write_b64(out, &bits_to_bytes(text)?),
            Conv::Date(mode) => {
                let (y, m, d) = match (text, mode) {
                    ("infinity", TimePrecisionMode::IsoString) => {
                        write_str(out, instants::DATE_POS_INFINITY_ISO);
                        return Ok(());
                    }
                    ("-infinity", TimePrecisionMode::IsoString) => {
                        write_str(out, instants::DATE_NEG_INFINITY_ISO);
                        return Ok(());
                    }
                    ("infinity", _) => {
                        write_int(out, instants::DATE_POS_INFINITY_DAYS);
                        return Ok(());
                    }
                    ("-infinity", _) => {
                        write_int(out, instants::DATE_NEG_INFINITY_DAYS);
                        return Ok(());
                    }
                    _ => temporal::parse_date(text)?,
                };
                match mode {
                    TimePrecisionMode::IsoString => {
                        write_str(out, &format!("{}Z", temporal::iso_date(y, m, d)))
                    }
                    _ => write_int(out, temporal::days_from_civil(y, m, d)),
                }
            }
            Conv::Time { precision, mode } => {
                let us = temporal::parse_time_us(text)?;
                match mode {
                    TimePrecisionMode::Adaptive if *precision <= 3 => write_int(out, us / 1000),
                    TimePrecisionMode::Connect => write_int(out, us / 1000),
                    TimePrecisionMode::Nanoseconds => write_int(out, us * 1000),
                    TimePrecisionMode::IsoString => {
                        // java.time.LocalTime: 24:00 wraps to midnight, fewest fraction digits.
                        write_str(out, &format!("{}Z", temporal::iso_time(us % 86_400_000_000)))
                    }
                    _ => write_int(out, us),
                }
            }
            Conv::TimeTz => {
                let (t, off) = temporal::split_offset_time(text)?;
                if off % 60 != 0 {
                    // java.time's OffsetTime parser stops at the seconds of the offset.
                    return Err(ConvError::Invalid(
                        "a UTC offset with seconds cannot be read by Debezium (it stops on this value too)"
                            .into(),
                    ));
                }
                let us = temporal::parse_time_us(t)? - off * 1_000_000;
                let us = us.rem_euclid(86_400_000_000);
                let mut s = temporal::iso_time(us);
                s.push('Z');
                write_str(out, &s);
            }
            Conv::Timestamp { precision, mode } => {
                let t = match text {
                    "infinity" => instants::Instant::from_micros(instants::TS_POS_INFINITY_US),
                    "-infinity" => instants::Instant::from_micros(instants::TS_NEG_INFINITY_US),
                    _ => instants::parse_timestamp(text)?,
                };
                write_timestamp(out, t, *precision, *mode, text)?;
            }
            Conv::TimestampTz { precision } => match text {
                "infinity" | "-infinity" => write_str(out, text),
                _ => write_str(out, &instants::parse_timestamptz(text)?.iso_fixed(*precision as usize)),
            },
            Conv::Interval(mode) => {
                let p = temporal::parse_interval(text)?;
                if i32::try_from(p.hours).is_err() {
                    // PostgreSQL JDBC's PGInterval keeps hours in an int.
                    return Err(ConvError::Invalid(
                        "interval hours beyond 2147483647 cannot be read by Debezium (it stops on this value too)"
                            .into(),
                    ));
                }
                match mode {
                    IntervalMode::Numeric => write_int(out, p.approx_micros()),
                    IntervalMode::String => write_str(out, &p.iso_string()),
                }
            }
            Conv::Point => {
                let t = text.trim().trim_start_matches('(').trim_end_matches(')');
                let (x, y) = t.split_once(',').ok_or("not a point")?;
                let x = parse_float(x.trim())?;
                let y = parse_float(y.trim())?;
                let mut wkb = vec![1u8, 1, 0, 0, 0];
                wkb.extend_from_slice(&x.to_le_bytes());
                wkb.extend_from_slice(&y.to_le_bytes());
                out.extend_from_slice(b"{\"x\":");
                write_f64(out, x);
                out.extend_from_slice(b",\"y\":");
                write_f64(out, y);
                out.extend_from_slice(b",\"wkb\":");
                write_b64(out, &wkb);
                out.extend_from_slice(b",\"srid\":null}");
            }
            Conv::Hstore(mode) => {
                let pairs = parse_hstore(text)?;
                let mut obj = Vec::new();
                obj.push(b'{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        obj.push(b',');
                    }
                    write_str(&mut obj, k);
                    obj.push(b':');
                    match v {
                        Some(v) => write_str(&mut obj, v),
                        None => obj.extend_from_slice(b"null"),
                    }
                }
                obj.push(b'}');
                match mode {
                    HstoreMode::Map => out.extend_from_slice(&obj),
                    HstoreMode::Json => write_str(out, std::str::from_utf8(&obj).unwrap_or_default()),
                }
            }
            Conv::Array(inner) => {
                let elems = parse_array(text)?;
                write_array(out, inner, &elems)?;
            }
            Conv::Ext(e) => e.write(out, text)?,
        }
        Ok(())
    }

    /// Value Debezium substitutes for a NOT NULL column that arrived without a value.
    pub fn write_fallback(&self, out: &mut Vec<u8>) {
        match self {
            Conv::Bool | Conv::Bit1 => out.extend_from_slice(b"false"),
            Conv::Int16 | Conv::Int32 | Conv::Int64 => out.push(b'0'),
            Conv::Float32 | Conv::Float64 | Conv::DecimalDouble | Conv::Money(DecimalMode::Double, _) => {
                out.extend_from_slice(b"0.0")
            }
            Conv::Decimal { .. } => out.extend_from_slice(b"\"AA==\""),
            Conv::VarDecimal => out.extend_from_slice(b"{\"scale\":0,\"value\":\"AA==\"}"),
            Conv::Date(TimePrecisionMode::IsoString) => write_str(out, "1970-01-01"),
            Conv::Time { mode: TimePrecisionMode::IsoString, .. } => write_str(out, "00:00:00"),
            Conv::Timestamp { mode: TimePrecisionMode::IsoString, .. } => {
                write_str(out, "1970-01-01T00:00:00Z")
            }
            Conv::Date(_) | Conv::Time { .. } | Conv::Timestamp { .. } => out.push(b'0'),
            Conv::Interval(IntervalMode::Numeric) => out.push(b'0'),
            Conv::Bytea(BinaryMode::Bytes) | Conv::Bits { .. } | Conv::UnknownBytes => {
                out.extend_from_slice(b"\"\"")
            }
            Conv::Point => out.extend_from_slice(b"{\"x\":0.0,\"y\":0.0,\"wkb\":null,\"srid\":null}"),
            // A sparsevec has none: record.rs asks `Conv::fallback_refused` first and stops instead.
            Conv::Ext(e) => e.write_fallback(out).unwrap_or_default(),
            Conv::Array(_) => out.extend_from_slice(b"[]"),
            Conv::Hstore(HstoreMode::Map) => out.extend_from_slice(b"{}"),
            _ => out.extend_from_slice(b"\"\""),
        }
    }

    /// Debezium's typed placeholder for an unchanged TOAST value.
    pub fn write_placeholder(&self, out: &mut Vec<u8>, placeholder: &str) {
        match self {
            // Debezium 3.6: hex mode writes the placeholder text itself, the Base64 string modes
            // write null, bytes mode writes the placeholder's bytes.
            Conv::Bytea(BinaryMode::Hex) => write_str(out, placeholder),
            Conv::Bytea(BinaryMode::Base64 | BinaryMode::Base64UrlSafe) => out.extend_from_slice(b"null"),
            Conv::Bytea(BinaryMode::Bytes) | Conv::UnknownBytes => write_b64(out, placeholder.as_bytes()),
            Conv::Hstore(HstoreMode::Json) => {
                let p = json::quote(placeholder);
                write_str(out, &format!("{{{p}:{p}}}"))
            }
            Conv::Hstore(HstoreMode::Map) => {
                let p = json::quote(placeholder);
                out.extend_from_slice(format!("{{{p}:{p}}}").as_bytes())
            }
            Conv::Array(inner) => match **inner {
                Conv::Int16 | Conv::Int32 | Conv::Int64 | Conv::Date(_) => {
                    out.push(b'[');
                    for (i, b) in placeholder.bytes().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_int(out, b as i64);
                    }
                    out.push(b']');
                }
                Conv::Bytea(_) => {
                    out.push(b'[');
                    write_b64(out, placeholder.as_bytes());
                    out.push(b']');
                }
                _ => {
                    out.push(b'[');
                    write_str(out, placeholder);
                    out.push(b']');
                }
            },
            _ => write_str(out, placeholder),
        }
    }
}

fn parse_float32(t: &str) -> Result<f32, String> {
    match t {
        "NaN" => Ok(f32::NAN),
        "Infinity" => Ok(f32::INFINITY),
        "-Infinity" => Ok(f32::NEG_INFINITY),
        _ => t.parse::<f32>().map_err(|_| "not a number".to_string()),
    }
}

fn parse_float(t: &str) -> Result<f64, String> {
    match t {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => t.parse::<f64>().map_err(|_| "not a number".to_string()),
    }
}

/// Unscaled digits of a numeric text rescaled to `scale` (extra digits are cut, missing padded).
fn numeric_digits(text: &str, scale: u32) -> Result<(bool, String), String> {
    if matches!(text, "NaN" | "Infinity" | "-Infinity") {
        return Err(format!(
            "{text} cannot be encoded with decimal.handling.mode=precise (Debezium fails here too); use \
             decimal.handling.mode=double or string"
        ));
    }
    let neg = text.starts_with('-');
    let t = text.trim_start_matches(['-', '+']);
    let (i, f) = t.split_once('.').unwrap_or((t, ""));
    if !i.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number".into());
    }
    let mut digits = String::with_capacity(i.len() + scale as usize);
    digits.push_str(i);
    let f: String = f.chars().take(scale as usize).collect();
    digits.push_str(&f);
    for _ in f.len()..scale as usize {
        digits.push('0');
    }
    Ok((neg, digits))
}

/// Digits and scale of a numeric text with trailing fractional zeros removed.
fn numeric_stripped(text: &str) -> Result<(bool, String, u32), String> {
    if matches!(text, "NaN" | "Infinity" | "-Infinity") {
        return Err(format!(
            "{text} cannot be encoded with decimal.handling.mode=precise; use decimal.handling.mode=double or string"
        ));
    }
    let neg = text.starts_with('-');
    let t = text.trim_start_matches(['-', '+']);
    let (i, f) = t.split_once('.').unwrap_or((t, ""));
    let f = f.trim_end_matches('0');
    if !i.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number".into());
    }
    Ok((neg, format!("{i}{f}"), f.len() as u32))
}

/// Money text (`$1,234.11`, `-$1,234.11`, `($1,234.11)`) to unscaled digits.
fn money_digits(text: &str, scale: u32) -> Result<(bool, String), String> {
    let neg = text.starts_with('-') || text.starts_with('(');
    let cleaned: String = text.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
    if cleaned.is_empty() {
        return Err("not a money amount".into());
    }
    let (_, digits) = numeric_digits(&cleaned, scale)?;
    Ok((neg, digits))
}

/// `\x0102` hex bytea text (or the legacy escape format) to bytes.
pub fn parse_bytea(text: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = text.strip_prefix("\\x") {
        if hex.len() % 2 != 0 {
            return Err("odd hex length".into());
        }
        let h = hex.as_bytes();
        let val = |c: u8| -> Result<u8, String> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err("bad hex digit".into()),
            }
        };
        let mut out = Vec::with_capacity(h.len() / 2);
        for pair in h.chunks(2) {
            out.push(val(pair[0])? << 4 | val(pair[1])?);
        }
        return Ok(out);
    }
    // escape format
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else if i + 3 < b.len() {
                let o = std::str::from_utf8(&b[i + 1..i + 4]).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(o, 8).map_err(|e| e.to_string())?);
                i += 4;
            } else {
                return Err("bad bytea escape".into());
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Bit string (`1010`) to Debezium's little-endian byte packing of its numeric value.
fn bits_to_bytes(text: &str) -> Result<Vec<u8>, String> {
    let n = text.len();
    let mut out = vec![0u8; n.div_ceil(8)];
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'1' => {
                let bit = n - 1 - i;
                out[bit / 8] |= 1 << (bit % 8);
            }
            b'0' => {}
            _ => return Err("not a bit string".into()),
        }
    }
    // java.util.BitSet.toByteArray: no trailing zero bytes, so all-zero bits are no bytes at all.
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}

/// A parsed array element: NULL, a scalar text, or a nested array.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayElem {
    /// NULL
    Null,
    /// Element text.
    Text(String),
    /// Sub-array (multi-dimensional arrays).
    Nested(Vec<ArrayElem>),
}

/// Parse a PostgreSQL array literal (`{1,2,NULL}`, `{"a b","c\"d"}`, `{{1,2},{3,4}}`, with an
/// optional `[1:2]=` dimension prefix).
pub fn parse_array(text: &str) -> Result<Vec<ArrayElem>, String> {
    parse_array_delim(text, b',')
}

/// [`parse_array`] for an element type declared with another delimiter (PostGIS: `:`).
pub fn parse_array_delim(text: &str, delim: u8) -> Result<Vec<ArrayElem>, String> {
    let t = match text.find("={") {
        Some(p) if text.starts_with('[') => &text[p + 1..],
        _ => text,
    };
    let b = t.as_bytes();
    let mut pos = 0;
    let v = parse_array_level(b, &mut pos, delim)?;
    Ok(v)
}

fn parse_array_level(b: &[u8], pos: &mut usize, delim: u8) -> Result<Vec<ArrayElem>, String> {
    if b.get(*pos) != Some(&b'{') {
        return Err("array literal must start with {".into());
    }
    *pos += 1;
    let mut out = Vec::new();
    if b.get(*pos) == Some(&b'}') {
        *pos += 1;
        return Ok(out);
    }
    loop {
        match b.get(*pos) {
            Some(b'{') => out.push(ArrayElem::Nested(parse_array_level(b, pos, delim)?)),
            Some(b'"') => {
                *pos += 1;
                let mut s = Vec::new();
                loop {
                    match b.get(*pos) {
                        Some(b'\\') => {
                            s.push(*b.get(*pos + 1).ok_or("unterminated escape")?);
                            *pos += 2;
                        }
                        Some(b'"') => {
                            *pos += 1;
                            break;
                        }
                        Some(&c) => {
                            s.push(c);
                            *pos += 1;
                        }
                        None => return Err("unterminated quoted element".into()),
                    }
                }
                out.push(ArrayElem::Text(String::from_utf8(s).map_err(|e| e.to_string())?));
            }
            Some(_) => {
                let start = *pos;
                while let Some(&c) = b.get(*pos) {
                    if c == delim || c == b'}' {
                        break;
                    }
                    *pos += 1;
                }
                let raw = std::str::from_utf8(&b[start..*pos]).map_err(|e| e.to_string())?.trim();
                if raw.eq_ignore_ascii_case("NULL") {
                    out.push(ArrayElem::Null);
                } else {
                    out.push(ArrayElem::Text(raw.to_string()));
                }
            }
            None => return Err("unterminated array".into()),
        }
        match b.get(*pos) {
            Some(&c) if c == delim => *pos += 1,
            Some(b'}') => {
                *pos += 1;
                return Ok(out);
            }
            _ => return Err("expected , or } in array".into()),
        }
    }
}

fn write_array(out: &mut Vec<u8>, inner: &Conv, elems: &[ArrayElem]) -> Result<(), ConvError> {
    // Debezium reads numeric[] through java.math.BigDecimal, which has no NaN or infinities: the
    // whole array becomes null in every decimal.handling.mode.
    if matches!(
        inner,
        Conv::Decimal { .. }
            | Conv::VarDecimal
            | Conv::DecimalDouble
            | Conv::DecimalString
            | Conv::DecimalStringScale(_)
    ) && elems.iter().any(|e| matches!(e, ArrayElem::Text(t) if special_numeric(t)))
    {
        return Err(ConvError::Unrepresentable(
            "a numeric array holding NaN or ±Infinity (Debezium writes null)".into(),
        ));
    }
    out.push(b'[');
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match e {
            ArrayElem::Null => out.extend_from_slice(b"null"),
            ArrayElem::Text(t) => write_array_elem(out, inner, t)?,
            // Debezium writes each sub-array of a multi-dimensional array as null.
            ArrayElem::Nested(_) => out.extend_from_slice(b"null"),
        }
    }
    out.push(b']');
    Ok(())
}

/// Parse hstore text (`"a"=>"1", "b"=>NULL`).
pub fn parse_hstore(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let quoted = |i: &mut usize| -> Result<String, String> {
        if b.get(*i) != Some(&b'"') {
            return Err("expected quoted hstore string".into());
        }
        *i += 1;
        let mut s = Vec::new();
        loop {
            match b.get(*i) {
                Some(b'\\') => {
                    s.push(*b.get(*i + 1).ok_or("bad escape")?);
                    *i += 2;
                }
                Some(b'"') => {
                    *i += 1;
                    break;
                }
                Some(&c) => {
                    s.push(c);
                    *i += 1;
                }
                None => return Err("unterminated hstore string".into()),
            }
        }
        String::from_utf8(s).map_err(|e| e.to_string())
    };
    loop {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace() || *c == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let k = quoted(&mut i)?;
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if b.get(i..i + 2) != Some(b"=>") {
            return Err("expected =>".into());
        }
        i += 2;
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let v = if b.get(i..i + 4) == Some(b"NULL") {
            i += 4;
            None
        } else {
            Some(quoted(&mut i)?)
        };
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(c: &Conv, t: &str) -> String {
        let mut o = Vec::new();
        c.write(&mut o, t).unwrap();
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn decimals() {
        let d = Conv::Decimal { scale: 2, precision: Some(10) };
        assert_eq!(w(&d, "1234.11"), "\"AeIT\"");
        assert_eq!(w(&d, "-1234.11"), "\"/h3t\"");
        assert_eq!(w(&Conv::Decimal { scale: 2, precision: Some(3) }, "1.1"), "\"bg==\"");
        assert_eq!(w(&Conv::VarDecimal, "10.10"), "{\"scale\":1,\"value\":\"ZQ==\"}");
        assert_eq!(w(&Conv::VarDecimal, "10.1111"), "{\"scale\":4,\"value\":\"AYr3\"}");
        let m = Conv::Decimal { scale: 2, precision: None };
        assert_eq!(w(&m, "$1,234.11"), "\"AeIT\"");
        assert_eq!(w(&m, "-$1,234.11"), "\"/h3t\"");
        assert_eq!(w(&Conv::DecimalString, "NaN"), "\"NAN\"");
        assert!(Conv::VarDecimal.write(&mut Vec::new(), "NaN").is_err());
    }

    #[test]
    fn bits_bytes_and_points() {
        assert_eq!(w(&Conv::Bits { length: 2 }, "11"), "\"Aw==\"");
        assert_eq!(w(&Conv::Bits { length: 7 }, "1000000"), "\"QA==\"");
        assert_eq!(w(&Conv::Bits { length: 3 }, "101"), "\"BQ==\"");
        assert_eq!(w(&Conv::Bytea(BinaryMode::Bytes), "\\x010203"), "\"AQID\"");
        assert_eq!(w(&Conv::Bytea(BinaryMode::Hex), "\\x010203"), "\"010203\"");
        assert_eq!(
            w(&Conv::Point, "(1,1)"),
            "{\"x\":1.0,\"y\":1.0,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAPA/\",\"srid\":null}"
        );
    }

    #[test]
    fn temporals() {
        let mode = TimePrecisionMode::Adaptive;
        assert_eq!(w(&Conv::Date(mode), "2024-01-15"), "19737");
        assert_eq!(w(&Conv::Time { precision: 3, mode }, "13:51:30.123"), "49890123");
        assert_eq!(w(&Conv::Time { precision: 6, mode }, "13:51:30"), "49890000000");
        assert_eq!(w(&Conv::TimeTz, "13:51:30.123789+02"), "\"11:51:30.123789Z\"");
        assert_eq!(
            w(&Conv::TimestampTz { precision: 6 }, "2024-01-15 08:30:00.123456+00"),
            "\"2024-01-15T08:30:00.123456Z\""
        );
        assert_eq!(w(&Conv::Interval(IntervalMode::Numeric), "P1M"), "2629800000000");
    }

    #[test]
    fn arrays_and_hstore() {
        let a = Conv::Array(Box::new(Conv::Str(None)));
        assert_eq!(w(&a, r#"{a,"b c","d\"e",NULL}"#), r#"["a","b c","d\"e",null]"#);
        let i = Conv::Array(Box::new(Conv::Int32));
        assert_eq!(w(&i, "{{1,2},{3,4}}"), "[null,null]", "Debezium 3.6 nulls nested arrays");
        assert_eq!(w(&i, "[0:1]={1,2}"), "[1,2]");
        assert_eq!(w(&i, "{}"), "[]");
        assert_eq!(
            w(&Conv::Hstore(HstoreMode::Json), r#""key"=>"val", "n"=>NULL"#),
            r#""{\"key\":\"val\",\"n\":null}""#
        );
    }
}

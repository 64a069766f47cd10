//! Per-column converters: the Connect schema a column gets and how its PostgreSQL text becomes the
//! JSON value Debezium writes, for every handling mode.
//!
//! [`Conv::for_type`] maps a column type (OID, type modifier, the registry's enums, domains, arrays
//! and extension names) to one [`Conv`] when a table's plan is built; [`Conv::write`] then only
//! dispatches on it. The value code is split by type family, each module with the parsing of
//! PostgreSQL's text that family needs:
//!
//! - [`numeric`]: floats, `numeric` under every `decimal.handling.mode`, `money`;
//! - [`datetime`]: scalar dates, times, timestamps and intervals;
//! - [`binary`]: `bytea`, `bit`/`varbit`;
//! - [`array`]: array literals and arrays of any element converter;
//! - [`hstore`], [`point`]: those two types;
//! - [`schema`]: the Connect schema of every converter, in one table;
//! - [`substitutes`]: the NOT NULL fallback and the unchanged-TOAST placeholder of every converter.
//!
//! Extension types (PostGIS, pgvector) are [`Conv::Ext`] and live in [`crate::extension_types`].
//!
//! Invariant (the crate's): a value that cannot be converted is a [`ConvError`], never a panic.

mod array;
mod binary;
mod datetime;
mod hstore;
mod numeric;
mod point;
mod schema;
mod substitutes;

pub use array::{parse_array_delim, ArrayElem};

use crate::config::{BinaryMode, DecimalMode, EncoderConfig, HstoreMode, IntervalMode, TimePrecisionMode};
use crate::extension_types::ExtConv;
use crate::json::{write_b64, write_f32, write_f64, write_str};
use crate::types::{builtin_array_elem, builtin_name, TypeKind, TypeRegistry};
use array::{parse_array, write_array};
use binary::bits_to_bytes;
use numeric::{parse_float, parse_float32, special_numeric, unrepresentable_decimal};

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
            Conv::Decimal { scale, .. } => numeric::write_decimal(out, *scale, text)?,
            Conv::VarDecimal => numeric::write_var_decimal(out, text)?,
            Conv::DecimalDouble => numeric::write_decimal_double(out, text)?,
            Conv::DecimalStringScale(scale) if !special_numeric(text) => {
                numeric::write_decimal_string_scaled(out, *scale, text)?
            }
            Conv::DecimalString | Conv::DecimalStringScale(_) => numeric::write_decimal_string(out, text),
            Conv::Money(mode, scale) => numeric::write_money(out, *mode, *scale, text)?,
            Conv::Bytea(mode) => binary::write_bytea(out, *mode, text)?,
            Conv::UnknownBytes => write_b64(out, text.as_bytes()),
            Conv::Bit1 => out.extend_from_slice(if text == "1" { b"true" } else { b"false" }),
            Conv::Bits { .. } => write_b64(out, &bits_to_bytes(text)?),
            Conv::Date(mode) => datetime::write_date(out, *mode, text)?,
            Conv::Time { precision, mode } => datetime::write_time(out, *precision, *mode, text)?,
            Conv::TimeTz => datetime::write_timetz(out, text)?,
            Conv::Timestamp { precision, mode } => {
                datetime::write_timestamp_text(out, *precision, *mode, text)?
            }
            Conv::TimestampTz { precision } => datetime::write_timestamptz(out, *precision, text)?,
            Conv::Interval(mode) => datetime::write_interval(out, *mode, text)?,
            Conv::Point => point::write_point(out, text)?,
            Conv::Hstore(mode) => hstore::write_hstore(out, *mode, text)?,
            Conv::Array(inner) => {
                let elems = parse_array(text)?;
                write_array(out, inner, &elems)?;
            }
            Conv::Ext(e) => e.write(out, text)?,
        }
        Ok(())
    }
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

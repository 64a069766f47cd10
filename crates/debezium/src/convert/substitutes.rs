//! Values Debezium writes in place of a value it did not get: the fallback for a NOT NULL column that
//! arrived without one (a delete's key-only old row), and the typed placeholder for an unchanged TOAST
//! value (`unavailable.value.placeholder`).
//!
//! Invariant: both are total for every converter except the extension types that have none, which
//! the record writer asks first ([`Conv::fallback_refused`], [`Conv::toast_refused`]) and stops on.

use super::Conv;
use crate::config::{BinaryMode, DecimalMode, HstoreMode, IntervalMode, TimePrecisionMode};
use crate::json::{self, write_b64, write_int, write_str};

impl Conv {
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
            // A sparsevec has none: the record writer asks `Conv::fallback_refused` first and stops instead.
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

//! Numbers: `float4`/`float8` text (with PostgreSQL's `NaN`/`±Infinity` spellings), `numeric` under
//! every `decimal.handling.mode` (Connect `Decimal` bytes, `VariableScaleDecimal`, double, string) and
//! `money` (read through its locale-formatted text).
//!
//! Invariants: unscaled digits are rescaled to the scale the converter was built with (extra
//! fractional digits cut, missing ones padded); NaN and ±Infinity never reach a `Decimal` (the
//! dispatch in [`super::Conv::write`] turns them into [`ConvError::Unrepresentable`] first); text that
//! is no number is [`ConvError::Invalid`], never a panic.

use super::ConvError;
use crate::config::DecimalMode;
use crate::json::{self, write_b64, write_f64, write_int, write_str};

pub(super) fn special_numeric(text: &str) -> bool {
    matches!(text, "NaN" | "Infinity" | "-Infinity")
}

pub(super) fn unrepresentable_decimal(text: &str) -> ConvError {
    ConvError::Unrepresentable(format!(
        "{text} cannot be encoded with decimal.handling.mode=precise (Debezium writes null in a value and \
         stops on a key here); use decimal.handling.mode=string or double"
    ))
}

/// `numeric(p,s)` or `money` in precise mode: the unscaled value at `scale`, two's complement, Base64.
pub(super) fn write_decimal(out: &mut Vec<u8>, scale: u32, text: &str) -> Result<(), ConvError> {
    let (neg, digits) =
        if text.starts_with('$') || text.starts_with('(') || text.contains(',') || text.starts_with("-$") {
            money_digits(text, scale)?
        } else {
            numeric_digits(text, scale)?
        };
    write_b64(out, &json::twos_complement(neg, digits.as_bytes()));
    Ok(())
}

/// `numeric` without a scale in precise mode: `VariableScaleDecimal` {scale, value}.
pub(super) fn write_var_decimal(out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
    let (neg, digits, scale) = numeric_stripped(text)?;
    out.extend_from_slice(b"{\"scale\":");
    write_int(out, scale as i64);
    out.extend_from_slice(b",\"value\":");
    write_b64(out, &json::twos_complement(neg, digits.as_bytes()));
    out.push(b'}');
    Ok(())
}

/// `numeric` in double mode; NaN and ±Infinity are strings, as Debezium writes them.
pub(super) fn write_decimal_double(out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
    match text {
        "NaN" => out.extend_from_slice(b"\"NaN\""),
        "Infinity" => out.extend_from_slice(b"\"Infinity\""),
        "-Infinity" => out.extend_from_slice(b"\"-Infinity\""),
        _ => write_f64(out, parse_float(text)?),
    }
    Ok(())
}

/// `numeric(p,s)` in string mode: rescaled to the column's scale.
pub(super) fn write_decimal_string_scaled(
    out: &mut Vec<u8>,
    scale: u32,
    text: &str,
) -> Result<(), ConvError> {
    let (neg, digits) = numeric_digits(text, scale)?;
    let d = format!("{:0>width$}", digits, width = scale as usize + 1);
    let (i, f) = d.split_at(d.len() - scale as usize);
    let mut v = String::with_capacity(d.len() + 2);
    if neg && d.bytes().any(|b| b != b'0') {
        v.push('-');
    }
    v.push_str(i);
    if scale > 0 {
        v.push('.');
        v.push_str(f);
    }
    write_str(out, &v);
    Ok(())
}

/// `numeric` in string mode (and NaN/±Infinity of `numeric(p,s)`), Java's names for the specials.
pub(super) fn write_decimal_string(out: &mut Vec<u8>, text: &str) {
    match text {
        "NaN" => write_str(out, "NAN"),
        "Infinity" => write_str(out, "POSITIVE_INFINITY"),
        "-Infinity" => write_str(out, "NEGATIVE_INFINITY"),
        _ => write_str(out, text),
    }
}

/// `money` in double or string mode.
pub(super) fn write_money(
    out: &mut Vec<u8>,
    mode: DecimalMode,
    scale: u32,
    text: &str,
) -> Result<(), ConvError> {
    let (neg, digits) = money_digits(text, scale)?;
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let d = format!("{:0>width$}", digits, width = scale as usize + 1);
    let (i, f) = d.split_at(d.len() - scale as usize);
    s.push_str(i);
    if scale > 0 {
        s.push('.');
        s.push_str(f);
    }
    match mode {
        DecimalMode::Double => write_f64(out, s.parse::<f64>().map_err(|e| e.to_string())?),
        _ => write_str(out, &s),
    }
    Ok(())
}

pub(super) fn parse_float32(t: &str) -> Result<f32, String> {
    match t {
        "NaN" => Ok(f32::NAN),
        "Infinity" => Ok(f32::INFINITY),
        "-Infinity" => Ok(f32::NEG_INFINITY),
        _ => t.parse::<f32>().map_err(|_| "not a number".to_string()),
    }
}

pub(super) fn parse_float(t: &str) -> Result<f64, String> {
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

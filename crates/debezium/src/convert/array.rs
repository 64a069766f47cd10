//! Arrays: PostgreSQL's array literal (`{1,2,NULL}`, quoted elements, nested dimensions, an optional
//! `[1:2]=` bounds prefix, any element delimiter) and the JSON array Debezium writes for it.
//!
//! Invariants, as Debezium 3.6 behaves: each sub-array of a multi-dimensional array is written as null;
//! a numeric array holding NaN or ±Infinity is [`ConvError::Unrepresentable`] as a whole (Java's
//! `BigDecimal` has no such values); elements are written by the element's converter, temporal ones
//! through [`crate::array_temporal`].

use super::{numeric::special_numeric, Conv, ConvError};
use crate::array_temporal::write_array_elem;

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

pub(super) fn write_array(out: &mut Vec<u8>, inner: &Conv, elems: &[ArrayElem]) -> Result<(), ConvError> {
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

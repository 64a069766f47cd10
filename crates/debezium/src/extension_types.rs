//! PostGIS `geometry`/`geography` and pgvector `vector`/`halfvec`/`sparsevec` (and arrays of them),
//! written as the Debezium 3.6.3 PostgreSQL connector writes them.
//!
//! Why a module of its own: extension types have no fixed OIDs. Debezium recognises them by type
//! name alone (whatever schema the extension was created in), and so does tidemark: the catalog
//! registers each non-built-in type with its name ([`crate::TypeRegistry`]), and
//! [`ExtConv::for_type_name`] maps the names. Everything about these types lives here; the
//! [`crate::convert`], [`crate::plan`] and [`crate::record`] modules only forward to it.
//!
//! What the connector writes (verified by the `extensions` and `extensions_fail` golden sets, see
//! `docs/compatibility.md`):
//! - geometry: struct `io.debezium.data.geometry.Geometry` {wkb, srid}; `wkb` is the value's EWKB
//!   exactly as PostgreSQL prints it in hex (SRID flag and Z/M flags kept), `srid` the EWKB's SRID or
//!   null. The struct schema is optional even for NOT NULL and key columns. geography: the same with
//!   `io.debezium.data.geometry.Geography`, optional as the column is. Arrays: PostGIS separates
//!   elements with `:`; NULL elements are null, each sub-array of a multi-dimensional array is null.
//! - vector: `io.debezium.data.DoubleVector` (array of double), halfvec: `io.debezium.data.FloatVector`
//!   (array of float, Java `Float.toString` digits), sparsevec: struct `io.debezium.data.SparseDoubleVector`
//!   {dimensions int16, vector map<int16, double>}, the map written as `[[index, value], ...]` in Java
//!   `HashMap` order ([`crate::java_hashmap`]).
//! - Values the connector's converter cannot express become null in a nullable field and stop the
//!   change where the field is required or a key ([`ConvError::Unrepresentable`]): a sparsevec index or
//!   dimension beyond a Java short; a vector array with a NULL element or more than one dimension; a
//!   non-empty sparsevec array; an unchanged TOAST value (the placeholder is no geometry or vector).
//!   A NOT NULL column without a value (a delete under REPLICA IDENTITY DEFAULT) gets an empty
//!   GEOMETRYCOLLECTION for geometry/geography and `[]` for vectors; a sparsevec has none, and the
//!   change stops.
//!
//! Invariants: no schema default is ever written for these types (Debezium has no default-value
//! parser for them); text PostgreSQL cannot have produced (bad hex, a vector without brackets) is an
//! [`ConvError::Invalid`] naming what is wrong, never a panic.

use crate::convert::{parse_array_delim, ArrayElem, Conv, ConvError};
use crate::java_hashmap::JavaShortMap;
use crate::json::{write_b64, write_f32, write_f64, write_int};

/// One extension type (or an array of one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtConv {
    /// PostGIS `geometry`.
    Geometry,
    /// PostGIS `geography`.
    Geography,
    /// pgvector `vector`.
    Vector,
    /// pgvector `halfvec`.
    HalfVector,
    /// pgvector `sparsevec`.
    SparseVector,
    /// A one-dimensional array of one of the above.
    Array(Box<ExtConv>),
}

const GEOMETRY_FIELDS: &str = "{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":false,\"field\":\"wkb\"},{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}]";
const SPARSE_FIELDS: &str = "{\"type\":\"struct\",\"fields\":[{\"type\":\"int16\",\"optional\":false,\"field\":\"dimensions\"},{\"type\":\"map\",\"keys\":{\"type\":\"int16\",\"optional\":false},\"values\":{\"type\":\"double\",\"optional\":false},\"optional\":false,\"field\":\"vector\"}]";
/// `PostgisGeometry.createEmpty()`: GEOMETRYCOLLECTION EMPTY, no SRID.
const EMPTY_GEOMETRY: &[u8] = b"{\"wkb\":\"AQcAAAAAAAAA\",\"srid\":null}";

impl ExtConv {
    /// The converter for a type name Debezium maps (any schema), if it is one.
    pub fn for_type_name(name: &str) -> Option<ExtConv> {
        Some(match name {
            "geometry" => ExtConv::Geometry,
            "geography" => ExtConv::Geography,
            "vector" => ExtConv::Vector,
            "halfvec" => ExtConv::HalfVector,
            "sparsevec" => ExtConv::SparseVector,
            _ => return None,
        })
    }

    /// The converter for an array of this type.
    pub fn array(self) -> Option<ExtConv> {
        match self {
            ExtConv::Array(_) => None,
            e => Some(ExtConv::Array(Box::new(e))),
        }
    }

    /// Whether the Connect schema lets the field be null (Geometry's schema is always optional).
    pub fn null_allowed(&self, column_optional: bool) -> bool {
        matches!(self, ExtConv::Geometry) || column_optional
    }

    /// Connect schema JSON without the trailing `"field"` key and closing brace.
    pub fn schema_open(&self, optional: bool) -> String {
        let optional = self.null_allowed(optional);
        match self {
            ExtConv::Geometry => format!(
                "{GEOMETRY_FIELDS},\"optional\":{optional},\"name\":\"io.debezium.data.geometry.Geometry\",\"version\":1,\"doc\":\"Geometry\""
            ),
            ExtConv::Geography => format!(
                "{GEOMETRY_FIELDS},\"optional\":{optional},\"name\":\"io.debezium.data.geometry.Geography\",\"version\":1,\"doc\":\"Geography\""
            ),
            ExtConv::Vector => format!(
                "{{\"type\":\"array\",\"items\":{{\"type\":\"double\",\"optional\":false}},\"optional\":{optional},\"name\":\"io.debezium.data.DoubleVector\",\"version\":1"
            ),
            ExtConv::HalfVector => format!(
                "{{\"type\":\"array\",\"items\":{{\"type\":\"float\",\"optional\":false}},\"optional\":{optional},\"name\":\"io.debezium.data.FloatVector\",\"version\":1"
            ),
            ExtConv::SparseVector => format!(
                "{SPARSE_FIELDS},\"optional\":{optional},\"name\":\"io.debezium.data.SparseDoubleVector\",\"version\":1,\"doc\":\"Sparse double vector\""
            ),
            ExtConv::Array(inner) => {
                // PostGIS element schemas are optional; pgvector's are not (hence the nulls above).
                let items_optional = matches!(**inner, ExtConv::Geometry | ExtConv::Geography);
                format!("{{\"type\":\"array\",\"items\":{}}},\"optional\":{optional}", inner.schema_open(items_optional))
            }
        }
    }

    /// Write the JSON value of PostgreSQL's text output for this type.
    pub fn write(&self, out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
        match self {
            ExtConv::Geometry | ExtConv::Geography => write_geometry(out, text),
            ExtConv::Vector => write_vector(out, text, false),
            ExtConv::HalfVector => write_vector(out, text, true),
            ExtConv::SparseVector => write_sparse(out, text),
            ExtConv::Array(inner) => write_array(out, inner, text),
        }
    }

    /// Debezium's value for a NOT NULL column that arrived without one; `Err` when it has none and
    /// stops the change instead.
    pub fn write_fallback(&self, out: &mut Vec<u8>) -> Result<(), ConvError> {
        match self {
            ExtConv::Geometry | ExtConv::Geography => out.extend_from_slice(EMPTY_GEOMETRY),
            ExtConv::Vector | ExtConv::HalfVector | ExtConv::Array(_) => out.extend_from_slice(b"[]"),
            ExtConv::SparseVector => {
                return Err(ConvError::Unrepresentable(
                    "a NOT NULL sparsevec column without a value (a delete under REPLICA IDENTITY DEFAULT) has no \
                     fallback Debezium can write (it stops on this change too); REPLICA IDENTITY FULL sends the value"
                        .into(),
                ))
            }
        }
        Ok(())
    }

    /// Why an unchanged TOAST value cannot be written: Debezium's converter cannot turn its placeholder
    /// into this type and leaves the field null (or stops where the field is required).
    pub fn toast_reason(&self) -> ConvError {
        ConvError::Unrepresentable(
            "an unchanged TOAST value of this type has no placeholder Debezium can write (null where the field \
             may be null; it stops here otherwise); REPLICA IDENTITY FULL sends the value"
                .into(),
        )
    }
}

/// The hooks the record writer ([`crate::record`]) asks before writing a column (no-ops for every
/// other converter).
impl Conv {
    /// Whether a value the converter cannot express may be written as null: the field's schema is
    /// optional. Other converters keep their behaviour (null in any value field).
    pub(crate) fn null_allowed(&self, column_optional: bool) -> bool {
        match self {
            Conv::Ext(e) => e.null_allowed(column_optional),
            _ => true,
        }
    }

    /// Why a NOT NULL column without a value has no fallback, if it has none.
    pub(crate) fn fallback_refused(&self) -> Option<ConvError> {
        match self {
            Conv::Ext(e) => e.write_fallback(&mut Vec::new()).err(),
            _ => None,
        }
    }

    /// Why an unchanged TOAST value cannot be written as the placeholder, if it cannot.
    pub(crate) fn toast_refused(&self) -> Option<ConvError> {
        match self {
            Conv::Ext(e) => Some(e.toast_reason()),
            _ => None,
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex EWKB (PostGIS text output) to bytes.
fn parse_hex(text: &str) -> Result<Vec<u8>, ConvError> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(ConvError::Invalid("hex EWKB of odd length".into()));
    }
    b.chunks(2)
        .map(|p| match (hex_val(p[0]), hex_val(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(ConvError::Invalid("not hex EWKB (PostGIS text output)".into())),
        })
        .collect()
}

/// `PostgisGeometry.parseSrid`: the SRID after the type word when its 0x20000000 flag is set.
fn ewkb_srid(ewkb: &[u8]) -> Result<Option<i32>, ConvError> {
    if ewkb.len() < 9 {
        return Err(ConvError::Invalid(format!("EWKB of {} bytes is shorter than 9", ewkb.len())));
    }
    let word = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if ewkb[0] != 0 {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let ty = word(&ewkb[1..5]);
    Ok((ty & 0x2000_0000 != 0).then(|| word(&ewkb[5..9]) as i32))
}

fn write_geometry(out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
    let ewkb = parse_hex(text)?;
    let srid = ewkb_srid(&ewkb)?;
    out.extend_from_slice(b"{\"wkb\":");
    write_b64(out, &ewkb);
    out.extend_from_slice(b",\"srid\":");
    match srid {
        Some(s) => write_int(out, s as i64),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(())
}

/// Java's `String.split(",")`: trailing empty strings are dropped.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// `[1,2.5,-3]` (`Vectors.fromVectorString`): each element through `Double.parseDouble` (vector) or
/// `Float.parseFloat` (halfvec), then Java's `toString`.
fn write_vector(out: &mut Vec<u8>, text: &str, half: bool) -> Result<(), ConvError> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| ConvError::Invalid("a vector must look like [x,y,...]".into()))?;
    out.push(b'[');
    for (i, e) in java_split(inner, ',').into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let e = e.trim();
        let bad = || ConvError::Invalid(format!("vector element {e:?} is not a number"));
        if !is_decimal(e) {
            return Err(bad());
        }
        if half {
            write_f32(out, e.parse::<f32>().map_err(|_| bad())?);
        } else {
            write_f64(out, e.parse::<f64>().map_err(|_| bad())?);
        }
    }
    out.push(b']');
    Ok(())
}

/// A decimal number as pgvector prints it (what `Double.parseDouble` and Rust's parser agree on).
fn is_decimal(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// `Short.parseShort`: out of range is [`ConvError::Unrepresentable`] (Debezium's converter gives up).
fn java_short(s: &str, what: &str) -> Result<i16, ConvError> {
    use std::num::IntErrorKind::{NegOverflow, PosOverflow};
    s.parse::<i16>().map_err(|e| match e.kind() {
        PosOverflow | NegOverflow => ConvError::Unrepresentable(format!(
            "sparsevec {what} {s} does not fit a Java short (Debezium writes null, and stops on a key)"
        )),
        _ => ConvError::Invalid(format!("sparsevec {what} {s:?} is not an integer")),
    })
}

/// `{1:1.5,3:2}/5` (`Vectors.fromSparseVectorString`).
fn write_sparse(out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
    let malformed = || ConvError::Invalid("a sparsevec must look like {i:x,...}/dimensions".into());
    let parts = java_split(text.trim(), '/');
    let [elems, dims] = parts[..] else { return Err(malformed()) };
    let elems = elems.trim();
    let dimensions = java_short(dims.trim(), "dimensions")?;
    let inner = elems.strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or_else(malformed)?.trim();
    let entries = if inner.is_empty() {
        Vec::new()
    } else {
        let items = java_split(inner, ',');
        let mut map = JavaShortMap::with_capacity(items.len());
        for item in items {
            let kv = java_split(item, ':');
            let [k, v] = kv[..] else { return Err(malformed()) };
            let v = v.trim();
            if !is_decimal(v) {
                return Err(ConvError::Invalid(format!("sparsevec value {v:?} is not a number")));
            }
            let value = v.parse::<f64>().map_err(|_| malformed())?;
            map.put(java_short(k.trim(), "index")?, value);
        }
        map.entries()
    };
    out.extend_from_slice(b"{\"dimensions\":");
    write_int(out, dimensions as i64);
    out.extend_from_slice(b",\"vector\":[");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        write_int(out, k as i64);
        out.push(b',');
        write_f64(out, v);
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

fn write_array(out: &mut Vec<u8>, inner: &ExtConv, text: &str) -> Result<(), ConvError> {
    let geo = matches!(inner, ExtConv::Geometry | ExtConv::Geography);
    // PostGIS types are declared with DELIMITER ':'.
    let elems = parse_array_delim(text, if geo { b':' } else { b',' })?;
    if !geo && !elems.is_empty() {
        // pgvector element schemas are required: a NULL element (or a sub-array, which Debezium's
        // element converter turns into null) fails the array; a sparsevec element's struct never
        // matches the array's element schema.
        if matches!(inner, ExtConv::SparseVector) {
            return Err(ConvError::Unrepresentable(
                "a non-empty sparsevec array (Debezium writes null: its element schema does not match)"
                    .into(),
            ));
        }
        if elems.iter().any(|e| !matches!(e, ArrayElem::Text(_))) {
            return Err(ConvError::Unrepresentable(
                "a vector array with a NULL element or more than one dimension (Debezium writes null)".into(),
            ));
        }
    }
    out.push(b'[');
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match e {
            ArrayElem::Text(t) => inner.write(out, t)?,
            // NULL elements and the sub-arrays of a multi-dimensional array are null.
            ArrayElem::Null | ArrayElem::Nested(_) => out.extend_from_slice(b"null"),
        }
    }
    out.push(b']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(c: &ExtConv, t: &str) -> String {
        let mut o = Vec::new();
        c.write(&mut o, t).unwrap();
        String::from_utf8(o).unwrap()
    }

    fn err(c: &ExtConv, t: &str) -> ConvError {
        c.write(&mut Vec::new(), t).unwrap_err()
    }

    #[test]
    fn geometry_keeps_ewkb_and_reads_srid() {
        assert_eq!(
            w(&ExtConv::Geometry, "0101000000000000000000F03F0000000000000040"),
            r#"{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null}"#
        );
        assert_eq!(
            w(&ExtConv::Geography, "0101000020E6100000000000000000F03F0000000000000040"),
            r#"{"wkb":"AQEAACDmEAAAAAAAAAAA8D8AAAAAAAAAQA==","srid":4326}"#
        );
        // Big-endian EWKB with SRID 3857.
        assert_eq!(
            w(&ExtConv::Geometry, "002000000100000F113FF00000000000004000000000000000"),
            r#"{"wkb":"ACAAAAEAAA8RP/AAAAAAAABAAAAAAAAAAA==","srid":3857}"#
        );
        assert_eq!(w(&ExtConv::Geometry, "010700000000000000"), r#"{"wkb":"AQcAAAAAAAAA","srid":null}"#);
    }

    #[test]
    fn malformed_geometry_is_an_error_not_a_panic() {
        assert!(
            matches!(err(&ExtConv::Geometry, "0101"), ConvError::Invalid(r) if r.contains("shorter than 9"))
        );
        assert!(matches!(err(&ExtConv::Geometry, "010"), ConvError::Invalid(r) if r.contains("odd length")));
        assert!(matches!(err(&ExtConv::Geography, "POINT(1 2)"), ConvError::Invalid(_)));
        assert!(matches!(err(&ExtConv::Geometry, ""), ConvError::Invalid(_)));
        assert!(matches!(err(&ExtConv::Geometry, "é1"), ConvError::Invalid(_)));
    }

    #[test]
    fn vectors_use_java_spelling() {
        assert_eq!(w(&ExtConv::Vector, "[1,2,3]"), "[1.0,2.0,3.0]");
        assert_eq!(w(&ExtConv::Vector, "[1e-07,3.4028235e+38,-0]"), "[1.0E-7,3.4028235E38,-0.0]");
        assert_eq!(
            w(&ExtConv::HalfVector, "[-0.099975586,5.9604645e-08,65504]"),
            "[-0.099975586,5.9604645E-8,65504.0]"
        );
    }

    #[test]
    fn malformed_vectors_are_errors() {
        for t in ["", "[", "1,2", "[1,x]", "[]", "[1,,2]", "[NaN]", "[inf]"] {
            assert!(matches!(err(&ExtConv::Vector, t), ConvError::Invalid(_)), "{t:?}");
            assert!(matches!(err(&ExtConv::HalfVector, t), ConvError::Invalid(_)), "{t:?}");
        }
    }

    #[test]
    fn sparse_vectors() {
        assert_eq!(
            w(&ExtConv::SparseVector, "{1:1.5,3:2}/5"),
            r#"{"dimensions":5,"vector":[[1,1.5],[3,2.0]]}"#
        );
        assert_eq!(w(&ExtConv::SparseVector, "{}/3"), r#"{"dimensions":3,"vector":[]}"#);
        // Java HashMap order, not index order: after the resize to four buckets 4 is in bucket 0, 3 in 3.
        assert_eq!(
            w(&ExtConv::SparseVector, "{3:1,4:2}/9"),
            r#"{"dimensions":9,"vector":[[4,2.0],[3,1.0]]}"#
        );
        assert_eq!(
            w(&ExtConv::SparseVector, "{1:1,3:2}/9"),
            r#"{"dimensions":9,"vector":[[1,1.0],[3,2.0]]}"#
        );
        for t in ["{1:1}/40000", "{40000:1}/40000", "{}/32768"] {
            assert!(matches!(err(&ExtConv::SparseVector, t), ConvError::Unrepresentable(_)), "{t:?}");
        }
        for t in ["", "{1:1}", "{1:1}/5/6", "1:1/5", "{1}/5", "{1:x}/5", "{a:1}/5", "{1:1}/x", "{1:2:3}/5"] {
            assert!(matches!(err(&ExtConv::SparseVector, t), ConvError::Invalid(_)), "{t:?}");
        }
    }

    #[test]
    fn arrays() {
        let ga = ExtConv::Geometry.array().unwrap();
        assert_eq!(w(&ga, "{010700000000000000:NULL}"), r#"[{"wkb":"AQcAAAAAAAAA","srid":null},null]"#);
        assert_eq!(w(&ga, "{{010700000000000000}:{010700000000000000}}"), "[null,null]");
        assert_eq!(w(&ga, "{}"), "[]");
        let va = ExtConv::Vector.array().unwrap();
        assert_eq!(w(&va, r#"{"[1,2]","[3]"}"#), "[[1.0,2.0],[3.0]]");
        assert!(matches!(err(&va, r#"{"[1,2]",NULL}"#), ConvError::Unrepresentable(_)));
        assert!(matches!(err(&va, r#"{{"[1]"},{"[2]"}}"#), ConvError::Unrepresentable(_)));
        let sa = ExtConv::SparseVector.array().unwrap();
        assert_eq!(w(&sa, "{}"), "[]");
        assert!(matches!(err(&sa, r#"{"{1:1}/2"}"#), ConvError::Unrepresentable(_)));
        assert!(matches!(err(&ga, "{0101:"), ConvError::Invalid(_)));
        assert!(ga.array().is_none());
    }

    proptest::proptest! {
        /// Whatever text arrives, each converter writes a value or returns an error; it never panics.
        #[test]
        fn any_text_is_a_value_or_an_error(text in "[0-9A-Fa-f\\[\\]{}:,/. eE+-NUL\"x]{0,40}|\\PC{0,20}") {
            for c in [ExtConv::Geometry, ExtConv::Geography, ExtConv::Vector, ExtConv::HalfVector, ExtConv::SparseVector] {
                let _ = c.write(&mut Vec::new(), &text);
                let _ = c.clone().array().unwrap().write(&mut Vec::new(), &text);
            }
        }
    }

    #[test]
    fn schemas_and_fallbacks() {
        assert!(ExtConv::Geometry.schema_open(false).contains("\"optional\":true"));
        assert!(ExtConv::Geography.schema_open(false).contains("\"optional\":false,\"name\""));
        let mut o = Vec::new();
        ExtConv::Geography.write_fallback(&mut o).unwrap();
        ExtConv::Vector.write_fallback(&mut o).unwrap();
        assert_eq!(String::from_utf8(o).unwrap(), r#"{"wkb":"AQcAAAAAAAAA","srid":null}[]"#);
        assert!(ExtConv::SparseVector.write_fallback(&mut Vec::new()).is_err());
    }
}

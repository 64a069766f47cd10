//! PostgreSQL's built-in `point`, written as Debezium's `io.debezium.data.geometry.Point` struct: `x`,
//! `y` and the point as little-endian WKB, `srid` always null. (PostGIS types are in
//! [`crate::extension_types`].)

use super::numeric::parse_float;
use super::ConvError;
use crate::json::{write_b64, write_f64};

/// `(x,y)` text to the `Point` struct.
pub(super) fn write_point(out: &mut Vec<u8>, text: &str) -> Result<(), ConvError> {
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
    Ok(())
}

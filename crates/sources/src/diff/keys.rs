//! How rows are ordered on the server and compared in the client, so both sides can be merged.
//!
//! The merge needs the client to compare keys exactly as the server ordered them. For integers the
//! server orders natively (the primary-key index serves the ORDER BY) and the client compares numbers;
//! for text-like keys the server orders with `COLLATE "C"` and the client compares bytes; for every
//! other type the server orders by the value's text `COLLATE "C"` and the client compares that text.
//! Keyless tables are ordered by the whole row's text, which also makes duplicates adjacent.

use std::cmp::Ordering;

use bytes::Bytes;
use tidemark_model::quote_ident;

/// Comparison kind of one sort-key field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// int2/int4/int8/oid: numeric order.
    Int,
    /// text/varchar/bpchar with `COLLATE "C"`, uuid natively: byte order of the text.
    Bytes,
    /// Anything else: the value's text, ordered `COLLATE "C"`.
    Repr,
}

impl KeyKind {
    /// Kind for a type OID.
    pub fn for_type(oid: u32) -> KeyKind {
        match oid {
            20 | 21 | 23 | 26 => KeyKind::Int,
            25 | 1043 | 1042 | 2950 => KeyKind::Bytes,
            _ => KeyKind::Repr,
        }
    }

    /// SQL for the sort-key field of column `col` (already usable in a SELECT list).
    pub fn select_expr(self, col: &str, type_oid: u32) -> String {
        self.select_expr_of(quote_ident(col), type_oid)
    }

    /// Like [`select_expr`](Self::select_expr) over an SQL expression `c` (a column, or a cast of one).
    pub fn select_expr_of(self, c: String, type_oid: u32) -> String {
        match self {
            KeyKind::Int => c,
            KeyKind::Bytes if type_oid == 2950 => c,
            KeyKind::Bytes => format!("{c} COLLATE \"C\""),
            KeyKind::Repr => format!("({c})::text COLLATE \"C\""),
        }
    }
}

/// Compare two (escaped) sort-key fields of the given kind.
pub fn compare(kind: KeyKind, a: &Bytes, b: &Bytes) -> Ordering {
    match kind {
        KeyKind::Int => {
            let pa = std::str::from_utf8(a).ok().and_then(|s| s.parse::<i128>().ok());
            let pb = std::str::from_utf8(b).ok().and_then(|s| s.parse::<i128>().ok());
            match (pa, pb) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(b),
            }
        }
        KeyKind::Bytes | KeyKind::Repr => {
            if memchr::memchr(b'\\', a).is_none() && memchr::memchr(b'\\', b).is_none() {
                a[..].cmp(&b[..])
            } else {
                super::copy::unescape(a)[..].cmp(&super::copy::unescape(b)[..])
            }
        }
    }
}

/// Compare composite sort keys field by field.
pub fn compare_keys(kinds: &[KeyKind], a: &[Bytes], b: &[Bytes]) -> Ordering {
    for (i, k) in kinds.iter().enumerate() {
        match compare(*k, &a[i], &b[i]) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_compare_numerically_text_bytewise() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(compare(KeyKind::Int, &b("9"), &b("10")), Ordering::Less);
        assert_eq!(compare(KeyKind::Int, &b("-5"), &b("3")), Ordering::Less);
        assert_eq!(compare(KeyKind::Bytes, &b("B"), &b("a")), Ordering::Less);
        // Escaped text must compare on its unescaped bytes: tab (0x09) sorts before newline (0x0A),
        // although the escapes' letters ('t' > 'n') would say otherwise.
        assert_eq!(compare(KeyKind::Bytes, &b("a\\tb"), &b("a\\nb")), Ordering::Less);
    }
}

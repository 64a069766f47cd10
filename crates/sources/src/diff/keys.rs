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
pub fn compare(kind: KeyKind, a: &[u8], b: &[u8]) -> Ordering {
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
                a.cmp(b)
            } else {
                let (mut ua, mut ub) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
                crate::copy::unescape_into(a, &mut ua);
                crate::copy::unescape_into(b, &mut ub);
                ua.cmp(&ub)
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

/// Compare composite sort keys given as the leading part of two COPY text lines (`kinds.len()` fields
/// separated by tabs, as [`key_end`] delimits them), field by field, without splitting them into a
/// vector first.
pub fn compare_key_text(kinds: &[KeyKind], a: &[u8], b: &[u8]) -> Ordering {
    let (mut a, mut b) = (a, b);
    for (i, k) in kinds.iter().enumerate() {
        let last = i + 1 == kinds.len();
        let (fa, ra) = split_field(a, last);
        let (fb, rb) = split_field(b, last);
        match compare(*k, fa, fb) {
            Ordering::Equal => {}
            o => return o,
        }
        (a, b) = (ra, rb);
    }
    Ordering::Equal
}

/// The first field of `s` and what follows its tab (the whole of `s` when `last`).
fn split_field(s: &[u8], last: bool) -> (&[u8], &[u8]) {
    if last {
        return (s, &[]);
    }
    match memchr::memchr(b'\t', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// Where the first `nk` fields of a COPY text line end: the offset of the tab after them, or `None`
/// when the line has no more than `nk` fields.
#[inline]
pub fn key_end(line: &[u8], nk: usize) -> Option<usize> {
    memchr::memchr_iter(b'\t', line).nth(nk - 1)
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

    #[test]
    fn key_text_compares_like_split_fields() {
        let kinds = [KeyKind::Int, KeyKind::Bytes];
        let cases: [(&[u8], &[u8]); 5] = [
            (b"9\tb", b"10\ta"),
            (b"10\tb", b"10\ta"),
            (b"10\ta", b"10\ta"),
            (b"-1\tz", b"1\ta"),
            (b"3\ta\\tb", b"3\ta\\nb"),
        ];
        for (a, b) in cases {
            let split = |l: &[u8]| l.split(|c| *c == b'\t').map(Bytes::copy_from_slice).collect::<Vec<_>>();
            assert_eq!(
                compare_key_text(&kinds, a, b),
                compare_keys(&kinds, &split(a), &split(b)),
                "{a:?} {b:?}"
            );
        }
        assert_eq!(compare_key_text(&kinds, b"9\tb", b"10\ta"), Ordering::Less);
        assert_eq!(key_end(b"1\t2\t3", 1), Some(1));
        assert_eq!(key_end(b"1\t2\t3", 2), Some(3));
        assert_eq!(key_end(b"1\t2", 2), None);
    }
}

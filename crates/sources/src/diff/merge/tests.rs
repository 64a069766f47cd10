//! The merge over in-memory rows, without PostgreSQL.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

/// Run a merge to its end: the changes and the counts.
fn merge(old: &[&str], new: &[&str], kinds: &[KeyKind]) -> (Vec<Change>, Counts) {
    let rows = |v: &[&str]| VecRows::new(v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect());
    merge_rows(rows(old), rows(new), kinds)
}

fn merge_rows(old: VecRows, new: VecRows, kinds: &[KeyKind]) -> (Vec<Change>, Counts) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let mut m = Merge::new(old, new, kinds.to_vec());
        let mut out = Vec::new();
        while let Some(c) = m.next_change().await.expect("in memory") {
            out.push(c);
        }
        (out, m.counts())
    })
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

const INT: &[KeyKind] = &[KeyKind::Int];

#[test]
fn keyed_create_update_delete() {
    // Lines: the sort key, then the columns (id, v).
    let old = ["1\t1\ta", "2\t2\tb", "4\t4\td"];
    let new = ["1\t1\ta", "2\t2\tB", "3\t3\tc"];
    let (changes, counts) = merge(&old, &new, INT);
    assert_eq!(
        changes,
        vec![
            Change::Update { old: b("2\t2\tb"), new: b("2\t2\tB") },
            Change::Create(b("3\t3\tc")),
            Change::Delete(b("4\t4\td")),
        ]
    );
    assert_eq!(counts, Counts { created: 1, updated: 1, deleted: 1, unchanged: 1 });
}

#[test]
fn equal_rows_are_skipped() {
    let rows = ["1\t1\ta", "2\t2\t\\N", "3\t3\tx\\ty"];
    let (changes, counts) = merge(&rows, &rows, INT);
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(counts, Counts { unchanged: 3, ..Default::default() });
}

#[test]
fn keyless_multiset() {
    // Keyless: the sort key is the row's text; three identical old rows against one new row pair one
    // and delete two.
    let old = ["(1,a)\t1\ta", "(1,a)\t1\ta", "(1,a)\t1\ta", "(2,b)\t2\tb"];
    let new = ["(1,a)\t1\ta", "(2,b)\t2\tb", "(2,b)\t2\tb"];
    let (changes, counts) = merge(&old, &new, &[KeyKind::Repr]);
    assert_eq!(
        changes,
        vec![
            Change::Delete(b("(1,a)\t1\ta")),
            Change::Delete(b("(1,a)\t1\ta")),
            Change::Create(b("(2,b)\t2\tb"))
        ]
    );
    assert_eq!(counts, Counts { created: 1, deleted: 2, unchanged: 2, updated: 0 });
}

#[test]
fn empty_sides() {
    let rows = ["1\t1\ta", "2\t2\tb"];
    let (changes, counts) = merge(&[], &rows, INT);
    assert_eq!(changes, vec![Change::Create(b(rows[0])), Change::Create(b(rows[1]))]);
    assert_eq!(counts.created, 2);
    let (changes, counts) = merge(&rows, &[], INT);
    assert_eq!(changes, vec![Change::Delete(b(rows[0])), Change::Delete(b(rows[1]))]);
    assert_eq!(counts.deleted, 2);
    let (changes, counts) = merge(&[], &[], INT);
    assert!(changes.is_empty());
    assert_eq!(counts, Counts::default());
}

#[test]
fn int_keys_order_numerically() {
    // The server sends 9 before 10 (numeric order); byte order would put "10" first and turn every row
    // into a delete plus a create.
    let old = ["-3\t-3\tx", "9\t9\ta", "10\t10\tb"];
    let new = ["-3\t-3\tx", "9\t9\ta", "10\t10\tc", "100\t100\td"];
    let (changes, counts) = merge(&old, &new, INT);
    assert_eq!(
        changes,
        vec![Change::Update { old: b("10\t10\tb"), new: b("10\t10\tc") }, Change::Create(b("100\t100\td"))]
    );
    assert_eq!(counts.unchanged, 2);
}

#[test]
fn text_keys_order_by_unescaped_bytes() {
    // COLLATE "C": "B" < "a"; an escaped tab (0x09) sorts before an escaped newline (0x0A).
    let old = ["B\tB\t1", "a\\tb\ta\\tb\t2", "a\\nb\ta\\nb\t3"];
    let new = ["B\tB\t1", "a\\nb\ta\\nb\t4"];
    let (changes, _) = merge(&old, &new, &[KeyKind::Bytes]);
    assert_eq!(
        changes,
        vec![
            Change::Delete(b("a\\tb\ta\\tb\t2")),
            Change::Update { old: b("a\\nb\ta\\nb\t3"), new: b("a\\nb\ta\\nb\t4") },
        ]
    );
}

#[test]
fn composite_keys() {
    let kinds = [KeyKind::Int, KeyKind::Bytes];
    let old = ["1\ta\t1\ta\tx", "1\tb\t1\tb\tx", "2\ta\t2\ta\tx"];
    let new = ["1\tb\t1\tb\ty", "2\ta\t2\ta\tx", "10\ta\t10\ta\tz"];
    let (changes, counts) = merge(&old, &new, &kinds);
    assert_eq!(
        changes,
        vec![
            Change::Delete(b("1\ta\t1\ta\tx")),
            Change::Update { old: b("1\tb\t1\tb\tx"), new: b("1\tb\t1\tb\ty") },
            Change::Create(b("10\ta\t10\ta\tz")),
        ]
    );
    assert_eq!(counts, Counts { created: 1, updated: 1, deleted: 1, unchanged: 1 });
}

/// COPY text escaping of a value.
fn escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Apply changes to keyed rows (key → line), checking each one fits: a create's key is absent, an
/// update's and a delete's old row is there.
fn apply_keyed(
    mut rows: BTreeMap<Vec<u8>, Bytes>,
    changes: &[Change],
    nk: usize,
) -> BTreeMap<Vec<u8>, Bytes> {
    let key = |l: &Bytes| l[..keys::key_end(l, nk).unwrap_or(l.len())].to_vec();
    for c in changes {
        match c {
            Change::Create(n) => {
                assert!(rows.insert(key(n), n.clone()).is_none(), "create of an existing key")
            }
            Change::Update { old, new } => {
                assert_eq!(key(old), key(new), "update changes the key");
                assert_eq!(rows.insert(key(new), new.clone()).as_ref(), Some(old), "update of another row");
            }
            Change::Delete(o) => assert_eq!(rows.remove(&key(o)).as_ref(), Some(o), "delete of another row"),
        }
    }
    rows
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Keyed tables with int keys and text values (escapes included): applying the merge's changes to
    /// old yields new, and the counts add up.
    #[test]
    fn applying_the_merge_to_old_yields_new_keyed(
        old in proptest::collection::btree_map(-50i64..50, "[ab\\\\\t\n]{0,3}", 0..40),
        new in proptest::collection::btree_map(-50i64..50, "[ab\\\\\t\n]{0,3}", 0..40),
    ) {
        let lines = |m: &BTreeMap<i64, String>| -> Vec<Bytes> {
            m.iter().map(|(k, v)| Bytes::from(format!("{k}\t{k}\t{}", escape(v)))).collect()
        };
        let (lo, ln) = (lines(&old), lines(&new));
        let (changes, counts) = merge_rows(VecRows::new(lo.clone()), VecRows::new(ln.clone()), INT);
        let by_key = |v: &[Bytes]| v.iter().map(|l| (l[..keys::key_end(l, 1).unwrap()].to_vec(), l.clone())).collect::<BTreeMap<_, _>>();
        prop_assert_eq!(apply_keyed(by_key(&lo), &changes, 1), by_key(&ln));
        prop_assert_eq!(counts.changes() as usize, changes.len());
        prop_assert_eq!((counts.created + counts.updated + counts.unchanged) as usize, ln.len());
        prop_assert_eq!((counts.deleted + counts.updated + counts.unchanged) as usize, lo.len());
    }

    /// Keyless tables with text keys compared on their unescaped bytes, duplicates included: applying
    /// the changes to the old multiset yields the new one; nothing is an update.
    #[test]
    fn applying_the_merge_to_old_yields_new_keyless(
        old in proptest::collection::vec("[aB\\\\\t\n]{0,3}", 0..30),
        new in proptest::collection::vec("[aB\\\\\t\n]{0,3}", 0..30),
    ) {
        // The server orders by the unescaped text (COLLATE "C"), i.e. by the Rust string's bytes.
        let lines = |v: &[String]| -> Vec<Bytes> {
            let mut v = v.to_vec();
            v.sort();
            v.iter().map(|s| Bytes::from(format!("{}\t{}", escape(s), escape(s)))).collect()
        };
        let (lo, ln) = (lines(&old), lines(&new));
        let (changes, counts) = merge_rows(VecRows::new(lo.clone()), VecRows::new(ln.clone()), &[KeyKind::Repr]);
        let mut multiset: BTreeMap<Bytes, i64> = BTreeMap::new();
        for l in &lo {
            *multiset.entry(l.clone()).or_default() += 1;
        }
        for c in &changes {
            match c {
                Change::Create(n) => *multiset.entry(n.clone()).or_default() += 1,
                Change::Delete(o) => *multiset.entry(o.clone()).or_default() -= 1,
                Change::Update { .. } => prop_assert!(false, "a keyless merge never updates"),
            }
        }
        multiset.retain(|_, n| *n != 0);
        let mut want: BTreeMap<Bytes, i64> = BTreeMap::new();
        for l in &ln {
            *want.entry(l.clone()).or_default() += 1;
        }
        prop_assert_eq!(multiset, want);
        prop_assert_eq!((counts.created + counts.unchanged) as usize, ln.len());
        prop_assert_eq!((counts.deleted + counts.unchanged) as usize, lo.len());
    }
}

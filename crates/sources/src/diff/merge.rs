//! The merge: two row streams sorted by the same key in, creates/updates/deletes out. Pure — it reads
//! rows through [`SortedRows`] and never talks to a database — so PostgreSQL COPY streams today, and
//! MySQL result sets or files later, are compared by this one core, and it is unit-tested in memory.
//!
//! A row is one COPY text line (tab-separated fields, COPY escaping): first the sort key's fields (as
//! [`keys`](super::keys) orders them), then the row's columns. Both streams must be ascending in that
//! key order. Per step:
//! - key only in old → delete (the old row); only in new → create (the new row);
//! - key in both, the columns' bytes equal → unchanged (counted, not returned); different → update
//!   (old row, new row).
//!
//! Keyless tables use the whole row's text as the one key field, which makes identical rows adjacent
//! and the same step a multiset merge: three identical rows in old and one in new pair one and give two
//! deletes.
//!
//! Invariant (DESIGN.md contract 7, the core of it): for sorted inputs, applying the returned changes to
//! the old rows yields the new rows (as a multiset for keyless tables); the counts add up to both sides'
//! rows (`created + updated + unchanged` = new rows, `deleted + updated + unchanged` = old rows).
//!
//! Hot path: equal keys are recognised by their bytes before any typed comparison, each row's key end is
//! found once when it is read, and rows move (never copy) into the changes.

use std::cmp::Ordering;
use std::future::Future;

use bytes::Bytes;

use super::keys::{self, KeyKind};

/// A stream of rows in ascending key order (see the module documentation for the row format).
pub trait SortedRows {
    /// What reading can fail with.
    type Error;
    /// The next row, or `None` at the end.
    fn next_row(&mut self) -> impl Future<Output = Result<Option<Bytes>, Self::Error>> + Send;
}

/// One difference between the sides; rows are the whole lines, key fields included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Only in new.
    Create(Bytes),
    /// In both, different.
    Update {
        /// The old side's row.
        old: Bytes,
        /// The new side's row.
        new: Bytes,
    },
    /// Only in old.
    Delete(Bytes),
}

/// Rows counted by the merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Only in new.
    pub created: u64,
    /// In both, changed.
    pub updated: u64,
    /// Only in old.
    pub deleted: u64,
    /// In both, equal.
    pub unchanged: u64,
}

impl Counts {
    /// Differences (creates, updates, deletes).
    pub fn changes(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// A row with where its key fields end (found once, used by every comparison).
#[derive(Debug)]
struct Head {
    line: Bytes,
    key_end: Option<usize>,
}

impl Head {
    fn new(line: Bytes, nk: usize) -> Head {
        let key_end = keys::key_end(&line, nk);
        Head { line, key_end }
    }
    /// The key fields, tabs between them included.
    fn key(&self) -> &[u8] {
        self.key_end.map_or(&self.line[..], |i| &self.line[..i])
    }
    /// Everything after the key fields (the row's columns).
    fn data(&self) -> &[u8] {
        self.key_end.map_or(&[], |i| &self.line[i + 1..])
    }
}

/// How two rows relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Old's key first: a delete.
    Old,
    /// New's key first: a create.
    New,
    /// Same key, same columns.
    Same,
    /// Same key, different columns.
    Changed,
}

fn step(kinds: &[KeyKind], x: &Head, y: &Head) -> Step {
    // Most keys match byte for byte (the same text is the same key, whatever the type); only differing
    // ones need the typed comparison.
    let ord =
        if x.key() == y.key() { Ordering::Equal } else { keys::compare_key_text(kinds, x.key(), y.key()) };
    match ord {
        Ordering::Less => Step::Old,
        Ordering::Greater => Step::New,
        Ordering::Equal if x.data() == y.data() => Step::Same,
        Ordering::Equal => Step::Changed,
    }
}

/// The merge of an old and a new [`SortedRows`]: pull [`Merge::next_change`] until `None`.
#[derive(Debug)]
pub struct Merge<A, B> {
    old: A,
    new: B,
    kinds: Vec<KeyKind>,
    started: bool,
    a: Option<Head>,
    b: Option<Head>,
    counts: Counts,
}

impl<A, B> Merge<A, B>
where
    A: SortedRows + Send,
    B: SortedRows<Error = A::Error> + Send,
{
    /// Merge `old` and `new`, both sorted by a key of `kinds` (one field per kind; keyless tables:
    /// `[KeyKind::Repr]` over the row's text).
    pub fn new(old: A, new: B, kinds: Vec<KeyKind>) -> Merge<A, B> {
        assert!(!kinds.is_empty(), "a merge needs at least one key field");
        Merge { old, new, kinds, started: false, a: None, b: None, counts: Counts::default() }
    }

    async fn read_old(&mut self) -> Result<(), A::Error> {
        let nk = self.kinds.len();
        self.a = self.old.next_row().await?.map(|l| Head::new(l, nk));
        Ok(())
    }

    async fn read_new(&mut self) -> Result<(), A::Error> {
        let nk = self.kinds.len();
        self.b = self.new.next_row().await?.map(|l| Head::new(l, nk));
        Ok(())
    }

    /// The next difference, or `None` when both sides are exhausted. Unchanged rows are counted and
    /// skipped.
    pub async fn next_change(&mut self) -> Result<Option<Change>, A::Error> {
        if !self.started {
            self.started = true;
            self.read_old().await?;
            self.read_new().await?;
        }
        loop {
            let s = match (&self.a, &self.b) {
                (None, None) => return Ok(None),
                (Some(_), None) => Step::Old,
                (None, Some(_)) => Step::New,
                (Some(x), Some(y)) => step(&self.kinds, x, y),
            };
            match s {
                Step::Old => {
                    let x = self.a.take().expect("old row");
                    self.counts.deleted += 1;
                    self.read_old().await?;
                    return Ok(Some(Change::Delete(x.line)));
                }
                Step::New => {
                    let y = self.b.take().expect("new row");
                    self.counts.created += 1;
                    self.read_new().await?;
                    return Ok(Some(Change::Create(y.line)));
                }
                Step::Same => {
                    self.counts.unchanged += 1;
                    self.read_old().await?;
                    self.read_new().await?;
                }
                Step::Changed => {
                    let (x, y) = (self.a.take().expect("old row"), self.b.take().expect("new row"));
                    self.counts.updated += 1;
                    self.read_old().await?;
                    self.read_new().await?;
                    return Ok(Some(Change::Update { old: x.line, new: y.line }));
                }
            }
        }
    }

    /// What was counted so far (everything, once [`Merge::next_change`] returned `None`).
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

/// Rows from memory (tests, and sources that already hold their rows sorted).
#[derive(Debug)]
pub struct VecRows(std::vec::IntoIter<Bytes>);

impl VecRows {
    /// Rows that are already in key order.
    pub fn new(rows: Vec<Bytes>) -> VecRows {
        VecRows(rows.into_iter())
    }
}

impl SortedRows for VecRows {
    type Error = std::convert::Infallible;
    async fn next_row(&mut self) -> Result<Option<Bytes>, Self::Error> {
        Ok(self.0.next())
    }
}

#[cfg(test)]
mod tests;

//! The `(ctid, xmin)` fast path for physical copies of one cluster (two PITR restores, a primary and its
//! standby): instead of reading every row of both sides in key order, read only each row version's
//! `(ctid, xmin)` — 6 + 4 bytes, in physical order, no sort — and fetch by TID the versions that are not
//! on both sides. Unchanged rows are never read.
//!
//! Stages: [`prove`] decides once per run whether equal `(ctid, xmin)` may be trusted to mean "the same row
//! version" ([`lineage`](super::lineage)); [`eligible`] decides per table (its file was not rewritten,
//! plain table, no drift); [`scan_ranges`] splits a table's scan into block ranges; [`candidates`] merges a
//! range's two `(ctid, xmin)` streams into the versions that differ; [`Collected`] gathers a table's
//! ranges and turns them into the fetch, whose rows go through the ordinary key merge.
//!
//! Invariant: the fast path produces the same events as the full method. It is used only with a proof
//! that transaction ids name the same transactions on both sides, on tables whose file is the same one on
//! both, and it gives up (the table takes the full method) whenever the scan does not arrive in ctid
//! order or yields more candidates than fetching by TID can beat.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use tidemark_model::{Lsn, TableId};
use tidemark_pgwire::Connection;

use super::catalog::{self, Coordinator};
use super::plan::{TableJob, Unit};
use super::schedule::Work;
use super::{lineage, progress, DiffMethod};
use crate::copy::{TidXmin, TidXminReader};
use crate::SourceError;

/// Candidates (old + new) from which the fetch is split across workers.
const FETCH_SPLIT_MIN: usize = 4096;

/// Most candidates worth fetching by TID before the full method is cheaper.
const MAX_FAST_CANDIDATES: usize = 2_000_000;

/// Tables larger than this many blocks are scanned in block ranges, in parallel (PostgreSQL 14+).
const SPLIT_BLOCKS: u32 = 2000;

/// Whether the fast path may be used in this run.
#[derive(Debug, Clone)]
pub(super) struct Proof {
    /// `Ok(why it is sound)` or `Err(why it is not)`.
    pub result: Result<String, String>,
    /// Both sides share a system identifier (so a failed proof is worth a warning and a note).
    pub same_sysid: bool,
}

/// Decide whether `(ctid, xmin)` can be trusted between the sides. `positions`: each side's system
/// identifier and WAL position before its snapshot (`None` under `--method full`).
pub(super) async fn prove(
    positions: Option<((String, Lsn), (String, Lsn))>,
    old: &Coordinator,
    new: &Coordinator,
) -> Result<Proof, SourceError> {
    let Some(((old_sys, old_pos), (new_sys, new_pos))) = positions else {
        return Ok(Proof { result: Err("--method full".into()), same_sysid: false });
    };
    if old_sys != new_sys {
        let why = "not physical copies of one cluster (different system identifiers)";
        return Ok(Proof { result: Err(why.into()), same_sysid: false });
    }
    let o = catalog::probe("old", old, old_sys, old_pos).await?;
    let n = catalog::probe("new", new, new_sys, new_pos).await?;
    let same_sysid = o.sysid == n.sysid;
    let same_cluster = same_sysid && new.sees_backend(o.pid).await && old.sees_backend(n.pid).await;
    let result = lineage::prove(&o, &n, same_cluster);
    match &result {
        Ok(why) => tracing::info!("(ctid, xmin) fast path allowed: {why}"),
        Err(why) if same_sysid => {
            tracing::warn!("comparing every row instead of the (ctid, xmin) fast path: {why}")
        }
        Err(_) => {}
    }
    Ok(Proof { result, same_sysid })
}

/// Whether the table takes the fast path, and what to add to its report's method when that needs
/// saying.
pub(super) async fn eligible(
    old: &Coordinator,
    new: &Coordinator,
    id: &TableId,
    drifted: bool,
    proof: &Proof,
    method: DiffMethod,
) -> Result<(bool, Option<&'static str>), SourceError> {
    let physical = proof.result.is_ok();
    if drifted {
        return Ok((false, physical.then_some("; full (the table differs between the sides)")));
    }
    if !physical {
        let note = if proof.same_sysid {
            Some("; full (neither side provably an earlier state of the other)")
        } else if method == DiffMethod::Fast {
            Some("; full (not physical copies of one cluster)")
        } else {
            None
        };
        return Ok((false, note));
    }
    let (o_kind, o_file) = old.storage(id).await?;
    let (n_kind, n_file) = new.storage(id).await?;
    let plain = o_kind == "r" && n_kind == "r";
    Ok(match (o_file == n_file, plain) {
        (true, true) => (true, Some("; fast path (ctid, xmin)")),
        (false, true) => (false, Some("; full (table rewritten since the copies split)")),
        (_, false) => (false, Some("; full (partitioned tables take the full method)")),
    })
}

/// Block ranges to scan `(first, end)` (`None`: the whole table): two per worker for large tables on
/// PostgreSQL 14+ (TID range scans), else one.
pub(super) async fn scan_ranges(
    old: &Coordinator,
    new: &Coordinator,
    id: &TableId,
    workers: usize,
) -> Result<Vec<Option<(u32, Option<u32>)>>, SourceError> {
    let (o_blocks, o_version) = old.blocks(id).await?;
    let (n_blocks, n_version) = new.blocks(id).await?;
    let blocks = o_blocks.max(n_blocks).max(0) as u32;
    let tid_range = o_version >= 140000 && n_version >= 140000;
    let parts = if tid_range && workers > 1 && blocks > SPLIT_BLOCKS { (workers * 2) as u32 } else { 1 };
    if parts == 1 {
        return Ok(vec![None]);
    }
    let step = blocks.div_ceil(parts).max(1);
    Ok((0..parts).map(|i| Some((i * step, (i + 1 < parts).then(|| (i + 1) * step)))).collect())
}

/// Row versions that differ between two physical copies of one table (or block range of it).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Candidates {
    pub old: Vec<(u32, u16)>,
    pub new: Vec<(u32, u16)>,
    /// Versions present on both sides with the same (ctid, xmin): unchanged rows.
    pub matched: u64,
}

/// A stream of `(ctid, xmin)` in ctid order.
pub(super) trait TidRows {
    /// The next version, or `None` at the end.
    fn next_tid(&mut self) -> impl Future<Output = Result<Option<TidXmin>, SourceError>> + Send;
    /// Read out the rest (the connection stays usable).
    fn drain(&mut self) -> impl Future<Output = Result<(), SourceError>> + Send;
}

impl TidRows for TidXminReader<'_> {
    async fn next_tid(&mut self) -> Result<Option<TidXmin>, SourceError> {
        Ok(self.next_row().await?)
    }
    async fn drain(&mut self) -> Result<(), SourceError> {
        Ok(TidXminReader::drain(self).await?)
    }
}

/// Why a scan gave the table up to the full method.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum GaveUp {
    /// A stream did not arrive in ctid order.
    Unordered,
    /// More candidates than [`MAX_FAST_CANDIDATES`].
    TooMany,
}

/// Merge two `(ctid, xmin)` streams: versions on one side only, or at one ctid with different xmin, are
/// candidates; equal ones are counted as matched. Both streams are read to their end either way.
pub(super) async fn merge_tids<A: TidRows + Send, B: TidRows + Send>(
    a: &mut A,
    b: &mut B,
) -> Result<Result<Candidates, GaveUp>, SourceError> {
    let mut c = Candidates::default();
    let mut la = a.next_tid().await?;
    let mut lb = b.next_tid().await?;
    // The order check starts at each stream's first row.
    let (mut last_a, mut last_b) = (la.map_or((0, 0), |x| x.0), lb.map_or((0, 0), |y| y.0));
    let mut rows = 0u64;
    let gave_up = loop {
        let ord = match (&la, &lb) {
            (None, None) => break None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.0.cmp(&y.0),
        };
        match ord {
            std::cmp::Ordering::Less => c.old.push(la.take().expect("some").0),
            std::cmp::Ordering::Greater => c.new.push(lb.take().expect("some").0),
            std::cmp::Ordering::Equal => {
                let (x, y) = (la.take().expect("some"), lb.take().expect("some"));
                if x.1 == y.1 {
                    c.matched += 1;
                } else {
                    c.old.push(x.0);
                    c.new.push(y.0);
                }
            }
        }
        if la.is_none() {
            la = a.next_tid().await?;
            if let Some(x) = &la {
                if x.0 < last_a {
                    break Some(GaveUp::Unordered);
                }
                last_a = x.0;
            }
        }
        if lb.is_none() {
            lb = b.next_tid().await?;
            if let Some(y) = &lb {
                if y.0 < last_b {
                    break Some(GaveUp::Unordered);
                }
                last_b = y.0;
            }
        }
        rows += 1;
        if rows.is_multiple_of(65_536) {
            progress::rows_read(65_536);
        }
        if c.old.len() + c.new.len() > MAX_FAST_CANDIDATES {
            break Some(GaveUp::TooMany);
        }
    };
    match gave_up {
        None => Ok(Ok(c)),
        Some(why) => {
            // Both COPYs are still running: read them out so the connections stay usable.
            a.drain().await?;
            b.drain().await?;
            Ok(Err(why))
        }
    }
}

/// The candidates of one block range (`None`: the whole table) of a fast-path table; `None` means "use
/// the full method".
pub(super) async fn candidates(
    old: &mut Connection,
    new: &mut Connection,
    job: &TableJob,
    blocks: Option<(u32, Option<u32>)>,
) -> Result<Option<Candidates>, SourceError> {
    let range = match blocks {
        None => String::new(),
        Some((lo, None)) => format!(" WHERE ctid >= '({lo},0)'::tid"),
        Some((lo, Some(hi))) => format!(" WHERE ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid"),
    };
    let sql =
        format!("COPY (SELECT ctid, xmin FROM ONLY {}{range}) TO STDOUT (FORMAT binary)", job.id.quoted());
    let (mut a, mut b) = tokio::try_join!(TidXminReader::start(old, &sql), TidXminReader::start(new, &sql))
        .map_err(SourceError::Pg)?;
    match merge_tids(&mut a, &mut b).await? {
        Ok(c) => Ok(Some(c)),
        Err(GaveUp::TooMany) => {
            tracing::info!(table = %job.id, "many changed row versions; using the full method");
            Ok(None)
        }
        Err(GaveUp::Unordered) => Ok(None),
    }
}

/// Candidates gathered so far for a fast-path table, over its block-range scans.
#[derive(Debug)]
pub(super) struct Collected {
    scans_left: usize,
    old: Vec<(u32, u16)>,
    new: Vec<(u32, u16)>,
    matched: u64,
    fallback: bool,
}

impl Collected {
    /// A table scanned in `scans` block ranges.
    pub fn new(scans: usize) -> Collected {
        Collected { scans_left: scans, old: Vec::new(), new: Vec::new(), matched: 0, fallback: false }
    }

    /// Record one range's outcome (`None`: it gave up); true when it was the last.
    pub fn add(&mut self, found: Option<Candidates>) -> bool {
        match found {
            Some(c) if !self.fallback => {
                self.old.extend(c.old);
                self.new.extend(c.new);
                self.matched += c.matched;
                if self.old.len() + self.new.len() > MAX_FAST_CANDIDATES {
                    self.fallback = true;
                }
            }
            _ => self.fallback = true,
        }
        self.scans_left -= 1;
        self.scans_left == 0
    }

    /// What follows the last scan, in order: the full method over the whole table when any range gave
    /// up; else the fetch of every candidate by TID (a row's old and new versions may lie in different
    /// block ranges, so the key merge must see all of them), split across `workers` by key hash when
    /// there are many. The first part carries the matched count.
    pub fn next_work(self, job: &Arc<TableJob>, workers: usize) -> Vec<Work> {
        if self.fallback {
            tracing::info!(table = %job.id, "fast path not usable here; comparing every row");
            return vec![Work::Full(Unit::whole(job.clone()))];
        }
        let (mut old, mut new) = (self.old, self.new);
        old.sort_unstable();
        new.sort_unstable();
        let tids = Arc::new((tid_predicate(&old), tid_predicate(&new)));
        let n = if old.len() + new.len() >= FETCH_SPLIT_MIN { workers as u32 } else { 1 };
        (0..n)
            .map(|i| Work::Fetch {
                job: job.clone(),
                tids: tids.clone(),
                part: (n > 1).then_some((i, n)),
                matched: if i == 0 { self.matched } else { 0 },
            })
            .collect()
    }
}

/// `ctid = ANY('{"(b,o)",...}'::tid[])`
fn tid_predicate(tids: &[(u32, u16)]) -> String {
    let mut s = String::with_capacity(tids.len() * 12 + 32);
    s.push_str("ctid = ANY('{");
    for (i, (b, o)) in tids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "\"({b},{o})\"");
    }
    s.push_str("}'::tid[])");
    s
}

#[cfg(test)]
mod tests;

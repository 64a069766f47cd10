//! Whether the `(ctid, xmin)` fast path may be used: proof that one side is an earlier state of the
//! other's history.
//!
//! Equal `(ctid, xmin)` means "the same row version" only while a transaction id names the same
//! transaction on both sides. That holds for transactions of the history both sides share, and for every
//! transaction when both databases live in one running cluster (transaction ids are cluster-wide). It does
//! not hold once both sides assigned transaction ids of their own after they split (split brain, a restore
//! someone wrote to): xid N on one side and xid N on the other are different transactions that may have
//! written different rows into the same slot of the same page. A shared system identifier proves neither.
//!
//! Invariant: [`prove`] returns `Ok` only when one of these holds, else `Err(why)` and the caller compares
//! every row:
//! - both databases are in one running cluster (same system identifier, same postmaster start, and each
//!   side's backend is visible in the other's `pg_stat_activity`);
//! - one side `a` is an earlier state of the other `b`: `a`'s state point — its replay position while in
//!   recovery, or the end of its recovery when it was restored and promoted and has committed nothing
//!   since (its latest checkpoint is the one that opened its timeline and no transaction past that
//!   checkpoint's next xid is visible in the diff's snapshot) — lies on `b`'s timeline history (same
//!   ancestor timelines with the same switch points, and on the timeline in question `a`'s position is
//!   at or before where `b` left it or is now).
//!
//! Timeline ids with identical histories are taken to name the same timeline, as PostgreSQL itself does
//! when it follows timelines. This module is the decision only (pure, unit-tested); the facts come from
//! [`catalog::probe`](super::catalog::probe), which reads history files with `pg_read_file` (superuser or
//! pg_read_server_files) or `TIMELINE_HISTORY` on a replication connection and creates nothing.

use std::str::FromStr;

use tidemark_model::Lsn;

/// What is known about one side's place in the cluster's history.
#[derive(Debug, Clone)]
pub struct Side {
    /// `old` or `new`, for messages.
    pub label: &'static str,
    /// `pg_control_system().system_identifier`.
    pub sysid: String,
    /// `pg_postmaster_start_time()`.
    pub started: String,
    /// Backend pid of the side's snapshot transaction (to recognise one running cluster from the other side).
    pub pid: i32,
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// The timeline the side writes (primary) or replays (standby), when it could be learned.
    pub timeline: Option<u32>,
    /// WAL position (write or replay) before the diff's snapshot was taken.
    pub pos_before: Lsn,
    /// WAL position after the snapshot was taken (an upper bound of what the snapshot contains).
    pub pos_after: Lsn,
    /// Latest checkpoint's timeline.
    pub ckpt_tli: u32,
    /// The timeline before the latest checkpoint's (different only for the checkpoint that ended a
    /// recovery and opened a new timeline).
    pub ckpt_prev_tli: u32,
    /// Latest checkpoint's next full transaction id.
    pub ckpt_next_xid: u64,
    /// `txid_snapshot_xmax` of the diff's snapshot: no transaction at or past it is visible.
    pub snapshot_xmax: u64,
    /// Ancestor timelines and where each ended, from the current timeline's history file
    /// (`Ok(vec![])` on timeline 1), or why they could not be read.
    pub history: Result<Vec<(u32, Lsn)>, String>,
}

impl Default for Side {
    /// Nothing known: every proof from it fails.
    fn default() -> Side {
        Side {
            label: "",
            sysid: String::new(),
            started: String::new(),
            pid: 0,
            in_recovery: false,
            timeline: None,
            pos_before: Lsn::ZERO,
            pos_after: Lsn::ZERO,
            ckpt_tli: 0,
            ckpt_prev_tli: 0,
            ckpt_next_xid: 0,
            snapshot_xmax: u64::MAX,
            history: Err("not read".into()),
        }
    }
}

/// `epoch:xid` as a full 64-bit transaction id.
pub(super) fn parse_full_xid(s: &str) -> Option<u64> {
    let (e, x) = s.split_once(':')?;
    Some((e.trim().parse::<u64>().ok()? << 32) | x.trim().parse::<u64>().ok()?)
}

/// A timeline history file: `parentTLI<TAB>switchpoint<TAB>reason` lines, `#` comments.
pub fn parse_history(text: &str) -> Result<Vec<(u32, Lsn)>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut f = line.split_whitespace();
        let tli = f.next().and_then(|t| t.parse::<u32>().ok());
        let lsn = f.next().and_then(|l| Lsn::from_str(l).ok());
        match (tli, lsn) {
            (Some(t), Some(l)) => out.push((t, l)),
            _ => return Err(format!("unreadable timeline history line {line:?}")),
        }
    }
    Ok(out)
}

/// `Ok(why the fast path is sound)` or `Err(why it cannot be proven)`. `same_cluster`: each side's
/// backend is visible from the other.
pub fn prove(old: &Side, new: &Side, same_cluster: bool) -> Result<String, String> {
    if old.sysid != new.sysid {
        return Err("not physical copies of one cluster (different system identifiers)".into());
    }
    if same_cluster && old.started == new.started {
        return Ok("both databases are in one running cluster, where transaction ids are shared".into());
    }
    let forward = ancestor(old, new);
    if let Ok(why) = forward {
        return Ok(why);
    }
    match ancestor(new, old) {
        Ok(why) => Ok(why),
        Err(back) => Err(format!(
            "same system identifier, but neither side provably is an earlier state of the other \
             (split brain or a restore that took writes would make equal (ctid, xmin) name different rows): \
             {}; {back}",
            forward.err().unwrap_or_default()
        )),
    }
}

/// `a` is an earlier state of `b`'s history.
fn ancestor(a: &Side, b: &Side) -> Result<String, String> {
    let (al, bl) = (a.label, b.label);
    let a_hist = a.history.as_ref().map_err(Clone::clone)?;
    let b_hist = b.history.as_ref().map_err(Clone::clone)?;
    let a_tli = a.timeline.ok_or_else(|| format!("the {al} side's timeline is unknown"))?;
    let b_tli = b.timeline.ok_or_else(|| format!("the {bl} side's timeline is unknown"))?;
    // Where a's data ends, and the timelines before that point.
    let (tli, pos, prefix) = if a.in_recovery {
        (a_tli, a.pos_after, &a_hist[..])
    } else {
        let Some((&(parent, switch), before)) = a_hist.split_last() else {
            return Err(format!(
                "the {al} side is a primary on timeline 1 (never restored and promoted), so it may have \
                 taken writes of its own"
            ));
        };
        if a.ckpt_tli != a_tli || a.ckpt_prev_tli == a.ckpt_tli {
            return Err(format!(
                "the {al} side's latest checkpoint is not the one that ended its recovery (a checkpoint ran \
                 since, or it was promoted with pg_promote), so it cannot be shown to have taken no writes \
                 since it left timeline {parent} at {switch}"
            ));
        }
        if a.snapshot_xmax > a.ckpt_next_xid {
            return Err(format!(
                "the {al} side took writes after it was promoted (transactions {}..{} committed after the \
                 end of its recovery at {switch} on timeline {parent})",
                a.ckpt_next_xid, a.snapshot_xmax
            ));
        }
        (parent, switch, before)
    };
    let (b_prefix, end) = match b_hist.iter().position(|(t, _)| *t == tli) {
        Some(i) => (&b_hist[..i], b_hist[i].1),
        // b's WAL only grows on its timeline, so its latest position is where its history reaches now.
        // (Which of b's transactions its snapshot sees does not matter: what makes equal (ctid, xmin)
        // equal rows is that every xid a has used names the same transaction on b.)
        None if b_tli == tli => (&b_hist[..], b.pos_after.max(b.pos_before)),
        None => {
            return Err(format!(
                "timeline {tli} (where the {al} side's data ends) is not in the {bl} side's history"
            ))
        }
    };
    if b_prefix != prefix {
        return Err(format!(
            "the {al} and {bl} sides reached timeline {tli} through different histories ({} vs {})",
            show(prefix),
            show(b_prefix)
        ));
    }
    if pos > end {
        return Err(format!(
            "the {al} side's data reaches {pos} on timeline {tli}, past {end} where the {bl} side's \
             history leaves it"
        ));
    }
    Ok(format!(
        "the {al} side is an earlier state of the {bl} side's history (timeline {tli} at {pos} <= {end})"
    ))
}

/// A timeline history for messages: `[1 until 0/3000060, 2 until 0/5000000]`.
fn show(history: &[(u32, Lsn)]) -> String {
    let parts: Vec<String> = history.iter().map(|(t, l)| format!("{t} until {l}")).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(label: &'static str, tli: u32, hist: Vec<(u32, u64)>, pos: u64) -> Side {
        let hist: Vec<(u32, Lsn)> = hist.into_iter().map(|(t, l)| (t, Lsn(l))).collect();
        let pos = Lsn(pos);
        Side {
            label,
            sysid: "1".into(),
            started: label.into(),
            timeline: Some(tli),
            pos_before: pos,
            pos_after: pos,
            ckpt_tli: tli,
            ckpt_prev_tli: hist.last().map_or(tli, |h| h.0),
            ckpt_next_xid: 100,
            snapshot_xmax: 100,
            history: Ok(hist),
            ..Default::default()
        }
    }

    #[test]
    fn history_file_parses() {
        let h =
            parse_history("1\t0/3000060\tno recovery target specified\n\n2\t0/5000000\tat restore point\n");
        assert_eq!(h, Ok(vec![(1, Lsn(0x3000060)), (2, Lsn(0x5000000))]));
        assert!(parse_history("x y").is_err());
        assert_eq!(parse_full_xid("1:5"), Some((1 << 32) | 5));
    }

    #[test]
    fn sibling_restores_with_one_timeline_id() {
        // Two restores of one base, both promoted to "timeline 2" at different points.
        let old = side("old", 2, vec![(1, 0x100)], 0x180);
        let new = side("new", 2, vec![(1, 0x200)], 0x280);
        assert!(prove(&old, &new, false).is_ok());
        let mut written = old.clone();
        written.snapshot_xmax = 101;
        let e = prove(&written, &new, false).unwrap_err();
        assert!(e.contains("took writes after it was promoted"), "{e}");
        // The later restore written to: it is still the descendant; the earlier one unwritten.
        let mut new_written = new.clone();
        new_written.snapshot_xmax = 150;
        assert!(prove(&old, &new_written, false).is_ok());
        // Restored later than the other's end: not an ancestor either way.
        let later = side("old", 2, vec![(1, 0x300)], 0x380);
        assert!(prove(&later, &new_written, false).is_err());
        // A checkpoint since the end of recovery: unprovable.
        let mut ck = old.clone();
        ck.ckpt_prev_tli = 2;
        assert!(prove(&ck, &new_written, false).unwrap_err().contains("latest checkpoint"));
    }

    #[test]
    fn restore_versus_live_primary_and_standby() {
        let primary = side("new", 1, vec![], 0x500);
        let pitr = side("old", 2, vec![(1, 0x300)], 0x380);
        assert!(prove(&pitr, &primary, false).is_ok());
        let mut standby = side("old", 1, vec![], 0x400);
        standby.in_recovery = true;
        assert!(prove(&standby, &primary, false).is_ok());
        standby.pos_after = Lsn(0x600);
        assert!(prove(&standby, &primary, false).is_err());
        // Two primaries on timeline 1 (a copied data directory): never provable.
        let copy = side("old", 1, vec![], 0x300);
        assert!(prove(&copy, &primary, false).is_err());
        let mut other = primary.clone();
        other.sysid = "2".into();
        assert!(prove(&pitr, &other, false).unwrap_err().contains("system identifiers"));
    }
}

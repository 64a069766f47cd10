//! The work queue and its workers. Each worker holds one lean connection per side, in that side's
//! exported snapshot, and takes units from one shared queue: full-method units (tables, key ranges),
//! and for fast-path tables first their block-range scans, then — when a table's last scan is in — its
//! fetch (or, when a scan gave up, the table's full method), put at the front so a table that has begun
//! is finished before new ones start.
//!
//! Built on tokio primitives: the queue is a short-held mutex, idle workers wait on a [`Notify`] (never a
//! sleep loop) for work that an in-flight scan may still add, and the workers run in a [`JoinSet`] whose
//! first failure stops the others.
//!
//! Invariant: a worker only stops when the queue is empty and no unit is in flight (so no work can still
//! appear); a fast-path table's fetch is queued only after every one of its scans finished; a table
//! counts as done (progress) when the last of its units that compare rows finished.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;

use super::catalog::Coordinator;
use super::fast_path::{self, Collected};
use super::plan::{TableJob, Unit};
use super::unit::{self, Output};
use super::{progress, DiffEvent, DiffOptions, TableReport};
use crate::SourceError;

/// What a worker does next.
#[derive(Debug)]
pub(super) enum Work {
    /// Full method over a table or a key range of it.
    Full(Unit),
    /// Fast path, phase 1: merge (ctid, xmin) over a block range (`None`: the whole table).
    Scan { job: Arc<TableJob>, blocks: Option<(u32, Option<u32>)> },
    /// Fast path, phase 2: fetch the candidates of the table on both sides (the `tids` predicates for
    /// old and new) and merge them by key; `part` splits that across workers by key hash.
    Fetch { job: Arc<TableJob>, tids: Arc<(String, String)>, part: Option<(u32, u32)>, matched: u64 },
}

impl Work {
    fn table(&self) -> usize {
        match self {
            Work::Full(u) => u.job.idx,
            Work::Scan { job, .. } | Work::Fetch { job, .. } => job.idx,
        }
    }
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Work>,
    in_flight: usize,
    /// Fast-path tables whose scans are not all in.
    scans: HashMap<usize, Collected>,
    /// Per table: units that compare rows (full, fetch) not yet finished, the fast path's future fetch
    /// counted as one until it is known.
    open: HashMap<usize, usize>,
}

/// The shared queue.
#[derive(Debug)]
pub(super) struct Scheduler {
    state: Mutex<State>,
    wake: Notify,
    workers: usize,
}

impl Scheduler {
    /// A queue holding `work` in order, for `workers` workers.
    pub fn new(work: Vec<Work>, workers: usize) -> Scheduler {
        let mut scans: HashMap<usize, usize> = HashMap::new();
        let mut open: HashMap<usize, usize> = HashMap::new();
        for w in &work {
            match w {
                Work::Scan { job, .. } => {
                    let n = scans.entry(job.idx).or_default();
                    if *n == 0 {
                        *open.entry(job.idx).or_default() += 1;
                    }
                    *n += 1;
                }
                _ => *open.entry(w.table()).or_default() += 1,
            }
        }
        let scans = scans.into_iter().map(|(t, n)| (t, Collected::new(n))).collect();
        let state = State { queue: work.into(), in_flight: 0, scans, open };
        Scheduler { state: Mutex::new(state), wake: Notify::new(), workers }
    }

    /// Units queued.
    pub fn queued(&self) -> usize {
        self.state.lock().expect("lock").queue.len()
    }

    /// The next unit, waiting while the queue is empty but units in flight may still add some; `None`
    /// when everything is done.
    async fn next(&self) -> Option<Work> {
        loop {
            // Registered before looking, so a wake-up between the look and the wait is not lost.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().expect("lock");
                if let Some(w) = s.queue.pop_front() {
                    s.in_flight += 1;
                    return Some(w);
                }
                if s.in_flight == 0 {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// A scan of `job` finished with `found` (`None`: it gave up). After the table's last scan, its
    /// next work goes to the front of the queue.
    fn scanned(&self, job: &Arc<TableJob>, found: Option<fast_path::Candidates>) {
        let mut s = self.state.lock().expect("lock");
        let last = s.scans.get_mut(&job.idx).expect("scans of a fast-path table").add(found);
        if !last {
            return;
        }
        let collected = s.scans.remove(&job.idx).expect("scans of a fast-path table");
        let next = collected.next_work(job, self.workers);
        *s.open.get_mut(&job.idx).expect("open units") += next.len() - 1;
        for w in next.into_iter().rev() {
            s.queue.push_front(w);
        }
        drop(s);
        self.wake.notify_waiters();
    }

    /// A unit of table `idx` finished; `compared`: it compared rows (not a scan). True when that was the
    /// table's last such unit.
    fn finished(&self, idx: usize, compared: bool) -> bool {
        let done = {
            let mut s = self.state.lock().expect("lock");
            s.in_flight -= 1;
            compared && {
                let n = s.open.get_mut(&idx).expect("open units");
                *n -= 1;
                *n == 0
            }
        };
        // New work, or the end: either way idle workers must look again.
        self.wake.notify_waiters();
        done
    }
}

/// What every worker shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub opts: DiffOptions,
    pub old_snapshot: String,
    pub new_snapshot: String,
    pub event_time_us: i64,
    pub events: Option<mpsc::Sender<Vec<DiffEvent>>>,
    /// Per table, in the plan's order.
    pub reports: Mutex<Vec<TableReport>>,
}

/// Run the queue to its end on up to `workers` workers; the reports with every unit's counts added.
/// The first worker failure stops the others and is returned.
pub(super) async fn run(
    sched: Scheduler,
    shared: Shared,
    workers: usize,
) -> Result<Vec<TableReport>, SourceError> {
    let n_workers = workers.min(sched.queued().max(1));
    let (sched, shared) = (Arc::new(sched), Arc::new(shared));
    let mut set = JoinSet::new();
    for _ in 0..n_workers {
        set.spawn(worker(sched.clone(), shared.clone()));
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(SourceError::Internal(format!("a diff worker stopped: {e}"))),
        }
    }
    let reports = std::mem::take(&mut *shared.reports.lock().expect("lock"));
    Ok(reports)
}

async fn worker(sched: Arc<Scheduler>, shared: Arc<Shared>) -> Result<(), SourceError> {
    let sh = &*shared;
    // Lean connections of the worker's own (see crate::copy::TidXminReader), in the sides' exported snapshots.
    let mut old = Coordinator::worker(&sh.opts.old, &sh.old_snapshot).await?;
    let mut new = Coordinator::worker(&sh.opts.new, &sh.new_snapshot).await?;
    let out = Output { verify: sh.opts.verify, event_time_us: sh.event_time_us, events: sh.events.as_ref() };
    while let Some(work) = sched.next().await {
        let t0 = Instant::now();
        let idx = work.table();
        let (counts, compared) = match work {
            Work::Full(unit) => (unit::diff_unit(&mut old, &mut new, &unit, None, out).await?, true),
            Work::Scan { job, blocks } => {
                let found = fast_path::candidates(&mut old, &mut new, &job, blocks).await?;
                sched.scanned(&job, found);
                (Default::default(), false)
            }
            Work::Fetch { job, tids, part, matched } => {
                let unit = Unit { job, range: None, part };
                let preds = Some((tids.0.as_str(), tids.1.as_str()));
                let mut c = unit::diff_unit(&mut old, &mut new, &unit, preds, out).await?;
                c.unchanged += matched;
                (c, true)
            }
        };
        {
            let mut r = sh.reports.lock().expect("lock");
            let rep = &mut r[idx];
            rep.created += counts.created;
            rep.updated += counts.updated;
            rep.deleted += counts.deleted;
            rep.unchanged += counts.unchanged;
            rep.seconds += t0.elapsed().as_secs_f64();
        }
        if sched.finished(idx, compared) {
            progress::table_done();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::diff::fast_path::Candidates;
    use crate::diff::plan::test_job;

    #[tokio::test]
    async fn fetch_follows_the_last_scan_and_idle_workers_wait_for_it() {
        let (fast, full) = (Arc::new(test_job(0, true)), Arc::new(test_job(1, false)));
        let work = vec![
            Work::Scan { job: fast.clone(), blocks: Some((0, Some(10))) },
            Work::Scan { job: fast.clone(), blocks: Some((10, None)) },
            Work::Full(Unit::whole(full.clone())),
        ];
        let sched = Arc::new(Scheduler::new(work, 2));
        let s1 = sched.next().await.expect("scan 1");
        let s2 = sched.next().await.expect("scan 2");
        assert!(matches!((&s1, &s2), (Work::Scan { .. }, Work::Scan { .. })));
        let f = sched.next().await.expect("full unit");
        assert!(matches!(&f, Work::Full(u) if u.job.idx == 1));
        // The queue is empty but scans are in flight: a worker asking now waits, not exits.
        let waiting = tokio::spawn({
            let sched = sched.clone();
            async move { sched.next().await }
        });
        assert!(sched.finished(1, true), "the keyed table's only unit");
        sched.scanned(&fast, Some(Candidates { old: vec![(0, 1)], new: vec![], matched: 3 }));
        assert!(!sched.finished(0, false));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one scan is still out");
        sched.scanned(&fast, Some(Candidates { old: vec![], new: vec![(11, 1)], matched: 4 }));
        assert!(!sched.finished(0, false), "scans never finish a table");
        let fetch =
            tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").expect("task");
        assert!(matches!(fetch, Some(Work::Fetch { matched: 7, part: None, .. })), "{fetch:?}");
        // The last unit: the table is done, and every idle worker is told to stop.
        let idle = tokio::spawn({
            let sched = sched.clone();
            async move { sched.next().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!idle.is_finished());
        assert!(sched.finished(0, true));
        let end = tokio::time::timeout(Duration::from_secs(5), idle).await.expect("woken").expect("task");
        assert!(end.is_none());
        assert!(sched.next().await.is_none());
    }

    #[tokio::test]
    async fn split_fetch_and_key_ranges_finish_a_table_once() {
        let job = Arc::new(test_job(0, false));
        let work =
            (0..3).map(|i| Work::Full(Unit { job: job.clone(), range: Some((i, i)), part: None })).collect();
        let sched = Scheduler::new(work, 3);
        let units = [sched.next().await, sched.next().await, sched.next().await];
        assert!(units.iter().all(Option::is_some));
        // All three in flight at once: only the last to finish completes the table.
        assert!(!sched.finished(0, true));
        assert!(!sched.finished(0, true));
        assert!(sched.finished(0, true));
        assert!(sched.next().await.is_none());
    }
}

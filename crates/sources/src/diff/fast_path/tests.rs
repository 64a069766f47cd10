//! The fast path's pure parts, without PostgreSQL.

use super::*;

/// `(ctid, xmin)` rows from memory.
struct Tids(std::vec::IntoIter<TidXmin>, bool);

impl TidRows for Tids {
    async fn next_tid(&mut self) -> Result<Option<TidXmin>, SourceError> {
        Ok(self.0.next())
    }
    async fn drain(&mut self) -> Result<(), SourceError> {
        self.0.by_ref().for_each(drop);
        self.1 = true;
        Ok(())
    }
}

fn merge(old: Vec<TidXmin>, new: Vec<TidXmin>) -> (Result<Candidates, GaveUp>, bool) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let (mut a, mut b) = (Tids(old.into_iter(), false), Tids(new.into_iter(), false));
    let r = rt.block_on(merge_tids(&mut a, &mut b)).expect("in memory");
    (r, a.1 && b.1)
}

#[test]
fn tid_merge_finds_versions_on_one_side_or_with_another_xmin() {
    let old = vec![((0, 1), 10), ((0, 2), 10), ((0, 3), 10), ((1, 1), 11)];
    let new = vec![((0, 1), 10), ((0, 2), 12), ((1, 1), 11), ((1, 2), 12)];
    let (r, _) = merge(old, new);
    assert_eq!(r, Ok(Candidates { old: vec![(0, 2), (0, 3)], new: vec![(0, 2), (1, 2)], matched: 2 }));
    assert_eq!(merge(vec![], vec![]).0, Ok(Candidates::default()));
}

#[test]
fn tid_merge_gives_up_on_unordered_scans_and_drains() {
    let (r, drained) = merge(vec![((0, 2), 1), ((0, 1), 1), ((0, 3), 1)], vec![((0, 1), 1)]);
    assert_eq!(r, Err(GaveUp::Unordered));
    assert!(drained, "both streams must be read out");
}

#[test]
fn collected_ranges_become_fetches_or_the_full_method() {
    let job = Arc::new(crate::diff::plan::test_job(0, true));
    let mut c = Collected::new(2);
    assert!(!c.add(Some(Candidates { old: vec![(3, 1)], new: vec![], matched: 5 })));
    assert!(c.add(Some(Candidates { old: vec![(1, 2)], new: vec![(4, 1)], matched: 2 })));
    let work = c.next_work(&job, 4);
    assert_eq!(work.len(), 1, "few candidates: one fetch");
    match &work[0] {
        Work::Fetch { tids, part: None, matched: 7, .. } => {
            assert_eq!(tids.0, "ctid = ANY('{\"(1,2)\",\"(3,1)\"}'::tid[])");
            assert_eq!(tids.1, "ctid = ANY('{\"(4,1)\"}'::tid[])");
        }
        w => panic!("{w:?}"),
    }
    // Many candidates: one fetch per worker, the first carrying the matched count.
    let mut c = Collected::new(1);
    c.add(Some(Candidates {
        old: (0..FETCH_SPLIT_MIN as u32).map(|b| (b, 1)).collect(),
        new: vec![],
        matched: 9,
    }));
    let parts: Vec<_> = c
        .next_work(&job, 3)
        .into_iter()
        .map(|w| match w {
            Work::Fetch { part, matched, .. } => (part, matched),
            w => panic!("{w:?}"),
        })
        .collect();
    assert_eq!(parts, vec![(Some((0, 3)), 9), (Some((1, 3)), 0), (Some((2, 3)), 0)]);
    // A range that gave up sends the table to the full method.
    let mut c = Collected::new(2);
    c.add(None);
    c.add(Some(Candidates::default()));
    assert!(matches!(&c.next_work(&job, 2)[..], [Work::Full(u)] if u.range.is_none() && u.part.is_none()));
}

#[test]
fn tid_merge_checks_order_from_the_first_row_on_either_side() {
    let ordered = vec![((0, 1), 1), ((0, 5), 1)];
    assert_eq!(merge(ordered.clone(), vec![((0, 3), 1), ((0, 2), 1)]).0, Err(GaveUp::Unordered));
    assert_eq!(merge(vec![((1, 1), 1), ((0, 9), 1)], ordered).0, Err(GaveUp::Unordered));
}

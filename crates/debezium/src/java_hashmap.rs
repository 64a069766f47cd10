//! The iteration order of a `java.util.HashMap<Short, V>` (JDK 17), reproduced exactly.
//!
//! Why: Debezium turns a pgvector `sparsevec` into a `HashMap<Short, Double>` and Kafka's
//! `JsonConverter` writes a map with non-string keys as an array of `[key, value]` pairs in the map's
//! iteration order. That order is not the index order: it follows the hash table's buckets, the order
//! entries reached each bucket, resizes that split buckets, and the red-black "tree bins" a bucket
//! becomes once it holds more than eight entries in a table of at least 64 buckets (whose iteration
//! order starts with the tree's root). To write the same array, tidemark replays the same puts on the
//! same data structure: this module is a transcription of `HashMap.putVal`, `resize`, `treeifyBin`
//! and `HashMap.TreeNode` (`treeify`, `untreeify`, `putTreeVal`, `split`, `balanceInsertion`, the
//! rotations, `moveRootToFront`), limited to what puts need.
//!
//! Invariants: keys are Java shorts, whose hash (`h ^ h >>> 16` of the int value) differs for every
//! key, so tree bins order by hash alone (no `compareTo`/tie-break path is needed); the table never
//! approaches `MAXIMUM_CAPACITY` (at most 65536 distinct keys). Verified against the real connector by
//! the sparse vectors of the `extensions` golden set (collisions, tree bins, tree splits on resize).
//!
//! Why one file of about 600 lines: it is the transcription of one Java class whose methods share a
//! single node arena and call each other (`putVal` → `treeifyBin` → `treeify` → `balanceInsertion` →
//! the rotations; `resize` → `split` → `untreeify`). Kept together it can be read line by line against
//! `java/util/HashMap.java`; split, every piece would need the others to be understood. The tests at
//! the end pin orders the connector wrote (golden rows) and check that every key is iterated once.

const TREEIFY_THRESHOLD: usize = 8;
const UNTREEIFY_THRESHOLD: usize = 6;
const MIN_TREEIFY_CAPACITY: usize = 64;

type Opt = Option<usize>;

#[derive(Clone, Debug)]
struct Node<V> {
    hash: i32,
    key: i16,
    value: V,
    next: Option<usize>,
    /// A `TreeNode` (the fields below are meaningful only then).
    tree: bool,
    parent: Option<usize>,
    left: Option<usize>,
    right: Option<usize>,
    prev: Option<usize>,
    red: bool,
}

/// `HashMap<Short, V>` built by `new HashMap<>(initialCapacity)` and `put`s.
#[derive(Clone, Debug)]
pub struct JavaShortMap<V> {
    nodes: Vec<Node<V>>,
    table: Vec<Option<usize>>,
    size: usize,
    threshold: usize,
}

fn spread(key: i16) -> i32 {
    // Short.hashCode is the int value; HashMap.hash spreads the high half into the low half.
    let h = key as i32;
    h ^ ((h as u32) >> 16) as i32
}

fn bucket(hash: i32, n: usize) -> usize {
    (hash as u32 as usize) & (n - 1)
}

/// `HashMap.tableSizeFor`: the smallest power of two at least `cap` (and at least 1).
fn table_size_for(cap: usize) -> usize {
    cap.max(1).next_power_of_two()
}

impl<V: Copy> JavaShortMap<V> {
    /// `new HashMap<>(initial_capacity)`.
    pub fn with_capacity(initial_capacity: usize) -> Self {
        JavaShortMap {
            nodes: Vec::new(),
            table: Vec::new(),
            size: 0,
            threshold: table_size_for(initial_capacity),
        }
    }

    /// Entries in iteration order (`entrySet()`).
    pub fn entries(&self) -> Vec<(i16, V)> {
        let mut out = Vec::with_capacity(self.size);
        for head in &self.table {
            let mut e = *head;
            while let Some(i) = e {
                out.push((self.nodes[i].key, self.nodes[i].value));
                e = self.nodes[i].next;
            }
        }
        out
    }

    fn new_node(&mut self, hash: i32, key: i16, value: V, next: Option<usize>, tree: bool) -> usize {
        self.nodes.push(Node {
            hash,
            key,
            value,
            next,
            tree,
            parent: None,
            left: None,
            right: None,
            prev: None,
            red: false,
        });
        self.nodes.len() - 1
    }

    /// `HashMap.put` (`putVal` with `onlyIfAbsent = false`).
    pub fn put(&mut self, key: i16, value: V) {
        if self.table.is_empty() {
            self.resize();
        }
        let h = spread(key);
        let i = bucket(h, self.table.len());
        match self.table[i] {
            None => {
                let x = self.new_node(h, key, value, None, false);
                self.table[i] = Some(x);
            }
            Some(first) => {
                if self.nodes[first].hash == h && self.nodes[first].key == key {
                    self.nodes[first].value = value;
                    return;
                }
                if self.nodes[first].tree {
                    if let Some(e) = self.put_tree_val(first, h, key, value) {
                        self.nodes[e].value = value;
                        return;
                    }
                } else {
                    let mut p = first;
                    let mut bin_count = 0;
                    loop {
                        match self.nodes[p].next {
                            None => {
                                let x = self.new_node(h, key, value, None, false);
                                self.nodes[p].next = Some(x);
                                if bin_count >= TREEIFY_THRESHOLD - 1 {
                                    self.treeify_bin(h);
                                }
                                break;
                            }
                            Some(e) => {
                                if self.nodes[e].hash == h && self.nodes[e].key == key {
                                    self.nodes[e].value = value;
                                    return;
                                }
                                p = e;
                            }
                        }
                        bin_count += 1;
                    }
                }
            }
        }
        self.size += 1;
        if self.size > self.threshold {
            self.resize();
        }
    }

    fn resize(&mut self) {
        let old_cap = self.table.len();
        let old_thr = self.threshold;
        let new_cap;
        let mut new_thr = 0;
        if old_cap > 0 {
            new_cap = old_cap << 1;
            if old_cap >= 16 {
                new_thr = old_thr << 1;
            }
        } else if old_thr > 0 {
            new_cap = old_thr;
        } else {
            new_cap = 16;
            new_thr = 12;
        }
        if new_thr == 0 {
            // (int) ((float) newCap * 0.75f)
            new_thr = (new_cap as f32 * 0.75f32) as usize;
        }
        self.threshold = new_thr;
        let old = std::mem::replace(&mut self.table, vec![None; new_cap]);
        for (j, head) in old.into_iter().enumerate() {
            let Some(e) = head else { continue };
            if self.nodes[e].next.is_none() {
                let b = bucket(self.nodes[e].hash, new_cap);
                self.table[b] = Some(e);
            } else if self.nodes[e].tree {
                self.split(e, j, old_cap);
            } else {
                // Preserve order: the low list stays at j, the high list moves to j + oldCap.
                let (mut lo_head, mut lo_tail, mut hi_head, mut hi_tail): (Opt, Opt, Opt, Opt) =
                    (None, None, None, None);
                let mut cur = Some(e);
                while let Some(x) = cur {
                    cur = self.nodes[x].next;
                    let (head, tail) = if (self.nodes[x].hash as u32 as usize) & old_cap == 0 {
                        (&mut lo_head, &mut lo_tail)
                    } else {
                        (&mut hi_head, &mut hi_tail)
                    };
                    match *tail {
                        None => *head = Some(x),
                        Some(t) => self.nodes[t].next = Some(x),
                    }
                    *tail = Some(x);
                }
                if let Some(t) = lo_tail {
                    self.nodes[t].next = None;
                    self.table[j] = lo_head;
                }
                if let Some(t) = hi_tail {
                    self.nodes[t].next = None;
                    self.table[j + old_cap] = hi_head;
                }
            }
        }
    }

    fn treeify_bin(&mut self, hash: i32) {
        let n = self.table.len();
        if n < MIN_TREEIFY_CAPACITY {
            self.resize();
            return;
        }
        let index = bucket(hash, n);
        let Some(hd) = self.table[index] else { return };
        let mut prev = None;
        let mut cur = Some(hd);
        while let Some(x) = cur {
            let node = &mut self.nodes[x];
            node.tree = true;
            node.prev = prev;
            node.parent = None;
            node.left = None;
            node.right = None;
            node.red = false;
            prev = Some(x);
            cur = node.next;
        }
        self.treeify(hd);
    }

    /// `TreeNode.treeify`: build the red-black tree over the chain starting at `first`.
    fn treeify(&mut self, first: usize) {
        let mut root: Option<usize> = None;
        let mut cur = Some(first);
        while let Some(x) = cur {
            cur = self.nodes[x].next;
            self.nodes[x].left = None;
            self.nodes[x].right = None;
            match root {
                None => {
                    self.nodes[x].parent = None;
                    self.nodes[x].red = false;
                    root = Some(x);
                }
                Some(r) => {
                    let h = self.nodes[x].hash;
                    let mut p = r;
                    loop {
                        let go_left = self.nodes[p].hash > h;
                        let child = if go_left { self.nodes[p].left } else { self.nodes[p].right };
                        match child {
                            Some(c) => p = c,
                            None => {
                                self.nodes[x].parent = Some(p);
                                if go_left {
                                    self.nodes[p].left = Some(x);
                                } else {
                                    self.nodes[p].right = Some(x);
                                }
                                root = Some(self.balance_insertion(r, x));
                                break;
                            }
                        }
                    }
                }
            }
        }
        if let Some(r) = root {
            self.move_root_to_front(r);
        }
    }

    /// `TreeNode.untreeify`: plain nodes again, chain order kept.
    fn untreeify(&mut self, first: usize) -> usize {
        let mut cur = Some(first);
        while let Some(x) = cur {
            let node = &mut self.nodes[x];
            node.tree = false;
            node.parent = None;
            node.left = None;
            node.right = None;
            node.prev = None;
            cur = node.next;
        }
        first
    }

    fn root_of(&self, mut r: usize) -> usize {
        while let Some(p) = self.nodes[r].parent {
            r = p;
        }
        r
    }

    /// `TreeNode.putTreeVal`; `Some(node)` when the key is present.
    fn put_tree_val(&mut self, first: usize, h: i32, key: i16, value: V) -> Option<usize> {
        let root = self.root_of(first);
        let mut p = root;
        loop {
            let ph = self.nodes[p].hash;
            if ph == h && self.nodes[p].key == key {
                return Some(p);
            }
            let go_left = ph > h;
            let child = if go_left { self.nodes[p].left } else { self.nodes[p].right };
            match child {
                Some(c) => p = c,
                None => {
                    let xpn = self.nodes[p].next;
                    let x = self.new_node(h, key, value, xpn, true);
                    if go_left {
                        self.nodes[p].left = Some(x);
                    } else {
                        self.nodes[p].right = Some(x);
                    }
                    self.nodes[p].next = Some(x);
                    self.nodes[x].parent = Some(p);
                    self.nodes[x].prev = Some(p);
                    if let Some(n) = xpn {
                        self.nodes[n].prev = Some(x);
                    }
                    let r = self.balance_insertion(root, x);
                    self.move_root_to_front(r);
                    return None;
                }
            }
        }
    }

    /// `TreeNode.split` on resize: low and high halves keep their order; a half of at most six
    /// entries becomes a plain list, a larger one is re-treeified only when the other half is not empty.
    fn split(&mut self, first: usize, index: usize, bit: usize) {
        let (mut lo_head, mut lo_tail, mut hi_head, mut hi_tail): (Opt, Opt, Opt, Opt) =
            (None, None, None, None);
        let (mut lc, mut hc) = (0usize, 0usize);
        let mut cur = Some(first);
        while let Some(x) = cur {
            cur = self.nodes[x].next;
            self.nodes[x].next = None;
            let lo = (self.nodes[x].hash as u32 as usize) & bit == 0;
            let (head, tail, count) = if lo {
                (&mut lo_head, &mut lo_tail, &mut lc)
            } else {
                (&mut hi_head, &mut hi_tail, &mut hc)
            };
            self.nodes[x].prev = *tail;
            match *tail {
                None => *head = Some(x),
                Some(t) => self.nodes[t].next = Some(x),
            }
            *tail = Some(x);
            *count += 1;
        }
        if let Some(lh) = lo_head {
            if lc <= UNTREEIFY_THRESHOLD {
                let h = self.untreeify(lh);
                self.table[index] = Some(h);
            } else {
                self.table[index] = Some(lh);
                if hi_head.is_some() {
                    self.treeify(lh);
                }
            }
        }
        if let Some(hh) = hi_head {
            if hc <= UNTREEIFY_THRESHOLD {
                let h = self.untreeify(hh);
                self.table[index + bit] = Some(h);
            } else {
                self.table[index + bit] = Some(hh);
                if lo_head.is_some() {
                    self.treeify(hh);
                }
            }
        }
    }

    fn move_root_to_front(&mut self, root: usize) {
        let n = self.table.len();
        if n == 0 {
            return;
        }
        let index = bucket(self.nodes[root].hash, n);
        let first = self.table[index];
        if first != Some(root) {
            self.table[index] = Some(root);
            let rp = self.nodes[root].prev;
            let rn = self.nodes[root].next;
            if let Some(rn) = rn {
                self.nodes[rn].prev = rp;
            }
            if let Some(rp) = rp {
                self.nodes[rp].next = rn;
            }
            if let Some(f) = first {
                self.nodes[f].prev = Some(root);
            }
            self.nodes[root].next = first;
            self.nodes[root].prev = None;
        }
    }

    fn is_red(&self, n: Option<usize>) -> bool {
        n.is_some_and(|i| self.nodes[i].red)
    }

    fn rotate_left(&mut self, mut root: usize, p: usize) -> usize {
        if let Some(r) = self.nodes[p].right {
            let rl = self.nodes[r].left;
            self.nodes[p].right = rl;
            if let Some(rl) = rl {
                self.nodes[rl].parent = Some(p);
            }
            let pp = self.nodes[p].parent;
            self.nodes[r].parent = pp;
            match pp {
                None => {
                    root = r;
                    self.nodes[r].red = false;
                }
                Some(pp) if self.nodes[pp].left == Some(p) => self.nodes[pp].left = Some(r),
                Some(pp) => self.nodes[pp].right = Some(r),
            }
            self.nodes[r].left = Some(p);
            self.nodes[p].parent = Some(r);
        }
        root
    }

    fn rotate_right(&mut self, mut root: usize, p: usize) -> usize {
        if let Some(l) = self.nodes[p].left {
            let lr = self.nodes[l].right;
            self.nodes[p].left = lr;
            if let Some(lr) = lr {
                self.nodes[lr].parent = Some(p);
            }
            let pp = self.nodes[p].parent;
            self.nodes[l].parent = pp;
            match pp {
                None => {
                    root = l;
                    self.nodes[l].red = false;
                }
                Some(pp) if self.nodes[pp].right == Some(p) => self.nodes[pp].right = Some(l),
                Some(pp) => self.nodes[pp].left = Some(l),
            }
            self.nodes[l].right = Some(p);
            self.nodes[p].parent = Some(l);
        }
        root
    }

    /// `TreeNode.balanceInsertion`: returns the (possibly new) root.
    fn balance_insertion(&mut self, mut root: usize, mut x: usize) -> usize {
        self.nodes[x].red = true;
        loop {
            let Some(mut xp) = self.nodes[x].parent else {
                self.nodes[x].red = false;
                return x;
            };
            if !self.nodes[xp].red {
                return root;
            }
            let Some(mut xpp) = self.nodes[xp].parent else { return root };
            let xppl = self.nodes[xpp].left;
            if xppl == Some(xp) {
                let xppr = self.nodes[xpp].right;
                if self.is_red(xppr) {
                    self.nodes[xppr.unwrap_or(xpp)].red = false;
                    self.nodes[xp].red = false;
                    self.nodes[xpp].red = true;
                    x = xpp;
                } else {
                    let mut xpp_opt = Some(xpp);
                    let mut xp_opt = Some(xp);
                    if self.nodes[xp].right == Some(x) {
                        x = xp;
                        root = self.rotate_left(root, x);
                        xp_opt = self.nodes[x].parent;
                        xpp_opt = xp_opt.and_then(|p| self.nodes[p].parent);
                    }
                    if let Some(p) = xp_opt {
                        xp = p;
                        self.nodes[xp].red = false;
                        if let Some(pp) = xpp_opt {
                            xpp = pp;
                            self.nodes[xpp].red = true;
                            root = self.rotate_right(root, xpp);
                        }
                    }
                }
            } else {
                if self.is_red(xppl) {
                    self.nodes[xppl.unwrap_or(xpp)].red = false;
                    self.nodes[xp].red = false;
                    self.nodes[xpp].red = true;
                    x = xpp;
                } else {
                    let mut xpp_opt = Some(xpp);
                    let mut xp_opt = Some(xp);
                    if self.nodes[xp].left == Some(x) {
                        x = xp;
                        root = self.rotate_right(root, x);
                        xp_opt = self.nodes[x].parent;
                        xpp_opt = xp_opt.and_then(|p| self.nodes[p].parent);
                    }
                    if let Some(p) = xp_opt {
                        xp = p;
                        self.nodes[xp].red = false;
                        if let Some(pp) = xpp_opt {
                            xpp = pp;
                            self.nodes[xpp].red = true;
                            root = self.rotate_left(root, xpp);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(keys: &[i16]) -> Vec<i16> {
        let mut m = JavaShortMap::with_capacity(keys.len());
        for &k in keys {
            m.put(k, ());
        }
        m.entries().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn small_maps_iterate_by_bucket() {
        assert_eq!(order(&[1, 3]), vec![1, 3]);
        assert_eq!(order(&[1, 2, 3]), vec![1, 2, 3]);
        // Every key of this run lands in bucket 1 or 17 of 32 (the connector's order, fixture row 1).
        let keys: Vec<i16> = (0..10).map(|i| i * 16 + 1).collect();
        assert_eq!(order(&keys), vec![1, 33, 65, 97, 129, 17, 49, 81, 113, 145]);
        assert_eq!(order(&[1, 16385, 32767]), vec![1, 16385, 32767]);
        assert!(order(&[]).is_empty());
    }

    #[test]
    fn tree_bins_start_with_their_root() {
        // 19 keys congruent mod 64 (the connector's order, golden row svec_order 2): the bucket becomes
        // a tree bin at 64 buckets, and its root is iterated first.
        let keys: Vec<i16> = (1..20).map(|i| i * 64 + 1).collect();
        let got = order(&keys);
        assert_eq!(&got[..5], &[513, 257, 65, 129, 193]);
        assert_eq!(got.len(), 19);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }

    #[test]
    fn replacing_a_value_keeps_the_position() {
        let mut m = JavaShortMap::with_capacity(2);
        m.put(5, 1.0);
        m.put(3, 2.0);
        m.put(5, 3.0);
        // Two buckets until the second put resizes to four: 5 in bucket 1, 3 in bucket 3.
        assert_eq!(m.entries(), vec![(5, 3.0), (3, 2.0)]);
    }

    proptest::proptest! {
        /// Every key put is iterated exactly once, with its last value, whatever the collisions (strided
        /// keys pile into a few buckets and exercise tree bins, their splits and untreeify).
        #[test]
        fn entries_hold_every_key_once(stride in 1i16..512, offset in 0i16..64, n in 0usize..400, extra in proptest::collection::vec(proptest::num::i16::ANY, 0..50)) {
            let mut keys: Vec<i16> = (0..n).map(|i| offset.wrapping_add((i as i16).wrapping_mul(stride))).collect();
            keys.extend(extra);
            let mut m = JavaShortMap::with_capacity(keys.len());
            for (i, &k) in keys.iter().enumerate() {
                m.put(k, i);
            }
            let got = m.entries();
            let mut want: std::collections::BTreeMap<i16, usize> = std::collections::BTreeMap::new();
            for (i, &k) in keys.iter().enumerate() {
                want.insert(k, i);
            }
            let mut sorted = got.clone();
            sorted.sort();
            proptest::prop_assert_eq!(sorted, want.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn negative_keys_spread_the_high_half() {
        assert_eq!(spread(-1), -65536);
        assert_eq!(spread(5), 5);
        // -1 spreads to 0xFFFF0000: bucket 0, before 0 (inserted later into the same bucket).
        assert_eq!(order(&[-1, 0, 1]), vec![-1, 0, 1]);
    }
}

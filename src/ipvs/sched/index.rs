//! The indexes that let the load-based schedulers choose what the kernel's
//! O(n) scans choose, in O(log n) per change and O(1) per pick.
//!
//! The kernel's lc, wlc, sed, nq, fo and ovf walk every real server at every
//! pick and keep the best one, the first in list order among equals. The
//! [`LoadIndex`] here is a tournament tree over the servers' ranking keys:
//! each leaf holds one server's key (or nothing when the server may not be
//! picked), each inner node the better of its two children, and a tie goes to
//! the leaf nearer the head of the kernel's list. The root is the scan's
//! answer. Leaves are kept in insertion order (the oldest server first, the
//! reverse of the kernel's list), so the kernel's "link at the head" is an
//! append; removal rebuilds the tree in O(n).
//!
//! A key changes when the server's counters or overload flag change
//! ([`Scheduler::load_changed`](super::Scheduler::load_changed)) or its
//! weight does (`update_dest`); refreshing one leaf costs one comparison per
//! tree level. [`WeightSums`] is the same idea for twos's weighted draw: a
//! Fenwick tree of the usable weights, searched in O(log n).
//!
//! Memory: the key plus 8 bytes per server for the tree (two `u32` nodes per
//! leaf, rounded up to a power of two), 12 bytes per server for the sums.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::ipvs::dest::Dest;

/// What an index over the servers' loads must do when the list or a
/// server changes.
pub(crate) trait LoadStructure {
    /// Reads every server again: O(n).
    fn rebuild(&mut self, dests: &[Arc<Dest>]);
    /// `dests[index]` was linked.
    fn add(&mut self, dests: &[Arc<Dest>], index: usize);
    /// A server was unlinked.
    fn remove(&mut self, dests: &[Arc<Dest>]);
    /// `dests[index]` changed.
    fn refresh(&mut self, dests: &[Arc<Dest>], index: usize);
}

/// The leaf of server `index` of a list of `len` in a structure of `n`
/// leaves kept in link order (the kernel links new servers at the head of its list, so leaf `j`
/// is list index `n - 1 - j`), or `None` when the list and the structure
/// disagree and the structure must be rebuilt.
#[inline]
fn leaf_of(n: usize, len: usize, index: usize) -> Option<usize> {
    (len == n && index < n).then(|| n - 1 - index)
}

/// Whether linking server `index` of a list now `len` long onto a
/// structure of `n` leaves is a link at the head, which appends leaf `n`; anything else needs a rebuild.
#[inline]
fn head_link(n: usize, len: usize, index: usize) -> bool {
    index == 0 && len == n + 1
}

/// An index that is kept only while the service has at least `from`
/// servers: below that the kernel's scan is as fast as the index's upkeep
/// (see the benches), so the scheduler scans instead. `None` inside: the
/// literal scan always.
#[derive(Debug, Clone)]
pub(crate) struct Adaptive<T> {
    inner: Option<T>,
    from: usize,
    live: bool,
}

impl<T: LoadStructure> Adaptive<T> {
    /// `inner` used from `from` servers up; `None` never.
    pub(crate) fn new(inner: Option<T>, from: usize) -> Self {
        Adaptive { inner, from, live: false }
    }

    fn wanted(&self, n: usize) -> bool {
        self.inner.is_some() && n >= self.from
    }

    /// Rebuilds from the list (and goes live if the list is long enough).
    pub(crate) fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        self.live = self.wanted(dests.len());
        if let (true, Some(t)) = (self.live, &mut self.inner) {
            t.rebuild(dests);
        }
    }

    pub(crate) fn add(&mut self, dests: &[Arc<Dest>], index: usize) {
        match (&mut self.inner, self.live) {
            (Some(t), true) => t.add(dests, index),
            _ => self.rebuild(dests),
        }
    }

    pub(crate) fn remove(&mut self, dests: &[Arc<Dest>]) {
        if !self.wanted(dests.len()) {
            self.live = false;
        } else if let Some(t) = &mut self.inner {
            t.remove(dests);
        }
    }

    pub(crate) fn refresh(&mut self, dests: &[Arc<Dest>], index: usize) {
        if let (true, Some(t)) = (self.live, &mut self.inner) {
            t.refresh(dests, index);
        }
    }

    /// The index, while it is in use.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        if self.live { self.inner.as_ref() } else { None }
    }

    /// Whether the index is in use (and so must hear of load changes).
    #[inline]
    pub(crate) fn live(&self) -> bool {
        self.live
    }
}

/// A server's ranking key: `Less` means better.
pub(crate) trait Rank: Copy + Default + fmt::Debug + Send + Sync + 'static {
    /// Compares two keys; `Equal` leaves the choice to list order.
    fn rank(&self, other: &Self) -> Ordering;
}

const NONE: u32 = u32::MAX;

/// A tournament tree over the servers' keys (see the module doc).
#[derive(Clone)]
pub(crate) struct LoadIndex<K: Rank> {
    /// The key of each leaf; leaf `j` is list index `n - 1 - j`.
    keys: Vec<K>,
    /// `nodes[1]` is the root, `nodes[cap + j]` leaf `j` (or `NONE` when the
    /// server may not be picked).
    nodes: Vec<u32>,
    cap: usize,
    key: fn(&Dest) -> Option<K>,
}

impl<K: Rank> fmt::Debug for LoadIndex<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadIndex").field("servers", &self.keys.len()).field("best", &self.best_leaf()).finish()
    }
}

impl<K: Rank> LoadIndex<K> {
    /// An empty index ranking servers by `key` (`None`: may not be picked).
    pub(crate) fn new(key: fn(&Dest) -> Option<K>) -> Self {
        LoadIndex { keys: Vec::new(), nodes: vec![NONE; 2], cap: 1, key }
    }

    #[inline]
    fn winner(&self, a: u32, b: u32) -> u32 {
        if a == NONE {
            return b;
        }
        if b == NONE {
            return a;
        }
        match self.keys[a as usize].rank(&self.keys[b as usize]) {
            Ordering::Less => a,
            Ordering::Greater => b,
            // The newer leaf sits nearer the head of the kernel's list.
            Ordering::Equal => a.max(b),
        }
    }

    /// Re-evaluates the path from leaf `j` to the root.
    #[inline]
    fn sift(&mut self, j: usize) {
        let mut i = (self.cap + j) >> 1;
        while i >= 1 {
            self.nodes[i] = self.winner(self.nodes[2 * i], self.nodes[2 * i + 1]);
            i >>= 1;
        }
    }

    #[inline]
    fn set(&mut self, j: usize, d: &Dest) {
        match (self.key)(d) {
            Some(k) => {
                self.keys[j] = k;
                self.nodes[self.cap + j] = j as u32;
            }
            None => self.nodes[self.cap + j] = NONE,
        }
        self.sift(j);
    }

    fn best_leaf(&self) -> Option<usize> {
        let root = self.nodes[1];
        (root != NONE).then_some(root as usize)
    }

    /// The list index the kernel's scan would pick: O(1).
    #[inline]
    pub(crate) fn best(&self) -> Option<usize> {
        self.best_leaf().map(|j| self.keys.len() - 1 - j)
    }
}

impl<K: Rank> LoadStructure for LoadIndex<K> {
    /// Reads every server again and rebuilds the tree: O(n).
    fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        let n = dests.len();
        self.cap = n.next_power_of_two().max(1);
        self.keys.clear();
        self.nodes.clear();
        self.nodes.resize(2 * self.cap, NONE);
        let key = self.key;
        for (j, d) in dests.iter().rev().enumerate() {
            match key(d) {
                Some(k) => {
                    self.keys.push(k);
                    self.nodes[self.cap + j] = j as u32;
                }
                // Parked, never compared: the leaf's node is NONE.
                None => self.keys.push(K::default()),
            }
        }
        for i in (1..self.cap).rev() {
            self.nodes[i] = self.winner(self.nodes[2 * i], self.nodes[2 * i + 1]);
        }
    }

    /// `dests[index]` was linked: O(log n) for a link at the head.
    fn add(&mut self, dests: &[Arc<Dest>], index: usize) {
        let n = self.keys.len();
        if !head_link(n, dests.len(), index) || n == self.cap {
            self.rebuild(dests);
            return;
        }
        self.keys.push(K::default());
        self.set(n, &dests[0]);
    }

    /// A server at `index` was unlinked: O(n).
    fn remove(&mut self, dests: &[Arc<Dest>]) {
        self.rebuild(dests);
    }

    /// Reads `dests[index]` again: O(log n).
    fn refresh(&mut self, dests: &[Arc<Dest>], index: usize) {
        match leaf_of(self.keys.len(), dests.len(), index) {
            Some(j) => self.set(j, &dests[index]),
            None => self.rebuild(dests),
        }
    }
}

/// lc's key: the overhead `(active << 8) + total`, lower is better.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Overhead(pub(crate) u64);

impl Rank for Overhead {
    #[inline]
    fn rank(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// wlc's, sed's and the lblc family's key: overhead per weight, compared by
/// cross-multiplication as the kernel does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ratio {
    pub(crate) overhead: u64,
    pub(crate) weight: u32,
}

impl Rank for Ratio {
    #[inline]
    fn rank(&self, other: &Self) -> Ordering {
        (self.overhead * other.weight as u64).cmp(&(other.overhead * self.weight as u64))
    }
}

/// nq's key: an idle server (no active connection) first, in list order;
/// otherwise `(active + 1) / weight` as sed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Queue {
    pub(crate) idle: bool,
    pub(crate) ratio: Ratio,
}

impl Rank for Queue {
    #[inline]
    fn rank(&self, other: &Self) -> Ordering {
        match (self.idle, other.idle) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => self.ratio.rank(&other.ratio),
        }
    }
}

/// fo's and ovf's key: the weight, higher is better.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Heaviest(pub(crate) u32);

impl Rank for Heaviest {
    #[inline]
    fn rank(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

/// A Fenwick tree over the weights of the servers that may be picked, in
/// insertion order (leaf `j` is list index `n - 1 - j`), for twos's weighted
/// draw.
#[derive(Debug, Clone, Default)]
pub(crate) struct WeightSums {
    /// 1-based Fenwick array; `tree[0]` unused.
    tree: Vec<u64>,
    weights: Vec<u32>,
    total: u64,
}

impl WeightSums {
    /// The weight twos counts for a server: its weight if it may be picked.
    #[inline]
    fn weight_of(d: &Dest) -> u32 {
        if d.is_overloaded() { 0 } else { d.weight() }
    }

    /// Sum of leaves `0..count`.
    fn prefix(&self, mut count: usize) -> u64 {
        let mut s = 0;
        while count > 0 {
            s += self.tree[count];
            count &= count - 1;
        }
        s
    }

    /// The total usable weight.
    #[inline]
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The first server in list order whose running sum of usable weights,
    /// from the head, reaches `r` (`r >= 1`, `r <= total`): O(log n).
    pub(crate) fn find(&self, r: u64) -> usize {
        let n = self.weights.len();
        // Largest count c with prefix(c) <= total - r; the leaf c is the one.
        let mut rem = self.total - r;
        let mut pos = 0;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= rem {
                pos = next;
                rem -= self.tree[next];
            }
            step >>= 1;
        }
        n - 1 - pos
    }
}

/// Implements [`Scheduler`](super::Scheduler) for a load-based scheduler
/// whose struct holds `index: Adaptive<LoadIndex<K>>`, given its kernel
/// name, key function and scan function.
macro_rules! load_scheduler {
    ($ty:ident, $name:literal, $key:ty, $keyfn:path, $scan:path) => {
        impl $ty {
            /// With `literal_scan` the kernel's O(n) scan at every pick;
            /// otherwise an index, used from `index_from` servers up (the
            /// scan below). Both choose the same servers.
            pub fn with_params(literal_scan: bool, index_from: usize) -> Self {
                let inner = (!literal_scan).then(|| $crate::ipvs::sched::index::LoadIndex::<$key>::new($keyfn));
                $ty { index: $crate::ipvs::sched::index::Adaptive::new(inner, index_from) }
            }

            /// The kernel's defaults: the index from
            /// [`INDEX_FROM`]($crate::ipvs::sched::INDEX_FROM) servers up.
            pub fn new() -> Self {
                Self::with_params(false, $crate::ipvs::sched::INDEX_FROM)
            }

            /// Whether the index is in use now (else the scan is).
            pub fn is_indexed(&self) -> bool {
                self.index.live()
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $crate::ipvs::sched::Scheduler for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn init(&mut self, dests: &[std::sync::Arc<$crate::ipvs::dest::Dest>]) {
                self.index.rebuild(dests);
            }

            fn add_dest(&mut self, dests: &[std::sync::Arc<$crate::ipvs::dest::Dest>], index: usize) {
                self.index.add(dests, index);
            }

            fn del_dest(
                &mut self,
                dests: &[std::sync::Arc<$crate::ipvs::dest::Dest>],
                _removed: &std::sync::Arc<$crate::ipvs::dest::Dest>,
                _index: usize,
            ) {
                self.index.remove(dests);
            }

            fn update_dest(&mut self, dests: &[std::sync::Arc<$crate::ipvs::dest::Dest>], index: usize) {
                self.index.refresh(dests, index);
            }

            fn tracks_load(&self) -> bool {
                self.index.live()
            }

            fn load_changed(&mut self, dests: &[std::sync::Arc<$crate::ipvs::dest::Dest>], index: usize) {
                self.index.refresh(dests, index);
            }

            #[inline]
            fn schedule(&mut self, req: &$crate::ipvs::sched::SchedRequest<'_>) -> Option<usize> {
                match self.index.get() {
                    Some(ix) => ix.best(),
                    None => $scan(req.dests),
                }
            }
        }
    };
}

pub(crate) use load_scheduler;

impl LoadStructure for WeightSums {
    /// Rebuilds from the list: O(n).
    fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        self.weights.clear();
        self.weights.extend(dests.iter().rev().map(|d| Self::weight_of(d)));
        self.tree.clear();
        self.tree.resize(self.weights.len() + 1, 0);
        for (j, &w) in self.weights.iter().enumerate() {
            self.tree[j + 1] += w as u64;
            let parent = (j + 1) + ((j + 1) & (j + 1).wrapping_neg());
            if parent < self.tree.len() {
                let v = self.tree[j + 1];
                self.tree[parent] += v;
            }
        }
        self.total = self.weights.iter().map(|&w| w as u64).sum();
    }

    /// `dests[index]` was linked.
    fn add(&mut self, dests: &[Arc<Dest>], index: usize) {
        let n = self.weights.len();
        if !head_link(n, dests.len(), index) {
            self.rebuild(dests);
            return;
        }
        let w = Self::weight_of(&dests[0]);
        let i = n + 1; // 1-based position of the new leaf
        let low = i & i.wrapping_neg();
        let node = w as u64 + self.prefix(i - 1) - self.prefix(i - low);
        self.tree.push(node);
        self.weights.push(w);
        self.total += w as u64;
    }

    /// A server was unlinked.
    fn remove(&mut self, dests: &[Arc<Dest>]) {
        self.rebuild(dests);
    }

    /// Reads `dests[index]` again: O(log n).
    fn refresh(&mut self, dests: &[Arc<Dest>], index: usize) {
        let n = self.weights.len();
        let Some(j) = leaf_of(n, dests.len(), index) else {
            self.rebuild(dests);
            return;
        };
        let w = Self::weight_of(&dests[index]);
        let old = self.weights[j];
        if w == old {
            return;
        }
        self.weights[j] = w;
        self.total = self.total - old as u64 + w as u64;
        let mut i = j + 1;
        while i <= n {
            self.tree[i] = self.tree[i] - old as u64 + w as u64;
            i += i & i.wrapping_neg();
        }
    }
}

/// Whether any server has fewer than half its weight in active connections
/// (`active * 2 < weight`), the condition under which lblc and lblcr give up
/// a cached server that has more active connections than its weight; kept as
/// a count so the question costs O(1) instead of the kernel's O(n) walk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Underloaded {
    /// Per leaf (insertion order).
    under: Vec<bool>,
    count: usize,
}

impl Underloaded {
    /// The kernel's test (`is_overloaded` in `ip_vs_lblc.c`).
    #[inline]
    pub(crate) fn test(d: &Dest) -> bool {
        (d.active_conns() as u64) * 2 < d.weight() as u64
    }

    pub(crate) fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        self.under.clear();
        self.under.extend(dests.iter().rev().map(|d| Self::test(d)));
        self.count = self.under.iter().filter(|&&u| u).count();
    }

    pub(crate) fn add(&mut self, dests: &[Arc<Dest>], index: usize) {
        if !head_link(self.under.len(), dests.len(), index) {
            self.rebuild(dests);
            return;
        }
        let u = Self::test(&dests[0]);
        self.under.push(u);
        self.count += u as usize;
    }

    pub(crate) fn refresh(&mut self, dests: &[Arc<Dest>], index: usize) {
        let Some(j) = leaf_of(self.under.len(), dests.len(), index) else {
            self.rebuild(dests);
            return;
        };
        let u = Self::test(&dests[index]);
        if u != self.under[j] {
            self.under[j] = u;
            if u {
                self.count += 1;
            } else {
                self.count -= 1;
            }
        }
    }

    /// Whether any server is below half its weight.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.count > 0
    }
}

//! `lblc`: locality-based least connection (`net/netfilter/ipvs/ip_vs_lblc.c`).
//!
//! Meant for firewall-mark services in front of caches: a cache table maps a
//! packet's *destination* address to the real server last chosen for it, so
//! requests for one destination keep going to one cache. On a hit the cached
//! server is used unless it is gone (removed), has weight 0, or is
//! "overloaded" in lblc's sense: more active connections than its weight
//! while some server in the service has fewer than half its weight. Otherwise
//! (and on a miss) wlc chooses, and the table remembers the choice. The
//! kernel does not look at the overload flag on a hit, so a cached server
//! that reached its upper connection threshold keeps its destinations; lvskit
//! does the same.
//!
//! The table is the kernel's: 1024 buckets by `hash_32(fold(daddr), 10)`, at
//! most 16384 × 3/2 entries (beyond that, choices are not remembered). A
//! periodic check every 60 s, driven by the `now` of each pick, collects
//! entries: every 30th check drops those unused for
//! [`SchedParams::lblc_expiration`](super::SchedParams::lblc_expiration)
//! (24 h); in between, when the table holds more than 16384 entries, it drops
//! those unused for 6 minutes, walking buckets from a rover until it has
//! freed `4/3` of the excess (at most 8192).
//!
//! Cost per pick (from [`INDEX_FROM`](super::INDEX_FROM) servers up; below,
//! the kernel's scans, which are cheaper there): O(1) for a hit (the kernel's O(n) test for a less loaded
//! server is an O(1) count here), the wlc index on a miss (O(n) with
//! [`SchedParams::literal_scan`](super::SchedParams::literal_scan)), plus the
//! periodic checks (O(1024 + entries), at most once per 60 s of `now`).
//! Memory: the table's entries are reserved up front (24576 × 64 bytes of
//! address space, touched as they fill), plus wlc's index.
//!
//! Deliberate differences: the kernel compares times in jiffies (4 ms on
//! Debian), lvskit in the `Instant`s it is given; the kernel's periodic timer
//! starts when the service is created, lvskit's at the first pick.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::index::{Adaptive, LoadIndex, LoadStructure, Ratio, Underloaded};
use super::{SchedRequest, Scheduler, fold_addr, hash_32, wlc};
use crate::ipvs::dest::Dest;

/// `CONFIG_IP_VS_LBLC_TAB_BITS` (and LBLCR's), 10.
const TAB_BITS: u32 = 10;
const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: u32 = TAB_SIZE as u32 - 1;
/// `max_size`: 16 entries per bucket.
const MAX_SIZE: u32 = TAB_SIZE as u32 * 16;
/// New entries are refused at `max_size * 3 / 2`.
pub(crate) const CAPACITY: u32 = MAX_SIZE * 3 / 2;
/// `CHECK_EXPIRE_INTERVAL`.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// `ENTRY_TIMEOUT`: idle time after which an entry may be collected when the
/// table is over `max_size`.
const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// `COUNT_FOR_FULL_EXPIRATION`.
const FULL_EVERY: u32 = 30;
const NIL: u32 = u32::MAX;

/// One cache entry.
#[derive(Debug, Clone)]
pub(crate) struct Live<V> {
    pub(crate) addr: IpAddr,
    pub(crate) lastuse: Instant,
    pub(crate) val: V,
}

#[derive(Debug, Clone)]
pub(crate) struct Slot<V> {
    next: u32,
    live: Option<Live<V>>,
}

/// The lblc/lblcr cache table with the kernel's sizes and periodic
/// collection; `V` is what an entry holds.
#[derive(Debug, Clone)]
pub(crate) struct CacheTable<V> {
    heads: Vec<u32>,
    slots: Vec<Slot<V>>,
    free: u32,
    count: u32,
    rover: u32,
    counter: u32,
    next_tick: Option<Instant>,
    expiration: Duration,
}

impl<V> CacheTable<V> {
    pub(crate) fn new(expiration: Duration) -> Self {
        CacheTable {
            heads: vec![NIL; TAB_SIZE],
            slots: Vec::with_capacity(CAPACITY as usize),
            free: NIL,
            count: 0,
            rover: 0,
            counter: 1,
            next_tick: None,
            expiration,
        }
    }

    #[inline]
    fn bucket(addr: IpAddr) -> usize {
        hash_32(fold_addr(addr), TAB_BITS) as usize
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> u32 {
        self.count
    }

    /// The entry for `addr`.
    pub(crate) fn get(&mut self, addr: IpAddr) -> Option<&mut Live<V>> {
        let mut s = self.heads[Self::bucket(addr)];
        while s != NIL {
            let slot = &self.slots[s as usize];
            if slot.live.as_ref().is_some_and(|l| l.addr == addr) {
                return self.slots[s as usize].live.as_mut();
            }
            s = slot.next;
        }
        None
    }

    /// Links a new entry at the head of its bucket, unless the table holds
    /// `CAPACITY` entries already. Allocates nothing: the slots are
    /// reserved up front.
    pub(crate) fn insert(&mut self, addr: IpAddr, lastuse: Instant, val: V) -> bool {
        if self.count >= CAPACITY {
            return false;
        }
        let b = Self::bucket(addr);
        let live = Some(Live { addr, lastuse, val });
        let s = if self.free != NIL {
            let s = self.free;
            self.free = self.slots[s as usize].next;
            self.slots[s as usize] = Slot { next: self.heads[b], live };
            s
        } else {
            self.slots.push(Slot { next: self.heads[b], live });
            (self.slots.len() - 1) as u32
        };
        self.heads[b] = s;
        self.count += 1;
        true
    }

    /// Unlinks the entry for `addr` and returns what it held.
    pub(crate) fn remove(&mut self, addr: IpAddr) -> Option<V> {
        let b = Self::bucket(addr);
        let (mut prev, mut s) = (NIL, self.heads[b]);
        while s != NIL {
            if self.slots[s as usize].live.as_ref().is_some_and(|l| l.addr == addr) {
                return Some(self.unlink(b, prev, s));
            }
            prev = s;
            s = self.slots[s as usize].next;
        }
        None
    }

    fn unlink(&mut self, b: usize, prev: u32, s: u32) -> V {
        let next = self.slots[s as usize].next;
        if prev == NIL {
            self.heads[b] = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        let live = self.slots[s as usize].live.take().expect("linked slot is live");
        self.slots[s as usize].next = self.free;
        self.free = s;
        self.count -= 1;
        live.val
    }

    /// Drops every entry of bucket `b` for which `stale` holds; returns how
    /// many.
    fn sweep(&mut self, b: usize, stale: impl Fn(&Live<V>) -> bool, drop: &mut impl FnMut(V)) -> u32 {
        let mut n = 0;
        let (mut prev, mut s) = (NIL, self.heads[b]);
        while s != NIL {
            let next = self.slots[s as usize].next;
            if self.slots[s as usize].live.as_ref().is_some_and(&stale) {
                drop(self.unlink(b, prev, s));
                n += 1;
            } else {
                prev = s;
            }
            s = next;
        }
        n
    }

    /// `ip_vs_lblc_full_check`: drops entries unused for `expiration`.
    fn full_check(&mut self, now: Instant, drop: &mut impl FnMut(V)) {
        let exp = self.expiration;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & TAB_MASK;
            self.sweep(j as usize, |l| now >= l.lastuse + exp, drop);
        }
        self.rover = j;
    }

    /// `ip_vs_lblc_check_expire`, the periodic timer, at time `now`.
    fn check_expire(&mut self, now: Instant, drop: &mut impl FnMut(V)) {
        if self.counter % FULL_EVERY == 0 {
            self.full_check(now, drop);
            self.counter = 1;
            return;
        }
        if self.count <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let mut goal = ((self.count - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2) as i64;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & TAB_MASK;
            goal -= self.sweep(j as usize, |l| now >= l.lastuse + ENTRY_TIMEOUT, drop) as i64;
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
    }

    /// Runs the periodic checks due by `now`, each at its own time. The
    /// first call starts the 60 s timer.
    pub(crate) fn advance(&mut self, now: Instant, mut drop: impl FnMut(V)) {
        let mut tick = match self.next_tick {
            Some(t) => t,
            None => {
                self.next_tick = Some(now + CHECK_INTERVAL);
                return;
            }
        };
        while now >= tick {
            if self.count == 0 {
                // Nothing to collect: only the counter moves, around its
                // cycle 1..=30 (30 runs an empty full check and resets it).
                let ticks = (now.duration_since(tick).as_nanos() / CHECK_INTERVAL.as_nanos()) as u64 + 1;
                self.counter = ((self.counter as u64 - 1 + ticks) % FULL_EVERY as u64) as u32 + 1;
                tick += CHECK_INTERVAL * ticks as u32;
                break;
            }
            self.check_expire(tick, &mut drop);
            tick += CHECK_INTERVAL;
        }
        self.next_tick = Some(tick);
    }
}

/// Finds `dest` in the list: first at the list index its leaf `hint`
/// (insertion-order position, stable while servers are only added) gives,
/// else by a search that refreshes the hint.
#[inline]
pub(crate) fn locate(dests: &[Arc<Dest>], dest: &Arc<Dest>, hint: &mut u32) -> Option<usize> {
    let n = dests.len();
    if (*hint as usize) < n {
        let i = n - 1 - *hint as usize;
        if Arc::ptr_eq(&dests[i], dest) {
            return Some(i);
        }
    }
    let i = dests.iter().position(|d| Arc::ptr_eq(d, dest))?;
    *hint = (n - 1 - i) as u32;
    Some(i)
}

/// The indexes behind [`Locality`]: wlc's and the "less loaded server"
/// count.
#[derive(Debug, Clone)]
pub(crate) struct LocalityIndex {
    wlc: LoadIndex<Ratio>,
    under: Underloaded,
}

impl LoadStructure for LocalityIndex {
    fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        self.wlc.rebuild(dests);
        self.under.rebuild(dests);
    }
    fn add(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.wlc.add(dests, index);
        self.under.add(dests, index);
    }
    fn remove(&mut self, dests: &[Arc<Dest>]) {
        self.rebuild(dests);
    }
    fn refresh(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.wlc.refresh(dests, index);
        self.under.refresh(dests, index);
    }
}

/// The list-wide parts lblc and lblcr share: their wlc pick
/// (`__ip_vs_lblc_schedule`) and their "overloaded" test, indexed or as the
/// kernel's literal scans.
#[derive(Debug, Clone)]
pub(crate) struct Locality {
    index: Adaptive<LocalityIndex>,
}

impl Locality {
    pub(crate) fn new(literal_scan: bool, index_from: usize) -> Self {
        let inner =
            (!literal_scan).then(|| LocalityIndex { wlc: LoadIndex::new(wlc::key), under: Underloaded::default() });
        Locality { index: Adaptive::new(inner, index_from) }
    }

    pub(crate) fn indexed(&self) -> bool {
        self.index.live()
    }

    pub(crate) fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        self.index.rebuild(dests);
    }

    pub(crate) fn add(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.index.add(dests, index);
    }

    pub(crate) fn remove(&mut self, dests: &[Arc<Dest>]) {
        self.index.remove(dests);
    }

    pub(crate) fn refresh(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.index.refresh(dests, index);
    }

    /// wlc's choice.
    #[inline]
    pub(crate) fn least(&self, dests: &[Arc<Dest>]) -> Option<usize> {
        match self.index.get() {
            Some(ix) => ix.wlc.best(),
            None => wlc::scan(dests),
        }
    }

    /// `is_overloaded`: more active connections than weight while some
    /// server has fewer than half its weight.
    #[inline]
    pub(crate) fn overloaded(&self, dest: &Dest, dests: &[Arc<Dest>]) -> bool {
        if dest.active_conns() <= dest.weight() {
            return false;
        }
        match self.index.get() {
            Some(ix) => ix.under.any(),
            None => dests.iter().any(|d| Underloaded::test(d)),
        }
    }
}

/// What an lblc entry holds: the server and its leaf hint.
#[derive(Debug, Clone)]
struct Cached {
    dest: Arc<Dest>,
    hint: u32,
}

/// Locality-based least connection.
#[derive(Debug, Clone)]
pub struct LocalityLeastConn {
    table: CacheTable<Cached>,
    locality: Locality,
}

impl LocalityLeastConn {
    /// An lblc scheduler whose entries expire after `expiration` unused (the
    /// kernel's `lblc_expiration` sysctl, 24 h by default); with
    /// `literal_scan` its wlc choice and overload test scan the list as the
    /// kernel does, otherwise they use indexes from `index_from` servers up.
    pub fn new(expiration: Duration, literal_scan: bool, index_from: usize) -> Self {
        LocalityLeastConn { table: CacheTable::new(expiration), locality: Locality::new(literal_scan, index_from) }
    }

    /// The number of cached destinations.
    pub fn cached(&self) -> usize {
        self.table.len() as usize
    }
}

impl Scheduler for LocalityLeastConn {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn init(&mut self, dests: &[Arc<Dest>]) {
        self.locality.rebuild(dests);
    }

    fn add_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.locality.add(dests, index);
    }

    fn del_dest(&mut self, dests: &[Arc<Dest>], _removed: &Arc<Dest>, _index: usize) {
        self.locality.remove(dests);
    }

    fn update_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.locality.refresh(dests, index);
    }

    fn tracks_load(&self) -> bool {
        self.locality.indexed()
    }

    fn load_changed(&mut self, dests: &[Arc<Dest>], index: usize) {
        self.locality.refresh(dests, index);
    }

    /// `ip_vs_lblc_schedule`.
    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let (dests, now, daddr) = (req.dests, req.now, req.flow.dst);
        self.table.advance(now, drop);
        if let Some(en) = self.table.get(daddr) {
            en.lastuse = now;
            let c = &mut en.val;
            let d = &c.dest;
            if d.is_available() && d.weight() > 0 && !self.locality.overloaded(d, dests) {
                if let Some(i) = locate(dests, &c.dest, &mut c.hint) {
                    return Some(i);
                }
            }
        }
        let i = self.locality.least(dests)?;
        let dest = &dests[i];
        // ip_vs_lblc_new: keep an entry that already names this server,
        // replace one that names another.
        if let Some(en) = self.table.get(daddr) {
            if Arc::ptr_eq(&en.val.dest, dest) {
                return Some(i);
            }
            self.table.remove(daddr);
        }
        self.table.insert(daddr, now, Cached { dest: Arc::clone(dest), hint: (dests.len() - 1 - i) as u32 });
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use super::super::testutil::*;
    use crate::ipvs::sched::SchedParams;
    use crate::ipvs::{Flow, Protocol, ServiceFlags};

    fn to(last: u8) -> Flow {
        Flow::new(
            Protocol::Tcp,
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
            1000,
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
            80,
        )
    }

    #[test]
    fn caches_per_destination_and_overload_rule() {
        for scan in [false, true] {
            let mut svc = service_with("lblc", &[(1, 1), (2, 1), (3, 1)], scan);
            let t = Instant::now();
            // wlc with all idle: the head (3); the next destination too
            // (nothing bound yet), then bind connections to spread.
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(3));
            dest(&svc, 3).bind_conn(true);
            assert_eq!(pick_flow(&mut svc, &to(11), t), Some(2));
            dest(&svc, 2).bind_conn(true);
            // cached: 10 -> 3 even though 1 is idle
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(3));
            dest(&svc, 3).bind_conn(true); // 3: 2 active > weight 1 ...
            // ... and server 1 has 0 * 2 < 1: overloaded, wlc picks 1 and
            // the entry is replaced.
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(1));
            dest(&svc, 1).bind_conn(true);
            dest(&svc, 1).bind_conn(true);
            // Now nobody is below half its weight: 10 -> 1 stays although
            // 1 has 2 active > 1.
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(1));
            // A removed server is not used; a weight-0 one neither.
            del(&mut svc, 1);
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(2));
            edit_weight(&mut svc, 2, 0);
            assert_eq!(pick_flow(&mut svc, &to(11), t), Some(3));
        }
    }

    #[test]
    fn full_check_expires_unused_entries() {
        let params = SchedParams { lblc_expiration: Duration::from_secs(3600), ..SchedParams::default() };
        let mut svc = service_flags("lblc", &[(1, 1), (2, 1)], ServiceFlags::EMPTY, params);
        let t0 = Instant::now();
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        // The first pick starts the timer: checks every minute, a full check
        // at minutes 30, 60, 90 ... (every 30th).
        assert_eq!(pick_flow(&mut svc, &to(10), t0), Some(2));
        dest(&svc, 2).bind_conn(false); // 2 now heavier than 1 for wlc
        // Used at 20: the full checks at 30 and 60 keep it (younger than 1 h).
        assert_eq!(pick_flow(&mut svc, &to(10), min(20)), Some(2));
        assert_eq!(pick_flow(&mut svc, &to(10), min(80)), Some(2));
        // Used at 80: kept at 90 and 120, dropped by the full check at 150
        // (150 >= 80 + 60), so at 170 wlc chooses again: 1.
        let late = min(170);
        assert_eq!(pick_flow(&mut svc, &to(10), late), Some(1));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn entry_sizes() {
        // The figures the module docs state.
        assert_eq!(std::mem::size_of::<Slot<Cached>>(), 64);
    }
}

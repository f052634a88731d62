//! `lblcr`: locality-based least connection with replication
//! (`net/netfilter/ipvs/ip_vs_lblcr.c`).
//!
//! Like [`lblc`](super::LocalityLeastConn), a cache table maps a packet's
//! destination address to servers, but here to a *set* of servers, so a hot
//! destination can be served by several caches. On a hit the set's member
//! with the lowest overhead per weight is used (skipping overloaded, weight-0
//! and removed ones), unless it is "overloaded" in lblc's sense (more active
//! connections than its weight while some server has fewer than half its
//! weight): then wlc chooses over the whole service and the choice joins the
//! set. When a set of several servers has not changed for
//! [`SchedParams::lblcr_expiration`](super::SchedParams::lblcr_expiration)
//! (24 h), its most loaded member is dropped at the next hit. Sets keep the
//! kernel's order (newest member first), which decides ties.
//!
//! The table, its limits and its periodic collection are lblc's (1024
//! buckets, at most 24576 entries, a check every 60 s of `now`, a full check
//! every 30th, entries unused for the expiration dropped then).
//!
//! Cost per pick (from [`INDEX_FROM`](super::INDEX_FROM) servers up; below,
//! the kernel's scans): O(set size) for a hit, wlc's index on a miss or an
//! overloaded member (O(n) with
//! [`SchedParams::literal_scan`](super::SchedParams::literal_scan)), plus the
//! periodic checks. Memory: entries reserved up front as in lblc (24576 ×
//! 72 bytes of address space), 16 bytes per set member. Set members come
//! from a pool reserved for one member per entry; a pick allocates only when
//! the pool must grow past its high-water mark (never in a steady state).
//!
//! Deliberate differences are lblc's (times in `Instant`s, not jiffies; the
//! timer starts at the first pick).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lblc::{CAPACITY, CacheTable, Locality, locate};
use super::{SchedRequest, Scheduler};
use crate::ipvs::dest::Dest;

const NIL: u32 = u32::MAX;

/// A set member (`struct ip_vs_dest_set_elem`) in the pool.
#[derive(Debug, Clone)]
struct Elem {
    dest: Option<Arc<Dest>>,
    /// Leaf hint for [`locate`].
    hint: u32,
    next: u32,
}

/// A server set (`struct ip_vs_dest_set`): a list in the pool.
#[derive(Debug, Clone, Copy)]
struct Set {
    head: u32,
    size: u32,
    lastmod: Instant,
}

/// The pool of set members.
#[derive(Debug, Clone)]
struct Pool {
    elems: Vec<Elem>,
    free: u32,
}

impl Pool {
    fn dest(&self, e: u32) -> &Arc<Dest> {
        self.elems[e as usize].dest.as_ref().expect("set member is live")
    }

    /// `ip_vs_dest_set_insert`: at the head, unless (with `check`) present.
    fn insert(&mut self, set: &mut Set, dest: &Arc<Dest>, hint: u32, check: bool, now: Instant) {
        if check {
            let mut e = set.head;
            while e != NIL {
                if Arc::ptr_eq(self.dest(e), dest) {
                    return;
                }
                e = self.elems[e as usize].next;
            }
        }
        let elem = Elem { dest: Some(Arc::clone(dest)), hint, next: set.head };
        let e = if self.free != NIL {
            let e = self.free;
            self.free = self.elems[e as usize].next;
            self.elems[e as usize] = elem;
            e
        } else {
            self.elems.push(elem);
            (self.elems.len() - 1) as u32
        };
        set.head = e;
        set.size += 1;
        set.lastmod = now;
    }

    /// `ip_vs_dest_set_erase`: the first member that is `dest`.
    fn erase(&mut self, set: &mut Set, dest: &Arc<Dest>, now: Instant) {
        let (mut prev, mut e) = (NIL, set.head);
        while e != NIL {
            let next = self.elems[e as usize].next;
            if Arc::ptr_eq(self.dest(e), dest) {
                set.size -= 1;
                set.lastmod = now;
                if prev == NIL {
                    set.head = next;
                } else {
                    self.elems[prev as usize].next = next;
                }
                self.release(e);
                return;
            }
            prev = e;
            e = next;
        }
    }

    fn release(&mut self, e: u32) {
        self.elems[e as usize] = Elem { dest: None, hint: 0, next: self.free };
        self.free = e;
    }

    /// `ip_vs_dest_set_eraseall`.
    fn free_all(&mut self, set: Set) {
        let mut e = set.head;
        while e != NIL {
            let next = self.elems[e as usize].next;
            self.release(e);
            e = next;
        }
    }

    /// `ip_vs_dest_set_min`: the weighted least-connection member.
    fn min(&self, set: &Set) -> Option<u32> {
        let mut e = set.head;
        let (mut least, mut loh, mut lw) = loop {
            if e == NIL {
                return None;
            }
            let d = self.dest(e);
            if !d.is_overloaded() && d.weight() > 0 && d.is_available() {
                break (e, d.conn_overhead(), d.weight() as u64);
            }
            e = self.elems[e as usize].next;
        };
        e = self.elems[e as usize].next;
        while e != NIL {
            let d = self.dest(e);
            if !d.is_overloaded() {
                let (doh, dw) = (d.conn_overhead(), d.weight() as u64);
                if loh * dw > doh * lw && d.is_available() {
                    (least, loh, lw) = (e, doh, dw);
                }
            }
            e = self.elems[e as usize].next;
        }
        Some(least)
    }

    /// `ip_vs_dest_set_max`: the weighted most-connection member (of weight
    /// above 0; overloaded and removed members count too).
    fn max(&self, set: &Set) -> Option<u32> {
        let mut e = set.head;
        let (mut most, mut moh, mut mw) = loop {
            if e == NIL {
                return None;
            }
            let d = self.dest(e);
            if d.weight() > 0 {
                break (e, d.conn_overhead(), d.weight() as u64);
            }
            e = self.elems[e as usize].next;
        };
        e = self.elems[e as usize].next;
        while e != NIL {
            let d = self.dest(e);
            let (doh, dw) = (d.conn_overhead(), d.weight() as u64);
            if moh * dw < doh * mw && dw > 0 {
                (most, moh, mw) = (e, doh, dw);
            }
            e = self.elems[e as usize].next;
        }
        Some(most)
    }
}

/// Locality-based least connection with replication.
#[derive(Debug, Clone)]
pub struct LocalityLeastConnReplication {
    table: CacheTable<Set>,
    pool: Pool,
    locality: Locality,
    expiration: Duration,
}

impl LocalityLeastConnReplication {
    /// An lblcr scheduler whose sets shed their most loaded member and whose
    /// entries expire after `expiration` (the kernel's `lblcr_expiration`
    /// sysctl, 24 h by default); with `literal_scan` its wlc choice and
    /// overload test scan the list as the kernel does, otherwise they use
    /// indexes from `index_from` servers up.
    pub fn new(expiration: Duration, literal_scan: bool, index_from: usize) -> Self {
        LocalityLeastConnReplication {
            table: CacheTable::new(expiration),
            pool: Pool { elems: Vec::with_capacity(CAPACITY as usize), free: NIL },
            locality: Locality::new(literal_scan, index_from),
            expiration,
        }
    }

    /// The number of cached destinations.
    pub fn cached(&self) -> usize {
        self.table.len() as usize
    }

    /// The servers cached for destination `daddr`, newest member first.
    pub fn set_of(&mut self, daddr: std::net::IpAddr) -> Vec<Arc<Dest>> {
        let mut out = Vec::new();
        if let Some(en) = self.table.get(daddr) {
            let mut e = en.val.head;
            while e != NIL {
                out.push(Arc::clone(self.pool.dest(e)));
                e = self.pool.elems[e as usize].next;
            }
        }
        out
    }
}

impl Scheduler for LocalityLeastConnReplication {
    fn name(&self) -> &'static str {
        "lblcr"
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

    /// `ip_vs_lblcr_schedule`.
    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let (dests, now, daddr) = (req.dests, req.now, req.flow.dst);
        let pool = &mut self.pool;
        self.table.advance(now, |set| pool.free_all(set));
        let exp = self.expiration;
        if let Some(en) = self.table.get(daddr) {
            en.lastuse = now;
            let set = &mut en.val;
            // The least loaded member, located before a possible erase.
            let min = self.pool.min(set).map(|e| {
                let elem = &mut self.pool.elems[e as usize];
                let d = elem.dest.as_ref().expect("set member is live");
                locate(dests, d, &mut elem.hint)
            });
            if set.size > 1 && now > set.lastmod + exp {
                if let Some(m) = self.pool.max(set) {
                    let m = Arc::clone(self.pool.dest(m));
                    self.pool.erase(set, &m, now);
                }
            }
            if let Some(Some(i)) = min {
                if !self.locality.overloaded(&dests[i], dests) {
                    return Some(i);
                }
            }
            let i = self.locality.least(dests)?;
            self.pool.insert(set, &dests[i], (dests.len() - 1 - i) as u32, true, now);
            return Some(i);
        }
        let i = self.locality.least(dests)?;
        let mut set = Set { head: NIL, size: 0, lastmod: now };
        if self.table.len() < CAPACITY {
            self.pool.insert(&mut set, &dests[i], (dests.len() - 1 - i) as u32, false, now);
            self.table.insert(daddr, now, set);
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use super::super::testutil::*;
    use super::*;
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

    /// Drives a literal-scan lblcr over the servers of `svc` (an rr
    /// service used only to hold the list).
    fn go(s: &mut LocalityLeastConnReplication, dests: &[Arc<Dest>], daddr: u8, now: Instant) -> u8 {
        let flow = to(daddr);
        let req = SchedRequest { dests, flow: &flow, flags: ServiceFlags::EMPTY, now };
        octet(&dests[s.schedule(&req).expect("a server")])
    }

    fn members(s: &mut LocalityLeastConnReplication, daddr: u8) -> Vec<u8> {
        s.set_of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, daddr))).iter().map(|d| octet(d)).collect()
    }

    #[test]
    fn set_grows_under_load_and_sheds_after_expiration() {
        let svc = service_with("rr", &[(1, 1), (2, 1), (3, 1)], false); // list 3 2 1
        let dests = svc.dests();
        let mut s = LocalityLeastConnReplication::new(Duration::from_secs(600), true, 0);
        s.init(dests);
        let t = Instant::now();
        assert_eq!(go(&mut s, dests, 10, t), 3, "miss: wlc, all idle: the head");
        dest(&svc, 3).bind_conn(true);
        dest(&svc, 3).bind_conn(true); // 3: 2 active > weight 1, and 1, 2 idle
        assert_eq!(go(&mut s, dests, 10, t), 2, "3 overloaded: wlc picks 2, which joins");
        assert_eq!(members(&mut s, 10), [2, 3]);
        dest(&svc, 2).bind_conn(true);
        assert_eq!(go(&mut s, dests, 10, t), 2, "set min: 2 (258) before 3 (514)");
        dest(&svc, 2).bind_conn(true); // 2: 514, over its weight; 1 idle
        assert_eq!(go(&mut s, dests, 10, t), 1);
        assert_eq!(members(&mut s, 10), [1, 2, 3]);
        // Unchanged for more than 10 minutes: the most loaded member goes,
        // 2 (514, found before 3's equal 514).
        let later = t + Duration::from_secs(11 * 60);
        assert_eq!(go(&mut s, dests, 10, later), 1);
        assert_eq!(members(&mut s, 10), [1, 3]);
        assert_eq!(go(&mut s, dests, 10, later + Duration::from_secs(5 * 60)), 1);
        assert_eq!(members(&mut s, 10), [1, 3], "changed 5 minutes ago: kept");
        assert_eq!(go(&mut s, dests, 10, later + Duration::from_secs(11 * 60)), 1);
        assert_eq!(members(&mut s, 10), [1]);
        assert_eq!(s.cached(), 1);
    }

    #[test]
    fn sizes_the_docs_state() {
        assert_eq!(std::mem::size_of::<super::super::lblc::Slot<Set>>(), 72);
        assert_eq!(std::mem::size_of::<Elem>(), 16);
    }

    #[test]
    fn removed_member_is_skipped() {
        for scan in [false, true] {
            let params = SchedParams { literal_scan: scan, index_from: 0, ..SchedParams::default() };
            let mut svc = service_flags("lblcr", &[(1, 1), (2, 1)], ServiceFlags::EMPTY, params);
            let t = Instant::now();
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(2));
            del(&mut svc, 2);
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(1), "set [2] has no usable member: wlc");
            add(&mut svc, 3, 1);
            dest(&svc, 3).bind_conn(true);
            assert_eq!(pick_flow(&mut svc, &to(10), t), Some(1), "set [1, 2]: 1");
        }
    }
}

//! `nq`: never queue (`net/netfilter/ipvs/ip_vs_nq.c`).
//!
//! Picks the first server in the kernel's list (the newest) that is idle (no
//! active connection), not overloaded and of weight above 0. When none is
//! idle, it behaves like sed: the lowest `(active + 1) / weight`, compared by
//! cross-multiplying, the first in list order among equals.
//!
//! The kernel scans every server at every pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up (below, the scan is cheaper
//! than the upkeep) lvskit keeps a tournament
//! tree whose key ranks idle servers first and
//! chooses the same server. Cost per pick: O(1), plus O(log n) per server
//! whose load changed since the last pick; with
//! [`SchedParams::literal_scan`](super::SchedParams::literal_scan), the
//! kernel's O(n) scan ([`scan`]). Memory: 32 bytes per server.

use std::sync::Arc;

use super::index::{Adaptive, LoadIndex, Queue, Ratio, load_scheduler};
use super::{active_plus_one, usable};
use crate::ipvs::dest::Dest;

/// Never queue.
#[derive(Debug, Clone)]
pub struct NeverQueue {
    index: Adaptive<LoadIndex<Queue>>,
}

fn key(d: &Dest) -> Option<Queue> {
    usable(d).then(|| Queue {
        idle: d.active_conns() == 0,
        ratio: Ratio { overhead: active_plus_one(d), weight: d.weight() },
    })
}

/// The kernel's literal scan (`ip_vs_nq_schedule`): O(n).
pub fn scan(dests: &[Arc<Dest>]) -> Option<usize> {
    let mut least: Option<usize> = None;
    let (mut loh, mut lw) = (0u64, 0u64);
    for (i, d) in dests.iter().enumerate() {
        if !usable(d) {
            continue;
        }
        let doh = active_plus_one(d);
        if d.active_conns() == 0 {
            return Some(i);
        }
        let dw = d.weight() as u64;
        if least.is_none() || loh * dw > doh * lw {
            least = Some(i);
            loh = doh;
            lw = dw;
        }
    }
    least
}

load_scheduler!(NeverQueue, "nq", Queue, key, scan);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn idle_first_then_expected_delay() {
        for scan in [false, true] {
            // list: 3(w1) 2(w1) 1(w10)
            let mut svc = service_with("nq", &[(1, 10), (2, 1), (3, 1)], scan);
            assert_eq!(pick(&mut svc), 3, "all idle: the head");
            set_conns(&svc, 3, 1, 0);
            assert_eq!(pick(&mut svc), 2, "the first idle one, whatever the weights");
            set_conns(&svc, 2, 1, 0);
            assert_eq!(pick(&mut svc), 1);
            set_conns(&svc, 1, 5, 0);
            // 3: 2/1, 2: 2/1, 1: 6/10 -> 1
            assert_eq!(pick(&mut svc), 1);
            set_conns(&svc, 1, 19, 0); // 20/10 ties 2/1: list order -> 3
            assert_eq!(pick(&mut svc), 3);
            overload(&svc, 3, true);
            assert_eq!(pick(&mut svc), 2);
            set_conns(&svc, 1, 0, 50); // idle again (inactive do not count)
            assert_eq!(pick(&mut svc), 1);
        }
    }
}

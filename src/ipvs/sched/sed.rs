//! `sed`: shortest expected delay (`net/netfilter/ipvs/ip_vs_sed.c`).
//!
//! Picks the server with the lowest `(active + 1) / weight`, the delay a new
//! connection would expect, among those that are not overloaded and have a
//! weight above 0. Inactive connections do not count. Like wlc the kernel
//! compares by cross-multiplying and keeps the first in its list (the newest)
//! among equals; lvskit compares exactly the same way.
//!
//! The kernel scans every server at every pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up (below, the scan is cheaper
//! than the upkeep) lvskit keeps a tournament
//! tree over the ratios and chooses the same
//! server. Cost per pick: O(1), plus O(log n) per server whose load changed
//! since the last pick; with [`SchedParams::literal_scan`](super::SchedParams::literal_scan),
//! the kernel's O(n) scan ([`scan`]). Memory: 24 bytes per server.

use std::sync::Arc;

use super::index::{Adaptive, LoadIndex, Ratio, load_scheduler};
use super::wlc::weighted_scan;
use super::{active_plus_one, usable};
use crate::ipvs::dest::Dest;

/// Shortest expected delay.
#[derive(Debug, Clone)]
pub struct ShortestExpectedDelay {
    index: Adaptive<LoadIndex<Ratio>>,
}

fn key(d: &Dest) -> Option<Ratio> {
    usable(d).then(|| Ratio { overhead: active_plus_one(d), weight: d.weight() })
}

/// The kernel's literal scan (`ip_vs_sed_schedule`): O(n).
pub fn scan(dests: &[Arc<Dest>]) -> Option<usize> {
    weighted_scan(dests, active_plus_one)
}

load_scheduler!(ShortestExpectedDelay, "sed", Ratio, key, scan);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn expected_delay_ignores_inactive() {
        for scan in [false, true] {
            // list: 2(w1) 1(w3)
            let mut svc = service_with("sed", &[(1, 3), (2, 1)], scan);
            // 2: 1/1, 1: 1/3 -> 1
            assert_eq!(pick(&mut svc), 1);
            set_conns(&svc, 1, 2, 100); // 3/3 = 1 ties 2's 1/1: list order -> 2
            assert_eq!(pick(&mut svc), 2);
            set_conns(&svc, 2, 0, 1000); // inactive do not count
            assert_eq!(pick(&mut svc), 2);
            set_conns(&svc, 2, 1, 0); // 2/1 > 1
            assert_eq!(pick(&mut svc), 1);
        }
    }

    #[test]
    fn sequence_with_active_connections() {
        // Weights 2 (1) and 1 (2), list 2 1, each pick adds an active
        // connection. t0: 1/1 vs 1/2 -> 1 (a=1). t1: 1/1 vs 2/2 tie -> 2
        // (a=1). t2: 2/1 vs 2/2 -> 1 (a=2). t3: 2/1 vs 3/2 -> 1 (a=3).
        // t4: 2/1 vs 4/2 tie -> 2. t5: 3/1 vs 4/2 -> 1. t6: 3/1 vs 5/2 -> 1.
        let mut svc = service_with("sed", &[(1, 2), (2, 1)], false);
        let seq: Vec<u8> = (0..7)
            .map(|_| {
                let d = pick(&mut svc);
                dest(&svc, d).bind_conn(true);
                d
            })
            .collect();
        assert_eq!(seq, [1, 2, 1, 1, 2, 1, 1]);
    }
}

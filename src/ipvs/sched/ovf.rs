//! `ovf`: weighted overflow (`net/netfilter/ipvs/ip_vs_ovf.c`).
//!
//! Sends new connections to the server with the highest weight among those
//! that are not overloaded, have a weight above 0 and have no more active
//! connections than their weight; among equal weights the first in the
//! kernel's list (the newest) wins. When the heaviest fills up (more active
//! connections than its weight), traffic overflows to the next heaviest.
//!
//! The kernel scans every server at every pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up (below, the scan is cheaper
//! than the upkeep) lvskit keeps a tournament
//! tree over the weights of the eligible servers,
//! updated when a server's counters, weight or overload flag change, and
//! chooses the same server. Cost per pick: O(1), plus O(log n) per server
//! whose load changed since the last pick; with
//! [`SchedParams::literal_scan`](super::SchedParams::literal_scan), the
//! kernel's O(n) scan ([`scan`]). Memory: 12 bytes per server.

use std::sync::Arc;

use super::index::{Adaptive, Heaviest, LoadIndex, load_scheduler};
use crate::ipvs::dest::Dest;

/// Weighted overflow.
#[derive(Debug, Clone)]
pub struct WeightedOverflow {
    index: Adaptive<LoadIndex<Heaviest>>,
}

fn eligible(d: &Dest) -> bool {
    let w = d.weight();
    !d.is_overloaded() && d.active_conns() <= w && w > 0
}

fn key(d: &Dest) -> Option<Heaviest> {
    eligible(d).then(|| Heaviest(d.weight()))
}

/// The kernel's literal scan (`ip_vs_ovf_schedule`): O(n).
pub fn scan(dests: &[Arc<Dest>]) -> Option<usize> {
    let mut best = None;
    let mut hw = 0;
    for (i, d) in dests.iter().enumerate() {
        if !eligible(d) {
            continue;
        }
        let w = d.weight();
        if best.is_none() || w > hw {
            best = Some(i);
            hw = w;
        }
    }
    best
}

load_scheduler!(WeightedOverflow, "ovf", Heaviest, key, scan);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn overflows_when_active_exceeds_weight() {
        for scan in [false, true] {
            // list: 2(w1) 1(w2)
            let mut svc = service_with("ovf", &[(1, 2), (2, 1)], scan);
            // Each pick binds an active connection: 1 takes up to weight + 1
            // = 3 (eligible while active <= 2), then 2 takes 2, then none.
            let seq: Vec<u8> = (0..6)
                .map(|_| match pick_opt(&mut svc) {
                    Some(d) => {
                        dest(&svc, d).bind_conn(true);
                        d
                    }
                    None => 0,
                })
                .collect();
            assert_eq!(seq, [1, 1, 1, 2, 2, 0]);
            dest(&svc, 1).unbind_conn(true); // 1: 2 active <= 2
            assert_eq!(pick(&mut svc), 1);
        }
    }
}

//! `fo`: weighted failover (`net/netfilter/ipvs/ip_vs_fo.c`).
//!
//! Sends every new connection to the server with the highest weight that is
//! not overloaded (weight 0 never qualifies); among equal weights the first
//! in the kernel's list (the newest) wins. Connection counts play no part.
//!
//! The kernel scans every server at every pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up (below, the scan is cheaper
//! than the upkeep) lvskit keeps a tournament
//! tree over the weights, updated when a server's
//! weight or overload flag changes, and chooses the same server. Cost per
//! pick: O(1), plus O(log n) per server whose overload flag changed since the
//! last pick; with [`SchedParams::literal_scan`](super::SchedParams::literal_scan),
//! the kernel's O(n) scan ([`scan`]). Memory: 12 bytes per server.

use std::sync::Arc;

use super::index::{Adaptive, Heaviest, LoadIndex, load_scheduler};
use crate::ipvs::dest::Dest;

/// Weighted failover.
#[derive(Debug, Clone)]
pub struct WeightedFailover {
    index: Adaptive<LoadIndex<Heaviest>>,
}

fn key(d: &Dest) -> Option<Heaviest> {
    (!d.is_overloaded() && d.weight() > 0).then(|| Heaviest(d.weight()))
}

/// The kernel's literal scan (`ip_vs_fo_schedule`): O(n).
pub fn scan(dests: &[Arc<Dest>]) -> Option<usize> {
    let mut best = None;
    let mut hw = 0;
    for (i, d) in dests.iter().enumerate() {
        if !d.is_overloaded() && d.weight() > hw {
            best = Some(i);
            hw = d.weight();
        }
    }
    best
}

load_scheduler!(WeightedFailover, "fo", Heaviest, key, scan);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn heaviest_then_fails_over() {
        for scan in [false, true] {
            // list: 3(w5) 2(w10) 1(w10)
            let mut svc = service_with("fo", &[(1, 10), (2, 10), (3, 5)], scan);
            assert_eq!(picks(&mut svc, 3), [2, 2, 2], "equal weights: list order");
            overload(&svc, 2, true);
            assert_eq!(pick(&mut svc), 1);
            edit_weight(&mut svc, 1, 0);
            assert_eq!(pick(&mut svc), 3);
            set_conns(&svc, 3, 1000, 0); // counters do not matter
            assert_eq!(pick(&mut svc), 3);
            overload(&svc, 3, true);
            assert_eq!(pick_opt(&mut svc), None);
            overload(&svc, 2, false);
            assert_eq!(pick(&mut svc), 2);
        }
    }
}

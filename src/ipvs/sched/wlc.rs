//! `wlc`: weighted least connection (`net/netfilter/ipvs/ip_vs_wlc.c`), the
//! kernel's default scheduler.
//!
//! Picks the server with the lowest overhead per weight,
//! `((active << 8) + total) / weight`, among those that are not overloaded
//! and have a weight above 0. The kernel compares `h1 / w1` with `h2 / w2` by
//! cross-multiplying in 64 bits, replacing its pick only when another server
//! is strictly lighter, so among equal ratios the first in the kernel's list
//! (the newest) wins; lvskit compares exactly the same way.
//!
//! The kernel scans every server at every pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up (below, the scan is cheaper
//! than the upkeep) lvskit keeps a tournament
//! tree over the ratios, updated when a server's
//! counters, overload flag or weight change, and chooses the same server.
//! Cost per pick: O(1), plus O(log n) per server whose load changed since
//! the last pick; with [`SchedParams::literal_scan`](super::SchedParams::literal_scan),
//! the kernel's O(n) scan ([`scan`]). Memory: 24 bytes per server.

use std::sync::Arc;

use super::index::{Adaptive, LoadIndex, Ratio, load_scheduler};
use super::usable;
use crate::ipvs::dest::Dest;

/// Weighted least connection.
#[derive(Debug, Clone)]
pub struct WeightedLeastConn {
    index: Adaptive<LoadIndex<Ratio>>,
}

pub(crate) fn key(d: &Dest) -> Option<Ratio> {
    usable(d).then(|| Ratio { overhead: d.conn_overhead(), weight: d.weight() })
}

/// The kernel's literal scan (`ip_vs_wlc_schedule`): the first usable
/// server, then every later one that is not overloaded and strictly lighter.
/// O(n).
pub fn scan(dests: &[Arc<Dest>]) -> Option<usize> {
    weighted_scan(dests, Dest::conn_overhead)
}

/// The scan wlc, sed and the lblc family share, with `overhead` the load
/// estimate: the first server that is not overloaded and has a weight above
/// 0, then any later one that is not overloaded and whose `overhead * lw` is
/// below the pick's `loh * dw`.
pub(crate) fn weighted_scan(dests: &[Arc<Dest>], overhead: fn(&Dest) -> u64) -> Option<usize> {
    let mut it = dests.iter().enumerate();
    let (mut least, mut loh, mut lw) = loop {
        let (i, d) = it.next()?;
        if usable(d) {
            break (i, overhead(d), d.weight() as u64);
        }
    };
    for (i, d) in it {
        if d.is_overloaded() {
            continue;
        }
        let doh = overhead(d);
        let dw = d.weight() as u64;
        if loh * dw > doh * lw {
            least = i;
            loh = doh;
            lw = dw;
        }
    }
    Some(least)
}

load_scheduler!(WeightedLeastConn, "wlc", Ratio, key, scan);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn lowest_ratio_with_list_order_ties() {
        for scan in [false, true] {
            // list: 3(w4) 2(w2) 1(w1)
            let mut svc = service_with("wlc", &[(1, 1), (2, 2), (3, 4)], scan);
            assert_eq!(pick(&mut svc), 3);
            set_conns(&svc, 3, 0, 4); // 4/4 = 1
            set_conns(&svc, 2, 0, 2); // 2/2 = 1
            set_conns(&svc, 1, 0, 1); // 1/1 = 1
            assert_eq!(pick(&mut svc), 3, "equal ratios: list order");
            set_conns(&svc, 3, 0, 5); // 5/4
            assert_eq!(pick(&mut svc), 2);
            set_conns(&svc, 1, 0, 0);
            assert_eq!(pick(&mut svc), 1);
            edit_weight(&mut svc, 1, 0);
            assert_eq!(pick(&mut svc), 2);
            overload(&svc, 2, true);
            assert_eq!(pick(&mut svc), 3);
            overload(&svc, 3, true);
            assert_eq!(pick_opt(&mut svc), None);
        }
    }

    #[test]
    fn sequence_with_binding() {
        // Hand-derived: weights 3 (server 1) and 1 (server 2), list 2 1;
        // each pick binds an inactive connection (overhead +1).
        // t=0: 2: 0/1, 1: 0/3 -> tie, head 2. 2: 1/1.
        // t=1: 1: 0/3 < 1 -> 1 (1/3). t=2: 1/3 < 1 -> 1 (2/3). t=3: 2/3 -> 1 (3/3).
        // t=4: 1/1 vs 3/3 tie -> 2 (2/1). t=5..: 1 until 6/3 = 2/1, tie -> 2.
        let mut svc = service_with("wlc", &[(1, 3), (2, 1)], false);
        let seq: Vec<u8> = (0..8)
            .map(|_| {
                let d = pick(&mut svc);
                dest(&svc, d).bind_conn(false);
                d
            })
            .collect();
        assert_eq!(seq, [2, 1, 1, 1, 2, 1, 1, 1]);
    }
}

//! `lc`: least connection (`net/netfilter/ipvs/ip_vs_lc.c`).
//!
//! Picks the server with the lowest overhead `(active << 8) + total` (257 per
//! active and 1 per inactive connection, [`Dest::conn_overhead`]) among those
//! that are not overloaded and have a weight above 0; weights play no other
//! part. Among equals the first in the kernel's list (the newest) wins,
//! because the kernel only replaces its pick on a strictly lower overhead.
//!
//! The kernel scans every server at every pick. From
//! [`INDEX_FROM`](super::INDEX_FROM) servers up (below, the scan is cheaper
//! than the upkeep) lvskit keeps a tournament
//! tree over the overheads, updated when a
//! server's counters, overload flag or weight change, and chooses the same
//! server. Cost per pick: O(1), plus O(log n) per server whose load changed
//! since the last pick; with [`SchedParams::literal_scan`](super::SchedParams::literal_scan),
//! the kernel's O(n) scan ([`scan`]). Memory: 16 bytes per server.

use std::sync::Arc;

use super::index::{Adaptive, LoadIndex, Overhead, load_scheduler};
use super::usable;
use crate::ipvs::dest::Dest;

/// Least connection.
#[derive(Debug, Clone)]
pub struct LeastConn {
    index: Adaptive<LoadIndex<Overhead>>,
}

fn key(d: &Dest) -> Option<Overhead> {
    usable(d).then(|| Overhead(d.conn_overhead()))
}

/// The kernel's literal scan (`ip_vs_lc_schedule`): O(n).
pub fn scan(dests: &[Arc<Dest>]) -> Option<usize> {
    let mut least = None;
    let mut loh = 0;
    for (i, d) in dests.iter().enumerate() {
        if d.is_overloaded() || d.weight() == 0 {
            continue;
        }
        let doh = d.conn_overhead();
        if least.is_none() || doh < loh {
            least = Some(i);
            loh = doh;
        }
    }
    least
}

load_scheduler!(LeastConn, "lc", Overhead, key, scan);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn least_overhead_first_in_list_among_equals() {
        for scan in [false, true] {
            // list: 3 2 1
            let mut svc = service_with("lc", &[(1, 1), (2, 1), (3, 1)], scan);
            assert_eq!(pick(&mut svc), 3, "all idle: the head");
            set_conns(&svc, 3, 1, 0); // 257
            set_conns(&svc, 2, 0, 200); // 200
            set_conns(&svc, 1, 0, 200); // 200
            assert_eq!(pick(&mut svc), 2, "200 < 257; 2 comes before 1");
            set_conns(&svc, 2, 0, 201);
            assert_eq!(pick(&mut svc), 1);
            // weights do not matter, weight 0 and overload do
            edit_weight(&mut svc, 1, 0);
            assert_eq!(pick(&mut svc), 2);
            overload(&svc, 2, true);
            assert_eq!(pick(&mut svc), 3);
            overload(&svc, 3, true);
            assert_eq!(pick_opt(&mut svc), None);
        }
    }

    #[test]
    fn follows_connection_binding() {
        // Each pick binds a connection (inactive first, as the kernel binds
        // it): overheads 1 each, so the picks rotate through the list.
        let mut svc = service_with("lc", &[(1, 1), (2, 5), (3, 1)], false);
        let seq: Vec<u8> = (0..6)
            .map(|_| {
                let d = pick(&mut svc);
                dest(&svc, d).bind_conn(false);
                d
            })
            .collect();
        assert_eq!(seq, [3, 2, 1, 3, 2, 1]);
        dest(&svc, 2).activate_conn(); // 2: 257 + 2
        let seq: Vec<u8> = (0..3)
            .map(|_| {
                let d = pick(&mut svc);
                dest(&svc, d).bind_conn(false);
                d
            })
            .collect();
        assert_eq!(seq, [3, 1, 3]);
    }
}

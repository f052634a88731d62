//! `dh`: destination hashing (`net/netfilter/ipvs/ip_vs_dh.c`).
//!
//! A 256-bucket table maps a hash of the packet's *destination* address to a
//! real server; it is meant for firewall-mark services in front of caches,
//! where many destination addresses share one service (a plain service sees
//! one destination, its own address, and so always picks one server). The
//! table gives one bucket to each server in the kernel's list order, round
//! and round (weights are ignored), and is rebuilt when a server is added or
//! removed, not when one is edited. The bucket is `hash_32(fold(daddr), 8)`.
//! A bucket whose server is overloaded or has weight 0 gives no server; there
//! is no fallback.
//!
//! Cost per pick: O(1). Memory: 1 KiB. Rebuild on a change: O(256).

use std::sync::Arc;

use super::{SchedRequest, Scheduler, fold_addr, hash_32, usable};
use crate::ipvs::dest::Dest;

const TAB_BITS: u32 = 8;
const TAB_SIZE: usize = 1 << TAB_BITS;
const EMPTY: u32 = u32::MAX;

/// Destination hashing.
#[derive(Clone)]
pub struct DestHashing {
    buckets: [u32; TAB_SIZE],
}

impl std::fmt::Debug for DestHashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestHashing").field("buckets", &&self.buckets[..]).finish()
    }
}

impl Default for DestHashing {
    fn default() -> Self {
        Self::new()
    }
}

impl DestHashing {
    /// A destination-hashing scheduler over an empty list.
    pub fn new() -> Self {
        DestHashing { buckets: [EMPTY; TAB_SIZE] }
    }

    /// `ip_vs_dh_reassign`: one bucket per server, round and round.
    fn reassign(&mut self, dests: &[Arc<Dest>]) {
        for (b, slot) in self.buckets.iter_mut().enumerate() {
            *slot = if dests.is_empty() { EMPTY } else { (b % dests.len()) as u32 };
        }
    }
}

impl Scheduler for DestHashing {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn init(&mut self, dests: &[Arc<Dest>]) {
        self.reassign(dests);
    }

    fn add_dest(&mut self, dests: &[Arc<Dest>], _index: usize) {
        self.reassign(dests);
    }

    fn del_dest(&mut self, dests: &[Arc<Dest>], _removed: &Arc<Dest>, _index: usize) {
        self.reassign(dests);
    }

    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let b = hash_32(fold_addr(req.flow.dst), TAB_BITS) as usize;
        let i = self.buckets[b];
        if i == EMPTY {
            return None;
        }
        let d = &req.dests[i as usize];
        (d.is_available() && usable(d)).then_some(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Instant;

    use super::super::testutil::*;
    use crate::ipvs::{Flow, Protocol};

    #[test]
    fn hashes_the_destination() {
        // list: 3 2 1; bucket b -> index b % 3.
        let mut svc = service_with("dh", &[(1, 1), (2, 5), (3, 1)], false);
        let now = Instant::now();
        for last in 1..=20u8 {
            let dst = Ipv4Addr::new(192, 0, 2, last);
            let f = Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 999, IpAddr::V4(dst), 80);
            let b = (u32::from(dst).wrapping_mul(0x61C8_8647) >> 24) as usize;
            assert_eq!(pick_flow(&mut svc, &f, now), Some([3u8, 2, 1][b % 3]), "{dst}");
            // the client does not matter
            let g = Flow { src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 99)), src_port: 5, ..f };
            assert_eq!(pick_flow(&mut svc, &g, now), pick_flow(&mut svc, &f, now));
        }
        // 192.0.2.1 -> bucket 0xC0000201 * golden >> 24
        let b = (0xC000_0201u32.wrapping_mul(0x61C8_8647) >> 24) as usize;
        let server = [3u8, 2, 1][b % 3];
        edit_weight(&mut svc, server, 0);
        assert_eq!(pick_opt(&mut svc), None, "no fallback");
    }
}

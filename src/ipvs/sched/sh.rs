//! `sh`: source hashing (`net/netfilter/ipvs/ip_vs_sh.c`).
//!
//! A 256-bucket table maps a hash of the client's address (and, with the
//! `sh-port` flag, its source port) to a real server. The table is filled by
//! walking the kernel's list round and round, giving each server as many
//! consecutive buckets as its weight (at least one, even at weight 0), and is
//! rebuilt whenever a server is added, removed or edited. The bucket of a
//! flow is `hash_32(port + fold(addr), 8)`, where `fold` is the IPv4 address
//! or the XOR of the four words of an IPv6 address, and `hash_32` the
//! kernel's golden-ratio multiply.
//!
//! If the bucket's server is overloaded or has weight 0, the flow gets no
//! server, unless `sh-fallback` is set: then buckets `hash(offset)` for
//! offsets running from the first bucket number around the table are tried
//! in turn, exactly as the kernel does, and the first usable server is taken.
//!
//! Cost per pick: O(1) (O(256) at worst with fallback). Memory: 1 KiB.
//! Rebuild on a change: O(256).

use std::net::IpAddr;
use std::sync::Arc;

use super::{SchedRequest, Scheduler, fold_addr, hash_32, usable};
use crate::ipvs::dest::Dest;
use crate::ipvs::service::ServiceFlags;

/// Table size (`CONFIG_IP_VS_SH_TAB_BITS`, 8 in Debian's kernel).
const TAB_BITS: u32 = 8;
const TAB_SIZE: usize = 1 << TAB_BITS;
const EMPTY: u32 = u32::MAX;

/// Source hashing.
#[derive(Clone)]
pub struct SourceHashing {
    /// Bucket to list index, `EMPTY` when the list is empty.
    buckets: [u32; TAB_SIZE],
}

impl std::fmt::Debug for SourceHashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceHashing").field("buckets", &&self.buckets[..]).finish()
    }
}

impl Default for SourceHashing {
    fn default() -> Self {
        Self::new()
    }
}

/// `ip_vs_sh_hashkey`: the bucket for `addr`/`port` at `offset`.
#[inline]
pub(crate) fn bucket(addr: IpAddr, port: u16, offset: u32) -> usize {
    (offset.wrapping_add(hash_32((port as u32).wrapping_add(fold_addr(addr)), TAB_BITS)) as usize) & (TAB_SIZE - 1)
}

impl SourceHashing {
    /// A source-hashing scheduler over an empty list.
    pub fn new() -> Self {
        SourceHashing { buckets: [EMPTY; TAB_SIZE] }
    }

    /// The list index in each bucket (`None` when the list is empty), for
    /// inspection.
    pub fn buckets(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.buckets.iter().map(|&b| (b != EMPTY).then_some(b as usize))
    }

    /// `ip_vs_sh_reassign`: walk the list round and round, `weight`
    /// consecutive buckets per server (one at weight 0).
    fn reassign(&mut self, dests: &[Arc<Dest>]) {
        if dests.is_empty() {
            self.buckets = [EMPTY; TAB_SIZE];
            return;
        }
        let (mut p, mut count) = (0, 0u32);
        for b in self.buckets.iter_mut() {
            *b = p as u32;
            count += 1;
            if count >= dests[p].weight() {
                p = (p + 1) % dests.len();
                count = 0;
            }
        }
    }

    #[inline]
    fn at(&self, b: usize) -> Option<usize> {
        let i = self.buckets[b];
        (i != EMPTY).then_some(i as usize)
    }
}

impl Scheduler for SourceHashing {
    fn name(&self) -> &'static str {
        "sh"
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

    fn update_dest(&mut self, dests: &[Arc<Dest>], _index: usize) {
        self.reassign(dests);
    }

    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let addr = req.flow.src;
        let port = if req.flags.contains(ServiceFlags::SH_PORT) { req.flow.src_port } else { 0 };
        let ihash = bucket(addr, port, 0);
        let first = self.at(ihash)?;
        if usable(&req.dests[first]) {
            return Some(first);
        }
        if !req.flags.contains(ServiceFlags::SH_FALLBACK) {
            return None;
        }
        // ip_vs_sh_get_fallback: offsets from the original bucket number.
        for offset in 0..TAB_SIZE as u32 {
            let roffset = (offset + ihash as u32) % TAB_SIZE as u32;
            let i = self.at(bucket(addr, port, roffset))?;
            if usable(&req.dests[i]) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    use super::super::testutil::*;
    use super::*;

    #[test]
    fn bucket_matches_hand_computation() {
        // 203.0.113.1 = 0xCB007101; * 0x61C88647 mod 2^32 = 0x320DDD47 -> top
        // byte 0x32 = 50.
        let a = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(0xCB00_7101u32.wrapping_mul(0x61C8_8647), 0x320D_DD47);
        assert_eq!(bucket(a, 0, 0), 50);
        assert_eq!(bucket(a, 0, 3), 53);
        assert_eq!(bucket(a, 0, 250), 44);
        let v = 0xCB00_7101u32 + 1000;
        assert_eq!(bucket(a, 1000, 0), (v.wrapping_mul(0x61C8_8647) >> 24) as usize);
        // IPv6 folds the four words.
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(fold_addr(b), 0x2001_0db8 ^ 1);
    }

    #[test]
    fn table_follows_weights_in_list_order() {
        // list: 2(w3) 1(w1): buckets 2 2 2 1 2 2 2 1 ...
        let svc = service_with("sh", &[(1, 1), (2, 3)], false);
        let mut s = SourceHashing::new();
        s.init(svc.dests());
        let got: Vec<usize> = s.buckets().take(8).map(|b| b.unwrap()).collect();
        assert_eq!(got, [0, 0, 0, 1, 0, 0, 0, 1]);
        // weight 0 still gets one bucket
        let svc = service_with("sh", &[(1, 0), (2, 2)], false);
        s.init(svc.dests());
        let got: Vec<usize> = s.buckets().take(6).map(|b| b.unwrap()).collect();
        assert_eq!(got, [0, 0, 1, 0, 0, 1]);
    }

    #[test]
    fn picks_by_bucket_and_falls_back() {
        // Four servers of weight 1, list 4 3 2 1: bucket b holds list index
        // b % 4. Client 203.0.113.1 hashes to bucket 50 -> index 2 -> server 2.
        let mut svc = service_with("sh", &[(1, 1), (2, 1), (3, 1), (4, 1)], false);
        let now = Instant::now();
        let f = client(1, 1000);
        assert_eq!(pick_flow(&mut svc, &f, now), Some(2));
        edit_weight(&mut svc, 2, 0); // table rebuilt: index 2 still server 2
        assert_eq!(pick_flow(&mut svc, &f, now), None);
        // With sh-fallback: offset 0 tries bucket (50 + 50) & 255 = 100 ->
        // index 0 -> server 4.
        let cfg = svc.config().clone().flags(crate::ipvs::ServiceFlags::SH_FALLBACK);
        svc.edit(cfg).unwrap();
        assert_eq!(pick_flow(&mut svc, &f, now), Some(4));
        overload(&svc, 4, true); // offset 1: (51 + 50) = 101 -> index 1 -> server 3
        assert_eq!(pick_flow(&mut svc, &f, now), Some(3));
    }

    #[test]
    fn stable_per_client_and_port_flag() {
        let mut svc = service_with("sh", &[(1, 1), (2, 1), (3, 1)], false);
        let now = Instant::now();
        let a = pick_flow(&mut svc, &client(9, 1000), now);
        let b = pick_flow(&mut svc, &client(9, 2000), now);
        assert_eq!(a, b, "without sh-port the port does not matter");
        let cfg = svc.config().clone().flags(crate::ipvs::ServiceFlags::SH_PORT);
        svc.edit(cfg).unwrap();
        let expect = |port: u16| {
            let v = (port as u32).wrapping_add(0xCB00_7109);
            let b = (v.wrapping_mul(0x61C8_8647) >> 24) as usize;
            [3u8, 2, 1][b % 3]
        };
        for port in [1000, 2000, 3000, 4000] {
            assert_eq!(pick_flow(&mut svc, &client(9, port), now), Some(expect(port)));
        }
    }
}

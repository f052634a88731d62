//! `mh`: Maglev hashing (`net/netfilter/ipvs/ip_vs_mh.c`), consistent
//! hashing that moves few flows when the server set changes.
//!
//! A lookup table of prime size `M` (4093 by default; the kernel's other
//! sizes are [`MH_TABLE_SIZES`]) maps a hash of the client's address (and,
//! with `mh-port`, its source port) to a server. Each server has a
//! permutation of the table's slots, `offset + k * skip (mod M)`, with
//! `offset` and `skip` the kernel's `hsiphash` (SipHash-1-3 on 64-bit) of
//! `port + fold(addr)` under two fixed keys. The table is filled by letting
//! the servers, in the kernel's list order and round and round, each claim
//! `turns` next free slots of their permutation, where `turns` is the
//! server's latest non-zero weight divided by the gcd of those weights and
//! shifted right so that the largest fits in `bits` bits (6 for 4093).
//! A server set to weight 0 keeps its slots (it is sized by its last
//! non-zero weight) but cannot be picked: its flows get no server, unless
//! `mh-fallback` is set, in which case the hashes of `offset + port +
//! fold(addr)` for offsets from the first slot number onwards are tried in
//! turn, as the kernel does. The table is rebuilt at every list change and
//! weight edit.
//!
//! Removing one of `n` equally weighted servers moves the flows that hashed
//! to its slots, about `1/n` of them, plus a few of the others' where the
//! refill shifts the remaining servers' claims: at most 3.9% of the other
//! flows in every case measured up to 40 servers on the 4093-slot table (the
//! proptests check 6%), where a modulo hash would move `(n - 1) / n`.
//!
//! Cost per pick: one 4-byte SipHash-1-3 and one table read, O(1) (O(M) at
//! worst with fallback). Memory: 4 bytes per table slot (16 KiB at 4093),
//! plus 20 bytes per server and `M / 8` bytes while rebuilding. Rebuild:
//! O(M log M) expected.
//!
//! Deliberate difference: with more servers than table slots the kernel
//! refuses to rebuild and keeps its old table, whose slots can still point
//! at servers removed since; lvskit keeps the old table too, but a slot of a
//! removed server gives no server.

use std::net::IpAddr;
use std::sync::Arc;

use super::{SchedError, SchedRequest, Scheduler, fold_addr_as, usable};
use crate::ipvs::dest::Dest;
use crate::ipvs::service::{Family, ServiceFlags};

/// The kernel's table sizes (`primes[]` in `ip_vs_mh.c`); the kernel is
/// built with one of them (`CONFIG_IP_VS_MH_TAB_INDEX` 8..=17).
pub const MH_TABLE_SIZES: [u32; 10] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/// Debian's kernel: `CONFIG_IP_VS_MH_TAB_INDEX=12`, the fifth prime.
pub(crate) const DEFAULT_TABLE_SIZE: u32 = 4093;

const EMPTY: u32 = u32::MAX;
const GONE: u32 = u32::MAX - 1;

/// `generate_hash_secret`: the two fixed hsiphash keys.
const KEY1: [u64; 2] = [2654435761, 2654435761];
const KEY2: [u64; 2] = [2654446892, 2654446892];

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// The kernel's `hsiphash` of one native-endian `u32` on a 64-bit machine:
/// SipHash-1-3 (`lib/siphash.c`, `HPREAMBLE`/`HPOSTAMBLE` with
/// `BITS_PER_LONG == 64`), truncated to 32 bits.
#[inline]
pub(crate) fn hsiphash_u32(x: u32, key: [u64; 2]) -> u32 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ key[0],
        0x646f_7261_6e64_6f6d ^ key[1],
        0x6c79_6765_6e65_7261 ^ key[0],
        0x7465_6462_7974_6573 ^ key[1],
    ];
    let b = (4u64 << 56) | x as u64;
    v[3] ^= b;
    sipround(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    sipround(&mut v);
    sipround(&mut v);
    sipround(&mut v);
    ((v[0] ^ v[1]) ^ (v[2] ^ v[3])) as u32
}

/// `x % d` by multiplication (Lemire's fastmod): exact for every 32-bit
/// `x` and `d > 1`, with `m = u64::MAX / d + 1` precomputed. A division by a
/// runtime value costs more than the rest of a pick.
#[derive(Debug, Clone, Copy)]
struct FastMod {
    d: u32,
    m: u64,
}

impl FastMod {
    fn new(d: u32) -> Self {
        FastMod { d, m: u64::MAX / d as u64 + 1 }
    }

    #[inline(always)]
    fn rem(self, x: u32) -> u32 {
        ((self.m.wrapping_mul(x as u64) as u128 * self.d as u128) >> 64) as u32
    }
}

/// Per-server permutation state (`struct ip_vs_mh_dest_setup`).
#[derive(Debug, Clone, Copy, Default)]
struct Setup {
    skip: u32,
    perm: u32,
    turns: u32,
}

/// Maglev hashing.
#[derive(Clone)]
pub struct MaglevHashing {
    size: u32,
    modulo: FastMod,
    /// `IP_VS_MH_TAB_BITS` of a kernel built with this size.
    bits: u32,
    /// Slot to list index (`EMPTY`, or `GONE` for a removed server).
    lookup: Vec<u32>,
    family: Option<Family>,
    setup: Vec<Setup>,
    used: Vec<u64>,
}

impl std::fmt::Debug for MaglevHashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaglevHashing").field("size", &self.size).field("family", &self.family).finish()
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `fls`: the 1-based position of the highest set bit, 0 for 0.
fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

impl MaglevHashing {
    /// A Maglev scheduler with a table of `size` slots, one of
    /// [`MH_TABLE_SIZES`].
    pub fn new(size: u32) -> Result<Self, SchedError> {
        let index = MH_TABLE_SIZES.iter().position(|&p| p == size).ok_or(SchedError::MhTableSize { size })?;
        Ok(MaglevHashing {
            size,
            modulo: FastMod::new(size),
            bits: (index as u32 + 8) / 2,
            lookup: vec![EMPTY; size as usize],
            family: None,
            setup: Vec::new(),
            used: Vec::new(),
        })
    }

    /// The table size.
    pub fn table_size(&self) -> u32 {
        self.size
    }

    /// The list index in each slot (`None`: no server), for inspection.
    pub fn slots(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.lookup.iter().map(|&i| (i < GONE).then_some(i as usize))
    }

    /// The hash input for an address and port, read as the kernel reads the
    /// address union: by the service's family.
    #[inline]
    fn key_of(&self, addr: IpAddr, port: u16, offset: u32) -> u32 {
        let family = self.family.unwrap_or(Family::of(addr));
        offset.wrapping_add(port as u32).wrapping_add(fold_addr_as(family, addr))
    }

    /// `ip_vs_mh_dest_changed`/`ip_vs_mh_init_svc`: rebuild from the list.
    fn rebuild(&mut self, dests: &[Arc<Dest>]) {
        let g = dests.iter().map(|d| d.last_weight()).filter(|&w| w > 0).fold(0, gcd);
        let Some(mw) = dests.iter().map(|d| d.last_weight()).max().unwrap_or(0).checked_div(g) else {
            // No server with a weight ever (gcd 0): an empty table.
            self.lookup.fill(EMPTY);
            return;
        };
        // ip_vs_mh_shift_weight
        let rshift = fls(mw).saturating_sub(self.bits);
        let m = self.size;
        // ip_vs_mh_permutate
        self.setup.clear();
        for d in dests {
            let k = self.key_of(d.addr(), d.port(), 0);
            let offset = hsiphash_u32(k, KEY1) % m;
            let skip = hsiphash_u32(k, KEY2) % (m - 1) + 1;
            let lw = d.last_weight();
            let t = (lw / g) >> rshift;
            let turns = if t != 0 { t } else { (lw != 0) as u32 };
            self.setup.push(Setup { skip, perm: offset, turns });
        }
        // ip_vs_mh_populate
        self.used.clear();
        self.used.resize(m.div_ceil(64) as usize, 0);
        let mut filled = 0;
        let mut dt_count = 0;
        'fill: loop {
            let mut i = 0;
            while i < dests.len() {
                let s = &mut self.setup[i];
                if s.turns < 1 {
                    i += 1;
                    continue;
                }
                let mut c = s.perm;
                while self.used[(c / 64) as usize] & (1 << (c % 64)) != 0 {
                    s.perm += s.skip;
                    if s.perm >= m {
                        s.perm -= m;
                    }
                    c = s.perm;
                }
                self.used[(c / 64) as usize] |= 1 << (c % 64);
                self.lookup[c as usize] = i as u32;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
                dt_count += 1;
                if dt_count >= s.turns {
                    dt_count = 0;
                    i += 1;
                }
            }
        }
    }

    /// The list changed: rebuild, or, with more servers than slots (where
    /// the kernel refuses), keep the old table with `remap` applied.
    fn changed(&mut self, dests: &[Arc<Dest>], remap: impl Fn(u32) -> u32) {
        if dests.len() > self.size as usize {
            for slot in &mut self.lookup {
                if *slot < GONE {
                    *slot = remap(*slot);
                }
            }
        } else {
            self.rebuild(dests);
        }
    }

    #[inline]
    fn at(&self, slot: u32) -> u32 {
        self.lookup[slot as usize]
    }
}

impl Scheduler for MaglevHashing {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn set_family(&mut self, family: Family) {
        self.family = Some(family);
    }

    fn init(&mut self, dests: &[Arc<Dest>]) {
        if dests.len() > self.size as usize {
            self.lookup.fill(EMPTY);
        } else {
            self.rebuild(dests);
        }
    }

    fn add_dest(&mut self, dests: &[Arc<Dest>], index: usize) {
        let index = index as u32;
        self.changed(dests, |i| if i >= index { i + 1 } else { i });
    }

    fn del_dest(&mut self, dests: &[Arc<Dest>], _removed: &Arc<Dest>, index: usize) {
        let index = index as u32;
        self.changed(dests, |i| match i.cmp(&index) {
            std::cmp::Ordering::Less => i,
            std::cmp::Ordering::Equal => GONE,
            std::cmp::Ordering::Greater => i - 1,
        });
    }

    fn update_dest(&mut self, dests: &[Arc<Dest>], _index: usize) {
        self.changed(dests, |i| i);
    }

    #[inline]
    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let addr = req.flow.src;
        let port = if req.flags.contains(ServiceFlags::MH_PORT) { req.flow.src_port } else { 0 };
        let m = self.size;
        let ihash = self.modulo.rem(hsiphash_u32(self.key_of(addr, port, 0), KEY1));
        let first = self.at(ihash);
        if first == EMPTY {
            return None;
        }
        if first != GONE && usable(&req.dests[first as usize]) {
            return Some(first as usize);
        }
        if !req.flags.contains(ServiceFlags::MH_FALLBACK) {
            return None;
        }
        // ip_vs_mh_get_fallback
        for offset in 0..m {
            let roffset = (offset + ihash) % m;
            let i = self.at(self.modulo.rem(hsiphash_u32(self.key_of(addr, port, roffset), KEY1)));
            if i == EMPTY {
                return None;
            }
            if i != GONE && usable(&req.dests[i as usize]) {
                return Some(i as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::testutil::*;
    use super::*;
    use crate::ipvs::sched::SchedParams;

    #[test]
    fn siphash13_reference_vector() {
        // The kernel's own self-test vector for hsiphash on 64-bit
        // (`test_vectors_hsiphash[4]` in `lib/test_siphash.c`): the 4 bytes
        // 00 01 02 03 under the key 00 01 .. 0f.
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let x = u32::from_le_bytes([0, 1, 2, 3]);
        assert_eq!(hsiphash_u32(x, key), 0x88d3_8328);
    }

    #[test]
    fn fast_modulo_is_exact() {
        for &d in &MH_TABLE_SIZES {
            let f = FastMod::new(d);
            let mut x = 0x9E37_79B9u32;
            for k in 0..100_000u32 {
                x = x.wrapping_mul(747796405).wrapping_add(2891336453);
                assert_eq!(f.rem(x), x % d);
                assert_eq!(f.rem(k), k % d);
            }
            for x in [0, 1, d - 1, d, d + 1, u32::MAX, u32::MAX - 1] {
                assert_eq!(f.rem(x), x % d);
            }
        }
    }

    #[test]
    fn rejects_sizes_that_are_not_kernel_primes() {
        assert_eq!(MaglevHashing::new(4096).unwrap_err(), SchedError::MhTableSize { size: 4096 });
        assert_eq!(MaglevHashing::new(251).unwrap().bits, 4);
        assert_eq!(MaglevHashing::new(4093).unwrap().bits, 6);
        assert_eq!(MaglevHashing::new(131071).unwrap().bits, 8);
    }

    #[test]
    fn table_shares_follow_weights() {
        let svc = service_with("mh", &[(1, 1), (2, 2), (3, 1)], false);
        let mut mh = MaglevHashing::new(4093).unwrap();
        mh.set_family(Family::V4);
        mh.init(svc.dests());
        let mut count = [0usize; 3];
        for s in mh.slots() {
            count[s.unwrap()] += 1;
        }
        // list 3(w1) 2(w2) 1(w1): turns 1 2 1, rounds of 4 slots; 1023
        // rounds fill 4092 slots and the last slot goes to the head.
        assert_eq!(count, [1024, 2046, 1023]);
    }

    #[test]
    fn weight_zero_keeps_slots_and_fallback_moves_only_its_flows() {
        let params = SchedParams::default();
        let mut svc = service_flags("mh", &[(1, 1), (2, 1), (3, 1)], Default::default(), params);
        let now = Instant::now();
        let before: Vec<Option<u8>> = (0..200).map(|p| pick_flow(&mut svc, &client(7, p), now)).collect();
        let cfg = svc.config().clone().flags(crate::ipvs::ServiceFlags::MH_PORT);
        svc.edit(cfg).unwrap();
        let with_port: Vec<Option<u8>> = (0..200).map(|p| pick_flow(&mut svc, &client(7, p), now)).collect();
        assert!(before.iter().all(|&c| c == before[0]), "without mh-port one client, one server");
        assert!(with_port.iter().any(|&c| c != with_port[0]), "with mh-port the port spreads flows");
        edit_weight(&mut svc, 2, 0);
        let quiesced: Vec<Option<u8>> = (0..200).map(|p| pick_flow(&mut svc, &client(7, p), now)).collect();
        for (a, b) in with_port.iter().zip(&quiesced) {
            if *a == Some(2) {
                assert_eq!(*b, None, "no fallback: 2's flows get nothing");
            } else {
                assert_eq!(a, b, "others' flows stay");
            }
        }
        let cfg =
            svc.config().clone().flags(crate::ipvs::ServiceFlags::MH_PORT | crate::ipvs::ServiceFlags::MH_FALLBACK);
        svc.edit(cfg).unwrap();
        for p in 0..200u16 {
            let got = pick_flow(&mut svc, &client(7, p), now);
            if with_port[p as usize] == Some(2) {
                assert!(matches!(got, Some(1 | 3)), "fallback finds another server");
            } else {
                assert_eq!(got, with_port[p as usize]);
            }
        }
    }
}

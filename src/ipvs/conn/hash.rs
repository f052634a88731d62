//! The keyed hash that places connections: over (protocol, client address,
//! client port) only, as the kernel's `ip_vs_conn_hashkey` does, so that a
//! reply (which knows the client but not the virtual service when the
//! director masquerades) finds its connection with the same hash.
//!
//! Two rounds of a 64×64→128-bit folded multiply with keys drawn from the
//! table's seed; the top bits pick the shard, the low 31 bits the slot.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Keys for the table's hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedHash {
    k: [u64; 4],
}

const MULT: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl KeyedHash {
    /// Keys drawn from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        KeyedHash { k: [rng.random(), rng.random::<u64>() | 1, rng.random(), rng.random::<u64>() | 1] }
    }

    /// Hash of an IPv4 client endpoint.
    #[inline]
    pub(crate) fn v4(&self, proto: u8, caddr: u32, cport: u16) -> u64 {
        let x = (caddr as u64) << 32 | (cport as u64) << 8 | proto as u64;
        fold(fold(x ^ self.k[0], self.k[1]) ^ self.k[2], MULT ^ self.k[3])
    }

    /// Hash of an IPv6 client endpoint.
    #[inline]
    pub(crate) fn v6(&self, proto: u8, caddr: u128, cport: u16) -> u64 {
        let hi = (caddr >> 64) as u64;
        let lo = caddr as u64;
        let a = fold(hi ^ self.k[0], lo ^ self.k[1]);
        fold(a ^ self.k[2] ^ ((cport as u64) << 8 | proto as u64), MULT ^ self.k[3])
    }

    /// A secondary hash mixing in more words (template chains).
    #[inline]
    pub(crate) fn more(&self, h: u64, x: u64) -> u64 {
        fold(h ^ x ^ self.k[2], self.k[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_spread() {
        let a = KeyedHash::new(1);
        let b = KeyedHash::new(1);
        let c = KeyedHash::new(2);
        assert_eq!(a.v4(6, 0xc000_0201, 80), b.v4(6, 0xc000_0201, 80));
        assert_ne!(a.v4(6, 0xc000_0201, 80), c.v4(6, 0xc000_0201, 80));
        // Sequential clients spread over the top bits (shards) and low bits (slots).
        let mut top = [0u32; 16];
        let mut low = [0u32; 16];
        for i in 0..16_000u32 {
            let h = a.v4(6, 0xcb00_7100 + i, 40000);
            top[(h >> 60) as usize] += 1;
            low[(h & 15) as usize] += 1;
        }
        for n in top.iter().chain(low.iter()) {
            assert!((800..1200).contains(n), "{top:?} {low:?}");
        }
        assert_ne!(a.v6(6, 1, 80), a.v6(6, 2, 80));
        assert_ne!(a.v6(6, 1, 80), a.v6(17, 1, 80));
    }
}

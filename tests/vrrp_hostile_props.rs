//! Hostile adverts at random: random bytes, and valid adverts with random
//! bytes flipped, at every kind of instance (v2/v3, IPv4/IPv6, password,
//! unicast with source checks, backup/master, TTL known or not). The
//! property is the `vrrp_instance` fuzz target's (`fuzz/vrrp_checks.rs`):
//! no panic, and a discarded packet is counted as keepalived counts it and
//! changes nothing else.

#[path = "../fuzz/vrrp_checks.rs"]
mod checks;

use proptest::prelude::*;

/// A valid v2 advert for the fuzz instances (vrid 51, 192.0.2.100, 1 s)
/// from 192.0.2.12, as keepalived would send it.
const V2: [u8; 20] = [0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x86, 0x65, 0xc0, 0x00, 0x02, 0x64, 0, 0, 0, 0, 0, 0, 0, 0];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_packets(selector in any::<u8>(), ttl in any::<u8>(), packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..6)) {
        let mut data = vec![selector, ttl];
        for p in &packets {
            data.push(p.len() as u8);
            data.extend_from_slice(p);
        }
        checks::vrrp_instance(&data);
    }

    #[test]
    fn mutated_adverts(selector in any::<u8>(), flips in proptest::collection::vec((0usize..20, any::<u8>()), 0..4), prio in any::<u8>()) {
        let mut a = V2;
        a[2] = prio;
        // Keep the checksum right for the priority, then flip bytes.
        let old = u16::from_be_bytes([0x96, 0x01]);
        let new = u16::from_be_bytes([prio, 0x01]);
        let sum = !u16::from_be_bytes([a[6], a[7]]);
        let mut s = u32::from(sum) + u32::from(!old) + u32::from(new);
        while s > 0xffff { s = (s & 0xffff) + (s >> 16); }
        a[6..8].copy_from_slice(&(!(s as u16)).to_be_bytes());
        for (at, x) in flips {
            a[at] ^= x;
        }
        let mut data = vec![selector & !0x0b, 255, 20];
        data.extend_from_slice(&a);
        checks::vrrp_instance(&data);
    }
}

//! The Internet checksum (RFC 1071) and the pseudo-headers that VRRPv3
//! (RFC 5798 section 5.2.8) and ICMPv6 (RFC 4443 section 2.3) put under it.
//!
//! The functions return the one's-complement *sum* (not yet inverted), so
//! that partial sums combine: a checksum field is `!combine(&[pseudo, data])`
//! computed with the field zeroed, and a packet verifies when
//! `combine(&[pseudo, data])` over the packet as received is `0xffff`.
//! The pseudo-header addresses are arguments: for VRRPv3 they are the
//! packet's real source and destination (the peer's address for a unicast
//! advert), or whatever the caller needs for compatibility modes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator into a 16-bit one's-complement sum (end-around
/// carries, branch-free: four steps bring any u64 below 2^16).
#[inline]
fn fold(sum: u64) -> u16 {
    let sum = (sum & 0xffff_ffff) + (sum >> 32);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The one's-complement sum of `data` as big-endian 16-bit words (an odd
/// final byte is padded with a zero byte, RFC 1071 section 4.1).
///
/// It adds 32-bit words into a 64-bit accumulator and folds at the end:
/// since 2^16 = 1 modulo 0xffff, that is the same sum (RFC 1071 section
/// 2(B)), with a quarter of the additions.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        // Each term is below 2^32, so 2^32 of them cannot overflow.
        let w = u64::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        sum += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for pair in &mut rest {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = rest.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold(sum)
}

/// Combines partial one's-complement sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The sum of the IPv4 pseudo-header: source, destination, zero, protocol,
/// and the upper-layer length (RFC 768, used by VRRPv3 over IPv4).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let sum = u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(protocol)
        + u64::from(length);
    fold(sum)
}

/// The sum of the IPv6 pseudo-header: source, destination, the 32-bit
/// upper-layer length, three zero bytes and the next header (RFC 8200
/// section 8.1).
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let (s, d) = (u128::from(src), u128::from(dst));
    let words = |x: u128| (x >> 96) as u64 + ((x >> 64) as u32) as u64 + ((x >> 32) as u32) as u64 + (x as u32) as u64;
    fold(words(s) + words(d) + u64::from(length) + u64::from(next_header))
}

/// The pseudo-header sum for either family; `None` when the two addresses
/// are of different families.
#[inline]
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: usize) -> Option<u16> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(pseudo_header_v4(s, d, protocol, length as u16)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(pseudo_header_v6(s, d, protocol, length as u32)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition, to check the word-at-a-time one.
    fn naive(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for (i, b) in bytes.iter().enumerate() {
            sum += if i % 2 == 0 { u32::from(*b) << 8 } else { u32::from(*b) };
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
    }

    #[test]
    fn matches_naive_for_every_length() {
        let bytes: Vec<u8> = (0..97u32).map(|i| (i.wrapping_mul(151) ^ 0x5a) as u8).collect();
        for len in 0..bytes.len() {
            for start in 0..3.min(len + 1) {
                assert_eq!(data(&bytes[start..len]), naive(&bytes[start..len]), "{start}..{len}");
            }
        }
        assert_eq!(data(&[0xff; 4096]), naive(&[0xff; 4096]));
    }

    #[test]
    fn vrrpv3_ipv4_corpus_checksum() {
        // vrrp-corpus README: payload 31 36 96 01 00 64 d3 64 c0 00 02 64 from
        // 192.0.2.11 to 224.0.0.18 has checksum 0xd364 with the pseudo-header
        // and would have 0x75ff without it.
        let mut pkt = [0x31, 0x36, 0x96, 0x01, 0x00, 0x64, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x64];
        let ph = pseudo_header_v4(Ipv4Addr::new(192, 0, 2, 11), Ipv4Addr::new(224, 0, 0, 18), 112, 12);
        assert_eq!(!combine(&[ph, data(&pkt)]), 0xd364);
        assert_eq!(!data(&pkt), 0x75ff);
        pkt[6..8].copy_from_slice(&0xd364u16.to_be_bytes());
        assert_eq!(combine(&[ph, data(&pkt)]), 0xffff);
    }

    #[test]
    fn mixed_families_have_no_pseudo_header() {
        assert!(pseudo_header(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into(), 112, 8).is_none());
    }
}

//! Zero-copy codecs for the packets a VRRP router sends and receives.
//!
//! Each protocol follows the smoltcp contract (see `DESIGN.md`):
//!
//! * `Packet<T: AsRef<[u8]>>` is a checked view over a buffer:
//!   `new_checked` validates the lengths once, after which every getter reads
//!   in bounds and never panics; with `T: AsMut<[u8]>` the setters write.
//! * `Repr` is the meaning of a packet, with `parse` (from a checked
//!   `Packet`), `buffer_len` and `emit` (into a caller's buffer; it never
//!   allocates).
//! * Values the protocol leaves open decode to `Unknown(n)` variants rather
//!   than errors; malformed input is a typed error that carries the field and
//!   the numbers (`Truncated { need, got }`, `BadChecksum { got, expected }` …).
//!
//! | module | what it covers |
//! |---|---|
//! | [`vrrp`] | VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) adverts over IPv4 and IPv6 |
//! | [`arp`] | ARP for Ethernet/IPv4 (RFC 826), and the gratuitous ARP keepalived sends |
//! | [`ndisc`] | the Neighbour Advertisement (RFC 4861) keepalived sends for IPv6 VIPs |
//! | [`checksum`] | the Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-headers |
//! | [`ethernet`], [`ipv4`], [`ipv6`] | the framing around them, enough to send and to decode captures |
//! | [`pcap`] | a small reader of classic pcap files |
//! | [`inspect`] | one line of text per VRRP advert, gratuitous ARP or unsolicited NA in a captured frame (what `examples/vrrp-decode.rs` prints) |
//!
//! The codecs are pure functions of their input: no allocation, no clock, no
//! global state, which is what makes them cheap (see `benches/vrrp.rs`) and
//! safe to feed with anything (each decoder has a cargo-fuzz target).

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod inspect;
pub mod ipv4;
pub mod ipv6;
pub mod ndisc;
pub mod pcap;
pub mod vrrp;

pub use crate::ipvs::Family;
pub use ethernet::EthernetAddress;

/// Reads a big-endian `u16` at `at`; the caller has checked the bounds.
#[inline]
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Writes a big-endian `u16` at `at`; the caller has checked the bounds.
#[inline]
pub(crate) fn put_be16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

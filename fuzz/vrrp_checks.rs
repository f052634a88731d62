//! The properties the VRRP-side fuzz targets check, shared by the targets
//! (`fuzz/fuzz_targets/wire_*.rs`, `vrrp_instance.rs`) and by the stable
//! test that replays their corpora (`tests/fuzz_corpus_replay.rs`): each
//! function must not panic for any input, and panics (asserts) when a
//! property breaks.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvskit::wire::vrrp::{self, Repr, Version};
use lvskit::wire::{Family, arp, inspect, ndisc, pcap};

/// Source/destination pairs chosen by the first input byte.
fn addrs(selector: u8) -> (Family, IpAddr, IpAddr) {
    match selector % 4 {
        0 => (Family::V4, Ipv4Addr::new(192, 0, 2, 11).into(), vrrp::MCAST_V4.into()),
        1 => (Family::V4, Ipv4Addr::new(192, 0, 2, 11).into(), Ipv4Addr::new(192, 0, 2, 12).into()),
        2 => (Family::V6, "fe80::c0ff:fe00:20b".parse::<Ipv6Addr>().unwrap().into(), vrrp::MCAST_V6.into()),
        _ => (
            Family::V6,
            "2001:db8::11".parse::<Ipv6Addr>().unwrap().into(),
            "2001:db8::12".parse::<Ipv6Addr>().unwrap().into(),
        ),
    }
}

/// VRRP: decoding never panics; whatever decodes re-encodes to the same
/// bytes (v3's reserved bits as zero), and the re-encoded packet verifies.
pub fn wire_vrrp(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let (family, src, dst) = addrs(sel);
    let Ok(packet) = vrrp::Packet::new_checked(bytes, family) else { return };
    let repr = Repr::parse_unverified(&packet).expect("a checked packet parses");
    assert_eq!(repr.buffer_len(), bytes.len());
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out, src, dst), Ok(bytes.len()));
    let mut canonical = bytes.to_vec();
    if repr.version == Version::V3 {
        canonical[4] &= 0x0f;
    }
    assert_eq!(out[..6], canonical[..6]);
    assert_eq!(out[8..], canonical[8..]);
    let back = vrrp::Packet::new_checked(&out[..], family).expect("emitted packet is well formed");
    assert_eq!(Repr::parse(&back, src, dst), Ok(repr));
    // The original verifies exactly when its checksum equals the one emit computed.
    let verified = Repr::parse(&packet, src, dst).is_ok();
    let equivalent = packet.checksum() == vrrp::Packet::new_unchecked(&out[..], family).checksum()
        || (packet.checksum() == 0xffff && out[6..8] == [0, 0])
        || (packet.checksum() == 0 && out[6..8] == [0xff, 0xff]);
    if repr.version == Version::V2 || canonical[4] == bytes[4] {
        assert_eq!(verified, equivalent, "checksum verification disagrees with re-computation");
    }
}

/// ARP: decoding never panics; Ethernet/IPv4 ARP re-encodes byte-exact.
pub fn wire_arp(data: &[u8]) {
    let Ok(packet) = arp::Packet::new_checked(data) else { return };
    let Ok(repr) = arp::Repr::parse(&packet) else { return };
    let mut out = [0u8; arp::PACKET_LEN];
    assert_eq!(repr.emit(&mut out), Ok(arp::PACKET_LEN));
    assert_eq!(out[..], data[..arp::PACKET_LEN]);
    assert_eq!(
        repr.is_gratuitous(),
        repr.sender_protocol_addr == repr.target_protocol_addr
            && !repr.sender_protocol_addr.is_unspecified()
            && matches!(repr.operation, arp::Operation::Request | arp::Operation::Reply)
    );
}

/// Neighbour Advertisement: decoding never panics; what decodes (checksum
/// verified or not) re-encodes to a message that decodes to the same.
pub fn wire_ndisc(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let src: Ipv6Addr = if sel & 1 == 0 { "2001:db8::100".parse().unwrap() } else { "fe80::1".parse().unwrap() };
    let dst = ndisc::ALL_NODES;
    let Ok(packet) = ndisc::Packet::new_checked(bytes) else { return };
    let mut fixed = bytes.to_vec();
    let sum = packet.compute_checksum(src, dst);
    fixed[2..4].copy_from_slice(&sum.to_be_bytes());
    for candidate in [bytes, &fixed[..]] {
        let packet = ndisc::Packet::new_checked(candidate).expect("same length");
        let Ok(repr) = ndisc::Repr::parse(&packet, src, dst) else { continue };
        let mut out = vec![0u8; repr.buffer_len()];
        assert_eq!(repr.emit(&mut out, src, dst), Ok(repr.buffer_len()));
        let again = ndisc::Repr::parse(&ndisc::Packet::new_checked(&out[..]).unwrap(), src, dst);
        assert_eq!(again, Ok(repr));
    }
}

/// pcap + inspect: reading a file and describing each record never panics,
/// whatever the link type says.
pub fn wire_pcap(data: &[u8]) {
    let Ok(mut reader) = pcap::Reader::new(data) else { return };
    let link = reader.link_type();
    let mut records = 0;
    while let Ok(Some(record)) = reader.next_record() {
        records += 1;
        if records > 10_000 {
            break;
        }
        for l in [link, pcap::LinkType::Ethernet, pcap::LinkType::LinuxSll, pcap::LinkType::Raw] {
            if let Some(line) = inspect::inspect(l, record.data) {
                let text = line.to_string();
                assert!(!text.contains('\n'), "one line per packet: {text:?}");
            }
        }
    }
}

//! The `raw_socket_netlink` fuzz target's corpus
//! (`fuzz/corpus/raw_socket_netlink/`) replayed on stable, exactly as the
//! target feeds it, plus what the kernel's seeds must decode to, and a
//! proptest round trip: link and address messages serialized by
//! netlink-packet-route decode to the same [`NetEvent`]s.
#![cfg(all(feature = "raw-socket", target_os = "linux"))]

mod corpus_support;

use std::net::IpAddr;

use corpus_support::corpus;
use lvskit::backend::raw_socket::{AddrInfo, LinkInfo, NetEvent, NetlinkMonitor};
use lvskit::backend::{AddrFlags, AddrScope};
use lvskit::wire::EthernetAddress;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use proptest::prelude::*;

#[test]
fn corpus_decodes_without_panicking() {
    let mut events = Vec::new();
    let mut n = 0;
    for (_, data) in corpus("raw_socket_netlink") {
        let _ = NetlinkMonitor::decode(&data, &mut events);
        n += 1;
    }
    assert!(n >= 20, "corpus entries: {n}");
    // The kernel's seeds: veth d0 created, addressed, flapped, deleted.
    let mac = EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x99]);
    assert!(
        events.iter().any(|e| matches!(e, NetEvent::NewLink(l) if l.name == "d0" && l.mac == Some(mac) && l.is_up()))
    );
    assert!(events.iter().any(|e| matches!(e, NetEvent::NewLink(l) if l.name == "d0" && !l.is_up())));
    assert!(events.iter().any(|e| matches!(e, NetEvent::DelLink(l) if l.name == "d0")));
    let a50: IpAddr = "192.0.2.50".parse().unwrap();
    let a51: IpAddr = "192.0.2.51".parse().unwrap();
    let a6: IpAddr = "2001:db8::50".parse().unwrap();
    assert!(events.iter().any(|e| matches!(e, NetEvent::NewAddr(a) if a.addr == a50 && a.prefix_len == 24)));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NetEvent::NewAddr(a) if a.addr == a51 && a.flags.contains(AddrFlags::SECONDARY)))
    );
    assert!(events.iter().any(|e| matches!(e, NetEvent::DelAddr(a) if a.addr == a51)));
    assert!(
        events.iter().any(|e| matches!(e, NetEvent::NewAddr(a) if a.addr == a6 && a.flags.contains(AddrFlags::NODAD)))
    );
}

#[test]
fn broken_framing_is_an_error_not_a_panic() {
    let mut out = Vec::new();
    // A header claiming 200 bytes in a 20-byte datagram.
    let mut b = vec![0u8; 20];
    b[0] = 200;
    b[4] = 16; // RTM_NEWLINK
    let e = NetlinkMonitor::decode(&b, &mut out).unwrap_err();
    eprintln!("{e}");
    // Shorter than a netlink header.
    assert!(NetlinkMonitor::decode(&[1, 2, 3], &mut out).is_err());
    assert!(out.is_empty());
    // A good message followed by garbage: the good one is kept.
    let mut m = LinkMessage::default();
    m.header.index = 7;
    m.attributes.push(LinkAttribute::IfName("eth9".into()));
    let mut good = serialize(RouteNetlinkMessage::NewLink(m));
    good.extend_from_slice(&[9, 9, 9]);
    assert!(NetlinkMonitor::decode(&good, &mut out).is_err());
    assert!(matches!(&out[..], [NetEvent::NewLink(l)] if l.index == 7 && l.name == "eth9"));
}

fn serialize(msg: RouteNetlinkMessage) -> Vec<u8> {
    let mut nl = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(msg));
    nl.finalize();
    let mut buf = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

proptest! {
    #[test]
    fn link_round_trip(index in 1u32.., name in "[a-z][a-z0-9]{0,14}", flags in any::<u32>(), mac in any::<Option<[u8; 6]>>(), del in any::<bool>()) {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::from_bits_retain(flags);
        m.attributes.push(LinkAttribute::IfName(name.clone()));
        if let Some(mac) = mac {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let msg = if del { RouteNetlinkMessage::DelLink(m) } else { RouteNetlinkMessage::NewLink(m) };
        let mut out = Vec::new();
        NetlinkMonitor::decode(&serialize(msg), &mut out).unwrap();
        let want = LinkInfo { index, name, flags, mac: mac.map(EthernetAddress) };
        let want = if del { NetEvent::DelLink(want) } else { NetEvent::NewLink(want) };
        prop_assert_eq!(out, vec![want]);
    }

    #[test]
    fn address_round_trip(index in 1u32.., v6 in any::<bool>(), raw in any::<[u8; 16]>(), prefix in 0u8..=128, scope in any::<u8>(), flags in any::<u32>(), del in any::<bool>()) {
        let addr: IpAddr = if v6 { IpAddr::from(raw) } else { IpAddr::from([raw[0], raw[1], raw[2], raw[3]]) };
        let prefix = if v6 { prefix } else { prefix % 33 };
        let mut m = AddressMessage::default();
        m.header.family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        m.header.prefix_len = prefix;
        m.header.scope = AddressScope::from(scope);
        m.header.index = index;
        m.attributes.push(AddressAttribute::Address(addr));
        if !v6 {
            m.attributes.push(AddressAttribute::Local(addr));
        }
        m.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_retain(flags)));
        let msg = if del { RouteNetlinkMessage::DelAddress(m) } else { RouteNetlinkMessage::NewAddress(m) };
        let mut out = Vec::new();
        NetlinkMonitor::decode(&serialize(msg), &mut out).unwrap();
        let want = AddrInfo { ifindex: index, addr, prefix_len: prefix, scope: AddrScope::from_number(scope), flags: AddrFlags(flags) };
        let want = if del { NetEvent::DelAddr(want) } else { NetEvent::NewAddr(want) };
        prop_assert_eq!(out, vec![want]);
    }
}

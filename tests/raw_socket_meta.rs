// lvskit-test: root
//! The raw sockets themselves, between two hosts of a namespace lab, each
//! side on a thread moved into its host with `enter_netns`:
//!
//! * IPv4 multicast: source, destination, TTL and interface index of what
//!   arrives; keepalived's header (TOS 0xc0, DF clear, identification
//!   counting up, the TTL asked for); no loopback of one's own adverts.
//! * IPv6 multicast: hop limit 255 and traffic class 0xc0 on the wire,
//!   source = the link-local address given, destination ff02::12 from
//!   `IPV6_PKTINFO`; an advert with a bad checksum still reaches the state
//!   machine (which counts it) instead of being dropped by the kernel.
//! * Unicast: a socket bound to the host's address hears adverts sent to
//!   it; the multicast socket does not.
//! * The rtnetlink monitor reports the link going down and up, and
//!   addresses coming and going.
#![cfg(all(feature = "raw-socket", target_os = "linux"))]

mod lab;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lab::Lab;
use lvskit::backend::AddrScope;
use lvskit::backend::raw_socket::{
    MAX_PACKET_LEN, Membership, NetEvent, NetlinkMonitor, RxInfo, VrrpSocket, dump_addresses, dump_links, enter_netns,
};
use lvskit::wire::vrrp::{Addrs, MCAST_V4, MCAST_V6, Repr, Version};
use lvskit::wire::{Family, ipv4};

fn eth0() -> u32 {
    dump_links().unwrap().into_iter().find(|l| l.name == "eth0").expect("eth0").index
}

fn link_local() -> Ipv6Addr {
    let i = eth0();
    dump_addresses()
        .unwrap()
        .into_iter()
        .find_map(|a| match a.addr {
            IpAddr::V6(v6) if a.ifindex == i && a.scope == AddrScope::Link => Some(v6),
            _ => None,
        })
        .expect("a link-local address")
}

/// Waits up to `ms` for one packet; returns its info, IPv4 header bytes
/// (if any) and payload.
fn recv(sock: &VrrpSocket, ms: u64) -> Option<(RxInfo, Option<Vec<u8>>, Vec<u8>)> {
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        if let Some(r) = sock.recv(&mut buf).unwrap() {
            return Some((r.info, r.ip_packet.map(<[u8]>::to_vec), r.payload.to_vec()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn advert_v4(vrid: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let vips = [Ipv4Addr::new(192, 0, 2, 100)];
    let mut buf = [0u8; 64];
    let n = Repr::advertisement(Version::V3, vrid, 100, 100, Addrs::V4(&vips))
        .emit(&mut buf, IpAddr::V4(src), IpAddr::V4(dst))
        .unwrap();
    buf[..n].to_vec()
}

#[test]
fn metadata_loopback_unicast_and_monitor() {
    if !lab::enabled("metadata_loopback_unicast_and_monitor") {
        return;
    }
    let lab = Lab::up("ms", 2);
    let (h1, h2) = (lab.ns(1), lab.ns(2));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();

    // h2: the receiver.
    let rx = std::thread::spawn(move || {
        enter_netns(&h2).unwrap();
        let idx = eth0();
        let m4 = VrrpSocket::open(Family::V4, "eth0", idx, Membership::Multicast(IpAddr::V4(MCAST_V4))).unwrap();
        let m6 = VrrpSocket::open(Family::V6, "eth0", idx, Membership::Multicast(IpAddr::V6(MCAST_V6))).unwrap();
        let u4 = VrrpSocket::open(
            Family::V4,
            "eth0",
            idx,
            Membership::Unicast(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)))),
        )
        .unwrap();
        let mut mon = NetlinkMonitor::open().unwrap();
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();

        // Multicast IPv4, TTL 255 then TTL 7.
        let (info, ip, payload) = recv(&m4, 2000).expect("v4 multicast advert");
        assert_eq!(info.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)));
        assert_eq!(info.dst, IpAddr::V4(MCAST_V4));
        assert_eq!(info.ttl, Some(255));
        assert_eq!(info.ifindex, idx);
        assert_eq!(payload, advert_v4(51, Ipv4Addr::new(192, 0, 2, 11), MCAST_V4));
        let ip = ip.unwrap();
        let p = ipv4::Packet::new_checked(&ip[..]).unwrap();
        assert_eq!(p.tos(), 0xc0);
        assert!(!p.dont_frag());
        assert!(p.verify_header_checksum());
        let first_id = p.ident();
        let (info, ip, _) = recv(&m4, 2000).expect("second v4 advert");
        assert_eq!(info.ttl, Some(7));
        assert_eq!(ipv4::Packet::new_checked(&ip.unwrap()[..]).unwrap().ident(), first_id.wrapping_add(1));

        // Multicast IPv6: the bytes as sent, bad checksum included.
        let (info, ip, payload) = recv(&m6, 2000).expect("v6 advert");
        assert!(ip.is_none());
        assert_eq!(info.dst, IpAddr::V6(MCAST_V6));
        assert_eq!(info.ttl, Some(255));
        assert_eq!(info.ifindex, idx);
        assert!(matches!(info.src, IpAddr::V6(a) if a.segments()[0] == 0xfe80));
        assert_eq!(payload[1], 56);
        let (_, _, bad) = recv(&m6, 2000).expect("v6 advert with a bad checksum");
        assert_eq!(bad[1], 57);

        // Unicast to 192.0.2.12: the unicast socket hears it, the multicast
        // one does not.
        let (info, _, payload) = recv(&u4, 2000).expect("unicast advert");
        assert_eq!(info.dst, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)));
        assert_eq!(payload[1], 58);
        assert!(recv(&m4, 300).is_none(), "the multicast socket heard a unicast advert");
        assert!(recv(&u4, 100).is_none(), "the unicast socket heard more");

        // The monitor: link down and up, an address added and removed.
        let mut events = Vec::new();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) && events.len() < 4 {
            let mut batch = Vec::new();
            mon.recv(&mut batch).unwrap();
            for e in batch {
                match &e {
                    NetEvent::NewLink(l) if l.index == idx && !l.is_up() && events.is_empty() => events.push(e),
                    NetEvent::NewLink(l) if l.index == idx && l.is_up() && events.len() == 1 => events.push(e),
                    NetEvent::NewAddr(a) if a.addr == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)) => events.push(e),
                    NetEvent::DelAddr(a) if a.addr == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)) => events.push(e),
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(events.len(), 4, "monitor saw {events:?}");
    });

    // h1: the sender.
    ready_rx.recv().unwrap();
    let tx = std::thread::spawn(move || {
        enter_netns(&h1).unwrap();
        let idx = eth0();
        let src4 = Ipv4Addr::new(192, 0, 2, 11);
        let mut s4 = VrrpSocket::open(Family::V4, "eth0", idx, Membership::Multicast(IpAddr::V4(MCAST_V4))).unwrap();
        let mut s6 = VrrpSocket::open(Family::V6, "eth0", idx, Membership::Multicast(IpAddr::V6(MCAST_V6))).unwrap();
        let advert = advert_v4(51, src4, MCAST_V4);
        s4.send(IpAddr::V4(src4), IpAddr::V4(MCAST_V4), Some(255), &advert).unwrap();
        s4.send(IpAddr::V4(src4), IpAddr::V4(MCAST_V4), Some(7), &advert).unwrap();
        // No loopback of our own adverts.
        assert!(recv(&s4, 300).is_none(), "heard its own advert");

        let ll = link_local();
        let vips = [Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100)];
        let mut buf = [0u8; 64];
        for (vrid, corrupt) in [(56u8, false), (57, true)] {
            let n = Repr::advertisement(Version::V3, vrid, 100, 100, Addrs::V6(&vips))
                .emit(&mut buf, IpAddr::V6(ll), IpAddr::V6(MCAST_V6))
                .unwrap();
            if corrupt {
                buf[6] ^= 0xff;
            }
            s6.send(IpAddr::V6(ll), IpAddr::V6(MCAST_V6), None, &buf[..n]).unwrap();
        }
        assert!(recv(&s6, 300).is_none(), "heard its own IPv6 advert");
        let dst = Ipv4Addr::new(192, 0, 2, 12);
        s4.send(IpAddr::V4(src4), IpAddr::V4(dst), Some(255), &advert_v4(58, src4, dst)).unwrap();
    });
    go_tx.send(()).unwrap();
    tx.join().expect("sender");
    // Give the receiver time to drain, then change the link and addresses.
    std::thread::sleep(Duration::from_millis(800));
    let ns2 = lab.ns(2);
    for args in [
        ["-n", &ns2, "link", "set", "eth0", "down"].as_slice(),
        ["-n", &ns2, "link", "set", "eth0", "up"].as_slice(),
        ["-n", &ns2, "addr", "add", "192.0.2.99/24", "dev", "eth0"].as_slice(),
        ["-n", &ns2, "addr", "del", "192.0.2.99/24", "dev", "eth0"].as_slice(),
    ] {
        lab::run(std::process::Command::new("ip").args(args));
    }
    rx.join().expect("receiver");
}

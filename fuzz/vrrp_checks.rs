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

/// The instances `vrrp_instance` exercises, by selector.
fn instance_for(selector: u8) -> (lvskit::vrrp::VrrpInstance, IpAddr, IpAddr) {
    use lvskit::vrrp::{Auth, InstanceConfig, UnicastPeer, VirtualAddress};
    let v6 = selector & 1 != 0;
    let (me, peer): (IpAddr, IpAddr) = if v6 {
        ("fe80::11".parse().unwrap(), "fe80::12".parse().unwrap())
    } else {
        (Ipv4Addr::new(192, 0, 2, 11).into(), Ipv4Addr::new(192, 0, 2, 12).into())
    };
    let vip: VirtualAddress = if v6 { "2001:db8::100/64".parse().unwrap() } else { "192.0.2.100/24".parse().unwrap() };
    let mut c = InstanceConfig::new("VI_F", 51).interface("eth0").priority(100).vip(vip);
    if selector & 2 != 0 || v6 {
        c = c.version(Version::V3);
    } else if selector & 4 != 0 {
        c = c.auth(Auth::pass("1111"));
    }
    if selector & 8 != 0 {
        c = c.unicast_peer(UnicastPeer { addr: peer, min_ttl: 200, max_ttl: 255 }).check_unicast_src(true);
    }
    let mut vi = lvskit::vrrp::VrrpInstance::new(c).expect("valid config");
    let t0 = std::time::Instant::now();
    vi.handle_input(t0, lvskit::vrrp::Input::InterfaceAddress(Some(me)));
    vi.handle_input(t0, lvskit::vrrp::Input::Startup);
    (vi, me, peer)
}

/// A VrrpInstance fed hostile packets: the first byte picks the instance
/// (family, version, auth, unicast) and whether it is master, the second
/// the TTL; the rest is a series of packets, each a length byte and that
/// many bytes. Nothing panics; every packet is either discarded (counted
/// when keepalived counts it, with no other effect at all: no state,
/// timer, priority, packet or host change) or a valid advert.
pub fn vrrp_instance(data: &[u8]) {
    use lvskit::vrrp::{Event, RxMeta, State};
    let [selector, ttl, rest @ ..] = data else { return };
    let (mut vi, me, peer) = instance_for(*selector);
    let t0 = std::time::Instant::now();
    let mut now = t0;
    if selector & 16 != 0 {
        now = vi.poll_timeout().expect("backup timer");
        vi.handle_timeout(now);
        assert_eq!(vi.state(), State::Master);
    }
    while vi.poll_transmit().is_some() || vi.poll_action().is_some() || vi.poll_event().is_some() {}
    let unicast = selector & 8 != 0;
    let dst = if unicast {
        me
    } else if me.is_ipv6() {
        vrrp::MCAST_V6.into()
    } else {
        vrrp::MCAST_V4.into()
    };
    let meta = RxMeta { src: peer, dst, ttl: if selector & 32 != 0 { None } else { Some(*ttl) } };
    let mut rest = rest;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (packet, tail) = tail.split_at(n);
        rest = tail;
        now += std::time::Duration::from_millis(u64::from(len) * 7);
        let before = (vi.state(), vi.poll_timeout(), vi.effective_priority(), vi.stats().errors());
        vi.handle_advert(now, meta, packet);
        let mut events = Vec::new();
        let mut other_output = false;
        while let Some(e) = vi.poll_event() {
            events.push(e);
        }
        while vi.poll_transmit().is_some() {
            other_output = true;
        }
        while vi.poll_action().is_some() {
            other_output = true;
        }
        let discarded = events.iter().find_map(|e| match e {
            Event::Discarded { reason, .. } => Some(*reason),
            _ => None,
        });
        match discarded {
            Some(lvskit::vrrp::Discard::LowerPriority { .. }) => {}
            Some(reason) => {
                assert_eq!(events.len(), 1, "{events:?}");
                assert!(!other_output, "a discarded packet made output");
                assert_eq!(
                    (vi.state(), vi.poll_timeout(), vi.effective_priority()),
                    (before.0, before.1, before.2),
                    "a discarded packet changed the instance"
                );
                let counted = u64::from(reason.counter().is_some());
                assert_eq!(vi.stats().errors(), before.3 + counted);
            }
            None => {
                // Accepted (or ignored while not running): it must be a
                // well-formed advert for us.
                if matches!(before.0, State::Backup | State::Master) {
                    let family = vi.family();
                    let p = vrrp::Packet::new_checked(packet, family).expect("accepted packets are well formed");
                    assert_eq!(p.vrid(), 51);
                    assert!(p.verify_checksum(peer, dst).unwrap() || unicast, "accepted a bad checksum");
                }
            }
        }
        // Timers keep running, and a handled timeout never leaves one due.
        if let Some(t) = vi.poll_timeout() {
            if t <= now {
                vi.handle_timeout(now);
                while vi.poll_transmit().is_some() || vi.poll_action().is_some() || vi.poll_event().is_some() {}
                assert!(vi.poll_timeout().is_none_or(|t| t > now), "poll_timeout is still due after handle_timeout");
            }
        }
    }
}

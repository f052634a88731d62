//! Property tests of the wire codecs: emit then parse gives back the same
//! meaning; parse then emit gives back the same bytes; emitting writes
//! exactly the bytes it claims (buffers pre-filled with 0xa5 and 0x5a come
//! out identical); nothing panics on arbitrary input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use lvskit::wire::ethernet::EthernetAddress;
use lvskit::wire::vrrp::{self, Addrs, AuthType, MessageType, Repr, Version};
use lvskit::wire::{Family, arp, ipv4, ipv6, ndisc, pcap};
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V2), Just(Version::V3)]
}

#[derive(Debug, Clone)]
struct Advert {
    version: Version,
    msg_type: u8,
    vrid: u8,
    priority: u8,
    adver_int: u16,
    auth_type: u8,
    auth_data: [u8; 8],
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    family: Family,
    src: IpAddr,
    dst: IpAddr,
}

impl Advert {
    fn repr(&self) -> Repr<'_> {
        let has_auth = self.version == Version::V2;
        Repr {
            version: self.version,
            msg_type: MessageType::from(self.msg_type),
            vrid: self.vrid,
            priority: self.priority,
            adver_int: self.adver_int,
            auth_type: if has_auth { AuthType::from(self.auth_type) } else { AuthType::None },
            auth_data: if has_auth && self.family == Family::V4 { self.auth_data } else { [0; 8] },
            addrs: match self.family {
                Family::V4 => Addrs::V4(&self.v4),
                Family::V6 => Addrs::V6(&self.v6),
            },
        }
    }
}

fn advert() -> impl Strategy<Value = Advert> {
    (
        version(),
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<u8>(),
        any::<[u8; 8]>(),
        prop_oneof![Just(Family::V4), Just(Family::V6)],
        prop_oneof![4 => 0usize..8, 1 => 0usize..=255],
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u32>(),
    )
        .prop_map(|(version, msg_type, vrid, priority, int, auth_type, auth_data, family, n, a, b, seed)| {
            let adver_int = int % (version.max_interval() + 1);
            let v4 = (0..n).map(|i| Ipv4Addr::from(seed.wrapping_add(i as u32 * 7919))).collect();
            let v6 = (0..n).map(|i| Ipv6Addr::from(u128::from(seed) << 64 | i as u128)).collect();
            let (src, dst): (IpAddr, IpAddr) = match family {
                Family::V4 => {
                    (Ipv4Addr::new(a[0], a[1], a[2], a[3]).into(), Ipv4Addr::new(b[0], b[1], b[2], b[3]).into())
                }
                Family::V6 => (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into()),
            };
            Advert { version, msg_type, vrid, priority, adver_int, auth_type, auth_data, v4, v6, family, src, dst }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn vrrp_emit_then_parse(a in advert()) {
        let repr = a.repr();
        let len = repr.buffer_len();
        let mut buf_a = vec![0xa5u8; len + 8];
        let mut buf_b = vec![0x5au8; len + 8];
        prop_assert_eq!(repr.emit(&mut buf_a, a.src, a.dst), Ok(len));
        prop_assert_eq!(repr.emit(&mut buf_b, a.src, a.dst), Ok(len));
        prop_assert_eq!(&buf_a[..len], &buf_b[..len]);
        prop_assert!(buf_a[len..].iter().all(|&b| b == 0xa5));
        let packet = vrrp::Packet::new_checked(&buf_a[..len], a.family).unwrap();
        prop_assert!(packet.verify_checksum(a.src, a.dst).unwrap());
        let back = Repr::parse(&packet, a.src, a.dst).unwrap();
        prop_assert_eq!(back, repr);
        // Too small a buffer is an error, never a panic.
        let mut short = vec![0u8; len - 1];
        prop_assert_eq!(repr.emit(&mut short, a.src, a.dst), Err(vrrp::Error::BufferTooSmall { need: len, got: len - 1 }));
    }

    #[test]
    fn vrrp_parse_then_emit_is_byte_exact(bytes in proptest::collection::vec(any::<u8>(), 0..96), v6 in any::<bool>(),
                                           a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
        let family = if v6 { Family::V6 } else { Family::V4 };
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into())
        } else {
            (Ipv4Addr::new(a[0], a[1], a[2], a[3]).into(), Ipv4Addr::new(b[0], b[1], b[2], b[3]).into())
        };
        // Arbitrary bytes, then the same bytes with a valid checksum.
        for fix in [false, true] {
            let mut bytes = bytes.clone();
            if fix && vrrp::Packet::new_checked(&bytes[..], family).is_ok() {
                vrrp::Packet::new_unchecked(&mut bytes[..], family).fill_checksum(src, dst).unwrap();
            }
            let Ok(packet) = vrrp::Packet::new_checked(&bytes[..], family) else { continue };
            let Ok(repr) = Repr::parse(&packet, src, dst) else { continue };
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out, src, dst).unwrap();
            let mut canonical = bytes.clone();
            if repr.version == Version::V3 {
                canonical[4] &= 0x0f; // reserved bits are sent as zero
                vrrp::Packet::new_unchecked(&mut canonical[..], family).fill_checksum(src, dst).unwrap();
            }
            prop_assert_eq!(out, canonical);
        }
    }

    #[test]
    fn arp_round_trip(op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<u32>(), tha in any::<[u8; 6]>(), tpa in any::<u32>()) {
        let repr = arp::Repr {
            operation: op.into(),
            sender_hardware_addr: EthernetAddress(sha),
            sender_protocol_addr: spa.into(),
            target_hardware_addr: EthernetAddress(tha),
            target_protocol_addr: tpa.into(),
        };
        let mut a = [0xa5u8; 40];
        let mut b = [0x5au8; 40];
        prop_assert_eq!(repr.emit(&mut a), Ok(28));
        repr.emit(&mut b).unwrap();
        prop_assert_eq!(&a[..28], &b[..28]);
        prop_assert!(a[28..].iter().all(|&x| x == 0xa5));
        let back = arp::Repr::parse(&arp::Packet::new_checked(&a[..]).unwrap()).unwrap();
        prop_assert_eq!(back, repr);
        prop_assert_eq!(back.is_gratuitous(), spa == tpa && spa != 0 && (op == 1 || op == 2));
    }

    #[test]
    fn gratuitous_frame_round_trip(mac in any::<[u8; 6]>(), ip in any::<u32>()) {
        let mut f = [0xa5u8; 50];
        prop_assert_eq!(arp::gratuitous_frame(EthernetAddress(mac), ip.into(), &mut f), Ok(42));
        let repr = arp::Repr::parse(&arp::Packet::new_checked(&f[14..42]).unwrap()).unwrap();
        prop_assert_eq!(repr, arp::Repr::gratuitous(EthernetAddress(mac), ip.into()));
        prop_assert!(f[42..].iter().all(|&x| x == 0xa5));
    }

    #[test]
    fn na_round_trip(r in any::<bool>(), s in any::<bool>(), o in any::<bool>(), target in any::<u128>(),
                     lla in proptest::option::of(any::<[u8; 6]>()), src in any::<u128>(), dst in any::<u128>()) {
        let repr = ndisc::Repr { router: r, solicited: s, override_: o, target_addr: target.into(), target_lla: lla.map(EthernetAddress) };
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let len = repr.buffer_len();
        let mut a = vec![0xa5u8; len + 4];
        let mut b = vec![0x5au8; len + 4];
        prop_assert_eq!(repr.emit(&mut a, src, dst), Ok(len));
        repr.emit(&mut b, src, dst).unwrap();
        prop_assert_eq!(&a[..len], &b[..len]);
        let back = ndisc::Repr::parse(&ndisc::Packet::new_checked(&a[..len]).unwrap(), src, dst).unwrap();
        prop_assert_eq!(back, repr);
    }

    #[test]
    fn unsolicited_na_frame_round_trip(mac in any::<[u8; 6]>(), target in any::<u128>(), router in any::<bool>()) {
        let mut f = [0xa5u8; 90];
        let target = Ipv6Addr::from(target);
        prop_assert_eq!(ndisc::unsolicited_na_frame(EthernetAddress(mac), target, router, &mut f), Ok(86));
        let ip = ipv6::Packet::new_checked(&f[14..86]).unwrap();
        prop_assert_eq!((ip.hop_limit(), ip.src_addr(), ip.dst_addr()), (255, target, ndisc::ALL_NODES));
        let na = ndisc::Repr::parse(&ndisc::Packet::new_checked(ip.payload()).unwrap(), target, ndisc::ALL_NODES).unwrap();
        prop_assert_eq!(na, ndisc::Repr::unsolicited(target, EthernetAddress(mac), router));
    }

    #[test]
    fn ipv4_header_round_trip(src in any::<u32>(), dst in any::<u32>(), proto in any::<u8>(), len in 0usize..1500,
                              ttl in any::<u8>(), tos in any::<u8>(), ident in any::<u16>()) {
        let repr = ipv4::Repr { src_addr: src.into(), dst_addr: dst.into(), protocol: proto, payload_len: len, ttl, tos, ident };
        let mut buf = vec![0xa5u8; 20 + len];
        prop_assert_eq!(repr.emit(&mut buf), Ok(20));
        let p = ipv4::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_header_checksum());
        prop_assert_eq!(ipv4::Repr::parse(&p), repr);
    }

    #[test]
    fn ipv6_header_round_trip(src in any::<u128>(), dst in any::<u128>(), nh in any::<u8>(), len in 0usize..200,
                              hl in any::<u8>(), tc in any::<u8>(), fl in 0u32..0x10_0000) {
        let repr = ipv6::Repr { src_addr: src.into(), dst_addr: dst.into(), next_header: nh, payload_len: len, hop_limit: hl,
                                traffic_class: tc, flow_label: fl };
        let mut buf = vec![0xa5u8; 40 + len];
        prop_assert_eq!(repr.emit(&mut buf), Ok(40));
        let p = ipv6::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!((p.src_addr(), p.dst_addr(), p.next_header(), usize::from(p.payload_len()), p.hop_limit(),
                         p.traffic_class(), p.flow_label()), (src.into(), dst.into(), nh, len, hl, tc, fl));
    }

    #[test]
    fn pcap_round_trip(frames in proptest::collection::vec((any::<u32>(), 0u32..1_000_000, proptest::collection::vec(any::<u8>(), 0..100)), 0..8)) {
        let owned: Vec<(Duration, Vec<u8>)> = frames.iter()
            .map(|(s, us, d)| (Duration::from_secs(u64::from(*s)) + Duration::from_micros(u64::from(*us)), d.clone()))
            .collect();
        let refs: Vec<(Duration, &[u8])> = owned.iter().map(|(t, d)| (*t, &d[..])).collect();
        let mut file = Vec::new();
        pcap::write(&mut file, 1, &refs).unwrap();
        let mut r = pcap::Reader::new(&file[..]).unwrap();
        for (t, d) in &owned {
            let rec = r.next_record().unwrap().unwrap();
            prop_assert_eq!(rec.timestamp, *t);
            prop_assert_eq!(rec.data, &d[..]);
        }
        prop_assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = vrrp::Packet::new_checked(&bytes[..], Family::V4).map(|p| Repr::parse_unverified(&p));
        let _ = vrrp::Packet::new_checked(&bytes[..], Family::V6).map(|p| Repr::parse_unverified(&p));
        let _ = arp::Packet::new_checked(&bytes[..]).map(|p| arp::Repr::parse(&p));
        let _ = ndisc::Packet::new_checked(&bytes[..]).map(|p| ndisc::Repr::parse(&p, Ipv6Addr::LOCALHOST, ndisc::ALL_NODES));
        let _ = ipv4::Packet::new_checked(&bytes[..]).map(|p| p.payload().len());
        let _ = ipv6::Packet::new_checked(&bytes[..]).map(|p| p.upper_layer().map(|u| u.map(|(n, b)| (n, b.len()))));
        for link in [pcap::LinkType::Ethernet, pcap::LinkType::LinuxSll, pcap::LinkType::LinuxSll2, pcap::LinkType::Raw] {
            let _ = lvskit::wire::inspect::inspect(link, &bytes).map(|l| l.to_string());
        }
        let _ = pcap::Reader::new(&bytes[..]).map(|mut r| while let Ok(Some(_)) = r.next_record() {});
    }
}

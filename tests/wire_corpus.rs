//! Byte-exact parse and re-emit of every packet keepalived 2.2.7 sent in
//! the VRRP corpus (`tests/data/vrrp-corpus`, captured on a netlab segment),
//! and the `vrrp-decode` lines for each capture.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use lvskit::wire::ethernet::{EtherType, EthernetAddress, Frame};
use lvskit::wire::inspect::inspect;
use lvskit::wire::pcap::{LinkType, Reader};
use lvskit::wire::vrrp::{self, Addrs, AuthType, Version};
use lvskit::wire::{Family, arp, ipv4, ipv6, ndisc};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vrrp-corpus");

fn frames(name: &str) -> Vec<Vec<u8>> {
    let file = std::fs::read(Path::new(DIR).join(name)).unwrap();
    let mut reader = Reader::new(&file[..]).unwrap();
    assert_eq!(reader.link_type(), LinkType::Ethernet);
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        out.push(r.data.to_vec());
    }
    out
}

fn all_pcaps() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    names
}

/// Re-emits one VRRP payload from its parsed Repr; returns the Repr's
/// salient fields for the caller's checks.
fn reemit_vrrp(
    family: Family,
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
) -> (Version, u8, u8, u16, AuthType, Vec<IpAddr>) {
    let packet = vrrp::Packet::new_checked(payload, family).unwrap();
    let repr = vrrp::Repr::parse(&packet, src, dst).unwrap();
    assert_eq!(repr.buffer_len(), payload.len());
    let mut buf = vec![0xa5u8; payload.len() + 16];
    assert_eq!(repr.emit(&mut buf, src, dst), Ok(payload.len()));
    assert_eq!(&buf[..payload.len()], payload, "re-emitted VRRP bytes differ");
    assert!(buf[payload.len()..].iter().all(|&b| b == 0xa5), "emit wrote past its length");

    // Rebuild from owned addresses too (the path a router takes).
    let addrs: Vec<IpAddr> = repr.addrs.iter().collect();
    let v4: Vec<Ipv4Addr> = addrs.iter().filter_map(|a| if let IpAddr::V4(a) = a { Some(*a) } else { None }).collect();
    let v6: Vec<Ipv6Addr> = addrs.iter().filter_map(|a| if let IpAddr::V6(a) = a { Some(*a) } else { None }).collect();
    let mut owned = repr;
    owned.addrs = match family {
        Family::V4 => Addrs::V4(&v4),
        Family::V6 => Addrs::V6(&v6),
    };
    let mut buf2 = vec![0u8; payload.len()];
    owned.emit(&mut buf2, src, dst).unwrap();
    assert_eq!(buf2, payload);
    (repr.version, repr.vrid, repr.priority, repr.adver_int, repr.auth_type, addrs)
}

/// Every frame of every capture: the Ethernet, IP and VRRP/ARP/NA layers
/// parse, and emitting what was parsed gives back the captured bytes.
#[test]
fn every_corpus_frame_round_trips_byte_exact() {
    let mut vrrp_count = 0;
    let mut garp_count = 0;
    let mut na_count = 0;
    for name in all_pcaps() {
        for (i, frame) in frames(&name).iter().enumerate() {
            let eth = Frame::new_checked(&frame[..]).unwrap();
            let mac = eth.src_addr();
            match eth.ethertype() {
                EtherType::Ipv4 => {
                    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
                    assert!(ip.verify_header_checksum(), "{name} #{i}");
                    assert_eq!((ip.protocol(), ip.ttl(), ip.tos()), (112, 255, 0xc0));
                    assert!(!ip.dont_frag());
                    // keepalived's own IPv4 header, rebuilt from its fields.
                    let mut hdr = [0u8; 20];
                    ipv4::Repr::parse(&ip).emit(&mut hdr).unwrap();
                    assert_eq!(hdr[..], eth.payload()[..20], "{name} #{i}: IPv4 header");
                    assert_eq!(eth.dst_addr(), EthernetAddress::ipv4_multicast(vrrp::MCAST_V4));
                    reemit_vrrp(Family::V4, ip.payload(), ip.src_addr().into(), ip.dst_addr().into());
                    vrrp_count += 1;
                }
                EtherType::Ipv6 => {
                    let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
                    assert_eq!(ip.hop_limit(), 255);
                    let (src, dst) = (ip.src_addr(), ip.dst_addr());
                    match ip.next_header() {
                        112 => {
                            assert_eq!(ip.traffic_class(), 0xc0);
                            assert_eq!(dst, vrrp::MCAST_V6);
                            reemit_vrrp(Family::V6, ip.payload(), src.into(), dst.into());
                            vrrp_count += 1;
                        }
                        58 => {
                            let na = ndisc::Packet::new_checked(ip.payload()).unwrap();
                            let repr = ndisc::Repr::parse(&na, src, dst).unwrap();
                            assert_eq!(repr, ndisc::Repr::unsolicited(src, mac, false));
                            let mut buf = vec![0xa5u8; frame.len()];
                            ndisc::unsolicited_na_frame(mac, repr.target_addr, repr.router, &mut buf).unwrap();
                            assert_eq!(&buf, frame, "{name} #{i}: NA frame");
                            na_count += 1;
                        }
                        other => panic!("{name} #{i}: unexpected next header {other}"),
                    }
                }
                EtherType::Arp => {
                    let p = arp::Packet::new_checked(eth.payload()).unwrap();
                    let repr = arp::Repr::parse(&p).unwrap();
                    assert!(repr.is_gratuitous());
                    let mut buf = vec![0xa5u8; frame.len()];
                    arp::gratuitous_frame(mac, repr.sender_protocol_addr, &mut buf).unwrap();
                    assert_eq!(&buf, frame, "{name} #{i}: GARP frame");
                    garp_count += 1;
                }
                other => panic!("{name} #{i}: unexpected ethertype {other:?}"),
            }
        }
    }
    // IPv4: 3 (noauth) + 3 (pass) + 3 (5 VIPs) + 5 (prio 0) + 3 (v3) + 5
    // (v3 100 ms) + 1 (GARP capture); IPv6: 3 + 3 (link-local first) + 2
    // (prio 0) + 1 (NA capture).
    assert_eq!(vrrp_count, 32);
    assert_eq!(garp_count, 5);
    assert_eq!(na_count, 5);
}

/// The values the corpus README lists for each capture.
#[test]
fn corpus_values_match_its_readme() {
    let check = |name: &str, want: &[(Version, u8, u8, u16, AuthType, usize)]| {
        let got: Vec<_> = frames(name)
            .iter()
            .filter_map(|f| {
                let eth = Frame::new_checked(&f[..]).unwrap();
                match eth.ethertype() {
                    EtherType::Ipv4 => {
                        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
                        Some(reemit_vrrp(Family::V4, ip.payload(), ip.src_addr().into(), ip.dst_addr().into()))
                    }
                    EtherType::Ipv6 => {
                        let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
                        (ip.next_header() == 112)
                            .then(|| reemit_vrrp(Family::V6, ip.payload(), ip.src_addr().into(), ip.dst_addr().into()))
                    }
                    _ => None,
                }
            })
            .map(|(v, vrid, prio, int, auth, addrs)| (v, vrid, prio, int, auth, addrs.len()))
            .collect();
        assert_eq!(got, want, "{name}");
    };
    use AuthType::{None as NoAuth, SimplePassword as Pass};
    use Version::{V2, V3};
    check("vrrpv2-ipv4-noauth.pcap", &[(V2, 51, 150, 1, NoAuth, 1); 3]);
    check("vrrpv2-ipv4-auth-pass.pcap", &[(V2, 52, 150, 1, Pass, 1); 3]);
    check("vrrpv2-ipv4-5vips.pcap", &[(V2, 53, 150, 1, NoAuth, 5); 3]);
    check("vrrpv3-ipv4.pcap", &[(V3, 54, 150, 100, NoAuth, 1); 3]);
    check("vrrpv3-ipv4-100ms.pcap", &[(V3, 55, 150, 10, NoAuth, 1); 5]);
    check("vrrpv3-ipv6.pcap", &[(V3, 56, 150, 100, NoAuth, 1); 3]);
    check("vrrpv3-ipv6-linklocal-first.pcap", &[(V3, 58, 150, 100, NoAuth, 2); 3]);
    check("vrrpv3-ipv6-prio0.pcap", &[(V3, 59, 150, 100, NoAuth, 1), (V3, 59, 0, 100, NoAuth, 1)]);
    check(
        "vrrpv2-ipv4-prio0.pcap",
        &[
            (V2, 57, 150, 1, NoAuth, 1),
            (V2, 57, 150, 1, NoAuth, 1),
            (V2, 57, 0, 1, NoAuth, 1),
            (V2, 57, 100, 1, NoAuth, 1),
            (V2, 57, 100, 1, NoAuth, 1),
        ],
    );
}

fn lines(name: &str) -> Vec<String> {
    frames(name).iter().filter_map(|f| inspect(LinkType::Ethernet, f)).map(|l| l.to_string()).collect()
}

/// The `vrrp-decode` output of every capture.
#[test]
fn decode_lines_for_the_corpus() {
    let v2 = |vrid: u8, prio: u8, src: &str, extra: &str| {
        format!(
            "v2 advert vrid={vrid} prio={prio} count=1 int=1s csum=ok auth={extra} src={src} dst=224.0.0.18 ttl=255 addrs=192.0.2.100"
        )
    };
    let garp = "garp ip=192.0.2.100 mac=02:00:c0:00:02:0b".to_owned();
    let una = "una target=2001:db8::100 mac=02:00:c0:00:02:0b".to_owned();
    let mut want = vec![v2(51, 150, "192.0.2.11", "none")];
    want.extend(std::iter::repeat_n(garp, 5));
    assert_eq!(lines("garp-ipv4-become-master.pcap"), want);

    let v3v6 = |vrid: u8, prio: u8, count: u8, addrs: &str| {
        format!(
            "v3 advert vrid={vrid} prio={prio} count={count} int=100cs csum=ok auth=none src=fe80::c0ff:fe00:20b dst=ff02::12 ttl=255 addrs={addrs}"
        )
    };
    let mut want = vec![v3v6(56, 150, 1, "2001:db8::100")];
    want.extend(std::iter::repeat_n(una, 5));
    assert_eq!(lines("una-ipv6-become-master.pcap"), want);

    assert_eq!(lines("vrrpv2-ipv4-noauth.pcap"), vec![v2(51, 150, "192.0.2.11", "none"); 3]);
    assert_eq!(lines("vrrpv2-ipv4-auth-pass.pcap"), vec![v2(52, 150, "192.0.2.11", "pass pass=1111"); 3]);
    assert_eq!(
        lines("vrrpv2-ipv4-5vips.pcap"),
        vec![
            "v2 advert vrid=53 prio=150 count=5 int=1s csum=ok auth=none src=192.0.2.11 dst=224.0.0.18 ttl=255 addrs=192.0.2.100,192.0.2.101,192.0.2.102,192.0.2.103,192.0.2.104";
            3
        ]
    );
    assert_eq!(
        lines("vrrpv2-ipv4-prio0.pcap"),
        vec![
            v2(57, 150, "192.0.2.11", "none"),
            v2(57, 150, "192.0.2.11", "none"),
            v2(57, 0, "192.0.2.11", "none"),
            v2(57, 100, "192.0.2.12", "none"),
            v2(57, 100, "192.0.2.12", "none"),
        ]
    );
    let v3v4 = |vrid: u8, int: u16| {
        format!(
            "v3 advert vrid={vrid} prio=150 count=1 int={int}cs csum=ok auth=none src=192.0.2.11 dst=224.0.0.18 ttl=255 addrs=192.0.2.100"
        )
    };
    assert_eq!(lines("vrrpv3-ipv4.pcap"), vec![v3v4(54, 100); 3]);
    assert_eq!(lines("vrrpv3-ipv4-100ms.pcap"), vec![v3v4(55, 10); 5]);
    assert_eq!(lines("vrrpv3-ipv6.pcap"), vec![v3v6(56, 150, 1, "2001:db8::100"); 3]);
    assert_eq!(lines("vrrpv3-ipv6-linklocal-first.pcap"), vec![v3v6(58, 150, 2, "fe80::100,2001:db8::100"); 3]);
    assert_eq!(
        lines("vrrpv3-ipv6-prio0.pcap"),
        vec![v3v6(59, 150, 1, "2001:db8::100"), v3v6(59, 0, 1, "2001:db8::100")]
    );
}

/// An Ethernet frame as a Linux cooked v1 record (`tcpdump -i any`).
fn to_sll(frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 4, 0, 1, 0, 6];
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&frame[12..]);
    out
}

#[test]
fn cooked_captures_padding_and_ip_options() {
    let adv = &frames("vrrpv2-ipv4-auth-pass.pcap")[0];
    let want = lines("vrrpv2-ipv4-auth-pass.pcap")[0].clone();
    assert_eq!(inspect(LinkType::LinuxSll, &to_sll(adv)).unwrap().to_string(), want);

    // Padding to Ethernet's 60 bytes, as a receiver sees the 46-byte v3 advert.
    let v3 = &frames("vrrpv3-ipv4.pcap")[0];
    let mut padded = v3.clone();
    padded.resize(60, 0);
    assert_eq!(inspect(LinkType::Ethernet, &padded).unwrap().to_string(), lines("vrrpv3-ipv4.pcap")[0]);

    // An IPv4 Router Alert option (4 bytes): header 24 bytes, total +4.
    let mut opt = adv[..14].to_vec();
    let ip = &adv[14..];
    let mut hdr = ip[..20].to_vec();
    hdr[0] = 0x46;
    let total = u16::from_be_bytes([hdr[2], hdr[3]]) + 4;
    hdr[2..4].copy_from_slice(&total.to_be_bytes());
    opt.extend_from_slice(&hdr);
    opt.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
    opt.extend_from_slice(&ip[20..]);
    assert_eq!(inspect(LinkType::Ethernet, &opt).unwrap().to_string(), want);

    // A VLAN tag.
    let mut tagged = adv[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&adv[12..]);
    assert_eq!(inspect(LinkType::Ethernet, &tagged).unwrap().to_string(), want);
}

#[test]
fn frames_that_print_nothing() {
    // A non-gratuitous ARP request (who-has 192.0.2.100 tell 192.0.2.12).
    let mut who_has = frames("garp-ipv4-become-master.pcap")[1].clone();
    who_has[14 + 14..14 + 18].copy_from_slice(&[192, 0, 2, 12]);
    assert_eq!(inspect(LinkType::Ethernet, &who_has), None);

    // A solicited NA (S flag set, checksum fixed).
    let una = &frames("una-ipv6-become-master.pcap")[1];
    let mut solicited = una.clone();
    let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let na = ndisc::Repr {
        solicited: true,
        ..ndisc::Repr::unsolicited(target, EthernetAddress([2, 0, 0xc0, 0, 2, 0x0b]), false)
    };
    na.emit(&mut solicited[54..], target, ndisc::ALL_NODES).unwrap();
    assert_eq!(inspect(LinkType::Ethernet, &solicited), None);

    // An ICMPv6 Destination Unreachable quoting a VRRP advert.
    let adv = &frames("vrrpv3-ipv6.pcap")[0];
    let quoted = &adv[14..];
    let mut icmp = vec![1u8, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quoted);
    let mut err = adv[..14].to_vec();
    let ip = ipv6::Repr {
        src_addr: "2001:db8::1".parse().unwrap(),
        dst_addr: "fe80::c0ff:fe00:20b".parse().unwrap(),
        next_header: 58,
        payload_len: icmp.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut hdr = [0u8; 40];
    ip.emit(&mut hdr).unwrap();
    err.extend_from_slice(&hdr);
    err.extend_from_slice(&icmp);
    assert_eq!(inspect(LinkType::Ethernet, &err), None);
}

#[test]
fn broken_adverts_print_an_error_line() {
    // A v3 advert whose checksum was computed without the pseudo-header.
    let mut bad = frames("vrrpv3-ipv4.pcap")[0].clone();
    bad[34 + 6..34 + 8].copy_from_slice(&0x75ffu16.to_be_bytes());
    assert_eq!(
        inspect(LinkType::Ethernet, &bad).unwrap().to_string(),
        "v3 advert vrid=54 prio=150 count=1 int=100cs error=bad VRRP checksum 0x75ff, expected 0xd364"
    );

    // The 5-VIP v2 advert cut by a 60-byte snapshot length.
    let five = &frames("vrrpv2-ipv4-5vips.pcap")[0];
    assert_eq!(
        inspect(LinkType::Ethernet, &five[..60]).unwrap().to_string(),
        "v2 advert vrid=53 prio=150 count=5 int=1s error=address count 5 needs a 36-byte packet, got 26 bytes"
    );
}

//! Wireshark's dissectors (tshark, which `scripts/setup` installs) agree
//! with the packets lvskit builds: every advert a `VrrpInstance` sends (v2
//! with and without a password, v3 over IPv4 and IPv6, multicast and
//! unicast, priority 0) has a good VRRP checksum and the fields we put in,
//! and the gratuitous ARPs and unsolicited NAs decode as such with good
//! checksums. The pre-1.3.6 unicast checksum (`old_unicast_checksum`) is
//! the one tshark must call bad.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use lvskit::vrrp::{Auth, Input, InstanceConfig, Transmit, UnicastChecksum, VirtualAddress, VrrpInstance};
use lvskit::wire::ethernet::{self, EtherType, EthernetAddress};
use lvskit::wire::{ipv6, pcap};

const MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b]);

/// Ethernet frames of an instance's transition to master and of its
/// priority 0 advert at shutdown.
fn frames_of(config: InstanceConfig, addr: IpAddr) -> Vec<Vec<u8>> {
    let mut vi = VrrpInstance::new(config).unwrap();
    let t0 = Instant::now();
    vi.handle_input(t0, Input::InterfaceAddress(Some(addr)));
    vi.handle_input(t0, Input::Startup);
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    vi.handle_input(t + Duration::from_millis(10), Input::Shutdown);
    let mut out = Vec::new();
    while let Some(tx) = vi.poll_transmit() {
        let mut f = vec![0u8; 256];
        let n = match tx {
            Transmit::Advert(a) => {
                let dst_mac = match a.dst {
                    IpAddr::V4(d) if d.is_multicast() => EthernetAddress::ipv4_multicast(d),
                    IpAddr::V6(d) if d.is_multicast() => EthernetAddress::ipv6_multicast(d),
                    _ => EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x0c]),
                };
                let ethertype = if a.family() == lvskit::wire::Family::V4 { EtherType::Ipv4 } else { EtherType::Ipv6 };
                let eth = ethernet::Repr { src_addr: MAC, dst_addr: dst_mac, ethertype };
                let mut n = eth.emit(&mut f).unwrap();
                match (a.src, a.dst) {
                    (IpAddr::V4(_), _) => n += a.emit_ipv4(1, &mut f[n..]).unwrap().unwrap(),
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        let ip = ipv6::Repr {
                            src_addr: s,
                            dst_addr: d,
                            next_header: 112,
                            payload_len: a.buffer_len(),
                            hop_limit: a.hop_limit.unwrap_or(64),
                            traffic_class: a.tos,
                            flow_label: 0,
                        };
                        n += ip.emit(&mut f[n..]).unwrap();
                        n += a.emit(&mut f[n..]).unwrap();
                    }
                    _ => unreachable!(),
                }
                n
            }
            Transmit::GratuitousArp(g) => g.emit_frame(MAC, &mut f).unwrap(),
            Transmit::UnsolicitedNa(na) => na.emit_frame(MAC, false, &mut f).unwrap(),
        };
        f.truncate(n);
        out.push(f);
    }
    out
}

/// tshark's fields, one line per frame.
fn tshark(frames: &[Vec<u8>], fields: &[&str]) -> Vec<Vec<String>> {
    let path = std::env::temp_dir().join(format!("lvskit-tshark-{}-{}.pcap", std::process::id(), fields.len()));
    let refs: Vec<(Duration, &[u8])> =
        frames.iter().enumerate().map(|(i, f)| (Duration::from_millis(i as u64), &f[..])).collect();
    pcap::write(std::fs::File::create(&path).unwrap(), 1, &refs).unwrap();
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&path).args(["-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("tshark: {e}: install it (scripts/setup does) to run this test"));
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('|').map(str::to_owned).collect()).collect()
}

fn vip4(s: &str) -> VirtualAddress {
    s.parse().unwrap()
}

const H1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const H2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));

#[test]
fn tshark_accepts_every_advert() {
    let base = |vrid| InstanceConfig::new("VI", vrid).interface("eth0").priority(150).vip(vip4("192.0.2.100/24"));
    let ll: IpAddr = "fe80::c0ff:fe00:20b".parse::<Ipv6Addr>().unwrap().into();
    let cases: Vec<(InstanceConfig, IpAddr)> = vec![
        (base(51), H1),
        (base(52).auth(Auth::pass("1111")), H1),
        (base(53).vip(vip4("192.0.2.101")).vip(vip4("192.0.2.102")).vip(vip4("192.0.2.103")), H1),
        (base(54).version(lvskit::wire::vrrp::Version::V3), H1),
        (base(55).version(lvskit::wire::vrrp::Version::V3).advert_int(Duration::from_millis(100)), H1),
        (base(60).version(lvskit::wire::vrrp::Version::V3).unicast_peer(H2), H1),
        (
            InstanceConfig::new("VI6", 56)
                .interface("eth0")
                .priority(150)
                .vip("fe80::100/64".parse::<VirtualAddress>().unwrap())
                .vip("2001:db8::100/64".parse::<VirtualAddress>().unwrap()),
            ll,
        ),
    ];
    let mut frames = Vec::new();
    for (c, a) in cases {
        frames.extend(frames_of(c, a));
    }
    let rows = tshark(
        &frames,
        &[
            "frame.protocols",
            "vrrp.version",
            "vrrp.virt_rtr_id",
            "vrrp.prio",
            "vrrp.checksum.status",
            "ip.checksum.status",
            "arp.isgratuitous",
            "icmpv6.checksum.status",
            "icmpv6.nd.na.flag.o",
        ],
    );
    assert_eq!(rows.len(), frames.len());
    let (mut adverts, mut zeros, mut garps, mut nas) = (0, 0, 0, 0);
    for (i, r) in rows.iter().enumerate() {
        let protos = &r[0];
        if protos.ends_with(":vrrp") {
            adverts += 1;
            assert_eq!(r[4], "1", "frame {i}: VRRP checksum not good: {r:?}");
            if protos.contains(":ip:") {
                assert_eq!(r[5], "1", "frame {i}: IPv4 header checksum not good: {r:?}");
            }
            zeros += usize::from(r[3] == "0");
        } else if protos.ends_with(":arp") {
            assert_eq!(r[6], "1", "frame {i}: not a gratuitous ARP: {r:?}");
            garps += 1;
        } else if protos.ends_with(":icmpv6") {
            assert_eq!((r[7].as_str(), r[8].as_str()), ("1", "1"), "frame {i}: {r:?}");
            nas += 1;
        } else {
            panic!("frame {i}: {r:?}");
        }
    }
    // 7 instances (the unicast one has one peer): one advert and one
    // priority 0 advert each; 5 GARPs per IPv4 VIP, 5 NAs per IPv6 VIP.
    assert_eq!((adverts, zeros), (14, 7));
    assert_eq!(garps, 5 * (1 + 1 + 4 + 1 + 1 + 1));
    assert_eq!(nas, 5 * 2);
}

#[test]
fn tshark_calls_the_old_unicast_checksum_bad() {
    let c = InstanceConfig::new("VI", 61)
        .interface("eth0")
        .priority(150)
        .version(lvskit::wire::vrrp::Version::V3)
        .vip(vip4("192.0.2.100/24"))
        .unicast_peer(H2)
        .old_unicast_checksum(UnicastChecksum::Always);
    let frames = frames_of(c, H1);
    let rows = tshark(&frames[..1], &["vrrp.checksum.status", "ip.dst"]);
    // Wireshark checks RFC 5798's checksum over the real destination (0: bad, 1: good).
    assert_eq!(rows[0], vec!["0".to_owned(), "192.0.2.12".to_owned()]);
}

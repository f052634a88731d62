//! The `IPVS` generic netlink family on the host (no kernel needed):
//! byte-exact against what `ipvsadm` 1.31 sends, decoding of replies the
//! Debian 6.1 kernel sent (`tests/data/ipvs/*.bin`, captured by
//! `tests/data/ipvs/capture.sh`), the known traps, malformed input, and
//! property round trips.
#![cfg(all(feature = "netlink", target_os = "linux"))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvskit::backend::netlink::family::{
    self, CmdAttr, DaemonAttr, Decoded, DefaultNla, DestAttr, IpvsCmd, IpvsMessage, Reply, StatsAttr, StatsField,
    SvcAttr, daemon_attrs, decode_replies, dest_attrs, encode_request, parse_daemon, parse_dest, parse_replies,
    parse_service, service_attrs,
};
use lvskit::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, Family, ForwardMethod, IpvsInfo, PersistMask, Persistence, Protocol,
    ServiceConfig, ServiceFlags, ServiceKey, Timeouts, TunnelCsum, TunnelKind, TunnelParams,
};
use proptest::prelude::*;

/// The family id the VM's kernel gave `IPVS` when the captures were made.
const CAPTURED_FAMILY: u16 = 32;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/ipvs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

/// Our encoding of `msg` against ipvsadm's capture: same length, type and
/// flags, same generic netlink header and attributes (sequence number and
/// port id differ by nature).
fn assert_same_request(capture: &str, msg: IpvsMessage) {
    let theirs = data(capture);
    let mut ours = Vec::new();
    encode_request(msg, CAPTURED_FAMILY, netlink_packet_core::NLM_F_ACK, 7, &mut ours);
    assert_eq!(ours.len(), theirs.len(), "{capture}: length");
    assert_eq!(ours[..8], theirs[..8], "{capture}: length, type and flags");
    assert_eq!(ours[16..], theirs[16..], "{capture}: generic header and attributes");
}

/// For real-server commands ipvsadm sends the whole service entry where the
/// kernel needs (and lvskit sends) only the identifying attributes: the
/// real-server nest must match exactly and lvskit's service attributes must
/// be the first of ipvsadm's.
fn assert_same_dest_request(capture: &str, msg: IpvsMessage) {
    let theirs = parse_replies(&data(capture), CAPTURED_FAMILY).unwrap();
    let [Reply::Message { msg: theirs, .. }] = &theirs[..] else { panic!("{capture}: {theirs:?}") };
    assert_eq!(theirs.cmd, msg.cmd);
    assert_eq!(theirs.dest(), msg.dest(), "{capture}: real-server attributes, in order");
    let ours = msg.service().unwrap();
    assert_eq!(&theirs.service().unwrap()[..ours.len()], ours, "{capture}: identifying service attributes");
    // And the encoding of those attributes is the one the kernel parsed.
    let mut buf = Vec::new();
    encode_request(msg.clone(), CAPTURED_FAMILY, netlink_packet_core::NLM_F_ACK, 7, &mut buf);
    let [Reply::Message { msg: back, .. }] = &parse_replies(&buf, CAPTURED_FAMILY).unwrap()[..] else { panic!() };
    assert_eq!(back, &msg);
}

fn cmd(c: IpvsCmd, attrs: Vec<CmdAttr>) -> IpvsMessage {
    IpvsMessage::new(c, attrs)
}

#[test]
fn requests_match_ipvsadm_byte_for_byte() {
    let web = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), 80);
    // ipvsadm -A -t 192.0.2.1:80 -s wlc -p 600 -M 255.255.255.0
    let svc = ServiceConfig::new(web, "wlc")
        .persistent(Persistence { timeout: 600, mask: PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0)) });
    assert_same_request(
        "new-service-v4-2-send.bin",
        cmd(IpvsCmd::NewService, vec![CmdAttr::Service(service_attrs(&svc))]),
    );
    // ipvsadm -A -t [2001:db8::1]:443 -s sh -b sh-port,sh-fallback: no
    // persistence, and still the prefix length 128 in the netmask.
    let web6 = ServiceKey::addr(Protocol::Tcp, v6("2001:db8::1"), 443);
    let svc6 = ServiceConfig::new(web6, "sh").flags(ServiceFlags::SH_PORT | ServiceFlags::SH_FALLBACK);
    assert_same_request(
        "new-service-v6-2-send.bin",
        cmd(IpvsCmd::NewService, vec![CmdAttr::Service(service_attrs(&svc6))]),
    );
    // ipvsadm -A -f 7 -s mh -b mh-fallback -p 300 --pe sip
    let mut fwm = ServiceConfig::new(ServiceKey::fwmark(Family::V4, 7), "mh")
        .flags(ServiceFlags::MH_FALLBACK)
        .persistent(Persistence::new(Family::V4));
    fwm.pe_name = Some("sip".into());
    assert_same_request(
        "new-service-fwmark-2-send.bin",
        cmd(IpvsCmd::NewService, vec![CmdAttr::Service(service_attrs(&fwm))]),
    );
    // ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.1:8080 -m -w 3 -x 100 -y 50
    let key = CmdAttr::Service(family::service_key_attrs(&web));
    let masq = DestConfig::masq(v4(198, 51, 100, 1), 8080).weight(3).thresholds(100, 50);
    assert_same_dest_request(
        "new-dest-masq-2-send.bin",
        cmd(IpvsCmd::NewDest, vec![key.clone(), CmdAttr::Dest(dest_attrs(&masq))]),
    );
    // ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -i --tun-type gue --tun-port 6080 --tun-csum
    let gue = DestConfig::tunnel(
        v4(198, 51, 100, 2),
        80,
        TunnelParams { kind: TunnelKind::Gue, port: 6080, csum: TunnelCsum::Csum },
    );
    assert_same_dest_request(
        "new-dest-gue-2-send.bin",
        cmd(IpvsCmd::NewDest, vec![key, CmdAttr::Dest(dest_attrs(&gue))]),
    );
    // ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 2
    let d6 = DestConfig::route(v6("2001:db8::10"), 443).weight(2);
    assert_same_dest_request(
        "new-dest-v6-2-send.bin",
        cmd(IpvsCmd::NewDest, vec![CmdAttr::Service(family::service_key_attrs(&web6)), CmdAttr::Dest(dest_attrs(&d6))]),
    );
    // ipvsadm --set 100 20 30
    assert_same_request(
        "set-timeout-2-send.bin",
        cmd(IpvsCmd::SetConfig, vec![CmdAttr::TimeoutTcp(100), CmdAttr::TimeoutTcpFin(20), CmdAttr::TimeoutUdp(30)]),
    );
    // ipvsadm --start-daemon backup --mcast-interface lvsync0 --syncid 5
    //   --mcast-group 224.0.0.100 --mcast-port 9000 --mcast-ttl 2
    let d = DaemonConfig {
        role: DaemonRole::Backup,
        mcast_ifn: "lvsync0".into(),
        sync_id: 5,
        sync_maxlen: 0,
        mcast_group: Some(v4(224, 0, 0, 100)),
        mcast_port: 9000,
        mcast_ttl: 2,
    };
    assert_same_request("start-daemon-2-send.bin", cmd(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(daemon_attrs(&d))]));
}

#[test]
fn kernel_replies_decode_to_the_table_ipvsadm_listed() {
    // `ipvsadm -Ln` listed: TCP 192.0.2.1:80 wlc persistent 600 mask
    // 255.255.255.0 (one masq server), TCP [2001:db8::1]:443 sh
    // (sh-fallback,sh-port) (one route server), FWM 7 mh (mh-fallback)
    // persistent 300 pe sip.
    let services: Vec<_> = decode_replies(&data("list-3-recv.bin"), CAPTURED_FAMILY, Family::V4)
        .expect("service dump")
        .into_iter()
        .filter_map(|d| match d {
            Decoded::Service(s) => Some(s.config),
            _ => None,
        })
        .collect();
    let web = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), 80);
    let web6 = ServiceKey::addr(Protocol::Tcp, v6("2001:db8::1"), 443);
    let mut fwm = ServiceConfig::new(ServiceKey::fwmark(Family::V4, 7), "mh")
        .flags(ServiceFlags::MH_FALLBACK)
        .persistent(Persistence::new(Family::V4));
    fwm.pe_name = Some("sip".into());
    assert_eq!(
        services,
        vec![
            ServiceConfig::new(web, "wlc")
                .persistent(Persistence { timeout: 600, mask: PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0)) }),
            ServiceConfig::new(web6, "sh").flags(ServiceFlags::SH_PORT | ServiceFlags::SH_FALLBACK),
            fwm,
        ]
    );

    let dests = |file: &str, fam: Family| -> Vec<DestConfig> {
        decode_replies(&data(file), CAPTURED_FAMILY, fam)
            .expect("dest dump")
            .into_iter()
            .filter_map(|d| match d {
                Decoded::Dest(d) => Some(d.config),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        dests("list-6-recv.bin", Family::V4),
        vec![DestConfig::masq(v4(198, 51, 100, 1), 8080).weight(3).thresholds(100, 50)]
    );
    assert_eq!(dests("list-9-recv.bin", Family::V6), vec![DestConfig::route(v6("2001:db8::10"), 443).weight(2)]);

    let info = decode_replies(&data("list-1-recv.bin"), CAPTURED_FAMILY, Family::V4).unwrap();
    assert_eq!(info, vec![Decoded::Info(IpvsInfo { version: 0x010201, conn_tab_size: 4096 })]);
    let t = decode_replies(&data("list-timeout-3-recv.bin"), CAPTURED_FAMILY, Family::V4).unwrap();
    assert_eq!(t, vec![Decoded::Timeouts(Timeouts { tcp: 100, tcp_fin: 20, udp: 30 })]);
    let daemons = decode_replies(&data("list-daemon-3-recv.bin"), CAPTURED_FAMILY, Family::V4).unwrap();
    assert_eq!(
        daemons,
        vec![Decoded::Daemon(DaemonConfig {
            role: DaemonRole::Backup,
            mcast_ifn: "lvsync0".into(),
            sync_id: 5,
            sync_maxlen: 1472,
            mcast_group: Some(v4(224, 0, 0, 100)),
            mcast_port: 9000,
            mcast_ttl: 2,
        })]
    );
    // End of dump, acknowledgement, and a refusal that echoes the request.
    assert!(matches!(
        parse_replies(&data("list-4-recv.bin"), CAPTURED_FAMILY).unwrap()[..],
        [Reply::Done { code: 0, .. }]
    ));
    assert!(matches!(
        parse_replies(&data("new-dest-masq-3-recv.bin"), CAPTURED_FAMILY).unwrap()[..],
        [Reply::Ack { .. }]
    ));
    assert!(matches!(
        parse_replies(&data("dup-service-3-recv.bin"), CAPTURED_FAMILY).unwrap()[..],
        [Reply::Error { errno: 17, .. }]
    ));
}

#[test]
fn captured_replies_keep_both_counter_sets_and_the_kernels_attribute_order() {
    let replies = parse_replies(&data("list-6-recv.bin"), CAPTURED_FAMILY).unwrap();
    let Reply::Message { msg, flags, .. } = &replies[0] else { panic!("{replies:?}") };
    assert_eq!(*flags & family::NLM_F_MULTI, family::NLM_F_MULTI);
    let d = msg.dest().unwrap();
    // ip_vs_genl_fill_dest's order, then STATS and STATS64.
    let kinds: Vec<u16> = d.iter().map(netlink_packet_core::Nla::kind).collect();
    assert_eq!(kinds, vec![1, 2, 3, 4, 13, 14, 15, 5, 6, 7, 8, 9, 11, 10, 12]);
    let DestAttr::Stats(s32) = &d[13] else { panic!() };
    assert!(s32.iter().any(|a| matches!(a, StatsAttr::U32(StatsField::Conns, 0))));
    assert!(s32.iter().any(|a| matches!(a, StatsAttr::U64(StatsField::InBytes, 0))));
    let DestAttr::Stats64(s64) = &d[14] else { panic!() };
    assert!(s64.iter().all(|a| matches!(a, StatsAttr::U64(..) | StatsAttr::Pad(_))));
}

#[test]
fn destination_without_address_family_takes_the_services() {
    // Kernels before 3.18 send no IPVS_DEST_ATTR_ADDR_FAMILY.
    let a: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let attrs = vec![
        DestAttr::Addr(a.octets()),
        DestAttr::Port(443),
        DestAttr::FwdMethod(3),
        DestAttr::Weight(1),
        DestAttr::UThresh(0),
        DestAttr::LThresh(0),
    ];
    assert_eq!(parse_dest(&attrs, Family::V6).unwrap().config, DestConfig::route(v6("2001:db8::10"), 443));
    // The same bytes read as an IPv4 service's server: the first four bytes.
    assert_eq!(parse_dest(&attrs, Family::V4).unwrap().config.addr, v4(0x20, 0x01, 0x0d, 0xb8));
}

#[test]
fn entries_the_model_cannot_hold_are_typed_errors() {
    let base = || {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[192, 0, 2, 1]);
        vec![
            SvcAttr::Af(2),
            SvcAttr::Protocol(6),
            SvcAttr::Addr(a),
            SvcAttr::Port(80),
            SvcAttr::SchedName("rr".into()),
            SvcAttr::Flags { flags: 0, mask: u32::MAX },
            SvcAttr::Timeout(0),
            SvcAttr::Netmask([255; 4]),
        ]
    };
    assert!(parse_service(&base()).is_ok());
    let mut esp = base();
    esp[1] = SvcAttr::Protocol(50);
    assert!(parse_service(&esp).unwrap_err().to_string().contains("protocol 50"));
    let mut af = base();
    af[0] = SvcAttr::Af(7);
    assert!(parse_service(&af).unwrap_err().to_string().contains("address family 7"));
    let mut no_sched = base();
    no_sched.remove(4);
    assert!(parse_service(&no_sched).unwrap_err().to_string().contains("scheduler"));
    // Unknown attributes are kept and do not disturb the rest.
    let mut extra = base();
    extra.push(SvcAttr::Other(DefaultNla::new(200, vec![1, 2, 3])));
    assert_eq!(parse_service(&extra).unwrap().config.scheduler, "rr");
    let dest = vec![
        DestAttr::Addr([0; 16]),
        DestAttr::Port(1),
        DestAttr::FwdMethod(4),
        DestAttr::Weight(1),
        DestAttr::UThresh(0),
        DestAttr::LThresh(0),
    ];
    assert!(parse_dest(&dest, Family::V4).unwrap_err().to_string().contains("forwarding method 4"));
    let tun = vec![
        DestAttr::Addr([0; 16]),
        DestAttr::Port(1),
        DestAttr::FwdMethod(2),
        DestAttr::TunType(9),
        DestAttr::Weight(1),
        DestAttr::UThresh(0),
        DestAttr::LThresh(0),
    ];
    assert!(parse_dest(&tun, Family::V4).unwrap_err().to_string().contains("tunnel type 9"));
    assert!(parse_daemon(&[DaemonAttr::State(3), DaemonAttr::McastIfn("x".into()), DaemonAttr::SyncId(0)]).is_err());
}

#[test]
fn every_prefix_and_corruption_of_captured_replies_is_handled() {
    let dir = format!("{}/tests/data/ipvs", env!("CARGO_MANIFEST_DIR"));
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for cut in 0..=bytes.len() {
            let _ = decode_replies(&bytes[..cut], CAPTURED_FAMILY, Family::V4);
        }
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let _ = decode_replies(&b, CAPTURED_FAMILY, Family::V6);
            }
        }
    }
    assert!(files >= 20, "captures found: {files}");
}

// ------------------------------------------------------------------ properties

fn any_addr(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::V4 => any::<[u8; 4]>().prop_map(|o| IpAddr::V4(o.into())).boxed(),
        Family::V6 => any::<[u8; 16]>().prop_map(|o| IpAddr::V6(o.into())).boxed(),
    }
}

fn any_family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

fn any_key() -> impl Strategy<Value = ServiceKey> {
    any_family().prop_flat_map(|f| {
        prop_oneof![
            (prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)], any_addr(f), any::<u16>())
                .prop_map(|(p, a, port)| ServiceKey::addr(p, a, port)),
            (1u32..).prop_map(move |m| ServiceKey::fwmark(f, m)),
        ]
    })
}

fn any_name() -> impl Strategy<Value = String> {
    "[a-z]{1,15}"
}

fn any_service() -> impl Strategy<Value = ServiceConfig> {
    (
        any_key(),
        any_name(),
        0u32..64,
        proptest::option::of(any_name()),
        proptest::option::of((1u32..=2_678_400, any::<u32>(), 1u8..=128)),
    )
        .prop_map(|(key, sched, flags, pe, persist)| {
            let mut c = ServiceConfig::new(key, &sched).flags(ServiceFlags::from_bits(flags));
            c.pe_name = pe;
            if let Some((timeout, m4, plen)) = persist {
                let mask = match key.family() {
                    Family::V4 => PersistMask::V4(Ipv4Addr::from(m4)),
                    Family::V6 => PersistMask::V6(plen),
                };
                c = c.persistent(Persistence { timeout, mask });
            }
            c
        })
}

fn any_forward() -> impl Strategy<Value = ForwardMethod> {
    prop_oneof![
        Just(ForwardMethod::Masq),
        Just(ForwardMethod::Local),
        Just(ForwardMethod::Route),
        (
            prop_oneof![Just(TunnelKind::Ipip), Just(TunnelKind::Gue), Just(TunnelKind::Gre)],
            any::<u16>(),
            prop_oneof![Just(TunnelCsum::NoCsum), Just(TunnelCsum::Csum), Just(TunnelCsum::RemCsum)]
        )
            .prop_map(|(kind, port, csum)| ForwardMethod::Tunnel(TunnelParams { kind, port, csum })),
    ]
}

fn any_dest() -> impl Strategy<Value = DestConfig> {
    (any_family().prop_flat_map(any_addr), any::<u16>(), any_forward(), any::<u32>(), any::<u32>(), any::<u32>())
        .prop_map(|(addr, port, forward, weight, upper, lower)| DestConfig {
            addr,
            port,
            forward,
            weight,
            upper_threshold: upper,
            lower_threshold: lower,
        })
}

fn any_daemon() -> impl Strategy<Value = DaemonConfig> {
    (
        prop_oneof![Just(DaemonRole::Master), Just(DaemonRole::Backup)],
        "[a-z0-9]{1,15}",
        any::<u32>(),
        1u16..,
        any_family().prop_flat_map(any_addr),
        1u16..,
        1u8..,
    )
        .prop_map(|(role, ifn, sync_id, maxlen, group, port, ttl)| DaemonConfig {
            role,
            mcast_ifn: ifn,
            sync_id,
            sync_maxlen: maxlen,
            mcast_group: Some(group),
            mcast_port: port,
            mcast_ttl: ttl,
        })
}

fn any_stats() -> impl Strategy<Value = Vec<StatsAttr>> {
    proptest::collection::vec(
        (1u16..=10, any::<u64>(), any::<bool>()).prop_map(|(n, v, wide)| {
            let f = [
                StatsField::Conns,
                StatsField::InPkts,
                StatsField::OutPkts,
                StatsField::InBytes,
                StatsField::OutBytes,
                StatsField::Cps,
                StatsField::InPps,
                StatsField::OutPps,
                StatsField::InBps,
                StatsField::OutBps,
            ][usize::from(n - 1)];
            if wide { StatsAttr::U64(f, v) } else { StatsAttr::U32(f, v as u32) }
        }),
        0..12,
    )
}

fn any_other() -> impl Strategy<Value = DefaultNla> {
    (100u16..0x3fff, proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(k, v)| DefaultNla::new(k, v))
}

fn any_svc_attr() -> impl Strategy<Value = SvcAttr> {
    prop_oneof![
        any::<u16>().prop_map(SvcAttr::Af),
        any::<u16>().prop_map(SvcAttr::Protocol),
        any::<[u8; 16]>().prop_map(SvcAttr::Addr),
        any::<u16>().prop_map(SvcAttr::Port),
        any::<u32>().prop_map(SvcAttr::Fwmark),
        any_name().prop_map(SvcAttr::SchedName),
        (any::<u32>(), any::<u32>()).prop_map(|(flags, mask)| SvcAttr::Flags { flags, mask }),
        any::<u32>().prop_map(SvcAttr::Timeout),
        any::<[u8; 4]>().prop_map(SvcAttr::Netmask),
        any_stats().prop_map(SvcAttr::Stats),
        any_name().prop_map(SvcAttr::PeName),
        any_stats().prop_map(SvcAttr::Stats64),
        any_other().prop_map(SvcAttr::Other),
    ]
}

fn any_dest_attr() -> impl Strategy<Value = DestAttr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(DestAttr::Addr),
        any::<u16>().prop_map(DestAttr::Port),
        any::<u32>().prop_map(DestAttr::FwdMethod),
        any::<u32>().prop_map(DestAttr::Weight),
        any::<u32>().prop_map(DestAttr::UThresh),
        any::<u32>().prop_map(DestAttr::LThresh),
        any::<u32>().prop_map(DestAttr::ActiveConns),
        any::<u32>().prop_map(DestAttr::InactConns),
        any::<u32>().prop_map(DestAttr::PersistConns),
        any_stats().prop_map(DestAttr::Stats),
        any::<u16>().prop_map(DestAttr::AddrFamily),
        any_stats().prop_map(DestAttr::Stats64),
        any::<u8>().prop_map(DestAttr::TunType),
        any::<u16>().prop_map(DestAttr::TunPort),
        any::<u16>().prop_map(DestAttr::TunFlags),
        any_other().prop_map(DestAttr::Other),
    ]
}

fn any_daemon_attr() -> impl Strategy<Value = DaemonAttr> {
    prop_oneof![
        any::<u32>().prop_map(DaemonAttr::State),
        "[a-z0-9]{1,15}".prop_map(DaemonAttr::McastIfn),
        any::<u32>().prop_map(DaemonAttr::SyncId),
        any::<u16>().prop_map(DaemonAttr::SyncMaxlen),
        any::<[u8; 4]>().prop_map(|o| DaemonAttr::McastGroup(o.into())),
        any::<[u8; 16]>().prop_map(|o| DaemonAttr::McastGroup6(o.into())),
        any::<u16>().prop_map(DaemonAttr::McastPort),
        any::<u8>().prop_map(DaemonAttr::McastTtl),
        any_other().prop_map(DaemonAttr::Other),
    ]
}

fn any_message() -> impl Strategy<Value = IpvsMessage> {
    let cmds = prop_oneof![
        Just(IpvsCmd::NewService),
        Just(IpvsCmd::NewDest),
        Just(IpvsCmd::NewDaemon),
        Just(IpvsCmd::SetConfig),
        Just(IpvsCmd::Flush),
        (18u8..).prop_map(IpvsCmd::from_number),
    ];
    let attr = prop_oneof![
        proptest::collection::vec(any_svc_attr(), 0..8).prop_map(CmdAttr::Service),
        proptest::collection::vec(any_dest_attr(), 0..8).prop_map(CmdAttr::Dest),
        proptest::collection::vec(any_daemon_attr(), 0..8).prop_map(CmdAttr::Daemon),
        any::<u32>().prop_map(CmdAttr::TimeoutTcp),
        any::<u32>().prop_map(CmdAttr::TimeoutTcpFin),
        any::<u32>().prop_map(CmdAttr::TimeoutUdp),
        any_other().prop_map(CmdAttr::Other),
    ];
    let info =
        prop_oneof![any::<u32>().prop_map(CmdAttr::InfoVersion), any::<u32>().prop_map(CmdAttr::InfoConnTabSize)];
    prop_oneof![
        (cmds, proptest::collection::vec(attr, 0..4)).prop_map(|(c, a)| IpvsMessage::new(c, a)),
        proptest::collection::vec(info, 0..3).prop_map(|a| IpvsMessage::new(IpvsCmd::SetInfo, a)),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(msgs in proptest::collection::vec(any_message(), 1..4), seq in any::<u32>()) {
        let mut buf = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            encode_request(m.clone(), 40, 0, seq.wrapping_add(i as u32), &mut buf);
        }
        let replies = parse_replies(&buf, 40).unwrap();
        prop_assert_eq!(replies.len(), msgs.len());
        for (i, (r, m)) in replies.into_iter().zip(msgs).enumerate() {
            let Reply::Message { seq: s, msg, .. } = r else { panic!("not a message: {r:?}") };
            prop_assert_eq!(s, seq.wrapping_add(i as u32));
            prop_assert_eq!(msg, m);
        }
    }

    #[test]
    fn services_round_trip_through_the_model(cfg in any_service()) {
        let parsed = parse_service(&service_attrs(&cfg)).unwrap();
        prop_assert_eq!(parsed.config, cfg);
    }

    #[test]
    fn dests_round_trip_through_the_model(cfg in any_dest(), svc_family in any_family()) {
        // The service's family is only a fallback: the entry names its own.
        let parsed = parse_dest(&dest_attrs(&cfg), svc_family).unwrap();
        prop_assert_eq!(parsed.config, cfg);
    }

    #[test]
    fn daemons_round_trip_through_the_model(cfg in any_daemon()) {
        prop_assert_eq!(parse_daemon(&daemon_attrs(&cfg)).unwrap(), cfg);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), fam in 16u16..40) {
        let _ = decode_replies(&bytes, fam, Family::V4);
    }
}

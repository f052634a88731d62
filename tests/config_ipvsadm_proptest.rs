//! Property tests of lvskit's ipvsadm formats, over generated IPVS tables
//! (TCP, UDP, SCTP and firewall-mark services, IPv4 and IPv6, every
//! scheduler, persistence, one-packet scheduling, scheduler flags, all the
//! forwarding methods and tunnel types, weights and thresholds):
//!
//! * every operation written as an ipvsadm command line (`command_line`,
//!   with and without `-n`) reads back as the same operation (`parse_args`);
//! * a table saved with `save` (with and without `-n`) and read back with
//!   `parse_rules` restores to the same services and real servers
//!   (thresholds aside, which `ipvsadm -S` does not save). (Saving the
//!   restored table need not give the same text: ipvsadm's comparison is
//!   not antisymmetric for addresses 2^31 apart in a 32-bit word, so their
//!   order follows the table's, as it does with ipvsadm.)
//! * every listing renders one line per service and per real server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvskit::backend::{IpvsBackend, IpvsOp, MemoryIpvs};
use lvskit::config::fuzzing::table_contents;
use lvskit::config::ipvsadm::{self, Command, ListFormat, ListOptions};
use lvskit::ipvs::{
    DestConfig, Family, ForwardMethod, PersistMask, Persistence, Protocol, ServiceConfig, ServiceFlags, ServiceKey,
    TunnelCsum, TunnelKind, TunnelParams, dest::MAX_WEIGHT, sched,
};
use proptest::prelude::*;

fn addr(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        (any::<u16>(), any::<u16>(), 1u16..=u16::MAX)
            .prop_map(|(a, b, c)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, a, b, 0, 0, 0, c)))
            .boxed()
    } else {
        // Unicast, and not 0.0.0.0 or 255.255.255.255.
        (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
            .prop_map(|(a, b, c, d)| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            .boxed()
    }
}

fn key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        3 => (prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)], any::<bool>(), 0u16..=u16::MAX)
            .prop_flat_map(|(p, v6, port)| addr(v6).prop_map(move |a| ServiceKey::addr(p, a, port))),
        1 => (any::<bool>(), 1u32..=i32::MAX as u32)
            .prop_map(|(v6, m)| ServiceKey::fwmark(if v6 { Family::V6 } else { Family::V4 }, m)),
    ]
}

fn service() -> impl Strategy<Value = ServiceConfig> {
    (
        key(),
        proptest::sample::select(sched::NAMES),
        proptest::option::of((1u32..=86400 * 31, any::<u32>(), 1u8..=128)),
        any::<bool>(),
        any::<bool>(),
        0u32..8,
    )
        .prop_map(|(mut key, scheduler, persist, pe, ops, sched_bits)| {
            let family = key.family();
            let persistence = persist.map(|(timeout, m4, m6)| Persistence {
                timeout,
                mask: if family == Family::V6 { PersistMask::V6(m6) } else { PersistMask::V4(Ipv4Addr::from(m4)) },
            });
            // ipvsadm refuses port 0 without persistence.
            if let ServiceKey::Addr { port: port @ 0, .. } = &mut key {
                if persistence.is_none() {
                    *port = 1;
                }
            }
            let udp = matches!(key, ServiceKey::Addr { protocol: Protocol::Udp, .. } | ServiceKey::Fwmark { .. });
            let mut flags = if ops && udp { ServiceFlags::ONEPACKET } else { ServiceFlags::EMPTY };
            // sh and mh take their named flags (bits 1 and 2), the others
            // flag-1..flag-3.
            let bits = if matches!(scheduler, "sh" | "mh") { sched_bits & 3 } else { sched_bits };
            for (i, f) in [ServiceFlags::SCHED1, ServiceFlags::SCHED2, ServiceFlags::SCHED3].into_iter().enumerate() {
                if bits & (1 << i) != 0 {
                    flags |= f;
                }
            }
            ServiceConfig {
                key,
                scheduler: scheduler.to_owned(),
                flags,
                persistence,
                pe_name: pe.then(|| "sip".to_owned()),
            }
        })
}

fn forward() -> impl Strategy<Value = ForwardMethod> {
    prop_oneof![
        Just(ForwardMethod::Masq),
        Just(ForwardMethod::Route),
        Just(ForwardMethod::Tunnel(TunnelParams::default())),
        (1u16..=u16::MAX, 0u8..3).prop_map(|(port, c)| ForwardMethod::Tunnel(TunnelParams {
            kind: TunnelKind::Gue,
            port,
            csum: [TunnelCsum::NoCsum, TunnelCsum::Csum, TunnelCsum::RemCsum][c as usize],
        })),
        any::<bool>().prop_map(|c| ForwardMethod::Tunnel(TunnelParams {
            kind: TunnelKind::Gre,
            port: 0,
            csum: if c { TunnelCsum::Csum } else { TunnelCsum::NoCsum },
        })),
    ]
}

/// ipvsadm 1.31 takes weights up to `INT_MAX` (and so does the kernel);
/// lvskit's backends refuse those above `MAX_WEIGHT` (65535, ipvsadm 1.27's
/// limit), so most generated weights stay within it.
fn weight() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..=MAX_WEIGHT, 1 => MAX_WEIGHT + 1..=i32::MAX as u32]
}

/// A real server of the service `key`, as ipvsadm can describe it: same family, and on
/// the service's port unless masqueraded (or a firewall-mark service).
fn dest(key: ServiceKey) -> impl Strategy<Value = DestConfig> {
    (
        addr(key.family() == Family::V6),
        any::<u16>(),
        forward(),
        weight(),
        0u32..=i32::MAX as u32,
        0u32..=i32::MAX as u32,
    )
        .prop_map(move |(addr, port, forward, weight, upper, lower)| {
            let port = match key {
                ServiceKey::Addr { port: svc_port, .. } if forward != ForwardMethod::Masq => svc_port,
                _ => port,
            };
            DestConfig { addr, port, forward, weight, upper_threshold: upper, lower_threshold: lower }
        })
}

fn table() -> impl Strategy<Value = Vec<(ServiceConfig, Vec<DestConfig>)>> {
    proptest::collection::vec(
        service().prop_flat_map(|s| (Just(s.clone()), proptest::collection::vec(dest(s.key), 0..4))),
        0..6,
    )
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn command_lines_read_back(t in table(), numeric in any::<bool>()) {
        for (s, dests) in &t {
            let mut ops = vec![IpvsOp::AddService(s.clone()), IpvsOp::EditService(s.clone()), IpvsOp::DelService(s.key)];
            for d in dests {
                ops.push(IpvsOp::AddDest(s.key, *d));
                ops.push(IpvsOp::EditDest(s.key, *d));
                ops.push(IpvsOp::DelDest(s.key, std::net::SocketAddr::new(d.addr, d.port)));
            }
            for op in ops {
                let line = ipvsadm::command_line(&op, numeric);
                prop_assert_eq!(ipvsadm::parse_args(&words(&line)), Ok(Command::Op(op.clone())), "{}", line);
            }
        }
    }

    #[test]
    fn saved_tables_restore(t in table()) {
        let mut ipvs = MemoryIpvs::new();
        for (s, dests) in &t {
            if ipvs.execute(&IpvsOp::AddService(s.clone())).is_ok() {
                for d in dests {
                    let _ = ipvs.execute(&IpvsOp::AddDest(s.key, *d));
                }
            }
        }
        let services = ipvs.services().expect("services");
        let want = table_contents(&mut ipvs);
        for numeric in [false, true] {
            let saved = ipvsadm::save(&services, numeric);
            let ops = ipvsadm::parse_rules(&saved).map_err(|e| TestCaseError::fail(format!("{e}\n{saved}")))?;
            let mut copy = MemoryIpvs::new();
            for op in &ops {
                copy.execute(op).map_err(|e| TestCaseError::fail(format!("{op:?}: {e}\n{saved}")))?;
            }
            prop_assert_eq!(table_contents(&mut copy), want.clone(), "{}", saved);
        }
        let info = ipvs.info().expect("info");
        let n = services.iter().map(|s| 1 + s.dests.len()).sum::<usize>();
        for format in [ListFormat::Default, ListFormat::Stats, ListFormat::Rate, ListFormat::Thresholds, ListFormat::PersistentConn] {
            let listing = ipvsadm::list(&info, &services, &ListOptions { numeric: true, format, ..ListOptions::default() });
            // The version line and two column-title lines, then the table.
            prop_assert_eq!(listing.lines().count(), 3 + n, "{}", listing);
        }
    }
}

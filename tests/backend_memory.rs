//! The in-memory backends on their own: the kernel's rules they reproduce
//! (the same sequences run against the real kernel in
//! `tests/netlink_kernel.rs`), the client-side checks both backends share,
//! and batch semantics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvskit::backend::memory::kernel_accepts_dest_addr;
use lvskit::backend::{
    AddrFlags, AddrScope, AddressBackend, BackendError, Errno, InterfaceAddress, InvalidInput, IpvsBackend, IpvsOp,
    MemoryAddresses, MemoryIpvs, OpOutcome, Operation,
};
use lvskit::ipvs::sched::SchedError;
use lvskit::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, Family, PersistMask, Persistence, Protocol, ServiceConfig, ServiceError,
    ServiceKey, Stats, Timeouts, TunnelParams,
};

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn web() -> ServiceKey {
    ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), 80)
}

fn errno<T: std::fmt::Debug>(r: Result<T, BackendError>) -> Errno {
    r.unwrap_err().errno().expect("a kernel errno")
}

#[test]
fn services_follow_the_kernels_rules() {
    let mut m = MemoryIpvs::new();
    m.add_service(&ServiceConfig::new(web(), "wlc")).unwrap();
    assert_eq!(errno(m.add_service(&ServiceConfig::new(web(), "rr"))), Errno::EEXIST);
    // EEXIST wins over a bad scheduler, as in ip_vs_genl_set_cmd.
    assert_eq!(errno(m.add_service(&ServiceConfig::new(web(), "nosuch"))), Errno::EEXIST);
    let other = ServiceKey::addr(Protocol::Udp, v4(192, 0, 2, 1), 80);
    assert_eq!(errno(m.add_service(&ServiceConfig::new(other, "twos"))), Errno::ENOENT);
    assert!(MemoryIpvs::new().with_schedulers(&["twos"]).add_service(&ServiceConfig::new(other, "twos")).is_ok());
    m.add_service(&ServiceConfig::new(other, "none")).expect("no scheduler at all");
    let missing = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 9), 80);
    assert_eq!(errno(m.edit_service(&ServiceConfig::new(missing, "rr"))), Errno::ESRCH);
    assert_eq!(errno(m.del_service(&missing)), Errno::ESRCH);
    assert_eq!(errno(m.service(&missing)), Errno::ESRCH);
    assert_eq!(errno(m.zero(Some(&missing))), Errno::ESRCH);
    assert_eq!(m.dests(&missing).unwrap(), Vec::new(), "the kernel's dest dump of a missing service is empty");
    // Services read back sorted by key.
    let keys: Vec<_> = m.services().unwrap().iter().map(|s| s.config.key).collect();
    assert_eq!(keys, vec![web(), other]);
}

#[test]
fn client_side_checks_are_typed_and_name_the_object() {
    let mut m = MemoryIpvs::new();
    let zero_port = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), 0);
    let e = m.add_service(&ServiceConfig::new(zero_port, "rr")).unwrap_err();
    assert_eq!(
        e,
        BackendError::Invalid {
            op: Operation::AddService(zero_port),
            reason: InvalidInput::Model(ServiceError::PortZeroWithoutPersistence { service: zero_port }),
        }
    );
    assert_eq!(
        e.to_string(),
        "add service TCP 192.0.2.1:0: TCP 192.0.2.1:0: zero port specified for non-persistent service"
    );
    // The scheduler registry of the pure model is not consulted (the
    // kernel decides), but the other rules still are, whatever the name.
    assert!(matches!(
        m.add_service(&ServiceConfig::new(zero_port, "nosuch")),
        Err(BackendError::Invalid { reason: InvalidInput::Model(ServiceError::PortZeroWithoutPersistence { .. }), .. })
    ));
    assert!(matches!(
        ServiceConfig::new(web(), "nosuch").validate(),
        Err(ServiceError::Sched(SchedError::Unknown { .. }))
    ));
    let long = m.add_service(&ServiceConfig::new(web(), "sixteen-letters!")).unwrap_err();
    assert!(matches!(
        long,
        BackendError::Invalid { reason: InvalidInput::Name { field: "scheduler", max: 15, .. }, .. }
    ));
    m.add_service(&ServiceConfig::new(web(), "rr")).unwrap();
    let heavy = m.add_dest(&web(), &DestConfig::masq(v4(198, 51, 100, 1), 80).weight(65536)).unwrap_err();
    assert_eq!(
        heavy.to_string(),
        "add real server 198.51.100.1:80 to TCP 192.0.2.1:80: real server 198.51.100.1:80: weight 65536 is outside 0..=65535"
    );
}

#[test]
fn real_servers_follow_the_kernels_rules() {
    let mut m = MemoryIpvs::new();
    m.add_service(&ServiceConfig::new(web(), "rr")).unwrap();
    let a = DestConfig::masq(v4(198, 51, 100, 1), 80);
    let b = DestConfig::route(v4(198, 51, 100, 2), 80);
    m.add_dest(&web(), &a).unwrap();
    m.add_dest(&web(), &b).unwrap();
    assert_eq!(errno(m.add_dest(&web(), &a)), Errno::EEXIST);
    let missing = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 9), 80);
    assert_eq!(errno(m.add_dest(&missing, &a)), Errno::ESRCH);
    assert_eq!(errno(m.edit_dest(&web(), &DestConfig::masq(v4(198, 51, 100, 3), 80))), Errno::ENOENT);
    assert_eq!(errno(m.del_dest(&web(), SocketAddr::new(v4(198, 51, 100, 3), 80))), Errno::ENOENT);
    // Newest first, as the kernel links them.
    let order: Vec<_> = m.dests(&web()).unwrap().iter().map(|d| d.config.addr).collect();
    assert_eq!(order, vec![v4(198, 51, 100, 2), v4(198, 51, 100, 1)]);
    // An edit keeps the place in the list.
    m.edit_dest(&web(), &a.weight(5)).unwrap();
    assert_eq!(m.dests(&web()).unwrap()[1].config.weight, 5);
    for bad in [v4(0, 0, 0, 0), v4(255, 255, 255, 255), v4(224, 0, 0, 1)] {
        assert_eq!(errno(m.add_dest(&web(), &DestConfig::route(bad, 80))), Errno::EINVAL, "{bad}");
    }
    assert!(kernel_accepts_dest_addr(v4(0, 1, 2, 3)), "only 0.0.0.0 of 0/8 is refused since 5.3");
    for (addr, ok) in [
        ("::", false),
        ("::1", true),
        ("ff02::1", false),
        ("fe80::1", false),
        ("::ffff:1.2.3.4", false),
        ("::1.2.3.4", true),
        ("fd00::1", true),
        ("2001:db8::1", true),
    ] {
        assert_eq!(kernel_accepts_dest_addr(v6(addr)), ok, "{addr}");
    }
    // Mixed families: only tunnelled, and then no sync daemon.
    assert!(matches!(m.add_dest(&web(), &DestConfig::masq(v6("2001:db8::1"), 80)), Err(BackendError::Invalid { .. })));
    m.add_dest(&web(), &DestConfig::tunnel(v6("2001:db8::1"), 80, TunnelParams::default())).unwrap();
    let d = DaemonConfig {
        role: DaemonRole::Master,
        mcast_ifn: "lo".into(),
        sync_id: 1,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    assert_eq!(errno(m.start_daemon(&d)), Errno::EINVAL);
    m.del_service(&web()).unwrap();
    m.start_daemon(&d).unwrap();
}

#[test]
fn timeouts_daemons_info_zero_flush() {
    let mut m = MemoryIpvs::new().with_conn_tab_size(1 << 20);
    assert_eq!(m.info().unwrap().conn_tab_size, 1 << 20);
    assert_eq!(m.info().unwrap().version, 0x010201);
    assert_eq!(m.timeouts().unwrap(), Timeouts::default());
    m.set_timeouts(&Timeouts { tcp: 0, tcp_fin: 10, udp: 0 }).unwrap();
    assert_eq!(m.timeouts().unwrap(), Timeouts { tcp: 900, tcp_fin: 10, udp: 300 });
    // INT_MAX / HZ with HZ = 250: 8589934 is the largest.
    assert_eq!(errno(m.set_timeouts(&Timeouts { tcp: 1, tcp_fin: 1, udp: 8_589_935 })), Errno::EINVAL);
    assert_eq!(m.timeouts().unwrap().tcp, 900, "nothing set on a refusal");

    m.add_interface("eth0", 9000);
    let backup = DaemonConfig {
        role: DaemonRole::Backup,
        mcast_ifn: "eth0".into(),
        sync_id: 3,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    m.start_daemon(&backup).unwrap();
    assert_eq!(errno(m.start_daemon(&backup)), Errno::EEXIST);
    let got = m.daemons().unwrap();
    // Filled in as start_sync_thread does: group, port, TTL, and the payload
    // size from the MTU (a backup takes the MTU, minus IP and UDP headers).
    assert_eq!(got[0].mcast_group, Some(v4(224, 0, 0, 81)));
    assert_eq!((got[0].mcast_port, got[0].mcast_ttl, got[0].sync_maxlen), (8848, 1, 9000 - 28));
    assert_eq!(
        errno(m.start_daemon(&DaemonConfig { role: DaemonRole::Master, mcast_ifn: "eth9".into(), ..backup.clone() })),
        Errno::ENODEV
    );
    assert_eq!(
        errno(m.start_daemon(&DaemonConfig {
            role: DaemonRole::Master,
            mcast_group: Some(v4(192, 0, 2, 1)),
            ..backup.clone()
        })),
        Errno::EINVAL
    );
    m.stop_daemon(DaemonRole::Backup).unwrap();
    assert_eq!(errno(m.stop_daemon(DaemonRole::Backup)), Errno::ESRCH);

    m.add_service(&ServiceConfig::new(web(), "rr")).unwrap();
    let rs = SocketAddr::new(v4(198, 51, 100, 1), 80);
    m.add_dest(&web(), &DestConfig::masq(rs.ip(), 80)).unwrap();
    let s = Stats { conns: 5, in_pkts: 50, out_pkts: 40, in_bytes: 5000, out_bytes: 4000 };
    assert!(m.set_counters(&web(), Some(rs), s, Default::default()));
    assert!(m.set_conns(&web(), rs, 2, 3, 1));
    let d = &m.dests(&web()).unwrap()[0];
    assert_eq!((d.stats, d.active_conns, d.inactive_conns, d.persistent_conns), (s, 2, 3, 1));
    m.zero(None).unwrap();
    assert_eq!(m.dests(&web()).unwrap()[0].stats, Stats::default());
    m.flush().unwrap();
    assert!(m.services().unwrap().is_empty());
}

#[test]
fn a_batch_attempts_every_operation_and_reports_each() {
    let mut m = MemoryIpvs::new();
    let ghost = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 2), 80);
    let ops = vec![
        IpvsOp::AddService(ServiceConfig::new(web(), "rr")),
        IpvsOp::AddService(ServiceConfig::new(ghost, "nosuch")),
        IpvsOp::AddDest(ghost, DestConfig::masq(v4(198, 51, 100, 1), 80)),
        IpvsOp::AddDest(web(), DestConfig::masq(v4(198, 51, 100, 1), 80)),
    ];
    let report = m.apply(&ops);
    assert!(!report.is_success());
    assert_eq!(report.applied(), 2);
    assert_eq!(report.outcomes[0], OpOutcome::Applied);
    assert_eq!(report.first_failure().map(|(i, e)| (i, e.errno())), Some((1, Some(Errno::ENOENT))));
    assert_eq!(report.failures().map(|(i, _)| i).collect::<Vec<_>>(), vec![1, 2]);
    let (_, e) = report.failures().nth(1).unwrap();
    assert_eq!(e.to_string(), "add real server 198.51.100.1:80 to TCP 192.0.2.2:80: ESRCH (no such service or daemon)");
    assert_eq!(m.dests(&web()).unwrap().len(), 1);
    assert!(report.into_result().is_err());
}

#[test]
fn addresses_follow_rtnetlinks_rules() {
    let mut m = MemoryAddresses::new();
    let eth0 = m.add_link("eth0");
    assert_eq!(m.link_index("eth0").unwrap(), eth0);
    assert_eq!(m.link_index("lo").unwrap(), 1);
    assert_eq!(errno(m.link_index("eth1")), Errno::ENODEV);
    let vip = InterfaceAddress::vip(eth0, v4(192, 0, 2, 100)).label("eth0:1");
    m.add_address(&vip).unwrap();
    assert_eq!(errno(m.add_address(&vip)), Errno::EEXIST);
    assert!(m.has_address(eth0, v4(192, 0, 2, 100)).unwrap());
    // IPv6: a duplicate is the same address whatever the prefix; the scope
    // comes from the address.
    let v6vip = InterfaceAddress::vip(eth0, v6("fe80::100"));
    m.add_address(&v6vip).unwrap();
    assert_eq!(errno(m.add_address(&InterfaceAddress::new(eth0, v6("fe80::100"), 64))), Errno::EEXIST);
    let list = m.addresses(Some(eth0)).unwrap();
    assert_eq!(list[0].address.label.as_deref(), Some("eth0:1"));
    assert_eq!(list[1].address.scope, AddrScope::Link);
    assert!(list[1].flags.contains(AddrFlags::NODAD | AddrFlags::PERMANENT));
    // Secondaries go with their primary (promote_secondaries off) or are
    // promoted.
    for promote in [false, true] {
        let mut m = MemoryAddresses::new();
        let i = m.add_link("eth0");
        m.set_promote_secondaries(promote);
        m.add_address(&InterfaceAddress::new(i, v4(192, 0, 2, 1), 24)).unwrap();
        m.add_address(&InterfaceAddress::new(i, v4(192, 0, 2, 2), 24)).unwrap();
        assert!(m.addresses(Some(i)).unwrap()[1].flags.contains(AddrFlags::SECONDARY));
        m.del_address(&InterfaceAddress::new(i, v4(192, 0, 2, 1), 24)).unwrap();
        let left = m.addresses(Some(i)).unwrap();
        assert_eq!(left.len(), usize::from(promote));
        if promote {
            assert!(!left[0].flags.contains(AddrFlags::SECONDARY));
        }
    }
    assert_eq!(errno(m.del_address(&InterfaceAddress::vip(eth0, v4(192, 0, 2, 101)))), Errno::EADDRNOTAVAIL);
    assert_eq!(errno(m.del_address(&vip.clone().label("eth0:2"))), Errno::EADDRNOTAVAIL);
    assert_eq!(errno(m.add_address(&InterfaceAddress::vip(77, v4(192, 0, 2, 1)))), Errno::ENODEV);
    assert!(matches!(
        m.add_address(&InterfaceAddress::vip(eth0, v6("2001:db8::1")).label("eth0:6")),
        Err(BackendError::Invalid { reason: InvalidInput::FamilyOption { option: "label", .. }, .. })
    ));
    assert!(m.del_link(eth0));
    assert!(m.addresses(None).unwrap().is_empty());
    assert!(m.add_link_with_index("eth5", 5));
    assert!(!m.add_link_with_index("eth6", 5));
}

#[test]
fn persistence_masks_keep_their_family() {
    let mut m = MemoryIpvs::new();
    let k6 = ServiceKey::addr(Protocol::Tcp, v6("2001:db8::1"), 443);
    let bad = ServiceConfig::new(k6, "rr").persistent(Persistence { timeout: 60, mask: PersistMask::V6(0) });
    assert!(matches!(m.add_service(&bad), Err(BackendError::Invalid { .. })));
    let good = ServiceConfig::new(k6, "rr").persistent(Persistence { timeout: 60, mask: PersistMask::V6(48) });
    m.add_service(&good).unwrap();
    assert_eq!(m.service(&k6).unwrap().config, good);
    let fwm = ServiceKey::fwmark(Family::V6, 3);
    m.add_service(&ServiceConfig::new(fwm, "sh")).unwrap();
    m.add_dest(&fwm, &DestConfig::route(v6("2001:db8::9"), 0)).unwrap();
    assert_eq!(m.service(&fwm).unwrap().dests.len(), 1);
}

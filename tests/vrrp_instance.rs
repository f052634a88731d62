//! One `VrrpInstance` driven by hand: received-advert validation in
//! keepalived's order and counters (hostile adverts never panic, never
//! change state where the RFC says discard, and are counted), the exact
//! `poll_timeout`, the outputs' shape (directly sendable adverts, GARP/NA
//! timing and spacing), and keepalived's options.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use lvskit::vrrp::{
    Action, Auth, Discard, Event, FaultReason, Input, InstanceConfig, RxMeta, State, Transmit, UnicastChecksum,
    UnicastPeer, VirtualAddress, VrrpInstance,
};
use lvskit::wire::ethernet::EthernetAddress;
use lvskit::wire::vrrp::{self, Addrs, AuthType, MCAST_V4, MessageType, Repr, Version};
use lvskit::wire::{Family, ipv4};

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
const GROUP: IpAddr = IpAddr::V4(MCAST_V4);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

fn cfg(priority: u8) -> InstanceConfig {
    InstanceConfig::new("VI_1", 51).interface("eth0").priority(priority).vip(VirtualAddress::from(IpAddr::V4(VIP)))
}

fn start(config: InstanceConfig, t0: Instant) -> VrrpInstance {
    let mut vi = VrrpInstance::new(config).unwrap();
    vi.handle_input(t0, Input::InterfaceAddress(Some(ME)));
    vi.handle_input(t0, Input::Startup);
    drain(&mut vi);
    vi
}

/// A backup (priority 100) that heard one advert from a 150 master.
fn backup(t0: Instant) -> VrrpInstance {
    let mut vi = start(cfg(100), t0);
    vi.handle_advert(t0, meta(), &advert(150));
    drain(&mut vi);
    assert_eq!(vi.state(), State::Backup);
    vi
}

/// A master (priority 150).
fn master(t0: Instant) -> (VrrpInstance, Instant) {
    let mut vi = start(cfg(150), t0);
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    drain(&mut vi);
    assert_eq!(vi.state(), State::Master);
    (vi, t)
}

fn drain(vi: &mut VrrpInstance) -> (Vec<Action>, Vec<Transmit>, Vec<Event>) {
    let (mut a, mut t, mut e) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(x) = vi.poll_action() {
        a.push(x);
    }
    while let Some(x) = vi.poll_transmit() {
        t.push(x);
    }
    while let Some(x) = vi.poll_event() {
        e.push(x);
    }
    (a, t, e)
}

fn meta() -> RxMeta {
    RxMeta { src: PEER, dst: GROUP, ttl: Some(255) }
}

fn emit(r: &Repr<'_>, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b, src, dst).unwrap();
    b
}

/// A valid v2 advert from PEER.
fn advert(priority: u8) -> Vec<u8> {
    emit(&Repr::advertisement(Version::V2, 51, priority, 1, Addrs::V4(&[VIP])), PEER, GROUP)
}

/// Feeds a hostile advert to an instance and checks it was discarded with
/// `reason`, counted once, and changed nothing else.
fn rejected(vi: &mut VrrpInstance, now: Instant, meta: RxMeta, bytes: &[u8], reason: Discard) {
    let (state, timeout, prio) = (vi.state(), vi.poll_timeout(), vi.effective_priority());
    let errors = vi.stats().errors();
    vi.handle_advert(now, meta, bytes);
    let (a, t, e) = drain(vi);
    assert_eq!(e, vec![Event::Discarded { src: meta.src, reason }], "for {bytes:02x?}");
    assert!(a.is_empty() && t.is_empty(), "a discarded advert caused output: {a:?} {t:?}");
    assert_eq!((vi.state(), vi.poll_timeout(), vi.effective_priority()), (state, timeout, prio));
    let counted = u64::from(reason.counter().is_some());
    assert_eq!(vi.stats().errors(), errors + counted, "{reason:?} counted as {:?}", reason.counter());
}

#[test]
fn hostile_adverts_are_counted_and_change_nothing() {
    let t0 = Instant::now();
    for master_side in [false, true] {
        let (mut vi, now) = if master_side { master(t0) } else { (backup(t0), t0 + Duration::from_millis(500)) };
        let good = advert(200);

        // Wrong TTL (a router forwarded it).
        rejected(&mut vi, now, RxMeta { ttl: Some(254), ..meta() }, &good, Discard::Ttl { got: 254 });
        // Foreign VRID.
        let mut other = good.clone();
        other[1] = 52;
        rejected(&mut vi, now, meta(), &other, Discard::Vrid { got: 52 });
        // Truncated, and an address count that does not fit.
        rejected(&mut vi, now, meta(), &good[..5], Discard::Truncated { len: 5 });
        let mut big = good.clone();
        big[3] = 255;
        rejected(&mut vi, now, meta(), &big, Discard::Length { len: 20, expected: 8 + 255 * 4 + 8 });
        // Wrong version.
        let v3 = emit(&Repr::advertisement(Version::V3, 51, 200, 100, Addrs::V4(&[VIP])), PEER, GROUP);
        rejected(&mut vi, now, meta(), &v3, Discard::Version { got: 3 });
        // Auth: an unknown type, a type we do not use.
        let mut r = Repr::advertisement(Version::V2, 51, 200, 1, Addrs::V4(&[VIP]));
        r.auth_type = AuthType::Unknown(7);
        rejected(&mut vi, now, meta(), &emit(&r, PEER, GROUP), Discard::InvalidAuthType(7));
        r.auth_type = AuthType::SimplePassword;
        r.auth_data = *b"secret\0\0";
        rejected(
            &mut vi,
            now,
            meta(),
            &emit(&r, PEER, GROUP),
            Discard::AuthTypeMismatch { got: AuthType::SimplePassword },
        );
        // Another interval.
        let two = emit(&Repr::advertisement(Version::V2, 51, 200, 2, Addrs::V4(&[VIP])), PEER, GROUP);
        rejected(&mut vi, now, meta(), &two, Discard::Interval { got: 2, expected: 1 });
        // Another message type.
        let mut r = Repr::advertisement(Version::V2, 51, 200, 1, Addrs::V4(&[VIP]));
        r.msg_type = MessageType::Unknown(2);
        rejected(&mut vi, now, meta(), &emit(&r, PEER, GROUP), Discard::Type(MessageType::Unknown(2)));
        // Other addresses.
        let two_vips = [VIP, Ipv4Addr::new(192, 0, 2, 101)];
        let r = Repr::advertisement(Version::V2, 51, 200, 1, Addrs::V4(&two_vips));
        rejected(&mut vi, now, meta(), &emit(&r, PEER, GROUP), Discard::AddrCount { got: 2, expected: 1 });
        let foreign = [Ipv4Addr::new(198, 51, 100, 1)];
        let r = Repr::advertisement(Version::V2, 51, 200, 1, Addrs::V4(&foreign));
        rejected(&mut vi, now, meta(), &emit(&r, PEER, GROUP), Discard::MissingVip(IpAddr::V4(VIP)));
        // Bad checksum.
        let mut bad = good.clone();
        bad[7] ^= 1;
        rejected(
            &mut vi,
            now,
            meta(),
            &bad,
            Discard::Checksum {
                got: u16::from_be_bytes([bad[6], bad[7]]),
                expected: u16::from_be_bytes([good[6], good[7]]),
            },
        );
        // Unicast to a multicast instance.
        rejected(&mut vi, now, RxMeta { dst: ME, ..meta() }, &good, Discard::Cast { multicast: false });
        // The other family.
        let v6: IpAddr = "fe80::1".parse().unwrap();
        rejected(
            &mut vi,
            now,
            RxMeta { src: v6, dst: "ff02::12".parse().unwrap(), ttl: Some(255) },
            &good,
            Discard::Family,
        );
        assert_eq!(
            vi.stats().advert_rcvd,
            if master_side { 1 } else { 2 },
            "only the addresses' checks come after advert_rcvd"
        );
    }
}

#[test]
fn keepalived_counter_names() {
    let t0 = Instant::now();
    let mut vi = backup(t0);
    let mut bad = advert(150);
    bad[7] ^= 1;
    vi.handle_advert(t0, meta(), &bad);
    vi.handle_advert(t0, RxMeta { ttl: Some(1), ..meta() }, &advert(150));
    let s = vi.stats();
    assert_eq!((s.chk_err, s.ip_ttl_err, s.advert_rcvd), (1, 1, 1));
    assert_eq!(Discard::Ttl { got: 1 }.counter(), Some("ip_ttl_err"));
    assert_eq!(Discard::AuthFailure.counter(), Some("auth_failure"));
    assert_eq!(Discard::LowerPriority { priority: 1 }.counter(), None);
}

#[test]
fn password_authentication() {
    let t0 = Instant::now();
    let mut vi = start(cfg(100).auth(Auth::pass("1111")), t0);
    // The corpus's PASS advert (vrid 52 there; 51 here).
    let mut r = Repr::advertisement(Version::V2, 51, 150, 1, Addrs::V4(&[VIP]));
    r.auth_type = AuthType::SimplePassword;
    r.auth_data = *b"1111\0\0\0\0";
    vi.handle_advert(t0, meta(), &emit(&r, PEER, GROUP));
    assert_eq!(vi.stats().advert_rcvd, 1);
    r.auth_data = *b"1112\0\0\0\0";
    rejected(&mut vi, t0, meta(), &emit(&r, PEER, GROUP), Discard::AuthFailure);
    r.auth_type = AuthType::None;
    r.auth_data = [0; 8];
    rejected(&mut vi, t0, meta(), &emit(&r, PEER, GROUP), Discard::AuthTypeMismatch { got: AuthType::None });
    // Our adverts carry the password, as the corpus shows.
    let t = vi.poll_timeout().unwrap() + Duration::from_secs(10);
    vi.handle_timeout(t);
    let (_, tx, _) = drain(&mut vi);
    let Transmit::Advert(a) = &tx[0] else { panic!("{tx:?}") };
    let mut buf = [0u8; 64];
    let n = a.emit(&mut buf).unwrap();
    assert_eq!(n, 20);
    assert_eq!(buf[..6], [0x21, 0x33, 0x64, 0x01, 0x01, 0x01]);
    assert_eq!(buf[8..20], [0xc0, 0x00, 0x02, 0x64, b'1', b'1', b'1', b'1', 0, 0, 0, 0]);
    let parsed = Repr::parse(&vrrp::Packet::new_checked(&buf[..n], Family::V4).unwrap(), ME, GROUP).unwrap();
    assert_eq!(parsed.password(), Some(&b"1111"[..]));
}

#[test]
fn ipv4_packet_checks() {
    let t0 = Instant::now();
    let mut vi = backup(t0);
    let payload = advert(150);
    let ip = ipv4::Repr {
        src_addr: Ipv4Addr::new(192, 0, 2, 12),
        dst_addr: MCAST_V4,
        protocol: 112,
        payload_len: payload.len(),
        ttl: 255,
        tos: 0xc0,
        ident: 7,
    };
    let mut pkt = vec![0u8; 20];
    ip.emit(&mut pkt).unwrap();
    pkt.extend_from_slice(&payload);
    vi.handle_ipv4_packet(t0, &pkt);
    assert_eq!(vi.stats().advert_rcvd, 2);
    let mut padded = pkt.clone();
    padded.push(0);
    vi.handle_ipv4_packet(t0, &padded);
    assert_eq!(vi.stats().packet_len_err, 1);
    let mut ah = pkt.clone();
    ah[9] = 51;
    vi.handle_ipv4_packet(t0, &ah);
    assert_eq!(vi.stats().authtype_mismatch, 1);
    vi.handle_ipv4_packet(t0, &pkt[..10]);
    assert_eq!(vi.stats().packet_len_err, 2);
    assert_eq!(vi.state(), State::Backup);
}

#[test]
fn poll_timeout_is_exact() {
    let t0 = Instant::now();
    let mut vi = start(cfg(100), t0);
    assert_eq!(vi.poll_timeout(), Some(t0 + Duration::from_micros(3_609_375)));
    // An advert from a higher priority restarts Master_Down from its arrival.
    let t1 = t0 + Duration::from_millis(1234);
    vi.handle_advert(t1, meta(), &advert(150));
    assert_eq!(vi.poll_timeout(), Some(t1 + Duration::from_micros(3_609_375)));
    // A lower-priority one is discarded (we will preempt): no change.
    vi.handle_advert(t1 + Duration::from_millis(100), meta(), &advert(50));
    assert_eq!(vi.poll_timeout(), Some(t1 + Duration::from_micros(3_609_375)));
    // Priority 0: Skew_Time from now.
    let t2 = t1 + Duration::from_millis(200);
    vi.handle_advert(t2, meta(), &advert(0));
    assert_eq!(vi.poll_timeout(), Some(t2 + Duration::from_micros(609_375)));
    // Early timeouts do nothing.
    vi.handle_timeout(t2);
    assert_eq!(vi.state(), State::Backup);
    vi.handle_timeout(t2 + Duration::from_micros(609_375));
    assert_eq!(vi.state(), State::Master);
    // Master: the next advert in exactly one interval, then the second GARP
    // burst 5 s after the transition.
    let tm = t2 + Duration::from_micros(609_375);
    assert_eq!(vi.poll_timeout(), Some(tm + Duration::from_secs(1)));
    for k in 1..=5 {
        let t = vi.poll_timeout().unwrap();
        assert_eq!(t, tm + Duration::from_secs(k));
        vi.handle_timeout(t);
    }
    let (_, tx, _) = drain(&mut vi);
    let garps = tx.iter().filter(|t| matches!(t, Transmit::GratuitousArp(_))).count();
    assert_eq!(garps, 10, "5 on the transition, 5 after garp_master_delay");
}

#[test]
fn adverts_are_directly_sendable() {
    let t0 = Instant::now();
    let (mut vi, t) = master(t0);
    vi.handle_timeout(t + Duration::from_secs(1));
    let (_, tx, _) = drain(&mut vi);
    let Transmit::Advert(a) = &tx[0] else { panic!() };
    assert_eq!((a.src, a.dst, a.hop_limit, a.tos, a.unicast), (ME, GROUP, Some(255), 0xc0, false));
    let mut buf = [0u8; 64];
    let n = a.emit_ipv4(1, &mut buf).unwrap().unwrap();
    // Byte for byte the corpus's first v2 no-auth frame (IP header and
    // VRRP), but for vrid and priority here being 51/150 too.
    assert_eq!(
        buf[..n],
        [
            0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x87, 0xc0, 0x00, 0x02, 0x0b, 0xe0, 0x00,
            0x00, 0x12, 0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x86, 0x65, 0xc0, 0x00, 0x02, 0x64, 0, 0, 0, 0, 0, 0, 0, 0
        ]
    );
    // GARP frames from the transition.
    let (_, tx, _) = {
        let mut vi = start(cfg(150), t0);
        let t = vi.poll_timeout().unwrap();
        vi.handle_timeout(t);
        drain(&mut vi)
    };
    let Transmit::GratuitousArp(g) = &tx[1] else { panic!("{tx:?}") };
    assert_eq!((g.addr, g.interface.as_deref()), (VIP, None));
    let mut f = [0u8; 42];
    g.emit_frame(EthernetAddress([2, 0, 0xc0, 0, 2, 0x0b]), &mut f).unwrap();
    assert_eq!(f[12..14], [0x08, 0x06]);
}

#[test]
fn master_answers_lower_priority_and_priority_zero() {
    let t0 = Instant::now();
    let (mut vi, tm) = master(t0);
    let now = tm + Duration::from_millis(300);
    vi.handle_advert(now, meta(), &advert(100));
    let (_, tx, ev) = drain(&mut vi);
    // An advert, then garp_lower_prio_repeat (5) GARPs; the advert timer
    // restarts from this advert.
    assert!(matches!(tx[0], Transmit::Advert(_)));
    assert_eq!(tx.iter().filter(|t| matches!(t, Transmit::GratuitousArp(_))).count(), 5);
    assert!(ev.contains(&Event::MasterReceivedLowerPriority { src: PEER, priority: 100 }));
    assert_eq!(vi.poll_timeout(), Some(now + Duration::from_secs(1)));
    // Priority 0 from another router: answer with an advert.
    let now = now + Duration::from_millis(100);
    vi.handle_advert(now, meta(), &advert(0));
    let (_, tx, _) = drain(&mut vi);
    assert_eq!(tx.len(), 1);
    assert_eq!(vi.stats().pri_zero_rcvd, 1);
    assert_eq!(vi.state(), State::Master);
    // lower_prio_no_advert: no answer.
    let mut quiet = start(cfg(150).lower_prio_no_advert(true), t0);
    let t = quiet.poll_timeout().unwrap();
    quiet.handle_timeout(t);
    drain(&mut quiet);
    quiet.handle_advert(t, meta(), &advert(100));
    let (_, tx, _) = drain(&mut quiet);
    assert!(tx.iter().all(|t| !matches!(t, Transmit::Advert(_))));
}

#[test]
fn owner_conflict_lowers_our_priority() {
    let t0 = Instant::now();
    let (vi, tm) = master(t0);
    drop(vi);
    let mut vi = start(cfg(255), t0);
    vi.handle_timeout(t0 + Duration::from_micros(1));
    drain(&mut vi);
    assert_eq!(vi.state(), State::Master);
    vi.handle_advert(tm, meta(), &advert(255));
    let (a, _, ev) = drain(&mut vi);
    assert!(ev.contains(&Event::OwnerConflict { src: PEER }));
    // 255 from .12 beats our 254: we yield, releasing the VIP.
    assert_eq!((vi.base_priority(), vi.state()), (254, State::Backup));
    assert!(a.contains(&Action::RemoveAddress(VirtualAddress::from(IpAddr::V4(VIP)))));
}

#[test]
fn link_down_faults_a_master_with_priority_zero_twice() {
    let t0 = Instant::now();
    let (mut vi, tm) = master(t0);
    vi.handle_input(tm, Input::LinkDown);
    let (a, tx, ev) = drain(&mut vi);
    assert_eq!(vi.state(), State::Fault);
    assert_eq!(vi.fault(), Some(&FaultReason::LinkDown));
    // keepalived's vrrp_state_leave_master to FAULT sends priority 0, and
    // vrrp_restore_interface sends it again.
    let zeros = tx.iter().filter(|t| matches!(t, Transmit::Advert(a) if a.priority == 0)).count();
    assert_eq!(zeros, 2);
    assert_eq!(vi.stats().pri_zero_sent, 1);
    assert_eq!(a, vec![Action::RemoveAddress(VirtualAddress::from(IpAddr::V4(VIP)))]);
    assert!(matches!(ev[0], Event::StateChanged { from: State::Master, to: State::Fault, .. }));
    assert_eq!(vi.poll_timeout(), None);
    // Adverts are ignored in FAULT, uncounted (as keepalived).
    vi.handle_advert(tm, meta(), &advert(200));
    assert_eq!(vi.stats().advert_rcvd, 0);
    vi.handle_input(tm, Input::LinkUp);
    assert_eq!(vi.state(), State::Backup);
    assert_eq!(vi.poll_timeout(), Some(tm + Duration::from_micros(3_414_062)));
    // Losing the address is a fault too.
    vi.handle_input(tm, Input::InterfaceAddress(None));
    assert_eq!(vi.fault(), Some(&FaultReason::NoSourceAddress));
    vi.handle_input(tm, Input::InterfaceAddress(Some(ME)));
    assert_eq!(vi.state(), State::Backup);
}

#[test]
fn losing_the_interface_address_as_master_sends_priority_0_from_it() {
    // keepalived 2.2.7 (netlink_if_address_filter, core/keepalived_netlink.c)
    // downs the instance before forgetting the deleted address: the
    // priority 0 advert still carries it, then FAULT; the address back:
    // BACKUP, master again by preemption.
    let t0 = Instant::now();
    let (mut vi, tm) = master(t0);
    vi.handle_input(tm, Input::InterfaceAddress(None));
    let (a, tx, ev) = drain(&mut vi);
    assert_eq!(vi.state(), State::Fault);
    assert_eq!(vi.fault(), Some(&FaultReason::NoSourceAddress));
    let zeros: Vec<_> = tx
        .iter()
        .filter_map(|t| match t {
            Transmit::Advert(a) if a.priority == 0 => Some(a.src),
            _ => None,
        })
        .collect();
    assert!(!zeros.is_empty(), "{tx:?}");
    assert!(zeros.iter().all(|&s| s == ME), "{zeros:?}");
    assert_eq!(vi.stats().pri_zero_sent, 1);
    assert_eq!(a, vec![Action::RemoveAddress(VirtualAddress::from(IpAddr::V4(VIP)))]);
    assert!(matches!(ev[0], Event::StateChanged { from: State::Master, to: State::Fault, .. }));
    assert_eq!(vi.source_addr(), None);
    // In FAULT without an address nothing more is sent.
    assert_eq!(vi.poll_timeout(), None);
    vi.handle_input(tm, Input::InterfaceAddress(Some(ME)));
    assert_eq!(vi.state(), State::Backup);
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    assert_eq!(vi.state(), State::Master);
    let (_, tx, _) = drain(&mut vi);
    assert!(tx.iter().any(|t| matches!(t, Transmit::Advert(a) if a.priority == 150 && a.src == ME)), "{tx:?}");
}

#[test]
fn no_accept_blocks_traffic_to_the_vips_while_master() {
    let t0 = Instant::now();
    let mut vi = start(cfg(150).accept(false), t0);
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    let (a, _, _) = drain(&mut vi);
    let vip = VirtualAddress::from(IpAddr::V4(VIP));
    assert_eq!(a, vec![Action::BlockTraffic(IpAddr::V4(VIP)), Action::AddAddress(vip.clone())]);
    vi.handle_input(t, Input::Shutdown);
    let (a, tx, _) = drain(&mut vi);
    assert_eq!(a, vec![Action::RemoveAddress(vip), Action::UnblockTraffic(IpAddr::V4(VIP))]);
    assert!(matches!(&tx[0], Transmit::Advert(a) if a.priority == 0));
    assert_eq!(vi.state(), State::Stopped);
}

#[test]
fn garp_refresh_and_interval() {
    let t0 = Instant::now();
    let config = cfg(150)
        .vip(VirtualAddress::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101))))
        .garp_master_refresh(Duration::from_secs(10))
        .garp_master_delay(Duration::ZERO)
        .garp_master_repeat(2)
        .garp_interval(Duration::from_millis(50), Duration::ZERO);
    let mut vi = start(config, t0);
    let tm = vi.poll_timeout().unwrap();
    vi.handle_timeout(tm);
    let mut garps: Vec<(Duration, Ipv4Addr)> = Vec::new();
    let mut collect = |vi: &mut VrrpInstance, now: Instant| {
        for t in drain(vi).1 {
            if let Transmit::GratuitousArp(g) = t {
                garps.push((now - tm, g.addr));
            }
        }
    };
    collect(&mut vi, tm);
    while let Some(t) = vi.poll_timeout() {
        if t > tm + Duration::from_secs(13) {
            break;
        }
        vi.handle_timeout(t);
        collect(&mut vi, t);
    }
    let a = VIP;
    let b = Ipv4Addr::new(192, 0, 2, 101);
    let ms = Duration::from_millis;
    // 2 rounds over 2 VIPs, 50 ms apart; the refresh (repeat 1) at the
    // first advert more than 10 s later (keepalived checks it when sending).
    assert_eq!(garps, vec![(ms(0), a), (ms(50), b), (ms(100), a), (ms(150), b), (ms(11_000), a), (ms(11_050), b)]);
}

#[test]
fn unicast_old_checksum_and_source_check() {
    let t0 = Instant::now();
    let config = |mode| {
        cfg(100)
            .version(Version::V3)
            .unicast_peer(UnicastPeer { addr: PEER, min_ttl: 250, max_ttl: 255 })
            .check_unicast_src(true)
            .old_unicast_checksum(mode)
    };
    let umeta = RxMeta { src: PEER, dst: ME, ttl: Some(255) };
    let repr = Repr::advertisement(Version::V3, 51, 150, 100, Addrs::V4(&[VIP]));
    // An advert checksummed the pre-1.3.6 way (over 224.0.0.18).
    let old = emit(&repr, PEER, GROUP);
    let new = emit(&repr, PEER, ME);
    let mut vi = start(config(UnicastChecksum::Auto), t0);
    vi.handle_advert(t0, umeta, &new);
    assert_eq!(vi.stats().advert_rcvd, 1);
    vi.handle_advert(t0, umeta, &old);
    let (_, _, ev) = drain(&mut vi);
    assert_eq!(ev, vec![Event::OldUnicastChecksum { src: PEER }]);
    assert_eq!(vi.stats().advert_rcvd, 2);
    // Now it sends the old way too.
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    let (_, tx, _) = drain(&mut vi);
    let Transmit::Advert(a) = &tx[0] else { panic!() };
    assert_eq!((a.dst, a.checksum_dst, a.unicast, a.hop_limit), (PEER, GROUP, true, Some(255)));
    // `never` refuses it.
    let mut strict = start(config(UnicastChecksum::Never), t0);
    strict.handle_advert(t0, umeta, &old);
    assert_eq!(strict.stats().chk_err, 1);
    drain(&mut strict);
    // Not a peer, and a TTL outside the peer's range.
    let stranger = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66));
    let from_stranger = emit(&repr, stranger, ME);
    rejected(&mut strict, t0, RxMeta { src: stranger, ..umeta }, &from_stranger, Discard::NotAPeer(stranger));
    rejected(&mut strict, t0, RxMeta { ttl: Some(9), ..umeta }, &new, Discard::TtlRange { got: 9, min: 250, max: 255 });
    // Multicast to a unicast instance.
    let mc = emit(&repr, PEER, GROUP);
    rejected(&mut strict, t0, meta(), &mc, Discard::Cast { multicast: true });
}

#[test]
fn ipv6_unicast_adverts_carry_hop_limit_255_unless_unicast_ttl() {
    // RFC 5798 §5.1.2.3 (keepalived 2.2.7 leaves the kernel's 64 here: a
    // deliberate difference); `unicast_ttl` still overrides it.
    let t0 = Instant::now();
    let ll: IpAddr = "fe80::c0ff:fe00:20b".parse().unwrap();
    let peer: IpAddr = "fe80::c0ff:fe00:20c".parse().unwrap();
    for (ttl, want) in [(None, 255), (Some(7), 7)] {
        let mut config = InstanceConfig::new("VI_6", 58)
            .interface("eth0")
            .priority(150)
            .vip(VirtualAddress::from(IpAddr::V6("2001:db8::101".parse().unwrap())))
            .unicast_peer(UnicastPeer { addr: peer, min_ttl: 0, max_ttl: 255 });
        config.unicast_ttl = ttl;
        let mut vi = VrrpInstance::new(config).unwrap();
        vi.handle_input(t0, Input::InterfaceAddress(Some(ll)));
        vi.handle_input(t0, Input::Startup);
        let t = vi.poll_timeout().unwrap();
        vi.handle_timeout(t);
        let (_, tx, _) = drain(&mut vi);
        let Some(Transmit::Advert(a)) = tx.iter().find(|t| matches!(t, Transmit::Advert(_))) else { panic!("{tx:?}") };
        assert_eq!((a.dst, a.unicast, a.hop_limit), (peer, true, Some(want)), "unicast_ttl {ttl:?}");
    }
}

#[test]
fn ipv6_instance_sends_from_its_link_local() {
    let t0 = Instant::now();
    let ll: IpAddr = "fe80::c0ff:fe00:20b".parse().unwrap();
    let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let mut vi = VrrpInstance::new(
        InstanceConfig::new("VI_6", 56).interface("eth0").priority(150).vip(VirtualAddress::from(IpAddr::V6(vip))),
    )
    .unwrap();
    assert_eq!((vi.version(), vi.family()), (Version::V3, Family::V6));
    assert!(vi.warnings().iter().any(|w| w.message.contains("should be link local")));
    vi.handle_input(t0, Input::InterfaceAddress(Some(ll)));
    vi.handle_input(t0, Input::Startup);
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    let (_, tx, _) = drain(&mut vi);
    let Transmit::Advert(a) = &tx[0] else { panic!() };
    let mut buf = [0u8; 64];
    let n = a.emit(&mut buf).unwrap();
    // The corpus's v3 IPv6 advert, byte for byte.
    assert_eq!(
        buf[..n],
        [
            0x31, 0x38, 0x96, 0x01, 0x00, 0x64, 0x4a, 0x7f, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            0x00
        ]
    );
    assert_eq!((a.dst, a.hop_limit), (IpAddr::V6(vrrp::MCAST_V6), Some(255)));
    assert!(a.emit_ipv4(1, &mut buf).is_none());
    let nas: Vec<_> = tx.iter().filter(|t| matches!(t, Transmit::UnsolicitedNa(n) if n.addr == vip)).collect();
    assert_eq!(nas.len(), 5);
}

#[test]
fn v3_backup_learns_the_master_interval() {
    let t0 = Instant::now();
    let mut vi = start(cfg(100).version(Version::V3), t0);
    let fast = emit(&Repr::advertisement(Version::V3, 51, 150, 10, Addrs::V4(&[VIP])), PEER, GROUP);
    vi.handle_advert(t0, meta(), &fast);
    // 3 x 100 ms + 156 x 10 cs x 625 / 16 µs.
    assert_eq!(vi.master_advert_interval(), Duration::from_millis(100));
    assert_eq!(vi.poll_timeout(), Some(t0 + Duration::from_micros(360_937)));
    assert_eq!(vi.master(), Some((PEER, 150)));
    // An interval of 0 counts as 1 cs (deliberate difference).
    let zero = emit(&Repr::advertisement(Version::V3, 51, 150, 0, Addrs::V4(&[VIP])), PEER, GROUP);
    vi.handle_advert(t0, meta(), &zero);
    assert_eq!(vi.master_advert_interval(), Duration::from_millis(10));
    assert_eq!(vi.poll_timeout(), Some(t0 + Duration::from_micros(30_000 + 156 * 625 / 16)));
}

#[test]
fn tracked_files_and_interfaces_move_the_priority() {
    use lvskit::vrrp::{TrackKind, TrackState, TrackedObject};
    let t0 = Instant::now();
    let config = cfg(100)
        .track(TrackedObject::new(TrackKind::File, "prio_file", 2))
        .track(TrackedObject::new(TrackKind::Interface, "eth1", -30))
        .track(TrackedObject::new(TrackKind::Interface, "eth2", 0).reverse(true).initial(TrackState::Down));
    let mut vi = start(config, t0);
    assert_eq!((vi.state(), vi.effective_priority()), (State::Backup, 100));
    let file = |v| Input::Track { kind: TrackKind::File, name: "prio_file".into(), state: TrackState::Value(v) };
    vi.handle_input(t0, file(20));
    assert_eq!(vi.effective_priority(), 140);
    // A backup's Master_Down moves with its priority: (256 - 140)/256 s of skew.
    let (_, _, ev) = drain(&mut vi);
    assert_eq!(ev, vec![Event::PriorityChanged { from: 100, to: 140 }]);
    assert_eq!(vi.master_down_interval(), Duration::from_micros(3_453_125));
    assert_eq!(vi.poll_timeout(), Some(t0 + Duration::from_micros(3_453_125)));
    vi.handle_input(t0, Input::Track { kind: TrackKind::Interface, name: "eth1".into(), state: TrackState::Down });
    assert_eq!(vi.effective_priority(), 110);
    // Clamped to 1..=254.
    vi.handle_input(t0, file(1000));
    assert_eq!(vi.effective_priority(), 254); // 100 + min(1000 x 2, 253) - 30
    // value x weight at -254 or below is FAULT.
    vi.handle_input(t0, file(-127));
    assert_eq!(vi.state(), State::Fault);
    assert!(matches!(vi.fault(), Some(FaultReason::Tracked { kind: TrackKind::File, .. })));
    vi.handle_input(t0, file(0));
    assert_eq!((vi.state(), vi.effective_priority()), (State::Backup, 70));
    // An unweighted reversed interface faults while it is *up*.
    vi.handle_input(t0, Input::Track { kind: TrackKind::Interface, name: "eth2".into(), state: TrackState::Up });
    assert_eq!(vi.state(), State::Fault);
}

#[test]
fn unweighted_script_keeps_the_instance_out_until_it_reports() {
    use lvskit::vrrp::{ScriptTracker, TrackKind, TrackState, TrackedObject};
    let t0 = Instant::now();
    let mut vi = start(cfg(100).track(TrackedObject::new(TrackKind::Script, "chk", 0)), t0);
    assert_eq!(vi.state(), State::Fault);
    assert_eq!(vi.fault(), Some(&FaultReason::TrackInit { name: "chk".into() }));
    assert_eq!(vi.poll_timeout(), None);
    // keepalived's rise/fall with rise 2, fall 2: the first result counts.
    let mut chk = ScriptTracker::new(2, 2, false);
    let report = chk.record(true).unwrap();
    vi.handle_input(t0, Input::Track { kind: TrackKind::Script, name: "chk".into(), state: report });
    assert_eq!(vi.state(), State::Backup);
    assert_eq!(chk.record(false), None);
    assert_eq!(chk.record(false), Some(TrackState::Down));
    vi.handle_input(t0, Input::Track { kind: TrackKind::Script, name: "chk".into(), state: TrackState::Down });
    assert_eq!(vi.state(), State::Fault);
}

#[test]
fn paced_announcements_on_two_interfaces_never_spin() {
    let t0 = Instant::now();
    let config = cfg(150)
        .vip(VirtualAddress::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101))).dev("eth1"))
        .excluded_vip("2001:db8::1/64".parse::<VirtualAddress>().unwrap())
        .garp_master_delay(Duration::ZERO)
        .garp_master_repeat(3)
        .garp_interval(Duration::from_millis(100), Duration::from_millis(30));
    let mut vi = start(config, t0);
    let tm = vi.poll_timeout().unwrap();
    vi.handle_timeout(tm);
    let mut sent: Vec<(Duration, IpAddr, Option<String>)> = Vec::new();
    let mut collect = |vi: &mut VrrpInstance, now: Instant| {
        for t in drain(vi).1 {
            match t {
                Transmit::GratuitousArp(g) => sent.push((now - tm, g.addr.into(), g.interface.map(|s| s.to_string()))),
                Transmit::UnsolicitedNa(n) => sent.push((now - tm, n.addr.into(), n.interface.map(|s| s.to_string()))),
                Transmit::Advert(_) => {}
            }
        }
    };
    collect(&mut vi, tm);
    let mut steps = 0;
    while let Some(t) = vi.poll_timeout() {
        if t >= tm + Duration::from_secs(1) {
            break;
        }
        assert!(t >= tm, "poll_timeout went back in time");
        steps += 1;
        assert!(steps < 50, "timer does not progress");
        vi.handle_timeout(t);
        collect(&mut vi, t);
    }
    let ms = Duration::from_millis;
    let (a, b, c): (IpAddr, IpAddr, IpAddr) =
        (IpAddr::V4(VIP), "192.0.2.101".parse().unwrap(), "2001:db8::1".parse().unwrap());
    let eth1 = Some("eth1".to_owned());
    // Each interface and family paced on its own, in burst order.
    let per = |addr: IpAddr| sent.iter().filter(|(_, x, _)| *x == addr).map(|(t, _, _)| *t).collect::<Vec<_>>();
    assert_eq!(per(a), vec![ms(0), ms(100), ms(200)]);
    assert_eq!(per(b), vec![ms(0), ms(100), ms(200)]);
    assert_eq!(per(c), vec![ms(0), ms(30), ms(60)]);
    assert!(sent.iter().filter(|(_, x, _)| *x == b).all(|(_, _, d)| *d == eth1));
}

#[test]
fn configured_source_address_wins_over_the_interface() {
    let t0 = Instant::now();
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));
    // unicast_src_ip: adverts come from it and it breaks priority ties.
    let mut vi = VrrpInstance::new(cfg(100).src_ip(src)).unwrap();
    vi.handle_input(t0, Input::Startup); // no interface address needed
    assert_eq!((vi.state(), vi.source_addr()), (State::Backup, Some(src)));
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    let (_, tx, _) = drain(&mut vi);
    let Transmit::Advert(a) = &tx[0] else { panic!() };
    assert_eq!(a.src, src);
    // An equal priority from 192.0.2.12 (< .50): we stay master.
    vi.handle_advert(t, meta(), &advert(100));
    assert_eq!(vi.state(), State::Master);
    // Without any source address the instance cannot run.
    let mut none = VrrpInstance::new(cfg(100)).unwrap();
    none.handle_input(t0, Input::Startup);
    assert_eq!((none.state(), none.fault()), (State::Fault, Some(&FaultReason::NoSourceAddress)));
}

//! [`Input::AddressRemoved`]: a VIP deleted by someone else while the
//! instance is master, handled as keepalived 2.2.7's `set_vrrp_backup`
//! (`keepalived/core/keepalived_netlink.c`): priority 0 advert, the other
//! addresses removed, BACKUP, and master again after Skew_Time.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lvskit::vrrp::{Action, Event, Input, InstanceConfig, Reason, State, Transmit, VrrpInstance};

fn master(now: Instant) -> VrrpInstance {
    let cfg = InstanceConfig::new("VI_1", 51)
        .interface("eth0")
        .priority(150)
        .vip("192.0.2.100/24".parse::<lvskit::vrrp::VirtualAddress>().unwrap())
        .vip("192.0.2.101/24".parse::<lvskit::vrrp::VirtualAddress>().unwrap());
    let mut vi = VrrpInstance::new(cfg).unwrap();
    vi.handle_input(now, Input::InterfaceAddress(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)))));
    vi.handle_input(now, Input::Startup);
    let t = vi.poll_timeout().unwrap();
    vi.handle_timeout(t);
    assert_eq!(vi.state(), State::Master);
    drain(&mut vi);
    vi
}

fn drain(vi: &mut VrrpInstance) -> (Vec<Action>, Vec<Transmit>, Vec<Event>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    while let Some(a) = vi.poll_action() {
        out.0.push(a);
    }
    while let Some(t) = vi.poll_transmit() {
        out.1.push(t);
    }
    while let Some(e) = vi.poll_event() {
        out.2.push(e);
    }
    out
}

#[test]
fn master_releases_and_returns_after_skew() {
    let t0 = Instant::now();
    let mut vi = master(t0);
    let now = t0 + Duration::from_secs(10);
    let vip: IpAddr = "192.0.2.100".parse().unwrap();
    vi.handle_input(now, Input::AddressRemoved(vip));
    assert_eq!(vi.state(), State::Backup);
    let (actions, tx, events) = drain(&mut vi);
    // Priority 0 advert, then both addresses removed (the deleted one too:
    // keepalived removes the whole list).
    assert!(matches!(&tx[..], [Transmit::Advert(a)] if a.priority == 0), "{tx:?}");
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::RemoveAddress(_))).count(), 2, "{actions:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StateChanged { from: State::Master, to: State::Backup, reason: Reason::AddressRemoved(a) } if *a == vip
    )));
    assert_eq!(vi.stats().pri_zero_sent, 1);
    // Back after Skew_Time = (256 - 150) / 256 s (VRRPv2).
    let t = vi.poll_timeout().unwrap();
    assert_eq!(t - now, Duration::from_micros(414_062));
    vi.handle_timeout(t);
    assert_eq!(vi.state(), State::Master);
    let (actions, tx, _) = drain(&mut vi);
    assert_eq!(actions.iter().filter(|a| matches!(a, Action::AddAddress(_))).count(), 2);
    assert!(matches!(&tx[0], Transmit::Advert(a) if a.priority == 150));
    assert_eq!(tx.iter().filter(|t| matches!(t, Transmit::GratuitousArp(_))).count(), 10);
}

#[test]
fn other_addresses_and_states_are_ignored() {
    let t0 = Instant::now();
    let mut vi = master(t0);
    let now = t0 + Duration::from_secs(10);
    vi.handle_input(now, Input::AddressRemoved("192.0.2.200".parse().unwrap()));
    assert_eq!(vi.state(), State::Master);
    assert_eq!(drain(&mut vi), (vec![], vec![], vec![]));

    let cfg = InstanceConfig::new("VI_2", 52)
        .interface("eth0")
        .priority(100)
        .vip("192.0.2.100/24".parse::<lvskit::vrrp::VirtualAddress>().unwrap());
    let mut backup = VrrpInstance::new(cfg).unwrap();
    backup.handle_input(t0, Input::InterfaceAddress(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)))));
    backup.handle_input(t0, Input::Startup);
    drain(&mut backup);
    let before = backup.poll_timeout();
    backup.handle_input(now, Input::AddressRemoved("192.0.2.100".parse().unwrap()));
    assert_eq!(backup.state(), State::Backup);
    assert_eq!(backup.poll_timeout(), before);
    assert_eq!(drain(&mut backup), (vec![], vec![], vec![]));
}

#[test]
fn sync_group_members_follow() {
    use lvskit::vrrp::SyncGroup;
    let t0 = Instant::now();
    let member = |name: &str, vrid: u8, vip: &str| {
        let cfg = InstanceConfig::new(name, vrid)
            .interface("eth0")
            .priority(150)
            .vip(vip.parse::<lvskit::vrrp::VirtualAddress>().unwrap());
        VrrpInstance::new(cfg).unwrap()
    };
    let mut g =
        SyncGroup::new("G", vec![member("VI_1", 51, "192.0.2.100/24"), member("VI_2", 52, "192.0.2.101/24")], false)
            .unwrap();
    for i in 0..2 {
        g.handle_member_input(t0, i, Input::InterfaceAddress(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)))));
    }
    g.handle_input(t0, Input::Startup);
    let mut now = t0;
    while g.members().iter().any(|m| m.state() != State::Master) {
        now = g.poll_timeout().unwrap();
        g.handle_timeout(now);
    }
    while g.poll_transmit().is_some() || g.poll_action().is_some() || g.poll_event().is_some() {}
    let now = now + Duration::from_secs(5);
    g.handle_member_input(now, 1, Input::AddressRemoved("192.0.2.101".parse().unwrap()));
    assert!(g.members().iter().all(|m| m.state() == State::Backup));
    assert_eq!(g.state(), State::Backup);
    let zeros = std::iter::from_fn(|| g.poll_transmit())
        .filter(|(_, t)| matches!(t, Transmit::Advert(a) if a.priority == 0))
        .count();
    assert_eq!(zeros, 2, "both members send priority 0");
    let removed = std::iter::from_fn(|| g.poll_action()).filter(|(_, a)| matches!(a, Action::RemoveAddress(_))).count();
    assert_eq!(removed, 2);
    let t = g.poll_timeout().unwrap();
    assert_eq!(t - now, Duration::from_micros(414_062));
    g.handle_timeout(t);
    assert!(g.members().iter().all(|m| m.state() == State::Master));
    assert_eq!(g.state(), State::Master);
}

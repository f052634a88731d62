//! keepalived's pool policy (`check/ipwrapper.c`) on virtual time: removal
//! versus weight 0 under `inhibit_on_failure`, quorum edges with
//! hysteresis, the sorry server in and out, `ha_suspend`, several checkers
//! per server, dynamic weights and the quorum.

#[path = "check_sim/mod.rs"]
mod sim;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use lvskit::check::{
    CheckKind, CheckerId, CheckerSpec, Failure, FileCheck, HealthEvent, MiscCheck, ProbeResult, ProbeSpec,
    RealServerSpec, Script, ScriptExit, SorryServer, VirtualServerSpec,
};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use sim::{Sim, ms, secs, v4, vip};

fn refused() -> ProbeResult {
    ProbeResult::Failure(Failure::ConnectFailed { kind: std::io::ErrorKind::ConnectionRefused, errno: Some(111) })
}

fn tcp() -> CheckerSpec {
    CheckerSpec::tcp().retry(0).warmup(Duration::ZERO)
}

fn addr(d: u8) -> SocketAddr {
    SocketAddr::new(v4(d), 80)
}

fn service() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip(), 80), "wrr")
}

/// `n` servers 198.51.100.1..=n, each with one TCP_CHECK.
fn vs(n: u8) -> VirtualServerSpec {
    let mut v = VirtualServerSpec::new(service()).delay_loop(secs(1));
    for d in 1..=n {
        v = v.real_server(RealServerSpec::new(DestConfig::masq(v4(d), 80)).checker(tcp()));
    }
    v
}

/// An oracle where the servers in `down` (by last octet) refuse.
fn health(down: &HashSet<u8>) -> impl FnMut(&lvskit::check::Probe, Duration) -> (ProbeResult, Duration) + '_ {
    move |p, _| {
        let ip = match p.target.as_ref().unwrap().dst.ip() {
            std::net::IpAddr::V4(a) => a.octets()[3],
            _ => unreachable!(),
        };
        if down.contains(&ip) { (refused(), ms(1)) } else { (ProbeResult::Success, ms(1)) }
    }
}

/// Steps the simulation by 2 s with the given servers down.
fn step(s: &mut Sim, down: &[u8]) {
    let set: HashSet<u8> = down.iter().copied().collect();
    let until = s.t() + secs(2);
    s.run_until(until, &mut health(&set));
}

#[test]
fn failed_servers_are_removed_or_kept_with_weight_zero_under_inhibit() {
    let v = VirtualServerSpec::new(service())
        .delay_loop(secs(1))
        .real_server(RealServerSpec::new(DestConfig::masq(v4(1), 80).weight(5)).checker(tcp()))
        .real_server(
            RealServerSpec::new(DestConfig::masq(v4(2), 80).weight(7)).checker(tcp()).inhibit_on_failure(true),
        );
    let mut s = Sim::new(vec![v], 1);
    assert_eq!(s.pool(), vec![(addr(1), 5), (addr(2), 7)]);
    step(&mut s, &[1, 2]);
    assert_eq!(s.pool(), vec![(addr(2), 0)], "removed, and inhibited with weight 0");
    step(&mut s, &[]);
    assert_eq!(s.pool(), vec![(addr(1), 5), (addr(2), 7)]);
    // The virtual-server default is inherited by servers that do not set it.
    let mut v = vs(2);
    v.inhibit_on_failure = true;
    let mut s = Sim::new(vec![v], 1);
    step(&mut s, &[1]);
    assert_eq!(s.pool(), vec![(addr(1), 0), (addr(2), 1)]);
}

#[test]
fn quorum_with_hysteresis_brings_the_sorry_server_in_and_out() {
    let mut v = vs(4);
    v.quorum = 3;
    v.hysteresis = 1;
    v.sorry_server = Some(SorryServer { dest: DestConfig::masq(v4(99), 80), inhibit: false });
    let mut s = Sim::new(vec![v], 1);
    let all: Vec<_> = (1..=4).map(|d| (addr(d), 1)).collect();
    // Start: weight 4 >= quorum + hysteresis = 4: quorum up at init.
    assert!(matches!(
        s.events_where(|e| matches!(e, HealthEvent::QuorumUp { .. }))[..],
        [(_, HealthEvent::QuorumUp { weight: 4, threshold: 4, init: true, .. })]
    ));
    assert_eq!(s.pool(), all);
    // Losing needs weight below quorum - hysteresis = 2.
    step(&mut s, &[1]);
    assert_eq!(s.hc.quorum_up(lvskit::check::VsId(0)), Some(true));
    step(&mut s, &[1, 2]);
    assert_eq!(s.hc.quorum_up(lvskit::check::VsId(0)), Some(true), "weight 2 is not below 2");
    assert_eq!(s.pool(), vec![(addr(3), 1), (addr(4), 1)]);
    step(&mut s, &[1, 2, 3]);
    assert_eq!(s.hc.quorum_up(lvskit::check::VsId(0)), Some(false));
    assert_eq!(s.pool(), vec![(addr(99), 1)], "sorry server alone");
    let lost = s.events_where(|e| matches!(e, HealthEvent::QuorumDown { .. }));
    assert!(matches!(lost[..], [(_, HealthEvent::QuorumDown { weight: 1, threshold: 2, init: false, .. })]));
    // Regaining needs quorum + hysteresis = 4.
    step(&mut s, &[1, 2]);
    assert_eq!(s.pool(), vec![(addr(99), 1)]);
    step(&mut s, &[1]);
    assert_eq!(s.pool(), vec![(addr(99), 1)], "weight 3 is below 4");
    step(&mut s, &[]);
    assert_eq!(s.pool(), all, "sorry server out, every live server back");
    let sorry: Vec<bool> = s
        .events_where(|e| matches!(e, HealthEvent::SorryServer { .. }))
        .into_iter()
        .map(|(_, e)| matches!(e, HealthEvent::SorryServer { active: true, .. }))
        .collect();
    assert_eq!(sorry, vec![true, false]);
}

#[test]
fn with_the_sorry_server_in_inhibited_servers_stay_at_weight_zero() {
    let mut v = vs(2);
    v.inhibit_on_failure = true;
    v.quorum = 2;
    v.sorry_server = Some(SorryServer { dest: DestConfig::masq(v4(99), 80), inhibit: true });
    let mut s = Sim::new(vec![v], 1);
    // The inhibited sorry server waits with weight 0.
    assert_eq!(s.pool(), vec![(addr(1), 1), (addr(2), 1), (addr(99), 0)]);
    step(&mut s, &[1]);
    // Quorum lost: the live server 2 is taken out (weight 0, inhibit), the
    // sorry server serves.
    assert_eq!(s.pool(), vec![(addr(1), 0), (addr(2), 0), (addr(99), 1)]);
    step(&mut s, &[]);
    assert_eq!(s.pool(), vec![(addr(1), 1), (addr(2), 1), (addr(99), 0)]);
}

#[test]
fn alpha_servers_below_quorum_start_with_the_sorry_server() {
    let mut v = vs(2);
    for rs in &mut v.real_servers {
        rs.checkers[0] = rs.checkers[0].clone().alpha(true);
    }
    v.sorry_server = Some(SorryServer { dest: DestConfig::masq(v4(99), 80), inhibit: false });
    let mut s = Sim::new(vec![v], 1);
    assert_eq!(s.pool(), vec![(addr(99), 1)]);
    assert!(matches!(
        s.events_where(|e| matches!(e, HealthEvent::QuorumDown { .. }))[..],
        [(_, HealthEvent::QuorumDown { init: true, .. })]
    ));
    step(&mut s, &[2]);
    assert_eq!(s.pool(), vec![(addr(1), 1)]);
}

#[test]
fn quorum_without_sorry_server_only_notifies() {
    let mut v = vs(3);
    v.quorum = 2;
    v.quorum_up = Some(Script::new(["/usr/local/bin/up"]).unwrap());
    v.quorum_down = Some(Script::new(["/usr/local/bin/down", "now"]).unwrap());
    let mut s = Sim::new(vec![v], 1);
    step(&mut s, &[1, 2]);
    assert_eq!(s.pool(), vec![(addr(3), 1)]);
    let downs = s.events_where(|e| matches!(e, HealthEvent::QuorumDown { .. }));
    let HealthEvent::QuorumDown { script: Some(sc), .. } = &downs[0].1 else { panic!("{downs:?}") };
    assert_eq!(sc.argv, ["/usr/local/bin/down", "now"]);
    step(&mut s, &[1]);
    let ups = s.events_where(|e| matches!(e, HealthEvent::QuorumUp { init: false, .. }));
    assert_eq!(ups.len(), 1);
}

#[test]
fn quorum_above_total_weight_is_lowered_as_keepalived_does() {
    let mut v = vs(2);
    v.quorum = 10;
    v.hysteresis = 10;
    let s = Sim::new(vec![v], 1);
    let adj: Vec<&str> = s.hc.adjustments().iter().map(|a| a.message.as_str()).collect();
    assert_eq!(
        adj,
        [
            "quorum 10 exceeds total weight of real servers 2, reducing quorum to 2",
            "hysteresis 10 >= quorum 2; setting hysteresis to 1"
        ]
    );
}

#[test]
fn a_server_is_alive_only_while_all_its_checkers_pass() {
    let v = VirtualServerSpec::new(service()).delay_loop(secs(1)).real_server(
        RealServerSpec::new(DestConfig::masq(v4(1), 80))
            .checker(tcp())
            .checker(tcp().connect(lvskit::check::ConnectSpec { connect_port: Some(443), ..Default::default() })),
    );
    let mut s = Sim::new(vec![v], 1);
    let port_down = |down: Option<u16>, s: &mut Sim| {
        let until = s.t() + secs(2);
        s.run_until(until, &mut |p, _| {
            if Some(p.target.as_ref().unwrap().dst.port()) == down {
                (refused(), ms(1))
            } else {
                (ProbeResult::Success, ms(1))
            }
        });
    };
    port_down(Some(443), &mut s);
    assert!(s.pool().is_empty());
    port_down(Some(80), &mut s);
    assert!(s.pool().is_empty());
    port_down(None, &mut s);
    assert_eq!(s.pool(), vec![(addr(1), 1)]);
    // One ServerDown and one ServerUp: the second checker failing while the
    // server is already down changes nothing.
    assert_eq!(s.events_where(|e| matches!(e, HealthEvent::ServerDown { .. })).len(), 1);
    assert_eq!(s.events_where(|e| matches!(e, HealthEvent::ServerUp { .. })).len(), 1);
    assert_eq!(s.events_where(|e| matches!(e, HealthEvent::CheckerDown { .. })).len(), 2);
}

#[test]
fn dynamic_weights_count_towards_the_quorum() {
    let misc = CheckerSpec::new(CheckKind::Misc(MiscCheck {
        script: Script::new(["/bin/w"]).unwrap(),
        timeout: None,
        dynamic: true,
    }))
    .warmup(Duration::ZERO);
    let mut v = VirtualServerSpec::new(service())
        .delay_loop(secs(1))
        .real_server(RealServerSpec::new(DestConfig::masq(v4(1), 80).weight(10)).checker(misc));
    v.quorum = 5;
    v.sorry_server = Some(SorryServer { dest: DestConfig::masq(v4(99), 80), inhibit: false });
    let mut s = Sim::new(vec![v], 1);
    assert_eq!(s.pool(), vec![(addr(1), 10)]);
    // exit 5 -> weight 3, below quorum 5: the sorry server takes over.
    s.run_until(ms(1500), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(5)), ms(1)));
    assert_eq!(s.pool(), vec![(addr(99), 1)]);
    // exit 12 -> weight 10: back.
    s.run_until(ms(2500), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(12)), ms(1)));
    assert_eq!(s.pool(), vec![(addr(1), 10)]);
}

#[test]
fn file_checks_set_state_and_weight_from_the_value() {
    let mut f = FileCheck::new("/run/weight");
    f.weight = 2;
    let v = VirtualServerSpec::new(service()).delay_loop(secs(1)).real_server(
        RealServerSpec::new(DestConfig::masq(v4(1), 80).weight(10)).checker(CheckerSpec::new(CheckKind::File(f))),
    );
    let mut s = Sim::new(vec![v], 1);
    let values = [Some(3), Some(3), None, Some(-5), Some(i64::from(i32::MIN)), Some(0)];
    for (i, v) in values.iter().enumerate() {
        let until = secs(i as u64) + ms(500);
        s.run_until(until, &mut |p, _| {
            assert!(matches!(p.spec, ProbeSpec::File(_)));
            (ProbeResult::FileValue(*v), ms(1))
        });
        let expect = match i {
            0..=2 => vec![(addr(1), 16)],
            3 => vec![(addr(1), 0)],
            4 => vec![],
            _ => vec![(addr(1), 10)],
        };
        assert_eq!(s.pool(), expect, "after value #{i} {v:?}");
    }
}

#[test]
fn ha_suspend_checks_only_while_the_address_is_present() {
    let mut v = vs(1);
    v.ha_suspend = true;
    let mut s = Sim::new(vec![v], 1);
    s.run_until(secs(5), &mut |_, _| (refused(), ms(1)));
    assert!(s.issued.is_empty(), "suspended: no probe");
    assert_eq!(s.pool(), vec![(addr(1), 1)], "state kept");
    s.hc.set_address(vip(), true);
    s.run_until(secs(10), &mut |_, _| (refused(), ms(1)));
    assert!(!s.issued.is_empty());
    assert!(s.pool().is_empty());
    // Two copies of the address: suspended only when both are gone.
    s.hc.set_address(vip(), true);
    s.hc.set_address(vip(), false);
    let n = s.issued.len();
    s.run_until(secs(13), &mut |_, _| (ProbeResult::Success, ms(1)));
    assert!(s.issued.len() > n);
    assert_eq!(s.pool(), vec![(addr(1), 1)]);
    s.hc.set_address(vip(), false);
    let n = s.issued.len();
    s.run_until(secs(20), &mut |_, _| (refused(), ms(1)));
    assert!(s.issued.len() <= n + 1, "at most the probe already in flight");
    assert_eq!(s.pool(), vec![(addr(1), 1)]);
    let toggles: Vec<bool> = s
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            HealthEvent::CheckerEnabled { enabled, .. } => Some(*enabled),
            _ => None,
        })
        .collect();
    assert_eq!(toggles, vec![true, false]);
    // Fwmark services cannot use ha_suspend: keepalived clears it.
    let mut v = VirtualServerSpec::new(ServiceConfig::new(ServiceKey::fwmark(lvskit::ipvs::Family::V4, 7), "rr"))
        .real_server(RealServerSpec::new(DestConfig::route(v4(1), 0)).checker(tcp()));
    v.ha_suspend = true;
    let s = Sim::new(vec![v], 1);
    assert_eq!(s.hc.adjustments()[0].message, "cannot use ha_suspend with fwmarks - clearing ha_suspend");
}

#[test]
fn notify_scripts_ride_on_server_events_and_omega_reports_shutdown() {
    let mut v = vs(1);
    v.omega = true;
    v.real_servers[0].notify_down = Some(Script::new(["/bin/notify", "down"]).unwrap());
    v.real_servers[0].notify_up = Some(Script::new(["/bin/notify", "up"]).unwrap());
    let mut s = Sim::new(vec![v], 1);
    step(&mut s, &[1]);
    step(&mut s, &[]);
    let scripts: Vec<String> = s
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            HealthEvent::ServerUp { script: Some(sc), .. } | HealthEvent::ServerDown { script: Some(sc), .. } => {
                Some(sc.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(scripts, ["/bin/notify down", "/bin/notify up"]);
    let empty = s.hc.shutdown();
    assert!(empty[0].dests.is_empty());
    let mut tail = Vec::new();
    while let Some(e) = s.hc.poll_event() {
        tail.push(e);
    }
    assert!(matches!(tail[..], [HealthEvent::ServerDown { .. }, HealthEvent::QuorumDown { .. }]), "{tail:?}");
    assert_eq!(s.hc.poll_timeout(), None);
}

#[test]
fn every_pool_change_is_announced() {
    let mut s = Sim::new(vec![vs(2)], 1);
    let n0 = s.events_where(|e| matches!(e, HealthEvent::PoolChanged { .. })).len();
    assert_eq!(n0, 1, "the initial pool");
    step(&mut s, &[]);
    assert_eq!(s.events_where(|e| matches!(e, HealthEvent::PoolChanged { .. })).len(), 1, "nothing changed");
    step(&mut s, &[2]);
    assert_eq!(s.events_where(|e| matches!(e, HealthEvent::PoolChanged { .. })).len(), 2);
    let snap = s.hc.desired()[0].to_snapshot();
    assert_eq!(snap.dests.len(), 1);
    assert_eq!(snap.dests[0].config.socket_addr(), addr(1));
    let _ = CheckerId(0);
}

//! VRRP scenarios on the virtual LAN (tests/support/vlan.rs), on virtual
//! time, with the exact timer arithmetic of keepalived 2.2.7 that the
//! netlab baseline measured (scripts/README-netlab.md):
//!
//! * Master_Down = 3 x Adv + Skew, Skew = (256 - prio) / 256 s for v2 and
//!   (256 - prio) / 256 x Adv for v3: 3.609375 s (v2, prio 100), 0.360937 s
//!   (v3 0.1 s, prio 100), 3.414062 s / 0.341406 s for prio 150;
//! * after a priority 0 advert the backup waits Skew only: 0.609375 s and
//!   0.060937 s.

mod support {
    pub mod vlan;
}

use std::net::IpAddr;
use std::time::Duration;

use lvskit::vrrp::{Event, State};
use lvskit::vrrp::{InitialState, Input, SyncGroup, TrackKind, TrackState, TrackedObject, VrrpInstance};
use lvskit::wire::vrrp::Version;
use support::vlan::{Lan, Record, Router, host_v4, host_v6, v2_config, v3_config, v6_config};

const VRID: u8 = 51;
const S: Duration = Duration::from_secs(1);

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn vip() -> IpAddr {
    "192.0.2.100".parse().unwrap()
}

/// h1 prio 150 and h2 prio 100, both started at t0; h1 is master at its
/// Master_Down (3.414062 s) and h2 stays backup.
fn pair(version: Version, adv: Duration, seed: u64) -> Lan {
    let mut lan = Lan::new(seed);
    let cfg = |name, prio| match version {
        Version::V2 => v2_config(name, VRID, prio),
        Version::V3 => v3_config(name, VRID, prio, adv),
    };
    lan.add(host_v4(0), cfg("VI_1", 150).state(InitialState::Master));
    lan.add(host_v4(1), cfg("VI_1", 100));
    lan.start_all();
    lan
}

#[test]
fn election_at_start() {
    let mut lan = Lan::new(1);
    lan.add(host_v4(0), v2_config("VI_1", VRID, 150));
    lan.add(host_v4(1), v2_config("VI_1", VRID, 100));
    lan.add(host_v4(2), v2_config("VI_1", VRID, 50));
    lan.start_all();
    for i in 0..3 {
        assert_eq!(lan.nodes[i].state(VRID), State::Backup);
    }
    // The highest priority has the shortest Master_Down_Interval.
    assert_eq!(lan.nodes[0].instance(VRID).master_down_interval(), us(3_414_062));
    assert_eq!(lan.nodes[1].instance(VRID).master_down_interval(), us(3_609_375));
    assert_eq!(lan.nodes[2].instance(VRID).master_down_interval(), us(3_804_687));
    lan.run_for(30 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    assert_eq!(lan.last_transition(0, VRID, State::Master), Some(us(3_414_062)));
    assert_eq!(lan.last_transition(1, VRID, State::Master), None);
    assert_eq!(lan.last_transition(2, VRID, State::Master), None);
    assert!(lan.nodes[0].vips.contains(&vip()));
    assert!(lan.nodes[1].vips.is_empty() && lan.nodes[2].vips.is_empty());

    // The transition, drained as a driver should (actions first): the VIP,
    // then the advert, then 5 gratuitous ARPs; 5 more garp_master_delay
    // (5 s) later.
    let recs: Vec<Record> = lan.records(0, us(3_414_062)).into_iter().take(7).map(|(_, r)| r).collect();
    assert_eq!(recs[0], Record::Vip { addr: vip(), added: true });
    assert!(matches!(recs[1], Record::Advert { vrid: VRID, priority: 150, .. }), "{recs:?}");
    assert_eq!(
        recs[2..],
        [Record::Garp(vip()), Record::Garp(vip()), Record::Garp(vip()), Record::Garp(vip()), Record::Garp(vip())]
    );
    let garps: Vec<Duration> =
        lan.records(0, Duration::ZERO).into_iter().filter(|(_, r)| *r == Record::Garp(vip())).map(|(t, _)| t).collect();
    assert_eq!(garps, [vec![us(3_414_062); 5], vec![us(8_414_062); 5]].concat());
    // Adverts every second from then on.
    let adverts: Vec<Duration> = lan
        .records(0, Duration::ZERO)
        .into_iter()
        .filter(|(_, r)| matches!(r, Record::Advert { .. }))
        .map(|(t, _)| t)
        .take(4)
        .collect();
    assert_eq!(adverts, vec![us(3_414_062), us(4_414_062), us(5_414_062), us(6_414_062)]);
    let s0 = lan.nodes[0].instance(VRID).stats();
    assert_eq!((s0.become_master, s0.advert_rcvd), (1, 0));
    assert!(lan.nodes[1].instance(VRID).stats().advert_rcvd >= 26);
}

/// SIGKILL of the master: the backup takes over exactly Master_Down after
/// the last advert it heard (and the dead master keeps its VIP).
fn master_failure(version: Version, adv: Duration, master_down: Duration) {
    let mut lan = pair(version, adv, 2);
    lan.run_for(20 * adv + 5 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    // Crash at a point between two adverts.
    let last = lan.last_advert(0).unwrap();
    lan.run_until(lan.t0 + last + adv * 3 / 10);
    lan.crash(0);
    lan.run_for(10 * adv + 5 * S);
    assert_eq!(lan.masters(VRID), vec![1]);
    let took = lan.last_transition(1, VRID, State::Master).unwrap();
    assert_eq!(took - last, master_down);
    assert!(lan.nodes[0].vips.contains(&vip()), "SIGKILL leaves the VIP behind");
    assert!(lan.nodes[1].vips.contains(&vip()));
}

#[test]
fn master_failure_v2_takes_master_down_after_the_last_advert() {
    master_failure(Version::V2, S, us(3_609_375));
}

#[test]
fn master_failure_v3_100ms() {
    master_failure(Version::V3, Duration::from_millis(100), us(360_937));
}

#[test]
fn cut_link_goes_to_fault_and_the_backup_takes_over() {
    let mut lan = pair(Version::V2, S, 3);
    lan.run_for(10 * S);
    let last = lan.last_advert(0).unwrap();
    lan.run_until(lan.t0 + last + Duration::from_millis(700));
    let cut_at = lan.elapsed();
    lan.cut(0);
    // keepalived sees NO-CARRIER: FAULT, VIP removed at once.
    assert_eq!(lan.nodes[0].state(VRID), State::Fault);
    assert!(lan.nodes[0].vips.is_empty());
    assert_eq!(lan.last_transition(0, VRID, State::Fault), Some(cut_at));
    lan.run_for(10 * S);
    assert_eq!(lan.last_transition(1, VRID, State::Master).unwrap() - last, us(3_609_375));
    // Heal: h1 comes back as BACKUP, discards h2's lower adverts, and
    // preempts after its own full Master_Down (the baseline's failback).
    lan.heal(0);
    let healed = lan.elapsed();
    assert_eq!(lan.nodes[0].state(VRID), State::Backup);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    assert_eq!(lan.last_transition(0, VRID, State::Master).unwrap() - healed, us(3_414_062));
    // h2 yields on h1's first advert.
    assert_eq!(lan.last_transition(1, VRID, State::Backup), lan.last_transition(0, VRID, State::Master));
    assert!(lan.nodes[1].vips.is_empty());
}

/// SIGTERM: a priority 0 advert; the backup becomes master Skew_Time later.
fn priority_zero(version: Version, adv: Duration, skew: Duration) {
    let mut lan = pair(version, adv, 4);
    lan.run_for(10 * adv + 5 * S);
    let last = lan.last_advert(0).unwrap();
    lan.run_until(lan.t0 + last + adv / 10);
    let term = lan.elapsed();
    lan.shutdown(0);
    assert!(lan.nodes[0].vips.is_empty(), "SIGTERM releases the VIP");
    assert_eq!(lan.nodes[0].instance(VRID).stats().pri_zero_sent, 1);
    assert!(lan.records(0, term).iter().any(|(_, r)| matches!(r, Record::Advert { priority: 0, .. })));
    lan.run_for(5 * adv + S);
    assert_eq!(lan.masters(VRID), vec![1]);
    assert_eq!(lan.last_transition(1, VRID, State::Master).unwrap() - term, skew);
    assert_eq!(lan.nodes[1].instance(VRID).stats().pri_zero_rcvd, 1);
}

#[test]
fn priority_zero_handover_v2() {
    // The corpus: prio 0 at 1.117 s, h2's first advert at 1.727 s.
    priority_zero(Version::V2, S, us(609_375));
}

#[test]
fn priority_zero_handover_v3() {
    priority_zero(Version::V3, Duration::from_millis(100), us(60_937));
}

#[test]
fn restart_preempts_after_its_master_down() {
    for (version, adv, md) in [(Version::V2, S, us(3_414_062)), (Version::V3, Duration::from_millis(100), us(341_406))]
    {
        let mut lan = pair(version, adv, 5);
        lan.run_for(10 * S);
        lan.crash(0);
        lan.run_for(10 * S);
        assert_eq!(lan.masters(VRID), vec![1]);
        let cfg = match version {
            Version::V2 => v2_config("VI_1", VRID, 150),
            Version::V3 => v3_config("VI_1", VRID, 150, adv),
        };
        let restart = lan.elapsed();
        lan.restart(0, cfg.state(InitialState::Master));
        lan.run_for(10 * S);
        assert_eq!(lan.masters(VRID), vec![0]);
        assert_eq!(lan.last_transition(0, VRID, State::Master).unwrap() - restart, md);
        // In between, h1 discarded h2's lower-priority adverts.
        let discarded = lan
            .records(0, restart)
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r,
                    Record::Other(Event::Discarded {
                        reason: lvskit::vrrp::Discard::LowerPriority { priority: 100 },
                        ..
                    })
                )
            })
            .count();
        assert!(discarded >= 3, "{discarded}");
    }
}

#[test]
fn preempt_delay_holds_off_preemption() {
    let mut lan = Lan::new(6);
    lan.add(host_v4(0), v2_config("VI_1", VRID, 150).preempt_delay(10 * S));
    lan.add(host_v4(1), v2_config("VI_1", VRID, 100));
    lan.start(1);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![1]);
    lan.start(0);
    let started = lan.elapsed();
    lan.run_for(30 * S);
    let adverts: Vec<Duration> = lan
        .records(1, started)
        .into_iter()
        .filter(|(_, r)| matches!(r, Record::Advert { priority: 100, .. }))
        .map(|(t, _)| t)
        .collect();
    // The first advert h1 hears starts the 10 s delay; adverts before its
    // end are accepted; the last accepted one is 9 s after the first, and
    // h1 preempts Master_Down after it.
    let first = adverts[0];
    let last_accepted = *adverts.iter().rfind(|&&t| t < first + 10 * S).unwrap();
    assert_eq!(last_accepted, first + 9 * S);
    assert_eq!(lan.last_transition(0, VRID, State::Master), Some(last_accepted + us(3_414_062)));
    assert_eq!(lan.masters(VRID), vec![0]);
}

#[test]
fn nopreempt_keeps_the_lower_priority_master() {
    let mut lan = Lan::new(7);
    lan.add(host_v4(0), v2_config("VI_1", VRID, 150).state(InitialState::Backup).nopreempt(true));
    lan.add(host_v4(1), v2_config("VI_1", VRID, 100));
    lan.start(1);
    lan.run_for(10 * S);
    lan.start(0);
    lan.run_for(120 * S);
    assert_eq!(lan.masters(VRID), vec![1], "nopreempt: h1 never takes over from a working master");
    assert_eq!(lan.last_transition(0, VRID, State::Master), None);
    // But it does when the master goes.
    let last = lan.last_advert(1).unwrap();
    lan.crash(1);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    assert_eq!(lan.last_transition(0, VRID, State::Master).unwrap() - last, us(3_414_062));
}

#[test]
fn equal_priorities_higher_address_wins() {
    let mut lan = Lan::new(8);
    lan.add(host_v4(0), v2_config("VI_1", VRID, 100));
    lan.add(host_v4(1), v2_config("VI_1", VRID, 100));
    lan.start_all();
    lan.run_for(20 * S);
    // Both time out together and advertise; 192.0.2.12 > 192.0.2.11 wins.
    assert_eq!(lan.masters(VRID), vec![1]);
    assert_eq!(lan.last_transition(0, VRID, State::Master), Some(us(3_609_375)));
    assert_eq!(lan.last_transition(0, VRID, State::Backup), Some(us(3_609_375)));
    assert!(lan.nodes[0].vips.is_empty());
    // The winner answered the loser's advert as keepalived does.
    assert!(
        lan.records(1, Duration::ZERO)
            .iter()
            .any(|(_, r)| matches!(r, Record::Other(Event::MasterReceivedLowerPriority { priority: 100, .. })))
    );
}

#[test]
fn split_brain_heals_within_one_advert() {
    let mut lan = pair(Version::V2, S, 9);
    lan.run_for(10 * S);
    lan.partition(0, 1);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![0, 1], "split brain: both hold the VIP");
    lan.unpartition_all();
    let healed = lan.elapsed();
    let mut both_until = healed;
    lan.run_until_with(lan.now + 10 * S, |l| {
        if l.masters(VRID).len() > 1 {
            both_until = l.elapsed();
        }
    });
    assert_eq!(lan.masters(VRID), vec![0]);
    assert!(both_until - healed <= S, "two masters for {:?} after healing", both_until - healed);
    assert!(lan.nodes[1].vips.is_empty());
}

/// Two hosts each with a sync group of VI_1 (vrid 1) and VI_2 (vrid 2),
/// with these priorities.
fn groups(seed: u64, prios: [(u8, u8); 2]) -> Lan {
    let mut lan = Lan::new(seed);
    for (h, (p1, p2)) in prios.into_iter().enumerate() {
        let a = VrrpInstance::new(v2_config("VI_1", 1, p1)).unwrap();
        let b = VrrpInstance::new(v2_config("VI_2", 2, p2).track(TrackedObject::new(TrackKind::Interface, "eth1", 0)))
            .unwrap();
        let g = SyncGroup::new("G1", vec![a, b], false).unwrap();
        lan.add_router(host_v4(h), Router::Group(g));
    }
    lan.start_all();
    lan
}

#[test]
fn sync_group_members_move_together() {
    let mut lan = groups(10, [(150, 150), (100, 100)]);
    lan.run_for(10 * S);
    assert_eq!((lan.masters(1), lan.masters(2)), (vec![0], vec![0]));
    // VI_2's tracked interface fails on h1: the whole group goes to FAULT,
    // sending priority 0 for both, and h2's group takes over after Skew.
    lan.input(0, Input::Track { kind: TrackKind::Interface, name: "eth1".into(), state: TrackState::Down });
    let fault = lan.elapsed();
    assert_eq!((lan.nodes[0].state(1), lan.nodes[0].state(2)), (State::Fault, State::Fault));
    assert!(lan.nodes[0].vips.is_empty());
    lan.run_for(10 * S);
    assert_eq!((lan.masters(1), lan.masters(2)), (vec![1], vec![1]));
    for vrid in [1, 2] {
        assert_eq!(lan.last_transition(1, vrid, State::Master).unwrap() - fault, us(609_375));
    }
    // Recovery: h1's group comes back as BACKUP together and preempts.
    lan.input(0, Input::Track { kind: TrackKind::Interface, name: "eth1".into(), state: TrackState::Up });
    assert_eq!((lan.nodes[0].state(1), lan.nodes[0].state(2)), (State::Backup, State::Backup));
    lan.run_for(10 * S);
    assert_eq!((lan.masters(1), lan.masters(2)), (vec![0], vec![0]));
    assert_eq!(lan.nodes[1].state(1), State::Backup);
    assert_eq!(lan.nodes[1].state(2), State::Backup);
}

#[test]
fn sync_group_waits_for_every_member_to_want_master() {
    // h2's members have different priorities, so after h1's priority 0
    // adverts VI_1 (100) times out first, at 0.609375 s, but may not go
    // master alone; VI_2 (50) times out at 0.8046875 s and takes both.
    let mut lan = groups(11, [(150, 150), (100, 50)]);
    lan.run_for(10 * S);
    lan.shutdown(0);
    let term = lan.elapsed();
    lan.run_until(lan.now + us(609_375));
    assert_eq!(lan.nodes[1].state(1), State::Backup);
    assert_eq!(lan.nodes[1].instance(1).wanted_state(), State::Master);
    lan.run_for(10 * S);
    let t1 = lan.last_transition(1, 1, State::Master).unwrap();
    let t2 = lan.last_transition(1, 2, State::Master).unwrap();
    assert_eq!(t1, t2);
    assert_eq!(t2 - term, us(804_687));
    assert_eq!((lan.masters(1), lan.masters(2)), (vec![1], vec![1]));
}

#[test]
fn tracked_script_weight_flips_move_the_master() {
    let mut lan = Lan::new(12);
    lan.add(
        host_v4(0),
        v2_config("VI_1", VRID, 150)
            .track(TrackedObject::new(TrackKind::Script, "chk_lb", -60).initial(TrackState::Up)),
    );
    lan.add(host_v4(1), v2_config("VI_1", VRID, 100));
    lan.start_all();
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    // The check fails: 150 - 60 = 90 < 100. h1 keeps advertising at 90; h2
    // discards those and preempts Master_Down after the last 150 advert.
    let last150 = lan.last_advert(0).unwrap();
    lan.run_until(lan.t0 + last150 + Duration::from_millis(500));
    lan.input(0, Input::Track { kind: TrackKind::Script, name: "chk_lb".into(), state: TrackState::Down });
    assert_eq!(lan.nodes[0].instance(VRID).effective_priority(), 90);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![1]);
    assert_eq!(lan.last_transition(1, VRID, State::Master).unwrap() - last150, us(3_609_375));
    assert_eq!(lan.last_transition(0, VRID, State::Backup), lan.last_transition(1, VRID, State::Master));
    // It recovers: 150 again, h1 preempts after its Master_Down.
    lan.input(0, Input::Track { kind: TrackKind::Script, name: "chk_lb".into(), state: TrackState::Up });
    let up = lan.elapsed();
    assert_eq!(lan.nodes[0].instance(VRID).effective_priority(), 150);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    let took = lan.last_transition(0, VRID, State::Master).unwrap();
    assert!(took > up && took - up <= us(3_414_062), "{:?}", took - up);
}

#[test]
fn v2_and_v3_routers_on_the_same_vrid_ignore_each_other() {
    let mut lan = Lan::new(13);
    lan.add(host_v4(0), v2_config("VI_1", VRID, 150));
    lan.add(host_v4(1), v3_config("VI_1", VRID, 100, S));
    lan.start_all();
    lan.run_for(60 * S);
    // Each rejects the other's version and so is master of its own.
    assert_eq!(lan.masters(VRID), vec![0, 1]);
    let (a, b) = (lan.nodes[0].instance(VRID).stats(), lan.nodes[1].instance(VRID).stats());
    assert!(a.vers_err >= 50 && b.vers_err >= 50, "{a:?} {b:?}");
    assert_eq!((a.advert_rcvd, b.advert_rcvd), (0, 0));
    // Both keep advertising every second: a rejected packet does not
    // reset a master's advert timer (deliberate difference).
    assert!(a.advert_sent >= 56 && b.advert_sent >= 56, "{} {}", a.advert_sent, b.advert_sent);
}

#[test]
fn ipv6_vrrpv3_election_and_failover() {
    let mut lan = Lan::new(14);
    lan.add(host_v6(0), v6_config("VI_6", 56, 150));
    lan.add(host_v6(1), v6_config("VI_6", 56, 100));
    lan.start_all();
    lan.run_for(10 * S);
    assert_eq!(lan.masters(56), vec![0]);
    let ll: IpAddr = "fe80::100".parse().unwrap();
    let global: IpAddr = "2001:db8::100".parse().unwrap();
    assert_eq!(lan.nodes[0].vips, [ll, global].into_iter().collect());
    // One NA per VIP per repeat, round-robin.
    let nas: Vec<IpAddr> = lan
        .records(0, Duration::ZERO)
        .into_iter()
        .filter_map(|(_, r)| if let Record::Garp(a) = r { Some(a) } else { None })
        .take(4)
        .collect();
    assert_eq!(nas, vec![ll, global, ll, global]);
    let last = lan.last_advert(0).unwrap();
    lan.crash(0);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(56), vec![1]);
    assert_eq!(lan.last_transition(1, 56, State::Master).unwrap() - last, us(3_609_375));
}

#[test]
fn unicast_peers_fail_over() {
    let mut lan = Lan::new(15);
    let peer = |me: usize| {
        v3_config("VI_U", 60, if me == 0 { 150 } else { 100 }, S).unicast_peer(host_v4(1 - me)).check_unicast_src(true)
    };
    lan.add(host_v4(0), peer(0));
    lan.add(host_v4(1), peer(1));
    lan.start_all();
    lan.run_for(10 * S);
    assert_eq!(lan.masters(60), vec![0]);
    assert!(
        lan.records(0, Duration::ZERO)
            .iter()
            .any(|(_, r)| matches!(r, Record::Advert { dst, .. } if *dst == host_v4(1)))
    );
    assert!(lan.nodes[1].instance(60).stats().advert_rcvd > 5);
    assert_eq!(lan.nodes[1].instance(60).stats().errors(), 0);
    let last = lan.last_advert(0).unwrap();
    lan.crash(0);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(60), vec![1]);
    assert_eq!(lan.last_transition(1, 60, State::Master).unwrap() - last, us(3_609_375));
}

#[test]
fn address_owner_takes_over_at_once() {
    let mut lan = Lan::new(16);
    let backup = lan.add(host_v4(1), v2_config("VI_1", VRID, 100));
    lan.start(backup);
    lan.run_for(10 * S);
    assert_eq!(lan.masters(VRID), vec![backup]);
    let owner = lan.add(host_v4(0), v2_config("VI_1", VRID, 255));
    let start = lan.elapsed();
    lan.start(owner);
    lan.run_for(5 * S);
    assert_eq!(lan.masters(VRID), vec![owner]);
    // keepalived's owner start: BACKUP with a 1 µs Master_Down.
    assert_eq!(lan.last_transition(owner, VRID, State::Master).unwrap() - start, us(1));
    assert_eq!(lan.last_transition(backup, VRID, State::Backup).unwrap() - start, us(1));
}

#[test]
fn lossy_delayed_segment_still_converges() {
    let mut lan = Lan::new(17);
    lan.loss = 0.1;
    lan.delay = (Duration::from_millis(1), Duration::from_millis(20));
    for (i, prio) in [(0, 200), (1, 150), (2, 100)] {
        lan.add(host_v4(i), v3_config("VI_1", VRID, prio, Duration::from_millis(100)));
    }
    lan.start_all();
    lan.run_for(60 * S);
    assert_eq!(lan.masters(VRID), vec![0]);
    // With 10% loss, three adverts lost in a row happen only rarely: the
    // backups rarely if ever took over.
    let flaps: usize = (1..3)
        .map(|i| {
            lan.records(i, Duration::ZERO)
                .iter()
                .filter(|(_, r)| matches!(r, Record::State { to: State::Master, .. }))
                .count()
        })
        .sum();
    assert!(flaps <= 3, "{flaps} takeovers with 10% loss");
}

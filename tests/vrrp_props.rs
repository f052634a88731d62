//! Property: whatever happens to a segment of VRRP routers (crashes,
//! restarts, graceful shutdowns, cut and healed ports, partitions, tracked
//! scripts flipping priorities, loss and delay), once the network is
//! healthy again there are never two masters for a VRID for longer than
//! the Master_Down_Interval, and the segment settles on exactly one master
//! (the highest priority, ties to the highest address) among the routers
//! that run.

mod support {
    pub mod vlan;
}

use std::time::Duration;

use lvskit::vrrp::{InitialState, Input, SyncGroup, TrackKind, TrackState, TrackedObject, VrrpInstance};
use lvskit::wire::vrrp::Version;
use proptest::prelude::*;
use support::vlan::{Lan, Router, host_v4, v2_config, v3_config};

const VRID: u8 = 7;
/// The second VRID, for hosts running a sync group of VRID and VRID2.
const VRID2: u8 = 8;

#[derive(Debug, Clone)]
enum Chaos {
    Crash(usize),
    Restart(usize),
    Shutdown(usize),
    Cut(usize),
    Heal(usize),
    Partition(usize, usize),
    Unpartition,
    ScriptDown(usize),
    ScriptUp(usize),
}

fn chaos(n: usize) -> impl Strategy<Value = (u64, Chaos)> {
    (
        0u64..30_000,
        prop_oneof![
            (0..n).prop_map(Chaos::Crash),
            (0..n).prop_map(Chaos::Restart),
            (0..n).prop_map(Chaos::Shutdown),
            (0..n).prop_map(Chaos::Cut),
            (0..n).prop_map(Chaos::Heal),
            (0..n, 0..n).prop_map(|(a, b)| Chaos::Partition(a, b)),
            Just(Chaos::Unpartition),
            (0..n).prop_map(Chaos::ScriptDown),
            (0..n).prop_map(Chaos::ScriptUp),
        ],
    )
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    version: Version,
    advert_ms: u64,
    prios: Vec<u8>,
    masters: Vec<bool>,
    weights: Vec<i32>,
    loss: f64,
    delay_ms: u64,
    events: Vec<(u64, Chaos)>,
    /// Each host runs a sync group of two instances instead of one.
    groups: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=4).prop_flat_map(|n| {
        (
            any::<u64>(),
            prop_oneof![Just(Version::V2), Just(Version::V3)],
            prop_oneof![Just(100u64), Just(300), Just(1000)],
            proptest::collection::vec(1u8..=254, n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(-100i32..=100, n),
            0.0f64..0.4,
            0u64..60,
            proptest::collection::vec(chaos(n), 0..14),
            any::<bool>(),
        )
            .prop_map(|(seed, version, advert_ms, prios, masters, weights, loss, delay_ms, events, groups)| {
                Scenario {
                    seed,
                    version,
                    advert_ms: if version == Version::V2 { 1000 } else { advert_ms },
                    prios,
                    masters,
                    weights,
                    loss,
                    delay_ms,
                    events,
                    groups,
                }
            })
    })
}

fn config(s: &Scenario, i: usize, vrid: u8) -> lvskit::vrrp::InstanceConfig {
    let adv = Duration::from_millis(s.advert_ms);
    let c = match s.version {
        Version::V2 => v2_config(&format!("VI_{vrid}"), vrid, s.prios[i]),
        Version::V3 => v3_config(&format!("VI_{vrid}"), vrid, s.prios[i], adv),
    };
    let c = c.track(TrackedObject::new(TrackKind::Script, "chk", s.weights[i]).initial(TrackState::Up));
    if s.masters[i] { c.state(InitialState::Master) } else { c }
}

fn router(s: &Scenario, i: usize) -> Router {
    if s.groups {
        let a = VrrpInstance::new(config(s, i, VRID)).unwrap();
        let b = VrrpInstance::new(
            config(s, i, VRID2).vip("192.0.2.200/24".parse::<lvskit::vrrp::VirtualAddress>().unwrap()),
        )
        .unwrap();
        Router::Group(SyncGroup::new("G", vec![a, b], true).unwrap())
    } else {
        Router::One(Box::new(VrrpInstance::new(config(s, i, VRID)).unwrap()))
    }
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let n = s.prios.len();
    let mut lan = Lan::new(s.seed);
    lan.loss = s.loss;
    lan.delay = (Duration::ZERO, Duration::from_millis(s.delay_ms));
    for i in 0..n {
        lan.add_router(host_v4(i), router(s, i));
    }
    lan.start_all();
    let mut events = s.events.clone();
    events.sort_by_key(|(t, _)| *t);
    for (t, ev) in events {
        lan.run_until(lan.t0 + Duration::from_millis(t));
        match ev {
            Chaos::Crash(i) => lan.crash(i),
            Chaos::Restart(i) => {
                if !lan.nodes[i].alive {
                    lan.restart_router(i, router(s, i));
                    if !lan.nodes[i].port_up {
                        lan.input(i, Input::LinkDown);
                    }
                }
            }
            Chaos::Shutdown(i) => {
                if lan.nodes[i].alive {
                    lan.shutdown(i);
                }
            }
            Chaos::Cut(i) => {
                if lan.nodes[i].alive {
                    lan.cut(i);
                } else {
                    lan.nodes[i].port_up = false;
                }
            }
            Chaos::Heal(i) => {
                if lan.nodes[i].alive {
                    lan.heal(i);
                } else {
                    lan.nodes[i].port_up = true;
                }
            }
            Chaos::Partition(a, b) => {
                if a != b {
                    lan.partition(a, b)
                }
            }
            Chaos::Unpartition => lan.unpartition_all(),
            Chaos::ScriptDown(i) | Chaos::ScriptUp(i) if !lan.nodes[i].alive => {}
            Chaos::ScriptDown(i) => {
                lan.input(i, Input::Track { kind: TrackKind::Script, name: "chk".into(), state: TrackState::Down })
            }
            Chaos::ScriptUp(i) => {
                lan.input(i, Input::Track { kind: TrackKind::Script, name: "chk".into(), state: TrackState::Up })
            }
        }
    }
    lan.run_until(lan.t0 + Duration::from_secs(31));

    // The network becomes healthy: no loss, no partition, every port up.
    lan.loss = 0.0;
    lan.unpartition_all();
    for i in 0..n {
        if !lan.nodes[i].port_up {
            if lan.nodes[i].alive {
                lan.heal(i);
            } else {
                lan.nodes[i].port_up = true;
            }
        }
    }
    let healthy = lan.elapsed();
    let bound = lan
        .nodes
        .iter()
        .flat_map(|node| node.router.instances().into_iter().map(|i| i.master_down_interval()))
        .max()
        .unwrap()
        + Duration::from_millis(s.delay_ms);
    let mut dual_since: Option<Duration> = None;
    let mut worst = Duration::ZERO;
    let until = lan.now + Duration::from_secs(60);
    let vrids: &[u8] = if s.groups { &[VRID, VRID2] } else { &[VRID] };
    lan.run_until_with(until, |l| {
        let now = l.elapsed();
        if vrids.iter().any(|&v| l.masters(v).len() > 1) {
            let since = *dual_since.get_or_insert(now.max(healthy));
            worst = worst.max(now - since);
        } else {
            dual_since = None;
        }
    });
    prop_assert!(worst <= bound, "two masters for {:?} after the network healed (bound {:?})", worst, bound);

    // Settled: for each VRID, exactly one master among the running routers
    // that are not in FAULT (a failed unweighted script), the one with the
    // highest effective priority (ties: highest address); a sync group's
    // members are master on the same host.
    let mut group_master = None;
    for &vrid in vrids {
        let alive: Vec<usize> =
            (0..n).filter(|&i| lan.nodes[i].alive && lan.nodes[i].state(vrid) != lvskit::vrrp::State::Fault).collect();
        let masters = lan.masters(vrid);
        if alive.is_empty() {
            prop_assert!(masters.is_empty());
            continue;
        }
        prop_assert_eq!(masters.len(), 1, "vrid {}: masters {:?} of alive {:?}", vrid, masters, alive);
        let best = alive
            .iter()
            .copied()
            .max_by_key(|&i| (lan.nodes[i].instance(vrid).effective_priority(), lan.nodes[i].addr))
            .unwrap();
        let m = masters[0];
        let pm = lan.nodes[m].instance(vrid).effective_priority();
        let pb = lan.nodes[best].instance(vrid).effective_priority();
        // Preemption makes the best router master unless it could not
        // preempt an equal priority.
        prop_assert!(m == best || pm == pb, "vrid {}: master {} (prio {}) but {} has {}", vrid, m, pm, best, pb);
        prop_assert!(*group_master.get_or_insert(m) == m, "sync group members are master on different hosts");
        // Exactly one running host holds addresses.
        let holders: Vec<usize> = alive.iter().copied().filter(|&i| !lan.nodes[i].vips.is_empty()).collect();
        prop_assert_eq!(holders, vec![m]);
    }
    Ok(())
}

proptest! {
    // 128 cases by default (about a second); PROPTEST_CASES raises it.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_two_masters_longer_than_master_down_once_healthy(s in scenario()) {
        run(&s)?;
    }
}

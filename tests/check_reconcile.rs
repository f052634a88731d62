//! The checker's desired pools applied to an IPVS table: `HealthChecker`
//! output, through `desired_state` (the checker's `DesiredService` is the
//! reconciler's), reconciled onto the in-memory kernel model
//! (`MemoryIpvs`); the table follows servers going down and up, the
//! `inhibit_on_failure` weight 0, and the sorry server coming in and out.

#[path = "check_sim/mod.rs"]
mod sim;

use std::collections::HashSet;
use std::net::SocketAddr;

use lvskit::backend::IpvsBackend;
use lvskit::backend::memory::MemoryIpvs;
use lvskit::backend::reconcile::{self, ReconcileOptions};
use lvskit::check::{CheckerSpec, Failure, ProbeResult, RealServerSpec, SorryServer, VirtualServerSpec};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use sim::{Sim, ms, secs, v4, vip};

fn addr(d: u8) -> SocketAddr {
    SocketAddr::new(v4(d), 80)
}

/// The kernel's table for the one service: (server, weight), sorted.
fn table(ipvs: &mut MemoryIpvs) -> Vec<(SocketAddr, u32)> {
    let services = ipvs.services().unwrap();
    assert_eq!(services.len(), 1);
    let mut t: Vec<_> = services[0].dests.iter().map(|d| (d.config.socket_addr(), d.config.weight)).collect();
    t.sort();
    t
}

fn step(s: &mut Sim, ipvs: &mut MemoryIpvs, down: &[u8]) -> Vec<(SocketAddr, u32)> {
    let down: HashSet<SocketAddr> = down.iter().map(|&d| addr(d)).collect();
    let until = s.t() + secs(3);
    s.run_until(until, &mut |p, _| {
        let dst = p.target.as_ref().unwrap().dst;
        if down.contains(&dst) {
            (ProbeResult::Failure(Failure::ConnectTimeout), ms(100))
        } else {
            (ProbeResult::Success, ms(1))
        }
    });
    reconcile::reconcile(&s.hc.desired_state(), ipvs, &ReconcileOptions::default()).unwrap();
    table(ipvs)
}

#[test]
fn the_kernel_table_follows_the_checker() {
    let tcp = || CheckerSpec::tcp().connect_timeout(ms(500)).retry(0).warmup(ms(0));
    let mut v = VirtualServerSpec::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip(), 80), "wlc"))
        .delay_loop(secs(1));
    v = v.real_server(
        RealServerSpec::new(DestConfig::masq(v4(1), 80).weight(3)).checker(tcp()).inhibit_on_failure(true),
    );
    v = v.real_server(RealServerSpec::new(DestConfig::masq(v4(2), 80).weight(2)).checker(tcp()));
    v = v.real_server(RealServerSpec::new(DestConfig::masq(v4(3), 80).weight(1)).checker(tcp()));
    v.quorum = 3;
    v.sorry_server = Some(SorryServer { dest: DestConfig::masq(v4(99), 80), inhibit: false });
    let mut s = Sim::new(vec![v], 1);
    let mut ipvs = MemoryIpvs::new();

    // Start: every server in, at its weight.
    let all = vec![(addr(1), 3), (addr(2), 2), (addr(3), 1)];
    assert_eq!(step(&mut s, &mut ipvs, &[]), all);
    assert_eq!(ipvs.services().unwrap()[0].config.scheduler, "wlc");
    // .2 down: removed from the table.
    assert_eq!(step(&mut s, &mut ipvs, &[2]), vec![(addr(1), 3), (addr(3), 1)]);
    // .1 down too (inhibit_on_failure): live weight 1 < quorum 3, so the
    // sorry server serves alone; .1 stays at weight 0.
    assert_eq!(step(&mut s, &mut ipvs, &[1, 2]), vec![(addr(1), 0), (addr(99), 1)]);
    // .1 back: weight 4 >= 3, the sorry server leaves.
    assert_eq!(step(&mut s, &mut ipvs, &[2]), vec![(addr(1), 3), (addr(3), 1)]);
    // .2 back: all in again.
    assert_eq!(step(&mut s, &mut ipvs, &[]), all);
    // A reconcile with nothing changed writes nothing.
    let report = reconcile::reconcile(&s.hc.desired_state(), &mut ipvs, &ReconcileOptions::default()).unwrap();
    assert!(report.ops.is_empty(), "{:?}", report.ops);
    assert_eq!(report.unchanged, 1);
    // Shutdown: the service stays, with no server.
    s.hc.shutdown();
    reconcile::reconcile(&s.hc.desired_state(), &mut ipvs, &ReconcileOptions::default()).unwrap();
    assert_eq!(table(&mut ipvs), vec![]);
}

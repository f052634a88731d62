//! Helpers shared by the reconcile tests on the host (`tests/reconcile.rs`)
//! and in the VM (`tests/netlink_kernel.rs`): a backend wrapper that counts
//! calls, random desired states, and the independent count of operations a
//! minimal reconciliation needs.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvskit::backend::{BackendError, BatchReport, DesiredService, DesiredState, IpvsBackend, IpvsOp};
use lvskit::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, DestSnapshot, Family, ForwardMethod, IpvsInfo, Persistence, Protocol,
    ServiceConfig, ServiceFlags, ServiceKey, ServiceSnapshot, Timeouts,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Counts every call made to the backend it wraps: reads, single writes,
/// batches, and the operations inside batches.
#[derive(Debug, Default)]
pub struct Counting<B> {
    pub inner: B,
    pub reads: usize,
    pub writes: usize,
    pub batches: usize,
    pub batch_ops: usize,
}

impl<B> Counting<B> {
    pub fn new(inner: B) -> Self {
        Counting { inner, reads: 0, writes: 0, batches: 0, batch_ops: 0 }
    }

    /// Every write, single or in a batch.
    pub fn all_writes(&self) -> usize {
        self.writes + self.batch_ops
    }

    pub fn reset(&mut self) {
        self.reads = 0;
        self.writes = 0;
        self.batches = 0;
        self.batch_ops = 0;
    }
}

impl<B: IpvsBackend> IpvsBackend for Counting<B> {
    fn add_service(&mut self, s: &ServiceConfig) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.add_service(s)
    }
    fn edit_service(&mut self, s: &ServiceConfig) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.edit_service(s)
    }
    fn del_service(&mut self, k: &ServiceKey) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.del_service(k)
    }
    fn add_dest(&mut self, k: &ServiceKey, d: &DestConfig) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.add_dest(k, d)
    }
    fn edit_dest(&mut self, k: &ServiceKey, d: &DestConfig) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.edit_dest(k, d)
    }
    fn del_dest(&mut self, k: &ServiceKey, a: SocketAddr) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.del_dest(k, a)
    }
    fn service(&mut self, k: &ServiceKey) -> Result<ServiceSnapshot, BackendError> {
        self.reads += 1;
        self.inner.service(k)
    }
    fn services(&mut self) -> Result<Vec<ServiceSnapshot>, BackendError> {
        self.reads += 1;
        self.inner.services()
    }
    fn dests(&mut self, k: &ServiceKey) -> Result<Vec<DestSnapshot>, BackendError> {
        self.reads += 1;
        self.inner.dests(k)
    }
    fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.set_timeouts(t)
    }
    fn timeouts(&mut self) -> Result<Timeouts, BackendError> {
        self.reads += 1;
        self.inner.timeouts()
    }
    fn start_daemon(&mut self, d: &DaemonConfig) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.start_daemon(d)
    }
    fn stop_daemon(&mut self, r: DaemonRole) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.stop_daemon(r)
    }
    fn daemons(&mut self) -> Result<Vec<DaemonConfig>, BackendError> {
        self.reads += 1;
        self.inner.daemons()
    }
    fn info(&mut self) -> Result<IpvsInfo, BackendError> {
        self.reads += 1;
        self.inner.info()
    }
    fn zero(&mut self, k: Option<&ServiceKey>) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.zero(k)
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        self.writes += 1;
        self.inner.flush()
    }
    fn apply(&mut self, ops: &[IpvsOp]) -> BatchReport {
        self.batches += 1;
        self.batch_ops += ops.len();
        self.inner.apply(ops)
    }
}

/// A table's shape: each service's settings and its servers by address
/// (list order and counters left out).
pub type Shape = BTreeMap<ServiceKey, (ServiceConfig, BTreeMap<SocketAddr, DestConfig>)>;

pub fn shape_of_table(services: &[ServiceSnapshot]) -> Shape {
    services
        .iter()
        .map(|s| {
            (s.config.key, (s.config.clone(), s.dests.iter().map(|d| (d.config.socket_addr(), d.config)).collect()))
        })
        .collect()
}

pub fn shape_of_desired(d: &DesiredState) -> Shape {
    d.iter().map(|s| (s.key(), (s.config.clone(), s.dests.iter().map(|d| (d.socket_addr(), *d)).collect()))).collect()
}

/// The number of operations a minimal reconciliation from `from` to `to`
/// needs, counted from the two shapes alone: one per removed service, one
/// per added service and each of its servers, and for kept services one per
/// changed setting, added, removed or changed server.
pub fn minimal_ops(from: &Shape, to: &Shape) -> usize {
    let mut n = 0;
    for (k, (cfg, dests)) in from {
        match to.get(k) {
            None => n += 1,
            Some((cfg2, dests2)) => {
                n += usize::from(cfg != cfg2);
                let a: BTreeSet<_> = dests.keys().collect();
                let b: BTreeSet<_> = dests2.keys().collect();
                n += a.symmetric_difference(&b).count();
                n += a.intersection(&b).filter(|addr| dests[**addr] != dests2[**addr]).count();
            }
        }
    }
    for (k, (_, dests)) in to {
        if !from.contains_key(k) {
            n += 1 + dests.len();
        }
    }
    n
}

/// The services and servers an operation touches.
pub fn touched(op: &IpvsOp) -> (ServiceKey, Option<SocketAddr>) {
    match op {
        IpvsOp::AddService(c) | IpvsOp::EditService(c) => (c.key, None),
        IpvsOp::DelService(k) => (*k, None),
        IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d) => (*k, Some(d.socket_addr())),
        IpvsOp::DelDest(k, a) => (*k, Some(*a)),
        other => panic!("not a table operation: {other:?}"),
    }
}

// ------------------------------------------------------------------ random tables

fn keys() -> Vec<ServiceKey> {
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d));
    vec![
        ServiceKey::addr(Protocol::Tcp, v4(1), 80),
        ServiceKey::addr(Protocol::Tcp, v4(1), 443),
        ServiceKey::addr(Protocol::Udp, v4(1), 53),
        ServiceKey::addr(Protocol::Tcp, v4(2), 80),
        ServiceKey::addr(Protocol::Sctp, v4(3), 9),
        ServiceKey::fwmark(Family::V4, 1),
        ServiceKey::addr(Protocol::Tcp, IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), 80),
        ServiceKey::fwmark(Family::V6, 2),
    ]
}

fn dest_strategy(family: Family) -> impl Strategy<Value = DestConfig> {
    (1u8..=6, prop_oneof![Just(80u16), Just(8080)], 0u32..4, any::<bool>(), 0u32..3).prop_map(
        move |(host, port, weight, masq, thr)| {
            let addr = match family {
                Family::V4 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, host)),
                Family::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, u16::from(host))),
            };
            let forward = if masq { ForwardMethod::Masq } else { ForwardMethod::Route };
            DestConfig::new(addr, port, forward).weight(weight).thresholds(thr * 10, thr * 5)
        },
    )
}

fn service_strategy(key: ServiceKey) -> impl Strategy<Value = DesiredService> {
    (
        prop_oneof![Just("rr"), Just("wlc"), Just("sh"), Just("mh")],
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(dest_strategy(key.family()), 0..5),
    )
        .prop_map(move |(sched, persistent, flag, dests)| {
            let mut c = ServiceConfig::new(key, sched);
            if persistent {
                c = c.persistent(Persistence::new(key.family()));
            }
            if flag {
                c = c.flags(ServiceFlags::SCHED1);
            }
            // Keep one entry per address: the desired list has no duplicates.
            let mut seen = BTreeSet::new();
            let dests = dests.into_iter().filter(|d| seen.insert(d.socket_addr())).collect();
            DesiredService::new(c, dests)
        })
}

/// A random table over a small universe of services and servers, so that
/// two draws overlap and differ in every way.
pub fn desired_strategy() -> impl Strategy<Value = DesiredState> {
    let per_key: Vec<_> = keys().into_iter().map(|k| proptest::option::of(service_strategy(k))).collect();
    per_key.prop_map(|v| v.into_iter().flatten().collect())
}

/// `n` desired states drawn deterministically (for the VM, where proptest's
/// shrinking would be too slow).
pub fn sample_states(n: usize) -> Vec<DesiredState> {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let s = desired_strategy();
    (0..n).map(|_| s.new_tree(&mut runner).expect("a value").current()).collect()
}

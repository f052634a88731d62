//! Reconciliation against the in-memory backend (the same properties run
//! against the kernel in `tests/netlink_kernel.rs`): from any table to any
//! other, exactly the desired table, exactly the minimal number of
//! operations, none for what did not change; quiescing; failures.

mod backend_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use backend_support::{Counting, desired_strategy, minimal_ops, shape_of_desired, shape_of_table, touched};
use lvskit::backend::reconcile::plan;
use lvskit::backend::{
    DesiredService, DesiredState, Errno, IpvsBackend, IpvsOp, MemoryIpvs, ReconcileError, ReconcileOptions, Reconciler,
    reconcile,
};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use proptest::prelude::*;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn web() -> ServiceKey {
    ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), 80)
}

fn rs(d: u8) -> DestConfig {
    DestConfig::masq(v4(198, 51, 100, d), 8080)
}

fn one(dests: Vec<DestConfig>) -> DesiredState {
    [DesiredService::new(ServiceConfig::new(web(), "wlc"), dests)].into_iter().collect()
}

fn build(desired: &DesiredState) -> Counting<MemoryIpvs> {
    let mut b = Counting::new(MemoryIpvs::new());
    reconcile(desired, &mut b, &ReconcileOptions::default()).expect("build");
    b.reset();
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_table_to_any_other_minimally(from in desired_strategy(), to in desired_strategy()) {
        let mut b = build(&from);
        let before = shape_of_table(&b.inner.services().unwrap());
        prop_assert_eq!(&before, &shape_of_desired(&from));
        let report = reconcile(&to, &mut b, &ReconcileOptions::default()).expect("reconcile");
        // Exactly the desired table.
        prop_assert_eq!(shape_of_table(&b.inner.services().unwrap()), shape_of_desired(&to));
        // Exactly the minimal number of operations, in at most one batch.
        let want = minimal_ops(&before, &shape_of_desired(&to));
        prop_assert_eq!(report.ops.len(), want);
        prop_assert_eq!(b.batch_ops, want);
        prop_assert_eq!(b.writes, 0);
        prop_assert!(b.batches <= 1);
        prop_assert_eq!(b.reads, 1);
        // No operation touches a service or server that did not change.
        let to_shape = shape_of_desired(&to);
        for op in &report.ops {
            let (k, addr) = touched(op);
            match addr {
                None => prop_assert!(before.get(&k).map(|s| &s.0) != to_shape.get(&k).map(|s| &s.0), "{op:?}"),
                Some(a) => prop_assert!(
                    before.get(&k).and_then(|s| s.1.get(&a)) != to_shape.get(&k).and_then(|s| s.1.get(&a))
                        || !before.contains_key(&k) || !to_shape.contains_key(&k),
                    "{op:?}"
                ),
            }
        }
        // And a second pass has nothing to do: no write, no batch.
        b.reset();
        let again = reconcile(&to, &mut b, &ReconcileOptions::default()).expect("again");
        prop_assert!(again.ops.is_empty());
        prop_assert_eq!((b.batches, b.all_writes()), (0, 0));
    }

    #[test]
    fn the_incremental_reconciler_agrees(from in desired_strategy(), to in desired_strategy()) {
        let b = build(&from);
        let mut r = Reconciler::new(b, ReconcileOptions::default()).unwrap();
        r.backend().reset();
        let report = r.apply(&to).expect("apply");
        prop_assert_eq!(report.ops.len(), minimal_ops(&shape_of_desired(&from), &shape_of_desired(&to)));
        prop_assert_eq!(r.backend().reads, 0, "no read: the remembered table is used");
        let table: Vec<_> = r.table().cloned().collect();
        prop_assert_eq!(shape_of_table(&table), shape_of_desired(&to));
        prop_assert_eq!(shape_of_table(&r.backend().inner.services().unwrap()), shape_of_desired(&to));
    }

    #[test]
    fn plans_are_pure_and_stable(from in desired_strategy(), to in desired_strategy()) {
        let mut b = build(&from);
        let current = b.inner.services().unwrap();
        let p1 = plan(&current, &to, &ReconcileOptions::default());
        let p2 = plan(&current, &to, &ReconcileOptions::default());
        prop_assert_eq!(p1, p2);
    }
}

#[test]
fn a_weight_change_is_one_edit() {
    let mut b = build(&one(vec![rs(1), rs(2), rs(3)]));
    let report = reconcile(&one(vec![rs(1), rs(2).weight(5), rs(3)]), &mut b, &ReconcileOptions::default()).unwrap();
    assert_eq!(report.ops, vec![IpvsOp::EditDest(web(), rs(2).weight(5))]);
    assert_eq!(report.unchanged, 0);
    assert_eq!(b.batch_ops, 1);
    // The server kept its place in the kernel's list (not deleted and re-added).
    let order: Vec<_> = b.inner.dests(&web()).unwrap().iter().map(|d| d.config.addr).collect();
    assert_eq!(order, vec![v4(198, 51, 100, 3), v4(198, 51, 100, 2), v4(198, 51, 100, 1)]);
}

#[test]
fn a_scheduler_change_edits_the_service_and_keeps_its_servers() {
    let mut b = build(&one(vec![rs(1)]));
    let mut to = one(vec![rs(1)]);
    to.get_mut(&web()).unwrap().config.scheduler = "rr".into();
    let report = reconcile(&to, &mut b, &ReconcileOptions::default()).unwrap();
    assert_eq!(report.ops, vec![IpvsOp::EditService(ServiceConfig::new(web(), "rr"))]);
}

#[test]
fn without_prune_foreign_services_stay() {
    let other = ServiceKey::addr(Protocol::Udp, v4(192, 0, 2, 9), 53);
    let mut b = build(&one(vec![rs(1)]));
    b.inner.add_service(&ServiceConfig::new(other, "rr")).unwrap();
    let opts = ReconcileOptions { prune: false, ..Default::default() };
    let report = reconcile(&one(vec![rs(1)]), &mut b, &opts).unwrap();
    assert!(report.ops.is_empty());
    assert_eq!(report.unchanged, 2);
    assert!(b.inner.service(&other).is_ok());
    let pruned = reconcile(&one(vec![rs(1)]), &mut b, &ReconcileOptions::default()).unwrap();
    assert_eq!(pruned.ops, vec![IpvsOp::DelService(other)]);
}

#[test]
fn quiescing_drains_before_removal() {
    let opts = ReconcileOptions { quiesce: true, ..Default::default() };
    let mut b = build(&one(vec![rs(1), rs(2)]));
    let a1 = rs(1).socket_addr();
    assert!(b.inner.set_conns(&web(), a1, 3, 1, 0));
    // First pass: weight 0, kept.
    let r = reconcile(&one(vec![rs(2)]), &mut b, &opts).unwrap();
    assert_eq!(r.ops, vec![IpvsOp::EditDest(web(), rs(1).weight(0))]);
    assert_eq!(r.draining, vec![(web(), a1)]);
    // Still connections: nothing to do but wait.
    let r = reconcile(&one(vec![rs(2)]), &mut b, &opts).unwrap();
    assert!(r.ops.is_empty());
    assert_eq!(r.draining, vec![(web(), a1)]);
    // Drained: deleted.
    b.inner.set_conns(&web(), a1, 0, 0, 0);
    let r = reconcile(&one(vec![rs(2)]), &mut b, &opts).unwrap();
    assert_eq!(r.ops, vec![IpvsOp::DelDest(web(), a1)]);
    assert!(r.draining.is_empty());

    // A whole service: its servers first, then the service.
    let a2 = rs(2).socket_addr();
    b.inner.set_conns(&web(), a2, 0, 0, 2);
    let r = reconcile(&DesiredState::new(), &mut b, &opts).unwrap();
    assert_eq!(r.ops, vec![IpvsOp::EditDest(web(), rs(2).weight(0))]);
    let r = reconcile(&DesiredState::new(), &mut b, &opts).unwrap();
    assert!(r.ops.is_empty(), "persistence templates still point at it");
    b.inner.set_conns(&web(), a2, 0, 0, 0);
    let r = reconcile(&DesiredState::new(), &mut b, &opts).unwrap();
    assert_eq!(r.ops, vec![IpvsOp::DelService(web())]);
}

#[test]
fn the_reconciler_reads_fresh_counts_before_judging_a_drain() {
    let opts = ReconcileOptions { quiesce: true, ..Default::default() };
    let b = build(&one(vec![rs(1), rs(2)]));
    let mut r = Reconciler::new(b, opts).unwrap();
    let a1 = rs(1).socket_addr();
    r.backend().inner.set_conns(&web(), a1, 1, 0, 0);
    let rep = r.apply(&one(vec![rs(2)])).unwrap();
    assert_eq!(rep.ops, vec![IpvsOp::EditDest(web(), rs(1).weight(0))]);
    assert!(r.apply(&one(vec![rs(2)])).unwrap().ops.is_empty());
    r.backend().inner.set_conns(&web(), a1, 0, 0, 0);
    assert_eq!(r.apply(&one(vec![rs(2)])).unwrap().ops, vec![IpvsOp::DelDest(web(), a1)]);
}

#[test]
fn one_service_changes_cost_only_their_own_operations() {
    let many: DesiredState = (1..=200u16)
        .map(|p| {
            let key = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), p);
            DesiredService::new(ServiceConfig::new(key, "wlc"), vec![rs(1), rs(2)])
        })
        .collect();
    let b = build(&many);
    let mut r = Reconciler::new(b, ReconcileOptions::default()).unwrap();
    r.backend().reset();
    let key = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 1), 7);
    let rep =
        r.apply_service(&DesiredService::new(ServiceConfig::new(key, "wlc"), vec![rs(1), rs(2).weight(9)])).unwrap();
    assert_eq!(rep.ops, vec![IpvsOp::EditDest(key, rs(2).weight(9))]);
    assert_eq!((r.backend().reads, r.backend().batch_ops, r.backend().batches), (0, 1, 1));
    let rep = r.remove_service(&key).unwrap();
    assert_eq!(rep.ops, vec![IpvsOp::DelService(key)]);
    assert!(r.remove_service(&key).unwrap().ops.is_empty());
}

#[test]
fn a_refused_operation_is_named_and_the_rest_applied() {
    let mut b = build(&one(vec![rs(1)]));
    let bad = ServiceKey::addr(Protocol::Tcp, v4(192, 0, 2, 2), 80);
    let mut to = one(vec![rs(1), rs(2)]);
    to.insert(DesiredService::new(ServiceConfig::new(bad, "twos"), vec![rs(3)]));
    let err = reconcile(&to, &mut b, &ReconcileOptions::default()).unwrap_err();
    let (op, e) = err.first_failure().expect("a failure");
    assert_eq!(op, &IpvsOp::AddService(ServiceConfig::new(bad, "twos")));
    assert_eq!(e.errno(), Some(Errno::ENOENT));
    assert_eq!(
        err.to_string(),
        "operation 2 of 3 failed: add service TCP 192.0.2.2:80: ENOENT (no such entry) (1 applied, 2 refused)"
    );
    let ReconcileError::Apply { batch, .. } = &err else { panic!() };
    assert_eq!(batch.failures().map(|(i, _)| i).collect::<Vec<_>>(), vec![1, 2], "its server is refused too (ESRCH)");
    // What was applied is there and consistent: web got its new server.
    assert_eq!(b.inner.dests(&web()).unwrap().len(), 2);
    assert!(b.inner.service(&bad).is_err());

    // The reconciler re-reads after a failure, so its table stays true.
    let mut r = Reconciler::new(build(&one(vec![rs(1)])), ReconcileOptions::default()).unwrap();
    assert!(r.apply(&to).is_err());
    let table: Vec<_> = r.table().cloned().collect();
    assert_eq!(shape_of_table(&table), shape_of_table(&r.backend().inner.services().unwrap()));
}

#[test]
fn desired_state_from_a_table_reproduces_its_list_order() {
    let b = build(&one(vec![rs(1), rs(2), rs(3)]));
    let mut m = b.inner;
    let table = m.services().unwrap();
    let desired = DesiredState::from_snapshots(&table);
    let mut fresh = MemoryIpvs::new();
    reconcile(&desired, &mut fresh, &ReconcileOptions::default()).unwrap();
    assert_eq!(fresh.services().unwrap(), table);
    let addrs: Vec<SocketAddr> = table[0].dests.iter().map(|d| d.config.socket_addr()).collect();
    assert_eq!(addrs[0], rs(3).socket_addr());
}

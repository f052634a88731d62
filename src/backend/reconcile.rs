//! Bring an IPVS table to a desired state with the fewest operations:
//! what keepalived does on reload and kube-proxy on every sync, without ever
//! flushing what did not change.
//!
//! * [`plan`] is pure: the current table and the desired state in, the
//!   minimal list of [`IpvsOp`]s out. A service whose settings differ is
//!   edited (its real servers and connections stay); a real server whose
//!   weight, thresholds or forwarding differ is edited, never deleted and
//!   re-added; an unchanged service or server gets no operation at all.
//! * [`reconcile`] reads the table, plans, and applies the plan as one
//!   batch ([`IpvsBackend::apply`]).
//! * [`Reconciler`] keeps the table it last read or wrote, so that a change
//!   to one service ([`Reconciler::apply_service`]) costs its own operations
//!   and nothing else: no read of 10 000 services to move one weight.
//!
//! With [`ReconcileOptions::quiesce`], a real server that is no longer
//! wanted is first set to weight 0 (it keeps its connections and gets no new
//! ones) and deleted on a later pass, once it has no connection left, as
//! kube-proxy's graceful termination does; a service that is no longer
//! wanted is deleted once all its servers are drained.
//!
//! New real servers are added in the order given; the kernel links each at
//! the head of the list, so the table lists them in reverse, as it does for
//! keepalived's and `ipvsadm-restore`'s additions. Reconciling never
//! reorders existing servers (that would need a delete and re-add).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use super::{BackendError, BatchReport, IpvsBackend, IpvsOp, OpOutcome};
use crate::ipvs::{DestConfig, DestSnapshot, ServiceConfig, ServiceKey, ServiceSnapshot};

/// A service as it should be: its settings and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// Settings.
    pub config: ServiceConfig,
    /// Real servers, in the order to add them.
    pub dests: Vec<DestConfig>,
}

impl DesiredService {
    /// A service with real servers.
    pub fn new(config: ServiceConfig, dests: Vec<DestConfig>) -> Self {
        DesiredService { config, dests }
    }

    /// The service's key.
    pub fn key(&self) -> ServiceKey {
        self.config.key
    }
}

/// The whole table as it should be, keyed by service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    services: BTreeMap<ServiceKey, DesiredService>,
}

impl DesiredState {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a service; returns the one it replaced.
    pub fn insert(&mut self, service: DesiredService) -> Option<DesiredService> {
        self.services.insert(service.key(), service)
    }

    /// Removes a service.
    pub fn remove(&mut self, key: &ServiceKey) -> Option<DesiredService> {
        self.services.remove(key)
    }

    /// One service.
    pub fn get(&self, key: &ServiceKey) -> Option<&DesiredService> {
        self.services.get(key)
    }

    /// One service, to change in place.
    pub fn get_mut(&mut self, key: &ServiceKey) -> Option<&mut DesiredService> {
        self.services.get_mut(key)
    }

    /// The services, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = &DesiredService> {
        self.services.values()
    }

    /// How many services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether there is no service.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The state a table is in (its services and servers, without counters).
    pub fn from_snapshots(services: &[ServiceSnapshot]) -> Self {
        services
            .iter()
            .map(|s| DesiredService {
                config: s.config.clone(),
                dests: s.dests.iter().rev().map(|d| d.config).collect(),
            })
            .collect()
    }
}

impl FromIterator<DesiredService> for DesiredState {
    fn from_iter<I: IntoIterator<Item = DesiredService>>(iter: I) -> Self {
        DesiredState { services: iter.into_iter().map(|s| (s.key(), s)).collect() }
    }
}

/// How to reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Delete services that the desired state does not have (on by
    /// default). Off, services not in the desired state are left alone, for
    /// a controller that shares the table with others.
    pub prune: bool,
    /// Quiesce before removal: a real server to remove goes to weight 0 and
    /// is deleted only once it has no active, inactive or persistent
    /// connection, on a later pass (off by default).
    pub quiesce: bool,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions { prune: true, quiesce: false }
    }
}

/// What a reconciliation decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The operations, in the order to apply them.
    pub ops: Vec<IpvsOp>,
    /// Real servers held at weight 0 until their connections end (with
    /// [`ReconcileOptions::quiesce`]).
    pub draining: Vec<(ServiceKey, SocketAddr)>,
    /// Services that needed no operation.
    pub unchanged: usize,
}

fn conns(d: &DestSnapshot) -> u64 {
    u64::from(d.active_conns) + u64::from(d.inactive_conns) + u64::from(d.persistent_conns)
}

/// Plans the removal of one real server.
fn remove_dest(key: ServiceKey, d: &DestSnapshot, opts: &ReconcileOptions, plan: &mut Plan) {
    let addr = d.config.socket_addr();
    if !opts.quiesce {
        plan.ops.push(IpvsOp::DelDest(key, addr));
    } else if d.config.weight != 0 {
        plan.ops.push(IpvsOp::EditDest(key, d.config.weight(0)));
        plan.draining.push((key, addr));
    } else if conns(d) > 0 {
        plan.draining.push((key, addr));
    } else {
        plan.ops.push(IpvsOp::DelDest(key, addr));
    }
}

/// Plans one service present in the table: `desired` is `None` when it is
/// no longer wanted.
fn plan_existing(cur: &ServiceSnapshot, desired: Option<&DesiredService>, opts: &ReconcileOptions, plan: &mut Plan) {
    let key = cur.config.key;
    let before = plan.ops.len();
    let Some(want) = desired else {
        if !opts.quiesce || cur.dests.is_empty() {
            plan.ops.push(IpvsOp::DelService(key));
            return;
        }
        let drained = cur.dests.iter().all(|d| d.config.weight == 0 && conns(d) == 0);
        if drained {
            plan.ops.push(IpvsOp::DelService(key));
        } else {
            for d in &cur.dests {
                remove_dest(key, d, opts, plan);
            }
            // A server at weight 0 with no connection left is not deleted
            // on its own: the service goes as a whole once all are drained.
            let tail: Vec<IpvsOp> = plan.ops.drain(before..).filter(|op| !matches!(op, IpvsOp::DelDest(..))).collect();
            plan.ops.extend(tail);
        }
        return;
    };
    if cur.config != want.config {
        plan.ops.push(IpvsOp::EditService(want.config.clone()));
    }
    let wanted = Lookup::new(&want.dests, |d: &DestConfig| d.socket_addr());
    let current = Lookup::new(&cur.dests, |d: &DestSnapshot| d.config.socket_addr());
    // Additions and edits first, removals last, so that the service never
    // goes through an empty list. With duplicates in the desired list, the
    // last entry for an address wins, at the place of the first.
    for (i, d) in want.dests.iter().enumerate() {
        let addr = d.socket_addr();
        if wanted.first_index(addr) != Some(i) {
            continue;
        }
        let d = wanted.last(addr).unwrap_or(d);
        match current.last(addr) {
            None => plan.ops.push(IpvsOp::AddDest(key, *d)),
            Some(c) if c.config != *d => plan.ops.push(IpvsOp::EditDest(key, *d)),
            Some(_) => {}
        }
    }
    for d in &cur.dests {
        if wanted.last(d.config.socket_addr()).is_none() {
            remove_dest(key, d, opts, plan);
        }
    }
    if plan.ops.len() == before {
        plan.unchanged += 1;
    }
}

/// Finds list entries by address: a linear scan for the short lists real
/// servers come in (no allocation), a map beyond 16 entries.
enum Lookup<'a, T> {
    Scan(&'a [T], fn(&T) -> SocketAddr),
    Map(BTreeMap<SocketAddr, (usize, usize)>, &'a [T]),
}

impl<'a, T> Lookup<'a, T> {
    fn new(items: &'a [T], addr: fn(&T) -> SocketAddr) -> Self {
        if items.len() <= 16 {
            return Lookup::Scan(items, addr);
        }
        let mut map: BTreeMap<SocketAddr, (usize, usize)> = BTreeMap::new();
        for (i, it) in items.iter().enumerate() {
            map.entry(addr(it)).and_modify(|e| e.1 = i).or_insert((i, i));
        }
        Lookup::Map(map, items)
    }

    /// The index of the first entry for `a`.
    fn first_index(&self, a: SocketAddr) -> Option<usize> {
        match self {
            Lookup::Scan(items, addr) => items.iter().position(|it| addr(it) == a),
            Lookup::Map(map, _) => map.get(&a).map(|e| e.0),
        }
    }

    /// The last entry for `a`.
    fn last(&self, a: SocketAddr) -> Option<&'a T> {
        match self {
            Lookup::Scan(items, addr) => items.iter().rev().find(|it| addr(it) == a),
            Lookup::Map(map, items) => map.get(&a).map(|e| &items[e.1]),
        }
    }
}

fn plan_new(want: &DesiredService, plan: &mut Plan) {
    let key = want.key();
    plan.ops.push(IpvsOp::AddService(want.config.clone()));
    let wanted = Lookup::new(&want.dests, |d: &DestConfig| d.socket_addr());
    for (i, d) in want.dests.iter().enumerate() {
        let addr = d.socket_addr();
        if wanted.first_index(addr) == Some(i) {
            plan.ops.push(IpvsOp::AddDest(key, *wanted.last(addr).unwrap_or(d)));
        }
    }
}

/// The minimal operations that turn `current` into `desired` (see the
/// module doc). Removed services come first, then changes to kept
/// services, then new services, each followed by its real servers. Pure and
/// deterministic; one merge of the two key-sorted lists, O(services +
/// servers), no allocation per unchanged service.
pub fn plan(current: &[ServiceSnapshot], desired: &DesiredState, opts: &ReconcileOptions) -> Plan {
    let mut cur: Vec<&ServiceSnapshot> = current.iter().collect();
    if !cur.is_sorted_by_key(|s| s.config.key) {
        cur.sort_by_key(|s| s.config.key);
    }
    plan_sorted(cur, desired, opts)
}

/// [`plan`] over a current table already sorted by key.
fn plan_sorted(cur: Vec<&ServiceSnapshot>, desired: &DesiredState, opts: &ReconcileOptions) -> Plan {
    let mut removed = Plan::default();
    let mut kept = Plan::default();
    let mut added = Plan::default();
    let mut want = desired.services.values().peekable();
    let mut have = cur.into_iter().peekable();
    loop {
        let order = match (have.peek(), want.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(c), Some(w)) => c.config.key.cmp(&w.key()),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some(c) = have.next() {
                    if opts.prune {
                        plan_existing(c, None, opts, &mut removed);
                    } else {
                        kept.unchanged += 1;
                    }
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some(w) = want.next() {
                    plan_new(w, &mut added);
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some(c), Some(w)) = (have.next(), want.next()) {
                    plan_existing(c, Some(w), opts, &mut kept);
                }
            }
        }
    }
    let mut plan = removed;
    plan.ops.extend(kept.ops);
    plan.ops.extend(added.ops);
    plan.draining.extend(kept.draining);
    plan.unchanged += kept.unchanged;
    plan
}

/// What a reconciliation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// The operations applied, in order.
    pub ops: Vec<IpvsOp>,
    /// Real servers held at weight 0 until their connections end.
    pub draining: Vec<(ServiceKey, SocketAddr)>,
    /// Services that needed no operation.
    pub unchanged: usize,
}

impl ReconcileReport {
    fn from_plan(plan: Plan) -> Self {
        ReconcileReport { ops: plan.ops, draining: plan.draining, unchanged: plan.unchanged }
    }
}

/// Why a reconciliation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The current table could not be read; nothing was changed.
    #[error("reading the current table: {0}")]
    Read(BackendError),
    /// Some operations of the plan were refused or their fate is unknown.
    /// Every other operation was applied (see [`BatchReport`]), so the
    /// table holds exactly their effect and a fresh read shows it.
    #[error("{}", describe_apply(ops, batch))]
    Apply {
        /// The planned operations, in order.
        ops: Vec<IpvsOp>,
        /// The outcome of each.
        batch: Box<BatchReport>,
    },
}

fn describe_apply(ops: &[IpvsOp], batch: &BatchReport) -> String {
    let failed = batch.failures().count();
    match (batch.first_failure(), &batch.transport) {
        (_, Some(e)) => format!("applying {} operations: {e} ({} applied)", ops.len(), batch.applied()),
        (Some((i, e)), None) => {
            format!("operation {} of {} failed: {e} ({} applied, {failed} refused)", i + 1, ops.len(), batch.applied())
        }
        (None, None) => format!("applying {} operations: no failure recorded", ops.len()),
    }
}

impl ReconcileError {
    /// The first refused operation and its error, if any.
    pub fn first_failure(&self) -> Option<(&IpvsOp, &BackendError)> {
        match self {
            ReconcileError::Read(_) => None,
            ReconcileError::Apply { ops, batch } => batch.first_failure().map(|(i, e)| (&ops[i], e)),
        }
    }
}

/// Reads the table, plans (see [`plan`]) and applies the plan as one batch.
/// Makes no write at all when nothing differs.
pub fn reconcile<B: IpvsBackend + ?Sized>(
    desired: &DesiredState,
    backend: &mut B,
    opts: &ReconcileOptions,
) -> Result<ReconcileReport, ReconcileError> {
    let current = backend.services().map_err(ReconcileError::Read)?;
    let plan = plan(&current, desired, opts);
    apply_plan(backend, plan)
}

fn apply_plan<B: IpvsBackend + ?Sized>(backend: &mut B, plan: Plan) -> Result<ReconcileReport, ReconcileError> {
    if plan.ops.is_empty() {
        return Ok(ReconcileReport::from_plan(plan));
    }
    let batch = backend.apply(&plan.ops);
    if batch.is_success() {
        Ok(ReconcileReport::from_plan(plan))
    } else {
        Err(ReconcileError::Apply { ops: plan.ops, batch: Box::new(batch) })
    }
}

/// A reconciler that remembers the table it last read or wrote, so that a
/// change costs only its own operations (see the module doc).
///
/// The remembered table is right as long as nobody else changes the
/// kernel's; [`refresh`](Self::refresh) reads it again, and a failed
/// application refreshes by itself. With [`ReconcileOptions::quiesce`], the
/// connection counts that decide whether a server is drained are read fresh
/// for the services concerned.
pub struct Reconciler<B: IpvsBackend> {
    backend: B,
    opts: ReconcileOptions,
    table: BTreeMap<ServiceKey, ServiceSnapshot>,
}

impl<B: IpvsBackend + fmt::Debug> fmt::Debug for Reconciler<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconciler")
            .field("backend", &self.backend)
            .field("opts", &self.opts)
            .field("services", &self.table.len())
            .finish()
    }
}

impl<B: IpvsBackend> Reconciler<B> {
    /// Reads the backend's table once.
    pub fn new(mut backend: B, opts: ReconcileOptions) -> Result<Self, BackendError> {
        let table = backend.services()?.into_iter().map(|s| (s.config.key, s)).collect();
        Ok(Reconciler { backend, opts, table })
    }

    /// The backend.
    pub fn backend(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Gives the backend back.
    pub fn into_inner(self) -> B {
        self.backend
    }

    /// The table as last read or written, sorted by key.
    pub fn table(&self) -> impl Iterator<Item = &ServiceSnapshot> {
        self.table.values()
    }

    /// Reads the whole table again.
    pub fn refresh(&mut self) -> Result<(), BackendError> {
        self.table = self.backend.services()?.into_iter().map(|s| (s.config.key, s)).collect();
        Ok(())
    }

    /// Re-reads the services whose servers a quiescing plan would judge.
    fn refresh_for_quiesce(&mut self, keys: &[ServiceKey]) -> Result<(), BackendError> {
        for key in keys {
            match self.backend.service(key) {
                Ok(s) => {
                    self.table.insert(*key, s);
                }
                Err(e) if e.is_not_found() => {
                    self.table.remove(key);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Brings the table to `desired`, diffing against the remembered table.
    pub fn apply(&mut self, desired: &DesiredState) -> Result<ReconcileReport, ReconcileError> {
        if self.opts.quiesce {
            let judged: Vec<ServiceKey> = self
                .table
                .values()
                .filter(|s| match desired.get(&s.config.key) {
                    None => self.opts.prune,
                    Some(want) => {
                        s.dests.iter().any(|d| !want.dests.iter().any(|w| w.socket_addr() == d.config.socket_addr()))
                    }
                })
                .map(|s| s.config.key)
                .collect();
            self.refresh_for_quiesce(&judged).map_err(ReconcileError::Read)?;
        }
        let plan = plan_sorted(self.table.values().collect(), desired, &self.opts);
        self.run(plan)
    }

    /// Brings one service to `desired`, leaving every other alone: its own
    /// operations only.
    pub fn apply_service(&mut self, desired: &DesiredService) -> Result<ReconcileReport, ReconcileError> {
        let key = desired.key();
        if self.opts.quiesce && self.table.contains_key(&key) {
            self.refresh_for_quiesce(&[key]).map_err(ReconcileError::Read)?;
        }
        let mut plan = Plan::default();
        match self.table.get(&key) {
            Some(cur) => plan_existing(cur, Some(desired), &self.opts, &mut plan),
            None => plan_new(desired, &mut plan),
        }
        self.run(plan)
    }

    /// Removes one service (quiescing its servers first with
    /// [`ReconcileOptions::quiesce`]).
    pub fn remove_service(&mut self, key: &ServiceKey) -> Result<ReconcileReport, ReconcileError> {
        if self.opts.quiesce && self.table.contains_key(key) {
            self.refresh_for_quiesce(&[*key]).map_err(ReconcileError::Read)?;
        }
        let mut plan = Plan::default();
        if let Some(cur) = self.table.get(key) {
            plan_existing(cur, None, &self.opts, &mut plan);
        }
        self.run(plan)
    }

    fn run(&mut self, plan: Plan) -> Result<ReconcileReport, ReconcileError> {
        let ops = plan.ops.clone();
        match apply_plan(&mut self.backend, plan) {
            Ok(report) => {
                for op in &ops {
                    remember(&mut self.table, op);
                }
                Ok(report)
            }
            Err(e) => {
                // What was applied is known per operation, but the table is
                // re-read so that nothing is assumed.
                if let ReconcileError::Apply { ops, batch } = &e {
                    for (op, outcome) in ops.iter().zip(&batch.outcomes) {
                        if *outcome == OpOutcome::Applied {
                            remember(&mut self.table, op);
                        }
                    }
                }
                let _ = self.refresh();
                Err(e)
            }
        }
    }
}

/// Applies an operation's effect to a remembered table.
fn remember(table: &mut BTreeMap<ServiceKey, ServiceSnapshot>, op: &IpvsOp) {
    match op {
        IpvsOp::AddService(c) => {
            table.insert(c.key, ServiceSnapshot::idle(c.clone(), Vec::new()));
        }
        IpvsOp::EditService(c) => {
            if let Some(s) = table.get_mut(&c.key) {
                s.config = c.clone();
            }
        }
        IpvsOp::DelService(k) => {
            table.remove(k);
        }
        IpvsOp::AddDest(k, d) => {
            if let Some(s) = table.get_mut(k) {
                s.dests.insert(0, DestSnapshot::idle(*d));
            }
        }
        IpvsOp::EditDest(k, d) => {
            if let Some(s) = table.get_mut(k) {
                if let Some(x) = s.dests.iter_mut().find(|x| x.config.socket_addr() == d.socket_addr()) {
                    x.config = *d;
                }
            }
        }
        IpvsOp::DelDest(k, a) => {
            if let Some(s) = table.get_mut(k) {
                s.dests.retain(|x| x.config.socket_addr() != *a);
            }
        }
        IpvsOp::Flush => table.clear(),
        IpvsOp::SetTimeouts(_) | IpvsOp::StartDaemon(_) | IpvsOp::StopDaemon(_) | IpvsOp::Zero(_) => {}
    }
}

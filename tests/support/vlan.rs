//! A virtual Ethernet segment of VRRP routers on virtual time: the test
//! harness for `VrrpInstance` and `SyncGroup` (quinn's `Pair::drive`,
//! str0m's `progress`).
//!
//! Every router's adverts are encoded to bytes with `Advert::emit`, carried
//! with a seeded random delay and loss, and decoded by the receivers through
//! `handle_advert`, exactly as a driver would. Time jumps from one event to
//! the next (the earliest `poll_timeout` or delivery), so a 10-minute
//! scenario runs in milliseconds and every run with the same seed is the
//! same. A router can crash (SIGKILL: silent, keeps its VIPs), shut down
//! (SIGTERM), have its switch port cut (its instances see `LinkDown`, as
//! keepalived does on NO-CARRIER) and healed, and routers can be partitioned
//! from each other.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use lvskit::vrrp::{Action, Event, Input, InstanceConfig, RxMeta, State, SyncGroup, Transmit, VrrpInstance};
use lvskit::wire::vrrp as wire;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// One host's VRRP side: a single instance or a sync group.
#[derive(Debug)]
pub enum Router {
    One(Box<VrrpInstance>),
    Group(SyncGroup),
}

impl Router {
    pub fn instances(&self) -> Vec<&VrrpInstance> {
        match self {
            Router::One(i) => vec![&**i],
            Router::Group(g) => g.members().iter().collect(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Router::One(i) => i.poll_timeout(),
            Router::Group(g) => g.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Router::One(i) => i.handle_timeout(now),
            Router::Group(g) => g.handle_timeout(now),
        }
    }

    /// Hands an advert to the instance with its VRID and family (keepalived's
    /// dispatcher looks instances up by VRID on the socket).
    fn deliver(&mut self, now: Instant, meta: RxMeta, bytes: &[u8]) {
        let Some(&vrid) = bytes.get(1) else { return };
        match self {
            Router::One(i) => {
                if i.vrid() == vrid && i.family() == lvskit::wire::Family::of(meta.src) {
                    i.handle_advert(now, meta, bytes)
                }
            }
            Router::Group(g) => {
                if let Some(m) = g.member_for(vrid, meta.src) {
                    g.handle_advert(now, m, meta, bytes)
                }
            }
        }
    }

    pub fn input(&mut self, now: Instant, input: Input) {
        match self {
            Router::One(i) => i.handle_input(now, input),
            Router::Group(g) => match input {
                Input::LinkUp | Input::LinkDown | Input::InterfaceAddress(_) => {
                    for m in 0..g.members().len() {
                        g.handle_member_input(now, m, input.clone());
                    }
                }
                other => g.handle_input(now, other),
            },
        }
    }

    /// Drains the outputs in the order a driver should: actions, then
    /// packets, then events (with the VRID they concern).
    fn drain(&mut self) -> (Vec<Action>, Vec<Transmit>, Vec<(u8, Event)>) {
        let (mut a, mut t, mut e) = (Vec::new(), Vec::new(), Vec::new());
        match self {
            Router::One(i) => {
                while let Some(x) = i.poll_action() {
                    a.push(x);
                }
                while let Some(x) = i.poll_transmit() {
                    t.push(x);
                }
                while let Some(x) = i.poll_event() {
                    e.push((i.vrid(), x));
                }
            }
            Router::Group(g) => {
                while let Some((_, x)) = g.poll_action() {
                    a.push(x);
                }
                while let Some((_, x)) = g.poll_transmit() {
                    t.push(x);
                }
                while let Some((m, x)) = g.poll_event() {
                    e.push((g.members()[m].vrid(), x));
                }
                while g.poll_group_event().is_some() {}
            }
        }
        (a, t, e)
    }
}

/// Something that happened, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A state change of an instance.
    State { vrid: u8, from: State, to: State },
    /// An advert sent.
    Advert { vrid: u8, priority: u8, dst: IpAddr },
    /// A gratuitous ARP or NA sent.
    Garp(IpAddr),
    /// An address added or removed.
    Vip { addr: IpAddr, added: bool },
    /// Any other event.
    Other(Event),
}

#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub addr: IpAddr,
    pub router: Router,
    /// Running (false after a crash or shutdown).
    pub alive: bool,
    /// Its switch port carries traffic.
    pub port_up: bool,
    /// The addresses the host holds, from the actions.
    pub vips: BTreeSet<IpAddr>,
}

impl Node {
    /// The state of the instance with this VRID.
    pub fn state(&self, vrid: u8) -> State {
        self.router.instances().iter().find(|i| i.vrid() == vrid).map_or(State::Init, |i| i.state())
    }

    pub fn instance(&self, vrid: u8) -> &VrrpInstance {
        self.router.instances().into_iter().find(|i| i.vrid() == vrid).expect("no such VRID")
    }
}

#[derive(Debug)]
struct Delivery {
    to: usize,
    meta: RxMeta,
    bytes: Vec<u8>,
}

/// The segment.
#[derive(Debug)]
pub struct Lan {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    rng: StdRng,
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Each frame's delay is uniform in this range.
    pub delay: (Duration, Duration),
    in_flight: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    blocked: HashSet<(usize, usize)>,
    /// Everything that happened: (time since t0, node, what).
    pub log: Vec<(Duration, usize, Record)>,
    /// Per-step check (called after every step with the lan).
    pub steps: u64,
}

/// The address of host `i` (0-based): 192.0.2.(11 + i), as netlab numbers them.
pub fn host_v4(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11 + i as u8))
}

/// The link-local address of host `i`.
pub fn host_v6(i: usize) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x11 + i as u16))
}

impl Lan {
    pub fn new(seed: u64) -> Self {
        let t0 = Instant::now();
        Lan {
            t0,
            now: t0,
            nodes: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            loss: 0.0,
            delay: (Duration::ZERO, Duration::ZERO),
            in_flight: BTreeMap::new(),
            seq: 0,
            blocked: HashSet::new(),
            log: Vec::new(),
            steps: 0,
        }
    }

    /// Adds a host with one instance (not started).
    pub fn add(&mut self, addr: IpAddr, config: InstanceConfig) -> usize {
        let inst = VrrpInstance::new(config).expect("valid config");
        self.add_router(addr, Router::One(Box::new(inst)))
    }

    /// Adds a host with any router (not started).
    pub fn add_router(&mut self, addr: IpAddr, mut router: Router) -> usize {
        let now = self.now;
        router.input(now, Input::InterfaceAddress(Some(addr)));
        let i = self.nodes.len();
        self.nodes.push(Node {
            name: format!("h{}", i + 1),
            addr,
            router,
            alive: true,
            port_up: true,
            vips: BTreeSet::new(),
        });
        self.drain(i);
        i
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Starts host `i`.
    pub fn start(&mut self, i: usize) {
        self.nodes[i].alive = true;
        let now = self.now;
        self.nodes[i].router.input(now, Input::Startup);
        self.drain(i);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Any input to host `i`.
    pub fn input(&mut self, i: usize, input: Input) {
        let now = self.now;
        self.nodes[i].router.input(now, input);
        self.drain(i);
    }

    /// SIGKILL: the host stops dead; its VIPs stay where they are.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
    }

    /// Replaces a crashed host's router with a fresh one (a restart) and
    /// starts it. The host's addresses are what a restarted keepalived
    /// finds: it removes nothing it did not add itself.
    pub fn restart(&mut self, i: usize, config: InstanceConfig) {
        let mut router = Router::One(Box::new(VrrpInstance::new(config).expect("valid config")));
        router.input(self.now, Input::InterfaceAddress(Some(self.nodes[i].addr)));
        self.nodes[i].router = router;
        self.nodes[i].vips.clear();
        self.start(i);
    }

    /// Like [`restart`](Self::restart) with any router.
    pub fn restart_router(&mut self, i: usize, mut router: Router) {
        router.input(self.now, Input::InterfaceAddress(Some(self.nodes[i].addr)));
        self.nodes[i].router = router;
        self.nodes[i].vips.clear();
        self.start(i);
    }

    /// SIGTERM: priority 0 advert and VIPs released, then silence.
    pub fn shutdown(&mut self, i: usize) {
        self.input(i, Input::Shutdown);
        self.nodes[i].alive = false;
    }

    /// Takes host `i`'s switch port down (`netlab cut`).
    pub fn cut(&mut self, i: usize) {
        self.nodes[i].port_up = false;
        self.input(i, Input::LinkDown);
    }

    /// Brings it back (`netlab heal`).
    pub fn heal(&mut self, i: usize) {
        self.nodes[i].port_up = true;
        self.input(i, Input::LinkUp);
    }

    /// Frames between `a` and `b` are dropped both ways (while their ports
    /// stay up: a split brain).
    pub fn partition(&mut self, a: usize, b: usize) {
        self.blocked.insert((a, b));
        self.blocked.insert((b, a));
    }

    pub fn unpartition_all(&mut self) {
        self.blocked.clear();
    }

    fn reaches(&self, from: usize, to: usize) -> bool {
        from != to
            && self.nodes[from].port_up
            && self.nodes[to].port_up
            && self.nodes[to].alive
            && !self.blocked.contains(&(from, to))
    }

    /// Drains host `i`'s outputs: actions update its VIP set, adverts go on
    /// the wire, events go to the log.
    fn drain(&mut self, i: usize) {
        let (actions, transmits, events) = self.nodes[i].router.drain();
        let t = self.elapsed();
        for a in actions {
            match a {
                Action::AddAddress(v) => {
                    self.nodes[i].vips.insert(v.ip());
                    self.log.push((t, i, Record::Vip { addr: v.ip(), added: true }));
                }
                Action::RemoveAddress(v) => {
                    self.nodes[i].vips.remove(&v.ip());
                    self.log.push((t, i, Record::Vip { addr: v.ip(), added: false }));
                }
                Action::BlockTraffic(_) | Action::UnblockTraffic(_) => {}
            }
        }
        for tx in transmits {
            match tx {
                Transmit::Advert(adv) => {
                    self.log.push((t, i, Record::Advert { vrid: adv.vrid, priority: adv.priority, dst: adv.dst }));
                    let mut buf = vec![0u8; adv.buffer_len()];
                    adv.emit(&mut buf).expect("advert encodes");
                    let meta = RxMeta { src: adv.src, dst: adv.dst, ttl: adv.hop_limit.or(Some(64)) };
                    let targets: Vec<usize> = if adv.dst.is_multicast() {
                        (0..self.nodes.len()).collect()
                    } else {
                        self.nodes.iter().position(|n| n.addr == adv.dst).into_iter().collect()
                    };
                    for to in targets {
                        if !self.reaches(i, to) || (self.loss > 0.0 && self.rng.random_bool(self.loss)) {
                            continue;
                        }
                        let (lo, hi) = self.delay;
                        let d = if hi > lo {
                            lo + Duration::from_nanos(self.rng.random_range(0..(hi - lo).as_nanos() as u64))
                        } else {
                            lo
                        };
                        self.seq += 1;
                        self.in_flight.insert((self.now + d, self.seq), Delivery { to, meta, bytes: buf.clone() });
                    }
                }
                Transmit::GratuitousArp(g) => self.log.push((t, i, Record::Garp(g.addr.into()))),
                Transmit::UnsolicitedNa(n) => self.log.push((t, i, Record::Garp(n.addr.into()))),
            }
        }
        for (vrid, e) in events {
            let rec = match e {
                Event::StateChanged { from, to, .. } => Record::State { vrid, from, to },
                other => Record::Other(other),
            };
            self.log.push((t, i, rec));
        }
    }

    /// The next moment something happens.
    fn next_event(&self) -> Option<Instant> {
        let timers = self.nodes.iter().filter(|n| n.alive).filter_map(|n| n.router.poll_timeout()).min();
        let frames = self.in_flight.keys().next().map(|(t, _)| *t);
        match (timers, frames) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs one event; false when nothing is scheduled before `until`.
    pub fn step(&mut self, until: Instant) -> bool {
        let Some(next) = self.next_event() else { return false };
        if next > until {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        self.steps += 1;
        assert!(self.steps < 50_000_000, "simulation does not progress");
        // Frames due now first, in send order.
        while let Some((&key, _)) = self.in_flight.iter().next() {
            if key.0 > now {
                break;
            }
            let d = self.in_flight.remove(&key).expect("present");
            if self.nodes[d.to].alive && self.nodes[d.to].port_up {
                self.nodes[d.to].router.deliver(now, d.meta, &d.bytes);
                self.drain(d.to);
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive && self.nodes[i].router.poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].router.handle_timeout(now);
                self.drain(i);
                let next = self.nodes[i].router.poll_timeout();
                assert!(
                    next.is_none_or(|t| t > now),
                    "{}: poll_timeout still due after handle_timeout",
                    self.nodes[i].name
                );
            }
        }
        true
    }

    /// Runs until `until`, calling `check` after every step.
    pub fn run_until_with(&mut self, until: Instant, mut check: impl FnMut(&Lan)) {
        while self.step(until) {
            check(self);
        }
        self.now = self.now.max(until);
    }

    pub fn run_until(&mut self, until: Instant) {
        self.run_until_with(until, |_| {});
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// The hosts whose instance `vrid` is master.
    pub fn masters(&self, vrid: u8) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].alive && self.nodes[i].state(vrid) == State::Master).collect()
    }

    /// When host `i`'s instance `vrid` last entered `to`, since t0.
    pub fn last_transition(&self, i: usize, vrid: u8, to: State) -> Option<Duration> {
        self.log
            .iter()
            .rev()
            .find(|(_, n, r)| *n == i && matches!(r, Record::State { vrid: v, to: s, .. } if *v == vrid && *s == to))
            .map(|(t, _, _)| *t)
    }

    /// The log of host `i` from `since` on.
    pub fn records(&self, i: usize, since: Duration) -> Vec<(Duration, Record)> {
        self.log.iter().filter(|(t, n, _)| *n == i && *t >= since).map(|(t, _, r)| (*t, r.clone())).collect()
    }

    /// When host `i` last sent an advert (any VRID), since t0.
    pub fn last_advert(&self, i: usize) -> Option<Duration> {
        self.log.iter().rev().find(|(_, n, r)| *n == i && matches!(r, Record::Advert { .. })).map(|(t, _, _)| *t)
    }
}

/// `vrrp_instance` as the netlab baseline configures it: VIP 192.0.2.100/24
/// on eth0.
pub fn v2_config(name: &str, vrid: u8, priority: u8) -> InstanceConfig {
    InstanceConfig::new(name, vrid)
        .interface("eth0")
        .priority(priority)
        .vip("192.0.2.100/24".parse::<lvskit::vrrp::VirtualAddress>().unwrap())
}

/// The same in VRRPv3 with `advert_int`.
pub fn v3_config(name: &str, vrid: u8, priority: u8, advert_int: Duration) -> InstanceConfig {
    v2_config(name, vrid, priority).version(wire::Version::V3).advert_int(advert_int)
}

/// VRRPv3 over IPv6 (VIPs fe80::100 then 2001:db8::100).
pub fn v6_config(name: &str, vrid: u8, priority: u8) -> InstanceConfig {
    InstanceConfig::new(name, vrid)
        .interface("eth0")
        .priority(priority)
        .vip("fe80::100/64".parse::<lvskit::vrrp::VirtualAddress>().unwrap())
        .vip("2001:db8::100/64".parse::<lvskit::vrrp::VirtualAddress>().unwrap())
}

//! The connection table against a deliberately naive reference model.
//!
//! The model is written straight from `ip_vs_in`, `ip_vs_out`,
//! `ip_vs_sched_persist`, `ip_vs_conn_expire`, `ip_vs_bind_dest` /
//! `ip_vs_unbind_dest` and `__ip_vs_dest_update_overload` (Linux 6.1): a
//! plain `HashMap` of connections, a `Vec` of templates searched newest
//! first, its own per-server counters and overload flags, and explicit
//! timers (each entry's absolute expiry, fired in time order, connections
//! before templates at the same tick). It shares only the protocol state
//! tables and default timeouts with the table (those are checked row by row
//! in the unit tests).
//!
//! Proptest drives random services, packet sequences, waits, expiries,
//! server edits and sysctl changes through both and asserts identical
//! verdicts, entries (states, addresses, time left) and counters after
//! every step.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lvskit::ipvs::conn::{
    ConnEntry, ConnTable, ConnTableConfig, DropReason, Packet, PassReason, SctpChunks, SctpState, Segment, Sysctls,
    TcpFlags, TcpState, Verdict, sctp, tcp,
};
use lvskit::ipvs::{
    Dest, DestConfig, Family, Flow, ForwardMethod, PersistMask, Persistence, Protocol, Service, ServiceConfig,
    ServiceFlags, ServiceKey, Timeouts,
};
use proptest::prelude::*;

const HZ: u64 = 250;
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

// ---------------------------------------------------------------- the model

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    proto: u8,
    caddr: IpAddr,
    cport: u16,
    vaddr: IpAddr,
    vport: u16,
}

#[derive(Debug, Clone)]
struct MConn {
    key: Key,
    dest: Arc<Dest>,
    dport: u16,
    fwd: u32,
    state: u8,
    no_output: bool,
    inactive: bool,
    timeout: u64,
    expires: u64,
    template: Option<u64>,
}

#[derive(Debug, Clone)]
struct MTemplate {
    id: u64,
    proto: u8,
    caddr: IpAddr,
    vaddr: IpAddr,
    vport: u16,
    dport: u16,
    dest: Arc<Dest>,
    assured: bool,
    timeout: u64,
    expires: u64,
    n_control: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    active: u32,
    inactive: u32,
    persistent: u32,
    total: u32,
    overloaded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum V {
    Fwd { dest: SocketAddr, state: &'static str, created: bool, one_packet: bool, persistent: bool },
    Pass(PassReason),
    Drop(DropReason),
}

struct Model {
    svc: Service,
    conns: HashMap<Key, MConn>,
    templates: Vec<MTemplate>,
    next_template: u64,
    counts: HashMap<SocketAddr, Counts>,
    sys: Sysctls,
    tcp_to: [u64; 11],
    udp_to: u64,
    sctp_to: [u64; 14],
    max_entries: usize,
}

fn dest_key(d: &Dest) -> SocketAddr {
    d.socket_addr()
}

impl Model {
    fn new(svc: Service, max_entries: usize) -> Self {
        Model {
            svc,
            conns: HashMap::new(),
            templates: Vec::new(),
            next_template: 0,
            counts: HashMap::new(),
            sys: Sysctls::default(),
            tcp_to: TcpState::ALL.map(|s| s.default_timeout_secs() as u64 * HZ),
            udp_to: 300 * HZ,
            sctp_to: SctpState::ALL.map(|s| s.default_timeout_secs() as u64 * HZ),
            max_entries,
        }
    }

    fn len(&self) -> usize {
        self.conns.len() + self.templates.len()
    }

    /// Writes the model's counters into its own service's servers, so that
    /// its scheduler sees what the table's scheduler sees.
    fn sync(&self, d: &Dest) {
        let c = self.counts.get(&dest_key(d)).copied().unwrap_or_default();
        d.set_conns(c.active, c.inactive);
        d.set_overloaded(c.overloaded);
    }

    fn overload_rule(d: &Dest, c: &mut Counts, mode: i32) {
        let u = d.upper_threshold();
        let l = if d.lower_threshold() != 0 { d.lower_threshold() } else { u - u / 4 };
        if u == 0 {
            c.overloaded = false;
        } else if c.total >= if mode > 0 { l } else { u } {
            c.overloaded = true;
        } else if c.total >= if mode < 0 { u } else { l } {
        } else {
            c.overloaded = false;
        }
    }

    fn bind(&mut self, d: &Arc<Dest>) {
        let c = self.counts.entry(dest_key(d)).or_default();
        c.inactive += 1;
        c.total += 1;
        if c.total == d.upper_threshold() {
            Self::overload_rule(d, c, 1);
        }
        self.sync(d);
    }

    fn unbind(&mut self, d: &Arc<Dest>, inactive: bool) {
        let c = self.counts.entry(dest_key(d)).or_default();
        if inactive {
            c.inactive -= 1;
        } else {
            c.active -= 1;
        }
        let before = c.total;
        c.total -= 1;
        let u = d.upper_threshold();
        let l = if d.lower_threshold() != 0 { d.lower_threshold() } else { u - u / 4 };
        if before == l {
            Self::overload_rule(d, c, -1);
        }
        self.sync(d);
    }

    fn persist(&mut self, d: &Arc<Dest>, delta: i32) {
        let c = self.counts.entry(dest_key(d)).or_default();
        c.persistent = (c.persistent as i32 + delta) as u32;
    }

    fn thresholds_changed(&mut self, d: &Arc<Dest>) {
        let c = self.counts.entry(dest_key(d)).or_default();
        Self::overload_rule(d, c, 0);
        self.sync(d);
    }

    fn template(&mut self, id: u64) -> Option<&mut MTemplate> {
        self.templates.iter_mut().find(|t| t.id == id)
    }

    /// State transition for one packet; returns whether the template is to
    /// be assured.
    fn step(&mut self, key: Key, out: bool, seg: &Segment) {
        let sys = self.sys;
        let c = self.conns.get_mut(&key).unwrap();
        let mut assure = false;
        match seg {
            Segment::Udp => {
                c.timeout = self.udp_to;
                assure = out;
            }
            _ => {
                let mut dir = if out { 1 } else { 0 };
                if c.no_output {
                    if out {
                        c.no_output = false;
                    } else {
                        dir = 2;
                    }
                }
                let new = match seg {
                    Segment::Tcp(f) => {
                        tcp::next_state(sys.secure_tcp, dir, *f, TcpState::from_index(c.state).unwrap()) as u8
                    }
                    Segment::Sctp(ch) => sctp::next_state(dir, *ch, SctpState::from_index(c.state).unwrap()) as u8,
                    Segment::Udp => unreachable!(),
                };
                if new != c.state {
                    let active = match seg {
                        Segment::Tcp(_) => TcpState::from_index(new).unwrap().is_active(),
                        _ => SctpState::from_index(new).unwrap() == SctpState::Established,
                    };
                    let key_d = dest_key(&c.dest);
                    let cnt = self.counts.entry(key_d).or_default();
                    if !c.inactive && !active {
                        cnt.active -= 1;
                        cnt.inactive += 1;
                        c.inactive = true;
                    } else if c.inactive && active {
                        cnt.active += 1;
                        cnt.inactive -= 1;
                        c.inactive = false;
                    }
                    let established = match seg {
                        Segment::Tcp(_) => new == TcpState::Established as u8,
                        _ => new == SctpState::Established as u8,
                    };
                    assure = established;
                }
                c.state = new;
                c.timeout = match seg {
                    Segment::Tcp(_) => self.tcp_to[new as usize],
                    _ => self.sctp_to[new as usize],
                };
            }
        }
        let (tpl, dest) = (c.template, Arc::clone(&c.dest));
        self.sync(&dest);
        if assure {
            if let Some(t) = tpl.and_then(|id| self.template(id)) {
                t.assured = true;
            }
        }
    }

    fn fwd_of(&self, key: Key, created: bool) -> V {
        let c = &self.conns[&key];
        V::Fwd {
            dest: SocketAddr::new(c.dest.addr(), c.dport),
            state: state_name(c.key.proto, c.state),
            created,
            one_packet: false,
            persistent: c.template.is_some(),
        }
    }

    fn remove_conn(&mut self, key: Key) {
        let c = self.conns.remove(&key).unwrap();
        self.unbind(&c.dest, c.inactive);
        if let Some(t) = c.template.and_then(|id| self.template(id)) {
            t.n_control -= 1;
        }
    }

    fn input(&mut self, flow: Flow, seg: Segment, now: u64, instant: Instant) -> V {
        let key = Key {
            proto: flow.protocol.number(),
            caddr: flow.src,
            cport: flow.src_port,
            vaddr: flow.dst,
            vport: flow.dst_port,
        };
        let sys = self.sys;
        let new_conn = match seg {
            Segment::Tcp(f) => f.syn(),
            Segment::Sctp(c) => c.first == sctp::chunk::INIT,
            Segment::Udp => false,
        };
        if key.cport != 0 && self.conns.contains_key(&key) {
            let c = &self.conns[&key];
            let expected = c.template.is_none()
                && match key.proto {
                    6 => {
                        c.state == TcpState::TimeWait as u8
                            || c.state == TcpState::Close as u8
                            || (sys.conn_reuse_mode & 2 != 0 && c.state == TcpState::FinWait as u8 && c.no_output)
                    }
                    132 => c.state == SctpState::Closed as u8,
                    _ => false,
                };
            let mut resched = new_conn
                && ((sys.expire_nodest_conn && c.dest.weight() == 0) || (sys.conn_reuse_mode != 0 && expected));
            if !resched && !c.dest.is_available() {
                if !sys.expire_nodest_conn {
                    return V::Drop(DropReason::DestUnavailable);
                }
                resched = true;
            }
            if resched {
                self.remove_conn(key);
            } else {
                self.step(key, false, &seg);
                let c = self.conns.get_mut(&key).unwrap();
                c.expires = now + c.timeout;
                return self.fwd_of(key, false);
            }
        }
        match seg {
            Segment::Tcp(f) if f.rst() || !(sys.sloppy_tcp || f.syn()) => return V::Pass(PassReason::NotNewConnection),
            Segment::Sctp(c) if c.first == sctp::chunk::ABORT || !(sys.sloppy_sctp || c.first == sctp::chunk::INIT) => {
                return V::Pass(PassReason::NotNewConnection);
            }
            _ => {}
        }
        if key.cport == 20 {
            return V::Pass(PassReason::FtpData);
        }
        let cfg = self.svc.config().clone();
        let svc_port = match cfg.key {
            ServiceKey::Addr { port, .. } => port,
            ServiceKey::Fwmark { .. } => 0,
        };
        let one_packet = cfg.flags.contains(ServiceFlags::ONEPACKET) && key.proto == 17;
        if key.cport == 0 && !one_packet {
            return V::Drop(DropReason::ClientPortZero);
        }
        let (dest, dport, template) = if let Some(p) = cfg.persistence {
            let PersistMask::V4(mask) = p.mask else { unreachable!() };
            let IpAddr::V4(c4) = key.caddr else { unreachable!() };
            let snet = IpAddr::V4(Ipv4Addr::from(u32::from(c4) & u32::from(mask)));
            let (tproto, tvaddr, tvport) = if key.vport == svc_port {
                (key.proto, key.vaddr, if svc_port != 21 { key.vport } else { 0 })
            } else if let ServiceKey::Fwmark { mark, .. } = cfg.key {
                (0, IpAddr::V4(Ipv4Addr::from(mark)), 0)
            } else {
                (key.proto, key.vaddr, 0)
            };
            let found = self
                .templates
                .iter()
                .rev()
                .find(|t| t.proto == tproto && t.caddr == snet && t.vaddr == tvaddr && t.vport == tvport)
                .map(|t| t.id);
            let mut valid = None;
            if let Some(id) = found {
                let quiescent = self.sys.expire_quiescent_template;
                let t = self.template(id).unwrap();
                if t.dest.is_available() && !(quiescent && t.dest.weight() == 0) {
                    valid = Some(id);
                } else if t.vport != 0xffff {
                    t.vport = 0xffff;
                    t.dport = 0xffff;
                    // Re-hashed: it becomes the newest in its (new) chain.
                    let i = self.templates.iter().position(|t| t.id == id).unwrap();
                    let t = self.templates.remove(i);
                    self.templates.push(t);
                }
            }
            let id = match valid {
                Some(id) => id,
                None => {
                    let Some(dest) = self.svc.schedule(&flow, instant).cloned() else {
                        return V::Drop(DropReason::NoDestination);
                    };
                    if self.len() >= self.max_entries {
                        return V::Drop(DropReason::TableFull { limit: self.max_entries });
                    }
                    let tdport = if key.vport == svc_port && svc_port != 21 { dest.port() } else { 0 };
                    let id = self.next_template;
                    self.next_template += 1;
                    let timeout = p.timeout as u64 * HZ;
                    self.templates.push(MTemplate {
                        id,
                        proto: tproto,
                        caddr: snet,
                        vaddr: tvaddr,
                        vport: tvport,
                        dport: tdport,
                        dest: Arc::clone(&dest),
                        assured: false,
                        timeout,
                        expires: now + timeout,
                        n_control: 0,
                    });
                    self.persist(&dest, 1);
                    id
                }
            };
            let t = self.template(id).unwrap();
            t.expires = now + t.timeout;
            let dest = Arc::clone(&t.dest);
            let dport = if key.vport == svc_port && dest.port() != 0 { dest.port() } else { key.vport };
            (dest, dport, Some(id))
        } else {
            let Some(dest) = self.svc.schedule(&flow, instant).cloned() else {
                return V::Drop(DropReason::NoDestination);
            };
            let dport = if dest.port() != 0 { dest.port() } else { key.vport };
            (dest, dport, None)
        };
        if !one_packet && self.len() >= self.max_entries {
            return V::Drop(DropReason::TableFull { limit: self.max_entries });
        }
        let method = dest.forward();
        let conn = MConn {
            key,
            dest: Arc::clone(&dest),
            dport,
            fwd: method.code(),
            state: 0,
            no_output: method != ForwardMethod::Masq,
            inactive: true,
            timeout: 3 * HZ,
            expires: now + 3 * HZ,
            template,
        };
        if let Some(t) = template.and_then(|id| self.template(id)) {
            t.n_control += 1;
        }
        self.bind(&dest);
        self.conns.insert(key, conn);
        self.step(key, false, &seg);
        if one_packet {
            let mut v = self.fwd_of(key, true);
            if let V::Fwd { one_packet, .. } = &mut v {
                *one_packet = true;
            }
            self.remove_conn(key);
            return v;
        }
        let c = self.conns.get_mut(&key).unwrap();
        c.expires = now + c.timeout;
        self.fwd_of(key, true)
    }

    fn output(&mut self, flow: Flow, seg: Segment, now: u64) -> V {
        let proto = flow.protocol.number();
        let found = self
            .conns
            .values()
            .find(|c| {
                c.key.proto == proto
                    && c.key.caddr == flow.dst
                    && c.key.cport == flow.dst_port
                    && if c.fwd == 0 {
                        c.dest.addr() == flow.src && c.dport == flow.src_port
                    } else {
                        c.key.vaddr == flow.src && c.key.vport == flow.src_port
                    }
            })
            .map(|c| c.key);
        let Some(key) = found else { return V::Pass(PassReason::NoConnection) };
        self.step(key, true, &seg);
        let c = self.conns.get_mut(&key).unwrap();
        c.expires = now + c.timeout;
        self.fwd_of(key, false)
    }

    /// Fires every timer due by `target`, earliest first.
    fn expire(&mut self, target: u64) {
        loop {
            let conn = self
                .conns
                .values()
                .filter(|c| c.expires <= target)
                .min_by_key(|c| c.expires)
                .map(|c| (c.expires, c.key));
            let tpl = self
                .templates
                .iter()
                .filter(|t| t.expires <= target)
                .min_by_key(|t| t.expires)
                .map(|t| (t.expires, t.id));
            match (conn, tpl) {
                (Some((tc, key)), Some((tt, _))) if tc <= tt => self.remove_conn(key),
                (Some((_, key)), None) => self.remove_conn(key),
                (_, Some((tt, id))) => {
                    let t = self.template(id).unwrap();
                    if t.n_control > 0 {
                        t.timeout = 60 * HZ;
                        t.expires = tt + 60 * HZ;
                    } else {
                        let i = self.templates.iter().position(|t| t.id == id).unwrap();
                        let t = self.templates.remove(i);
                        self.persist(&t.dest, -1);
                    }
                }
                (None, None) => break,
            }
        }
    }

    fn entries(&self, now: u64) -> Vec<Row> {
        let left = |e: u64| (e.saturating_sub(now) * 4 / 1000) as u32;
        let mut v: Vec<Row> = self
            .conns
            .values()
            .map(|c| Row {
                template: false,
                proto: c.key.proto,
                client: SocketAddr::new(c.key.caddr, c.key.cport),
                vip: SocketAddr::new(c.key.vaddr, c.key.vport),
                dest: SocketAddr::new(c.dest.addr(), c.dport),
                state: state_name(c.key.proto, c.state),
                left: left(c.expires),
                controls: 0,
            })
            .chain(self.templates.iter().map(|t| Row {
                template: true,
                proto: t.proto,
                client: SocketAddr::new(t.caddr, 0),
                vip: SocketAddr::new(t.vaddr, t.vport),
                dest: SocketAddr::new(t.dest.addr(), t.dport),
                state: if t.assured { "ASSURED" } else { "NONE" },
                left: left(t.expires),
                controls: t.n_control,
            }))
            .collect();
        v.sort();
        v
    }
}

fn state_name(proto: u8, s: u8) -> &'static str {
    match proto {
        6 => TcpState::from_index(s).unwrap().name(),
        17 => "UDP",
        _ => SctpState::from_index(s).unwrap().name(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    template: bool,
    proto: u8,
    client: SocketAddr,
    vip: SocketAddr,
    dest: SocketAddr,
    state: &'static str,
    left: u32,
    controls: u32,
}

fn rows(entries: Vec<ConnEntry>) -> Vec<Row> {
    let mut v: Vec<Row> = entries
        .into_iter()
        .map(|e| Row {
            template: e.template,
            proto: e.protocol,
            client: e.client,
            vip: e.virtual_addr,
            dest: e.dest,
            state: e.state.name(),
            left: e.expires_secs,
            controls: e.controls,
        })
        .collect();
    v.sort();
    v
}

/// One packet through `table`, with `now` as an instant, a tick of `table`
/// or a tick of `other` (a table of another epoch), in turn by step `n`: all
/// three mean the same moment.
fn send(table: &ConnTable, other: &ConnTable, svc: &mut Service, pkt: &Packet, now: Instant, n: usize) -> Verdict {
    match n % 3 {
        0 => table.process(svc, pkt, now),
        1 => table.process(svc, pkt, table.tick(now)),
        _ => table.process(svc, pkt, other.tick(now)),
    }
    .unwrap()
}

fn summary(v: Verdict) -> V {
    match v {
        Verdict::Forward(f) => V::Fwd {
            dest: f.dest,
            state: f.state.name(),
            created: f.created,
            one_packet: f.one_packet,
            persistent: f.persistent,
        },
        Verdict::Pass(p) => V::Pass(p),
        Verdict::Drop(d) => V::Drop(d),
    }
}

// ---------------------------------------------------------------- the cases

#[derive(Debug, Clone)]
struct Setup {
    kind: u8,
    persistence: Option<(u32, bool)>,
    ops: bool,
    dests: Vec<(bool, u32, u32, u32)>,
    max_entries: usize,
    /// Port-zero and firewall-mark services: servers without a port.
    dest_port_zero: bool,
    /// Kernel scheduler name; lc, wlc, sed, nq and ovf pick by the counters
    /// the table keeps.
    scheduler: &'static str,
}

#[derive(Debug, Clone)]
enum Op {
    Pkt { client: u8, port: u8, out: bool, server: u8, ev: u8 },
    Wait(u32),
    Expire,
    Weight { d: u8, w: u8 },
    Thresholds { d: u8, u: u8, l: u8 },
    Remove { d: u8 },
    Restore { d: u8 },
    Sysctl { reuse: u8, nodest: bool, quiescent: bool, secure: bool, sloppy: bool },
    SetTimeouts { tcp: u16, fin: u16, udp: u16 },
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        0u8..6,
        prop::option::of((prop::sample::select(vec![5u32, 30, 300]), any::<bool>())),
        any::<bool>(),
        prop::collection::vec((any::<bool>(), 0u32..3, 0u32..4, 0u32..3), 1..4),
        prop::sample::select(vec![3usize, 6, 10, 1000]),
        any::<bool>(),
        prop::sample::select(vec!["rr", "wrr", "lc", "wlc", "sed", "nq", "ovf", "fo"]),
    )
        .prop_map(|(kind, persistence, ops, dests, max_entries, dest_port_zero, scheduler)| Setup {
            kind,
            persistence,
            ops,
            dests,
            max_entries,
            dest_port_zero,
            scheduler,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u8..5, 0u8..5, any::<bool>(), 0u8..3, 0u8..12)
            .prop_map(|(client, port, out, server, ev)| Op::Pkt { client, port, out, server, ev }),
        // The same client and port again and again: whole connection lives.
        8 => (prop::bool::weighted(0.2), 0u8..12).prop_map(|(out, ev)| Op::Pkt { client: 0, port: 0, out, server: 0, ev }),
        4 => prop::sample::select(vec![1u32, 3, 100, 999, 1000, 4000, 9999, 30_000, 60_000, 61_000, 130_000, 400_000, 900_000])
            .prop_map(Op::Wait),
        3 => Just(Op::Expire),
        1 => (0u8..3, 0u8..3).prop_map(|(d, w)| Op::Weight { d, w }),
        1 => (0u8..3, 0u8..4, 0u8..3).prop_map(|(d, u, l)| Op::Thresholds { d, u, l }),
        1 => (0u8..3).prop_map(|d| Op::Remove { d }),
        1 => (0u8..3).prop_map(|d| Op::Restore { d }),
        1 => (0u8..4, any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(reuse, nodest, quiescent, secure, sloppy)| Op::Sysctl { reuse, nodest, quiescent, secure, sloppy }),
        1 => (0u16..3, 0u16..3, 0u16..3).prop_map(|(tcp, fin, udp)| Op::SetTimeouts { tcp: tcp * 7, fin: fin * 5, udp: udp * 11 }),
    ]
}

/// (protocol, service key, service port) for a setup kind.
fn service(s: &Setup) -> (Protocol, ServiceConfig) {
    let vip = IpAddr::V4(VIP);
    let (proto, key) = match s.kind {
        0 => (Protocol::Tcp, ServiceKey::addr(Protocol::Tcp, vip, 80)),
        1 => (Protocol::Udp, ServiceKey::addr(Protocol::Udp, vip, 53)),
        2 => (Protocol::Sctp, ServiceKey::addr(Protocol::Sctp, vip, 5000)),
        3 => (Protocol::Tcp, ServiceKey::addr(Protocol::Tcp, vip, 0)),
        4 => (Protocol::Udp, ServiceKey::fwmark(Family::V4, 3)),
        _ => (Protocol::Tcp, ServiceKey::addr(Protocol::Tcp, vip, 21)),
    };
    let mut cfg = ServiceConfig::new(key, s.scheduler);
    let needs = matches!(s.kind, 3);
    if let Some((timeout, wide)) = s.persistence.or(needs.then_some((30, false))) {
        let mask = if wide { Ipv4Addr::new(255, 255, 255, 0) } else { Ipv4Addr::BROADCAST };
        cfg = cfg.persistent(Persistence { timeout, mask: PersistMask::V4(mask) });
    }
    if s.ops {
        cfg = cfg.flags(ServiceFlags::ONEPACKET);
    }
    (proto, cfg)
}

fn dest_cfg(i: usize, d: &(bool, u32, u32, u32), port_zero: bool) -> DestConfig {
    let addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10 + i as u8));
    let port = if port_zero { 0 } else { 8000 + i as u16 };
    let c = if d.0 { DestConfig::masq(addr, port) } else { DestConfig::route(addr, port) };
    c.weight(d.1.max(1)).thresholds(d.2, d.3.min(d.2))
}

fn segment(proto: Protocol, ev: u8) -> Segment {
    use sctp::chunk::*;
    match proto {
        Protocol::Tcp => Segment::Tcp(
            [
                TcpFlags::SYN,
                TcpFlags::SYN,
                TcpFlags::SYN_ACK,
                TcpFlags::ACK,
                TcpFlags::ACK,
                TcpFlags::PSH_ACK,
                TcpFlags::FIN_ACK,
                TcpFlags::FIN,
                TcpFlags::RST,
                TcpFlags::RST_ACK,
                TcpFlags::PSH,
                TcpFlags::SYN | TcpFlags::FIN,
            ][ev as usize % 12],
        ),
        Protocol::Udp => Segment::Udp,
        Protocol::Sctp => Segment::Sctp(match ev % 12 {
            0 | 1 => SctpChunks::new(INIT),
            2 => SctpChunks::new(INIT_ACK),
            3 => SctpChunks::new(COOKIE_ECHO),
            4 => SctpChunks::new(COOKIE_ACK),
            5 => SctpChunks::new(DATA),
            6 => SctpChunks::new(SHUTDOWN),
            7 => SctpChunks::new(SHUTDOWN_ACK),
            8 => SctpChunks::new(SHUTDOWN_COMPLETE),
            9 => SctpChunks::new(ABORT),
            10 => SctpChunks::new(ERROR),
            _ => SctpChunks::new(COOKIE_ECHO).then(ABORT),
        }),
    }
}

struct Side {
    svc: Service,
    removed: HashMap<u8, Arc<Dest>>,
}

fn run(s: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (proto, cfg) = service(&s);
    // A non-persistent firewall-mark service whose servers have a port sends
    // the same client endpoint's flows to two marked ports to one server
    // endpoint: a reply matches both (the kernel takes the newest, the table
    // one of them), and no real server could tell them apart. Stay clear.
    let port_zero = (s.kind == 3 || s.kind == 4) && (s.dest_port_zero || (s.kind == 4 && s.persistence.is_none()));
    let build = || {
        let mut svc = Service::new(cfg.clone(), 0).unwrap();
        for (i, d) in s.dests.iter().enumerate() {
            svc.add_dest(dest_cfg(i, d, port_zero)).unwrap();
        }
        svc
    };
    let t0 = Instant::now();
    let table = ConnTable::new(ConnTableConfig::default().shards(4).seed(11).max_entries(s.max_entries), t0).unwrap();
    // A table of another epoch: its ticks must mean the same moments to
    // `table` as their instants do.
    let other = ConnTable::new(ConnTableConfig::default(), t0 + Duration::from_millis(7)).unwrap();
    let mut real = Side { svc: build(), removed: HashMap::new() };
    let mut model = Model::new(build(), s.max_entries);
    let mut mremoved: HashMap<u8, Arc<Dest>> = HashMap::new();
    let mut ms: u64 = 0;
    let clients = [
        Ipv4Addr::new(203, 0, 113, 1),
        Ipv4Addr::new(203, 0, 113, 2),
        Ipv4Addr::new(192, 0, 2, 101),
        Ipv4Addr::new(192, 0, 2, 102),
        Ipv4Addr::new(203, 0, 113, 3),
    ];
    for (n, op) in ops.iter().enumerate() {
        let now = t0 + Duration::from_millis(ms);
        let tick = ms / 4;
        match op {
            Op::Pkt { client, port, out, server, ev } => {
                let caddr = IpAddr::V4(clients[*client as usize]);
                let cport = [1000u16, 1001, 0, 20, 1002][*port as usize];
                let (vport, mark) = match s.kind {
                    0 => (80, 0),
                    1 => (53, 0),
                    2 => (5000, 0),
                    3 => ([443u16, 22][*server as usize % 2], 0),
                    4 => ([53u16, 123][*server as usize % 2], 3),
                    _ => (21, 0),
                };
                let flow_proto = if s.kind == 4 && *ev % 2 == 1 { Protocol::Tcp } else { proto };
                let seg = segment(flow_proto, *ev);
                let inflow = Flow::new(flow_proto, caddr, cport, IpAddr::V4(VIP), vport).with_fwmark(mark);
                let (got, want) = if *out {
                    let i = *server as usize % s.dests.len();
                    let dc = dest_cfg(i, &s.dests[i], port_zero);
                    let src = if s.dests[i].0 {
                        SocketAddr::new(dc.addr, if dc.port == 0 { vport } else { dc.port })
                    } else {
                        SocketAddr::new(IpAddr::V4(VIP), vport)
                    };
                    let flow = Flow::new(flow_proto, src.ip(), src.port(), caddr, cport);
                    let got = send(&table, &other, &mut real.svc, &Packet::output(flow, seg), now, n);
                    (summary(got), model.output(flow, seg, tick))
                } else {
                    let got = send(&table, &other, &mut real.svc, &Packet::input(inflow, seg), now, n);
                    (summary(got), model.input(inflow, seg, tick, now))
                };
                prop_assert_eq!(got, want, "step {}: {:?}", n, op);
            }
            Op::Wait(d) => ms += *d as u64,
            Op::Expire => {
                table.expire(now);
                model.expire(tick);
            }
            Op::Weight { d, w } => {
                let i = *d as usize % s.dests.len();
                let c = dest_cfg(i, &s.dests[i], port_zero);
                let cur = real.svc.dest(c.socket_addr()).map(|x| x.config());
                if let Some(cur) = cur {
                    real.svc.edit_dest(cur.weight(*w as u32)).unwrap();
                    let mcur = model.svc.dest(c.socket_addr()).unwrap().config();
                    model.svc.edit_dest(mcur.weight(*w as u32)).unwrap();
                }
            }
            Op::Thresholds { d, u, l } => {
                let i = *d as usize % s.dests.len();
                let c = dest_cfg(i, &s.dests[i], port_zero);
                let (u, l) = (*u as u32, (*l as u32).min(*u as u32));
                if let Some(cur) = real.svc.dest(c.socket_addr()).map(|x| x.config()) {
                    real.svc.edit_dest(cur.thresholds(u, l)).unwrap();
                    let md = Arc::clone(model.svc.dest(c.socket_addr()).unwrap());
                    let changed = md.upper_threshold() != u || md.lower_threshold() != l;
                    model.svc.edit_dest(md.config().thresholds(u, l)).unwrap();
                    if changed {
                        model.thresholds_changed(&md);
                    } else {
                        model.sync(&md);
                    }
                }
            }
            Op::Remove { d } => {
                let i = *d as usize % s.dests.len();
                let a = dest_cfg(i, &s.dests[i], port_zero).socket_addr();
                if let Ok(x) = real.svc.del_dest(a) {
                    real.removed.insert(*d, x);
                    mremoved.insert(*d, model.svc.del_dest(a).unwrap());
                }
            }
            Op::Restore { d } => {
                if let (Some(x), Some(m)) = (real.removed.remove(d), mremoved.remove(d)) {
                    let cfg = x.config();
                    real.svc.restore_dest(x, cfg).unwrap();
                    let mcfg = m.config();
                    model.svc.restore_dest(Arc::clone(&m), mcfg).unwrap();
                    model.sync(&m);
                }
            }
            Op::Sysctl { reuse, nodest, quiescent, secure, sloppy } => {
                let sys = Sysctls {
                    conn_reuse_mode: *reuse,
                    expire_nodest_conn: *nodest,
                    expire_quiescent_template: *quiescent,
                    secure_tcp: *secure,
                    sloppy_tcp: *sloppy,
                    sloppy_sctp: *sloppy,
                };
                table.set_sysctls(sys).unwrap();
                model.sys = sys;
            }
            Op::SetTimeouts { tcp, fin, udp } => {
                let t = Timeouts { tcp: *tcp as u32, tcp_fin: *fin as u32, udp: *udp as u32 };
                table.set_timeouts(&t).unwrap();
                if t.tcp != 0 {
                    model.tcp_to[1] = t.tcp as u64 * HZ;
                }
                if t.tcp_fin != 0 {
                    model.tcp_to[4] = t.tcp_fin as u64 * HZ;
                }
                if t.udp != 0 {
                    model.udp_to = t.udp as u64 * HZ;
                }
            }
        }
        // Everything observable agrees after every step.
        let now = t0 + Duration::from_millis(ms);
        prop_assert_eq!(rows(table.entries(now)), model.entries(ms / 4), "entries after step {}: {:?}", n, op);
        prop_assert_eq!(table.len(), model.len());
        // The lock-free look-ups find every connection listed, at its server.
        for e in table.entries(now).into_iter().filter(|e| !e.template) {
            let proto =
                [Protocol::Tcp, Protocol::Udp, Protocol::Sctp].into_iter().find(|p| p.number() == e.protocol).unwrap();
            let f = Flow::new(proto, e.client.ip(), e.client.port(), e.virtual_addr.ip(), e.virtual_addr.port());
            prop_assert_eq!(table.lookup_dest(&f), Some(e.dest), "lookup_dest after step {}: {:?}", n, op);
            let entry = table.lookup(&f, now);
            prop_assert_eq!(entry.as_ref().map(|l| l.dest), Some(e.dest));
            prop_assert_eq!(table.lookup(&f, table.tick(now)), entry.clone());
            prop_assert_eq!(table.lookup(&f, other.tick(now)), entry);
        }
        let all: Vec<Arc<Dest>> = real.svc.dests().iter().cloned().chain(real.removed.values().cloned()).collect();
        for d in all {
            let want = model.counts.get(&d.socket_addr()).copied().unwrap_or_default();
            let got = Counts {
                active: d.active_conns(),
                inactive: d.inactive_conns(),
                persistent: d.persistent_conns(),
                total: d.total_conns(),
                overloaded: d.is_overloaded(),
            };
            prop_assert_eq!(got, want, "counters of {} after step {}: {:?}", d.socket_addr(), n, op);
        }
    }
    // Drain: everything expires and every counter returns to zero.
    let end = t0 + Duration::from_millis(ms) + Duration::from_secs(4 * 86400);
    table.expire(end);
    prop_assert!(table.is_empty());
    for d in real.svc.dests().iter().chain(real.removed.values()) {
        prop_assert_eq!((d.active_conns(), d.inactive_conns(), d.persistent_conns(), d.total_conns()), (0, 0, 0, 0));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_naive_model(s in setup(), ops in prop::collection::vec(op(), 1..80)) {
        run(s, ops)?;
    }
}

//! The per-packet path: what the kernel's `ip_vs_in` (client packets) and
//! `ip_vs_out` (replies from a masqueraded server) do with the connection
//! table, as one call that returns a [`Verdict`].
//!
//! For a client packet ([`Direction::Input`]):
//! 1. find its connection; a SYN (SCTP INIT) for a connection that
//!    `conn_reuse_mode` or `expire_nodest_conn` says is finished expires it
//!    and goes on as a new connection; a connection whose server was removed
//!    drops the packet (or, with `expire_nodest_conn`, is expired and
//!    replaced);
//! 2. without a connection, only a packet that may open one goes on (TCP
//!    SYN and no RST, SCTP INIT and no ABORT, any UDP; `sloppy_tcp` and
//!    `sloppy_sctp` relax this): the service's scheduler picks a server,
//!    through a persistence template for persistent services
//!    (`ip_vs_sched_persist`), and a connection is created and bound to it;
//! 3. the packet moves the connection's state, its server's counters follow,
//!    and its timer restarts with the new state's timeout.
//!
//! A reply ([`Direction::Output`]) only finds its connection (by client and
//! server endpoint for masquerading, by client and virtual endpoint
//! otherwise), moves its state and restarts its timer. Should two
//! connections share both endpoints (one client port reaching one server
//! port through two virtual ports of a firewall-mark service, which the
//! server itself could not tell apart), the kernel picks the newer and this
//! table either one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::config::SysBits;
use super::error::ConnError;
use super::sctp::{SctpState, chunk};
use super::state::{
    ConnState, DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, Direction, Segment, is_active, is_established, transition,
};
use super::store::{Addr, At, Entry, Key, NO_TEMPLATE, Shard, flag};
use super::table::{ConnTable, Family, forward_method, server_of, template_item};
use super::tcp::TcpState;
use super::template::Template;
use super::time::{HZ, Now, instant_of, widen};
use crate::ipvs::dest::{Dest, ForwardMethod};
use crate::ipvs::flow::{Flow, Protocol};
use crate::ipvs::service::{Family as AddrFamily, PersistMask, Persistence, Service, ServiceFlags, ServiceKey};

/// The FTP control port: persistent FTP services keep port 0 in their
/// templates so that data connections on other ports follow (`FTPPORT`).
const FTP_PORT: u16 = 21;
/// The FTP data port: client packets from it are never scheduled
/// (`FTPDATA` in `ip_vs_schedule`).
const FTP_DATA_PORT: u16 = 20;
/// Virtual and server port of an invalidated template.
const INVALID_PORT: u16 = 0xffff;

/// One packet as the connection table needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Addresses and ports as on the wire. For [`Direction::Input`] the
    /// source is the client and the destination the virtual service; for
    /// [`Direction::Output`] the source is the real server (or the virtual
    /// service) and the destination the client.
    pub flow: Flow,
    /// TCP flags, UDP, or SCTP chunk types.
    pub segment: Segment,
    /// Which way it travels.
    pub direction: Direction,
}

impl Packet {
    /// A packet from a client.
    pub const fn input(flow: Flow, segment: Segment) -> Self {
        Packet { flow, segment, direction: Direction::Input }
    }

    /// A reply towards a client.
    pub const fn output(flow: Flow, segment: Segment) -> Self {
        Packet { flow, segment, direction: Direction::Output }
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It belongs to a connection: forward it as [`Forward`] says.
    Forward(Forward),
    /// Not a connection's packet and not one that opens a connection: let it
    /// continue as if IPVS were not there (the kernel's `NF_ACCEPT`).
    Pass(PassReason),
    /// Drop it.
    Drop(DropReason),
}

impl Verdict {
    /// The forwarding decision, if any.
    pub fn forward(&self) -> Option<&Forward> {
        match self {
            Verdict::Forward(f) => Some(f),
            _ => None,
        }
    }
}

/// A packet's connection and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The client's address and port.
    pub client: SocketAddr,
    /// The virtual service's address and port the client used.
    pub virtual_addr: SocketAddr,
    /// The real server's address and port.
    pub dest: SocketAddr,
    /// How to get there (masquerade, route, tunnel, local); for a reply of a
    /// masqueraded connection, rewrite its source to `virtual_addr`.
    pub method: ForwardMethod,
    /// The connection's state after this packet.
    pub state: ConnState,
    /// This packet created the connection.
    pub created: bool,
    /// One-packet scheduling (`ops`): the connection was created for this
    /// datagram only and is already gone.
    pub one_packet: bool,
    /// A persistence template controls the connection.
    pub persistent: bool,
}

/// Why a packet passes untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassReason {
    /// No connection, and the packet cannot open one (a TCP packet without
    /// SYN or with RST, an SCTP packet not starting with INIT or with
    /// ABORT; `tcp_conn_schedule`, `sctp_conn_schedule`).
    NotNewConnection,
    /// From client port 20: active FTP data is never scheduled
    /// (`ip_vs_schedule`).
    FtpData,
    /// A reply with no connection (`ip_vs_out`).
    NoConnection,
}

/// Why a packet is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The scheduler found no server that may take a new connection (all
    /// weight 0 or overloaded, or none): the kernel answers with ICMP port
    /// unreachable and drops (`ip_vs_leave`).
    NoDestination,
    /// The connection's real server has been removed and
    /// `expire_nodest_conn` is off (`ip_vs_in`).
    DestUnavailable,
    /// The table holds `limit` entries; nothing was evicted.
    TableFull {
        /// The table's entry limit.
        limit: usize,
    },
    /// Client port 0 for a connection that would be kept: no later packet
    /// could ever find it (the kernel would create one such entry per packet;
    /// see the module documentation).
    ClientPortZero,
    /// The service uses a persistence engine (`--pe`), whose key comes from
    /// the payload the table does not see.
    PersistenceEngine,
    /// A shard already points at 65536 distinct real servers.
    TooManyServers,
}

/// Access to a [`Service`] for scheduling: the table calls it only when a
/// packet has no connection yet. Implemented for `&mut Service` (one
/// data-plane thread) and for `&Mutex<Service>` (several; the mutex is held
/// only while scheduling).
pub trait ServiceAccess {
    /// Runs `f` with the service (several times for a
    /// [`ConnTable::process_batch`]).
    fn with_service<R>(&mut self, f: impl FnOnce(&mut Service) -> R) -> R;
}

impl ServiceAccess for &mut Service {
    fn with_service<R>(&mut self, f: impl FnOnce(&mut Service) -> R) -> R {
        f(self)
    }
}

impl ServiceAccess for &parking_lot::Mutex<Service> {
    fn with_service<R>(&mut self, f: impl FnOnce(&mut Service) -> R) -> R {
        f(&mut self.lock())
    }
}

impl ServiceAccess for &std::sync::Mutex<Service> {
    fn with_service<R>(&mut self, f: impl FnOnce(&mut Service) -> R) -> R {
        f(&mut self.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// What scheduling produced for a new connection.
struct Plan {
    dest: Arc<Dest>,
    dport: u16,
    tref: u32,
    one_packet: bool,
}

impl ConnTable {
    /// Handles one packet: the data-plane entry point (`ip_vs_in` and
    /// `ip_vs_out`). `svc` is the service the packet's destination belongs
    /// to; it is consulted, and checked against the flow, only when a client
    /// packet has no connection yet. Replies ([`Direction::Output`]) never
    /// use it.
    ///
    /// Errors are the caller's mistakes (a segment of another protocol than
    /// the flow, a flow the service does not carry); everything the packet
    /// itself causes is a [`Verdict`].
    ///
    /// `now` is an [`Instant`], or a [`Tick`](super::Tick) from
    /// [`tick`](Self::tick) when one clock reading serves a burst of
    /// packets; the two give the same results.
    pub fn process<S: ServiceAccess>(&self, mut svc: S, pkt: &Packet, now: impl Now) -> Result<Verdict, ConnError> {
        self.process_with(&mut svc, pkt, instant_of(now), self.clock.ticks(now), None)
    }

    /// Handles every packet of `pkts` as [`process`](Self::process) does,
    /// in order, into `out` (cleared first; one result per packet),
    /// prefetching the connection slots of each group of packets before
    /// handling them so that their cache misses overlap (VPP-style vector processing). `svc`
    /// is the service of every client packet in the batch. Allocates nothing
    /// once `out` has room for `pkts.len()`, unless a packet creates a
    /// connection.
    pub fn process_batch<S: ServiceAccess>(
        &self,
        mut svc: S,
        pkts: &[Packet],
        now: impl Now,
        out: &mut Vec<Result<Verdict, ConnError>>,
    ) {
        let n = self.clock.ticks(now);
        let now = instant_of(now);
        super::table::prefetched(
            pkts,
            out,
            |p| self.prefetch_packet(p),
            |p, h| self.process_with(&mut svc, p, now, n, Some(h)),
        );
    }

    /// Prefetches the first slots of the run of a packet's connection (those
    /// a look-up compares at once): hashed by the client, the source of a
    /// client packet and the destination of a reply. Gives that hash (0 for
    /// a flow of mixed families, which is refused).
    #[inline]
    fn prefetch_packet(&self, p: &Packet) -> u64 {
        let f = &p.flow;
        match p.direction {
            Direction::Input => self.prefetch_hash(f),
            Direction::Output if f.src.is_ipv4() == f.dst.is_ipv4() => {
                self.prefetch_client(f.protocol.number(), f.dst, f.dst_port)
            }
            Direction::Output => 0,
        }
    }

    /// One packet at `now`, tick `n` (a batch converts `now` once); `h` is
    /// the hash of its client endpoint when the caller has it (a batch's
    /// prefetch computed it).
    fn process_with<S: ServiceAccess>(
        &self,
        svc: &mut S,
        pkt: &Packet,
        now: Instant,
        n: u64,
        h: Option<u64>,
    ) -> Result<Verdict, ConnError> {
        if pkt.segment.protocol() != pkt.flow.protocol {
            return Err(ConnError::SegmentMismatch { flow: pkt.flow.protocol, segment: pkt.segment.protocol() });
        }
        match (pkt.direction, pkt.flow.src, pkt.flow.dst) {
            (Direction::Input, IpAddr::V4(_), IpAddr::V4(_)) => self.input::<u32, S>(svc, pkt, now, n, h),
            (Direction::Input, IpAddr::V6(_), IpAddr::V6(_)) => self.input::<u128, S>(svc, pkt, now, n, h),
            (Direction::Output, IpAddr::V4(_), IpAddr::V4(_)) => Ok(self.output::<u32>(pkt, n, h)),
            (Direction::Output, IpAddr::V6(_), IpAddr::V6(_)) => Ok(self.output::<u128>(pkt, n, h)),
            (_, src, dst) => Err(ConnError::MixedFamilyFlow { src, dst }),
        }
    }

    /// Handles a reply from a real server ([`Direction::Output`]), which
    /// needs no service.
    pub fn process_reply(&self, flow: &Flow, segment: Segment, now: impl Now) -> Result<Verdict, ConnError> {
        let pkt = Packet::output(*flow, segment);
        if segment.protocol() != flow.protocol {
            return Err(ConnError::SegmentMismatch { flow: flow.protocol, segment: segment.protocol() });
        }
        let n = self.clock.ticks(now);
        match (flow.src, flow.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Ok(self.output::<u32>(&pkt, n, None)),
            (IpAddr::V6(_), IpAddr::V6(_)) => Ok(self.output::<u128>(&pkt, n, None)),
            (src, dst) => Err(ConnError::MixedFamilyFlow { src, dst }),
        }
    }

    fn input<A: Family, S: ServiceAccess>(
        &self,
        svc: &mut S,
        pkt: &Packet,
        now: Instant,
        n: u64,
        h: Option<u64>,
    ) -> Result<Verdict, ConnError> {
        let flow = &pkt.flow;
        let Some((k, tag, sh)) = self.place::<A>(flow, h) else {
            return Err(ConnError::MixedFamilyFlow { src: flow.src, dst: flow.dst });
        };
        let sys = self.sysctls.bits();
        if k.cport == 0 {
            return self.input_miss::<A, S>(svc, pkt, now, (k, tag, sh), n, sys);
        }
        // A hit's verdict is built straight into this call's result (through
        // an `Option` first, it was copied on its way out).
        self.input_hit::<A, _>(pkt, sh, tag, &k, n, sys, Ok, || {
            self.input_miss::<A, S>(svc, pkt, now, (k, tag, sh), n, sys)
        })
    }

    /// The rest of `ip_vs_in` for a client packet that found no (usable)
    /// connection: schedule one. Kept out of line so that the hit path
    /// above carries none of its set-up.
    #[inline(never)]
    fn input_miss<A: Family, S: ServiceAccess>(
        &self,
        svc: &mut S,
        pkt: &Packet,
        now: Instant,
        (k, tag, sh): (Key<A>, u32, &Shard<A>),
        n: u64,
        sys: SysBits,
    ) -> Result<Verdict, ConnError> {
        let flow = &pkt.flow;
        let Key { caddr, cport, vaddr, .. } = k;
        // A lost race (another thread created the same connection while this
        // one scheduled) looks the connection up again and goes round once
        // more if it is unusable. Each round that loses means another
        // thread's insert won, so this ends.
        loop {
            match &pkt.segment {
                Segment::Tcp(f) if f.rst() || !(sys.sloppy_tcp() || f.syn()) => {
                    return Ok(Verdict::Pass(PassReason::NotNewConnection));
                }
                Segment::Sctp(c) if c.first == chunk::ABORT || !(sys.sloppy_sctp() || c.first == chunk::INIT) => {
                    return Ok(Verdict::Pass(PassReason::NotNewConnection));
                }
                _ => {}
            }
            if cport == FTP_DATA_PORT {
                return Ok(Verdict::Pass(PassReason::FtpData));
            }
            let plan = match svc.with_service(|s| self.schedule::<A>(s, flow, caddr, vaddr, n, now, sys))? {
                Ok(plan) => plan,
                Err(v) => return Ok(v),
            };
            if plan.one_packet {
                return Ok(Verdict::Forward(self.one_packet::<A>(pkt, &plan, &k, n, sys)));
            }
            if !self.reserve() {
                self.release_template::<A>(plan.tref);
                return Ok(Verdict::Drop(DropReason::TableFull { limit: self.max_entries }));
            }
            let mut w = sh.write();
            if w.find(tag, &k).is_some() {
                drop(w);
                self.count.fetch_sub(1, Relaxed);
                self.release_template::<A>(plan.tref);
                if cport != 0 {
                    if let Some(v) = self.input_hit::<A, _>(pkt, sh, tag, &k, n, sys, Some, || None) {
                        return Ok(v);
                    }
                }
                continue;
            }
            let Some(di) = w.g.dests.acquire(&plan.dest) else {
                drop(w);
                self.count.fetch_sub(1, Relaxed);
                self.release_template::<A>(plan.tref);
                return Ok(Verdict::Drop(DropReason::TooManyServers));
            };
            let mut e = new_entry::<A>(tag, &k, plan.dport, &plan.dest, di, plan.tref, n);
            plan.dest.bind_conn(false);
            let assure = self.step(&mut e, &plan.dest, DIR_INPUT, &pkt.segment, sys);
            e.last_used = n as u32;
            if w.insert(e).is_none() {
                plan.dest.unbind_conn(e.flags & flag::INACTIVE == 0);
                w.g.dests.release(di);
                drop(w);
                self.count.fetch_sub(1, Relaxed);
                self.release_template::<A>(plan.tref);
                return Ok(Verdict::Drop(DropReason::TableFull { limit: self.max_entries }));
            }
            w.file(tag, n + e.timeout as u64);
            w.publish_next_event();
            drop(w);
            if assure {
                self.assure_template::<A>(plan.tref);
            }
            return Ok(Verdict::Forward(self.forward_of(&e, &plan.dest, true, false)));
        }
    }

    /// The hit half of `ip_vs_in`: `found(verdict)` for a packet of a
    /// (usable) connection; `miss()`, called with no lock held, when it has
    /// none and should be scheduled.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn input_hit<A: Family, R>(
        &self,
        pkt: &Packet,
        sh: &Shard<A>,
        tag: u32,
        k: &Key<A>,
        n: u64,
        sys: SysBits,
        found: impl FnOnce(Verdict) -> R,
        miss: impl FnOnce() -> R,
    ) -> R {
        let mut w = sh.write();
        let Some((at, mut e)) = w.find_entry(tag, k) else {
            drop(w);
            return miss();
        };
        let (available, weight) = w.g.dests.get(e.dest).map_or((false, 0), |d| (d.is_available(), d.weight()));
        // A new connection's first packet on a finished or drained one
        // (`expire_nodest_conn` with weight 0, or `conn_reuse_mode`).
        let mut resched = pkt.segment.is_new_conn()
            && ((sys.expire_nodest_conn() && weight == 0)
                || (sys.conn_reuse_mode() != 0 && new_conn_expected(&e, sys.conn_reuse_mode())));
        if !resched && !available {
            if !sys.expire_nodest_conn() {
                return found(Verdict::Drop(DropReason::DestUnavailable));
            }
            resched = true;
        }
        if resched {
            // `ip_vs_conn_expire_now`: the kernel lets its timer remove the entry
            // at the next tick; it goes at once here.
            let old = self.remove_conn(&mut w, at.i);
            drop(w);
            self.release_template::<A>(old.tref);
            return miss();
        }
        let before = e;
        let Some(d) = w.g.dests.get(e.dest) else { return found(Verdict::Drop(DropReason::DestUnavailable)) };
        let assure = self.step(&mut e, d, DIR_INPUT, &pkt.segment, sys);
        e.last_used = n as u32;
        let fwd = self.forward_of(&e, d, false, false);
        self.commit(&mut w, at, &before, &e, n);
        drop(w);
        if assure {
            self.assure_template::<A>(e.tref);
        }
        found(Verdict::Forward(fwd))
    }

    /// Writes back a connection after a packet and re-files its timer when
    /// the packet made it due earlier than before.
    #[inline]
    fn commit<A: Addr>(
        &self,
        w: &mut super::store::Writer<'_, A>,
        at: At<'_, A>,
        before: &Entry<A>,
        after: &Entry<A>,
        n: u64,
    ) {
        if before.state == after.state && before.flags == after.flags && before.timeout == after.timeout {
            w.touch(at, after.last_used);
        } else {
            w.set(at, after);
        }
        let old_due = widen(n, before.due32());
        let new_due = widen(n, after.due32());
        if new_due < old_due {
            w.file(after.tag, new_due);
            w.publish_next_event();
        }
    }

    /// `ip_vs_out` for a reply.
    fn output<A: Family>(&self, pkt: &Packet, n: u64, h: Option<u64>) -> Verdict {
        let flow = &pkt.flow;
        let (Some(caddr), Some(src)) = (A::from_ip(flow.dst), A::from_ip(flow.src)) else {
            return Verdict::Pass(PassReason::NoConnection);
        };
        let proto = flow.protocol.number();
        let (cport, sport) = (flow.dst_port, flow.src_port);
        let sys = self.sysctls.bits();
        let (tag, sh) = self.home(proto, caddr, cport, h);
        let mut w = sh.write();
        let found = {
            let dests = &w.g.dests;
            w.find_by(tag, |e| {
                if e.proto != proto || e.caddr != caddr || e.cport != cport {
                    return false;
                }
                if e.flags & flag::FWD_MASK == 0 {
                    let daddr = if e.flags & flag::WIDE_DADDR != 0 {
                        dests.get(e.dest).map(|d| d.addr())
                    } else {
                        Some(e.daddr.to_ip())
                    };
                    e.dport == sport && daddr == Some(src.to_ip())
                } else {
                    e.vport == sport && e.vaddr == src
                }
            })
        };
        let Some((at, mut e)) = found else { return Verdict::Pass(PassReason::NoConnection) };
        let before = e;
        let Some(d) = w.g.dests.get(e.dest) else { return Verdict::Pass(PassReason::NoConnection) };
        let assure = self.step(&mut e, d, DIR_OUTPUT, &pkt.segment, sys);
        e.last_used = n as u32;
        let fwd = self.forward_of(&e, d, false, false);
        self.commit(&mut w, at, &before, &e, n);
        drop(w);
        if assure {
            self.assure_template::<A>(e.tref);
        }
        Verdict::Forward(fwd)
    }

    /// One-packet scheduling: the connection is bound, moved by this packet
    /// and expired at once, never entering the table (`ip_vs_conn_put` of an
    /// `IP_VS_CONN_F_ONE_PACKET` entry).
    fn one_packet<A: Family>(&self, pkt: &Packet, plan: &Plan, k: &Key<A>, n: u64, sys: SysBits) -> Forward {
        let mut e = new_entry::<A>(0, k, plan.dport, &plan.dest, 0, plan.tref, n);
        plan.dest.bind_conn(false);
        let assure = self.step(&mut e, &plan.dest, DIR_INPUT, &pkt.segment, sys);
        plan.dest.unbind_conn(e.flags & flag::INACTIVE == 0);
        if assure {
            self.assure_template::<A>(plan.tref);
        }
        self.release_template::<A>(plan.tref);
        let mut f = self.forward_of(&e, &plan.dest, true, true);
        f.one_packet = true;
        f
    }

    /// Moves a connection's state for one packet (`set_tcp_state`,
    /// `udp_state_transition`, `set_sctp_state`): the no-output flag picks
    /// the input-only table until a reply is seen, the server's active count
    /// follows the state, and the timeout becomes the new state's. Returns
    /// whether the connection's template is to be marked assured.
    #[inline(always)]
    fn step<A: Addr>(&self, e: &mut Entry<A>, d: &Dest, dir: usize, seg: &Segment, sys: SysBits) -> bool {
        let Some(protocol) = Protocol::from_number(e.proto) else { return false };
        if protocol == Protocol::Udp {
            e.timeout = self.timeouts.ticks(protocol, 0);
            return dir == DIR_OUTPUT;
        }
        let mut table_dir = dir;
        if e.flags & flag::NOOUTPUT != 0 {
            if dir == DIR_OUTPUT {
                e.flags &= !flag::NOOUTPUT;
            } else {
                table_dir = DIR_INPUT_ONLY;
            }
        }
        let new = transition(sys.secure_tcp(), table_dir, seg, e.state);
        let mut assure = false;
        if new != e.state {
            let was_active = e.flags & flag::INACTIVE == 0;
            let active = is_active(protocol, new);
            if was_active && !active {
                d.deactivate_conn();
                e.flags |= flag::INACTIVE;
            } else if !was_active && active {
                d.activate_conn();
                e.flags &= !flag::INACTIVE;
            }
            assure = is_established(protocol, new);
        }
        e.state = new;
        e.timeout = self.timeouts.ticks(protocol, new);
        assure && e.tref != NO_TEMPLATE
    }

    #[inline]
    fn forward_of<A: Addr>(&self, e: &Entry<A>, d: &Dest, created: bool, one_packet: bool) -> Forward {
        Forward {
            client: e.caddr.socket(e.cport),
            virtual_addr: e.vaddr.socket(e.vport),
            dest: server_of(e, Some(d)),
            method: forward_method(e.flags, Some(d)),
            state: ConnState::from_stored(e.proto, e.state),
            created,
            one_packet,
            persistent: e.tref != NO_TEMPLATE,
        }
    }

    /// Marks a template assured (`ip_vs_control_assure_ct`).
    fn assure_template<A: Family>(&self, tref: u32) {
        if tref == NO_TEMPLATE {
            return;
        }
        let (si, idx) = self.untref(tref);
        let mut w = A::shards(self)[si].write();
        if let Some(tp) = w.g.templates.get_mut(idx) {
            tp.assured = true;
        }
    }

    /// Picks the server for a new connection (`ip_vs_schedule`), under the
    /// service's lock. `Ok(Err(verdict))` when the packet is dropped.
    #[allow(clippy::too_many_arguments)]
    fn schedule<A: Family>(
        &self,
        svc: &mut Service,
        flow: &Flow,
        caddr: A,
        vaddr: A,
        n: u64,
        now: Instant,
        sys: SysBits,
    ) -> Result<Result<Plan, Verdict>, ConnError> {
        let cfg = svc.config();
        let key = cfg.key;
        let svc_port = check_flow(key, flow)?;
        let one_packet = cfg.flags.contains(ServiceFlags::ONEPACKET) && flow.protocol == Protocol::Udp;
        if flow.src_port == 0 && !one_packet {
            return Ok(Err(Verdict::Drop(DropReason::ClientPortZero)));
        }
        if let Some(p) = cfg.persistence {
            if cfg.pe_name.is_some() {
                return Ok(Err(Verdict::Drop(DropReason::PersistenceEngine)));
            }
            return Ok(self.sched_persist::<A>(svc, p, svc_port, flow, caddr, vaddr, n, now, sys, one_packet));
        }
        let Some(dest) = svc.schedule(flow, now).cloned() else {
            return Ok(Err(Verdict::Drop(DropReason::NoDestination)));
        };
        let dport = if dest.port() != 0 { dest.port() } else { flow.dst_port };
        Ok(Ok(Plan { dest, dport, tref: NO_TEMPLATE, one_packet }))
    }

    /// `ip_vs_sched_persist`: finds the client network's template or
    /// schedules and creates one, then plans the connection under it. The
    /// template's use is reserved (`n_control`) before the connection exists,
    /// as the kernel's reference on it keeps it alive.
    #[allow(clippy::too_many_arguments)]
    fn sched_persist<A: Family>(
        &self,
        svc: &mut Service,
        p: Persistence,
        svc_port: u16,
        flow: &Flow,
        caddr: A,
        vaddr: A,
        n: u64,
        now: Instant,
        sys: SysBits,
        one_packet: bool,
    ) -> Result<Plan, Verdict> {
        let proto = flow.protocol.number();
        let vport = flow.dst_port;
        let snet = caddr.mask(mask_bits::<A>(p.mask));
        let fwmark = match svc.config().key {
            ServiceKey::Fwmark { mark, .. } => Some(mark),
            ServiceKey::Addr { .. } => None,
        };
        // The template's key: <proto, snet, 0, vaddr, vport> for the service's
        // own port (vport 0 for FTP), <IP, snet, 0, mark, 0> for firewall
        // marks, <proto, snet, 0, vaddr, 0> for port-zero services.
        let (tproto, tvaddr, tvport) = if vport == svc_port {
            (proto, vaddr, if svc_port != FTP_PORT { vport } else { 0 })
        } else if let Some(mark) = fwmark {
            (0, A::from_mark(mark), 0)
        } else {
            (proto, vaddr, 0)
        };
        let (th, chain) = self.template_hash(tproto, snet, tvaddr, tvport);
        let tsi = self.shard_of(th);
        let mut tw = A::shards(self)[tsi].write();
        let mut valid = None;
        if let Some(ti) = tw.g.templates.find(chain, tproto, snet, tvaddr, tvport) {
            // `ip_vs_check_template`
            let (usable, vport_now) = match tw.g.templates.get(ti) {
                Some(tp) => {
                    (tp.dest.is_available() && !(sys.expire_quiescent_template() && tp.dest.weight() == 0), tp.vport)
                }
                None => (false, INVALID_PORT),
            };
            if usable {
                valid = Some(ti);
            } else if vport_now != INVALID_PORT {
                let (_, nchain) = self.template_hash(tproto, snet, tvaddr, INVALID_PORT);
                tw.g.templates.rekey(ti, INVALID_PORT, INVALID_PORT, nchain);
            }
        }
        let (ti, dest) = match valid {
            Some(ti) => match tw.g.templates.get(ti) {
                Some(tp) => (ti, Arc::clone(&tp.dest)),
                None => return Err(Verdict::Drop(DropReason::NoDestination)),
            },
            None => {
                let Some(dest) = svc.schedule(flow, now).cloned() else {
                    return Err(Verdict::Drop(DropReason::NoDestination));
                };
                let tdport = if vport == svc_port && svc_port != FTP_PORT { dest.port() } else { 0 };
                if !self.reserve() {
                    return Err(Verdict::Drop(DropReason::TableFull { limit: self.max_entries }));
                }
                let timeout = p.timeout.saturating_mul(HZ);
                let tp =
                    Template::new(tproto, snet, tvaddr, tvport, tdport, Arc::clone(&dest), timeout, n as u32, chain);
                let Some(ti) = tw.g.templates.insert(tp, self.template_limit()) else {
                    self.count.fetch_sub(1, Relaxed);
                    return Err(Verdict::Drop(DropReason::TableFull { limit: self.max_entries }));
                };
                dest.bind_template();
                self.templates.fetch_add(1, Relaxed);
                let generation = tw.g.templates.get(ti).map_or(0, |tp| tp.generation);
                tw.file(template_item(ti, generation), n + timeout as u64);
                tw.publish_next_event();
                (ti, dest)
            }
        };
        if let Some(tp) = tw.g.templates.get_mut(ti) {
            // `ip_vs_conn_put(ct)`: the timer restarts with the template's own
            // timeout; the new connection is counted against it.
            tp.last_used = n as u32;
            tp.n_control += 1;
        }
        let dport = if vport == svc_port && dest.port() != 0 { dest.port() } else { vport };
        Ok(Plan { dest, dport, tref: self.tref(tsi, ti), one_packet })
    }

    /// The shard hash (over protocol, client network and port 0, as the
    /// kernel hashes templates) and the chain hash (the whole key).
    pub(crate) fn template_hash<A: Addr>(&self, proto: u8, snet: A, vaddr: A, vport: u16) -> (u64, u64) {
        let th = A::hash(&self.hash, proto, snet, 0);
        let v = vaddr.widen();
        let chain = self
            .hash
            .more(th, (v as u64) ^ ((v >> 64) as u64).rotate_left(17) ^ (vport as u64) << 40 ^ (proto as u64) << 56);
        (th, chain)
    }
}

/// Checks that `flow` is for service `key`; returns the service's port (0
/// for firewall-mark services, as the kernel keeps it).
fn check_flow(key: ServiceKey, flow: &Flow) -> Result<u16, ConnError> {
    let fam = AddrFamily::of(flow.dst);
    match key {
        ServiceKey::Addr { protocol, addr, port } => {
            if protocol != flow.protocol {
                return Err(ConnError::ProtocolMismatch { service: key, protocol: flow.protocol });
            }
            if AddrFamily::of(addr) != fam {
                return Err(ConnError::FamilyMismatch {
                    service: key,
                    service_family: AddrFamily::of(addr),
                    flow: fam,
                });
            }
            if addr != flow.dst || (port != 0 && port != flow.dst_port) {
                return Err(ConnError::NotForService {
                    service: key,
                    addr: flow.dst,
                    port: flow.dst_port,
                    fwmark: flow.fwmark,
                });
            }
            Ok(port)
        }
        ServiceKey::Fwmark { family, mark } => {
            if family != fam {
                return Err(ConnError::FamilyMismatch { service: key, service_family: family, flow: fam });
            }
            if flow.fwmark != mark {
                return Err(ConnError::NotForService {
                    service: key,
                    addr: flow.dst,
                    port: flow.dst_port,
                    fwmark: flow.fwmark,
                });
            }
            Ok(0)
        }
    }
}

/// A persistence mask as bits of this family's address.
fn mask_bits<A: Addr>(m: PersistMask) -> u128 {
    match m {
        PersistMask::V4(mask) => u32::from(mask) as u128,
        PersistMask::V6(0) => 0,
        PersistMask::V6(plen) => u128::MAX << (128 - u32::from(plen.min(128))),
    }
}

/// Whether a finished connection may be replaced by a new one from the same
/// client port (`is_new_conn_expected`): never under a template; TCP in
/// TIME_WAIT or CLOSE, or (reuse mode bit 2) FIN_WAIT without a reply seen;
/// SCTP CLOSED.
fn new_conn_expected<A>(e: &Entry<A>, mode: u8) -> bool {
    if e.tref != NO_TEMPLATE {
        return false;
    }
    match Protocol::from_number(e.proto) {
        Some(Protocol::Tcp) => {
            e.state == TcpState::TimeWait as u8
                || e.state == TcpState::Close as u8
                || (mode & 2 != 0 && e.state == TcpState::FinWait as u8 && e.flags & flag::NOOUTPUT != 0)
        }
        Some(Protocol::Sctp) => e.state == SctpState::Closed as u8,
        _ => false,
    }
}

/// A freshly bound connection (`ip_vs_conn_new` + `ip_vs_bind_dest`): state
/// NONE with a 3 s timeout, the server's forwarding method, counted
/// inactive, and flagged no-output unless masqueraded.
fn new_entry<A: Addr>(tag: u32, k: &Key<A>, dport: u16, dest: &Dest, di: u16, tref: u32, n: u64) -> Entry<A> {
    let method = dest.forward();
    let mut flags = method.code() as u16 & flag::FWD_MASK | flag::INACTIVE;
    if method != ForwardMethod::Masq {
        flags |= flag::NOOUTPUT;
    }
    let daddr = match A::from_ip(dest.addr()) {
        Some(a) => a,
        None => {
            flags |= flag::WIDE_DADDR;
            A::default()
        }
    };
    Entry { dport, flags, dest: di, daddr, timeout: 3 * HZ, last_used: n as u32, tref, ..Entry::keyed(tag, k) }
}

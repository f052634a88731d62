//! [`Driver`]: runs [`VrrpInstance`]s and [`SyncGroup`]s on real sockets,
//! on a plain `std` event loop (epoll through the `polling` crate).
//!
//! What it does, in keepalived's terms (`keepalived/vrrp/vrrp_scheduler.c`,
//! `core/keepalived_netlink.c`):
//!
//! * Opens one [`VrrpSocket`] per interface, family and membership, shared
//!   by the instances using it, and hands each received packet to the
//!   instance with its VRID (keepalived's `vrrp_dispatcher_read`); packets
//!   for no instance are counted in [`DriverStats`].
//! * Sleeps until the earliest [`poll_timeout`](VrrpInstance::poll_timeout)
//!   with a timer of nanosecond resolution (`timerfd`), so timers fire when
//!   the state machine asked, not on the next millisecond.
//! * Carries out each instance's outputs in the documented order: actions
//!   (VIPs added or removed over rtnetlink, so they exist before they are
//!   announced), then packets (adverts on the VRRP socket, gratuitous ARPs
//!   and unsolicited NAs on the packet socket from the interface's MAC).
//!   Events go to the caller's observer just before the actions.
//! * Follows links and addresses over rtnetlink: an interface that stops
//!   being `IFF_UP | IFF_RUNNING` sends [`Input::LinkDown`] (FAULT), its
//!   return [`Input::LinkUp`]; the interface's primary IPv4 address (or
//!   IPv6 link-local address) feeds [`Input::InterfaceAddress`]; an
//!   interface deleted and created again gets new sockets; a VIP removed by
//!   someone else while master sends [`Input::AddressRemoved`] (keepalived's
//!   `set_vrrp_backup`: a priority 0 advert, back to BACKUP, master again
//!   after Skew_Time with the addresses restored).
//! * Stops cleanly on [`Stopper::stop`] or, after
//!   [`handle_signals`](Driver::handle_signals), on SIGTERM or SIGINT: every
//!   instance gets [`Input::Shutdown`], so masters send their priority 0
//!   advert and remove their VIPs, then [`run`](Driver::run) returns.
//!
//! Deliberate differences from keepalived: `no_accept`'s traffic blocking
//! ([`Action::BlockTraffic`]) needs a firewall backend the driver does not
//! have; it reports [`DriverEvent::Unsupported`] and carries on.
//! Interfaces must exist at start (keepalived without
//! `dynamic_interfaces` also refuses them), but may vanish and come back
//! while running.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use polling::{Events, Poller};

use super::error::{RawSocketError, SocketOp};
use super::frame::{FrameSender, ipv6_forwarding};
use super::monitor::{AddrInfo, LinkInfo, NetEvent, NetlinkMonitor, dump_addresses, dump_links};
use super::signals::SignalPipe;
use super::sys;
use super::vrrp_socket::{MAX_PACKET_LEN, Membership, VrrpSocket};
use crate::backend::addr::{AddrFlags, AddrScope, InterfaceAddress};
use crate::backend::netlink::NetlinkAddresses;
use crate::backend::{AddressBackend, Errno};
use crate::vrrp::{Action, Event, GroupEvent, Input, RxMeta, Stats, SyncGroup, Transmit, VirtualAddress, VrrpInstance};
use crate::wire::{Family, vrrp};

const KEY_MONITOR: usize = 0;
const KEY_STOP_SIGNAL: usize = 1;
const KEY_STATS_SIGNAL: usize = 2;
const KEY_SOCKET_BASE: usize = 16;
/// Packets read from one socket before timers and other sockets get a turn.
const RX_BATCH: usize = 64;
/// How long keepalived trusts an interface's IPv6 forwarding setting.
const FORWARDING_TTL: Duration = Duration::from_secs(5);

/// Counters of what the driver saw that no instance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// Packets received on VRRP sockets.
    pub rx_packets: u64,
    /// Packets too short to hold a VRID (or an IPv4 header that does not
    /// parse); keepalived drops these before any instance sees them.
    pub rx_short: u64,
    /// Packets longer than [`MAX_PACKET_LEN`], cut by the socket.
    pub rx_truncated: u64,
    /// Packets for a VRID no instance on that socket has.
    pub rx_unknown_vrid: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Adverts sent.
    pub tx_adverts: u64,
    /// Gratuitous ARPs sent.
    pub tx_garps: u64,
    /// Unsolicited Neighbour Advertisements sent.
    pub tx_nas: u64,
    /// Sends that failed (or had no socket, or no MAC address to send from).
    pub tx_errors: u64,
    /// Address additions and removals that failed.
    pub address_errors: u64,
    /// Times rtnetlink notifications were lost and everything was dumped
    /// again.
    pub netlink_overruns: u64,
    /// VIPs removed by someone else while their instance was master.
    pub vips_lost: u64,
}

/// What the driver tells its observer.
#[derive(Debug)]
#[non_exhaustive]
pub enum DriverEvent {
    /// An instance's event (state changes, discarded adverts …).
    Instance {
        /// The instance's name.
        name: Arc<str>,
        /// What it said.
        event: Event,
    },
    /// A sync group changed state.
    Group {
        /// The group's name.
        name: Arc<str>,
        /// The change.
        event: GroupEvent,
    },
    /// A VIP was added to its interface.
    AddressAdded {
        /// The instance.
        name: Arc<str>,
        /// The address as added.
        address: InterfaceAddress,
    },
    /// A VIP was removed from its interface.
    AddressRemoved {
        /// The instance.
        name: Arc<str>,
        /// The address as removed.
        address: InterfaceAddress,
    },
    /// Someone else removed a VIP of a master instance.
    AddressLost {
        /// The instance.
        name: Arc<str>,
        /// The address.
        addr: IpAddr,
    },
    /// An instance's action failed (the instance carries on).
    ActionFailed {
        /// The instance.
        name: Arc<str>,
        /// The action.
        action: Action,
        /// Why.
        error: RawSocketError,
    },
    /// An action the driver cannot carry out.
    Unsupported {
        /// The instance.
        name: Arc<str>,
        /// The action.
        action: Action,
    },
    /// A packet could not be sent.
    SendFailed {
        /// The instance.
        name: Arc<str>,
        /// Why.
        error: RawSocketError,
    },
    /// A watched interface went up or down (`IFF_UP | IFF_RUNNING`).
    Link {
        /// Its name.
        ifname: String,
        /// Its index.
        ifindex: u32,
        /// Whether it is up now.
        up: bool,
    },
    /// A watched interface was deleted.
    InterfaceDeleted {
        /// Its name.
        ifname: String,
    },
    /// A watched interface was created again and its sockets reopened.
    InterfaceCreated {
        /// Its name.
        ifname: String,
        /// Its new index.
        ifindex: u32,
    },
    /// A socket could not be (re)opened; the instances using it stay deaf
    /// until the interface changes again.
    SocketFailed {
        /// The interface.
        ifname: String,
        /// Why.
        error: RawSocketError,
    },
    /// The stats signal (SIGUSR2, keepalived's `STATS`) arrived: the
    /// counters at that moment.
    Stats {
        /// Each instance's counters, in the order added.
        instances: Vec<(Arc<str>, Stats)>,
        /// The driver's.
        driver: DriverStats,
    },
    /// Shutdown began (signal or [`Stopper::stop`]).
    ShuttingDown,
}

/// Stops a running [`Driver`] from another thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    poller: Arc<Poller>,
}

impl Stopper {
    /// Asks the driver to shut down (priority 0 adverts, VIPs removed) and
    /// return from [`run`](Driver::run).
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.poller.notify();
    }
}

/// A single instance or a sync group: the unit the driver feeds.
#[derive(Debug)]
enum Unit {
    Single(Box<VrrpInstance>),
    Group(SyncGroup),
}

impl Unit {
    fn members(&self) -> &[VrrpInstance] {
        match self {
            Unit::Single(v) => std::slice::from_ref(&**v),
            Unit::Group(g) => g.members(),
        }
    }

    fn member_input(&mut self, now: Instant, m: usize, input: Input) {
        match self {
            Unit::Single(v) => v.handle_input(now, input),
            Unit::Group(g) => g.handle_member_input(now, m, input),
        }
    }

    fn input(&mut self, now: Instant, input: Input) {
        match self {
            Unit::Single(v) => v.handle_input(now, input),
            Unit::Group(g) => g.handle_input(now, input),
        }
    }

    fn ipv4_packet(&mut self, now: Instant, m: usize, bytes: &[u8]) {
        match self {
            Unit::Single(v) => v.handle_ipv4_packet(now, bytes),
            Unit::Group(g) => g.handle_ipv4_packet(now, m, bytes),
        }
    }

    fn advert(&mut self, now: Instant, m: usize, meta: RxMeta, bytes: &[u8]) {
        match self {
            Unit::Single(v) => v.handle_advert(now, meta, bytes),
            Unit::Group(g) => g.handle_advert(now, m, meta, bytes),
        }
    }

    fn timeout(&mut self, now: Instant) {
        match self {
            Unit::Single(v) => v.handle_timeout(now),
            Unit::Group(g) => g.handle_timeout(now),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Unit::Single(v) => v.poll_timeout(),
            Unit::Group(g) => g.poll_timeout(),
        }
    }

    fn poll_action(&mut self) -> Option<(usize, Action)> {
        match self {
            Unit::Single(v) => v.poll_action().map(|a| (0, a)),
            Unit::Group(g) => g.poll_action(),
        }
    }

    fn poll_transmit(&mut self) -> Option<(usize, Transmit)> {
        match self {
            Unit::Single(v) => v.poll_transmit().map(|t| (0, t)),
            Unit::Group(g) => g.poll_transmit(),
        }
    }

    fn poll_event(&mut self) -> Option<(usize, Event)> {
        match self {
            Unit::Single(v) => v.poll_event().map(|e| (0, e)),
            Unit::Group(g) => g.poll_event(),
        }
    }

    fn poll_group_event(&mut self) -> Option<GroupEvent> {
        match self {
            Unit::Single(_) => None,
            Unit::Group(g) => g.poll_group_event(),
        }
    }
}

/// What the driver keeps per instance (per sync group member).
#[derive(Debug)]
struct Member {
    name: Arc<str>,
    family: Family,
    vrid: u8,
    ifname: String,
    ifindex: Option<u32>,
    membership: Membership,
    socket: Option<usize>,
    link_up: bool,
    iface_addr: Option<IpAddr>,
    /// The VIPs and excluded VIPs with the interface each goes on.
    vips: Vec<(VirtualAddress, String)>,
}

#[derive(Debug)]
struct UnitSlot {
    unit: Unit,
    name: Arc<str>,
    members: Vec<Member>,
}

#[derive(Debug)]
struct SocketSlot {
    sock: VrrpSocket,
    /// (unit, member) pairs hearing on it.
    users: Vec<(usize, usize)>,
}

/// Runs VRRP instances on real sockets (see the module doc).
///
/// ```no_run
/// use lvskit::backend::raw_socket::{Driver, DriverEvent};
/// use lvskit::vrrp::{InstanceConfig, VirtualAddress, VrrpInstance};
///
/// let vi = VrrpInstance::new(
///     InstanceConfig::new("VI_1", 51).interface("eth0").priority(100).vip("192.0.2.100/24".parse::<VirtualAddress>()?),
/// )?;
/// let mut driver = Driver::new()?;
/// driver.add_instance(vi)?;
/// driver.handle_signals()?; // SIGTERM / SIGINT: priority 0, VIPs removed, return
/// driver.run(|event| {
///     if let DriverEvent::Instance { name, event } = event {
///         println!("{name}: {event:?}");
///     }
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Driver {
    poller: Arc<Poller>,
    stop_flag: Arc<AtomicBool>,
    units: Vec<UnitSlot>,
    sockets: Vec<Option<SocketSlot>>,
    frames: FrameSender,
    addrs: NetlinkAddresses,
    monitor: NetlinkMonitor,
    stop_signals: Option<SignalPipe>,
    stats_signal: Option<SignalPipe>,
    links: HashMap<u32, LinkInfo>,
    addresses: Vec<AddrInfo>,
    forwarding: HashMap<String, (Instant, bool)>,
    rx: Box<[u8]>,
    tx: Box<[u8]>,
    events: Events,
    net_events: Vec<NetEvent>,
    stats: DriverStats,
    started: bool,
    stopping: bool,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("units", &self.units.len())
            .field("sockets", &self.sockets.iter().flatten().count())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn backend_err(e: crate::backend::BackendError) -> RawSocketError {
    RawSocketError::Backend(e)
}

impl Driver {
    /// Opens the rtnetlink monitor, the packet socket and the address
    /// backend in the caller's network namespace, and reads the current
    /// links and addresses.
    pub fn new() -> Result<Self, RawSocketError> {
        let poller = Arc::new(Poller::new().map_err(RawSocketError::io(SocketOp::Poll))?);
        // The monitor first, so that no change after the dumps is missed.
        let monitor = NetlinkMonitor::open()?;
        sys::poll_add(&poller, monitor.as_fd(), KEY_MONITOR).map_err(RawSocketError::io(SocketOp::Poll))?;
        let links = dump_links()?.into_iter().map(|l| (l.index, l)).collect();
        let addresses = dump_addresses()?;
        Ok(Driver {
            poller,
            stop_flag: Arc::new(AtomicBool::new(false)),
            units: Vec::new(),
            sockets: Vec::new(),
            frames: FrameSender::open()?,
            addrs: NetlinkAddresses::new()?,
            monitor,
            stop_signals: None,
            stats_signal: None,
            links,
            addresses,
            forwarding: HashMap::new(),
            rx: vec![0; MAX_PACKET_LEN].into_boxed_slice(),
            tx: vec![0; MAX_PACKET_LEN].into_boxed_slice(),
            events: Events::new(),
            net_events: Vec::new(),
            stats: DriverStats::default(),
            started: false,
            stopping: false,
        })
    }

    /// Adds an instance (built, not started). Its interface must exist.
    pub fn add_instance(&mut self, instance: VrrpInstance) -> Result<(), RawSocketError> {
        let name: Arc<str> = Arc::from(instance.name());
        self.add_unit(Unit::Single(Box::new(instance)), name)
    }

    /// Adds a sync group (its members built, not started).
    pub fn add_sync_group(&mut self, group: SyncGroup) -> Result<(), RawSocketError> {
        let name: Arc<str> = Arc::from(group.name());
        self.add_unit(Unit::Group(group), name)
    }

    fn add_unit(&mut self, unit: Unit, name: Arc<str>) -> Result<(), RawSocketError> {
        if self.started {
            return Err(RawSocketError::Instance {
                instance: name.to_string(),
                reason: "the driver is already running".into(),
            });
        }
        let u = self.units.len();
        let mut members = Vec::new();
        for vi in unit.members() {
            let cfg = vi.config();
            let ifname = cfg.interface.clone().ok_or_else(|| RawSocketError::Instance {
                instance: vi.name().to_owned(),
                reason: "no interface configured".into(),
            })?;
            let ifindex = self.link_by_name(&ifname).map(|l| l.index);
            if ifindex.is_none() {
                return Err(RawSocketError::NoInterface { name: ifname });
            }
            let membership = if cfg.is_unicast() {
                Membership::Unicast(cfg.src_ip)
            } else {
                Membership::Multicast(cfg.mcast_dst_ip.unwrap_or(vrrp::mcast_group(vi.family())))
            };
            let vips = cfg
                .virtual_ipaddress
                .iter()
                .chain(&cfg.virtual_ipaddress_excluded)
                .map(|v| (v.clone(), v.dev.clone().unwrap_or_else(|| ifname.clone())))
                .collect();
            members.push(Member {
                name: Arc::from(vi.name()),
                family: vi.family(),
                vrid: vi.vrid(),
                ifname,
                ifindex,
                membership,
                socket: None,
                link_up: true,
                iface_addr: None,
                vips,
            });
        }
        self.units.push(UnitSlot { unit, name, members });
        for m in 0..self.units[u].members.len() {
            self.attach_socket(u, m)?;
        }
        Ok(())
    }

    /// Installs handlers for SIGTERM and SIGINT (clean shutdown) and
    /// SIGUSR2 ([`DriverEvent::Stats`]), as keepalived handles
    /// them.
    ///
    /// Once per driver: a second call returns
    /// [`RawSocketError::SignalsAlreadyHandled`] and changes nothing (the
    /// installed handlers' descriptors stay registered with the poller,
    /// which must never see one closed under it).
    pub fn handle_signals(&mut self) -> Result<(), RawSocketError> {
        if self.stop_signals.is_some() || self.stats_signal.is_some() {
            return Err(RawSocketError::SignalsAlreadyHandled);
        }
        let stop = SignalPipe::new(&[libc::SIGTERM, libc::SIGINT])?;
        let stats = SignalPipe::new(&[libc::SIGUSR2])?;
        sys::poll_add(&self.poller, stop.as_fd(), KEY_STOP_SIGNAL).map_err(RawSocketError::io(SocketOp::Poll))?;
        if let Err(e) = sys::poll_add(&self.poller, stats.as_fd(), KEY_STATS_SIGNAL) {
            let _ = self.poller.delete(stop.as_fd());
            return Err(RawSocketError::io(SocketOp::Poll)(e));
        }
        self.stop_signals = Some(stop);
        self.stats_signal = Some(stats);
        Ok(())
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper { flag: self.stop_flag.clone(), poller: self.poller.clone() }
    }

    /// The driver's own counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    fn stats_event(&self) -> DriverEvent {
        let instances = self
            .units
            .iter()
            .flat_map(|u| u.members.iter().zip(u.unit.members()))
            .map(|(m, vi)| (m.name.clone(), *vi.stats()))
            .collect();
        DriverEvent::Stats { instances, driver: self.stats }
    }

    /// Every instance (sync group members included), in the order added.
    pub fn instances(&self) -> impl Iterator<Item = &VrrpInstance> {
        self.units.iter().flat_map(|u| u.unit.members())
    }

    fn link_by_name(&self, name: &str) -> Option<&LinkInfo> {
        self.links.values().find(|l| l.name == name)
    }

    /// The address an instance on `ifindex` sends from when none is
    /// configured: the first IPv4 address of the interface, or its first
    /// IPv6 link-local one, that is not a VIP of an instance on it
    /// (keepalived's `ifp->sin_addr` / `sin6_addr`).
    fn interface_addr(&self, ifindex: u32, ifname: &str, family: Family) -> Option<IpAddr> {
        let ours = |a: IpAddr| {
            self.units
                .iter()
                .flat_map(|u| &u.members)
                .any(|m| m.vips.iter().any(|(v, dev)| dev == ifname && v.ip() == a))
        };
        self.addresses
            .iter()
            .filter(|a| a.ifindex == ifindex && Family::of(a.addr) == family)
            .filter(|a| match family {
                Family::V4 => true,
                Family::V6 => a.scope == AddrScope::Link && !a.flags.contains(AddrFlags::TENTATIVE),
            })
            .map(|a| a.addr)
            .find(|a| !ours(*a))
    }

    fn attach_socket(&mut self, u: usize, m: usize) -> Result<(), RawSocketError> {
        let mem = &self.units[u].members[m];
        let Some(ifindex) = mem.ifindex else { return Ok(()) };
        let existing = self.sockets.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                s.sock.ifindex() == ifindex && s.sock.family() == mem.family && s.sock.membership() == mem.membership
            })
        });
        let id = match existing {
            Some(id) => id,
            None => {
                let sock = VrrpSocket::open(mem.family, &mem.ifname, ifindex, mem.membership)?;
                let id = match self.sockets.iter().position(Option::is_none) {
                    Some(free) => free,
                    None => {
                        self.sockets.push(None);
                        self.sockets.len() - 1
                    }
                };
                sys::poll_add(&self.poller, sock.as_fd(), KEY_SOCKET_BASE + id)
                    .map_err(RawSocketError::io(SocketOp::Poll))?;
                self.sockets[id] = Some(SocketSlot { sock, users: Vec::new() });
                id
            }
        };
        if let Some(slot) = self.sockets[id].as_mut() {
            slot.users.push((u, m));
        }
        self.units[u].members[m].socket = Some(id);
        Ok(())
    }

    fn detach_socket(&mut self, u: usize, m: usize) {
        let Some(id) = self.units[u].members[m].socket.take() else { return };
        let empty = match self.sockets[id].as_mut() {
            Some(slot) => {
                slot.users.retain(|&x| x != (u, m));
                slot.users.is_empty()
            }
            None => false,
        };
        if empty {
            if let Some(slot) = self.sockets[id].take() {
                // Deregister before the descriptor closes (sys::poll_add's rule).
                let _ = self.poller.delete(slot.sock.as_fd());
            }
        }
    }

    /// Feeds every instance its interface's state and starts it.
    fn start(&mut self, now: Instant) {
        self.started = true;
        for u in 0..self.units.len() {
            for m in 0..self.units[u].members.len() {
                let (up, addr) = self.member_link_state(u, m);
                let mem = &mut self.units[u].members[m];
                mem.link_up = up;
                mem.iface_addr = addr;
                if !up {
                    self.units[u].unit.member_input(now, m, Input::LinkDown);
                }
                self.units[u].unit.member_input(now, m, Input::InterfaceAddress(addr));
            }
            self.units[u].unit.input(now, Input::Startup);
        }
    }

    fn member_link_state(&self, u: usize, m: usize) -> (bool, Option<IpAddr>) {
        let mem = &self.units[u].members[m];
        match mem.ifindex.and_then(|i| self.links.get(&i)) {
            Some(l) => (l.is_up(), self.interface_addr(l.index, &mem.ifname, mem.family)),
            None => (false, None),
        }
    }

    /// Runs until shutdown (a stop signal or [`Stopper::stop`]) has been
    /// carried out, passing every [`DriverEvent`] to `observer`.
    pub fn run(&mut self, mut observer: impl FnMut(DriverEvent)) -> Result<(), RawSocketError> {
        if !self.started {
            self.start(Instant::now());
        }
        loop {
            self.flush(&mut observer);
            if self.stopping {
                return Ok(());
            }
            let deadline = self.units.iter().filter_map(|u| u.unit.poll_timeout()).min();
            self.events.clear();
            let waited = match deadline {
                Some(d) => self.poller.wait_deadline(&mut self.events, d),
                None => self.poller.wait(&mut self.events, None),
            };
            if let Err(e) = waited {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(RawSocketError::io(SocketOp::Poll)(e));
                }
            }
            let now = Instant::now();
            let keys: Vec<usize> = self.events.iter().map(|e| e.key).collect();
            for key in keys {
                match key {
                    KEY_MONITOR => self.on_netlink(now, &mut observer),
                    KEY_STOP_SIGNAL => {
                        if let Some(p) = self.stop_signals.as_mut() {
                            if p.drain() > 0 {
                                self.stop_flag.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    KEY_STATS_SIGNAL => {
                        if let Some(p) = self.stats_signal.as_mut() {
                            if p.drain() > 0 {
                                observer(self.stats_event());
                            }
                        }
                    }
                    k if k >= KEY_SOCKET_BASE => self.on_readable(k - KEY_SOCKET_BASE, now),
                    _ => {}
                }
            }
            for slot in &mut self.units {
                if slot.unit.poll_timeout().is_some_and(|t| t <= now) {
                    slot.unit.timeout(now);
                }
            }
            if self.stop_flag.load(Ordering::SeqCst) {
                self.shutdown(now, &mut observer);
            }
        }
    }

    /// Shuts every instance down now (priority 0 adverts, VIPs removed) and
    /// carries out what that takes; [`run`](Self::run) then returns.
    fn shutdown(&mut self, now: Instant, observer: &mut impl FnMut(DriverEvent)) {
        if self.stopping {
            return;
        }
        observer(DriverEvent::ShuttingDown);
        for slot in &mut self.units {
            slot.unit.input(now, Input::Shutdown);
        }
        self.stopping = true;
    }

    fn on_readable(&mut self, id: usize, now: Instant) {
        for _ in 0..RX_BATCH {
            let Some(slot) = self.sockets.get(id).and_then(Option::as_ref) else { return };
            let received = match slot.sock.recv(&mut self.rx) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(_) => {
                    self.stats.rx_errors += 1;
                    return;
                }
            };
            self.stats.rx_packets += 1;
            if received.truncated {
                self.stats.rx_truncated += 1;
                continue;
            }
            let Some(&vrid) = received.payload.get(1) else {
                self.stats.rx_short += 1;
                continue;
            };
            let mut delivered = false;
            for &(u, m) in &slot.users {
                if self.units[u].members[m].vrid != vrid {
                    continue;
                }
                delivered = true;
                let unit = &mut self.units[u].unit;
                match received.ip_packet {
                    Some(ip) => unit.ipv4_packet(now, m, ip),
                    None => {
                        let meta = RxMeta { src: received.info.src, dst: received.info.dst, ttl: received.info.ttl };
                        unit.advert(now, m, meta, received.payload);
                    }
                }
            }
            if !delivered {
                self.stats.rx_unknown_vrid += 1;
            }
        }
    }

    /// Carries out every queued output of every unit.
    fn flush(&mut self, observer: &mut impl FnMut(DriverEvent)) {
        for u in 0..self.units.len() {
            loop {
                let mut progressed = false;
                // Events first: they only inform, and an observer logging
                // "Entering MASTER STATE" before "added VIP" reads right.
                while let Some((m, event)) = self.units[u].unit.poll_event() {
                    progressed = true;
                    let name = self.units[u].members[m].name.clone();
                    observer(DriverEvent::Instance { name, event });
                }
                while let Some(event) = self.units[u].unit.poll_group_event() {
                    progressed = true;
                    observer(DriverEvent::Group { name: self.units[u].name.clone(), event });
                }
                while let Some((m, action)) = self.units[u].unit.poll_action() {
                    progressed = true;
                    self.carry_out(u, m, action, observer);
                }
                while let Some((m, tx)) = self.units[u].unit.poll_transmit() {
                    progressed = true;
                    self.transmit(u, m, tx, observer);
                }
                if !progressed {
                    break;
                }
            }
        }
    }

    fn interface_address(&self, u: usize, m: usize, v: &VirtualAddress) -> Result<InterfaceAddress, RawSocketError> {
        let mem = &self.units[u].members[m];
        let dev = v.dev.as_deref().unwrap_or(&mem.ifname);
        let ifindex = self
            .link_by_name(dev)
            .map(|l| l.index)
            .ok_or_else(|| RawSocketError::NoInterface { name: dev.to_owned() })?;
        Ok(v.interface_address(ifindex))
    }

    fn carry_out(&mut self, u: usize, m: usize, action: Action, observer: &mut impl FnMut(DriverEvent)) {
        let name = self.units[u].members[m].name.clone();
        match &action {
            Action::AddAddress(v) | Action::RemoveAddress(v) => {
                let adding = matches!(action, Action::AddAddress(_));
                let address = match self.interface_address(u, m, v) {
                    Ok(a) => a,
                    Err(error) => {
                        self.stats.address_errors += 1;
                        observer(DriverEvent::ActionFailed { name, action, error });
                        return;
                    }
                };
                let result = if adding {
                    match self.addrs.add_address(&address) {
                        // Already there (left behind by a previous run, as
                        // keepalived finds them after a crash): it is ours.
                        Err(e) if e.errno() == Some(Errno::EEXIST) => Ok(()),
                        r => r,
                    }
                } else {
                    match self.addrs.del_address(&address) {
                        Err(e) if matches!(e.errno(), Some(Errno::EADDRNOTAVAIL) | Some(Errno::ENODEV)) => Ok(()),
                        r => r,
                    }
                };
                match result {
                    Ok(()) if adding => {
                        self.note_address(&address, true);
                        observer(DriverEvent::AddressAdded { name, address });
                    }
                    Ok(()) => {
                        self.note_address(&address, false);
                        observer(DriverEvent::AddressRemoved { name, address });
                    }
                    Err(e) => {
                        self.stats.address_errors += 1;
                        observer(DriverEvent::ActionFailed { name, action, error: backend_err(e) });
                    }
                }
            }
            Action::BlockTraffic(_) | Action::UnblockTraffic(_) => observer(DriverEvent::Unsupported { name, action }),
        }
    }

    /// Keeps the address table in step with our own changes (their
    /// notifications follow).
    fn note_address(&mut self, a: &InterfaceAddress, present: bool) {
        self.addresses.retain(|x| !(x.ifindex == a.ifindex && x.addr == a.addr));
        if present {
            self.addresses.push(AddrInfo {
                ifindex: a.ifindex,
                addr: a.addr,
                prefix_len: a.prefix_len,
                scope: a.scope,
                flags: AddrFlags(AddrFlags::PERMANENT),
            });
        }
    }

    fn router_flag(&mut self, ifname: &str, now: Instant) -> bool {
        if let Some(&(at, on)) = self.forwarding.get(ifname) {
            if now.saturating_duration_since(at) < FORWARDING_TTL {
                return on;
            }
        }
        let on = ipv6_forwarding(ifname);
        self.forwarding.insert(ifname.to_owned(), (now, on));
        on
    }

    fn transmit(&mut self, u: usize, m: usize, tx: Transmit, observer: &mut impl FnMut(DriverEvent)) {
        let name = self.units[u].members[m].name.clone();
        let result = match tx {
            Transmit::Advert(advert) => {
                let sock = self.units[u].members[m].socket.and_then(|id| self.sockets[id].as_mut());
                match sock {
                    None => Err(RawSocketError::io(SocketOp::Send {
                        dst: advert.dst,
                        ifname: self.units[u].members[m].ifname.clone(),
                    })(std::io::Error::from_raw_os_error(libc::ENODEV))),
                    Some(slot) => match advert.emit(&mut self.tx) {
                        Ok(n) => slot.sock.send(advert.src, advert.dst, advert.hop_limit, &self.tx[..n]).map(|_| {
                            self.stats.tx_adverts += 1;
                        }),
                        Err(e) => Err(RawSocketError::invalid_input(
                            SocketOp::Send { dst: advert.dst, ifname: slot.sock.ifname().to_owned() },
                            e.to_string(),
                        )),
                    },
                }
            }
            Transmit::GratuitousArp(g) => {
                let ifname = g.interface.as_deref().unwrap_or(&self.units[u].members[m].ifname).to_owned();
                match self.link_by_name(&ifname).map(|l| (l.index, l.mac)) {
                    Some((ifindex, Some(mac))) => self.frames.send_gratuitous_arp(ifindex, mac, g.addr).map(|_| {
                        self.stats.tx_garps += 1;
                    }),
                    Some((ifindex, None)) => Err(RawSocketError::io(SocketOp::SendFrame { ifindex })(
                        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "interface has no MAC address"),
                    )),
                    None => Err(RawSocketError::NoInterface { name: ifname }),
                }
            }
            Transmit::UnsolicitedNa(na) => {
                let ifname = na.interface.as_deref().unwrap_or(&self.units[u].members[m].ifname).to_owned();
                let router = self.router_flag(&ifname, Instant::now());
                match self.link_by_name(&ifname).map(|l| (l.index, l.mac)) {
                    Some((ifindex, Some(mac))) => {
                        self.frames.send_unsolicited_na(ifindex, mac, na.addr, router).map(|_| {
                            self.stats.tx_nas += 1;
                        })
                    }
                    Some((ifindex, None)) => Err(RawSocketError::io(SocketOp::SendFrame { ifindex })(
                        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "interface has no MAC address"),
                    )),
                    None => Err(RawSocketError::NoInterface { name: ifname }),
                }
            }
        };
        if let Err(error) = result {
            self.stats.tx_errors += 1;
            observer(DriverEvent::SendFailed { name, error });
        }
    }

    fn on_netlink(&mut self, now: Instant, observer: &mut impl FnMut(DriverEvent)) {
        let mut batch = std::mem::take(&mut self.net_events);
        batch.clear();
        if self.monitor.recv(&mut batch).is_err() {
            // A monitor that fails to read is treated as an overrun: the
            // dumps below tell the truth.
            batch.push(NetEvent::Overrun);
        }
        let mut lost: Vec<(usize, usize, IpAddr)> = Vec::new();
        let mut resync = false;
        for ev in batch.drain(..) {
            match ev {
                NetEvent::NewLink(l) => {
                    self.links.insert(l.index, l);
                }
                NetEvent::DelLink(l) => {
                    self.links.remove(&l.index);
                    self.addresses.retain(|a| a.ifindex != l.index);
                }
                NetEvent::NewAddr(a) => {
                    self.addresses.retain(|x| !(x.ifindex == a.ifindex && x.addr == a.addr));
                    self.addresses.push(a);
                }
                NetEvent::DelAddr(a) => {
                    self.addresses.retain(|x| !(x.ifindex == a.ifindex && x.addr == a.addr));
                    for (u, slot) in self.units.iter().enumerate() {
                        for (m, mem) in slot.members.iter().enumerate() {
                            let vi = &slot.unit.members()[m];
                            let dev_index = |dev: &str| self.links.values().find(|l| l.name == dev).map(|l| l.index);
                            if vi.state() == crate::vrrp::State::Master
                                && vi.holds_addresses()
                                && mem.vips.iter().any(|(v, dev)| v.ip() == a.addr && dev_index(dev) == Some(a.ifindex))
                            {
                                lost.push((u, m, a.addr));
                            }
                        }
                    }
                }
                NetEvent::Overrun => resync = true,
            }
        }
        self.net_events = batch;
        if resync {
            self.stats.netlink_overruns += 1;
            if let Ok(links) = dump_links() {
                self.links = links.into_iter().map(|l| (l.index, l)).collect();
            }
            if let Ok(addrs) = dump_addresses() {
                self.addresses = addrs;
            }
        }
        self.reconcile_links(now, observer);
        for (u, m, addr) in lost {
            let vi = &self.units[u].unit.members()[m];
            if vi.state() != crate::vrrp::State::Master || !vi.holds_addresses() {
                continue;
            }
            let Some(ifindex) = self.units[u].members[m]
                .vips
                .iter()
                .find(|(v, _)| v.ip() == addr)
                .and_then(|(_, dev)| self.link_by_name(dev).map(|l| l.index))
            else {
                continue;
            };
            // Our own re-add may already be queued behind the removal: ask
            // the kernel rather than trust the event order.
            if self.addrs.has_address(ifindex, addr).unwrap_or(true) {
                continue;
            }
            self.stats.vips_lost += 1;
            observer(DriverEvent::AddressLost { name: self.units[u].members[m].name.clone(), addr });
            self.units[u].unit.member_input(now, m, Input::AddressRemoved(addr));
        }
    }

    /// Brings every member in line with the link and address tables:
    /// interface gone or back, up or down, source address changed.
    fn reconcile_links(&mut self, now: Instant, observer: &mut impl FnMut(DriverEvent)) {
        for u in 0..self.units.len() {
            for m in 0..self.units[u].members.len() {
                let ifname = self.units[u].members[m].ifname.clone();
                let current = self.link_by_name(&ifname).map(|l| l.index);
                let known = self.units[u].members[m].ifindex;
                if current != known {
                    self.detach_socket(u, m);
                    self.units[u].members[m].ifindex = current;
                    match current {
                        None => observer(DriverEvent::InterfaceDeleted { ifname: ifname.clone() }),
                        Some(ifindex) => match self.attach_socket(u, m) {
                            Ok(()) => observer(DriverEvent::InterfaceCreated { ifname: ifname.clone(), ifindex }),
                            Err(error) => observer(DriverEvent::SocketFailed { ifname: ifname.clone(), error }),
                        },
                    }
                }
                let (up, addr) = self.member_link_state(u, m);
                if up != self.units[u].members[m].link_up {
                    self.units[u].members[m].link_up = up;
                    if let Some(ifindex) = current {
                        observer(DriverEvent::Link { ifname: ifname.clone(), ifindex, up });
                    }
                    let input = if up { Input::LinkUp } else { Input::LinkDown };
                    self.units[u].unit.member_input(now, m, input);
                }
                if addr != self.units[u].members[m].iface_addr {
                    self.units[u].members[m].iface_addr = addr;
                    self.units[u].unit.member_input(now, m, Input::InterfaceAddress(addr));
                }
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Deregister every descriptor before it closes (sys::poll_add's rule).
        for slot in self.sockets.iter().flatten() {
            let _ = self.poller.delete(slot.sock.as_fd());
        }
        let _ = self.poller.delete(self.monitor.as_fd());
        if let Some(p) = &self.stop_signals {
            let _ = self.poller.delete(p.as_fd());
        }
        if let Some(p) = &self.stats_signal {
            let _ = self.poller.delete(p.as_fd());
        }
    }
}

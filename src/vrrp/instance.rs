//! [`VrrpInstance`]: one virtual router, the RFC 5798 section 6 state
//! machine (RFC 3768 for v2) with keepalived 2.2.7's behaviour wherever the
//! RFCs leave room, as a sans-IO object.
//!
//! The code follows keepalived's functions closely; each method names the
//! one it mirrors (`keepalived/vrrp/vrrp.c`, `vrrp_scheduler.c`,
//! `vrrp_track.c`, `vrrp_sync.c`). Timers use keepalived's microsecond
//! arithmetic, so the integer truncations match too:
//!
//! * Skew_Time, v2: `(256 - priority) x 1 s / 256`, whatever the interval
//!   (keepalived's `VRRP_TIMER_SKEW`); v3: `(256 - priority) x
//!   Master_Adver_Interval / 256` computed as `pri x cs x 625 / 16` µs.
//! * Master_Down_Interval: `down_timer_adverts x Master_Adver_Interval +
//!   Skew_Time`.
//!
//! Deliberate differences from keepalived 2.2.7 (see also
//! [`Discard`] for the counters):
//!
//! * A master resets its advert timer only when it actually sends an advert
//!   in answer to one it received. keepalived resets it after *every*
//!   received packet, even a rejected one, so a stream of foreign packets
//!   (a VRRPv2 router on the same VRID, or an attacker) can silence its
//!   adverts for good.
//! * On becoming master, Master_Adver_Interval goes back to the configured
//!   interval (RFC 5798 section 6.4.3); keepalived does it only when run
//!   with `-D`. It has no effect on the wire either way.
//! * A VRRPv3 advert's Max Adver Int of 0 is taken as 1 centisecond
//!   (keepalived takes 0, and its Master_Down_Interval becomes 0).
//! * keepalived switches to `old_unicast_checksum` mode as soon as one
//!   unicast advert verifies only the old way, even if a later check rejects
//!   it; lvskit switches only on an advert that passes every check.
//! * `garp_interval` / `gna_interval` space out every queued gratuitous
//!   ARP / NA of the instance, repeats included; keepalived keeps one
//!   pending flag per address, so repeats collapse into one, and paces per
//!   interface across all instances.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{
    Auth, ConfigError, ConfigWarning, InstanceConfig, Resolved, TrackKind, TrackState, TrackedObject, UnicastChecksum,
    VirtualAddress,
};
use super::output::{
    Action, AddrList, Advert, Discard, Event, FaultReason, GratuitousArp, MasterReason, Reason, State, Stats, Transmit,
    UnsolicitedNa,
};
use super::track::{Contribution, contribution};
use crate::wire::vrrp::{self, AuthType, MCAST_V4, Version};
use crate::wire::{Family, checksum, ipv4};

/// keepalived's timer unit: microseconds.
const TIMER_HZ: u64 = 1_000_000;

/// What the driver knows about a received advert besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (multicast group or our unicast address).
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit (`IPV6_RECVHOPLIMIT`); `None` when not
    /// known, which skips the TTL check as keepalived does.
    pub ttl: Option<u8>,
}

/// An input other than a packet or a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Start (keepalived's `vrrp_init_state`): enter BACKUP (or FAULT), or
    /// become master at once as the address owner. Report the interface
    /// address and tracked objects' states first.
    Startup,
    /// Stop for good: a master sends a priority 0 advert and removes its
    /// addresses.
    Shutdown,
    /// The instance's interface came up.
    LinkUp,
    /// The instance's interface went down (FAULT unless
    /// `dont_track_primary`).
    LinkDown,
    /// The interface's primary IPv4 address (or IPv6 link-local) changed;
    /// `None`: it has none. Used as the advert source when no `src_ip` is
    /// configured; without any, the instance is in FAULT.
    InterfaceAddress(Option<IpAddr>),
    /// Someone else removed this VIP or excluded VIP from its interface
    /// while the instance is master. As keepalived does (`set_vrrp_backup`
    /// in `keepalived/core/keepalived_netlink.c`), the instance sends a
    /// priority 0 advert, removes its other addresses, goes to BACKUP, and
    /// becomes master again after Skew_Time unless another router does
    /// first, adding the addresses back. Ignored in other states and for
    /// other addresses.
    AddressRemoved(IpAddr),
    /// A tracked object changed: every `track_*` entry of this kind and
    /// name takes the new state. Unknown names are ignored.
    Track {
        /// What it is.
        kind: TrackKind,
        /// Its name.
        name: String,
        /// Its new state.
        state: TrackState,
    },
}

/// What a sync group tells a member before an event (keepalived reads the
/// group's and the other members' state directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncView {
    pub group_state: State,
    pub others_want_master: bool,
    pub others_faulted: usize,
}

impl SyncView {
    /// `vrrp_sync_can_goto_master`, without its timer side effect.
    pub(crate) fn can_goto_master(&self) -> bool {
        self.group_state == State::Master || self.others_want_master
    }
}

/// A change of the instance's own fault status, for its sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultEdge {
    Down,
    Up,
}

#[derive(Debug, Clone)]
struct Vip {
    addr: VirtualAddress,
    dev: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
struct TrackEntry {
    object: TrackedObject,
    state: TrackState,
}

/// keepalived's `chksum_compatibility_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChecksumMode {
    /// RFC checksums; switch to the old ones if a peer uses them.
    None,
    /// RFC checksums, never switch.
    Never,
    /// Old checksums, configured.
    Config,
    /// Old checksums, switched to automatically.
    Auto,
}

impl ChecksumMode {
    fn old(self) -> bool {
        matches!(self, ChecksumMode::Config | ChecksumMode::Auto)
    }
}

#[derive(Debug, Clone)]
struct PendingUpdate {
    addr: IpAddr,
    dev: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
struct PaceSlot {
    dev: Option<Arc<str>>,
    v6: bool,
    next: Instant,
}

/// One VRRP virtual router (a keepalived `vrrp_instance`), sans IO.
///
/// Inputs: [`handle_advert`](Self::handle_advert) (or
/// [`handle_ipv4_packet`](Self::handle_ipv4_packet)),
/// [`handle_timeout`](Self::handle_timeout) and
/// [`handle_input`](Self::handle_input), each with the current time.
/// Outputs, to drain after every input: [`poll_action`](Self::poll_action)
/// (add/remove VIPs: carry these out first), [`poll_transmit`](Self::poll_transmit)
/// (adverts, gratuitous ARPs, NAs, in sending order) and
/// [`poll_event`](Self::poll_event); then sleep until
/// [`poll_timeout`](Self::poll_timeout).
///
/// An instance is about 1 KiB with its configuration (plus its VIP and
/// tracking lists); no input allocates except to queue outputs, and each
/// queued advert shares the VIP list.
#[derive(Debug, Clone)]
pub struct VrrpInstance {
    config: InstanceConfig,
    res: Resolved,
    warnings: Vec<ConfigWarning>,
    vips: Vec<Vip>,
    evips: Vec<Vip>,
    advert_addrs: AddrList,
    auth_type: AuthType,
    auth_data: [u8; 8],
    interface: Option<Arc<str>>,

    state: State,
    wantstate: State,
    base_priority: u8,
    effective_priority: u8,
    adver_int: u64,
    master_adver_int: u64,
    ms_down_timer: u64,
    sands: Option<Instant>,
    preempt_time: Option<Instant>,
    master_saddr: Option<IpAddr>,
    master_priority: u8,
    vipset: bool,
    blocked: bool,
    next_master_reason: MasterReason,

    iface_addr: Option<IpAddr>,
    /// The interface address just deleted, while the instance goes to
    /// FAULT over it: its priority 0 advert still leaves from it.
    departing_addr: Option<IpAddr>,
    link_up: bool,
    tracks: Vec<TrackEntry>,
    fault: Option<FaultReason>,
    started: bool,
    checksum_mode: ChecksumMode,

    garp_delay_at: Option<Instant>,
    garp_lower_prio_at: Option<Instant>,
    garp_refresh_at: Option<Instant>,
    garp_queue: VecDeque<PendingUpdate>,
    pace: Vec<PaceSlot>,
    pub(crate) lower_prio_seen: bool,

    transmits: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    stats: Stats,
}

fn to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn add_us(t: Instant, us: u64) -> Instant {
    t.checked_add(Duration::from_micros(us)).unwrap_or(t)
}

/// Master_Adver_Interval from a v3 advert, in µs. An interval of 0 counts
/// as 1 cs: keepalived takes 0 as is, which makes Master_Down_Interval 0
/// and a backup held by its sync group spin on its timer.
fn learned_interval(b: &[u8]) -> u64 {
    u64::from((u16::from_be_bytes([b[4], b[5]]) & 0x0fff).max(1)) * 10_000
}

/// Constant-time equality of two 8-byte passwords (keepalived's
/// `memcmp_constant_time`).
fn ct_eq(a: &[u8], b: &[u8; 8]) -> bool {
    a.len() == 8 && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl VrrpInstance {
    /// Builds an instance from its configuration after
    /// [`InstanceConfig::normalize`]'s checks (its warnings stay available
    /// in [`warnings`](Self::warnings)). It starts in INIT; feed it
    /// [`Input::InterfaceAddress`] (unless `src_ip` is set), the tracked
    /// objects' states, then [`Input::Startup`].
    pub fn new(mut config: InstanceConfig) -> Result<Self, ConfigError> {
        let (mut res, mut warnings) = config.resolve()?;
        if res.family == Family::V6 && matches!(config.auth, Auth::Pass(_)) {
            // keepalived sends no password over IPv6 and reads garbage where
            // it expects one; lvskit refuses the combination instead.
            warnings.push(ConfigWarning {
                instance: config.name.clone(),
                keyword: "authentication",
                message: "password authentication needs VRRPv2 over IPv4. Ignoring.".into(),
            });
            config.auth = Auth::None;
        }
        let to_vip = |v: &VirtualAddress| Vip { addr: v.clone(), dev: v.dev.as_deref().map(Arc::from) };
        let vips: Vec<Vip> = config.virtual_ipaddress.iter().map(to_vip).collect();
        let evips: Vec<Vip> = config.virtual_ipaddress_excluded.iter().map(to_vip).collect();
        let advert_addrs = match res.family {
            Family::V4 => AddrList::V4(
                vips.iter().filter_map(|v| if let IpAddr::V4(a) = v.addr.ip() { Some(a) } else { None }).collect(),
            ),
            Family::V6 => AddrList::V6(
                vips.iter().filter_map(|v| if let IpAddr::V6(a) = v.addr.ip() { Some(a) } else { None }).collect(),
            ),
        };
        let (auth_type, auth_data) = match config.auth {
            Auth::None => (AuthType::None, [0; 8]),
            Auth::Pass(p) => (AuthType::SimplePassword, p),
            Auth::Ah => (AuthType::Ah, [0; 8]),
        };
        let tracks = config.track.iter().map(|o| TrackEntry { object: o.clone(), state: o.initial }).collect();
        let checksum_mode = match config.old_unicast_checksum {
            UnicastChecksum::Auto => ChecksumMode::None,
            UnicastChecksum::Never => ChecksumMode::Never,
            UnicastChecksum::Always => ChecksumMode::Config,
        };
        res.adver_int_us = res.adver_int_us.max(1);
        let adver_int = res.adver_int_us;
        let mut inst = VrrpInstance {
            interface: config.interface.as_deref().map(Arc::from),
            vips,
            evips,
            advert_addrs,
            auth_type,
            auth_data,
            state: State::Init,
            wantstate: if res.wantstate_master { State::Master } else { State::Backup },
            base_priority: res.priority,
            effective_priority: res.priority,
            adver_int,
            master_adver_int: adver_int,
            ms_down_timer: 0,
            sands: None,
            preempt_time: None,
            master_saddr: None,
            master_priority: 0,
            vipset: false,
            blocked: false,
            next_master_reason: MasterReason::NoResponse,
            iface_addr: None,
            departing_addr: None,
            link_up: true,
            tracks,
            fault: None,
            started: false,
            checksum_mode,
            garp_delay_at: None,
            garp_lower_prio_at: None,
            garp_refresh_at: None,
            garp_queue: VecDeque::new(),
            pace: Vec::new(),
            lower_prio_seen: false,
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            config,
            res,
            warnings,
        };
        inst.update_priority(None);
        inst.ms_down_timer = inst.ms_down();
        Ok(inst)
    }

    // ----- accessors -----

    /// The configuration, after normalization.
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// The adjustments normalization made.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// VRID.
    pub fn vrid(&self) -> u8 {
        self.config.vrid
    }

    /// Address family.
    pub fn family(&self) -> Family {
        self.res.family
    }

    /// VRRP version.
    pub fn version(&self) -> Version {
        self.res.version
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The state the instance wants, regardless of its sync group
    /// (keepalived's `wantstate`).
    pub fn wanted_state(&self) -> State {
        self.wantstate
    }

    /// Configured priority (254 after an owner conflict).
    pub fn base_priority(&self) -> u8 {
        self.base_priority
    }

    /// The priority adverts carry: the base moved by tracked weights,
    /// within 1..=254 (255 for the owner).
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// Why the instance is in FAULT, if it is faulted by its own objects.
    pub fn fault(&self) -> Option<&FaultReason> {
        self.fault.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configured advert interval.
    pub fn advert_interval(&self) -> Duration {
        Duration::from_micros(self.adver_int)
    }

    /// Master_Adver_Interval (v3: learned from the master while backup).
    pub fn master_advert_interval(&self) -> Duration {
        Duration::from_micros(self.master_adver_int)
    }

    /// Skew_Time at the current priority (keepalived's `VRRP_TIMER_SKEW`).
    pub fn skew_time(&self) -> Duration {
        Duration::from_micros(self.skew(256 - u64::from(self.effective_priority)))
    }

    /// Master_Down_Interval at the current priority.
    pub fn master_down_interval(&self) -> Duration {
        Duration::from_micros(self.ms_down())
    }

    /// The last master heard from, and its priority.
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master_saddr.map(|a| (a, self.master_priority))
    }

    /// The source address adverts use (`src_ip` or the interface's).
    pub fn source_addr(&self) -> Option<IpAddr> {
        self.config.src_ip.or(self.iface_addr)
    }

    /// Whether the VIPs are set (keepalived's `vipset`).
    pub fn holds_addresses(&self) -> bool {
        self.vipset
    }

    // ----- outputs -----

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next change to the host (drain before [`poll_transmit`](Self::poll_transmit)
    /// so that VIPs exist before the gratuitous ARPs announce them).
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called
    /// (exact: the advert or Master_Down timer, a delayed gratuitous ARP
    /// burst, or the next paced one); `None`: no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.sands;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        consider(self.garp_delay_at);
        consider(self.garp_lower_prio_at);
        // The next paced announcement: the earliest slot that has one
        // queued (an idle slot's time may be long past).
        consider(
            self.pace
                .iter()
                .filter(|s| self.garp_queue.iter().any(|q| q.addr.is_ipv6() == s.v6 && q.dev == s.dev))
                .map(|s| s.next)
                .min(),
        );
        t
    }

    // ----- inputs -----

    /// A received VRRP packet (the IP payload) and what the driver knows of
    /// it. Rejected adverts are counted and reported as
    /// [`Event::Discarded`]; they change nothing else.
    pub fn handle_advert(&mut self, now: Instant, meta: RxMeta, bytes: &[u8]) {
        self.receive(now, meta, bytes);
    }

    /// A whole received IPv4 packet (a raw IPv4 socket hands the header
    /// over): its header gives the [`RxMeta`]; keepalived's IPv4 checks
    /// (Total Length equal to the bytes received, AH only with auth type
    /// AH) apply.
    pub fn handle_ipv4_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.receive_ipv4(now, bytes);
    }

    /// Timers: call at or after [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timeout(now, None);
    }

    /// Any other input.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.input(now, input, None);
    }

    // ----- crate-internal entry points, used by SyncGroup -----

    pub(crate) fn receive_ipv4(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(self.state, State::Backup | State::Master) {
            return;
        }
        let packet = match ipv4::Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(_) => {
                let src = IpAddr::from([0, 0, 0, 0]);
                self.discard(src, Discard::Truncated { len: bytes.len() });
                return;
            }
        };
        let meta = RxMeta { src: packet.src_addr().into(), dst: packet.dst_addr().into(), ttl: Some(packet.ttl()) };
        if usize::from(packet.total_len()) != bytes.len() {
            self.discard(meta.src, Discard::IpLength { total: packet.total_len(), len: bytes.len() });
            return;
        }
        match packet.protocol() {
            vrrp::PROTOCOL => self.receive(now, meta, packet.payload()),
            // keepalived: "Received AH header but auth type not AH".
            51 => self.discard(meta.src, Discard::AuthTypeMismatch { got: AuthType::Ah }),
            _ => {}
        }
    }

    pub(crate) fn receive(&mut self, now: Instant, meta: RxMeta, b: &[u8]) {
        // keepalived ignores everything in INIT and FAULT (vrrp_dispatcher_read).
        if !matches!(self.state, State::Backup | State::Master) {
            return;
        }
        if Family::of(meta.src) != self.res.family || Family::of(meta.dst) != self.res.family {
            self.discard(meta.src, Discard::Family);
            return;
        }
        if b.len() < vrrp::HEADER_LEN {
            self.discard(meta.src, Discard::Truncated { len: b.len() });
            return;
        }
        if b[1] != self.config.vrid {
            self.discard(meta.src, Discard::Vrid { got: b[1] });
            return;
        }
        match self.state {
            State::Backup => self.backup_rx(now, meta, b),
            State::Master => {
                if let Some(reason) = self.master_rx(now, meta, b) {
                    self.leave_master(now, false, reason);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn timeout(&mut self, now: Instant, sync: Option<&SyncView>) {
        if let Some(t) = self.sands {
            if t <= now {
                match self.state {
                    State::Backup => {
                        self.wantstate = State::Master;
                        let reason = Reason::MasterDown(self.next_master_reason);
                        self.goto_master(now, sync, reason);
                    }
                    State::Master => self.master_tx(now),
                    _ => {}
                }
                self.init_sands(now);
            }
        }
        if self.garp_delay_at.is_some_and(|t| t <= now) {
            self.garp_delay_at = None;
            self.send_link_update(now, self.config.garp_master_repeat);
        }
        if self.garp_lower_prio_at.is_some_and(|t| t <= now) {
            self.garp_lower_prio_at = None;
            self.send_link_update(now, self.res.garp_lower_prio_repeat);
        }
        self.drain_garp_queue(now);
    }

    pub(crate) fn input(&mut self, now: Instant, input: Input, sync: Option<&SyncView>) -> Option<FaultEdge> {
        if self.state == State::Stopped {
            return None;
        }
        match input {
            Input::Startup => {
                if !self.started {
                    self.startup(now, sync);
                }
                None
            }
            Input::Shutdown => {
                self.shutdown(now);
                None
            }
            Input::LinkUp => {
                self.link_up = true;
                self.reevaluate(now, sync)
            }
            Input::LinkDown => {
                self.link_up = false;
                self.reevaluate(now, sync)
            }
            Input::InterfaceAddress(a) => {
                let new = a.filter(|a| Family::of(*a) == self.res.family);
                let old = std::mem::replace(&mut self.iface_addr, new);
                // keepalived's netlink_if_address_filter
                // (core/keepalived_netlink.c) downs the instance before it
                // forgets the deleted address, so a master's priority 0
                // advert still leaves from it and the backup takes over
                // after Skew_Time rather than Master_Down_Interval.
                self.departing_addr = if new.is_none() { old } else { None };
                let edge = self.reevaluate(now, sync);
                self.departing_addr = None;
                edge
            }
            Input::AddressRemoved(addr) => {
                let ours = self.vips.iter().chain(&self.evips).any(|v| v.addr.ip() == addr);
                if ours && self.state == State::Master && self.vipset {
                    self.backup_then_quick_master(now, Reason::AddressRemoved(addr));
                }
                None
            }
            Input::Track { kind, name, state } => {
                let mut hit = false;
                for t in &mut self.tracks {
                    if t.object.kind == kind && t.object.name == name {
                        t.state = state;
                        hit = true;
                    }
                }
                if hit { self.reevaluate(now, sync) } else { None }
            }
        }
    }

    // ----- timers (keepalived's arithmetic) -----

    /// `VRRP_TIMER_SKEW_CALC`.
    fn skew(&self, pri_val: u64) -> u64 {
        match self.res.version {
            Version::V3 => pri_val * (self.master_adver_int / 10_000) * 625 / 16,
            Version::V2 => pri_val * TIMER_HZ / 256,
        }
    }

    /// `VRRP_MS_DOWN_TIMER`.
    fn ms_down(&self) -> u64 {
        u64::from(self.config.down_timer_adverts) * self.master_adver_int
            + self.skew(256 - u64::from(self.effective_priority))
    }

    /// `vrrp_init_instance_sands`.
    fn init_sands(&mut self, now: Instant) {
        self.sands = match self.state {
            State::Master => Some(add_us(now, self.adver_int)),
            State::Backup => Some(add_us(now, self.ms_down_timer)),
            _ => None,
        };
    }

    // ----- tracking and faults -----

    fn own_fault(&self) -> Option<FaultReason> {
        if self.res.config_fault {
            return Some(FaultReason::NoUnicastPeers);
        }
        if !self.link_up && !self.config.dont_track_primary {
            return Some(FaultReason::LinkDown);
        }
        if self.source_addr().is_none() {
            return Some(FaultReason::NoSourceAddress);
        }
        for t in &self.tracks {
            match contribution(&t.object, t.state) {
                Contribution::Fault => {
                    return Some(FaultReason::Tracked { kind: t.object.kind, name: t.object.name.clone() });
                }
                Contribution::Pending => return Some(FaultReason::TrackInit { name: t.object.name.clone() }),
                Contribution::Weight(_) => {}
            }
        }
        None
    }

    /// `vrrp_set_effective_priority`, from the tracked objects' current
    /// contributions.
    fn update_priority(&mut self, now: Option<Instant>) {
        if self.base_priority == 255 {
            return;
        }
        let total: i64 = i64::from(self.base_priority)
            + self
                .tracks
                .iter()
                .map(|t| match contribution(&t.object, t.state) {
                    Contribution::Weight(w) => w,
                    _ => 0,
                })
                .sum::<i64>();
        let new = total.clamp(1, 254) as u8;
        if new == self.effective_priority {
            return;
        }
        let from = self.effective_priority;
        self.effective_priority = new;
        if now.is_none() {
            return;
        }
        self.events.push_back(Event::PriorityChanged { from, to: new });
        let old = self.ms_down_timer;
        self.ms_down_timer = self.ms_down();
        if self.state == State::Backup {
            if let Some(s) = self.sands {
                self.sands = Some(if old < self.ms_down_timer {
                    add_us(s, self.ms_down_timer - old)
                } else {
                    s.checked_sub(Duration::from_micros(old - self.ms_down_timer)).unwrap_or(s)
                });
            }
        }
    }

    fn reevaluate(&mut self, now: Instant, sync: Option<&SyncView>) -> Option<FaultEdge> {
        self.update_priority(Some(now));
        let new = self.own_fault();
        if !self.started {
            self.fault = new;
            return None;
        }
        match (self.fault.is_some(), new) {
            (false, Some(reason)) => {
                self.fault = Some(reason.clone());
                self.down_instance(now, reason);
                Some(FaultEdge::Down)
            }
            (true, None) => {
                self.fault = None;
                self.try_up_instance(now, sync);
                Some(FaultEdge::Up)
            }
            (true, Some(reason)) => {
                self.fault = Some(reason);
                None
            }
            (false, None) => None,
        }
    }

    // ----- state transitions -----

    fn set_state(&mut self, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        if from != to {
            self.events.push_back(Event::StateChanged { from, to, reason });
        }
    }

    /// `vrrp_init_state`.
    pub(crate) fn startup(&mut self, now: Instant, sync: Option<&SyncView>) {
        self.started = true;
        self.fault = self.own_fault();
        let new_state = sync.map_or(self.wantstate, |s| s.group_state);
        let up = self.fault.is_none();
        if up && new_state == State::Master && self.base_priority == 255 && self.wantstate == State::Master {
            // "The simplest way to become master is to timeout from the
            // backup state very quickly (1usec)".
            self.next_master_reason = MasterReason::Preempted;
            self.set_state(State::Backup, Reason::Startup);
            self.ms_down_timer = 1;
        } else {
            self.ms_down_timer = if new_state == State::Backup && self.wantstate == State::Master {
                // Allow one adver_int to pass to ensure there is no other master.
                self.master_adver_int + self.skew(1)
            } else {
                self.ms_down()
            };
            self.next_master_reason = MasterReason::NoResponse;
            if up && new_state != State::Fault {
                self.set_state(State::Backup, Reason::Startup);
            } else {
                let reason = self.fault.clone().unwrap_or(FaultReason::SyncGroup);
                self.set_state(State::Fault, Reason::Fault(reason));
            }
        }
        self.init_sands(now);
    }

    /// keepalived's shutdown: a master sends priority 0 and releases its
    /// addresses (`restore_vrrp_interfaces`).
    fn shutdown(&mut self, now: Instant) {
        if self.state == State::Master {
            self.restore_interface(now, true);
        }
        self.set_state(State::Stopped, Reason::Shutdown);
        self.sands = None;
        self.clear_garps();
    }

    /// `vrrp_state_goto_master`. Returns whether it went.
    pub(crate) fn goto_master(&mut self, now: Instant, sync: Option<&SyncView>, reason: Reason) -> bool {
        if let Some(s) = sync {
            if !s.can_goto_master() {
                self.wantstate = State::Master;
                self.ms_down_timer = self.ms_down();
                self.init_sands(now);
                return false;
            }
        }
        self.set_state(State::Master, reason);
        self.init_sands(now);
        self.master_tx(now);
        true
    }

    /// `vrrp_state_master_tx`: the periodic advert, and the transition's
    /// work the first time.
    fn master_tx(&mut self, now: Instant) {
        // The old master must drop the VIPs before the gratuitous ARPs, so
        // the advert goes first.
        self.send_adv(self.effective_priority);
        if !self.vipset {
            self.become_master(now);
            if !self.config.garp_master_delay.is_zero() {
                self.garp_delay_at = Some(now + self.config.garp_master_delay);
            }
        } else if !self.config.garp_master_refresh.is_zero() && self.garp_refresh_at.is_some_and(|t| now > t) {
            self.send_link_update(now, self.config.garp_master_refresh_repeat);
            self.garp_refresh_at = Some(now + self.config.garp_master_refresh);
        }
    }

    /// `vrrp_state_become_master`.
    fn become_master(&mut self, now: Instant) {
        self.stats.become_master += 1;
        self.master_adver_int = self.adver_int;
        if !self.res.accept && self.base_priority != 255 {
            for v in self.vips.iter().chain(&self.evips) {
                self.actions.push_back(Action::BlockTraffic(v.addr.ip()));
            }
            self.blocked = true;
        }
        for v in self.vips.iter().chain(&self.evips) {
            self.actions.push_back(Action::AddAddress(v.addr.clone()));
        }
        self.vipset = true;
        self.send_link_update(now, self.config.garp_master_repeat);
        if !self.config.garp_master_refresh.is_zero() {
            self.garp_refresh_at = Some(now + self.config.garp_master_refresh);
        }
    }

    /// `vrrp_restore_interface`.
    fn restore_interface(&mut self, _now: Instant, adv_stop: bool) {
        if adv_stop {
            self.send_adv(0);
            self.stats.pri_zero_sent += 1;
        }
        self.clear_garps();
        if self.vipset {
            for v in self.vips.iter().chain(&self.evips) {
                self.actions.push_back(Action::RemoveAddress(v.addr.clone()));
            }
            if self.blocked {
                for v in self.vips.iter().chain(&self.evips) {
                    self.actions.push_back(Action::UnblockTraffic(v.addr.ip()));
                }
                self.blocked = false;
            }
            self.vipset = false;
        }
    }

    fn clear_garps(&mut self) {
        self.garp_queue.clear();
        self.garp_delay_at = None;
        self.garp_lower_prio_at = None;
        self.garp_refresh_at = None;
    }

    /// keepalived's `set_vrrp_backup` for one master: priority 0 advert,
    /// addresses released, BACKUP, and Master_Down_Timer set to Skew_Time
    /// ("we want a quick transition back to master").
    pub(crate) fn backup_then_quick_master(&mut self, now: Instant, reason: Reason) {
        self.wantstate = State::Backup;
        self.leave_master(now, true, reason);
        self.ms_down_timer = self.skew(256 - u64::from(self.effective_priority));
        self.init_sands(now);
    }

    /// `vrrp_state_leave_master` (to `wantstate`: BACKUP or FAULT).
    pub(crate) fn leave_master(&mut self, now: Instant, adv_stop: bool, reason: Reason) {
        match self.wantstate {
            State::Backup => self.preempt_time = None,
            State::Fault => self.send_adv(0),
            _ => return,
        }
        self.restore_interface(now, adv_stop);
        self.set_state(self.wantstate, reason);
        self.ms_down_timer = self.ms_down();
        self.init_sands(now);
        self.stats.release_master += 1;
    }

    /// `vrrp_state_leave_fault` (also used to leave INIT).
    pub(crate) fn leave_fault(&mut self, now: Instant, sync: Option<&SyncView>, reason: Reason) {
        if self.wantstate == State::Master {
            self.goto_master(now, sync, reason);
        } else {
            if self.wantstate == State::Fault && self.state == State::Master {
                self.send_adv(0);
                self.restore_interface(now, false);
            }
            self.set_state(self.wantstate, reason);
            if self.state == State::Backup {
                self.preempt_time = None;
            }
        }
        self.master_adver_int = self.adver_int;
        self.ms_down_timer = self.ms_down();
        self.init_sands(now);
    }

    /// `down_instance`: the instance's own objects put it in FAULT.
    fn down_instance(&mut self, now: Instant, reason: FaultReason) {
        self.wantstate = State::Fault;
        if self.state == State::Master {
            self.leave_master(now, true, Reason::Fault(reason));
        } else {
            self.leave_fault(now, None, Reason::Fault(reason));
        }
    }

    /// Forced to FAULT by its sync group (`vrrp_sync_fault`).
    pub(crate) fn sync_to_fault(&mut self, now: Instant) {
        if self.state == State::Fault {
            return;
        }
        self.wantstate = State::Fault;
        if self.state == State::Master {
            self.leave_master(now, false, Reason::Fault(FaultReason::SyncGroup));
        } else {
            let from = self.state;
            self.state = State::Fault;
            if from != State::Fault {
                self.events.push_back(Event::StateChanged {
                    from,
                    to: State::Fault,
                    reason: Reason::Fault(FaultReason::SyncGroup),
                });
            }
            self.leave_fault(now, None, Reason::Fault(FaultReason::SyncGroup));
        }
    }

    /// `try_up_instance`: the instance's own objects are all well again.
    fn try_up_instance(&mut self, now: Instant, sync: Option<&SyncView>) {
        let owner_master = self.wantstate == State::Master && self.base_priority == 255;
        self.wantstate = if owner_master { State::Master } else { State::Backup };
        self.next_master_reason = if owner_master { MasterReason::Preempted } else { MasterReason::NoResponse };
        self.master_adver_int = self.adver_int;
        self.ms_down_timer = if owner_master {
            self.master_adver_int + self.skew(256 - u64::from(self.effective_priority))
        } else {
            self.ms_down()
        };
        if sync.is_some_and(|s| s.others_faulted > 0) {
            // Stays in FAULT until the last member of the group is well.
            return;
        }
        let wanted = self.wantstate;
        if self.wantstate == State::Master && sync.is_some_and(|s| !s.can_goto_master()) {
            self.wantstate = State::Backup;
        }
        self.leave_fault(now, sync, Reason::FaultCleared);
        // Unicast: refresh the peers' ARP caches for our source address so
        // that the master can reach us at once.
        if self.res.unicast && self.interface.is_some() {
            match self.source_addr() {
                Some(IpAddr::V4(a)) => {
                    self.transmits.push_back(Transmit::GratuitousArp(GratuitousArp { addr: a, interface: None }))
                }
                Some(IpAddr::V6(a)) => {
                    self.transmits.push_back(Transmit::UnsolicitedNa(UnsolicitedNa { addr: a, interface: None }))
                }
                None => {}
            }
        }
        self.init_sands(now);
        self.wantstate = wanted;
    }

    // ----- sending -----

    /// `vrrp_send_adv`.
    fn send_adv(&mut self, priority: u8) {
        let Some(src) = self.source_addr().or(self.departing_addr) else { return };
        let family = self.res.family;
        let v3v4 = self.res.version == Version::V3 && family == Family::V4;
        let old_csum = v3v4 && self.checksum_mode.old();
        let base = |dst: IpAddr, hop_limit: Option<u8>, unicast: bool| Advert {
            src,
            dst,
            checksum_dst: if old_csum { IpAddr::V4(MCAST_V4) } else { dst },
            hop_limit,
            tos: vrrp::TOS,
            unicast,
            version: self.res.version,
            vrid: self.config.vrid,
            priority,
            adver_int: match self.res.version {
                Version::V2 => (self.adver_int / TIMER_HZ) as u16,
                Version::V3 => ((self.adver_int / 10_000) & 0x0fff) as u16,
            },
            auth_type: self.auth_type,
            auth_data: if self.auth_type == AuthType::SimplePassword { self.auth_data } else { [0; 8] },
            addrs: self.advert_addrs.clone(),
        };
        if self.res.unicast {
            // RFC 5798 §5.1.1.3 / §5.1.2.3: TTL / hop limit 255, unicast
            // included. keepalived 2.2.7 leaves unicast IPv6 to the kernel's
            // default (64); lvskit deliberately sends 255 there too, which
            // keepalived accepts (it checks 255 only on multicast adverts,
            // vrrp_check_packet in vrrp/vrrp.c). `unicast_ttl` still wins.
            let hop = Some(self.config.unicast_ttl.unwrap_or(vrrp::TTL));
            for i in 0..self.config.unicast_peers.len() {
                let advert = base(self.config.unicast_peers[i].addr, hop, true);
                self.transmits.push_back(Transmit::Advert(advert));
            }
        } else {
            let dst = self.config.mcast_dst_ip.unwrap_or(vrrp::mcast_group(family));
            let hop = match family {
                Family::V4 => self.config.unicast_ttl.unwrap_or(vrrp::TTL),
                Family::V6 => vrrp::TTL,
            };
            self.transmits.push_back(Transmit::Advert(base(dst, Some(hop), false)));
        }
        self.stats.advert_sent += 1;
    }

    /// `vrrp_send_link_update`: `rep` gratuitous ARPs / NAs per VIP,
    /// round-robin over the VIPs then the excluded VIPs.
    fn send_link_update(&mut self, now: Instant, rep: u32) {
        if !self.vipset {
            return;
        }
        for _ in 0..rep {
            for i in 0..self.vips.len() + self.evips.len() {
                let v = if i < self.vips.len() { &self.vips[i] } else { &self.evips[i - self.vips.len()] };
                let update = PendingUpdate { addr: v.addr.ip(), dev: v.dev.clone() };
                self.queue_update(now, update);
            }
        }
    }

    fn interval_for(&self, v6: bool) -> Duration {
        if v6 { self.config.gna_interval } else { self.config.garp_interval }
    }

    /// `send_gratuitous_arp` / `ndisc_send_unsolicited_na`, with the
    /// per-interface spacing of `garp_interval` / `gna_interval`.
    fn queue_update(&mut self, now: Instant, update: PendingUpdate) {
        let v6 = update.addr.is_ipv6();
        let interval = self.interval_for(v6);
        if interval.is_zero() {
            self.emit_update(update);
            return;
        }
        let slot = self.pace.iter().position(|s| s.v6 == v6 && s.dev == update.dev);
        let queued_same = self.garp_queue.iter().any(|q| q.addr.is_ipv6() == v6 && q.dev == update.dev);
        match slot {
            Some(i) if queued_same || self.pace[i].next > now => self.garp_queue.push_back(update),
            Some(i) => {
                self.pace[i].next = now + interval;
                self.emit_update(update);
            }
            None => {
                self.pace.push(PaceSlot { dev: update.dev.clone(), v6, next: now + interval });
                self.emit_update(update);
            }
        }
    }

    fn drain_garp_queue(&mut self, now: Instant) {
        if self.garp_queue.is_empty() {
            return;
        }
        if self.state != State::Master || !self.vipset {
            self.garp_queue.clear();
            return;
        }
        let mut keep = VecDeque::with_capacity(self.garp_queue.len());
        while let Some(update) = self.garp_queue.pop_front() {
            let v6 = update.addr.is_ipv6();
            let blocked = keep.iter().any(|q: &PendingUpdate| q.addr.is_ipv6() == v6 && q.dev == update.dev);
            let slot = self.pace.iter().position(|s| s.v6 == v6 && s.dev == update.dev);
            match slot {
                Some(i) if !blocked && self.pace[i].next <= now => {
                    self.pace[i].next = now + self.interval_for(v6);
                    self.emit_update(update);
                }
                _ => keep.push_back(update),
            }
        }
        self.garp_queue = keep;
    }

    fn emit_update(&mut self, update: PendingUpdate) {
        self.transmits.push_back(match update.addr {
            IpAddr::V4(addr) => Transmit::GratuitousArp(GratuitousArp { addr, interface: update.dev }),
            IpAddr::V6(addr) => Transmit::UnsolicitedNa(UnsolicitedNa { addr, interface: update.dev }),
        });
    }

    // ----- receiving -----

    fn discard(&mut self, src: IpAddr, reason: Discard) {
        self.stats.count(&reason);
        self.events.push_back(Event::Discarded { src, reason });
    }

    fn verify(&self, b: &[u8], src: IpAddr, dst: IpAddr) -> Result<(), u16> {
        let packet = vrrp::Packet::new_unchecked(b, self.res.family);
        match packet.verify_checksum(src, dst) {
            Ok(true) => Ok(()),
            _ => Err(packet.compute_checksum(src, dst).unwrap_or(0)),
        }
    }

    /// `vrrp_check_packet`, in keepalived's order; counts and reports a
    /// rejection. `b` is at least the 8-byte header.
    fn check_packet(&mut self, meta: RxMeta, b: &[u8], check_vip_addr: bool) -> Result<(), Discard> {
        let family = self.res.family;
        let unicast = self.res.unicast;
        let hv = b[0] >> 4;
        let naddr = usize::from(b[3]);
        let alen = if family == Family::V4 { 4 } else { 16 };
        let expected = vrrp::HEADER_LEN + naddr * alen + if family == Family::V4 && hv == 2 { 8 } else { 0 };
        if b.len() != expected {
            return Err(Discard::Length { len: b.len(), expected });
        }
        if !unicast {
            if let Some(ttl) = meta.ttl {
                if ttl != vrrp::TTL {
                    return Err(Discard::Ttl { got: ttl });
                }
            }
        }
        if hv != self.res.version.number() {
            return Err(Discard::Version { got: hv });
        }
        if self.res.version == Version::V2 {
            let at = b[4];
            if at > 2 {
                return Err(Discard::InvalidAuthType(at));
            }
            if AuthType::from(at) != self.auth_type {
                return Err(Discard::AuthTypeMismatch { got: AuthType::from(at) });
            }
            if self.auth_type == AuthType::SimplePassword && !ct_eq(&b[b.len() - 8..], &self.auth_data) {
                return Err(Discard::AuthFailure);
            }
            if u64::from(b[5]) * TIMER_HZ != self.adver_int {
                return Err(Discard::Interval { got: u16::from(b[5]), expected: (self.adver_int / TIMER_HZ) as u16 });
            }
        }
        let mut switch_to_old = false;
        let msg_type = b[0] & 0x0f;
        if msg_type != 1 {
            return Err(Discard::Type(msg_type.into()));
        }
        if check_vip_addr && naddr != self.vips.len() {
            return Err(Discard::AddrCount { got: b[3], expected: self.vips.len() });
        }
        // Checksum: v2 over IPv4 alone; v3 over IPv4 and anything over IPv6
        // with the pseudo-header (keepalived leaves IPv6 to the kernel).
        if family == Family::V4 && self.res.version == Version::V2 {
            if checksum::data(b) != 0xffff {
                let packet = vrrp::Packet::new_unchecked(b, family);
                let expected = packet.compute_checksum(meta.src, meta.dst).unwrap_or(0);
                return Err(Discard::Checksum { got: packet.checksum(), expected });
            }
        } else {
            let old = family == Family::V4 && self.checksum_mode.old();
            let dst = if old { IpAddr::V4(MCAST_V4) } else { meta.dst };
            if let Err(expected) = self.verify(b, meta.src, dst) {
                let mcast = IpAddr::V4(MCAST_V4);
                let compat = family == Family::V4
                    && unicast
                    && self.checksum_mode == ChecksumMode::None
                    && dst != mcast
                    && self.verify(b, meta.src, mcast).is_ok();
                if !compat {
                    return Err(Discard::Checksum { got: vrrp::Packet::new_unchecked(b, family).checksum(), expected });
                }
                switch_to_old = true;
            }
        }
        if meta.dst.is_multicast() == unicast {
            return Err(Discard::Cast { multicast: meta.dst.is_multicast() });
        }
        self.stats.advert_rcvd += 1;
        if check_vip_addr {
            let addrs = vrrp::Addrs::Wire { family, bytes: &b[vrrp::HEADER_LEN..vrrp::HEADER_LEN + naddr * alen] };
            if let Some(missing) = self.vips.iter().map(|v| v.addr.ip()).find(|ip| !addrs.contains(*ip)) {
                return Err(Discard::MissingVip(missing));
            }
            if unicast && self.config.check_unicast_src {
                let Some(peer) = self.config.unicast_peers.iter().find(|p| p.addr == meta.src) else {
                    return Err(Discard::NotAPeer(meta.src));
                };
                if let Some(ttl) = meta.ttl {
                    if ttl < peer.min_ttl || ttl > peer.max_ttl {
                        return Err(Discard::TtlRange { got: ttl, min: peer.min_ttl, max: peer.max_ttl });
                    }
                }
            }
        }
        if b[2] == 0 {
            self.stats.pri_zero_rcvd += 1;
        }
        if switch_to_old {
            // keepalived switches as soon as the checksum verifies the old
            // way, even if a later check rejects the advert; lvskit waits
            // for an advert that passes every check, so that a rejected
            // packet changes nothing.
            self.checksum_mode = ChecksumMode::Auto;
            self.events.push_back(Event::OldUnicastChecksum { src: meta.src });
        }
        Ok(())
    }

    /// `vrrp_state_backup`.
    fn backup_rx(&mut self, now: Instant, meta: RxMeta, b: &[u8]) {
        let check_addr = !self.config.skip_check_adv_addr || self.master_saddr != Some(meta.src);
        if let Err(d) = self.check_packet(meta, b, check_addr) {
            self.discard(meta.src, d);
            self.ignore_advert(now);
            return;
        }
        let priority = b[2];
        let eff = self.effective_priority;
        let delaying = !self.config.preempt_delay.is_zero() && self.preempt_time.is_none_or(|t| t > now);
        if priority == 0 {
            self.ms_down_timer = self.skew(256 - u64::from(eff));
            self.next_master_reason = MasterReason::PriorityZero;
        } else if self.config.nopreempt || priority >= eff || delaying {
            if self.res.version == Version::V3 {
                let mai = learned_interval(b);
                if mai != self.master_adver_int {
                    self.master_adver_int = mai;
                }
            }
            self.ms_down_timer = self.ms_down();
            self.master_saddr = Some(meta.src);
            self.master_priority = priority;
            self.next_master_reason = MasterReason::NoResponse;
            if !self.config.preempt_delay.is_zero() {
                if priority >= eff {
                    self.preempt_time = None;
                } else if self.preempt_time.is_none() {
                    self.preempt_time = Some(now + self.config.preempt_delay);
                }
            }
            self.wantstate = State::Backup;
        } else {
            // "received lower priority advert - discarding": preempt when
            // Master_Down_Timer runs out.
            self.events.push_back(Event::Discarded { src: meta.src, reason: Discard::LowerPriority { priority } });
            self.next_master_reason = MasterReason::Preempted;
            self.master_saddr = Some(meta.src);
            self.ignore_advert(now);
            return;
        }
        self.init_sands(now);
    }

    /// An ignored advert leaves Master_Down_Timer running: keepalived
    /// stores the time left in `ms_down_timer`.
    fn ignore_advert(&mut self, now: Instant) {
        if let Some(s) = self.sands {
            self.ms_down_timer = to_us(s.saturating_duration_since(now));
        }
    }

    /// `vrrp_saddr_cmp`: the sender's address against ours.
    fn addr_cmp(&self, src: IpAddr) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let ours = match (self.config.src_ip, self.iface_addr) {
            (Some(s), _) => s,
            (None, Some(i)) => i,
            (None, None) => return Ordering::Equal,
        };
        match (src, ours) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a.cmp(&b),
            (IpAddr::V6(a), IpAddr::V6(b)) => a.cmp(&b),
            _ => Ordering::Equal,
        }
    }

    /// `vrrp_state_master_rx`: `Some(reason)` to leave MASTER.
    fn master_rx(&mut self, now: Instant, meta: RxMeta, b: &[u8]) -> Option<Reason> {
        use std::cmp::Ordering;
        if let Err(d) = self.check_packet(meta, b, true) {
            self.discard(meta.src, d);
            return None;
        }
        let priority = b[2];
        let cmp = self.addr_cmp(meta.src);
        let eff = self.effective_priority;
        let higher = priority > eff || (priority == eff && cmp == Ordering::Greater);
        if priority == 0 || (self.res.higher_prio_send_advert && higher) {
            self.send_adv(eff);
            self.sands = Some(add_us(now, self.adver_int));
            if priority == 0 {
                return None;
            }
        }
        if priority == self.effective_priority {
            if cmp == Ordering::Equal {
                self.events.push_back(Event::OwnAddress);
            } else if self.effective_priority == 255 {
                // "CONFIGURATION ERROR: local instance and a remote instance
                // are both configured as address owner".
                self.events.push_back(Event::OwnerConflict { src: meta.src });
                self.effective_priority = 254;
                self.base_priority = 254;
            }
        }
        let eff = self.effective_priority;
        if priority < eff || (priority == eff && cmp == Ordering::Less) {
            if !self.res.lower_prio_no_advert {
                self.send_adv(eff);
                self.sands = Some(add_us(now, self.adver_int));
            }
            if self.res.garp_lower_prio_repeat > 0 {
                self.send_link_update(now, self.res.garp_lower_prio_repeat);
                if !self.res.garp_lower_prio_delay.is_zero() {
                    self.garp_lower_prio_at = Some(now + self.res.garp_lower_prio_delay);
                }
            }
            self.lower_prio_seen = true;
            self.events.push_back(Event::MasterReceivedLowerPriority { src: meta.src, priority });
            return None;
        }
        if priority > eff || (priority == eff && cmp == Ordering::Greater) {
            if self.res.version == Version::V3 {
                self.master_adver_int = learned_interval(b);
            }
            self.ms_down_timer = self.ms_down();
            self.master_priority = priority;
            self.master_saddr = Some(meta.src);
            self.wantstate = State::Backup;
            return Some(Reason::HigherPriority { src: meta.src, priority });
        }
        None
    }

    /// A lower-priority advert reached another member of this one's sync
    /// group: send this member's `garp_lower_prio_repeat` burst too.
    pub(crate) fn sync_lower_prio_garps(&mut self, now: Instant) {
        if self.res.garp_lower_prio_repeat > 0 {
            self.send_link_update(now, self.res.garp_lower_prio_repeat);
            if !self.res.garp_lower_prio_delay.is_zero() {
                self.garp_lower_prio_at = Some(now + self.res.garp_lower_prio_delay);
            }
        }
    }

    /// The instance's own fault, computed now (before startup too).
    pub(crate) fn current_fault(&self) -> Option<FaultReason> {
        self.own_fault()
    }

    pub(crate) fn set_wantstate(&mut self, s: State) {
        self.wantstate = s;
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    /// Adds a tracked object (a sync group's), before startup.
    pub(crate) fn add_track(&mut self, object: TrackedObject) {
        self.config.track.push(object.clone());
        self.tracks.push(TrackEntry { state: object.initial, object });
        self.update_priority(None);
        self.ms_down_timer = self.ms_down();
    }

    /// Drops weighted tracking as keepalived does in a sync group without
    /// `sync_group_tracking_weight`.
    pub(crate) fn drop_weighted_tracking(&mut self) -> Vec<ConfigWarning> {
        let mut warnings = Vec::new();
        let name = self.config.name.clone();
        self.tracks.retain_mut(|t| {
            if t.object.weight == 0 {
                return true;
            }
            let keep = match t.object.kind {
                TrackKind::Interface => {
                    t.object.weight = 0;
                    true
                }
                TrackKind::File if t.object.weight == 1 => {
                    t.object.weight = 0;
                    true
                }
                _ => false,
            };
            warnings.push(ConfigWarning {
                instance: name.clone(),
                keyword: "track",
                message: format!(
                    "ignoring {} weight of tracked {} {} due to SYNC group",
                    if keep { "the" } else { "a" },
                    t.object.kind,
                    t.object.name
                ),
            });
            keep
        });
        self.config.track = self.tracks.iter().map(|t| t.object.clone()).collect();
        self.update_priority(None);
        warnings
    }
}

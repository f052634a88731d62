//! Real servers ("destinations" in the kernel): how packets reach them, their
//! weight and connection thresholds, and the live counters schedulers read.
//!
//! [`DestConfig`] is what `ipvsadm -a/-e` carries; [`Dest`] is the runtime
//! entry a [`Service`](super::Service) keeps in its list. A `Dest` is shared
//! (`Arc`) between the service, schedulers' caches and connection entries,
//! like the kernel's refcounted `struct ip_vs_dest`, so everything that can
//! change while connections point at it is atomic. Memory per `Dest`: 88 bytes
//! plus the `Arc` header (checked by a test).
//!
//! Connection tables change the counters through [`Dest::bind_conn`],
//! [`Dest::unbind_conn`], [`Dest::activate_conn`] and friends, which mirror
//! the kernel's `ip_vs_bind_dest`/`ip_vs_unbind_dest` and protocol state
//! changes, keep the overload flag as the kernel does, and tell the owning
//! service's scheduler, so that indexed schedulers (lc, wlc …) choose what a
//! full scan would.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::service::{Family, ServiceError};

/// IPVS tunnel encapsulation (`IP_VS_CONN_F_TUNNEL_TYPE_*`, `include/uapi/linux/ip_vs.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelKind {
    /// IP-in-IP (`ipip`), the default.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation (`gue`), which needs a port.
    Gue,
    /// Generic Routing Encapsulation (`gre`).
    Gre,
}

impl TunnelKind {
    /// The kernel's number for this kind.
    pub const fn number(self) -> u8 {
        match self {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue => 1,
            TunnelKind::Gre => 2,
        }
    }

    /// The kind for a kernel number.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(TunnelKind::Ipip),
            1 => Some(TunnelKind::Gue),
            2 => Some(TunnelKind::Gre),
            _ => None,
        }
    }

    /// The name `ipvsadm --tun-type` takes (`ipip`, `gue`, `gre`).
    pub const fn name(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipip",
            TunnelKind::Gue => "gue",
            TunnelKind::Gre => "gre",
        }
    }
}

/// Tunnel checksum mode (`IP_VS_TUNNEL_ENCAP_FLAG_*`): `--tun-nocsum`,
/// `--tun-csum` or `--tun-remcsum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelCsum {
    /// No checksum (flags 0), the default.
    #[default]
    NoCsum,
    /// Outer checksum (flag bit 0).
    Csum,
    /// Remote checksum offload (flag bit 1).
    RemCsum,
}

impl TunnelCsum {
    /// The kernel's flag bits for this mode.
    pub const fn flags(self) -> u16 {
        match self {
            TunnelCsum::NoCsum => 0,
            TunnelCsum::Csum => 1,
            TunnelCsum::RemCsum => 2,
        }
    }

    /// The mode for kernel flag bits (`remcsum` wins over `csum` when both are
    /// set, as in the kernel's transmit path).
    pub const fn from_flags(flags: u16) -> Self {
        if flags & 2 != 0 {
            TunnelCsum::RemCsum
        } else if flags & 1 != 0 {
            TunnelCsum::Csum
        } else {
            TunnelCsum::NoCsum
        }
    }
}

/// Tunnel parameters of a real server reached by [`ForwardMethod::Tunnel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TunnelParams {
    /// Encapsulation.
    pub kind: TunnelKind,
    /// Destination UDP port for GUE (must be non-zero for GUE).
    pub port: u16,
    /// Checksum mode.
    pub csum: TunnelCsum,
}

/// How the director forwards packets to a real server
/// (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMethod {
    /// Masquerading / NAT (`-m`), 0.
    Masq,
    /// The director itself serves the connection (local node), 1.
    Local,
    /// IP tunnelling (`-i`), 2.
    Tunnel(TunnelParams),
    /// Direct routing / gatewaying (`-g`, keepalived's `DR`), 3.
    Route,
}

impl ForwardMethod {
    /// The kernel's forwarding code (`IP_VS_CONN_F_MASQ` … `IP_VS_CONN_F_DROUTE`).
    pub const fn code(self) -> u32 {
        match self {
            ForwardMethod::Masq => 0,
            ForwardMethod::Local => 1,
            ForwardMethod::Tunnel(_) => 2,
            ForwardMethod::Route => 3,
        }
    }

    /// The word `ipvsadm -L` prints in its `Forward` column.
    pub const fn ipvsadm_name(self) -> &'static str {
        match self {
            ForwardMethod::Masq => "Masq",
            ForwardMethod::Local => "Local",
            ForwardMethod::Tunnel(_) => "Tunnel",
            ForwardMethod::Route => "Route",
        }
    }

    /// Packs the method with its tunnel parameters into one word (used to keep
    /// it in an atomic): code in bits 0..8, tunnel kind 8..16, checksum flags
    /// 16..32, tunnel port 32..48.
    const fn pack(self) -> u64 {
        match self {
            ForwardMethod::Tunnel(t) => {
                2 | (t.kind.number() as u64) << 8 | (t.csum.flags() as u64) << 16 | (t.port as u64) << 32
            }
            other => other.code() as u64,
        }
    }

    const fn unpack(w: u64) -> Self {
        match w & 0xff {
            0 => ForwardMethod::Masq,
            1 => ForwardMethod::Local,
            2 => {
                let kind = match TunnelKind::from_number((w >> 8) as u8) {
                    Some(k) => k,
                    None => TunnelKind::Ipip,
                };
                ForwardMethod::Tunnel(TunnelParams {
                    kind,
                    port: (w >> 32) as u16,
                    csum: TunnelCsum::from_flags((w >> 16) as u16),
                })
            }
            _ => ForwardMethod::Route,
        }
    }
}

impl fmt::Display for ForwardMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ipvsadm_name())
    }
}

/// The largest weight `ipvsadm` accepts.
pub const MAX_WEIGHT: u32 = 65535;

/// A real server as `ipvsadm -a`/`-e` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestConfig {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port (for DR and tunnel the kernel uses the service port).
    pub port: u16,
    /// Forwarding method.
    pub forward: ForwardMethod,
    /// Weight, 0..=65535; 0 makes the server quiescent (keeps its connections,
    /// gets no new ones).
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 for none.
    pub upper_threshold: u32,
    /// Lower connection threshold (`-y`), 0 for none.
    pub lower_threshold: u32,
}

impl DestConfig {
    /// A real server with weight 1 (ipvsadm's default) and no thresholds.
    pub const fn new(addr: IpAddr, port: u16, forward: ForwardMethod) -> Self {
        DestConfig { addr, port, forward, weight: 1, upper_threshold: 0, lower_threshold: 0 }
    }

    /// A NAT (masquerading) real server.
    pub const fn masq(addr: IpAddr, port: u16) -> Self {
        Self::new(addr, port, ForwardMethod::Masq)
    }

    /// A direct-routing real server.
    pub const fn route(addr: IpAddr, port: u16) -> Self {
        Self::new(addr, port, ForwardMethod::Route)
    }

    /// A tunnelled real server.
    pub const fn tunnel(addr: IpAddr, port: u16, params: TunnelParams) -> Self {
        Self::new(addr, port, ForwardMethod::Tunnel(params))
    }

    /// Sets the weight.
    pub const fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the upper and lower connection thresholds.
    pub const fn thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.upper_threshold = upper;
        self.lower_threshold = lower;
        self
    }

    /// The server's socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// Checks the server against the kernel's and ipvsadm's rules for a
    /// service of family `family` (`ip_vs_add_dest`/`ip_vs_edit_dest` in
    /// `net/netfilter/ipvs/ip_vs_ctl.c`; mixed families only with tunnelling,
    /// as `ip_vs_genl_set_cmd` checks).
    pub fn validate(&self, family: Family) -> Result<(), ServiceError> {
        if self.weight > MAX_WEIGHT {
            return Err(ServiceError::WeightOutOfRange { dest: self.socket_addr(), weight: self.weight });
        }
        if self.lower_threshold > self.upper_threshold {
            return Err(ServiceError::ThresholdOrder {
                dest: self.socket_addr(),
                lower: self.lower_threshold,
                upper: self.upper_threshold,
            });
        }
        if self.upper_threshold > i32::MAX as u32 {
            return Err(ServiceError::ThresholdTooLarge { dest: self.socket_addr(), upper: self.upper_threshold });
        }
        let dest_family = Family::of(self.addr);
        if dest_family != family && !matches!(self.forward, ForwardMethod::Tunnel(_)) {
            return Err(ServiceError::MixedFamily { dest: self.socket_addr(), service: family, server: dest_family });
        }
        if let ForwardMethod::Tunnel(TunnelParams { kind: TunnelKind::Gue, port: 0, .. }) = self.forward {
            return Err(ServiceError::GuePortZero { dest: self.socket_addr() });
        }
        Ok(())
    }
}

/// Server status flags (`IP_VS_DEST_F_*`, `include/net/ip_vs.h`).
pub mod flags {
    /// The server is in its service's list (cleared when it is removed while
    /// connections or caches still point at it).
    pub const AVAILABLE: u32 = 0x0001;
    /// The server reached its upper connection threshold.
    pub const OVERLOAD: u32 = 0x0002;
}

/// Per-server connection counters as the kernel keeps them in
/// `struct ip_vs_dest`: `activeconns`, `totalconns` (active plus inactive)
/// and `persistconns`. Debian's 6.1 kernel counts the total rather than the
/// inactive connections, and derives the inactive count as
/// `max(total - active, 0)` (`ip_vs_dest_inactconns`).
///
/// Read-only from outside: change them through the [`Dest`] methods
/// ([`Dest::bind_conn`], [`Dest::activate_conn`] …), which also maintain the
/// overload flag and tell the service's scheduler, as the kernel's
/// `ip_vs_bind_dest`/`ip_vs_unbind_dest` and protocol state changes do.
#[derive(Debug, Default)]
pub struct ConnCounters {
    active: AtomicU32,
    total: AtomicU32,
    persistent: AtomicU32,
}

impl ConnCounters {
    /// Active connections (`activeconns`).
    #[inline]
    pub fn active(&self) -> u32 {
        self.active.load(Relaxed)
    }

    /// All connections, active and inactive (`totalconns`).
    #[inline]
    pub fn total(&self) -> u32 {
        self.total.load(Relaxed)
    }

    /// Inactive connections: `max(total - active, 0)`.
    #[inline]
    pub fn inactive(&self) -> u32 {
        self.total().saturating_sub(self.active())
    }

    /// Persistence templates pointing at the server (`persistconns`).
    #[inline]
    pub fn persistent(&self) -> u32 {
        self.persistent.load(Relaxed)
    }
}

/// Decrements without going below zero; returns the value before.
#[inline]
fn dec(a: &AtomicU32) -> u32 {
    match a.fetch_update(Relaxed, Relaxed, |v| v.checked_sub(1)) {
        Ok(v) | Err(v) => v,
    }
}

/// Change notification from [`Dest`] counters to the scheduler of the service
/// that owns them.
///
/// Schedulers that keep an index over the servers' loads (lc, wlc, sed, nq,
/// fo, ovf, twos, lblc, lblcr) must learn of every counter or overload
/// change. The kernel has no such need because it scans every server at every
/// pick; lvskit keeps the choice and avoids the scan. A server queues its
/// slot here at most once between two drains (its `queued` flag dedups), so
/// the cost on the connection table's side is one atomic swap per change and
/// a short lock at most once per server per pick.
#[derive(Debug, Default)]
pub(crate) struct LoadWatch {
    queue: Mutex<Vec<u32>>,
    nonempty: AtomicBool,
}

impl LoadWatch {
    fn push(&self, slot: u32) {
        let mut q = self.queue.lock();
        q.push(slot);
        self.nonempty.store(true, Release);
    }

    /// Makes room for `n` queued slots so that pushes do not allocate.
    pub(crate) fn reserve(&self, n: usize) {
        let mut q = self.queue.lock();
        let len = q.len();
        q.reserve(n.saturating_sub(len));
    }

    /// Swaps the queued slots into `out` (which must be empty); returns
    /// whether anything was queued. Allocates nothing.
    pub(crate) fn drain(&self, out: &mut Vec<u32>) -> bool {
        if !self.nonempty.load(Acquire) || !self.nonempty.swap(false, AcqRel) {
            return false;
        }
        std::mem::swap(&mut *self.queue.lock(), out);
        !out.is_empty()
    }

    /// Forgets everything queued.
    pub(crate) fn clear(&self) {
        self.queue.lock().clear();
        self.nonempty.store(false, Release);
    }
}

/// A real server in a service's list: its identity, its current settings and
/// its live counters.
#[derive(Debug)]
pub struct Dest {
    addr: IpAddr,
    port: u16,
    forward: AtomicU64,
    weight: AtomicU32,
    last_weight: AtomicU32,
    upper_threshold: AtomicU32,
    lower_threshold: AtomicU32,
    lower_threshold_val: AtomicU32,
    flags: AtomicU32,
    counters: ConnCounters,
    /// Serialises overload updates, like the kernel's `dst_lock`.
    overload_lock: Mutex<()>,
    /// The owning service's change queue, set when the service adopts it.
    watch: OnceLock<Arc<LoadWatch>>,
    /// This server's slot in its service (stable while it is listed).
    slot: AtomicU32,
    /// Set while the slot is queued (or the server is not listed), so that a
    /// change queues the slot at most once.
    queued: AtomicBool,
}

impl Dest {
    /// A new, available real server with zero counters (`ip_vs_new_dest`).
    pub fn new(cfg: &DestConfig) -> Self {
        let d = Dest {
            addr: cfg.addr,
            port: cfg.port,
            forward: AtomicU64::new(0),
            weight: AtomicU32::new(0),
            last_weight: AtomicU32::new(0),
            upper_threshold: AtomicU32::new(0),
            lower_threshold: AtomicU32::new(0),
            lower_threshold_val: AtomicU32::new(0),
            flags: AtomicU32::new(0),
            counters: ConnCounters::default(),
            overload_lock: Mutex::new(()),
            watch: OnceLock::new(),
            slot: AtomicU32::new(0),
            queued: AtomicBool::new(true),
        };
        d.update(cfg, true);
        d
    }

    /// Address.
    #[inline]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Port.
    #[inline]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Address and port.
    #[inline]
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// Forwarding method.
    #[inline]
    pub fn forward(&self) -> ForwardMethod {
        ForwardMethod::unpack(self.forward.load(Relaxed))
    }

    /// Current weight.
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }

    /// The latest weight set when the server was added, or its latest
    /// non-zero weight since (`last_weight`): what mh sizes the server's
    /// share of its table by, so that a quiesced server keeps its slots.
    #[inline]
    pub fn last_weight(&self) -> u32 {
        self.last_weight.load(Relaxed)
    }

    /// Upper connection threshold, 0 for none.
    #[inline]
    pub fn upper_threshold(&self) -> u32 {
        self.upper_threshold.load(Relaxed)
    }

    /// Lower connection threshold, 0 for none.
    #[inline]
    pub fn lower_threshold(&self) -> u32 {
        self.lower_threshold.load(Relaxed)
    }

    /// The lower threshold in use (`l_threshold_val`): the configured one,
    /// or 3/4 of the upper threshold when none is configured.
    #[inline]
    pub fn effective_lower_threshold(&self) -> u32 {
        self.lower_threshold_val.load(Relaxed)
    }

    /// The current settings as a [`DestConfig`].
    pub fn config(&self) -> DestConfig {
        DestConfig {
            addr: self.addr,
            port: self.port,
            forward: self.forward(),
            weight: self.weight(),
            upper_threshold: self.upper_threshold(),
            lower_threshold: self.lower_threshold(),
        }
    }

    /// Status flags ([`flags`]).
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags.load(Relaxed)
    }

    /// Whether the server is still in its service's list.
    #[inline]
    pub fn is_available(&self) -> bool {
        self.flags() & flags::AVAILABLE != 0
    }

    /// Whether the server is overloaded (reached its upper threshold).
    #[inline]
    pub fn is_overloaded(&self) -> bool {
        self.flags() & flags::OVERLOAD != 0
    }

    /// Sets or clears the overload flag by hand. Connection tables normally
    /// leave this to [`bind_conn`](Self::bind_conn) and
    /// [`unbind_conn`](Self::unbind_conn), which apply the thresholds.
    pub fn set_overloaded(&self, on: bool) {
        let before = if on {
            self.flags.fetch_or(flags::OVERLOAD, Relaxed)
        } else {
            self.flags.fetch_and(!flags::OVERLOAD, Relaxed)
        };
        if (before & flags::OVERLOAD != 0) != on {
            self.touch();
        }
    }

    pub(crate) fn set_available(&self, on: bool) {
        if on {
            self.flags.fetch_or(flags::AVAILABLE, Relaxed);
        } else {
            self.flags.fetch_and(!flags::AVAILABLE, Relaxed);
        }
    }

    /// Applies settings, as `__ip_vs_update_dest` (`ip_vs_ctl.c`) does for
    /// an add (`add`, also a revival from the trash) or an edit: the latest
    /// non-zero weight is remembered (any weight on an add); when either
    /// threshold changes, the lower threshold in use becomes the configured
    /// one or 3/4 of the upper, and the overload flag is re-evaluated against
    /// the current total (cleared when the upper threshold is 0).
    pub(crate) fn update(&self, cfg: &DestConfig, add: bool) {
        if add || cfg.weight != 0 {
            self.last_weight.store(cfg.weight, Relaxed);
        }
        self.weight.store(cfg.weight, Relaxed);
        self.forward.store(cfg.forward.pack(), Relaxed);
        self.set_available(true);
        if self.upper_threshold() != cfg.upper_threshold || self.lower_threshold() != cfg.lower_threshold {
            let _g = self.overload_lock.lock();
            self.upper_threshold.store(cfg.upper_threshold, Relaxed);
            self.lower_threshold.store(cfg.lower_threshold, Relaxed);
            let val = if cfg.lower_threshold != 0 {
                cfg.lower_threshold
            } else {
                cfg.upper_threshold - (cfg.upper_threshold >> 2)
            };
            self.lower_threshold_val.store(val, Relaxed);
            self.update_overload_locked(0);
        }
    }

    /// `__ip_vs_dest_update_overload` (`ip_vs_ctl.c`): with no upper
    /// threshold the flag is cleared; otherwise a bind (`mode > 0`) sets it
    /// from the lower threshold in use, an unbind (`mode < 0`) keeps it only
    /// at or above the upper threshold, and an edit (`mode == 0`) sets it at
    /// or above the upper, keeps it at or above the lower, clears it below.
    fn update_overload_locked(&self, mode: i32) {
        let upper = self.upper_threshold();
        if upper != 0 {
            let lower = self.effective_lower_threshold();
            let conns = self.counters.total();
            if conns >= if mode > 0 { lower } else { upper } {
                self.set_overloaded(true);
                return;
            }
            if conns >= if mode < 0 { upper } else { lower } {
                return;
            }
        }
        self.set_overloaded(false);
    }

    fn update_overload(&self, mode: i32) {
        let _g = self.overload_lock.lock();
        self.update_overload_locked(mode);
    }

    /// The live connection counters.
    #[inline]
    pub fn counters(&self) -> &ConnCounters {
        &self.counters
    }

    /// Active connections.
    #[inline]
    pub fn active_conns(&self) -> u32 {
        self.counters.active()
    }

    /// Inactive connections (`max(total - active, 0)`).
    #[inline]
    pub fn inactive_conns(&self) -> u32 {
        self.counters.inactive()
    }

    /// All connections, active and inactive (`totalconns`).
    #[inline]
    pub fn total_conns(&self) -> u32 {
        self.counters.total()
    }

    /// Persistence templates pointing at this server.
    #[inline]
    pub fn persistent_conns(&self) -> u32 {
        self.counters.persistent()
    }

    /// A connection was bound to this server (`ip_vs_bind_dest` for a
    /// normal connection): `active` says whether it starts active (synced
    /// established connections) or inactive (new ones: the kernel binds with
    /// `IP_VS_CONN_F_INACTIVE`). When the total reaches the upper threshold
    /// the overload flag is re-evaluated.
    pub fn bind_conn(&self, active: bool) {
        if active {
            self.counters.active.fetch_add(1, Relaxed);
        }
        let total = self.counters.total.fetch_add(1, Relaxed).wrapping_add(1);
        if total == self.upper_threshold() {
            self.update_overload(1);
        }
        self.touch();
    }

    /// A connection left this server (`ip_vs_unbind_dest`): `active` is
    /// whether it was counted active. When the total drops from the lower
    /// threshold in use, the overload flag is re-evaluated. Counters never go
    /// below zero.
    pub fn unbind_conn(&self, active: bool) {
        if active {
            dec(&self.counters.active);
        }
        let before = dec(&self.counters.total);
        if before == self.effective_lower_threshold() {
            self.update_overload(-1);
        }
        self.touch();
    }

    /// A bound connection became active (its protocol state entered
    /// ESTABLISHED; `set_tcp_state` in `ip_vs_proto_tcp.c`).
    pub fn activate_conn(&self) {
        self.counters.active.fetch_add(1, Relaxed);
        self.touch();
    }

    /// A bound connection stopped being active.
    pub fn deactivate_conn(&self) {
        dec(&self.counters.active);
        self.touch();
    }

    /// A persistence template was bound to this server.
    pub fn bind_template(&self) {
        self.counters.persistent.fetch_add(1, Relaxed);
    }

    /// A persistence template left this server.
    pub fn unbind_template(&self) {
        dec(&self.counters.persistent);
    }

    /// Sets the active and inactive counts at once (total = active +
    /// inactive); for balancers that keep their own connection tracking and
    /// feed its counts to the schedulers. The overload flag is left alone.
    pub fn set_conns(&self, active: u32, inactive: u32) {
        self.counters.active.store(active, Relaxed);
        self.counters.total.store(active.saturating_add(inactive), Relaxed);
        self.touch();
    }

    /// The kernel's load estimate for lc/wlc/lblc/lblcr/twos:
    /// `(active << 8) + total` (`ip_vs_dest_conn_overhead`,
    /// `include/net/ip_vs.h`), that is 257 per active and 1 per inactive
    /// connection. Computed in 64 bits so it never wraps (the kernel's `int`
    /// would beyond 8 million active connections on one server).
    #[inline]
    pub fn conn_overhead(&self) -> u64 {
        ((self.active_conns() as u64) << 8) + self.total_conns() as u64
    }

    /// Binds the server to its service's change queue and slot, and arms
    /// notifications. Fails if it belongs to another service's queue.
    pub(crate) fn adopt(&self, watch: &Arc<LoadWatch>, slot: u32) -> bool {
        let w = self.watch.get_or_init(|| Arc::clone(watch));
        if !Arc::ptr_eq(w, watch) {
            return false;
        }
        self.slot.store(slot, Relaxed);
        self.queued.store(false, Release);
        true
    }

    /// Whether the server may be adopted by the service owning `watch`.
    pub(crate) fn adoptable_by(&self, watch: &Arc<LoadWatch>) -> bool {
        self.watch.get().is_none_or(|w| Arc::ptr_eq(w, watch))
    }

    /// Stops notifications (the server left its service's list).
    pub(crate) fn orphan(&self) {
        self.queued.store(true, Release);
    }

    /// Re-arms notifications before a scheduler reads the server's state.
    pub(crate) fn rearm(&self) {
        self.queued.swap(false, AcqRel);
    }

    /// The server's slot in its service.
    pub(crate) fn slot(&self) -> u32 {
        self.slot.load(Relaxed)
    }

    /// Tells the owning service's scheduler that the load changed.
    #[inline]
    fn touch(&self) {
        if let Some(w) = self.watch.get() {
            if !self.queued.swap(true, AcqRel) {
                w.push(self.slot.load(Relaxed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn dest(upper: u32, lower: u32) -> Dest {
        Dest::new(&DestConfig::masq(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 80).thresholds(upper, lower))
    }

    #[test]
    fn memory_per_dest() {
        assert_eq!(std::mem::size_of::<Dest>(), 88);
    }

    #[test]
    fn counters_follow_the_kernel() {
        let d = dest(0, 0);
        d.bind_conn(false);
        d.bind_conn(false);
        d.activate_conn();
        assert_eq!((d.active_conns(), d.inactive_conns(), d.total_conns()), (1, 1, 2));
        assert_eq!(d.conn_overhead(), 256 + 2, "(active << 8) + total");
        d.deactivate_conn();
        d.unbind_conn(false);
        d.unbind_conn(false);
        d.unbind_conn(true); // one too many: counters stay at 0
        assert_eq!((d.active_conns(), d.total_conns()), (0, 0));
        d.bind_template();
        d.unbind_template();
        d.unbind_template();
        assert_eq!(d.persistent_conns(), 0);
        d.set_conns(3, 4);
        assert_eq!((d.active_conns(), d.inactive_conns(), d.total_conns()), (3, 4, 7));
    }

    #[test]
    fn upper_threshold_sets_and_lower_clears_overload() {
        // upper 4, no lower: the lower in use is 4 - 4/4 = 3.
        let d = dest(4, 0);
        assert_eq!(d.effective_lower_threshold(), 3);
        for _ in 0..3 {
            d.bind_conn(false);
        }
        assert!(!d.is_overloaded());
        d.bind_conn(false); // total reaches 4
        assert!(d.is_overloaded());
        d.bind_conn(false);
        d.unbind_conn(false); // 5 -> 4
        d.unbind_conn(false); // 4 -> 3: still set
        assert!(d.is_overloaded());
        d.unbind_conn(false); // from 3 (the lower in use) to 2: cleared
        assert!(!d.is_overloaded());
        // An explicit lower threshold.
        let d = dest(4, 1);
        for _ in 0..4 {
            d.bind_conn(true);
        }
        assert!(d.is_overloaded());
        for _ in 0..2 {
            d.unbind_conn(true);
        }
        assert!(d.is_overloaded(), "2 connections: above the lower threshold");
        d.unbind_conn(true); // from 2 to 1
        assert!(d.is_overloaded());
        d.unbind_conn(true); // from 1 (the lower) to 0
        assert!(!d.is_overloaded());
    }

    #[test]
    fn edits_reevaluate_overload_only_when_thresholds_change() {
        let d = dest(0, 0);
        for _ in 0..5 {
            d.bind_conn(false);
        }
        let cfg = d.config();
        d.update(&cfg.thresholds(5, 0), false); // 5 >= upper 5: set
        assert!(d.is_overloaded());
        d.update(&cfg.thresholds(5, 0).weight(7), false); // unchanged thresholds
        assert!(d.is_overloaded());
        d.update(&cfg.thresholds(8, 4), false); // between lower and upper: kept
        assert!(d.is_overloaded());
        d.update(&cfg.thresholds(8, 6), false); // below the lower: cleared
        assert!(!d.is_overloaded());
        d.update(&cfg.thresholds(6, 5), false); // between: kept clear
        assert!(!d.is_overloaded());
        d.set_overloaded(true);
        d.update(&cfg.thresholds(0, 0), false); // no upper threshold: cleared
        assert!(!d.is_overloaded());
    }

    #[test]
    fn last_weight_keeps_the_latest_non_zero() {
        let d = dest(0, 0);
        let cfg = d.config();
        d.update(&cfg.weight(5), false);
        d.update(&cfg.weight(0), false);
        assert_eq!((d.weight(), d.last_weight()), (0, 5));
        d.update(&cfg.weight(0), true); // an add takes any weight
        assert_eq!(d.last_weight(), 0);
    }
}

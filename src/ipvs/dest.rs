//! Real servers ("destinations" in the kernel): how packets reach them, their
//! weight and connection thresholds, and the live counters schedulers read.
//!
//! [`DestConfig`] is what `ipvsadm -a/-e` carries; [`Dest`] is the runtime
//! entry a [`Service`](super::Service) keeps in its list. A `Dest` is shared
//! (`Arc`) between the service, schedulers' caches and connection entries,
//! like the kernel's refcounted `struct ip_vs_dest`, so everything that can
//! change while connections point at it is atomic. Memory per `Dest`: 64 bytes
//! plus the `Arc` header.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

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

/// Per-server connection counters, updated by connection tables as entries
/// are bound, change state and expire (`activeconns`, `inactconns`,
/// `persistconns` in `struct ip_vs_dest`). Relaxed atomics, as the kernel's
/// `atomic_t`s.
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Connections in a state that counts as active (TCP ESTABLISHED).
    pub active: AtomicU32,
    /// Connections in any other state.
    pub inactive: AtomicU32,
    /// Persistence templates pointing at this server.
    pub persistent: AtomicU32,
}

/// A real server in a service's list: its identity, its current settings and
/// its live counters.
#[derive(Debug)]
pub struct Dest {
    addr: IpAddr,
    port: u16,
    forward: AtomicU64,
    weight: AtomicU32,
    upper_threshold: AtomicU32,
    lower_threshold: AtomicU32,
    flags: AtomicU32,
    counters: ConnCounters,
}

impl Dest {
    /// A new, available real server with zero counters.
    pub fn new(cfg: &DestConfig) -> Self {
        Dest {
            addr: cfg.addr,
            port: cfg.port,
            forward: AtomicU64::new(cfg.forward.pack()),
            weight: AtomicU32::new(cfg.weight),
            upper_threshold: AtomicU32::new(cfg.upper_threshold),
            lower_threshold: AtomicU32::new(cfg.lower_threshold),
            flags: AtomicU32::new(flags::AVAILABLE),
            counters: ConnCounters::default(),
        }
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

    /// Sets or clears the overload flag.
    #[inline]
    pub fn set_overloaded(&self, on: bool) {
        if on {
            self.flags.fetch_or(flags::OVERLOAD, Relaxed);
        } else {
            self.flags.fetch_and(!flags::OVERLOAD, Relaxed);
        }
    }

    pub(crate) fn set_available(&self, on: bool) {
        if on {
            self.flags.fetch_or(flags::AVAILABLE, Relaxed);
        } else {
            self.flags.fetch_and(!flags::AVAILABLE, Relaxed);
        }
    }

    /// Applies an edit (`ipvsadm -e`): weight, thresholds and forwarding
    /// method. As `__ip_vs_update_dest` does, the overload flag is cleared
    /// when the new upper threshold is 0 or higher than the old one.
    pub(crate) fn update(&self, cfg: &DestConfig) {
        let old_upper = self.upper_threshold();
        self.forward.store(cfg.forward.pack(), Relaxed);
        self.weight.store(cfg.weight, Relaxed);
        self.set_available(true);
        if cfg.upper_threshold == 0 || cfg.upper_threshold > old_upper {
            self.set_overloaded(false);
        }
        self.upper_threshold.store(cfg.upper_threshold, Relaxed);
        self.lower_threshold.store(cfg.lower_threshold, Relaxed);
    }

    /// The live connection counters.
    #[inline]
    pub fn counters(&self) -> &ConnCounters {
        &self.counters
    }

    /// Active connections.
    #[inline]
    pub fn active_conns(&self) -> u32 {
        self.counters.active.load(Relaxed)
    }

    /// Inactive connections.
    #[inline]
    pub fn inactive_conns(&self) -> u32 {
        self.counters.inactive.load(Relaxed)
    }

    /// Persistence templates pointing at this server.
    #[inline]
    pub fn persistent_conns(&self) -> u32 {
        self.counters.persistent.load(Relaxed)
    }

    /// Sets the active and inactive counters at once; for balancers that keep
    /// their own connection tracking and feed its counts to the schedulers.
    pub fn set_conns(&self, active: u32, inactive: u32) {
        self.counters.active.store(active, Relaxed);
        self.counters.inactive.store(inactive, Relaxed);
    }

    /// The kernel's load estimate for lc/wlc/sed/nq/ovf decisions:
    /// `(active << 8) + inactive` (`ip_vs_dest_conn_overhead`,
    /// `include/net/ip_vs.h`), computed in 64 bits so it never wraps.
    #[inline]
    pub fn conn_overhead(&self) -> u64 {
        ((self.active_conns() as u64) << 8) + self.inactive_conns() as u64
    }
}

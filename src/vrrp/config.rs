//! [`InstanceConfig`]: the settings of one `vrrp_instance`, named and
//! defaulted as keepalived 2.2.7 names and defaults them, and the checks and
//! adjustments keepalived makes before running one
//! (`vrrp_complete_instance` in `keepalived/vrrp/vrrp.c`).
//!
//! Build one with [`InstanceConfig::new`] and the builder methods, or fill
//! the public fields. [`InstanceConfig::normalize`] (which
//! [`VrrpInstance::new`](super::VrrpInstance::new) calls) rejects what
//! keepalived refuses to run, with a typed [`ConfigError`], and returns the
//! adjustments keepalived would make and log (a sub-second VRRPv2 interval
//! rounded, `nopreempt` cleared on an address owner …) as [`ConfigWarning`]s.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

use crate::backend::{AddrScope, InterfaceAddress};
use crate::wire::Family;
use crate::wire::vrrp::Version;

/// keepalived's `state` keyword: the state an instance wants to start in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP`.
    Backup,
}

/// `authentication { auth_type ... auth_pass ... }` (VRRPv2 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// No authentication (the default).
    #[default]
    None,
    /// `auth_type PASS` with `auth_pass`, NUL-padded to 8 bytes (keepalived
    /// keeps only the first 8 characters).
    Pass([u8; 8]),
    /// `auth_type AH`. keepalived supports IPsec AH; lvskit does not
    /// (deliberate difference): an instance configured with it is refused
    /// with [`ConfigError::AhUnsupported`].
    Ah,
}

impl Auth {
    /// `auth_type PASS` with `password`, truncated to 8 bytes as keepalived
    /// truncates it.
    pub fn pass(password: &str) -> Self {
        let mut data = [0u8; 8];
        let n = password.len().min(8);
        data[..n].copy_from_slice(&password.as_bytes()[..n]);
        Auth::Pass(data)
    }
}

/// A `virtual_ipaddress` (or `virtual_ipaddress_excluded`) entry:
/// `<IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>] [scope <SCOPE>] [label <LABEL>] [-nodad] [noprefixroute]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualAddress {
    /// The address and its prefix (a bare address is /32 or /128, as in
    /// keepalived).
    pub addr: IpNet,
    /// `brd`: the IPv4 broadcast address.
    pub broadcast: Option<Ipv4Addr>,
    /// `dev`: the interface to add it to (default: the instance's
    /// `interface`); gratuitous ARPs / NAs for it go out there.
    pub dev: Option<String>,
    /// `scope` (default global).
    pub scope: AddrScope,
    /// `label` (IPv4).
    pub label: Option<String>,
    /// `-nodad`: let the kernel run duplicate address detection on an IPv6
    /// VIP (keepalived adds IPv6 VIPs with `nodad` otherwise).
    pub dad: bool,
    /// `noprefixroute`.
    pub noprefixroute: bool,
}

impl VirtualAddress {
    /// An address with keepalived's defaults for the rest.
    pub fn new(addr: IpNet) -> Self {
        VirtualAddress {
            addr,
            broadcast: None,
            dev: None,
            scope: AddrScope::Universe,
            label: None,
            dad: false,
            noprefixroute: false,
        }
    }

    /// The address without its prefix.
    pub fn ip(&self) -> IpAddr {
        self.addr.addr()
    }

    /// Sets `dev`.
    pub fn dev(mut self, dev: impl Into<String>) -> Self {
        self.dev = Some(dev.into());
        self
    }

    /// Sets `label`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The address as an [`AddressBackend`](crate::backend::AddressBackend)
    /// adds it on interface `ifindex` (the index of `dev`, or of the
    /// instance's interface), as keepalived does: IPv6 with `nodad` unless
    /// `-nodad`.
    pub fn interface_address(&self, ifindex: u32) -> InterfaceAddress {
        let mut a = InterfaceAddress::new(ifindex, self.ip(), self.addr.prefix_len()).scope(self.scope);
        if let Some(l) = &self.label {
            a = a.label(l);
        }
        if let Some(b) = self.broadcast {
            a = a.broadcast(b);
        }
        if self.ip().is_ipv6() && !self.dad {
            a = a.nodad();
        }
        if self.noprefixroute {
            a = a.noprefixroute();
        }
        a
    }
}

impl From<IpAddr> for VirtualAddress {
    fn from(ip: IpAddr) -> Self {
        VirtualAddress::new(IpNet::from(ip))
    }
}

impl From<IpNet> for VirtualAddress {
    fn from(net: IpNet) -> Self {
        VirtualAddress::new(net)
    }
}

/// A string that is neither `ADDR` nor `ADDR/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid virtual address {0:?}: expected ADDRESS or ADDRESS/PREFIX")]
pub struct ParseVirtualAddressError(pub String);

impl FromStr for VirtualAddress {
    type Err = ParseVirtualAddressError;

    /// `192.0.2.100`, `192.0.2.100/24`, `2001:db8::100/64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(VirtualAddress::new(net));
        }
        s.parse::<IpAddr>().map(VirtualAddress::from).map_err(|_| ParseVirtualAddressError(s.to_owned()))
    }
}

impl fmt::Display for VirtualAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(b) = self.broadcast {
            write!(f, " brd {b}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if self.scope != AddrScope::Universe {
            write!(f, " scope {}", self.scope)?;
        }
        if let Some(l) = &self.label {
            write!(f, " label {l}")?;
        }
        if self.dad {
            f.write_str(" -nodad")?;
        }
        if self.noprefixroute {
            f.write_str(" noprefixroute")?;
        }
        Ok(())
    }
}

/// A `unicast_peer` entry: `<ADDR> [min_ttl N] [max_ttl N]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnicastPeer {
    /// The peer's address.
    pub addr: IpAddr,
    /// `min_ttl` (default 0), checked with `check_unicast_src`.
    pub min_ttl: u8,
    /// `max_ttl` (default 255), checked with `check_unicast_src`.
    pub max_ttl: u8,
}

impl UnicastPeer {
    /// A peer accepting any TTL.
    pub const fn new(addr: IpAddr) -> Self {
        UnicastPeer { addr, min_ttl: 0, max_ttl: 255 }
    }
}

/// `old_unicast_checksum`: how VRRPv3 unicast adverts over IPv4 are
/// checksummed (keepalived up to 1.3.6 used 224.0.0.18 in the pseudo-header
/// instead of the peer's address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UnicastChecksum {
    /// Not configured: RFC 5798 checksums, switching to the old ones for
    /// good when an advert arrives that only verifies the old way
    /// (keepalived's default).
    #[default]
    Auto,
    /// `old_unicast_checksum never`: always RFC 5798.
    Never,
    /// `old_unicast_checksum`: always the old way.
    Always,
}

/// What a tracked object is (`track_interface`, `track_script`,
/// `track_file`, `track_process`, `track_bfd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// `track_interface`: up or down.
    Interface,
    /// `track_script`: succeeding or failing (its `rise`/`fall` already
    /// applied, see [`ScriptTracker`](super::ScriptTracker)).
    Script,
    /// `track_file`: the integer the file holds.
    File,
    /// `track_process`: quorum reached or not.
    Process,
    /// `track_bfd`: the BFD session up or down.
    Bfd,
}

impl fmt::Display for TrackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackKind::Interface => "interface",
            TrackKind::Script => "script",
            TrackKind::File => "file",
            TrackKind::Process => "process",
            TrackKind::Bfd => "bfd",
        })
    }
}

/// The state of a tracked object, as the embedder reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// No result yet: a `vrrp_script` that has not run (keepalived's
    /// "init" state; an unweighted one keeps the instance out of service
    /// until its first result).
    Init,
    /// Up / succeeding / quorum reached.
    Up,
    /// Down / failing / quorum lost.
    Down,
    /// A tracked file's value.
    Value(i64),
}

/// One `track_*` entry of an instance (or of its sync group).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackedObject {
    /// What it is.
    pub kind: TrackKind,
    /// Its name: the interface, `vrrp_script`, `vrrp_track_file`,
    /// `vrrp_track_process` or BFD instance name.
    pub name: String,
    /// `weight N`: 0 means "FAULT while it fails"; otherwise the
    /// effective priority moves by it (keepalived's sign rules: a positive
    /// weight is added while up, a negative one while down; a file adds
    /// value x weight).
    pub weight: i32,
    /// `reverse`: the weight's sign and the meaning of up/down are flipped.
    pub reverse: bool,
    /// Its state before the embedder says otherwise (interfaces and
    /// processes [`TrackState::Up`], scripts [`TrackState::Init`] or
    /// [`TrackState::Down`] with `init_fail`, files `Value(0)`).
    pub initial: TrackState,
}

impl TrackedObject {
    /// A tracked object with its kind's initial state.
    pub fn new(kind: TrackKind, name: impl Into<String>, weight: i32) -> Self {
        let initial = match kind {
            TrackKind::Script => TrackState::Init,
            TrackKind::File => TrackState::Value(0),
            TrackKind::Interface | TrackKind::Process | TrackKind::Bfd => TrackState::Up,
        };
        TrackedObject { kind, name: name.into(), weight, reverse: false, initial }
    }

    /// Sets `reverse`.
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }

    /// Sets the initial state (`init_fail` on a script: [`TrackState::Down`]).
    pub fn initial(mut self, state: TrackState) -> Self {
        self.initial = state;
        self
    }
}

/// The settings of one `vrrp_instance`. Each field names its keepalived
/// keyword; the defaults are keepalived 2.2.7's. Fields that default from
/// others (or from `global_defs`) are `Option`s: `None` means "not
/// configured", and [`normalize`](Self::normalize) derives them as
/// keepalived does.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceConfig {
    /// The instance name (`vrrp_instance NAME`).
    pub name: String,
    /// `interface`: where adverts go and VIPs live (optional for unicast
    /// with `unicast_src_ip`).
    pub interface: Option<String>,
    /// `virtual_router_id`, 1 to 255.
    pub vrid: u8,
    /// `priority`, 1 to 255 (255: the address owner). Default: 255 with
    /// `state MASTER`, else 100.
    pub priority: Option<u8>,
    /// `state MASTER|BACKUP`. Default: MASTER for priority 255, else BACKUP.
    pub state: Option<InitialState>,
    /// `advert_int` (default 1 s). VRRPv2 rounds it to whole seconds (1 to
    /// 255), VRRPv3 to centiseconds (10 ms to 40.95 s).
    pub advert_int: Duration,
    /// `version` (or `global_defs` `vrrp_version`). Default: 2, or 3 for
    /// IPv6.
    pub version: Option<Version>,
    /// `native_ipv6`: IPv6 even without addresses (implies version 3).
    pub native_ipv6: bool,
    /// `authentication` (VRRPv2 only).
    pub auth: Auth,
    /// `virtual_ipaddress`: the VIPs, advertised in this order.
    pub virtual_ipaddress: Vec<VirtualAddress>,
    /// `virtual_ipaddress_excluded`: added and removed with the VIPs but not
    /// advertised (may be of the other family).
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    /// `unicast_src_ip` / `mcast_src_ip`: the advert's source address.
    /// Default: the interface's primary address (IPv4) or link-local (IPv6),
    /// reported with [`Input::InterfaceAddress`](super::Input::InterfaceAddress).
    pub src_ip: Option<IpAddr>,
    /// `unicast_peer { ... }`: send adverts to these instead of multicast.
    pub unicast_peers: Vec<UnicastPeer>,
    /// `unicast_ttl`: the TTL / hop limit of unicast adverts (default: 255,
    /// as RFC 5798 §5.1.1.3 / §5.1.2.3 require; keepalived 2.2.7 leaves
    /// IPv6 to the kernel's default, 64, a deliberate difference).
    pub unicast_ttl: Option<u8>,
    /// `mcast_dst_ip`: another multicast group (default 224.0.0.18 /
    /// ff02::12).
    pub mcast_dst_ip: Option<IpAddr>,
    /// `check_unicast_src` (or `global_defs` `vrrp_check_unicast_src`): only
    /// accept unicast adverts from a configured peer, within its TTL range.
    pub check_unicast_src: bool,
    /// `unicast_fault_no_peer`: with the unicast keywords but no peer, stay
    /// in FAULT instead of falling back to multicast.
    pub unicast_fault_no_peer: bool,
    /// `old_unicast_checksum [never]`.
    pub old_unicast_checksum: UnicastChecksum,
    /// `nopreempt`: a higher-priority backup does not take over from a
    /// working master (needs initial state BACKUP).
    pub nopreempt: bool,
    /// `preempt_delay` (seconds, default 0): how long after the first
    /// lower-priority advert a backup waits before preempting.
    pub preempt_delay: Duration,
    /// `accept` / `no_accept`: whether the master accepts packets for the
    /// VIPs when it is not their owner (RFC 5798 Accept_Mode). Default:
    /// accept, except in strict mode (then only the owner).
    pub accept: Option<bool>,
    /// `strict_mode` (or `global_defs` `vrrp_strict`): enforce RFC
    /// conformance (no authentication, no unicast, VIPs required, no
    /// `preempt_delay`, `state MASTER` only for the owner …).
    pub strict_mode: Option<bool>,
    /// `skip_check_adv_addr` (or `global_defs` `vrrp_skip_check_adv_addr`):
    /// do not re-check the address list of adverts from the same master.
    pub skip_check_adv_addr: bool,
    /// `dont_track_primary`: ignore the instance interface's link state.
    pub dont_track_primary: bool,
    /// `track_interface`, `track_script`, `track_file`, `track_process`,
    /// `track_bfd` (of the instance, and of its sync group).
    pub track: Vec<TrackedObject>,
    /// `garp_master_delay` (or `vrrp_garp_master_delay`, default 5 s): when
    /// the second burst of gratuitous ARPs / NAs follows the first after
    /// becoming master (0: no second burst).
    pub garp_master_delay: Duration,
    /// `garp_master_repeat` (or `vrrp_garp_master_repeat`, default 5): how
    /// many per VIP in each burst.
    pub garp_master_repeat: u32,
    /// `garp_master_refresh` (or `vrrp_garp_master_refresh`, default 0 =
    /// off): resend them this often while master (checked when an advert
    /// goes out).
    pub garp_master_refresh: Duration,
    /// `garp_master_refresh_repeat` (default 1): how many per VIP per
    /// refresh.
    pub garp_master_refresh_repeat: u32,
    /// `garp_lower_prio_delay` (default: `garp_master_delay`; 0 in strict
    /// mode): second burst after a lower-priority advert reached the master.
    pub garp_lower_prio_delay: Option<Duration>,
    /// `garp_lower_prio_repeat` (default: `garp_master_repeat`; 0 in strict
    /// mode): burst sent when a lower-priority advert reaches the master.
    pub garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_garp_interval` / `garp_group { garp_interval }` (default 0):
    /// least time between two gratuitous ARPs on one interface.
    pub garp_interval: Duration,
    /// `vrrp_gna_interval` / `garp_group { gna_interval }` (default 0):
    /// least time between two unsolicited NAs on one interface.
    pub gna_interval: Duration,
    /// `down_timer_adverts` (or `vrrp_down_timer_adverts`, 1 to 100, default
    /// 3): adverts missed before Master_Down_Interval expires.
    pub down_timer_adverts: u32,
    /// `lower_prio_no_advert` (default false; true in strict mode): do not
    /// answer a lower-priority advert with one of ours.
    pub lower_prio_no_advert: Option<bool>,
    /// `higher_prio_send_advert` (default false; false in strict mode):
    /// send one more advert before yielding to a higher priority.
    pub higher_prio_send_advert: Option<bool>,
}

/// What keepalived refuses to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `virtual_router_id` 0.
    #[error("({instance}) the virtual router id must be set (1 to 255)")]
    VridZero {
        /// Instance name.
        instance: String,
    },
    /// No VIP where one is required (VRRPv3, IPv6 or strict mode).
    #[error("({instance}) no VIP specified; at least one is required")]
    NoVip {
        /// Instance name.
        instance: String,
    },
    /// A VIP or unicast peer of the other family.
    #[error("({instance}) {what} {addr} is not {family} like the instance")]
    FamilyMismatch {
        /// Instance name.
        instance: String,
        /// "virtual address" or "unicast peer" or "source address".
        what: &'static str,
        /// The offending address.
        addr: IpAddr,
        /// The instance's family.
        family: Family,
    },
    /// `auth_type AH`, which lvskit does not implement.
    #[error("({instance}) auth_type AH is not supported by lvskit; use PASS, none, or VRRPv3")]
    AhUnsupported {
        /// Instance name.
        instance: String,
    },
    /// Unicast peers in strict mode.
    #[error("({instance}) unicast peers are not supported in strict mode")]
    UnicastInStrictMode {
        /// Instance name.
        instance: String,
    },
    /// Neither an interface nor a unicast source address.
    #[error("({instance}) unicast instances must have unicast_src_ip or interface")]
    NoInterface {
        /// Instance name.
        instance: String,
    },
    /// An IPv6 link-local source without an interface.
    #[error("({instance}) a non link-local unicast_src_ip is required if interface is omitted")]
    LinkLocalWithoutInterface {
        /// Instance name.
        instance: String,
    },
    /// `down_timer_adverts` out of 1..=100.
    #[error("({instance}) down_timer_adverts {value} out of range 1 to 100")]
    DownTimerAdverts {
        /// Instance name.
        instance: String,
        /// The value.
        value: u32,
    },
    /// A sync group naming no instance, or an instance twice.
    #[error("sync group {group}: {message}")]
    SyncGroup {
        /// Group name.
        group: String,
        /// What is wrong.
        message: String,
    },
}

/// An adjustment keepalived makes to a configuration (and logs) before
/// running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The instance.
    pub instance: String,
    /// The keyword concerned.
    pub keyword: &'static str,
    /// What was done, in keepalived's words where it has some.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) {}: {}", self.instance, self.keyword, self.message)
    }
}

/// Largest number of addresses one advert carries on a 1500-byte Ethernet
/// (keepalived's `DEFAULT_MTU` when it cannot read the interface's).
pub const fn max_vips(family: Family, version: Version) -> usize {
    let (ip, addr) = match family {
        Family::V4 => (20, 4),
        Family::V6 => (40, 16),
    };
    let auth = if matches!((family, version), (Family::V4, Version::V2)) { 8 } else { 0 };
    let n = (1500 - 14 - ip - 8 - auth) / addr;
    if n > 255 { 255 } else { n }
}

/// The settings after [`InstanceConfig::normalize`]: every default derived.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub family: Family,
    pub version: Version,
    pub priority: u8,
    pub wantstate_master: bool,
    pub adver_int_us: u64,
    pub strict: bool,
    pub accept: bool,
    pub unicast: bool,
    pub config_fault: bool,
    pub garp_lower_prio_delay: Duration,
    pub garp_lower_prio_repeat: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
}

impl InstanceConfig {
    /// An instance with keepalived's defaults: `interface` unset, priority
    /// and state derived, 1 s adverts, no VIP yet.
    pub fn new(name: impl Into<String>, vrid: u8) -> Self {
        InstanceConfig {
            name: name.into(),
            interface: None,
            vrid,
            priority: None,
            state: None,
            advert_int: Duration::from_secs(1),
            version: None,
            native_ipv6: false,
            auth: Auth::None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            src_ip: None,
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            mcast_dst_ip: None,
            check_unicast_src: false,
            unicast_fault_no_peer: false,
            old_unicast_checksum: UnicastChecksum::Auto,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            accept: None,
            strict_mode: None,
            skip_check_adv_addr: false,
            dont_track_primary: false,
            track: Vec::new(),
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            garp_interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            down_timer_adverts: 3,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
        }
    }

    /// Sets `interface`.
    pub fn interface(mut self, name: impl Into<String>) -> Self {
        self.interface = Some(name.into());
        self
    }

    /// Sets `priority`.
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets `state`.
    pub fn state(mut self, state: InitialState) -> Self {
        self.state = Some(state);
        self
    }

    /// Sets `advert_int`.
    pub fn advert_int(mut self, interval: Duration) -> Self {
        self.advert_int = interval;
        self
    }

    /// Sets `version`.
    pub fn version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets `authentication`.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Adds a `virtual_ipaddress` entry.
    pub fn vip(mut self, addr: impl Into<VirtualAddress>) -> Self {
        self.virtual_ipaddress.push(addr.into());
        self
    }

    /// Adds a `virtual_ipaddress_excluded` entry.
    pub fn excluded_vip(mut self, addr: impl Into<VirtualAddress>) -> Self {
        self.virtual_ipaddress_excluded.push(addr.into());
        self
    }

    /// Sets `unicast_src_ip` / `mcast_src_ip`.
    pub fn src_ip(mut self, addr: IpAddr) -> Self {
        self.src_ip = Some(addr);
        self
    }

    /// Adds a `unicast_peer`.
    pub fn unicast_peer(mut self, peer: impl Into<UnicastPeerArg>) -> Self {
        self.unicast_peers.push(peer.into().0);
        self
    }

    /// Sets `check_unicast_src`.
    pub fn check_unicast_src(mut self, on: bool) -> Self {
        self.check_unicast_src = on;
        self
    }

    /// Sets `old_unicast_checksum`.
    pub fn old_unicast_checksum(mut self, mode: UnicastChecksum) -> Self {
        self.old_unicast_checksum = mode;
        self
    }

    /// Sets `nopreempt`.
    pub fn nopreempt(mut self, on: bool) -> Self {
        self.nopreempt = on;
        self
    }

    /// Sets `preempt_delay`.
    pub fn preempt_delay(mut self, delay: Duration) -> Self {
        self.preempt_delay = delay;
        self
    }

    /// Sets `accept` (true) or `no_accept` (false).
    pub fn accept(mut self, on: bool) -> Self {
        self.accept = Some(on);
        self
    }

    /// Sets `strict_mode`.
    pub fn strict_mode(mut self, on: bool) -> Self {
        self.strict_mode = Some(on);
        self
    }

    /// Adds a `track_*` entry.
    pub fn track(mut self, object: TrackedObject) -> Self {
        self.track.push(object);
        self
    }

    /// Sets `garp_master_delay`.
    pub fn garp_master_delay(mut self, delay: Duration) -> Self {
        self.garp_master_delay = delay;
        self
    }

    /// Sets `garp_master_repeat`.
    pub fn garp_master_repeat(mut self, n: u32) -> Self {
        self.garp_master_repeat = n;
        self
    }

    /// Sets `garp_master_refresh`.
    pub fn garp_master_refresh(mut self, every: Duration) -> Self {
        self.garp_master_refresh = every;
        self
    }

    /// Sets `garp_interval` and `gna_interval`.
    pub fn garp_interval(mut self, garp: Duration, gna: Duration) -> Self {
        self.garp_interval = garp;
        self.gna_interval = gna;
        self
    }

    /// Sets `down_timer_adverts`.
    pub fn down_timer_adverts(mut self, n: u32) -> Self {
        self.down_timer_adverts = n;
        self
    }

    /// Sets `lower_prio_no_advert`.
    pub fn lower_prio_no_advert(mut self, on: bool) -> Self {
        self.lower_prio_no_advert = Some(on);
        self
    }

    /// Sets `higher_prio_send_advert`.
    pub fn higher_prio_send_advert(mut self, on: bool) -> Self {
        self.higher_prio_send_advert = Some(on);
        self
    }

    /// Whether unicast peers make this a unicast instance.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// Checks the configuration and applies keepalived's adjustments
    /// (`vrrp_complete_instance`), in place; returns what it adjusted.
    pub fn normalize(&mut self) -> Result<Vec<ConfigWarning>, ConfigError> {
        self.resolve().map(|(_, w)| w)
    }

    /// [`normalize`](Self::normalize), also returning the derived values.
    pub(crate) fn resolve(&mut self) -> Result<(Resolved, Vec<ConfigWarning>), ConfigError> {
        let mut warnings = Vec::new();
        let name = self.name.clone();
        let mut warn = |keyword: &'static str, message: String| {
            warnings.push(ConfigWarning { instance: name.clone(), keyword, message });
        };
        let err_name = || self.name.clone();

        if self.vrid == 0 {
            return Err(ConfigError::VridZero { instance: err_name() });
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::DownTimerAdverts { instance: err_name(), value: self.down_timer_adverts });
        }
        let strict = self.strict_mode.unwrap_or(false);

        // The family: the first VIP's, else the first peer's, else IPv4.
        let family = if self.native_ipv6 {
            Family::V6
        } else if let Some(v) = self.virtual_ipaddress.first() {
            Family::of(v.ip())
        } else if let Some(p) = self.unicast_peers.first() {
            Family::of(p.addr)
        } else {
            Family::V4
        };
        for v in &self.virtual_ipaddress {
            if Family::of(v.ip()) != family {
                return Err(ConfigError::FamilyMismatch {
                    instance: err_name(),
                    what: "virtual address",
                    addr: v.ip(),
                    family,
                });
            }
        }
        for p in &self.unicast_peers {
            if Family::of(p.addr) != family {
                return Err(ConfigError::FamilyMismatch {
                    instance: err_name(),
                    what: "unicast peer",
                    addr: p.addr,
                    family,
                });
            }
        }
        if let Some(s) = self.src_ip {
            if Family::of(s) != family {
                return Err(ConfigError::FamilyMismatch {
                    instance: err_name(),
                    what: "source address",
                    addr: s,
                    family,
                });
            }
        }

        let mut version = self.version.unwrap_or(if family == Family::V6 { Version::V3 } else { Version::V2 });
        if family == Family::V6 && version == Version::V2 && strict {
            warn("version", "cannot use IPv6 with VRRP version 2; setting version 3".into());
            version = Version::V3;
        }
        if self.native_ipv6 {
            version = Version::V3;
        }
        self.version = Some(version);

        if self.virtual_ipaddress.is_empty() {
            if version == Version::V3 || family == Family::V6 || strict {
                return Err(ConfigError::NoVip { instance: err_name() });
            }
            warn("virtual_ipaddress", "No VIP specified; at least one is sensible".into());
        }

        let priority = match self.priority {
            Some(p) if p > 0 => p,
            _ if self.state == Some(InitialState::Master) => 255,
            _ => 100,
        };
        self.priority = Some(priority);
        let owner = priority == 255;
        let mut want_master = match self.state {
            None => owner,
            Some(s) => s == InitialState::Master,
        };
        if strict && self.state.is_some() && want_master != owner {
            warn("state", "State MASTER must match being address owner".into());
            want_master = owner;
        }

        match self.auth {
            Auth::None => {}
            _ if strict => {
                warn("authentication", "Strict mode does not support authentication. Ignoring.".into());
                self.auth = Auth::None;
            }
            _ if version == Version::V3 => {
                warn("authentication", "VRRP version 3 does not support authentication. Ignoring.".into());
                self.auth = Auth::None;
            }
            Auth::Pass(p) if p[0] == 0 => {
                warn("authentication", "Authentication specified but no password given. Ignoring".into());
                self.auth = Auth::None;
            }
            Auth::Ah => return Err(ConfigError::AhUnsupported { instance: err_name() }),
            Auth::Pass(_) => {}
        }

        let unicast = !self.unicast_peers.is_empty();
        if strict && unicast {
            return Err(ConfigError::UnicastInStrictMode { instance: err_name() });
        }
        if self.interface.is_none() {
            match self.src_ip {
                None => return Err(ConfigError::NoInterface { instance: err_name() }),
                Some(IpAddr::V6(a)) if a.is_unicast_link_local() => {
                    return Err(ConfigError::LinkLocalWithoutInterface { instance: err_name() });
                }
                Some(_) => {}
            }
        }
        let mut config_fault = false;
        if !unicast && (self.unicast_fault_no_peer || self.check_unicast_src) {
            if self.unicast_fault_no_peer {
                warn("unicast_fault_no_peer", "Cannot use unicast without any peers - going to fault state".into());
                config_fault = true;
            } else {
                warn(
                    "check_unicast_src",
                    "A unicast keyword has been specified without any unicast peers. Defaulting to multicast.".into(),
                );
            }
        }
        if family == Family::V6 && !unicast {
            if let Some(IpAddr::V6(first)) = self.virtual_ipaddress.first().map(VirtualAddress::ip) {
                if !first.is_unicast_link_local() {
                    warn("virtual_ipaddress", "the first IPv6 VIP address should be link local".into());
                }
            }
        }

        let max = max_vips(family, version);
        if self.virtual_ipaddress.len() > max {
            warn(
                "virtual_ipaddress",
                format!(
                    "Number of VIPs ({}) exceeds maximum/space available in packet (max {max} addresses) - excess moved to eVIPs",
                    self.virtual_ipaddress.len()
                ),
            );
            let excess = self.virtual_ipaddress.split_off(max);
            self.virtual_ipaddress_excluded.extend(excess);
        }

        if owner && self.nopreempt {
            warn("nopreempt", "nopreempt is incompatible with priority 255. resetting nopreempt".into());
            self.nopreempt = false;
        }
        if want_master {
            if self.nopreempt {
                warn("nopreempt", "Warning - nopreempt will not work with initial state MASTER - clearing".into());
                self.nopreempt = false;
            }
            if !self.preempt_delay.is_zero() {
                warn(
                    "preempt_delay",
                    "Warning - preempt delay will not work with initial state MASTER - clearing".into(),
                );
                self.preempt_delay = Duration::ZERO;
            }
        }
        if !self.preempt_delay.is_zero() {
            if strict {
                warn("preempt_delay", "preempt_delay is incompatible with strict mode - resetting".into());
                self.preempt_delay = Duration::ZERO;
            }
            if self.nopreempt {
                warn("preempt_delay", "preempt_delay is incompatible with nopreempt mode - resetting".into());
                self.preempt_delay = Duration::ZERO;
            }
        }
        if self.down_timer_adverts != 3 && strict {
            warn("down_timer_adverts", "down_timer_adverts is incompatible with strict mode - resetting".into());
            self.down_timer_adverts = 3;
        }

        let mut accept = self.accept.unwrap_or(if owner { true } else { !strict });
        if accept && !owner && strict && version == Version::V2 {
            warn("accept", "warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting".into());
            accept = false;
        }

        if unicast && self.mcast_dst_ip.is_some() {
            warn("mcast_dst_ip", "multicast destination specified with unicast - ignoring".into());
            self.mcast_dst_ip = None;
        }

        let garp_lower_prio_repeat = match self.garp_lower_prio_repeat {
            None => {
                if strict {
                    0
                } else {
                    self.garp_master_repeat
                }
            }
            Some(n) if strict && n > 0 => {
                warn("garp_lower_prio_repeat", "Strict mode requires no repeat garps. resetting".into());
                0
            }
            Some(n) => n,
        };
        let garp_lower_prio_delay = match self.garp_lower_prio_delay {
            None => {
                if strict {
                    Duration::ZERO
                } else {
                    self.garp_master_delay
                }
            }
            Some(d) if strict && !d.is_zero() => {
                warn("garp_lower_prio_delay", "Strict mode requires no repeat garp delay. resetting".into());
                Duration::ZERO
            }
            Some(d) => d,
        };
        let lower_prio_no_advert = match self.lower_prio_no_advert {
            None => strict,
            Some(false) if strict => {
                warn("lower_prio_no_advert", "Strict mode requires no lower priority advert. resetting".into());
                true
            }
            Some(v) => v,
        };
        let higher_prio_send_advert = match self.higher_prio_send_advert {
            None => false,
            Some(true) if strict => {
                warn(
                    "higher_prio_send_advert",
                    "strict mode requires higher_prio_send_advert to be clear. resetting".into(),
                );
                false
            }
            Some(v) => v,
        };

        // advert_int, in keepalived's microsecond timer units.
        let mut us = u64::try_from(self.advert_int.as_micros()).unwrap_or(u64::MAX);
        if us == 0 {
            us = 1_000_000;
        }
        match version {
            Version::V2 => {
                if us >= 256 * 1_000_000 {
                    warn(
                        "advert_int",
                        format!(
                            "VRRPv2 advertisement interval {:.2}s is out of range. Must be less than 256s. Setting to 255s",
                            us as f64 / 1e6
                        ),
                    );
                    us = 255 * 1_000_000;
                } else if us % 1_000_000 != 0 {
                    warn(
                        "advert_int",
                        format!("VRRPv2 advertisement interval {:.6}s must be an integer. rounding", us as f64 / 1e6),
                    );
                    us += 500_000;
                    us -= us % 1_000_000;
                    if us == 0 {
                        us = 1_000_000;
                    }
                }
            }
            Version::V3 => {
                if us >= 4096 * 10_000 {
                    warn(
                        "advert_int",
                        format!(
                            "VRRPv3 advertisement interval {:.2}s is out of range. Must be less than 40.96s. Setting to 40.95s",
                            us as f64 / 1e6
                        ),
                    );
                    us = 4095 * 10_000;
                } else if us % 10_000 != 0 {
                    warn(
                        "advert_int",
                        format!(
                            "VRRPv3 advertisement interval {:.6}s must be in units of 10ms - rounding",
                            us as f64 / 1e6
                        ),
                    );
                    us += 5_000;
                    us -= us % 10_000;
                    if us == 0 {
                        us = 10_000;
                    }
                }
            }
        }
        self.advert_int = Duration::from_micros(us);

        // Weighted tracking cannot move an address owner's priority.
        if owner {
            self.track.retain_mut(|t| {
                if t.weight == 0 {
                    return true;
                }
                if t.kind == TrackKind::File && t.weight == 1 {
                    t.weight = 0;
                    return true;
                }
                false
            });
        }

        let resolved = Resolved {
            family,
            version,
            priority,
            wantstate_master: want_master,
            adver_int_us: us,
            strict,
            accept,
            unicast,
            config_fault,
            garp_lower_prio_delay,
            garp_lower_prio_repeat,
            lower_prio_no_advert,
            higher_prio_send_advert,
        };
        Ok((resolved, warnings))
    }
}

/// Anything that names a unicast peer: an address or a [`UnicastPeer`].
#[derive(Debug, Clone, Copy)]
pub struct UnicastPeerArg(UnicastPeer);

impl From<IpAddr> for UnicastPeerArg {
    fn from(a: IpAddr) -> Self {
        UnicastPeerArg(UnicastPeer::new(a))
    }
}

impl From<UnicastPeer> for UnicastPeerArg {
    fn from(p: UnicastPeer) -> Self {
        UnicastPeerArg(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> VirtualAddress {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_follow_keepalived() {
        let mut c = InstanceConfig::new("VI_1", 51).interface("eth0").vip(v4("192.0.2.100/24"));
        let (r, w) = c.resolve().unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!((r.family, r.version, r.priority, r.wantstate_master), (Family::V4, Version::V2, 100, false));
        assert_eq!(r.adver_int_us, 1_000_000);
        assert!(r.accept && !r.strict && !r.unicast);
        assert_eq!((r.garp_lower_prio_repeat, r.garp_lower_prio_delay), (5, Duration::from_secs(5)));
        let mut m =
            InstanceConfig::new("VI_1", 51).interface("eth0").state(InitialState::Master).vip(v4("192.0.2.100"));
        assert_eq!(m.resolve().unwrap().0.priority, 255);
        assert_eq!(m.virtual_ipaddress[0].addr.prefix_len(), 32);
    }

    #[test]
    fn sub_second_v2_interval_is_rounded() {
        let mut c = InstanceConfig::new("VI_1", 51)
            .interface("eth0")
            .vip(v4("192.0.2.100"))
            .advert_int(Duration::from_millis(100));
        let (r, w) = c.resolve().unwrap();
        assert_eq!(r.adver_int_us, 1_000_000);
        assert!(w[0].message.contains("must be an integer. rounding"), "{w:?}");
        let mut c3 = InstanceConfig::new("VI_1", 51)
            .interface("eth0")
            .version(Version::V3)
            .vip(v4("192.0.2.100"))
            .advert_int(Duration::from_millis(123));
        assert_eq!(c3.resolve().unwrap().0.adver_int_us, 120_000);
    }

    #[test]
    fn refusals() {
        assert!(matches!(InstanceConfig::new("x", 0).interface("e").resolve(), Err(ConfigError::VridZero { .. })));
        assert!(matches!(
            InstanceConfig::new("x", 1).interface("e").version(Version::V3).resolve(),
            Err(ConfigError::NoVip { .. })
        ));
        assert!(matches!(
            InstanceConfig::new("x", 1).interface("e").vip(v4("192.0.2.1")).vip(v4("2001:db8::1")).resolve(),
            Err(ConfigError::FamilyMismatch { .. })
        ));
        assert!(matches!(
            InstanceConfig::new("x", 1).interface("e").vip(v4("192.0.2.1")).auth(Auth::Ah).resolve(),
            Err(ConfigError::AhUnsupported { .. })
        ));
        assert!(matches!(
            InstanceConfig::new("x", 1).vip(v4("192.0.2.1")).unicast_peer(IpAddr::from([192, 0, 2, 2])).resolve(),
            Err(ConfigError::NoInterface { .. })
        ));
        assert!(matches!(
            InstanceConfig::new("x", 1)
                .interface("e")
                .strict_mode(true)
                .vip(v4("192.0.2.1"))
                .unicast_peer(IpAddr::from([192, 0, 2, 2]))
                .resolve(),
            Err(ConfigError::UnicastInStrictMode { .. })
        ));
    }

    #[test]
    fn strict_mode_adjustments() {
        let mut c = InstanceConfig::new("x", 1)
            .interface("e")
            .strict_mode(true)
            .state(InitialState::Master)
            .priority(150)
            .auth(Auth::pass("secret"))
            .preempt_delay(Duration::from_secs(10))
            .down_timer_adverts(5)
            .vip(v4("192.0.2.1"));
        let (r, w) = c.resolve().unwrap();
        assert!(!r.wantstate_master);
        assert_eq!(c.auth, Auth::None);
        assert_eq!(c.preempt_delay, Duration::ZERO);
        assert_eq!(c.down_timer_adverts, 3);
        assert!(!r.accept && r.lower_prio_no_advert && r.garp_lower_prio_repeat == 0);
        assert!(w.len() >= 4, "{w:?}");
    }

    #[test]
    fn owner_and_master_clear_preemption_options() {
        let mut c = InstanceConfig::new("x", 1)
            .interface("e")
            .priority(255)
            .nopreempt(true)
            .vip(v4("192.0.2.1"))
            .track(TrackedObject::new(TrackKind::Script, "chk", 10))
            .track(TrackedObject::new(TrackKind::Script, "alive", 0))
            .track(TrackedObject::new(TrackKind::File, "f", 1));
        let (r, _) = c.resolve().unwrap();
        assert!(r.wantstate_master && !c.nopreempt);
        assert_eq!(c.track.len(), 2);
        assert!(c.track.iter().all(|t| t.weight == 0));
    }

    #[test]
    fn too_many_vips_become_excluded() {
        let mut c = InstanceConfig::new("x", 1).interface("e").version(Version::V3);
        for i in 0..100u16 {
            c = c.vip(VirtualAddress::from(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i])));
        }
        c.resolve().unwrap();
        assert_eq!(c.virtual_ipaddress.len(), max_vips(Family::V6, Version::V3));
        assert_eq!(c.virtual_ipaddress.len() + c.virtual_ipaddress_excluded.len(), 100);
        assert_eq!(max_vips(Family::V4, Version::V2), 255);
        assert_eq!(max_vips(Family::V6, Version::V3), 89);
    }

    #[test]
    fn vip_as_interface_address() {
        let v: VirtualAddress = "2001:db8::100/64".parse().unwrap();
        let a = v.interface_address(3);
        assert_eq!(a.to_string(), "2001:db8::100/64 dev 3 nodad");
        let v = v4("192.0.2.100/24").label("eth0:1");
        assert_eq!(v.interface_address(2).to_string(), "192.0.2.100/24 dev 2 label eth0:1");
        assert!(v.interface_address(2).validate().is_ok());
        assert_eq!(v.to_string(), "192.0.2.100/24 label eth0:1");
    }

    #[test]
    fn auth_pass_truncates() {
        assert_eq!(Auth::pass("1111"), Auth::Pass(*b"1111\0\0\0\0"));
        assert_eq!(Auth::pass("123456789"), Auth::Pass(*b"12345678"));
    }
}

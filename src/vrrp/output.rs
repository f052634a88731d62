//! What a [`VrrpInstance`](super::VrrpInstance) asks its driver to do
//! ([`Transmit`], [`Action`]), tells it ([`Event`]) and counts ([`Stats`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::config::{TrackKind, VirtualAddress};
use crate::wire::ethernet::EthernetAddress;
use crate::wire::vrrp::{self, Addrs, AuthType, MessageType, Repr, Version};
use crate::wire::{Family, arp, ipv4, ndisc};

/// An instance's state (RFC 5798 section 6.4, plus keepalived's FAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started yet (RFC Initialize).
    Init,
    /// Backup: listening for the master's adverts.
    Backup,
    /// Master: advertising and holding the VIPs.
    Master,
    /// Out of service: a link, address or tracked object failed
    /// (keepalived's FAULT).
    Fault,
    /// Shut down for good.
    Stopped,
}

impl fmt::Display for State {
    /// keepalived's names: `INIT`, `BACKUP`, `MASTER`, `FAULT`, `STOP`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stopped => "STOP",
        })
    }
}

/// Why an instance is in FAULT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// The instance's interface is down.
    LinkDown,
    /// No source address: none configured and none on the interface.
    NoSourceAddress,
    /// A tracked object failed (weight 0) or its weight reached -254.
    Tracked {
        /// What it is.
        kind: TrackKind,
        /// Its name.
        name: String,
    },
    /// An unweighted script has not reported yet.
    TrackInit {
        /// The script.
        name: String,
    },
    /// `unicast_fault_no_peer` without peers.
    NoUnicastPeers,
    /// Another member of the sync group is in FAULT.
    SyncGroup,
}

/// Why a backup became master (keepalived's `next_master_reason`, the
/// VRRPv3 MIB's `vrrpv3StatisticsMasterTransitions` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MasterReason {
    /// Master_Down_Timer expired: no advert from the master.
    NoResponse,
    /// The master sent a priority 0 advert and Skew_Time passed.
    PriorityZero,
    /// This instance preempted a lower priority (or starts as owner).
    Preempted,
}

/// Why a state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// [`Input::Startup`](super::Input::Startup).
    Startup,
    /// Became master when Master_Down_Timer expired.
    MasterDown(MasterReason),
    /// Yielded to an advert with a higher priority (or an equal one from a
    /// higher address).
    HigherPriority {
        /// The advert's source.
        src: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// Went to FAULT.
    Fault(FaultReason),
    /// Left FAULT.
    FaultCleared,
    /// Moved with its sync group.
    SyncGroup,
    /// [`Input::Shutdown`](super::Input::Shutdown).
    Shutdown,
    /// A VIP was removed by someone else
    /// ([`Input::AddressRemoved`](super::Input::AddressRemoved)).
    AddressRemoved(IpAddr),
}

/// Why a received advert was discarded, and which [`Stats`] counter counts
/// it (keepalived's `vrrp_check_packet` order and counters; the few
/// counters keepalived 2.2.7 declares but never increments, and the
/// lvskit-only one, are marked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Shorter than the 8-byte header (`packet_len_err`; keepalived drops
    /// these before any instance sees them).
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Length differs from what the address count implies
    /// (`packet_len_err`).
    Length {
        /// Bytes received.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// IPv4 Total Length differs from the bytes received (`packet_len_err`).
    IpLength {
        /// The Total Length field.
        total: u16,
        /// Bytes received.
        len: usize,
    },
    /// Another VRID (`vrid_err`, SNMP-only in keepalived, whose dispatcher
    /// never hands such a packet to the instance).
    Vrid {
        /// The advert's VRID.
        got: u8,
    },
    /// TTL / hop limit not 255 on a multicast instance (`ip_ttl_err`).
    Ttl {
        /// The TTL received.
        got: u8,
    },
    /// TTL outside a unicast peer's `min_ttl`..`max_ttl` (`ip_ttl_err`).
    TtlRange {
        /// The TTL received.
        got: u8,
        /// The peer's minimum.
        min: u8,
        /// The peer's maximum.
        max: u8,
    },
    /// Another VRRP version (`vers_err`).
    Version {
        /// The advert's version field.
        got: u8,
    },
    /// v2 auth type none of 0, 1, 2 (`invalid_authtype`).
    InvalidAuthType(u8),
    /// v2 auth type not ours, or AH where we expect none or the reverse
    /// (`authtype_mismatch`).
    AuthTypeMismatch {
        /// What arrived.
        got: AuthType,
    },
    /// Wrong password (`auth_failure`).
    AuthFailure,
    /// v2 interval not ours (`advert_interval_err`: keepalived declares
    /// the counter but drops these uncounted; lvskit counts them).
    Interval {
        /// The advert's interval (seconds).
        got: u16,
        /// Ours.
        expected: u16,
    },
    /// Type other than 1 (`invalid_type_rcvd`).
    Type(MessageType),
    /// Address count not ours (`addr_list_err`).
    AddrCount {
        /// The advert's count.
        got: u8,
        /// Our VIP count.
        expected: usize,
    },
    /// One of our VIPs is missing from the advert (`addr_list_err`).
    MissingVip(IpAddr),
    /// Multicast to a unicast instance or unicast to a multicast one
    /// (`addr_list_err`).
    Cast {
        /// Whether the advert was multicast.
        multicast: bool,
    },
    /// Bad checksum (`chk_err`).
    Checksum {
        /// The Checksum field.
        got: u16,
        /// The right value.
        expected: u16,
    },
    /// Source is not a unicast peer, with `check_unicast_src`
    /// (`unicast_src_err`, lvskit-only: keepalived does not count it).
    NotAPeer(IpAddr),
    /// The advert's IP family is not the instance's (a driver error;
    /// uncounted).
    Family,
    /// A backup discards a lower-priority advert so as to preempt (counted
    /// only in `advert_rcvd`, as the valid advert it is).
    LowerPriority {
        /// Its priority.
        priority: u8,
    },
}

impl Discard {
    /// The [`Stats`] field that counts it, by keepalived's name.
    pub fn counter(&self) -> Option<&'static str> {
        Some(match self {
            Discard::Truncated { .. } | Discard::Length { .. } | Discard::IpLength { .. } => "packet_len_err",
            Discard::Vrid { .. } => "vrid_err",
            Discard::Ttl { .. } | Discard::TtlRange { .. } => "ip_ttl_err",
            Discard::Version { .. } => "vers_err",
            Discard::InvalidAuthType(_) => "invalid_authtype",
            Discard::AuthTypeMismatch { .. } => "authtype_mismatch",
            Discard::AuthFailure => "auth_failure",
            Discard::Interval { .. } => "advert_interval_err",
            Discard::Type(_) => "invalid_type_rcvd",
            Discard::AddrCount { .. } | Discard::MissingVip(_) | Discard::Cast { .. } => "addr_list_err",
            Discard::Checksum { .. } => "chk_err",
            Discard::NotAPeer(_) => "unicast_src_err",
            Discard::Family | Discard::LowerPriority { .. } => return None,
        })
    }
}

/// Counters with keepalived's `vrrp_stats` names (`include/vrrp.h`; shown
/// by `keepalived --signum=STATS` and its SNMP MIBs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Adverts that passed the checks up to the address list.
    pub advert_rcvd: u64,
    /// Adverts sent (one per send, whatever the number of unicast peers).
    pub advert_sent: u64,
    /// Transitions to MASTER.
    pub become_master: u64,
    /// Transitions out of MASTER.
    pub release_master: u64,
    /// Length errors.
    pub packet_len_err: u64,
    /// VRRPv2 interval mismatches (lvskit counts them; keepalived 2.2.7
    /// never increments this).
    pub advert_interval_err: u64,
    /// TTL / hop-limit errors.
    pub ip_ttl_err: u64,
    /// Type other than ADVERTISEMENT.
    pub invalid_type_rcvd: u64,
    /// Address list errors.
    pub addr_list_err: u64,
    /// Unknown v2 auth types.
    pub invalid_authtype: u64,
    /// v2 auth type mismatches.
    pub authtype_mismatch: u64,
    /// v2 password failures.
    pub auth_failure: u64,
    /// Priority 0 adverts received.
    pub pri_zero_rcvd: u64,
    /// Priority 0 adverts sent.
    pub pri_zero_sent: u64,
    /// Checksum errors (an SNMP counter in keepalived).
    pub chk_err: u64,
    /// Version errors (an SNMP counter in keepalived).
    pub vers_err: u64,
    /// Adverts for another VRID handed to this instance (an SNMP counter
    /// keepalived never increments).
    pub vrid_err: u64,
    /// Unicast adverts from a source that is not a peer (lvskit only).
    pub unicast_src_err: u64,
}

impl Stats {
    pub(crate) fn count(&mut self, discard: &Discard) {
        let c = match discard {
            Discard::Truncated { .. } | Discard::Length { .. } | Discard::IpLength { .. } => &mut self.packet_len_err,
            Discard::Vrid { .. } => &mut self.vrid_err,
            Discard::Ttl { .. } | Discard::TtlRange { .. } => &mut self.ip_ttl_err,
            Discard::Version { .. } => &mut self.vers_err,
            Discard::InvalidAuthType(_) => &mut self.invalid_authtype,
            Discard::AuthTypeMismatch { .. } => &mut self.authtype_mismatch,
            Discard::AuthFailure => &mut self.auth_failure,
            Discard::Interval { .. } => &mut self.advert_interval_err,
            Discard::Type(_) => &mut self.invalid_type_rcvd,
            Discard::AddrCount { .. } | Discard::MissingVip(_) | Discard::Cast { .. } => &mut self.addr_list_err,
            Discard::Checksum { .. } => &mut self.chk_err,
            Discard::NotAPeer(_) => &mut self.unicast_src_err,
            Discard::Family | Discard::LowerPriority { .. } => return,
        };
        *c += 1;
    }

    /// Every rejection counter added up (not `advert_rcvd` and friends).
    pub fn errors(&self) -> u64 {
        self.packet_len_err
            + self.advert_interval_err
            + self.ip_ttl_err
            + self.invalid_type_rcvd
            + self.addr_list_err
            + self.invalid_authtype
            + self.authtype_mismatch
            + self.auth_failure
            + self.chk_err
            + self.vers_err
            + self.vrid_err
            + self.unicast_src_err
    }
}

/// Something the instance reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The state changed (keepalived's notify scripts run on these).
    StateChanged {
        /// Before.
        from: State,
        /// After.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// A received advert was discarded (and counted, see
    /// [`Discard::counter`]).
    Discarded {
        /// Its source.
        src: IpAddr,
        /// Why.
        reason: Discard,
    },
    /// The effective priority changed (tracked objects' weights).
    PriorityChanged {
        /// Before.
        from: u8,
        /// After.
        to: u8,
    },
    /// A master received a lower-priority advert and answered it
    /// (keepalived's `notify_master_rx_lower_pri`).
    MasterReceivedLowerPriority {
        /// The advert's source.
        src: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// Another router also claims to own the addresses (both priority
    /// 255): this instance dropped to 254, as keepalived does.
    OwnerConflict {
        /// The other owner.
        src: IpAddr,
    },
    /// An equal-priority advert came from our own address (keepalived logs
    /// a warning).
    OwnAddress,
    /// A unicast VRRPv3 advert verified only with the pre-1.3.6 checksum:
    /// the instance now sends and checks that way (keepalived's automatic
    /// `old_unicast_checksum`).
    OldUnicastChecksum {
        /// The advert's source.
        src: IpAddr,
    },
}

/// The VIP list an advert carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddrList {
    V4(Arc<[Ipv4Addr]>),
    V6(Arc<[Ipv6Addr]>),
}

impl AddrList {
    pub(crate) fn as_addrs(&self) -> Addrs<'_> {
        match self {
            AddrList::V4(a) => Addrs::V4(a),
            AddrList::V6(a) => Addrs::V6(a),
        }
    }
}

/// An advert to send: where to, with what TTL, and its bytes on demand.
///
/// For IPv4 the driver either lets the kernel build the IP header (a raw
/// socket with `IP_TTL`/`IP_MULTICAST_TTL` set to [`hop_limit`](Self::hop_limit)
/// and `IP_TOS` to [`tos`](Self::tos)) and sends [`emit`](Self::emit)'s
/// bytes, or builds it as keepalived does (`IP_HDRINCL`) with
/// [`emit_ipv4`](Self::emit_ipv4). For IPv6 it sends `emit`'s bytes on a
/// raw socket; the checksum is already right (a kernel-computed one, with
/// `IPV6_CHECKSUM`, is the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The IP source address (`unicast_src_ip` / `mcast_src_ip`, else the
    /// interface's primary or link-local address); the checksum covers it.
    pub src: IpAddr,
    /// The IP destination: 224.0.0.18 / ff02::12, `mcast_dst_ip`, or a
    /// unicast peer.
    pub dst: IpAddr,
    /// The address the VRRPv3 checksum's pseudo-header used as destination
    /// (`dst`, or 224.0.0.18 with `old_unicast_checksum`).
    pub checksum_dst: IpAddr,
    /// IPv4 TTL / IPv6 hop limit; `None`: the socket's default (keepalived
    /// leaves IPv6 unicast adverts to the kernel unless `unicast_ttl`).
    pub hop_limit: Option<u8>,
    /// IPv4 TOS / IPv6 traffic class: 0xc0.
    pub tos: u8,
    /// Whether `dst` is a unicast peer (keepalived sends multicast with
    /// `MSG_DONTROUTE`, unicast without).
    pub unicast: bool,
    /// VRRP version.
    pub version: Version,
    /// VRID.
    pub vrid: u8,
    /// Priority (0 when leaving).
    pub priority: u8,
    /// Interval field (seconds for v2, centiseconds for v3).
    pub adver_int: u16,
    /// v2 auth type.
    pub auth_type: AuthType,
    /// v2 authentication data.
    pub auth_data: [u8; 8],
    pub(crate) addrs: AddrList,
}

impl Advert {
    /// The advert as a [`Repr`].
    pub fn repr(&self) -> Repr<'_> {
        Repr {
            version: self.version,
            msg_type: MessageType::Advertisement,
            vrid: self.vrid,
            priority: self.priority,
            adver_int: self.adver_int,
            auth_type: self.auth_type,
            auth_data: self.auth_data,
            addrs: self.addrs.as_addrs(),
        }
    }

    /// The family.
    pub fn family(&self) -> Family {
        Family::of(self.dst)
    }

    /// Length of the VRRP packet.
    pub fn buffer_len(&self) -> usize {
        self.repr().buffer_len()
    }

    /// Writes the VRRP packet (the IP payload), checksum included, into
    /// the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, vrrp::Error> {
        self.repr().emit(buf, self.src, self.checksum_dst)
    }

    /// Writes keepalived's IPv4 header (TOS 0xc0, DF clear, the TTL, the
    /// given identification) and the VRRP packet into the start of `buf`,
    /// for a raw socket with `IP_HDRINCL`. `None` for an IPv6 advert.
    pub fn emit_ipv4(&self, ident: u16, buf: &mut [u8]) -> Option<Result<usize, vrrp::Error>> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src, self.dst) else { return None };
        let len = self.buffer_len();
        let need = ipv4::MIN_HEADER_LEN + len;
        if buf.len() < need {
            return Some(Err(vrrp::Error::BufferTooSmall { need, got: buf.len() }));
        }
        let ip = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            protocol: vrrp::PROTOCOL,
            payload_len: len,
            ttl: self.hop_limit.unwrap_or(vrrp::TTL),
            tos: self.tos,
            ident,
        };
        if ip.emit(buf).is_err() {
            return Some(Err(vrrp::Error::BufferTooSmall { need, got: buf.len() }));
        }
        Some(self.emit(&mut buf[ipv4::MIN_HEADER_LEN..]).map(|n| n + ipv4::MIN_HEADER_LEN))
    }
}

/// A gratuitous ARP to send for an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GratuitousArp {
    /// The address announced (a VIP, or the unicast source address).
    pub addr: Ipv4Addr,
    /// The interface to send on (the VIP's `dev`); `None`: the instance's.
    pub interface: Option<Arc<str>>,
}

impl GratuitousArp {
    /// Writes the 42-byte broadcast frame keepalived sends, from `mac` (the
    /// interface's MAC), for a packet socket.
    pub fn emit_frame(&self, mac: EthernetAddress, buf: &mut [u8]) -> Result<usize, arp::Error> {
        arp::gratuitous_frame(mac, self.addr, buf)
    }
}

/// An unsolicited Neighbour Advertisement to send for an IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsolicitedNa {
    /// The address announced.
    pub addr: Ipv6Addr,
    /// The interface to send on (the VIP's `dev`); `None`: the instance's.
    pub interface: Option<Arc<str>>,
}

impl UnsolicitedNa {
    /// Writes the 86-byte frame keepalived sends from `mac`; `router` is the
    /// R flag (set it when the interface forwards IPv6, as keepalived does).
    pub fn emit_frame(&self, mac: EthernetAddress, router: bool, buf: &mut [u8]) -> Result<usize, ndisc::Error> {
        ndisc::unsolicited_na_frame(mac, self.addr, router, buf)
    }
}

/// A packet to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A VRRP advert.
    Advert(Advert),
    /// A gratuitous ARP.
    GratuitousArp(GratuitousArp),
    /// An unsolicited Neighbour Advertisement.
    UnsolicitedNa(UnsolicitedNa),
}

/// A change to the host the instance asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add this address (a VIP or excluded VIP) to its interface.
    AddAddress(VirtualAddress),
    /// Remove it.
    RemoveAddress(VirtualAddress),
    /// Drop incoming traffic to this VIP: the master is not its owner and
    /// `no_accept` (RFC 5798 Accept_Mode false; keepalived installs an
    /// nftables/iptables drop rule).
    BlockTraffic(IpAddr),
    /// Remove that drop rule.
    UnblockTraffic(IpAddr),
}

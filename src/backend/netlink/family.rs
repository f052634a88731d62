//! The generic netlink family `IPVS`, version 1: its commands and every
//! attribute the Debian 6.1 kernel knows (`include/uapi/linux/ip_vs.h`,
//! `ip_vs_genl_*` in `net/netfilter/ipvs/ip_vs_ctl.c`), in the style of the
//! rust-netlink crates: an [`IpvsMessage`] that implements
//! [`GenlFamily`], attribute enums that implement [`Nla`], and an `Other`
//! variant in each that keeps attributes this code does not know.
//!
//! The encodings are the kernel's, traps included:
//!
//! * service and real-server ports, and the tunnel port, travel in network
//!   byte order although the policy says `NLA_U16` (`nla_get_be16`); the
//!   sync daemon's port travels in host order;
//! * the persistence netmask is the raw `__be32` of an IPv4 mask, but for an
//!   IPv6 service the same four bytes hold the prefix length in host order,
//!   and the kernel wants it (1..=128) even for a service without
//!   persistence, so lvskit sends 128 there as `ipvsadm` does;
//! * service and real-server addresses are 16-byte `union nf_inet_addr`s;
//!   an IPv4 address fills the first four bytes;
//! * kernels before 3.18 send no real-server address family: the server then
//!   has the service's family;
//! * counters come twice, 32-bit (`IPVS_SVC_ATTR_STATS`, bytes still 64-bit)
//!   and 64-bit (`..._STATS64`), with `IPVS_STATS_ATTR_PAD` for alignment;
//! * the `GET_INFO` reply (`IPVS_CMD_SET_INFO`) puts its two attributes at the
//!   top level, where their numbers collide with `IPVS_CMD_ATTR_SERVICE` and
//!   `..._DEST`, so top-level parsing depends on the command.
//!
//! Parsing never panics: a truncated or malformed attribute is a
//! [`DecodeError`] (a cargo-fuzz target, `ipvs_reply`, holds it to that).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::{
    Emitable, NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NetlinkBuffer, Nla, NlaBuffer,
    NlasIterator, Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

/// The rust-netlink crates' decoding error, which every parser here returns.
pub use netlink_packet_core::DecodeError;
/// The catch-all attribute of the rust-netlink crates, for [`CmdAttr::Other`] and the like.
pub use netlink_packet_core::DefaultNla;

use crate::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, DestSnapshot, Family, ForwardMethod, IpvsInfo, PersistMask, Persistence,
    Protocol, Rates, ServiceConfig, ServiceFlags, ServiceKey, Stats, Timeouts, TunnelCsum, TunnelKind, TunnelParams,
};

/// The family's name (`IPVS_GENL_NAME`).
pub const FAMILY_NAME: &str = "IPVS";
/// The family's version (`IPVS_GENL_VERSION`).
pub const FAMILY_VERSION: u8 = 1;

/// `IP_VS_SVC_F_PERSISTENT`.
pub const SVC_F_PERSISTENT: u32 = 0x0001;
/// `IP_VS_SVC_F_HASHED`: set by the kernel on every service it holds.
pub const SVC_F_HASHED: u32 = 0x0002;
/// `IP_VS_STATE_MASTER`.
pub const STATE_MASTER: u32 = 1;
/// `IP_VS_STATE_BACKUP`.
pub const STATE_BACKUP: u32 = 2;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// An IPVS command (`IPVS_CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpvsCmd {
    /// Add a service; also the command of service dump entries.
    NewService,
    /// Edit a service.
    SetService,
    /// Delete a service.
    DelService,
    /// Get one service, or dump all.
    GetService,
    /// Add a real server; also the command of real-server dump entries.
    NewDest,
    /// Edit a real server.
    SetDest,
    /// Delete a real server.
    DelDest,
    /// Dump a service's real servers.
    GetDest,
    /// Start a sync daemon; also the command of daemon dump entries.
    NewDaemon,
    /// Stop a sync daemon.
    DelDaemon,
    /// Dump the sync daemons.
    GetDaemon,
    /// Set timeouts; also the command of the `GetConfig` reply.
    SetConfig,
    /// Get timeouts.
    GetConfig,
    /// Only the command of the `GetInfo` reply.
    SetInfo,
    /// Get version and connection-table size.
    GetInfo,
    /// Zero counters.
    Zero,
    /// Delete every service.
    Flush,
    /// A command number this code does not know.
    Other(u8),
}

impl IpvsCmd {
    /// The command number.
    pub const fn number(self) -> u8 {
        match self {
            IpvsCmd::NewService => 1,
            IpvsCmd::SetService => 2,
            IpvsCmd::DelService => 3,
            IpvsCmd::GetService => 4,
            IpvsCmd::NewDest => 5,
            IpvsCmd::SetDest => 6,
            IpvsCmd::DelDest => 7,
            IpvsCmd::GetDest => 8,
            IpvsCmd::NewDaemon => 9,
            IpvsCmd::DelDaemon => 10,
            IpvsCmd::GetDaemon => 11,
            IpvsCmd::SetConfig => 12,
            IpvsCmd::GetConfig => 13,
            IpvsCmd::SetInfo => 14,
            IpvsCmd::GetInfo => 15,
            IpvsCmd::Zero => 16,
            IpvsCmd::Flush => 17,
            IpvsCmd::Other(n) => n,
        }
    }

    /// The command for a number.
    pub const fn from_number(n: u8) -> Self {
        match n {
            1 => IpvsCmd::NewService,
            2 => IpvsCmd::SetService,
            3 => IpvsCmd::DelService,
            4 => IpvsCmd::GetService,
            5 => IpvsCmd::NewDest,
            6 => IpvsCmd::SetDest,
            7 => IpvsCmd::DelDest,
            8 => IpvsCmd::GetDest,
            9 => IpvsCmd::NewDaemon,
            10 => IpvsCmd::DelDaemon,
            11 => IpvsCmd::GetDaemon,
            12 => IpvsCmd::SetConfig,
            13 => IpvsCmd::GetConfig,
            14 => IpvsCmd::SetInfo,
            15 => IpvsCmd::GetInfo,
            16 => IpvsCmd::Zero,
            17 => IpvsCmd::Flush,
            n => IpvsCmd::Other(n),
        }
    }
}

/// One IPVS message: a command and its top-level attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// Top-level attributes.
    pub attrs: Vec<CmdAttr>,
}

impl IpvsMessage {
    /// A message.
    pub fn new(cmd: IpvsCmd, attrs: Vec<CmdAttr>) -> Self {
        IpvsMessage { cmd, attrs }
    }

    /// The nested service attributes, if any.
    pub fn service(&self) -> Option<&[SvcAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CmdAttr::Service(s) => Some(s.as_slice()),
            _ => None,
        })
    }

    /// The nested real-server attributes, if any.
    pub fn dest(&self) -> Option<&[DestAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CmdAttr::Dest(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The nested daemon attributes, if any.
    pub fn daemon(&self) -> Option<&[DaemonAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CmdAttr::Daemon(d) => Some(d.as_slice()),
            _ => None,
        })
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.number()
    }

    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from_number(header.cmd);
        let mut attrs = Vec::new();
        for nla in NlasIterator::new(buf) {
            attrs.push(CmdAttr::parse_for(&nla?, cmd)?);
        }
        Ok(IpvsMessage { cmd, attrs })
    }
}

// ---------------------------------------------------------------- helpers

fn fixed<const N: usize>(what: &str, v: &[u8]) -> Result<[u8; N], DecodeError> {
    v.try_into().map_err(|_| DecodeError::from(format!("{what}: {} bytes, want {N}", v.len())))
}

fn get_u8(what: &str, v: &[u8]) -> Result<u8, DecodeError> {
    Ok(fixed::<1>(what, v)?[0])
}

fn get_u16(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(fixed(what, v)?))
}

fn get_be16(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(fixed(what, v)?))
}

fn get_u32(what: &str, v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(fixed(what, v)?))
}

fn get_u64(what: &str, v: &[u8]) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(fixed(what, v)?))
}

/// A NUL-terminated string (`NLA_NUL_STRING`); bytes after the first NUL are
/// ignored, a missing NUL is tolerated.
fn get_string(what: &str, v: &[u8]) -> Result<String, DecodeError> {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec()).map_err(|_| DecodeError::from(format!("{what}: not UTF-8")))
}

/// A 16-byte `union nf_inet_addr`, as `nla_memcpy` fills it: shorter values
/// are zero-padded.
fn get_inet(what: &str, v: &[u8]) -> Result<[u8; 16], DecodeError> {
    if v.len() > 16 {
        return Err(DecodeError::from(format!("{what}: {} bytes, want at most 16", v.len())));
    }
    let mut a = [0u8; 16];
    a[..v.len()].copy_from_slice(v);
    Ok(a)
}

fn put_string(buf: &mut [u8], s: &str) {
    buf[..s.len()].copy_from_slice(s.as_bytes());
    buf[s.len()] = 0;
}

fn nested<T, F>(what: &str, v: &[u8], mut f: F) -> Result<Vec<T>, DecodeError>
where
    F: FnMut(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
{
    let mut out = Vec::new();
    for nla in NlasIterator::new(v) {
        let nla = nla.map_err(|e| DecodeError::from(format!("{what}: {e}")))?;
        out.push(f(&nla)?);
    }
    Ok(out)
}

fn other(nla: &NlaBuffer<&[u8]>) -> Result<DefaultNla, DecodeError> {
    DefaultNla::parse(nla)
}

// ---------------------------------------------------------------- top level

/// A top-level attribute (`IPVS_CMD_ATTR_*`, or `IPVS_INFO_ATTR_*` in a
/// `SetInfo` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdAttr {
    /// `IPVS_CMD_ATTR_SERVICE`.
    Service(Vec<SvcAttr>),
    /// `IPVS_CMD_ATTR_DEST`.
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON`.
    Daemon(Vec<DaemonAttr>),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP`, seconds.
    TimeoutTcp(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`, seconds.
    TimeoutTcpFin(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP`, seconds.
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION` (in `SetInfo` only).
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (in `SetInfo` only).
    InfoConnTabSize(u32),
    /// An attribute this code does not know, kept as is.
    Other(DefaultNla),
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        match self {
            CmdAttr::Service(v) => v.as_slice().buffer_len(),
            CmdAttr::Dest(v) => v.as_slice().buffer_len(),
            CmdAttr::Daemon(v) => v.as_slice().buffer_len(),
            CmdAttr::TimeoutTcp(_)
            | CmdAttr::TimeoutTcpFin(_)
            | CmdAttr::TimeoutUdp(_)
            | CmdAttr::InfoVersion(_)
            | CmdAttr::InfoConnTabSize(_) => 4,
            CmdAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        // Nests carry `NLA_F_NESTED`, as libnl (and so ipvsadm) sets it; the
        // kernel's own replies leave it out, and parsing ignores it.
        match self {
            CmdAttr::Service(_) => 1 | NLA_F_NESTED,
            CmdAttr::Dest(_) => 2 | NLA_F_NESTED,
            CmdAttr::Daemon(_) => 3 | NLA_F_NESTED,
            CmdAttr::InfoVersion(_) => 1,
            CmdAttr::InfoConnTabSize(_) => 2,
            CmdAttr::TimeoutTcp(_) => 4,
            CmdAttr::TimeoutTcpFin(_) => 5,
            CmdAttr::TimeoutUdp(_) => 6,
            CmdAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            CmdAttr::Service(v) => v.as_slice().emit(buf),
            CmdAttr::Dest(v) => v.as_slice().emit(buf),
            CmdAttr::Daemon(v) => v.as_slice().emit(buf),
            CmdAttr::TimeoutTcp(x)
            | CmdAttr::TimeoutTcpFin(x)
            | CmdAttr::TimeoutUdp(x)
            | CmdAttr::InfoVersion(x)
            | CmdAttr::InfoConnTabSize(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            CmdAttr::Other(o) => o.emit_value(buf),
        }
    }
}

impl CmdAttr {
    /// Parses a top-level attribute of a message with command `cmd`.
    pub fn parse_for(nla: &NlaBuffer<&[u8]>, cmd: IpvsCmd) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match (cmd, nla.kind()) {
            (IpvsCmd::SetInfo, 1) => CmdAttr::InfoVersion(get_u32("info version", v)?),
            (IpvsCmd::SetInfo, 2) => CmdAttr::InfoConnTabSize(get_u32("info conn_tab_size", v)?),
            (IpvsCmd::SetInfo, _) => CmdAttr::Other(other(nla)?),
            (_, 1) => CmdAttr::Service(nested("service", v, SvcAttr::parse)?),
            (_, 2) => CmdAttr::Dest(nested("real server", v, DestAttr::parse)?),
            (_, 3) => CmdAttr::Daemon(nested("daemon", v, DaemonAttr::parse)?),
            (_, 4) => CmdAttr::TimeoutTcp(get_u32("timeout tcp", v)?),
            (_, 5) => CmdAttr::TimeoutTcpFin(get_u32("timeout tcpfin", v)?),
            (_, 6) => CmdAttr::TimeoutUdp(get_u32("timeout udp", v)?),
            _ => CmdAttr::Other(other(nla)?),
        })
    }
}

// ---------------------------------------------------------------- service

/// A service attribute (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcAttr {
    /// `AF`: address family (2 or 10).
    Af(u16),
    /// `PROTOCOL`: IP protocol number.
    Protocol(u16),
    /// `ADDR`: 16-byte address.
    Addr([u8; 16]),
    /// `PORT`: the port (network byte order on the wire).
    Port(u16),
    /// `FWMARK`.
    Fwmark(u32),
    /// `SCHED_NAME`.
    SchedName(String),
    /// `FLAGS`: `struct ip_vs_flags`; only bits set in `mask` change.
    Flags {
        /// Flag values.
        flags: u32,
        /// Which flags to change.
        mask: u32,
    },
    /// `TIMEOUT`: persistence timeout, seconds.
    Timeout(u32),
    /// `NETMASK`: raw four bytes (IPv4 mask, or IPv6 prefix length in host
    /// order).
    Netmask([u8; 4]),
    /// `STATS`: 32-bit counters (bytes 64-bit).
    Stats(Vec<StatsAttr>),
    /// `PE_NAME`: persistence engine.
    PeName(String),
    /// `STATS64`: 64-bit counters.
    Stats64(Vec<StatsAttr>),
    /// An attribute this code does not know, kept as is.
    Other(DefaultNla),
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        match self {
            SvcAttr::Af(_) | SvcAttr::Protocol(_) | SvcAttr::Port(_) => 2,
            SvcAttr::Addr(_) => 16,
            SvcAttr::Fwmark(_) | SvcAttr::Timeout(_) | SvcAttr::Netmask(_) => 4,
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => s.len() + 1,
            SvcAttr::Flags { .. } => 8,
            SvcAttr::Stats(v) | SvcAttr::Stats64(v) => v.as_slice().buffer_len(),
            SvcAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            SvcAttr::Af(_) => 1,
            SvcAttr::Protocol(_) => 2,
            SvcAttr::Addr(_) => 3,
            SvcAttr::Port(_) => 4,
            SvcAttr::Fwmark(_) => 5,
            SvcAttr::SchedName(_) => 6,
            SvcAttr::Flags { .. } => 7,
            SvcAttr::Timeout(_) => 8,
            SvcAttr::Netmask(_) => 9,
            SvcAttr::Stats(_) => 10,
            SvcAttr::PeName(_) => 11,
            SvcAttr::Stats64(_) => 12,
            SvcAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            SvcAttr::Af(x) | SvcAttr::Protocol(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            SvcAttr::Port(x) => buf.copy_from_slice(&x.to_be_bytes()),
            SvcAttr::Addr(a) => buf.copy_from_slice(a),
            SvcAttr::Fwmark(x) | SvcAttr::Timeout(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            SvcAttr::Netmask(m) => buf.copy_from_slice(m),
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => put_string(buf, s),
            SvcAttr::Flags { flags, mask } => {
                buf[..4].copy_from_slice(&flags.to_ne_bytes());
                buf[4..8].copy_from_slice(&mask.to_ne_bytes());
            }
            SvcAttr::Stats(v) | SvcAttr::Stats64(v) => v.as_slice().emit(buf),
            SvcAttr::Other(o) => o.emit_value(buf),
        }
    }
}

impl SvcAttr {
    /// Parses one service attribute.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match nla.kind() {
            1 => SvcAttr::Af(get_u16("service af", v)?),
            2 => SvcAttr::Protocol(get_u16("service protocol", v)?),
            3 => SvcAttr::Addr(get_inet("service address", v)?),
            4 => SvcAttr::Port(get_be16("service port", v)?),
            5 => SvcAttr::Fwmark(get_u32("service fwmark", v)?),
            6 => SvcAttr::SchedName(get_string("scheduler", v)?),
            7 => {
                let b: [u8; 8] = fixed("service flags", v)?;
                SvcAttr::Flags {
                    flags: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    mask: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            8 => SvcAttr::Timeout(get_u32("persistence timeout", v)?),
            9 => SvcAttr::Netmask(fixed("netmask", v)?),
            10 => SvcAttr::Stats(nested("service stats", v, StatsAttr::parse)?),
            11 => SvcAttr::PeName(get_string("persistence engine", v)?),
            12 => SvcAttr::Stats64(nested("service stats64", v, StatsAttr::parse)?),
            _ => SvcAttr::Other(other(nla)?),
        })
    }
}

// ---------------------------------------------------------------- dest

/// A real-server attribute (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    /// `ADDR`: 16-byte address.
    Addr([u8; 16]),
    /// `PORT` (network byte order on the wire).
    Port(u16),
    /// `FWD_METHOD`: `IP_VS_CONN_F_*` forwarding bits.
    FwdMethod(u32),
    /// `WEIGHT`.
    Weight(u32),
    /// `U_THRESH`.
    UThresh(u32),
    /// `L_THRESH`.
    LThresh(u32),
    /// `ACTIVE_CONNS`.
    ActiveConns(u32),
    /// `INACT_CONNS`.
    InactConns(u32),
    /// `PERSIST_CONNS`.
    PersistConns(u32),
    /// `STATS`.
    Stats(Vec<StatsAttr>),
    /// `ADDR_FAMILY` (kernels from 3.18).
    AddrFamily(u16),
    /// `STATS64`.
    Stats64(Vec<StatsAttr>),
    /// `TUN_TYPE`: `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    TunType(u8),
    /// `TUN_PORT` (network byte order on the wire).
    TunPort(u16),
    /// `TUN_FLAGS`: `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    TunFlags(u16),
    /// An attribute this code does not know, kept as is.
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            DestAttr::Addr(_) => 16,
            DestAttr::Port(_) | DestAttr::AddrFamily(_) | DestAttr::TunPort(_) | DestAttr::TunFlags(_) => 2,
            DestAttr::TunType(_) => 1,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UThresh(_)
            | DestAttr::LThresh(_)
            | DestAttr::ActiveConns(_)
            | DestAttr::InactConns(_)
            | DestAttr::PersistConns(_) => 4,
            DestAttr::Stats(v) | DestAttr::Stats64(v) => v.as_slice().buffer_len(),
            DestAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DestAttr::Addr(_) => 1,
            DestAttr::Port(_) => 2,
            DestAttr::FwdMethod(_) => 3,
            DestAttr::Weight(_) => 4,
            DestAttr::UThresh(_) => 5,
            DestAttr::LThresh(_) => 6,
            DestAttr::ActiveConns(_) => 7,
            DestAttr::InactConns(_) => 8,
            DestAttr::PersistConns(_) => 9,
            DestAttr::Stats(_) => 10,
            DestAttr::AddrFamily(_) => 11,
            DestAttr::Stats64(_) => 12,
            DestAttr::TunType(_) => 13,
            DestAttr::TunPort(_) => 14,
            DestAttr::TunFlags(_) => 15,
            DestAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            DestAttr::Addr(a) => buf.copy_from_slice(a),
            DestAttr::Port(x) | DestAttr::TunPort(x) => buf.copy_from_slice(&x.to_be_bytes()),
            DestAttr::AddrFamily(x) | DestAttr::TunFlags(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            DestAttr::TunType(x) => buf[0] = *x,
            DestAttr::FwdMethod(x)
            | DestAttr::Weight(x)
            | DestAttr::UThresh(x)
            | DestAttr::LThresh(x)
            | DestAttr::ActiveConns(x)
            | DestAttr::InactConns(x)
            | DestAttr::PersistConns(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            DestAttr::Stats(v) | DestAttr::Stats64(v) => v.as_slice().emit(buf),
            DestAttr::Other(o) => o.emit_value(buf),
        }
    }
}

impl DestAttr {
    /// Parses one real-server attribute.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match nla.kind() {
            1 => DestAttr::Addr(get_inet("real server address", v)?),
            2 => DestAttr::Port(get_be16("real server port", v)?),
            3 => DestAttr::FwdMethod(get_u32("forwarding method", v)?),
            4 => DestAttr::Weight(get_u32("weight", v)?),
            5 => DestAttr::UThresh(get_u32("upper threshold", v)?),
            6 => DestAttr::LThresh(get_u32("lower threshold", v)?),
            7 => DestAttr::ActiveConns(get_u32("active connections", v)?),
            8 => DestAttr::InactConns(get_u32("inactive connections", v)?),
            9 => DestAttr::PersistConns(get_u32("persistent connections", v)?),
            10 => DestAttr::Stats(nested("real server stats", v, StatsAttr::parse)?),
            11 => DestAttr::AddrFamily(get_u16("real server af", v)?),
            12 => DestAttr::Stats64(nested("real server stats64", v, StatsAttr::parse)?),
            13 => DestAttr::TunType(get_u8("tunnel type", v)?),
            14 => DestAttr::TunPort(get_be16("tunnel port", v)?),
            15 => DestAttr::TunFlags(get_u16("tunnel flags", v)?),
            _ => DestAttr::Other(other(nla)?),
        })
    }
}

// ---------------------------------------------------------------- daemon

/// A sync-daemon attribute (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttr {
    /// `STATE`: 1 master, 2 backup.
    State(u32),
    /// `MCAST_IFN`: interface name.
    McastIfn(String),
    /// `SYNC_ID`.
    SyncId(u32),
    /// `SYNC_MAXLEN`: UDP payload size.
    SyncMaxlen(u16),
    /// `MCAST_GROUP`: IPv4 group.
    McastGroup(Ipv4Addr),
    /// `MCAST_GROUP6`: IPv6 group.
    McastGroup6(Ipv6Addr),
    /// `MCAST_PORT` (host byte order on the wire).
    McastPort(u16),
    /// `MCAST_TTL`.
    McastTtl(u8),
    /// An attribute this code does not know, kept as is.
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            DaemonAttr::State(_) | DaemonAttr::SyncId(_) | DaemonAttr::McastGroup(_) => 4,
            DaemonAttr::McastIfn(s) => s.len() + 1,
            DaemonAttr::SyncMaxlen(_) | DaemonAttr::McastPort(_) => 2,
            DaemonAttr::McastGroup6(_) => 16,
            DaemonAttr::McastTtl(_) => 1,
            DaemonAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DaemonAttr::State(_) => 1,
            DaemonAttr::McastIfn(_) => 2,
            DaemonAttr::SyncId(_) => 3,
            DaemonAttr::SyncMaxlen(_) => 4,
            DaemonAttr::McastGroup(_) => 5,
            DaemonAttr::McastGroup6(_) => 6,
            DaemonAttr::McastPort(_) => 7,
            DaemonAttr::McastTtl(_) => 8,
            DaemonAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            DaemonAttr::State(x) | DaemonAttr::SyncId(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            DaemonAttr::McastIfn(s) => put_string(buf, s),
            DaemonAttr::SyncMaxlen(x) | DaemonAttr::McastPort(x) => buf.copy_from_slice(&x.to_ne_bytes()),
            DaemonAttr::McastGroup(a) => buf.copy_from_slice(&a.octets()),
            DaemonAttr::McastGroup6(a) => buf.copy_from_slice(&a.octets()),
            DaemonAttr::McastTtl(x) => buf[0] = *x,
            DaemonAttr::Other(o) => o.emit_value(buf),
        }
    }
}

impl DaemonAttr {
    /// Parses one daemon attribute.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(match nla.kind() {
            1 => DaemonAttr::State(get_u32("daemon state", v)?),
            2 => DaemonAttr::McastIfn(get_string("daemon interface", v)?),
            3 => DaemonAttr::SyncId(get_u32("sync id", v)?),
            4 => DaemonAttr::SyncMaxlen(get_u16("sync maxlen", v)?),
            5 => DaemonAttr::McastGroup(Ipv4Addr::from(fixed::<4>("mcast group", v)?)),
            6 => DaemonAttr::McastGroup6(Ipv6Addr::from(fixed::<16>("mcast group6", v)?)),
            7 => DaemonAttr::McastPort(get_u16("mcast port", v)?),
            8 => DaemonAttr::McastTtl(get_u8("mcast ttl", v)?),
            _ => DaemonAttr::Other(other(nla)?),
        })
    }
}

// ---------------------------------------------------------------- stats

/// Which counter a stats attribute holds (`IPVS_STATS_ATTR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsField {
    /// `CONNS`.
    Conns,
    /// `INPKTS`.
    InPkts,
    /// `OUTPKTS`.
    OutPkts,
    /// `INBYTES`.
    InBytes,
    /// `OUTBYTES`.
    OutBytes,
    /// `CPS`.
    Cps,
    /// `INPPS`.
    InPps,
    /// `OUTPPS`.
    OutPps,
    /// `INBPS`.
    InBps,
    /// `OUTBPS`.
    OutBps,
}

impl StatsField {
    const ALL: [StatsField; 10] = [
        StatsField::Conns,
        StatsField::InPkts,
        StatsField::OutPkts,
        StatsField::InBytes,
        StatsField::OutBytes,
        StatsField::Cps,
        StatsField::InPps,
        StatsField::OutPps,
        StatsField::InBps,
        StatsField::OutBps,
    ];

    /// The attribute number (1..=10).
    pub fn number(self) -> u16 {
        StatsField::ALL.iter().position(|f| *f == self).map_or(0, |i| i as u16 + 1)
    }

    fn from_number(n: u16) -> Option<Self> {
        StatsField::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }
}

/// `IPVS_STATS_ATTR_PAD`.
const STATS_PAD: u16 = 11;

/// A counter attribute inside `STATS` or `STATS64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAttr {
    /// A 32-bit counter.
    U32(StatsField, u32),
    /// A 64-bit counter.
    U64(StatsField, u64),
    /// `IPVS_STATS_ATTR_PAD`, alignment for the 64-bit ones.
    Pad(Vec<u8>),
    /// An attribute this code does not know, kept as is.
    Other(DefaultNla),
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            StatsAttr::U32(..) => 4,
            StatsAttr::U64(..) => 8,
            StatsAttr::Pad(v) => v.len(),
            StatsAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            StatsAttr::U32(f, _) | StatsAttr::U64(f, _) => f.number(),
            StatsAttr::Pad(_) => STATS_PAD,
            StatsAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            StatsAttr::U32(_, x) => buf.copy_from_slice(&x.to_ne_bytes()),
            StatsAttr::U64(_, x) => buf.copy_from_slice(&x.to_ne_bytes()),
            StatsAttr::Pad(v) => buf.copy_from_slice(v),
            StatsAttr::Other(o) => o.emit_value(buf),
        }
    }
}

impl StatsAttr {
    /// Parses one counter attribute: 4 bytes is a 32-bit counter, 8 a 64-bit
    /// one.
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let v = nla.value();
        let kind = nla.kind();
        if kind == STATS_PAD {
            return Ok(StatsAttr::Pad(v.to_vec()));
        }
        let Some(field) = StatsField::from_number(kind) else {
            return Ok(StatsAttr::Other(other(nla)?));
        };
        match v.len() {
            4 => Ok(StatsAttr::U32(field, get_u32("counter", v)?)),
            8 => Ok(StatsAttr::U64(field, get_u64("counter", v)?)),
            n => Err(DecodeError::from(format!("counter {field:?}: {n} bytes, want 4 or 8"))),
        }
    }
}

// ---------------------------------------------------------------- model

fn family_af(f: Family) -> u16 {
    match f {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

fn af_family(what: &str, af: u16) -> Result<Family, DecodeError> {
    match af {
        AF_INET => Ok(Family::V4),
        AF_INET6 => Ok(Family::V6),
        n => Err(DecodeError::from(format!("{what}: address family {n} is neither AF_INET nor AF_INET6"))),
    }
}

fn inet(addr: IpAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    match addr {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a = v6.octets(),
    }
    a
}

fn inet_addr(family: Family, a: &[u8; 16]) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(*a)),
    }
}

/// The attributes that identify a service (`ip_vs_genl_parse_service` with
/// `full_entry` false): family, then mark or protocol, address and port.
pub fn service_key_attrs(key: &ServiceKey) -> Vec<SvcAttr> {
    match *key {
        ServiceKey::Addr { protocol, addr, port } => vec![
            SvcAttr::Af(family_af(Family::of(addr))),
            SvcAttr::Protocol(u16::from(protocol.number())),
            SvcAttr::Addr(inet(addr)),
            SvcAttr::Port(port),
        ],
        ServiceKey::Fwmark { family, mark } => vec![SvcAttr::Af(family_af(family)), SvcAttr::Fwmark(mark)],
    }
}

/// A full service entry (`full_entry` true), as `ipvsadm` encodes it:
/// scheduler, persistence engine if any, flags with an all-ones mask, the
/// persistence timeout (0 without persistence) and the netmask (all ones for
/// IPv4 and 128 for IPv6 without persistence).
pub fn service_attrs(cfg: &ServiceConfig) -> Vec<SvcAttr> {
    let mut v = service_key_attrs(&cfg.key);
    v.push(SvcAttr::SchedName(cfg.scheduler.clone()));
    if let Some(pe) = &cfg.pe_name {
        v.push(SvcAttr::PeName(pe.clone()));
    }
    let family = cfg.key.family();
    let (persist_flag, timeout, mask) = match &cfg.persistence {
        Some(p) => (SVC_F_PERSISTENT, p.timeout, p.mask),
        None => (0, 0, PersistMask::host(family)),
    };
    v.push(SvcAttr::Flags { flags: cfg.flags.bits() | persist_flag, mask: u32::MAX });
    v.push(SvcAttr::Timeout(timeout));
    v.push(SvcAttr::Netmask(netmask_bytes(mask)));
    v
}

fn netmask_bytes(mask: PersistMask) -> [u8; 4] {
    match mask {
        PersistMask::V4(m) => m.octets(),
        PersistMask::V6(plen) => u32::from(plen).to_ne_bytes(),
    }
}

/// The attributes that identify a real server: family, address and port.
pub fn dest_key_attrs(addr: SocketAddr) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(family_af(Family::of(addr.ip()))),
        DestAttr::Addr(inet(addr.ip())),
        DestAttr::Port(addr.port()),
    ]
}

/// A full real-server entry, in `ipvsadm` 1.31's order: identity,
/// forwarding method, weight, the tunnel type, port and flags (zero unless
/// tunnelling), thresholds.
pub fn dest_attrs(cfg: &DestConfig) -> Vec<DestAttr> {
    let mut v = dest_key_attrs(cfg.socket_addr());
    v.push(DestAttr::FwdMethod(cfg.forward.code()));
    v.push(DestAttr::Weight(cfg.weight));
    let t = match cfg.forward {
        ForwardMethod::Tunnel(t) => t,
        _ => TunnelParams::default(),
    };
    v.push(DestAttr::TunType(t.kind.number()));
    v.push(DestAttr::TunPort(t.port));
    v.push(DestAttr::TunFlags(t.csum.flags()));
    v.push(DestAttr::UThresh(cfg.upper_threshold));
    v.push(DestAttr::LThresh(cfg.lower_threshold));
    v
}

/// A daemon's attributes for `NewDaemon`, in `ipvsadm` 1.31's order: state,
/// interface and sync id always, the rest only when set (0 and `None` let
/// the kernel choose).
pub fn daemon_attrs(d: &DaemonConfig) -> Vec<DaemonAttr> {
    let mut v = vec![
        DaemonAttr::State(d.role.state()),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.sync_id),
    ];
    if d.sync_maxlen != 0 {
        v.push(DaemonAttr::SyncMaxlen(d.sync_maxlen));
    }
    if d.mcast_port != 0 {
        v.push(DaemonAttr::McastPort(d.mcast_port));
    }
    if d.mcast_ttl != 0 {
        v.push(DaemonAttr::McastTtl(d.mcast_ttl));
    }
    match d.mcast_group {
        Some(IpAddr::V4(g)) => v.push(DaemonAttr::McastGroup(g)),
        Some(IpAddr::V6(g)) => v.push(DaemonAttr::McastGroup6(g)),
        None => {}
    }
    v
}

fn stats_from(attrs: &[StatsAttr]) -> (Stats, Rates) {
    let mut s = Stats::default();
    let mut r = Rates::default();
    for a in attrs {
        let (field, value) = match a {
            StatsAttr::U32(f, x) => (*f, u64::from(*x)),
            StatsAttr::U64(f, x) => (*f, *x),
            _ => continue,
        };
        let slot = match field {
            StatsField::Conns => &mut s.conns,
            StatsField::InPkts => &mut s.in_pkts,
            StatsField::OutPkts => &mut s.out_pkts,
            StatsField::InBytes => &mut s.in_bytes,
            StatsField::OutBytes => &mut s.out_bytes,
            StatsField::Cps => &mut r.cps,
            StatsField::InPps => &mut r.in_pps,
            StatsField::OutPps => &mut r.out_pps,
            StatsField::InBps => &mut r.in_bps,
            StatsField::OutBps => &mut r.out_bps,
        };
        *slot = value;
    }
    (s, r)
}

/// The counters of an entry: the 64-bit set when present, else the 32-bit
/// one.
fn pick_stats<'a>(stats: Option<&'a [StatsAttr]>, stats64: Option<&'a [StatsAttr]>) -> (Stats, Rates) {
    stats64.or(stats).map(stats_from).unwrap_or_default()
}

/// A service as the kernel describes it, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedService {
    /// Settings.
    pub config: ServiceConfig,
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
}

/// Reads a service entry (`ip_vs_genl_fill_service`) into the model. Errors
/// name what is missing or cannot be represented.
pub fn parse_service(attrs: &[SvcAttr]) -> Result<ParsedService, DecodeError> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut pe, mut flags, mut timeout, mut netmask) = (None, None, None, None, None);
    let (mut stats, mut stats64) = (None, None);
    for a in attrs {
        match a {
            SvcAttr::Af(x) => af = Some(*x),
            SvcAttr::Protocol(x) => proto = Some(*x),
            SvcAttr::Addr(x) => addr = Some(*x),
            SvcAttr::Port(x) => port = Some(*x),
            SvcAttr::Fwmark(x) => fwmark = Some(*x),
            SvcAttr::SchedName(x) => sched = Some(x.clone()),
            SvcAttr::PeName(x) => pe = Some(x.clone()),
            SvcAttr::Flags { flags: f, mask } => flags = Some(f & mask),
            SvcAttr::Timeout(x) => timeout = Some(*x),
            SvcAttr::Netmask(x) => netmask = Some(*x),
            SvcAttr::Stats(x) => stats = Some(x.as_slice()),
            SvcAttr::Stats64(x) => stats64 = Some(x.as_slice()),
            SvcAttr::Other(_) => {}
        }
    }
    let missing = |what: &str| DecodeError::from(format!("service entry without {what}"));
    let family = af_family("service", af.ok_or_else(|| missing("an address family"))?)?;
    let key = match fwmark {
        Some(mark) if mark != 0 => ServiceKey::Fwmark { family, mark },
        _ => {
            let p = proto.ok_or_else(|| missing("a protocol or mark"))?;
            let protocol = u8::try_from(p)
                .ok()
                .and_then(Protocol::from_number)
                .ok_or_else(|| DecodeError::from(format!("service protocol {p} is not TCP, UDP or SCTP")))?;
            let addr = inet_addr(family, &addr.ok_or_else(|| missing("an address"))?);
            ServiceKey::Addr { protocol, addr, port: port.ok_or_else(|| missing("a port"))? }
        }
    };
    let flags = flags.ok_or_else(|| missing("flags"))?;
    let persistence = if flags & SVC_F_PERSISTENT != 0 {
        let netmask = netmask.ok_or_else(|| missing("a netmask"))?;
        let mask = match family {
            Family::V4 => PersistMask::V4(Ipv4Addr::from(netmask)),
            Family::V6 => {
                let plen = u32::from_ne_bytes(netmask);
                PersistMask::V6(
                    u8::try_from(plen).map_err(|_| DecodeError::from(format!("IPv6 persistence prefix {plen}")))?,
                )
            }
        };
        Some(Persistence { timeout: timeout.ok_or_else(|| missing("a timeout"))?, mask })
    } else {
        None
    };
    let (stats, rates) = pick_stats(stats, stats64);
    Ok(ParsedService {
        config: ServiceConfig {
            key,
            scheduler: sched.ok_or_else(|| missing("a scheduler"))?,
            flags: ServiceFlags::from_bits(flags),
            persistence,
            pe_name: pe,
        },
        stats,
        rates,
    })
}

/// Reads a real-server entry (`ip_vs_genl_fill_dest`) of a service of
/// `service_family`: without `ADDR_FAMILY` (kernels before 3.18) the server
/// has the service's family.
pub fn parse_dest(attrs: &[DestAttr], service_family: Family) -> Result<DestSnapshot, DecodeError> {
    let (mut addr, mut port, mut fwd, mut weight, mut uth, mut lth) = (None, None, None, None, None, None);
    let (mut active, mut inact, mut persist, mut af) = (0, 0, 0, None);
    let (mut tun_type, mut tun_port, mut tun_flags) = (0u8, 0u16, 0u16);
    let (mut stats, mut stats64) = (None, None);
    for a in attrs {
        match a {
            DestAttr::Addr(x) => addr = Some(*x),
            DestAttr::Port(x) => port = Some(*x),
            DestAttr::FwdMethod(x) => fwd = Some(*x),
            DestAttr::Weight(x) => weight = Some(*x),
            DestAttr::UThresh(x) => uth = Some(*x),
            DestAttr::LThresh(x) => lth = Some(*x),
            DestAttr::ActiveConns(x) => active = *x,
            DestAttr::InactConns(x) => inact = *x,
            DestAttr::PersistConns(x) => persist = *x,
            DestAttr::Stats(x) => stats = Some(x.as_slice()),
            DestAttr::Stats64(x) => stats64 = Some(x.as_slice()),
            DestAttr::AddrFamily(x) => af = Some(*x),
            DestAttr::TunType(x) => tun_type = *x,
            DestAttr::TunPort(x) => tun_port = *x,
            DestAttr::TunFlags(x) => tun_flags = *x,
            DestAttr::Other(_) => {}
        }
    }
    let missing = |what: &str| DecodeError::from(format!("real server entry without {what}"));
    let family = match af {
        Some(af) => af_family("real server", af)?,
        None => service_family,
    };
    let addr = inet_addr(family, &addr.ok_or_else(|| missing("an address"))?);
    let fwd = fwd.ok_or_else(|| missing("a forwarding method"))?;
    let forward = match fwd & 0x7 {
        0 => ForwardMethod::Masq,
        1 => ForwardMethod::Local,
        2 => ForwardMethod::Tunnel(TunnelParams {
            kind: TunnelKind::from_number(tun_type)
                .ok_or_else(|| DecodeError::from(format!("tunnel type {tun_type} is not ipip, gue or gre")))?,
            port: tun_port,
            csum: TunnelCsum::from_flags(tun_flags),
        }),
        3 => ForwardMethod::Route,
        n => return Err(DecodeError::from(format!("forwarding method {n} is not masq, local, tunnel or route"))),
    };
    let (stats, rates) = pick_stats(stats, stats64);
    Ok(DestSnapshot {
        config: DestConfig {
            addr,
            port: port.ok_or_else(|| missing("a port"))?,
            forward,
            weight: weight.ok_or_else(|| missing("a weight"))?,
            upper_threshold: uth.ok_or_else(|| missing("an upper threshold"))?,
            lower_threshold: lth.ok_or_else(|| missing("a lower threshold"))?,
        },
        active_conns: active,
        inactive_conns: inact,
        persistent_conns: persist,
        stats,
        rates,
    })
}

/// Reads a sync-daemon entry (`ip_vs_genl_fill_daemon`).
pub fn parse_daemon(attrs: &[DaemonAttr]) -> Result<DaemonConfig, DecodeError> {
    let (mut state, mut ifn, mut id) = (None, None, None);
    let (mut maxlen, mut group, mut port, mut ttl) = (0, None, 0, 0);
    for a in attrs {
        match a {
            DaemonAttr::State(x) => state = Some(*x),
            DaemonAttr::McastIfn(x) => ifn = Some(x.clone()),
            DaemonAttr::SyncId(x) => id = Some(*x),
            DaemonAttr::SyncMaxlen(x) => maxlen = *x,
            DaemonAttr::McastGroup(x) => group = Some(IpAddr::V4(*x)),
            DaemonAttr::McastGroup6(x) => group = Some(IpAddr::V6(*x)),
            DaemonAttr::McastPort(x) => port = *x,
            DaemonAttr::McastTtl(x) => ttl = *x,
            DaemonAttr::Other(_) => {}
        }
    }
    let missing = |what: &str| DecodeError::from(format!("daemon entry without {what}"));
    let role = match state.ok_or_else(|| missing("a state"))? {
        STATE_MASTER => DaemonRole::Master,
        STATE_BACKUP => DaemonRole::Backup,
        n => return Err(DecodeError::from(format!("daemon state {n} is neither master (1) nor backup (2)"))),
    };
    Ok(DaemonConfig {
        role,
        mcast_ifn: ifn.ok_or_else(|| missing("an interface"))?,
        sync_id: id.ok_or_else(|| missing("a sync id"))?,
        sync_maxlen: maxlen,
        mcast_group: group,
        mcast_port: port,
        mcast_ttl: ttl,
    })
}

/// Reads the `GetConfig` reply.
pub fn parse_timeouts(msg: &IpvsMessage) -> Result<Timeouts, DecodeError> {
    let mut t = Timeouts { tcp: 0, tcp_fin: 0, udp: 0 };
    for a in &msg.attrs {
        match a {
            CmdAttr::TimeoutTcp(x) => t.tcp = *x,
            CmdAttr::TimeoutTcpFin(x) => t.tcp_fin = *x,
            CmdAttr::TimeoutUdp(x) => t.udp = *x,
            _ => {}
        }
    }
    Ok(t)
}

/// Reads the `GetInfo` reply.
pub fn parse_info(msg: &IpvsMessage) -> Result<IpvsInfo, DecodeError> {
    let (mut version, mut size) = (None, None);
    for a in &msg.attrs {
        match a {
            CmdAttr::InfoVersion(x) => version = Some(*x),
            CmdAttr::InfoConnTabSize(x) => size = Some(*x),
            _ => {}
        }
    }
    match (version, size) {
        (Some(version), Some(conn_tab_size)) => Ok(IpvsInfo { version, conn_tab_size }),
        _ => Err(DecodeError::from("info reply without version or table size")),
    }
}

// ---------------------------------------------------------------- requests

/// Appends one request to `out`: a netlink header (`NLM_F_REQUEST` and
/// `flags`, sequence `seq`, type `family_id`), the generic netlink header
/// (command, version 1) and the attributes.
pub fn encode_request(msg: IpvsMessage, family_id: u16, flags: u16, seq: u32, out: &mut Vec<u8>) {
    use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_generic::GenlMessage;
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    nl.finalize();
    let start = out.len();
    out.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut out[start..]);
}

// ---------------------------------------------------------------- replies

/// `NLM_F_MULTI`.
pub const NLM_F_MULTI: u16 = 0x2;

/// One message of what the kernel sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An `NLMSG_ERROR` with code 0: the request was carried out.
    Ack {
        /// The request's sequence number.
        seq: u32,
    },
    /// An `NLMSG_ERROR` with a negative code: refused with this errno.
    Error {
        /// The request's sequence number.
        seq: u32,
        /// The errno (positive).
        errno: i32,
    },
    /// `NLMSG_DONE`: the end of a dump, with its status (0, or a negative
    /// errno).
    Done {
        /// The request's sequence number.
        seq: u32,
        /// 0 or a negative errno.
        code: i32,
    },
    /// An IPVS message (a dump entry or a reply).
    Message {
        /// The request's sequence number.
        seq: u32,
        /// Netlink header flags (`NLM_F_MULTI` in dumps).
        flags: u16,
        /// The message.
        msg: IpvsMessage,
    },
    /// `NLMSG_NOOP`, `NLMSG_OVERRUN`, or a message of another family.
    Ignored {
        /// Its sequence number.
        seq: u32,
        /// Its netlink type.
        kind: u16,
    },
}

/// Parses a buffer of netlink messages as one `recv` returns them, from the
/// IPVS family registered as `family_id`. Never panics: a malformed message
/// is a [`DecodeError`].
pub fn parse_replies(buf: &[u8], family_id: u16) -> Result<Vec<Reply>, DecodeError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        let nl = NetlinkBuffer::new_checked(rest)?;
        let len = nl.length() as usize;
        if len < 16 {
            return Err(DecodeError::from(format!("netlink message length {len} is shorter than its header")));
        }
        let (kind, flags, seq) = (nl.message_type(), nl.flags(), nl.sequence_number());
        let payload = &rest[16..len];
        out.push(parse_one(kind, flags, seq, payload, family_id)?);
        off += (len + 3) & !3;
    }
    Ok(out)
}

fn parse_one(kind: u16, flags: u16, seq: u32, payload: &[u8], family_id: u16) -> Result<Reply, DecodeError> {
    match kind {
        NLMSG_ERROR => {
            let code = i32::from_ne_bytes(fixed_prefix::<4>("error code", payload)?);
            if code == 0 {
                Ok(Reply::Ack { seq })
            } else {
                Ok(Reply::Error { seq, errno: code.checked_neg().unwrap_or(i32::MAX) })
            }
        }
        NLMSG_DONE => {
            let code =
                if payload.len() >= 4 { i32::from_ne_bytes(fixed_prefix::<4>("done code", payload)?) } else { 0 };
            Ok(Reply::Done { seq, code })
        }
        NLMSG_NOOP | NLMSG_OVERRUN => Ok(Reply::Ignored { seq, kind }),
        k if k == family_id => {
            let header = GenlHeader::parse(payload)?;
            let msg = IpvsMessage::parse_with_param(&payload[4..], header)?;
            Ok(Reply::Message { seq, flags, msg })
        }
        _ => Ok(Reply::Ignored { seq, kind }),
    }
}

fn fixed_prefix<const N: usize>(what: &str, v: &[u8]) -> Result<[u8; N], DecodeError> {
    match v.get(..N) {
        Some(p) => fixed(what, p),
        None => Err(DecodeError::from(format!("{what}: {} bytes, want {N}", v.len()))),
    }
}

/// One reply message decoded all the way into the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A service entry (dump entry or `GetService` reply).
    Service(ParsedService),
    /// A real-server entry.
    Dest(DestSnapshot),
    /// A sync-daemon entry.
    Daemon(DaemonConfig),
    /// The `GetConfig` reply.
    Timeouts(Timeouts),
    /// The `GetInfo` reply.
    Info(IpvsInfo),
    /// Any other reply (acknowledgement, error, end of dump, message without
    /// a known payload).
    Other(Reply),
}

/// Decodes a buffer of replies from the family `family_id` into model
/// values; real-server entries without an address family get
/// `dest_family` (the trap of kernels before 3.18). What a capture tool or a
/// test needs, and what the `ipvs_reply` fuzz target drives: any input gives
/// a value or a [`DecodeError`], never a panic.
pub fn decode_replies(buf: &[u8], family_id: u16, dest_family: Family) -> Result<Vec<Decoded>, DecodeError> {
    let mut out = Vec::new();
    for reply in parse_replies(buf, family_id)? {
        let Reply::Message { msg, .. } = &reply else {
            out.push(Decoded::Other(reply));
            continue;
        };
        let d = match msg.cmd {
            IpvsCmd::SetInfo => Decoded::Info(parse_info(msg)?),
            IpvsCmd::SetConfig => Decoded::Timeouts(parse_timeouts(msg)?),
            _ => {
                if let Some(s) = msg.service().filter(|_| msg.cmd == IpvsCmd::NewService) {
                    Decoded::Service(parse_service(s)?)
                } else if let Some(d) = msg.dest() {
                    Decoded::Dest(parse_dest(d, dest_family)?)
                } else if let Some(d) = msg.daemon() {
                    Decoded::Daemon(parse_daemon(d)?)
                } else {
                    Decoded::Other(reply)
                }
            }
        };
        out.push(d);
    }
    Ok(out)
}

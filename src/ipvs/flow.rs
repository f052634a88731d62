//! The packet's view a scheduler decides on: protocol and both endpoints.
//!
//! This is what the kernel's `ip_vs_in` hands to `ip_vs_schedule` after parsing
//! the IP and transport headers (`struct ip_vs_iphdr` plus the ports), seen in
//! the client-to-virtual-service direction.

use std::fmt;
use std::net::IpAddr;

/// A transport protocol IPVS balances (`IPPROTO_*` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP, IP protocol 6.
    Tcp,
    /// UDP, IP protocol 17.
    Udp,
    /// SCTP, IP protocol 132.
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if IPVS balances it.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The upper-case name `ipvsadm -L` prints (`TCP`, `UDP`, `SCTP`).
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One packet's flow as the director sees it arriving from the client.
///
/// `src`/`src_port` are the client's, `dst`/`dst_port` the virtual service's
/// (the packet's destination). `fwmark` is the packet's firewall mark (0 when
/// none), used by firewall-mark services and their persistence templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Transport protocol.
    pub protocol: Protocol,
    /// Client address.
    pub src: IpAddr,
    /// Client port.
    pub src_port: u16,
    /// Virtual (destination) address.
    pub dst: IpAddr,
    /// Virtual (destination) port.
    pub dst_port: u16,
    /// Firewall mark of the packet, 0 for none.
    pub fwmark: u32,
}

impl Flow {
    /// A flow without a firewall mark.
    pub const fn new(protocol: Protocol, src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Self {
        Flow { protocol, src, src_port, dst, dst_port, fwmark: 0 }
    }

    /// The same flow carrying firewall mark `mark`.
    pub const fn with_fwmark(mut self, mark: u32) -> Self {
        self.fwmark = mark;
        self
    }
}

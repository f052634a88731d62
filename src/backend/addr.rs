//! Interface addresses as [`AddressBackend`](super::AddressBackend)s add,
//! remove and list them: what keepalived puts on an interface for a VIP
//! (`192.0.2.100/32 dev eth0 label eth0:1`, `2001:db8::100/64 nodad`).
//!
//! The fields mirror rtnetlink's `struct ifaddrmsg` and its `IFA_*`
//! attributes (`include/uapi/linux/if_addr.h`), with the kernel's rules:
//! labels and broadcast addresses exist only for IPv4, `nodad` only for IPv6,
//! and the kernel derives an IPv6 address's scope from the address itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::InvalidInput;

/// Address scope (`RT_SCOPE_*`, `include/uapi/linux/rtnetlink.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AddrScope {
    /// `global` (0), the default.
    #[default]
    Universe,
    /// `site` (200).
    Site,
    /// `link` (253).
    Link,
    /// `host` (254).
    Host,
    /// `nowhere` (255).
    Nowhere,
    /// Any other number.
    Other(u8),
}

impl AddrScope {
    /// The kernel's number.
    pub const fn number(self) -> u8 {
        match self {
            AddrScope::Universe => 0,
            AddrScope::Site => 200,
            AddrScope::Link => 253,
            AddrScope::Host => 254,
            AddrScope::Nowhere => 255,
            AddrScope::Other(n) => n,
        }
    }

    /// The scope for a kernel number.
    pub const fn from_number(n: u8) -> Self {
        match n {
            0 => AddrScope::Universe,
            200 => AddrScope::Site,
            253 => AddrScope::Link,
            254 => AddrScope::Host,
            255 => AddrScope::Nowhere,
            n => AddrScope::Other(n),
        }
    }

    /// The scope the kernel gives an IPv6 address (`ipv6_addr_scope` in
    /// `net/ipv6/addrconf_core.c`): host for `::1`, link for `fe80::/10`
    /// and link-scoped multicast, site for `fec0::/10`, global otherwise.
    pub fn of_ipv6(addr: Ipv6Addr) -> Self {
        let s = addr.segments();
        if addr == Ipv6Addr::LOCALHOST {
            AddrScope::Host
        } else if s[0] & 0xffc0 == 0xfe80 {
            AddrScope::Link
        } else if s[0] & 0xffc0 == 0xfec0 {
            AddrScope::Site
        } else if s[0] & 0xff00 == 0xff00 {
            match s[0] & 0x000f {
                1 => AddrScope::Host,
                2 => AddrScope::Link,
                5 => AddrScope::Site,
                _ => AddrScope::Universe,
            }
        } else {
            AddrScope::Universe
        }
    }
}

impl fmt::Display for AddrScope {
    /// The word `ip addr` prints (`global`, `link`, `host` …).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrScope::Universe => f.write_str("global"),
            AddrScope::Site => f.write_str("site"),
            AddrScope::Link => f.write_str("link"),
            AddrScope::Host => f.write_str("host"),
            AddrScope::Nowhere => f.write_str("nowhere"),
            AddrScope::Other(n) => write!(f, "{n}"),
        }
    }
}

/// Address flags (`IFA_F_*`, `include/uapi/linux/if_addr.h`) as the kernel
/// reports them in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddrFlags(pub u32);

impl AddrFlags {
    /// `IFA_F_SECONDARY` (IPv4): not the first address of its subnet.
    pub const SECONDARY: u32 = 0x01;
    /// `IFA_F_NODAD` (IPv6): duplicate address detection skipped.
    pub const NODAD: u32 = 0x02;
    /// `IFA_F_DADFAILED` (IPv6).
    pub const DADFAILED: u32 = 0x08;
    /// `IFA_F_DEPRECATED` (IPv6): preferred lifetime over.
    pub const DEPRECATED: u32 = 0x20;
    /// `IFA_F_TENTATIVE` (IPv6): duplicate address detection running.
    pub const TENTATIVE: u32 = 0x40;
    /// `IFA_F_PERMANENT`: a static address (no lifetime).
    pub const PERMANENT: u32 = 0x80;
    /// `IFA_F_NOPREFIXROUTE`: no prefix route was added with the address.
    pub const NOPREFIXROUTE: u32 = 0x200;

    /// Whether `flag` (one of the constants) is set.
    pub const fn contains(self, flag: u32) -> bool {
        self.0 & flag == flag
    }
}

/// The longest interface name or label the kernel keeps (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;

/// An address on an interface, as added (`ip addr add`) or listed.
///
/// Build one with [`InterfaceAddress::new`] and the setters; the struct is
/// `#[non_exhaustive]` so that options can be added later.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct InterfaceAddress {
    /// Interface index.
    pub ifindex: u32,
    /// The address (`IFA_LOCAL`).
    pub addr: IpAddr,
    /// Prefix length, up to 32 (IPv4) or 128 (IPv6).
    pub prefix_len: u8,
    /// IPv4 label (`eth0:1`), at most 15 bytes. When adding without one the
    /// kernel uses the interface name, which a listing shows.
    pub label: Option<String>,
    /// Scope. The kernel ignores it for IPv6 and derives the scope from the
    /// address ([`AddrScope::of_ipv6`]), which a listing shows.
    pub scope: AddrScope,
    /// IPv4 broadcast address (`brd`).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv6: skip duplicate address detection (`nodad`), as keepalived does
    /// for every IPv6 VIP so that it is usable at once.
    pub nodad: bool,
    /// Add no prefix route with the address (`noprefixroute`).
    pub noprefixroute: bool,
}

impl InterfaceAddress {
    /// An address with scope global and no options.
    pub const fn new(ifindex: u32, addr: IpAddr, prefix_len: u8) -> Self {
        InterfaceAddress {
            ifindex,
            addr,
            prefix_len,
            label: None,
            scope: AddrScope::Universe,
            broadcast: None,
            nodad: false,
            noprefixroute: false,
        }
    }

    /// A VIP the way keepalived adds one: `/32` or `/128`, and `nodad` for
    /// IPv6.
    pub const fn vip(ifindex: u32, addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::new(ifindex, addr, 32),
            IpAddr::V6(_) => Self::new(ifindex, addr, 128).nodad(),
        }
    }

    /// Sets the IPv4 label.
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// Sets the scope.
    pub const fn scope(mut self, scope: AddrScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the IPv4 broadcast address.
    pub const fn broadcast(mut self, brd: Ipv4Addr) -> Self {
        self.broadcast = Some(brd);
        self
    }

    /// Skips IPv6 duplicate address detection.
    pub const fn nodad(mut self) -> Self {
        self.nodad = true;
        self
    }

    /// Adds no prefix route.
    pub const fn noprefixroute(mut self) -> Self {
        self.noprefixroute = true;
        self
    }

    /// Checks what the kernel's policy would refuse or silently change: a
    /// prefix longer than the address, a label longer than 15 bytes or on
    /// IPv6, a broadcast on IPv6, `nodad` on IPv4.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix_len > max {
            return Err(InvalidInput::PrefixLength { addr: self.addr, prefix_len: self.prefix_len });
        }
        if let Some(label) = &self.label {
            if self.addr.is_ipv6() {
                return Err(InvalidInput::FamilyOption { option: "label", addr: self.addr });
            }
            check_name("label", label, IFNAME_MAX)?;
        }
        if self.broadcast.is_some() && self.addr.is_ipv6() {
            return Err(InvalidInput::FamilyOption { option: "broadcast", addr: self.addr });
        }
        if self.nodad && self.addr.is_ipv4() {
            return Err(InvalidInput::FamilyOption { option: "nodad", addr: self.addr });
        }
        Ok(())
    }
}

impl fmt::Display for InterfaceAddress {
    /// `192.0.2.100/32 dev 3 label eth0:1`, in `ip addr`'s words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} dev {}", self.addr, self.prefix_len, self.ifindex)?;
        if let Some(brd) = self.broadcast {
            write!(f, " brd {brd}")?;
        }
        if self.scope != AddrScope::Universe {
            write!(f, " scope {}", self.scope)?;
        }
        if let Some(label) = &self.label {
            write!(f, " label {label}")?;
        }
        if self.nodad {
            f.write_str(" nodad")?;
        }
        if self.noprefixroute {
            f.write_str(" noprefixroute")?;
        }
        Ok(())
    }
}

/// One address in a listing: the address with the options the kernel
/// reports, and its state flags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressEntry {
    /// The address, label, scope, broadcast, `nodad` and `noprefixroute` as
    /// the kernel reports them.
    pub address: InterfaceAddress,
    /// All flags (`permanent`, `tentative`, `secondary` …).
    pub flags: AddrFlags,
}

pub(crate) fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.is_empty() || value.len() > max || value.contains('\0') {
        return Err(InvalidInput::Name { field, value: value.to_owned(), max });
    }
    Ok(())
}

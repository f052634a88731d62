//! The real-server side of direct routing (LVS-DR, keepalived's `lb_kind
//! DR`): the VIP on `lo` so that the server accepts packets for it, and ARP
//! settings so that it never answers for the VIP on the shared segment
//! (only the director may), with an undo that puts everything back.
//!
//! What [`DrSetup::apply`] does, in this order, on the host it runs on:
//!
//! 1. for IPv4 VIPs, `net.ipv4.conf.all.arp_ignore = 1` (answer ARP only for
//!    addresses of the receiving interface) and `net.ipv4.conf.all.arp_announce
//!    = 2` (never use the VIP as the source of an ARP request), and the same
//!    for `lo`, as the LVS-DR documentation and keepalived's examples do; a
//!    value is written only when it differs, and the old one is kept;
//! 2. each VIP on `lo` as a host address (`/32`, or `/128 nodad`); one
//!    already there is left as is and not removed by the undo.
//!
//! [`DrSetup::undo`] removes the addresses it added, then restores the
//! sysctls it changed. If a step fails, what was done is undone before the
//! error is returned. IPv6 needs no sysctl: the kernel answers neighbour
//! solicitations only for addresses of the receiving interface.
//!
//! Sysctls are files under `/proc/sys` of the caller's network namespace;
//! [`DrSetup::apply_with_root`] takes another root, for tests.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::AddressBackend;
use super::addr::InterfaceAddress;
use super::error::{BackendError, Operation};

/// The sysctls the IPv4 setup writes: path under the sysctl root, value.
pub const IPV4_SYSCTLS: [(&str, &str); 4] = [
    ("net/ipv4/conf/all/arp_ignore", "1"),
    ("net/ipv4/conf/all/arp_announce", "2"),
    ("net/ipv4/conf/lo/arp_ignore", "1"),
    ("net/ipv4/conf/lo/arp_announce", "2"),
];

/// What [`DrSetup::apply`] changed, so that [`DrSetup::undo`] can put it
/// back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "keep the setup to undo it"]
pub struct DrSetup {
    root: PathBuf,
    /// Sysctls changed: path and previous value.
    changed: Vec<(PathBuf, String)>,
    /// Addresses added to `lo`.
    added: Vec<InterfaceAddress>,
}

fn sysctl_err(path: &Path, source: std::io::Error) -> BackendError {
    BackendError::Io { op: Operation::Sysctl(path.display().to_string()), source }
}

fn read_sysctl(path: &Path) -> Result<String, BackendError> {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).map_err(|e| sysctl_err(path, e))
}

fn write_sysctl(path: &Path, value: &str) -> Result<(), BackendError> {
    std::fs::write(path, format!("{value}\n")).map_err(|e| sysctl_err(path, e))
}

impl DrSetup {
    /// Sets a direct-routing real server up for `vips` (see the module doc),
    /// with the sysctls under `/proc/sys`.
    pub fn apply<A: AddressBackend + ?Sized>(addrs: &mut A, vips: &[IpAddr]) -> Result<Self, BackendError> {
        Self::apply_with_root(addrs, vips, Path::new("/proc/sys"))
    }

    /// The same with the sysctls under `root`.
    pub fn apply_with_root<A: AddressBackend + ?Sized>(
        addrs: &mut A,
        vips: &[IpAddr],
        root: &Path,
    ) -> Result<Self, BackendError> {
        let mut setup = DrSetup { root: root.to_owned(), changed: Vec::new(), added: Vec::new() };
        match setup.run(addrs, vips) {
            Ok(()) => Ok(setup),
            Err(e) => {
                // Leave nothing half done; the first error is the one to report.
                let _ = setup.undo(addrs);
                Err(e)
            }
        }
    }

    fn run<A: AddressBackend + ?Sized>(&mut self, addrs: &mut A, vips: &[IpAddr]) -> Result<(), BackendError> {
        if vips.iter().any(IpAddr::is_ipv4) {
            for (rel, value) in IPV4_SYSCTLS {
                let path = self.root.join(rel);
                let old = read_sysctl(&path)?;
                if old != value {
                    write_sysctl(&path, value)?;
                    self.changed.push((path, old));
                }
            }
        }
        let lo = addrs.link_index("lo")?;
        for vip in vips {
            let a = InterfaceAddress::vip(lo, *vip);
            match addrs.add_address(&a) {
                Ok(()) => self.added.push(a),
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The sysctls changed, with their previous values.
    pub fn changed_sysctls(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.changed.iter().map(|(p, v)| (p.as_path(), v.as_str()))
    }

    /// The addresses added to `lo`.
    pub fn added_addresses(&self) -> &[InterfaceAddress] {
        &self.added
    }

    /// Removes the addresses added, then restores the sysctls changed. Goes
    /// through every step even when one fails, and returns the first error.
    pub fn undo<A: AddressBackend + ?Sized>(mut self, addrs: &mut A) -> Result<(), BackendError> {
        let mut first = None;
        for a in self.added.drain(..).rev() {
            if let Err(e) = addrs.del_address(&a) {
                if !e.is_not_found() {
                    first.get_or_insert(e);
                }
            }
        }
        for (path, old) in self.changed.drain(..).rev() {
            if let Err(e) = write_sysctl(&path, &old) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

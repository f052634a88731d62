//! [`FrameSender`]: whole Ethernet frames out of an `AF_PACKET` socket,
//! for the gratuitous ARPs and unsolicited Neighbour Advertisements a new
//! master sends, from the interface's own MAC address, as keepalived 2.2.7
//! does without `use_vmac` (`keepalived/vrrp/vrrp_arp.c`,
//! `vrrp_ndisc.c`: `PF_PACKET`/`SOCK_RAW`, the frame built in user space,
//! sent with `sendto` to the interface index).
//!
//! The socket is opened with protocol 0, so the kernel queues nothing to
//! it: it only sends.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, Protocol, Socket, Type};

use super::error::{RawSocketError, SocketOp};
use super::sys;
use crate::wire::{EthernetAddress, arp, ethernet, ndisc};

/// Sends Ethernet frames on any interface (needs `CAP_NET_RAW`).
///
/// ```no_run
/// use std::net::Ipv4Addr;
/// use lvskit::backend::raw_socket::FrameSender;
/// use lvskit::wire::EthernetAddress;
///
/// let mut tx = FrameSender::open()?;
/// let mac = EthernetAddress([0x02, 0x00, 0xc0, 0x00, 0x02, 0x0b]);
/// tx.send_gratuitous_arp(2, mac, Ipv4Addr::new(192, 0, 2, 100))?;
/// # Ok::<(), lvskit::backend::raw_socket::RawSocketError>(())
/// ```
#[derive(Debug)]
pub struct FrameSender {
    sock: Socket,
    buf: [u8; 128],
}

impl FrameSender {
    /// Opens the packet socket.
    pub fn open() -> Result<Self, RawSocketError> {
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
            .map_err(RawSocketError::io(SocketOp::OpenPacket))?;
        sock.set_nonblocking(true).map_err(RawSocketError::io(SocketOp::OpenPacket))?;
        Ok(FrameSender { sock, buf: [0; 128] })
    }

    /// Sends one whole Ethernet frame (header included) out of interface
    /// `ifindex`.
    pub fn send_frame(&self, ifindex: u32, frame: &[u8]) -> Result<(), RawSocketError> {
        let op = || SocketOp::SendFrame { ifindex };
        let f = ethernet::Frame::new_checked(frame).map_err(|e| RawSocketError::invalid_input(op(), e.to_string()))?;
        let addr =
            sys::packet_addr(ifindex, u16::from(f.ethertype()), f.dst_addr().0).map_err(RawSocketError::io(op()))?;
        loop {
            match self.sock.send_to(frame, &addr) {
                Ok(n) if n == frame.len() => return Ok(()),
                Ok(n) => {
                    return Err(RawSocketError::io(op())(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("sent {n} of {} bytes", frame.len()),
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RawSocketError::io(op())(e)),
            }
        }
    }

    /// Sends keepalived's gratuitous ARP for `addr` (an ARP request,
    /// sender = target = `addr`, from `mac` to the broadcast address).
    pub fn send_gratuitous_arp(
        &mut self,
        ifindex: u32,
        mac: EthernetAddress,
        addr: Ipv4Addr,
    ) -> Result<(), RawSocketError> {
        let len = arp::gratuitous_frame(mac, addr, &mut self.buf)
            .map_err(|e| RawSocketError::invalid_input(SocketOp::SendFrame { ifindex }, e.to_string()))?;
        self.send_frame(ifindex, &self.buf[..len])
    }

    /// Sends keepalived's unsolicited Neighbour Advertisement for `addr`
    /// (from `addr` to ff02::1, hop limit 255, Override set, Router set when
    /// `router`, target link-layer address `mac`).
    pub fn send_unsolicited_na(
        &mut self,
        ifindex: u32,
        mac: EthernetAddress,
        addr: Ipv6Addr,
        router: bool,
    ) -> Result<(), RawSocketError> {
        let len = ndisc::unsolicited_na_frame(mac, addr, router, &mut self.buf)
            .map_err(|e| RawSocketError::invalid_input(SocketOp::SendFrame { ifindex }, e.to_string()))?;
        self.send_frame(ifindex, &self.buf[..len])
    }
}

impl AsFd for FrameSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Whether the interface forwards IPv6 (`/proc/sys/net/ipv6/conf/IF/forwarding`
/// of the caller's network namespace): keepalived sets the Router flag of
/// its Neighbour Advertisements when it does (`set_ipv6_forwarding`,
/// rechecked at most every 5 s). `false` when unreadable.
pub fn ipv6_forwarding(ifname: &str) -> bool {
    if ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == ".." {
        return false;
    }
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_lookup_refuses_paths() {
        for name in ["", ".", "..", "../all", "a/b"] {
            assert!(!ipv6_forwarding(name), "{name:?}");
        }
    }
}

//! The only `unsafe` of the `raw-socket` feature: the few system calls that
//! socket2, polling and signal-hook do not wrap.
//!
//! * [`setsockopt_int`]: integer socket options socket2 has no setter for
//!   (`IP_PKTINFO`, `IPV6_RECVPKTINFO`).
//! * [`recv_with_meta`]: `recvmsg(2)` with the ancillary data a VRRP
//!   receiver needs (destination and interface from `IP_PKTINFO` /
//!   `IPV6_PKTINFO`, hop limit from `IPV6_HOPLIMIT`).
//! * [`send_v6`]: `sendmsg(2)` with `IPV6_PKTINFO` (source address and
//!   interface) and `IPV6_HOPLIMIT`.
//! * [`packet_addr`]: a `sockaddr_ll` for an `AF_PACKET` send.
//! * [`poll_add`]: registering a file descriptor with a [`polling::Poller`].
//! * [`setns_net`]: moving the calling thread into another network
//!   namespace.
//!
//! Each `unsafe` block states the invariant that makes it sound.
#![allow(unsafe_code)]

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use libc::{c_int, c_void, socklen_t};
use socket2::SockAddr;

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(fd: BorrowedFd<'_>, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor for the borrow's lifetime; the option
    // value points at a local `c_int` and the length passed is its size, so
    // the kernel reads exactly that many initialised bytes.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const c_int).cast::<c_void>(),
            size_of::<c_int>() as socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// What `recvmsg` told about one datagram besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RecvMeta {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (`MSG_TRUNC`).
    pub truncated: bool,
    /// The sender (`msg_name`).
    pub src: Option<IpAddr>,
    /// The destination (`IP_PKTINFO`'s header destination, or
    /// `IPV6_PKTINFO`'s address).
    pub dst: Option<IpAddr>,
    /// The interface it arrived on (`IP_PKTINFO` / `IPV6_PKTINFO`).
    pub ifindex: Option<u32>,
    /// The IPv6 hop limit (`IPV6_HOPLIMIT`).
    pub hop_limit: Option<u8>,
}

/// Room for `IP_PKTINFO` or `IPV6_PKTINFO` plus `IPV6_HOPLIMIT`, with
/// headers and padding (each `CMSG_SPACE` is at most 40 bytes on 64-bit
/// Linux). `u64` elements give the buffer `cmsghdr`'s alignment.
const CONTROL_WORDS: usize = 16;

/// Receives one datagram into `buf` (non-blocking if the socket is) with
/// its source and the ancillary data enabled on the socket.
pub(crate) fn recv_with_meta(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast::<c_void>(), iov_len: buf.len() };
    // SAFETY: an all-zero `msghdr` is a valid value of this plain C struct.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast::<c_void>();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<c_void>();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live local (`name`, `iov`,
    // `control`) or to `buf`, with the matching length, for the duration of
    // the call; the kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    let mut meta = RecvMeta {
        len: n.min(buf.len()),
        truncated: n > buf.len() || msg.msg_flags & libc::MSG_TRUNC != 0,
        ..RecvMeta::default()
    };
    // SAFETY: the kernel initialised `msg_namelen` bytes of `name`, which
    // was zeroed before, so the whole storage is initialised; reading the
    // family and then the matching `sockaddr_in`/`sockaddr_in6` (both no
    // larger than `sockaddr_storage`, whose alignment they share) is valid.
    unsafe {
        let storage = name.assume_init_ref();
        match c_int::from(storage.ss_family) {
            libc::AF_INET => {
                let sin = &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                meta.src = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
            }
            libc::AF_INET6 => {
                let sin6 = &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                meta.src = Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    // SAFETY: `msg` is the header the kernel just filled: `msg_control`
    // points at `control` and `msg_controllen` is what the kernel wrote, so
    // CMSG_FIRSTHDR/CMSG_NXTHDR walk only initialised, aligned headers
    // inside it, and CMSG_DATA of each points at `cmsg_len - CMSG_LEN(0)`
    // initialised bytes. Each payload is read with `read_unaligned` only
    // after checking its length covers the type read.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let hdr = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let data_len = (hdr.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match (hdr.cmsg_level, hdr.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) if data_len >= size_of::<libc::in_pktinfo>() => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    meta.ifindex = u32::try_from(info.ipi_ifindex).ok();
                    meta.dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data_len >= size_of::<libc::in6_pktinfo>() => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    meta.ifindex = Some(info.ipi6_ifindex);
                    meta.dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if data_len >= size_of::<c_int>() => {
                    let hops = std::ptr::read_unaligned(data.cast::<c_int>());
                    meta.hop_limit = u8::try_from(hops).ok();
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(meta)
}

/// Sends `payload` on a raw IPv6 socket to `dst` (scope `ifindex` for
/// link-local and multicast destinations), from `src` out of `ifindex`
/// (`IPV6_PKTINFO`), with `hop_limit` if given (`IPV6_HOPLIMIT`, else the
/// socket's default).
pub(crate) fn send_v6(
    fd: BorrowedFd<'_>,
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ifindex: u32,
    hop_limit: Option<u8>,
) -> io::Result<usize> {
    let mut addr: libc::sockaddr_in6 = {
        // SAFETY: an all-zero `sockaddr_in6` is a valid value of this plain
        // C struct.
        unsafe { std::mem::zeroed() }
    };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_addr.s6_addr = dst.octets();
    // The scope matters only for link-local and multicast destinations; the
    // kernel ignores it for global ones.
    addr.sin6_scope_id = ifindex;
    let info = libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: src.octets() }, ipi6_ifindex: ifindex };
    let hops = c_int::from(hop_limit.unwrap_or(0));
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec { iov_base: payload.as_ptr().cast_mut().cast::<c_void>(), iov_len: payload.len() };
    // SAFETY: an all-zero `msghdr` is a valid value of this plain C struct.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_in6).cast::<c_void>();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<c_void>();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe {
        libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32)
            + if hop_limit.is_some() { libc::CMSG_SPACE(size_of::<c_int>() as u32) } else { 0 }
    } as usize;
    debug_assert!(space <= std::mem::size_of_val(&control));
    msg.msg_controllen = space as _;
    // SAFETY: `msg_control` points at `control`, zeroed, `u64`-aligned and
    // at least `space` bytes long, so CMSG_FIRSTHDR/CMSG_NXTHDR return
    // headers inside it (the second exists because `space` reserves room
    // for it) and CMSG_DATA points at room for the payload CMSG_LEN was
    // computed for; payloads are written unaligned.
    unsafe {
        let first = libc::CMSG_FIRSTHDR(&msg);
        (*first).cmsg_level = libc::IPPROTO_IPV6;
        (*first).cmsg_type = libc::IPV6_PKTINFO;
        (*first).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(first).cast::<libc::in6_pktinfo>(), info);
        if hop_limit.is_some() {
            let second = libc::CMSG_NXTHDR(&msg, first);
            debug_assert!(!second.is_null());
            (*second).cmsg_level = libc::IPPROTO_IPV6;
            (*second).cmsg_type = libc::IPV6_HOPLIMIT;
            (*second).cmsg_len = libc::CMSG_LEN(size_of::<c_int>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(second).cast::<c_int>(), hops);
        }
    }
    // SAFETY: every pointer in `msg` refers to a live local or to `payload`
    // with its length; the kernel only reads through them.
    let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, 0) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// The `sockaddr_ll` an `AF_PACKET`/`SOCK_RAW` send needs: the interface
/// and the EtherType (the frame itself carries the Ethernet header).
pub(crate) fn packet_addr(ifindex: u32, ethertype: u16, dst_mac: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex = c_int::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: an all-zero `sockaddr_ll` is a valid value of this plain C
    // struct.
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ethertype.to_be();
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dst_mac);
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` (20 bytes) fits in `sockaddr_storage` (128
    // bytes) and `view_as` gives a properly aligned view of its start; the
    // length given to `SockAddr::new` is exactly the bytes initialised
    // there, and the family field says what they are.
    unsafe {
        *storage.view_as::<libc::sockaddr_ll>() = ll;
        Ok(SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as socklen_t))
    }
}

/// Registers `fd` with `poller` under `key`, level-triggered and readable.
///
/// The caller must [`Poller::delete`](polling::Poller::delete) it before
/// the descriptor is closed (the driver does so before dropping any socket
/// it registered, and drops the poller first otherwise).
pub(crate) fn poll_add(poller: &polling::Poller, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
    // SAFETY: polling requires the source to stay open until it is deleted
    // from the poller; every caller upholds this (see the doc above).
    unsafe { poller.add_with_mode(fd.as_raw_fd(), polling::Event::readable(key), polling::PollMode::Level) }
}

/// Moves the calling thread into the network namespace `fd` refers to
/// (`setns(2)` with `CLONE_NEWNET`).
pub(crate) fn setns_net(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `setns` takes a live descriptor (guaranteed by the borrow) and
    // a flag; no memory is passed, and the namespace change affects only
    // the calling thread.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_addr_is_a_sockaddr_ll() {
        let a = packet_addr(7, 0x0806, [0xff; 6]).unwrap();
        assert_eq!(c_int::from(a.family()), libc::AF_PACKET);
        assert_eq!(a.len() as usize, size_of::<libc::sockaddr_ll>());
        assert!(packet_addr(u32::MAX, 0x0806, [0xff; 6]).is_err());
    }
}

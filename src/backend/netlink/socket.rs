//! A blocking netlink socket with the few things both backends need: a
//! sequence counter, sends that must go out whole, and a receive buffer big
//! enough for any datagram the kernel sends (dump parts are at most 32 KiB,
//! `netlink_recvmsg`), with truncation detected rather than ignored.

use std::io;

use netlink_sys::{Socket, SocketAddr};

/// Receive buffer size: twice the largest dump datagram.
const RX_BUF: usize = 64 * 1024;
/// Receive queue we ask for (the kernel caps it at `net.core.rmem_max` and
/// doubles it).
const WANT_RCVBUF: usize = 4 * 1024 * 1024;

pub(crate) struct NlSocket {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
    rcvbuf: usize,
}

impl std::fmt::Debug for NlSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NlSocket").field("seq", &self.seq).field("rcvbuf", &self.rcvbuf).finish()
    }
}

impl NlSocket {
    /// Opens a socket of netlink `protocol`, bound to a port the kernel
    /// picks and connected to the kernel. Error acknowledgements are capped
    /// (`NETLINK_CAP_ACK`): they carry the request's header, not all of it.
    pub(crate) fn open(protocol: isize) -> io::Result<Self> {
        let mut sock = Socket::new(protocol)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        sock.set_cap_ack(true)?;
        // Best effort: a bigger queue lets more error answers of a batch wait
        // for us; the batch size is derived from what we got.
        let _ = sock.set_rx_buf_sz(WANT_RCVBUF);
        let rcvbuf = sock.get_rx_buf_sz().unwrap_or(212_992);
        // Start the sequence at a value unlikely to match stale answers of a
        // previous socket bound to the same port.
        let seq = std::process::id().wrapping_mul(2_654_435_761);
        Ok(NlSocket { sock, seq, rx: vec![0; RX_BUF], rcvbuf })
    }

    /// The receive queue size the kernel granted, in bytes of `truesize`.
    pub(crate) fn rcvbuf(&self) -> usize {
        self.rcvbuf
    }

    /// The next sequence number.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends one datagram (one or more netlink messages).
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            match self.sock.send(buf, 0) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("netlink send took {n} of {} bytes", buf.len()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one datagram and returns it.
    pub(crate) fn recv(&mut self) -> io::Result<&[u8]> {
        loop {
            let mut slice: &mut [u8] = &mut self.rx[..];
            match self.sock.recv(&mut slice, libc::MSG_TRUNC) {
                Ok(n) if n > RX_BUF => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("netlink datagram of {n} bytes truncated to {RX_BUF}"),
                    ));
                }
                Ok(n) => return Ok(&self.rx[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

//! [`RawSocketError`]: what can go wrong opening and using the VRRP, packet
//! and netlink sockets, each failure naming the operation and its object.

use std::fmt;
use std::io;
use std::net::IpAddr;

use crate::backend::BackendError;
use crate::wire::Family;

/// A socket operation, as errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketOp {
    /// Opening a raw VRRP socket (IP protocol 112).
    OpenVrrp(Family),
    /// Setting an option on a socket.
    SetOption {
        /// The option (`IP_HDRINCL`, `SO_BINDTODEVICE` …).
        option: &'static str,
        /// The interface the socket is for.
        ifname: String,
    },
    /// Joining a multicast group on an interface.
    JoinGroup {
        /// The group.
        group: IpAddr,
        /// The interface.
        ifname: String,
    },
    /// Binding a socket to an address.
    Bind(IpAddr),
    /// Sending a VRRP packet.
    Send {
        /// The destination.
        dst: IpAddr,
        /// The interface.
        ifname: String,
    },
    /// Receiving from a VRRP socket.
    Recv {
        /// The interface.
        ifname: String,
    },
    /// Opening the `AF_PACKET` socket for gratuitous ARPs and NAs.
    OpenPacket,
    /// Sending a frame on the packet socket.
    SendFrame {
        /// The interface index.
        ifindex: u32,
    },
    /// Opening or reading the rtnetlink monitor socket.
    Monitor,
    /// A netlink dump of links or addresses.
    Dump(&'static str),
    /// Creating or waiting on the poller.
    Poll,
    /// Installing a signal handler.
    Signal(i32),
    /// Entering a network namespace.
    Netns(String),
}

impl fmt::Display for SocketOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketOp::OpenVrrp(Family::V4) => f.write_str("open IPv4 VRRP socket"),
            SocketOp::OpenVrrp(Family::V6) => f.write_str("open IPv6 VRRP socket"),
            SocketOp::SetOption { option, ifname } => write!(f, "set {option} on the socket for {ifname}"),
            SocketOp::JoinGroup { group, ifname } => write!(f, "join {group} on {ifname}"),
            SocketOp::Bind(a) => write!(f, "bind to {a}"),
            SocketOp::Send { dst, ifname } => write!(f, "send VRRP to {dst} on {ifname}"),
            SocketOp::Recv { ifname } => write!(f, "receive VRRP on {ifname}"),
            SocketOp::OpenPacket => f.write_str("open the AF_PACKET socket"),
            SocketOp::SendFrame { ifindex } => write!(f, "send a frame on interface {ifindex}"),
            SocketOp::Monitor => f.write_str("rtnetlink monitor"),
            SocketOp::Dump(what) => write!(f, "dump {what} over rtnetlink"),
            SocketOp::Poll => f.write_str("poll"),
            SocketOp::Signal(sig) => write!(f, "install the handler of signal {sig}"),
            SocketOp::Netns(path) => write!(f, "enter network namespace {path}"),
        }
    }
}

/// An error of the `raw-socket` backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RawSocketError {
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: SocketOp,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An interface the configuration names does not exist.
    #[error("no interface named {name:?}")]
    NoInterface {
        /// Its name.
        name: String,
    },
    /// A kernel reply that does not decode.
    #[error("{op}: undecodable netlink message: {reason}")]
    Decode {
        /// What was being done.
        op: SocketOp,
        /// The decoder's complaint.
        reason: String,
    },
    /// An instance the driver cannot run.
    #[error("vrrp_instance {instance}: {reason}")]
    Instance {
        /// The instance's name.
        instance: String,
        /// Why.
        reason: String,
    },
    /// [`Driver::handle_signals`](super::Driver::handle_signals) was called
    /// again: the handlers (and their descriptors, registered with the
    /// driver's poller) are already installed.
    #[error("the driver already handles its signals (handle_signals called twice)")]
    SignalsAlreadyHandled,
    /// An address operation failed (see [`BackendError`]).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl RawSocketError {
    pub(crate) fn io(op: SocketOp) -> impl FnOnce(io::Error) -> RawSocketError {
        move |source| RawSocketError::Io { op, source }
    }

    /// An [`Io`](RawSocketError::Io) error of kind `InvalidInput`: what we
    /// were asked to do cannot be done (`why`), found before any system call.
    pub(crate) fn invalid_input(op: SocketOp, why: impl Into<String>) -> RawSocketError {
        RawSocketError::Io { op, source: io::Error::new(io::ErrorKind::InvalidInput, why.into()) }
    }

    /// The OS error number, when a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            RawSocketError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_operation_and_object() {
        let e = RawSocketError::io(SocketOp::JoinGroup { group: "224.0.0.18".parse().unwrap(), ifname: "eth0".into() })(
            io::Error::from_raw_os_error(libc::ENODEV),
        );
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
        assert!(e.to_string().starts_with("join 224.0.0.18 on eth0: "), "{e}");
        assert_eq!(RawSocketError::NoInterface { name: "eth9".into() }.to_string(), "no interface named \"eth9\"");
        assert_eq!(SocketOp::OpenVrrp(Family::V6).to_string(), "open IPv6 VRRP socket");
    }
}

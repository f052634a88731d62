//! Socket setup for probes: family, mark, interface, source binding and a
//! non-blocking connect, classified the way keepalived's
//! `socket_bind_connect` (`core/layer4.c`) classifies the outcomes.

use std::io;
use std::net::SocketAddr;

use rustix::io::Errno;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::check::outcome::Failure;
use crate::check::spec::Target;

/// How setting a socket up went wrong.
pub(crate) enum SetupError {
    /// The probe could not be attempted (socket, mark, interface, bind, or
    /// an unexpected connect error): keepalived reschedules without a
    /// verdict.
    NotRun(Failure),
    /// The connection failed outright (unreachable, refused …): a failed
    /// check.
    Failed(Failure),
}

fn setup(what: &'static str, e: &io::Error) -> SetupError {
    SetupError::NotRun(Failure::Setup { what, kind: e.kind(), errno: e.raw_os_error() })
}

/// Whether `e` is one of the errors keepalived counts as a failure to
/// connect rather than a failure to run the check.
pub(crate) fn is_connect_failure(e: &io::Error) -> bool {
    let errno = Errno::from_io_error(e);
    [
        Errno::NETUNREACH,
        Errno::HOSTUNREACH,
        Errno::CONNREFUSED,
        Errno::HOSTDOWN,
        Errno::NETDOWN,
        Errno::CONNRESET,
        Errno::CONNABORTED,
        Errno::TIMEDOUT,
    ]
    .into_iter()
    .any(|x| Some(x) == errno)
}

fn domain(dst: &SocketAddr) -> Domain {
    if dst.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 }
}

/// A non-blocking socket with the target's mark, interface and source
/// address applied.
pub(crate) fn socket(target: &Target, ty: Type, proto: Protocol) -> Result<Socket, SetupError> {
    let s =
        Socket::new(domain(&target.dst), ty.nonblocking().cloexec(), Some(proto)).map_err(|e| setup("socket", &e))?;
    if target.fwmark != 0 {
        s.set_mark(target.fwmark).map_err(|e| setup("SO_MARK", &e))?;
    }
    if let Some(ifname) = &target.bind_if {
        s.bind_device(Some(ifname.as_bytes())).map_err(|e| setup("SO_BINDTODEVICE", &e))?;
    }
    if let Some(b) = target.bind {
        s.bind(&SockAddr::from(b)).map_err(|e| setup("bind", &e))?;
    }
    Ok(s)
}

/// Starts connecting `s` to the target. `Ok(true)`: connected at once;
/// `Ok(false)`: in progress.
pub(crate) fn connect(s: &Socket, target: &Target) -> Result<bool, SetupError> {
    match s.connect(&SockAddr::from(target.dst)) {
        Ok(()) => Ok(true),
        Err(e) if Errno::from_io_error(&e) == Some(Errno::INPROGRESS) => Ok(false),
        Err(e) if is_connect_failure(&e) => Err(connect_failed(&e)),
        Err(e) => Err(setup("connect", &e)),
    }
}

fn connect_failed(e: &io::Error) -> SetupError {
    SetupError::Failed(Failure::ConnectFailed { kind: e.kind(), errno: e.raw_os_error() })
}

/// Whether a TCP connect reported in progress has finished already,
/// asked with a second `connect(2)`: 0 once established, `EALREADY` while
/// the handshake is under way, the error that ended it otherwise
/// (`net/ipv4/af_inet.c`, `__inet_stream_connect`). A server on this host
/// (or one a softirq answered within the first call) has completed the
/// handshake by the time the first call returns, since the SYN-ACK waits
/// in the socket's backlog until that call releases the socket; such a
/// probe needs no epoll registration and no event at all. Elsewhere it
/// costs one cheap system call.
pub(crate) fn connected_yet(s: &Socket, target: &Target) -> Result<bool, SetupError> {
    match s.connect(&SockAddr::from(target.dst)) {
        Ok(()) => Ok(true),
        Err(e) => match Errno::from_io_error(&e) {
            Some(Errno::ALREADY | Errno::INPROGRESS) => Ok(false),
            Some(Errno::ISCONN) => Ok(true),
            // Whatever ended the handshake fails the check.
            _ => Err(connect_failed(&e)),
        },
    }
}

/// A non-blocking TCP stream connecting to the target, and whether it
/// is connected already (see [`connected_yet`]).
pub(crate) fn tcp(target: &Target) -> Result<(mio::net::TcpStream, bool), SetupError> {
    let s = socket(target, Type::STREAM, Protocol::TCP)?;
    let now = connect(&s, target)? || connected_yet(&s, target)?;
    Ok((mio::net::TcpStream::from_std(std::net::TcpStream::from(s)), now))
}

//! [`SignalPipe`]: Unix signals turned into a readable descriptor for an
//! event loop (signal-hook's self-pipe), so that SIGTERM or SIGINT stop a
//! [`Driver`](super::Driver) between two events rather than inside one.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use signal_hook::SigId;

use super::error::{RawSocketError, SocketOp};

/// A non-blocking pipe that becomes readable when one of its signals
/// arrives. The handlers are removed when it is dropped.
#[derive(Debug)]
pub struct SignalPipe {
    rx: UnixStream,
    ids: Vec<SigId>,
}

impl SignalPipe {
    /// Installs handlers for `signals` (e.g. `libc::SIGTERM`) that write to
    /// the pipe. Other handlers of the same signals keep running.
    pub fn new(signals: &[i32]) -> Result<Self, RawSocketError> {
        let op = || SocketOp::Signal(signals.first().copied().unwrap_or(0));
        let (rx, tx) = UnixStream::pair().map_err(RawSocketError::io(op()))?;
        rx.set_nonblocking(true).map_err(RawSocketError::io(op()))?;
        let mut ids = Vec::with_capacity(signals.len());
        for &sig in signals {
            let tx = tx.try_clone().map_err(RawSocketError::io(SocketOp::Signal(sig)))?;
            match signal_hook::low_level::pipe::register(sig, tx) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        signal_hook::low_level::unregister(id);
                    }
                    return Err(RawSocketError::io(SocketOp::Signal(sig))(e));
                }
            }
        }
        Ok(SignalPipe { rx, ids })
    }

    /// Reads what the handlers wrote; returns how many signals arrived
    /// since the last call (several of one kind may count once).
    pub fn drain(&mut self) -> usize {
        let mut buf = [0u8; 64];
        let mut n = 0;
        loop {
            match self.rx.read(&mut buf) {
                Ok(0) => return n,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return n,
            }
        }
    }
}

impl AsFd for SignalPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

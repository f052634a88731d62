//! What a packet contributes to a connection's state, the per-protocol
//! timeout tables (what `ipvsadm --set` changes), and the one public view of
//! a state across protocols.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::error::ConnError;
use super::sctp::{self, SCTP_STATES, SctpChunks, SctpState};
use super::tcp::{self, TCP_STATES, TcpFlags, TcpState};
use super::time::HZ;
use crate::ipvs::flow::Protocol;
use crate::ipvs::snapshot::Timeouts;

/// Which way a packet travels (`IP_VS_DIR_INPUT`/`IP_VS_DIR_OUTPUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the virtual service (`ip_vs_in`).
    Input,
    /// A reply from the real server to the client, seen by a director that
    /// masquerades (`ip_vs_out`); its source is the real server and its
    /// destination the client.
    Output,
}

/// The transport-layer part of a packet that drives the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A TCP segment with these flags.
    Tcp(TcpFlags),
    /// A UDP datagram.
    Udp,
    /// An SCTP packet with these chunks.
    Sctp(SctpChunks),
}

impl Segment {
    /// The protocol this segment belongs to.
    pub const fn protocol(&self) -> Protocol {
        match self {
            Segment::Tcp(_) => Protocol::Tcp,
            Segment::Udp => Protocol::Udp,
            Segment::Sctp(_) => Protocol::Sctp,
        }
    }

    /// Whether the packet opens a new connection (`is_new_conn` in
    /// `ip_vs_core.c`): a TCP SYN, or an SCTP packet whose first chunk is
    /// INIT. UDP never does.
    pub const fn is_new_conn(&self) -> bool {
        match self {
            Segment::Tcp(f) => f.syn(),
            Segment::Sctp(c) => c.first == sctp::chunk::INIT,
            Segment::Udp => false,
        }
    }
}

/// A connection's state, as `ipvsadm -Lc` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// A TCP connection.
    Tcp(TcpState),
    /// A UDP flow (one state, printed `UDP`).
    Udp,
    /// An SCTP association.
    Sctp(SctpState),
    /// A persistence template (`IP_VS_CTPL_S_*`): `NONE`, or `ASSURED` once
    /// one of its connections got established (or, for UDP, a reply).
    Template {
        /// `IP_VS_CTPL_S_ASSURED`.
        assured: bool,
    },
}

impl ConnState {
    /// The name `ipvsadm -Lc` prints (`ip_vs_state_name`).
    pub const fn name(&self) -> &'static str {
        match self {
            ConnState::Tcp(s) => s.name(),
            ConnState::Udp => "UDP",
            ConnState::Sctp(s) => s.name(),
            ConnState::Template { assured: false } => "NONE",
            ConnState::Template { assured: true } => "ASSURED",
        }
    }

    /// Whether the connection counts in its server's ActiveConn.
    pub const fn is_active(&self) -> bool {
        match self {
            ConnState::Tcp(s) => s.is_active(),
            ConnState::Sctp(s) => s.is_active(),
            ConnState::Udp | ConnState::Template { .. } => false,
        }
    }

    /// The state of a (non-template) connection of `protocol` with kernel
    /// number `n`.
    ///
    /// A number the protocol does not define reads as its NONE state. One
    /// load from [`BY_RAW`], with no branch on the `Protocol` value: every
    /// one-call look-up converts its entry's state.
    #[inline]
    pub(crate) fn from_raw(protocol: Protocol, n: u8) -> ConnState {
        BY_RAW[protocol as usize][n as usize]
    }

    /// [`from_raw`](Self::from_raw) for a stored entry, whose protocol is
    /// kept as its IP protocol number (one the table carries; any other
    /// reads as TCP).
    #[inline]
    pub(crate) fn from_stored(proto: u8, n: u8) -> ConnState {
        Self::from_raw(Protocol::from_number(proto).unwrap_or(Protocol::Tcp), n)
    }
}

// `BY_RAW` has one row per protocol, indexed by `Protocol as usize`.
const _: () = assert!(Protocol::Tcp as usize == 0 && Protocol::Udp as usize == 1 && Protocol::Sctp as usize == 2);

/// [`ConnState::from_raw`] for every protocol (in [`Protocol`]'s order)
/// and every state number, 1.5 KB.
static BY_RAW: [[ConnState; 256]; 3] = {
    let mut t = [[ConnState::Udp; 256]; 3];
    let mut n = 0;
    while n < 256 {
        t[Protocol::Tcp as usize][n] = ConnState::Tcp(match TcpState::from_index(n as u8) {
            Some(s) => s,
            None => TcpState::None,
        });
        t[Protocol::Sctp as usize][n] = ConnState::Sctp(match SctpState::from_index(n as u8) {
            Some(s) => s,
            None => SctpState::None,
        });
        n += 1;
    }
    t
};

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The largest timeout `--set` accepts, in seconds: `INT_MAX / HZ`
/// (`ip_vs_set_timeout`, `ip_vs_ctl.c`, with Debian's HZ of 250).
pub const MAX_TIMEOUT_SECS: u32 = (i32::MAX as u32) / HZ;

/// The live timeout tables of one table, in ticks, one per protocol state
/// (`pd->timeout_table`). Changing one affects each connection at its next
/// packet (which re-reads its state's timeout even when the state does not
/// change), not before, as in the kernel (`set_tcp_state`,
/// `udp_state_transition`, `set_sctp_state` assign `cp->timeout` on every
/// packet).
#[derive(Debug)]
pub(crate) struct TimeoutTables {
    tcp: [AtomicU32; TCP_STATES],
    udp: AtomicU32,
    sctp: [AtomicU32; SCTP_STATES],
}

impl TimeoutTables {
    /// The kernel's defaults.
    pub(crate) fn new() -> Self {
        TimeoutTables {
            tcp: TcpState::ALL.map(|s| AtomicU32::new(s.default_timeout_secs() * HZ)),
            udp: AtomicU32::new(300 * HZ),
            sctp: SctpState::ALL.map(|s| AtomicU32::new(s.default_timeout_secs() * HZ)),
        }
    }

    /// Timeout in ticks of a (non-template) connection of `protocol` in raw
    /// state `state`.
    #[inline]
    pub(crate) fn ticks(&self, protocol: Protocol, state: u8) -> u32 {
        match protocol {
            Protocol::Tcp => self.tcp.get(state as usize).map_or(2 * HZ, |a| a.load(Relaxed)),
            Protocol::Udp => self.udp.load(Relaxed),
            Protocol::Sctp => self.sctp.get(state as usize).map_or(2 * HZ, |a| a.load(Relaxed)),
        }
    }

    /// `ipvsadm --set tcp tcpfin udp` (`ip_vs_set_timeout`): each value in
    /// seconds, 0 leaves it unchanged; all are checked before any changes.
    pub(crate) fn set(&self, t: &Timeouts) -> Result<(), ConnError> {
        for (field, value) in [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)] {
            if value > MAX_TIMEOUT_SECS {
                return Err(ConnError::TimeoutOutOfRange { field, value, max: MAX_TIMEOUT_SECS });
            }
        }
        if t.tcp != 0 {
            self.tcp[TcpState::Established as usize].store(t.tcp * HZ, Relaxed);
        }
        if t.tcp_fin != 0 {
            self.tcp[TcpState::FinWait as usize].store(t.tcp_fin * HZ, Relaxed);
        }
        if t.udp != 0 {
            self.udp.store(t.udp * HZ, Relaxed);
        }
        Ok(())
    }

    /// The three values `ipvsadm -L --timeout` shows, in seconds.
    pub(crate) fn get(&self) -> Timeouts {
        Timeouts {
            tcp: self.tcp[TcpState::Established as usize].load(Relaxed) / HZ,
            tcp_fin: self.tcp[TcpState::FinWait as usize].load(Relaxed) / HZ,
            udp: self.udp.load(Relaxed) / HZ,
        }
    }
}

/// Table direction index used by the state machines: 0 input, 1 output,
/// 2 input-only.
pub(crate) const DIR_INPUT: usize = 0;
/// See [`DIR_INPUT`].
pub(crate) const DIR_OUTPUT: usize = 1;
/// See [`DIR_INPUT`].
pub(crate) const DIR_INPUT_ONLY: usize = 2;

/// The state a packet moves a connection to (`tcp_state_transition`,
/// `udp_state_transition`, `sctp_state_transition`), given the table
/// direction already resolved for the no-output flag. UDP has one state.
///
/// The TCP arm (a table read) is inlined into the packet path; SCTP's
/// chunk-to-event mapping stays a call.
#[inline(always)]
pub(crate) fn transition(secure_tcp: bool, dir: usize, segment: &Segment, state: u8) -> u8 {
    match segment {
        Segment::Tcp(flags) => {
            let cur = TcpState::from_index(state).unwrap_or(TcpState::None);
            tcp::next_state(secure_tcp, dir, *flags, cur) as u8
        }
        Segment::Udp => 0,
        Segment::Sctp(chunks) => sctp_transition(dir, chunks, state),
    }
}

/// The SCTP arm of [`transition`].
#[inline(never)]
fn sctp_transition(dir: usize, chunks: &SctpChunks, state: u8) -> u8 {
    let cur = SctpState::from_index(state).unwrap_or(SctpState::None);
    sctp::next_state(dir, *chunks, cur) as u8
}

/// Whether raw state `state` of `protocol` counts as active.
#[inline]
pub(crate) fn is_active(protocol: Protocol, state: u8) -> bool {
    match protocol {
        Protocol::Tcp => TcpState::from_index(state).is_some_and(TcpState::is_active),
        Protocol::Udp => false,
        Protocol::Sctp => SctpState::from_index(state).is_some_and(SctpState::is_active),
    }
}

/// Whether a state is ESTABLISHED (which assures the connection's template,
/// `ip_vs_control_assure_ct`).
#[inline]
pub(crate) fn is_established(protocol: Protocol, state: u8) -> bool {
    match protocol {
        Protocol::Tcp => state == TcpState::Established as u8,
        Protocol::Sctp => state == SctpState::Established as u8,
        Protocol::Udp => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table gives each protocol's state by its kernel number, and
    /// NONE for a number the protocol does not define.
    #[test]
    fn from_raw_reads_every_number() {
        for n in 0..=255u8 {
            let tcp = TcpState::ALL.get(n as usize).copied().unwrap_or(TcpState::None);
            let sctp = SctpState::ALL.get(n as usize).copied().unwrap_or(SctpState::None);
            assert_eq!(ConnState::from_raw(Protocol::Tcp, n), ConnState::Tcp(tcp), "{n}");
            assert_eq!(ConnState::from_raw(Protocol::Udp, n), ConnState::Udp, "{n}");
            assert_eq!(ConnState::from_raw(Protocol::Sctp, n), ConnState::Sctp(sctp), "{n}");
        }
        assert_eq!(ConnState::from_raw(Protocol::Tcp, 1), ConnState::Tcp(TcpState::Established));
        assert_eq!(TcpState::ALL.len(), TCP_STATES);
        assert_eq!(SctpState::ALL.len(), SCTP_STATES);
    }

    #[test]
    fn set_timeouts_like_ipvsadm() {
        let t = TimeoutTables::new();
        assert_eq!(t.get(), Timeouts { tcp: 900, tcp_fin: 120, udp: 300 });
        t.set(&Timeouts { tcp: 7200, tcp_fin: 0, udp: 10 }).unwrap();
        assert_eq!(t.get(), Timeouts { tcp: 7200, tcp_fin: 120, udp: 10 });
        assert_eq!(t.ticks(Protocol::Tcp, TcpState::Established as u8), 7200 * HZ);
        assert_eq!(t.ticks(Protocol::Udp, 0), 10 * HZ);
        // Out of range: nothing changes.
        let err = t.set(&Timeouts { tcp: 1, tcp_fin: MAX_TIMEOUT_SECS + 1, udp: 1 }).unwrap_err();
        assert_eq!(err, ConnError::TimeoutOutOfRange { field: "tcpfin", value: MAX_TIMEOUT_SECS + 1, max: 8_589_934 });
        assert_eq!(t.get(), Timeouts { tcp: 7200, tcp_fin: 120, udp: 10 });
        t.set(&Timeouts { tcp: 0, tcp_fin: MAX_TIMEOUT_SECS, udp: 0 }).unwrap();
        assert_eq!(t.get().tcp_fin, MAX_TIMEOUT_SECS);
    }

    #[test]
    fn names() {
        assert_eq!(ConnState::Udp.name(), "UDP");
        assert_eq!(ConnState::Template { assured: false }.name(), "NONE");
        assert_eq!(ConnState::Template { assured: true }.name(), "ASSURED");
        assert_eq!(ConnState::Tcp(TcpState::SynRecv).name(), "SYN_RECV");
        assert_eq!(ConnState::Sctp(SctpState::CookieEchoed).name(), "C-ECHOED");
    }
}

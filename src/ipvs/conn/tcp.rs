//! TCP connection states as IPVS tracks them (`net/netfilter/ipvs/ip_vs_proto_tcp.c`).
//!
//! IPVS does not follow TCP exactly: it keeps one of eleven states per
//! connection, moved by the flags of each packet through one of three tables
//! (packets from the client, replies from the real server, and client
//! packets of a connection whose replies never pass the director), and picks
//! the connection's timeout from the state it lands in. A second set of
//! tables, used when `secure_tcp` is on, keeps half-open connections in
//! SYN_RECV or SYNACK longer instead of trusting a lone ACK.
//!
//! The tables here are the kernel's values, state by state; the tests at the
//! bottom spell out every row so that a typo cannot hide.

use std::fmt;

/// A TCP connection state (`IP_VS_TCP_S_*`, `include/net/ip_vs.h`), in the
/// kernel's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// Just created, no packet seen yet.
    None = 0,
    /// Established.
    Established = 1,
    /// SYN seen from the real server (active open from the server side).
    SynSent = 2,
    /// SYN seen from the client.
    SynRecv = 3,
    /// FIN seen from the real server first.
    FinWait = 4,
    /// Both sides closed.
    TimeWait = 5,
    /// Closed (RST, or FIN without a connection).
    Close = 6,
    /// FIN seen from the client first.
    CloseWait = 7,
    /// FIN seen from both, last ACK pending.
    LastAck = 8,
    /// Listening (FTP active data connections).
    Listen = 9,
    /// SYN and SYN+ACK seen (only with `secure_tcp`).
    SynAck = 10,
}

/// Number of TCP states (`IP_VS_TCP_S_LAST`).
pub const TCP_STATES: usize = 11;

impl TcpState {
    /// Every state in kernel order.
    pub const ALL: [TcpState; TCP_STATES] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The state with kernel number `n`.
    pub const fn from_index(n: u8) -> Option<Self> {
        if (n as usize) < TCP_STATES { Some(Self::ALL[n as usize]) } else { None }
    }

    /// The kernel number.
    #[inline]
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The name `ipvsadm -Lc` and `/proc/net/ip_vs_conn` print
    /// (`tcp_state_name_table`).
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    /// Whether a connection in this state counts in the real server's
    /// ActiveConn (`tcp_state_active_table`): ESTABLISHED and the three
    /// opening states SYN_SENT, SYN_RECV and SYNACK. The kernel counts the
    /// opening states as active since Linux 4.8 ("ipvs: count pre-established
    /// TCP states as active"); older documentation, and this crate's issue
    /// text, say only ESTABLISHED.
    pub const fn is_active(self) -> bool {
        matches!(self, TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck)
    }

    /// The default timeout in seconds (`tcp_timeouts[]`).
    pub const fn default_timeout_secs(self) -> u32 {
        match self {
            TcpState::None => 2,
            TcpState::Established => 15 * 60,
            TcpState::SynSent => 2 * 60,
            TcpState::SynRecv => 60,
            TcpState::FinWait => 2 * 60,
            TcpState::TimeWait => 2 * 60,
            TcpState::Close => 10,
            TcpState::CloseWait => 60,
            TcpState::LastAck => 30,
            TcpState::Listen => 2 * 60,
            TcpState::SynAck => 120,
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The flags of a TCP header (byte 13), of which IPVS looks at RST, SYN,
/// FIN and ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// No flag.
    pub const EMPTY: TcpFlags = TcpFlags(0);
    /// SYN+ACK.
    pub const SYN_ACK: TcpFlags = TcpFlags(0x12);
    /// FIN+ACK.
    pub const FIN_ACK: TcpFlags = TcpFlags(0x11);
    /// RST+ACK.
    pub const RST_ACK: TcpFlags = TcpFlags(0x14);
    /// PSH+ACK.
    pub const PSH_ACK: TcpFlags = TcpFlags(0x18);

    /// Flags from the header byte.
    #[inline]
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }

    /// The header byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// RST is set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }

    /// SYN is set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    /// FIN is set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    /// ACK is set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }

    /// The row of the state table these flags select (`tcp_state_idx`): RST
    /// before SYN before FIN before ACK; `None` when none of the four is set,
    /// which the kernel treats as a move to CLOSE.
    #[inline]
    pub const fn event(self) -> Option<usize> {
        if self.rst() {
            Some(3)
        } else if self.syn() {
            Some(0)
        } else if self.fin() {
            Some(1)
        } else if self.ack() {
            Some(2)
        } else {
            None
        }
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// `S.A.`-style, as the kernel's debug output prints SYN, FIN, ACK, RST.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |on: bool, ch: char| if on { ch } else { '.' };
        write!(f, "{}{}{}{}", c(self.syn(), 'S'), c(self.fin(), 'F'), c(self.ack(), 'A'), c(self.rst(), 'R'))
    }
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI, SynAck as SA,
    SynRecv as SR, SynSent as SS, TimeWait as TW,
};

/// One table: `[direction][event][current state] -> next state`, directions
/// input (0), output (1), input-only (2), events SYN, FIN, ACK, RST.
type Table = [[[TcpState; TCP_STATES]; 4]; 3];

/// `tcp_states[]`: the normal tables. Columns are the current state in
/// kernel order NONE ES SYN_SENT SYN_RECV FIN_WAIT TIME_WAIT CLOSE
/// CLOSE_WAIT LAST_ACK LISTEN SYNACK.
static NORMAL: Table = [
    // input: packets from the client of a connection whose replies pass the director
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // output: replies from the real server
    [
        /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // input-only: client packets of a connection with no output seen (DR, tunnel)
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// `tcp_states_dos[]`: the tables used while `secure_tcp` is in force.
static SECURE: Table = [
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
        /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
        /* ack */ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
    [
        /* syn */ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
        /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    [
        /* syn */ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
        /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The next state for a packet with `flags` in table direction `dir`
/// (0 input, 1 output, 2 input-only) from `state` (`set_tcp_state`). A
/// packet with none of RST, SYN, FIN, ACK moves the connection to CLOSE, as
/// in the kernel.
#[inline]
pub fn next_state(secure: bool, dir: usize, flags: TcpFlags, state: TcpState) -> TcpState {
    let table = if secure { &SECURE } else { &NORMAL };
    match flags.event() {
        Some(ev) => table[dir][ev][state as usize],
        None => TcpState::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(secure: bool, dir: usize, flags: TcpFlags) -> Vec<&'static str> {
        TcpState::ALL.iter().map(|&s| next_state(secure, dir, flags, s).name()).collect()
    }

    // Each expectation below is one row of the kernel's table written out by
    // name, so that a transcription slip in the compact tables shows up.
    #[test]
    fn normal_input() {
        use TcpFlags as F;
        assert_eq!(
            row(false, 0, F::SYN),
            [
                "SYN_RECV",
                "ESTABLISHED",
                "ESTABLISHED",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV"
            ]
        );
        assert_eq!(
            row(false, 0, F::FIN_ACK),
            [
                "CLOSE",
                "CLOSE_WAIT",
                "SYN_SENT",
                "TIME_WAIT",
                "TIME_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "LAST_ACK",
                "LISTEN",
                "TIME_WAIT"
            ]
        );
        assert_eq!(
            row(false, 0, F::ACK),
            [
                "ESTABLISHED",
                "ESTABLISHED",
                "SYN_SENT",
                "ESTABLISHED",
                "FIN_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "CLOSE",
                "LISTEN",
                "ESTABLISHED"
            ]
        );
        assert_eq!(
            row(false, 0, F::RST_ACK),
            [
                "CLOSE", "CLOSE", "CLOSE", "SYN_RECV", "CLOSE", "CLOSE", "CLOSE", "CLOSE", "LAST_ACK", "LISTEN",
                "SYN_RECV"
            ]
        );
    }

    #[test]
    fn normal_output() {
        use TcpFlags as F;
        assert_eq!(
            row(false, 1, F::SYN_ACK),
            [
                "SYN_SENT",
                "ESTABLISHED",
                "SYN_SENT",
                "SYN_RECV",
                "SYN_SENT",
                "SYN_SENT",
                "SYN_SENT",
                "SYN_SENT",
                "SYN_SENT",
                "LISTEN",
                "SYN_RECV"
            ]
        );
        assert_eq!(
            row(false, 1, F::FIN),
            [
                "TIME_WAIT",
                "FIN_WAIT",
                "SYN_SENT",
                "TIME_WAIT",
                "FIN_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "TIME_WAIT",
                "LAST_ACK",
                "LISTEN",
                "TIME_WAIT"
            ]
        );
        assert_eq!(
            row(false, 1, F::PSH_ACK),
            [
                "ESTABLISHED",
                "ESTABLISHED",
                "SYN_SENT",
                "ESTABLISHED",
                "FIN_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "LAST_ACK",
                "ESTABLISHED",
                "ESTABLISHED"
            ]
        );
        assert_eq!(
            row(false, 1, F::RST),
            ["CLOSE", "CLOSE", "SYN_SENT", "CLOSE", "CLOSE", "TIME_WAIT", "CLOSE", "CLOSE", "CLOSE", "CLOSE", "CLOSE"]
        );
    }

    #[test]
    fn normal_input_only() {
        use TcpFlags as F;
        assert_eq!(row(false, 2, F::SYN), row(false, 0, F::SYN));
        assert_eq!(
            row(false, 2, F::FIN),
            [
                "CLOSE",
                "FIN_WAIT",
                "SYN_SENT",
                "TIME_WAIT",
                "FIN_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "LAST_ACK",
                "LISTEN",
                "TIME_WAIT"
            ]
        );
        assert_eq!(row(false, 2, F::ACK), row(false, 0, F::ACK));
        assert_eq!(
            row(false, 2, F::RST),
            ["CLOSE", "CLOSE", "CLOSE", "SYN_RECV", "CLOSE", "CLOSE", "CLOSE", "CLOSE", "LAST_ACK", "LISTEN", "CLOSE"]
        );
    }

    #[test]
    fn secure_tables() {
        use TcpFlags as F;
        assert_eq!(
            row(true, 0, F::SYN),
            [
                "SYN_RECV",
                "ESTABLISHED",
                "ESTABLISHED",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYN_RECV",
                "SYNACK"
            ]
        );
        assert_eq!(
            row(true, 0, F::FIN),
            [
                "CLOSE",
                "CLOSE_WAIT",
                "SYN_SENT",
                "TIME_WAIT",
                "TIME_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "LAST_ACK",
                "LISTEN",
                "SYNACK"
            ]
        );
        assert_eq!(
            row(true, 0, F::ACK),
            [
                "ESTABLISHED",
                "ESTABLISHED",
                "SYN_SENT",
                "SYN_RECV",
                "FIN_WAIT",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "CLOSE",
                "LISTEN",
                "SYNACK"
            ]
        );
        assert_eq!(
            row(true, 0, F::RST),
            ["CLOSE", "CLOSE", "CLOSE", "SYN_RECV", "CLOSE", "CLOSE", "CLOSE", "CLOSE", "LAST_ACK", "LISTEN", "CLOSE"]
        );
        assert_eq!(
            row(true, 1, F::SYN),
            [
                "SYN_SENT",
                "ESTABLISHED",
                "SYN_SENT",
                "SYNACK",
                "SYN_SENT",
                "SYN_SENT",
                "SYN_SENT",
                "SYN_SENT",
                "SYN_SENT",
                "LISTEN",
                "SYNACK"
            ]
        );
        for f in [F::FIN, F::ACK, F::RST] {
            assert_eq!(row(true, 1, f), row(false, 1, f), "{f}");
        }
        assert_eq!(
            row(true, 2, F::SYN),
            [
                "SYNACK",
                "ESTABLISHED",
                "ESTABLISHED",
                "SYN_RECV",
                "SYNACK",
                "SYNACK",
                "SYNACK",
                "SYNACK",
                "SYNACK",
                "SYNACK",
                "SYNACK"
            ]
        );
        for f in [F::FIN, F::ACK, F::RST] {
            assert_eq!(row(true, 2, f), row(false, 2, f), "{f}");
        }
    }

    #[test]
    fn flag_precedence_and_no_flags() {
        // RST wins over SYN, SYN over FIN, FIN over ACK.
        assert_eq!(next_state(false, 0, TcpFlags::RST | TcpFlags::SYN, TcpState::Established), TcpState::Close);
        assert_eq!(next_state(false, 0, TcpFlags::SYN | TcpFlags::FIN, TcpState::None), TcpState::SynRecv);
        assert_eq!(next_state(false, 0, TcpFlags::FIN_ACK, TcpState::Established), TcpState::CloseWait);
        // No RST/SYN/FIN/ACK: CLOSE, whatever the state.
        for s in TcpState::ALL {
            assert_eq!(next_state(false, 0, TcpFlags::PSH, s), TcpState::Close);
            assert_eq!(next_state(true, 1, TcpFlags::EMPTY, s), TcpState::Close);
        }
    }

    #[test]
    fn timeouts_and_activity() {
        let secs: Vec<u32> = TcpState::ALL.iter().map(|s| s.default_timeout_secs()).collect();
        assert_eq!(secs, [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
        let active: Vec<&str> = TcpState::ALL.iter().filter(|s| s.is_active()).map(|s| s.name()).collect();
        assert_eq!(active, ["ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"]);
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(TcpState::from_index(i as u8), Some(*s));
        }
        assert_eq!(TcpState::from_index(11), None);
    }
}

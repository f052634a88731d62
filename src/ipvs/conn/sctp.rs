//! SCTP association states as IPVS tracks them (`net/netfilter/ipvs/ip_vs_proto_sctp.c`).
//!
//! Each packet's first chunk type maps to one of ten events (DATA, INIT,
//! INIT ACK, COOKIE ECHO, COOKIE ACK, SHUTDOWN, SHUTDOWN ACK, SHUTDOWN
//! COMPLETE, ERROR, ABORT); the event and the direction pick the next of
//! fourteen states, and the state picks the timeout. Only ESTABLISHED counts
//! as active.

use std::fmt;

/// An SCTP association state (`IP_VS_SCTP_S_*`), in the kernel's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SctpState {
    /// Just created.
    None = 0,
    /// First INIT from the client, waiting for INIT ACK.
    Init1 = 1,
    /// A further INIT from the client.
    Init = 2,
    /// INIT ACK from the server, waiting for COOKIE ECHO.
    CookieSent = 3,
    /// COOKIE ECHO from the client, waiting for COOKIE ACK.
    CookieReplied = 4,
    /// INIT from the server (server-side setup), waiting for INIT ACK.
    CookieWait = 5,
    /// INIT ACK from the client, waiting for the server's COOKIE ECHO.
    Cookie = 6,
    /// COOKIE ECHO from the server, waiting for COOKIE ACK.
    CookieEchoed = 7,
    /// Established.
    Established = 8,
    /// SHUTDOWN from the server.
    ShutdownSent = 9,
    /// SHUTDOWN from the client.
    ShutdownReceived = 10,
    /// SHUTDOWN ACK sent.
    ShutdownAckSent = 11,
    /// INIT answered by ABORT.
    Rejected = 12,
    /// Closed.
    Closed = 13,
}

/// Number of SCTP states (`IP_VS_SCTP_S_LAST`).
pub const SCTP_STATES: usize = 14;

impl SctpState {
    /// Every state in kernel order.
    pub const ALL: [SctpState; SCTP_STATES] = [
        SctpState::None,
        SctpState::Init1,
        SctpState::Init,
        SctpState::CookieSent,
        SctpState::CookieReplied,
        SctpState::CookieWait,
        SctpState::Cookie,
        SctpState::CookieEchoed,
        SctpState::Established,
        SctpState::ShutdownSent,
        SctpState::ShutdownReceived,
        SctpState::ShutdownAckSent,
        SctpState::Rejected,
        SctpState::Closed,
    ];

    /// The state with kernel number `n`.
    pub const fn from_index(n: u8) -> Option<Self> {
        if (n as usize) < SCTP_STATES { Some(Self::ALL[n as usize]) } else { None }
    }

    /// The kernel number.
    #[inline]
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The name the kernel prints (`sctp_state_name_table`).
    pub const fn name(self) -> &'static str {
        match self {
            SctpState::None => "NONE",
            SctpState::Init1 => "INIT1",
            SctpState::Init => "INIT",
            SctpState::CookieSent => "C-SENT",
            SctpState::CookieReplied => "C-REPLIED",
            SctpState::CookieWait => "C-WAIT",
            SctpState::Cookie => "COOKIE",
            SctpState::CookieEchoed => "C-ECHOED",
            SctpState::Established => "ESTABLISHED",
            SctpState::ShutdownSent => "S-SENT",
            SctpState::ShutdownReceived => "S-RECEIVED",
            SctpState::ShutdownAckSent => "S-ACK-SENT",
            SctpState::Rejected => "REJECTED",
            SctpState::Closed => "CLOSED",
        }
    }

    /// Whether the association counts as active (only ESTABLISHED, as
    /// `set_sctp_state` counts it).
    pub const fn is_active(self) -> bool {
        matches!(self, SctpState::Established)
    }

    /// The default timeout in seconds (`sctp_timeouts[]`): 2 s for NONE, 4 s
    /// for INIT1 and REJECTED, 15 minutes for ESTABLISHED, and the maximum
    /// RTO plus one second (61 s) for the rest.
    pub const fn default_timeout_secs(self) -> u32 {
        match self {
            SctpState::None => 2,
            SctpState::Init1 | SctpState::Rejected => 3 + 1,
            SctpState::Established => 15 * 60,
            _ => 60 + 1,
        }
    }
}

impl fmt::Display for SctpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SCTP chunk types IPVS distinguishes (RFC 9260 §3.2).
pub mod chunk {
    /// DATA.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// SACK.
    pub const SACK: u8 = 3;
    /// HEARTBEAT.
    pub const HEARTBEAT: u8 = 4;
    /// HEARTBEAT ACK.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// ABORT.
    pub const ABORT: u8 = 6;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 7;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// ERROR.
    pub const ERROR: u8 = 9;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 10;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 11;
    /// ECNE.
    pub const ECN_ECNE: u8 = 12;
    /// CWR.
    pub const ECN_CWR: u8 = 13;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

/// What IPVS reads of an SCTP packet: the type of its first chunk and, when
/// that chunk is a COOKIE ECHO or COOKIE ACK, the type of the chunk bundled
/// after it (an ABORT there counts instead, as `set_sctp_state` checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SctpChunks {
    /// Type of the first chunk.
    pub first: u8,
    /// Type of the second chunk, if the packet has one.
    pub second: Option<u8>,
}

impl SctpChunks {
    /// A packet whose first chunk is `first`.
    pub const fn new(first: u8) -> Self {
        SctpChunks { first, second: None }
    }

    /// The same packet with a second chunk of type `second`.
    pub const fn then(mut self, second: u8) -> Self {
        self.second = Some(second);
        self
    }

    /// The chunk type that drives the state machine: an ABORT bundled after
    /// a COOKIE ECHO or COOKIE ACK replaces it.
    pub const fn effective(self) -> u8 {
        match (self.first, self.second) {
            (chunk::COOKIE_ECHO | chunk::COOKIE_ACK, Some(chunk::ABORT)) => chunk::ABORT,
            (first, _) => first,
        }
    }
}

/// The event a chunk type maps to (`sctp_events[]`); types the kernel does
/// not list, and any above SHUTDOWN COMPLETE, count as DATA.
const fn event(chunk_type: u8) -> usize {
    match chunk_type {
        chunk::INIT => 1,
        chunk::INIT_ACK => 2,
        chunk::COOKIE_ECHO => 3,
        chunk::COOKIE_ACK => 4,
        chunk::SHUTDOWN => 5,
        chunk::SHUTDOWN_ACK => 6,
        chunk::SHUTDOWN_COMPLETE => 7,
        chunk::ERROR => 8,
        chunk::ABORT => 9,
        _ => 0,
    }
}

use SctpState::{
    Closed as CL, Cookie as CO, CookieEchoed as CE, CookieReplied as CR, CookieSent as CS, CookieWait as CW,
    Established as ES, Init as IN, Init1 as I1, Rejected as RJ, ShutdownAckSent as SA, ShutdownReceived as SR,
    ShutdownSent as SS,
};

/// `sctp_states[direction][event][state]`: directions input, output,
/// input-only; events DATA, INIT, INIT ACK, COOKIE ECHO, COOKIE ACK,
/// SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE, ERROR, ABORT; columns the
/// current state in kernel order NONE INIT1 INIT C-SENT C-REPLIED C-WAIT
/// COOKIE C-ECHOED ESTABLISHED S-SENT S-RECEIVED S-ACK-SENT REJECTED CLOSED.
static TABLE: [[[SctpState; SCTP_STATES]; 10]; 3] = [
    [
        /* data */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* init */ [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
        /* i_ack */ [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_echo */ [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_ack */ [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
        /* shut */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        /* s_ack */ [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
        /* s_cmpl */ [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
        /* error */ [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
        /* abort */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    [
        /* data */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* init */ [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
        /* i_ack */ [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_echo */ [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
        /* c_ack */ [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
        /* shut */ [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
        /* s_ack */ [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
        /* s_cmpl */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* error */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* abort */ [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    [
        /* data */ [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* init */ [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
        /* i_ack */ [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_echo */ [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_ack */ [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
        /* shut */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        /* s_ack */ [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
        /* s_cmpl */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
        /* error */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* abort */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
];

/// The next state for a packet with `chunks` in table direction `dir`
/// (0 input, 1 output, 2 input-only) from `state` (`set_sctp_state`).
#[inline]
pub fn next_state(dir: usize, chunks: SctpChunks, state: SctpState) -> SctpState {
    TABLE[dir][event(chunks.effective())][state as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(dir: usize, ty: u8) -> Vec<&'static str> {
        SctpState::ALL.iter().map(|&s| next_state(dir, SctpChunks::new(ty), s).name()).collect()
    }

    #[test]
    fn client_setup_and_teardown() {
        // INIT, INIT ACK, COOKIE ECHO, COOKIE ACK through a NAT director.
        let mut s = SctpState::None;
        for (dir, ty, want) in [
            (0, chunk::INIT, SctpState::Init1),
            (1, chunk::INIT_ACK, SctpState::CookieSent),
            (0, chunk::COOKIE_ECHO, SctpState::CookieReplied),
            (1, chunk::COOKIE_ACK, SctpState::Established),
            (0, chunk::DATA, SctpState::Established),
            (0, chunk::SHUTDOWN, SctpState::ShutdownReceived),
            (1, chunk::SHUTDOWN_ACK, SctpState::ShutdownAckSent),
            (0, chunk::SHUTDOWN_COMPLETE, SctpState::Closed),
        ] {
            s = next_state(dir, SctpChunks::new(ty), s);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn rows_by_name() {
        assert_eq!(
            row(0, chunk::INIT),
            [
                "INIT1",
                "INIT",
                "INIT",
                "C-SENT",
                "C-REPLIED",
                "C-WAIT",
                "COOKIE",
                "C-ECHOED",
                "ESTABLISHED",
                "S-SENT",
                "S-RECEIVED",
                "S-ACK-SENT",
                "INIT",
                "INIT"
            ]
        );
        assert_eq!(
            row(1, chunk::INIT),
            [
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "ESTABLISHED",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT",
                "C-WAIT"
            ]
        );
        assert_eq!(
            row(2, chunk::COOKIE_ECHO),
            [
                "ESTABLISHED",
                "ESTABLISHED",
                "ESTABLISHED",
                "ESTABLISHED",
                "ESTABLISHED",
                "ESTABLISHED",
                "COOKIE",
                "C-ECHOED",
                "ESTABLISHED",
                "S-SENT",
                "S-RECEIVED",
                "S-ACK-SENT",
                "REJECTED",
                "CLOSED"
            ]
        );
        assert_eq!(
            row(0, chunk::ABORT),
            [
                "CLOSED", "CLOSED", "CLOSED", "CLOSED", "CLOSED", "REJECTED", "CLOSED", "CLOSED", "CLOSED", "CLOSED",
                "CLOSED", "CLOSED", "CLOSED", "CLOSED"
            ]
        );
        assert_eq!(
            row(1, chunk::ABORT),
            [
                "CLOSED", "REJECTED", "CLOSED", "CLOSED", "CLOSED", "CLOSED", "CLOSED", "CLOSED", "CLOSED", "CLOSED",
                "CLOSED", "CLOSED", "CLOSED", "CLOSED"
            ]
        );
        assert_eq!(
            row(1, chunk::SHUTDOWN_ACK),
            [
                "S-ACK-SENT",
                "S-ACK-SENT",
                "S-ACK-SENT",
                "S-ACK-SENT",
                "S-ACK-SENT",
                "C-WAIT",
                "COOKIE",
                "C-ECHOED",
                "ESTABLISHED",
                "S-ACK-SENT",
                "S-ACK-SENT",
                "S-ACK-SENT",
                "REJECTED",
                "CLOSED"
            ]
        );
        assert_eq!(
            row(2, chunk::SHUTDOWN_COMPLETE),
            [
                "CLOSED",
                "CLOSED",
                "CLOSED",
                "CLOSED",
                "CLOSED",
                "C-WAIT",
                "COOKIE",
                "C-ECHOED",
                "ESTABLISHED",
                "S-SENT",
                "CLOSED",
                "CLOSED",
                "REJECTED",
                "CLOSED"
            ]
        );
        assert_eq!(
            row(0, chunk::ERROR),
            [
                "CLOSED",
                "INIT1",
                "INIT",
                "C-SENT",
                "C-REPLIED",
                "C-WAIT",
                "COOKIE",
                "CLOSED",
                "ESTABLISHED",
                "S-SENT",
                "S-RECEIVED",
                "S-ACK-SENT",
                "REJECTED",
                "CLOSED"
            ]
        );
    }

    #[test]
    fn data_like_and_unknown_chunks() {
        for ty in [
            chunk::DATA,
            chunk::SACK,
            chunk::HEARTBEAT,
            chunk::HEARTBEAT_ACK,
            chunk::ECN_ECNE,
            chunk::ECN_CWR,
            15,
            64,
            255,
        ] {
            assert_eq!(row(0, ty), row(0, chunk::DATA), "type {ty}");
        }
    }

    #[test]
    fn abort_after_cookie() {
        let c = SctpChunks::new(chunk::COOKIE_ECHO).then(chunk::ABORT);
        assert_eq!(c.effective(), chunk::ABORT);
        assert_eq!(next_state(0, c, SctpState::CookieSent), SctpState::Closed);
        // Only after COOKIE ECHO / COOKIE ACK.
        assert_eq!(SctpChunks::new(chunk::DATA).then(chunk::ABORT).effective(), chunk::DATA);
        assert_eq!(SctpChunks::new(chunk::COOKIE_ACK).then(chunk::DATA).effective(), chunk::COOKIE_ACK);
    }

    #[test]
    fn timeouts_and_activity() {
        let secs: Vec<u32> = SctpState::ALL.iter().map(|s| s.default_timeout_secs()).collect();
        assert_eq!(secs, [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61]);
        assert_eq!(SctpState::ALL.iter().filter(|s| s.is_active()).count(), 1);
    }

    /// All 30 rows of the kernel's `sctp_states[direction][event][state]`
    /// (`ip_vs_proto_sctp.c`, Linux 6.1), transcribed here as two-letter
    /// codes, one row per (direction, event), columns in kernel state order
    /// NO I1 IN CS CR CW CO CE ES SS SR SA RJ CL; every cell is checked
    /// against [`next_state`].
    #[test]
    fn all_thirty_rows_match_the_kernel() {
        const KERNEL: [(usize, u8, &str); 30] = [
            (0, chunk::DATA, "ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL"),
            (0, chunk::INIT, "I1 IN IN CS CR CW CO CE ES SS SR SA IN IN"),
            (0, chunk::INIT_ACK, "CW CW CW CS CR CO CO CE ES SS SR SA RJ CL"),
            (0, chunk::COOKIE_ECHO, "CR IN IN CR CR CW CO CE ES SS SR SA RJ CL"),
            (0, chunk::COOKIE_ACK, "ES I1 IN CS CR CW CO ES ES SS SR SA RJ CL"),
            (0, chunk::SHUTDOWN, "SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL"),
            (0, chunk::SHUTDOWN_ACK, "CL IN IN CS CR CW CO CE ES CL SR CL RJ CL"),
            (0, chunk::SHUTDOWN_COMPLETE, "CL CL CL CS CR CW CO CE ES SS SR CL RJ CL"),
            (0, chunk::ERROR, "CL I1 IN CS CR CW CO CL ES SS SR SA RJ CL"),
            (0, chunk::ABORT, "CL CL CL CL CL RJ CL CL CL CL CL CL CL CL"),
            (1, chunk::DATA, "ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL"),
            (1, chunk::INIT, "CW CW CW CW CW CW CW CW ES CW CW CW CW CW"),
            (1, chunk::INIT_ACK, "CS CS CS CS CR CW CO CE ES SS SR SA RJ CL"),
            (1, chunk::COOKIE_ECHO, "CE CE CE CE CE CE CE CE ES SS SR SA RJ CL"),
            (1, chunk::COOKIE_ACK, "ES ES ES ES ES ES ES ES ES SS SR SA RJ CL"),
            (1, chunk::SHUTDOWN, "SS SS SS SS SS SS SS SS SS SS SR SA RJ CL"),
            (1, chunk::SHUTDOWN_ACK, "SA SA SA SA SA CW CO CE ES SA SA SA RJ CL"),
            (1, chunk::SHUTDOWN_COMPLETE, "CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL"),
            (1, chunk::ERROR, "CL CL CL CL CL CW CO CE ES SS SR SA RJ CL"),
            (1, chunk::ABORT, "CL RJ CL CL CL CL CL CL CL CL CL CL CL CL"),
            (2, chunk::DATA, "ES I1 IN CS CR ES CO CE ES SS SR SA RJ CL"),
            (2, chunk::INIT, "I1 IN IN IN IN IN CO CE ES SS SR SA IN IN"),
            (2, chunk::INIT_ACK, "CE CE CE CE CE CE CO CE ES SS SR SA RJ CL"),
            (2, chunk::COOKIE_ECHO, "ES ES ES ES ES ES CO CE ES SS SR SA RJ CL"),
            (2, chunk::COOKIE_ACK, "ES I1 IN ES ES CW ES ES ES SS SR SA RJ CL"),
            (2, chunk::SHUTDOWN, "SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL"),
            (2, chunk::SHUTDOWN_ACK, "CL IN IN CS CR CW CO CE CL CL SR CL RJ CL"),
            (2, chunk::SHUTDOWN_COMPLETE, "CL CL CL CL CL CW CO CE ES SS CL CL RJ CL"),
            (2, chunk::ERROR, "CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL"),
            (2, chunk::ABORT, "CL CL CL CL CL RJ CL CL CL CL CL CL CL CL"),
        ];
        fn code(s: SctpState) -> &'static str {
            ["NO", "I1", "IN", "CS", "CR", "CW", "CO", "CE", "ES", "SS", "SR", "SA", "RJ", "CL"][s as usize]
        }
        // The codes name the states the kernel's way.
        let names: Vec<&str> = SctpState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names.join(" "),
            "NONE INIT1 INIT C-SENT C-REPLIED C-WAIT COOKIE C-ECHOED ESTABLISHED S-SENT S-RECEIVED S-ACK-SENT REJECTED CLOSED"
        );
        let mut seen = std::collections::BTreeSet::new();
        for (dir, ty, want) in KERNEL {
            assert!(seen.insert((dir, ty)), "row {dir}/{ty} twice");
            let got: Vec<&str> =
                SctpState::ALL.iter().map(|&s| code(next_state(dir, SctpChunks::new(ty), s))).collect();
            assert_eq!(got.join(" "), want, "direction {dir}, chunk type {ty}");
        }
        assert_eq!(seen.len(), 30);
    }
}

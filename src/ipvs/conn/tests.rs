//! Behaviour of the table through its entry point, one rule per test, each
//! checked against what the kernel does (file and function named in the
//! test's comment).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::ipvs::dest::{Dest, TunnelParams};
use crate::ipvs::{
    DestConfig, Flow, PersistMask, Persistence, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey,
};

const VIP: &str = "192.0.2.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Lab {
    table: ConnTable,
    svc: Service,
    t0: Instant,
}

impl Lab {
    fn new(cfg: ServiceConfig, dests: &[DestConfig]) -> Lab {
        Self::with_table(cfg, dests, ConnTableConfig::default().shards(4).seed(9))
    }

    fn with_table(cfg: ServiceConfig, dests: &[DestConfig], tc: ConnTableConfig) -> Lab {
        let mut svc = Service::new(cfg, 0).unwrap();
        for d in dests {
            svc.add_dest(*d).unwrap();
        }
        let t0 = Instant::now();
        Lab { table: ConnTable::new(tc, t0).unwrap(), svc, t0 }
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn send(&mut self, flow: Flow, seg: Segment, secs: f64) -> Verdict {
        let now = self.at(secs);
        self.table.process(&mut self.svc, &Packet::input(flow, seg), now).unwrap()
    }

    fn reply(&mut self, flow: Flow, seg: Segment, secs: f64) -> Verdict {
        let now = self.at(secs);
        self.table.process(&mut self.svc, &Packet::output(flow, seg), now).unwrap()
    }

    fn dest(&self, addr: &str) -> Arc<Dest> {
        Arc::clone(self.svc.dest(addr.parse().unwrap()).unwrap())
    }

    fn counts(&self, addr: &str) -> (u32, u32, u32) {
        let d = self.dest(addr);
        (d.active_conns(), d.inactive_conns(), d.persistent_conns())
    }

    fn entries(&self, secs: f64) -> Vec<ConnEntry> {
        let mut v = self.table.entries(self.at(secs));
        v.sort_by_key(|e| (e.template, e.client, e.virtual_addr));
        v
    }

    fn only(&self, secs: f64) -> ConnEntry {
        let v = self.entries(secs);
        assert_eq!(v.len(), 1, "{v:#?}");
        v[0].clone()
    }
}

fn tcp_svc() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip(VIP), 80), "rr")
}

fn client(n: u8, port: u16) -> Flow {
    Flow::new(Protocol::Tcp, IpAddr::V4([203, 0, 113, n].into()), port, ip(VIP), 80)
}

/// The reply of a masqueraded connection: from the server to the client.
fn back(server: &str, client: &Flow) -> Flow {
    let s: SocketAddr = server.parse().unwrap();
    Flow::new(client.protocol, s.ip(), s.port(), client.src, client.src_port)
}

fn tcp(f: TcpFlags) -> Segment {
    Segment::Tcp(f)
}

fn fwd(v: &Verdict) -> &Forward {
    v.forward().unwrap_or_else(|| panic!("not forwarded: {v:?}"))
}

fn state(v: &Verdict) -> &'static str {
    fwd(v).state.name()
}

const S1: &str = "198.51.100.10:8080";
const S2: &str = "198.51.100.11:8080";

fn nat2() -> [DestConfig; 2] {
    [DestConfig::masq(ip("198.51.100.10"), 8080), DestConfig::masq(ip("198.51.100.11"), 8080)]
}

// ip_vs_proto_tcp.c set_tcp_state through a NAT director: the client closes
// first. Counters follow tcp_state_active_table; timeouts tcp_timeouts[].
#[test]
fn tcp_nat_client_closes_first() {
    let mut lab = Lab::new(tcp_svc(), &nat2()[..1]);
    let c = client(10, 40000);
    let r = back(S1, &c);
    let v = lab.send(c, tcp(TcpFlags::SYN), 0.0);
    assert!(fwd(&v).created);
    assert_eq!(fwd(&v).dest, S1.parse().unwrap());
    assert_eq!(fwd(&v).method, crate::ipvs::ForwardMethod::Masq);
    assert_eq!(state(&v), "SYN_RECV");
    assert_eq!(lab.counts(S1), (1, 0, 0));
    assert_eq!(lab.only(0.0).expires_secs, 60);
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::SYN_ACK), 0.1)), "SYN_RECV");
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), 0.2)), "ESTABLISHED");
    assert_eq!(lab.only(0.2).expires_secs, 900);
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::PSH_ACK), 1.0)), "ESTABLISHED");
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::PSH_ACK), 1.1)), "ESTABLISHED");
    assert_eq!(lab.counts(S1), (1, 0, 0));
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::FIN_ACK), 2.0)), "CLOSE_WAIT");
    assert_eq!(lab.counts(S1), (0, 1, 0));
    assert_eq!(lab.only(2.0).expires_secs, 60);
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::ACK), 2.1)), "CLOSE_WAIT");
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::FIN_ACK), 2.2)), "TIME_WAIT");
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), 2.3)), "TIME_WAIT");
    assert_eq!(lab.only(2.3).expires_secs, 120);
    assert_eq!(lab.table.expire(lab.at(122.2)), Expired::default());
    assert_eq!(lab.table.expire(lab.at(122.3)), Expired { conns: 1, templates: 0 });
    assert!(lab.table.is_empty());
    assert_eq!(lab.counts(S1), (0, 0, 0));
}

// The server closes first: ES + output FIN -> FIN_WAIT, then the client's
// FIN -> TIME_WAIT.
#[test]
fn tcp_nat_server_closes_first() {
    let mut lab = Lab::new(tcp_svc(), &nat2()[..1]);
    let c = client(10, 40001);
    let r = back(S1, &c);
    lab.send(c, tcp(TcpFlags::SYN), 0.0);
    lab.reply(r, tcp(TcpFlags::SYN_ACK), 0.0);
    lab.send(c, tcp(TcpFlags::ACK), 0.0);
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::FIN_ACK), 1.0)), "FIN_WAIT");
    assert_eq!(lab.counts(S1), (0, 1, 0));
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), 1.1)), "FIN_WAIT");
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::FIN_ACK), 1.2)), "TIME_WAIT");
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::ACK), 1.3)), "TIME_WAIT");
}

// DR: no output is ever seen, so the input-only table applies
// (IP_VS_CONN_F_NOOUTPUT); a client FIN on ESTABLISHED goes to FIN_WAIT.
#[test]
fn tcp_dr_uses_input_only_table() {
    let mut lab = Lab::new(tcp_svc(), &[DestConfig::route(ip("198.51.100.10"), 80)]);
    let c = client(10, 40002);
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::SYN), 0.0)), "SYN_RECV");
    assert_eq!(fwd(&lab.send(c, tcp(TcpFlags::ACK), 0.1)).method, crate::ipvs::ForwardMethod::Route);
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::FIN_ACK), 1.0)), "FIN_WAIT");
    // A RST on SYNACK differs between the input (SYN_RECV) and input-only
    // (CLOSE) tables; check the input-only row on a fresh connection.
    let c2 = client(11, 40002);
    lab.send(c2, tcp(TcpFlags::SYN), 0.0);
    assert_eq!(state(&lab.send(c2, tcp(TcpFlags::FIN), 0.1)), "TIME_WAIT");
    // A reply, if one ever passes, clears the flag and uses the output table.
    let c3 = client(12, 40002);
    lab.send(c3, tcp(TcpFlags::SYN), 0.0);
    lab.send(c3, tcp(TcpFlags::ACK), 0.0);
    let r3 = Flow::new(Protocol::Tcp, ip(VIP), 80, c3.src, c3.src_port);
    assert_eq!(state(&lab.reply(r3, tcp(TcpFlags::ACK), 0.1)), "ESTABLISHED");
    assert_eq!(state(&lab.send(c3, tcp(TcpFlags::FIN), 0.2)), "CLOSE_WAIT");
}

// RST moves to CLOSE (10 s); a segment without RST/SYN/FIN/ACK also moves to
// CLOSE (tcp_state_idx < 0 in set_tcp_state).
#[test]
fn tcp_rst_and_flagless_segments_close() {
    let mut lab = Lab::new(tcp_svc(), &nat2()[..1]);
    let c = client(10, 40003);
    lab.send(c, tcp(TcpFlags::SYN), 0.0);
    lab.send(c, tcp(TcpFlags::ACK), 0.0);
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::RST), 1.0)), "CLOSE");
    assert_eq!(lab.only(1.0).expires_secs, 10);
    assert_eq!(lab.counts(S1), (0, 1, 0));
    let c2 = client(11, 40003);
    lab.send(c2, tcp(TcpFlags::SYN), 0.0);
    lab.send(c2, tcp(TcpFlags::ACK), 0.0);
    assert_eq!(state(&lab.send(c2, tcp(TcpFlags::PSH), 2.0)), "CLOSE");
}

// tcp_conn_schedule: without a connection only a SYN without RST schedules;
// sloppy_tcp lets any non-RST segment schedule.
#[test]
fn tcp_only_syn_schedules_unless_sloppy() {
    let mut lab = Lab::new(tcp_svc(), &nat2()[..1]);
    let c = client(10, 40004);
    assert_eq!(lab.send(c, tcp(TcpFlags::ACK), 0.0), Verdict::Pass(PassReason::NotNewConnection));
    assert_eq!(lab.send(c, tcp(TcpFlags::RST | TcpFlags::SYN), 0.0), Verdict::Pass(PassReason::NotNewConnection));
    assert!(lab.table.is_empty());
    lab.table.set_sysctls(Sysctls { sloppy_tcp: true, ..Sysctls::default() }).unwrap();
    assert_eq!(lab.send(c, tcp(TcpFlags::RST), 0.0), Verdict::Pass(PassReason::NotNewConnection));
    let v = lab.send(c, tcp(TcpFlags::ACK), 0.0);
    assert!(fwd(&v).created);
    assert_eq!(state(&v), "ESTABLISHED");
    assert_eq!(lab.counts(S1), (1, 0, 0));
    // A reply with no connection passes (ip_vs_out).
    let stranger = back(S1, &client(99, 1));
    assert_eq!(lab.reply(stranger, tcp(TcpFlags::ACK), 0.0), Verdict::Pass(PassReason::NoConnection));
}

// secure_tcp: tcp_states_dos keeps a lone ACK after SYN in SYN_RECV and
// answers a second client SYN on SYN_RECV... with SYN_RECV; SYN+ACK from the
// server moves to SYNACK.
#[test]
fn secure_tcp_tables() {
    let mut lab = Lab::new(tcp_svc(), &nat2()[..1]);
    lab.table.set_sysctls(Sysctls { secure_tcp: true, ..Sysctls::default() }).unwrap();
    let c = client(10, 40005);
    let r = back(S1, &c);
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::SYN), 0.0)), "SYN_RECV");
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), 0.1)), "SYN_RECV");
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::SYN_ACK), 0.2)), "SYNACK");
    assert_eq!(lab.only(0.2).expires_secs, 120);
    assert_eq!(lab.counts(S1), (1, 0, 0)); // SYNACK counts as active
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), 0.3)), "SYNACK");
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::ACK), 0.4)), "ESTABLISHED");
}

// udp_state_transition: one state, 300 s; never active; --set udp changes the
// timeout at the next packet.
#[test]
fn udp_flow_and_set_timeout() {
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Udp, ip(VIP), 53), "rr");
    let mut lab = Lab::new(cfg, &[DestConfig::masq(ip("198.51.100.10"), 5353)]);
    let c = Flow::new(Protocol::Udp, ip("203.0.113.10"), 5000, ip(VIP), 53);
    let v = lab.send(c, Segment::Udp, 0.0);
    assert_eq!(state(&v), "UDP");
    assert_eq!(lab.counts("198.51.100.10:5353"), (0, 1, 0));
    assert_eq!(lab.only(0.0).expires_secs, 300);
    let r = back("198.51.100.10:5353", &c);
    assert_eq!(state(&lab.reply(r, Segment::Udp, 1.0)), "UDP");
    lab.table.set_timeouts(&crate::ipvs::Timeouts { tcp: 0, tcp_fin: 0, udp: 10 }).unwrap();
    assert_eq!(lab.only(1.0).expires_secs, 300); // unchanged until the next packet
    lab.send(c, Segment::Udp, 2.0);
    assert_eq!(lab.only(2.0).expires_secs, 10);
    assert_eq!(lab.table.expire(lab.at(12.0)).conns, 1);
    assert_eq!(lab.counts("198.51.100.10:5353"), (0, 0, 0));
}

// set_sctp_state through a NAT director, and sctp_conn_schedule's rules.
#[test]
fn sctp_association() {
    use sctp::chunk::*;
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Sctp, ip(VIP), 5000), "rr");
    let mut lab = Lab::new(cfg, &[DestConfig::masq(ip("198.51.100.10"), 5000)]);
    let s = "198.51.100.10:5000";
    let c = Flow::new(Protocol::Sctp, ip("203.0.113.10"), 6000, ip(VIP), 5000);
    let r = back(s, &c);
    let ch = |t| Segment::Sctp(SctpChunks::new(t));
    assert_eq!(lab.send(c, ch(DATA), 0.0), Verdict::Pass(PassReason::NotNewConnection));
    assert_eq!(lab.send(c, ch(ABORT), 0.0), Verdict::Pass(PassReason::NotNewConnection));
    assert_eq!(state(&lab.send(c, ch(INIT), 0.0)), "INIT1");
    assert_eq!(lab.only(0.0).expires_secs, 4);
    assert_eq!(state(&lab.reply(r, ch(INIT_ACK), 0.1)), "C-SENT");
    assert_eq!(state(&lab.send(c, ch(COOKIE_ECHO), 0.2)), "C-REPLIED");
    assert_eq!(lab.counts(s), (0, 1, 0));
    assert_eq!(state(&lab.reply(r, ch(COOKIE_ACK), 0.3)), "ESTABLISHED");
    assert_eq!(lab.counts(s), (1, 0, 0));
    assert_eq!(lab.only(0.3).expires_secs, 900);
    assert_eq!(state(&lab.send(c, ch(SHUTDOWN), 1.0)), "S-RECEIVED");
    assert_eq!(lab.counts(s), (0, 1, 0));
    assert_eq!(state(&lab.reply(r, ch(SHUTDOWN_ACK), 1.1)), "S-ACK-SENT");
    assert_eq!(state(&lab.send(c, ch(SHUTDOWN_COMPLETE), 1.2)), "CLOSED");
    // A new INIT on CLOSED replaces it (conn_reuse_mode, SCTP CLOSED).
    let v = lab.send(c, ch(INIT), 2.0);
    assert!(fwd(&v).created);
    assert_eq!(state(&v), "INIT1");
    // An ABORT bundled after COOKIE ECHO counts as ABORT.
    let c2 = Flow::new(Protocol::Sctp, ip("203.0.113.11"), 6000, ip(VIP), 5000);
    lab.send(c2, ch(INIT), 0.0);
    lab.reply(back(s, &c2), ch(INIT_ACK), 0.0);
    let v = lab.send(c2, Segment::Sctp(SctpChunks::new(COOKIE_ECHO).then(ABORT)), 0.1);
    assert_eq!(state(&v), "CLOSED");
    // sloppy_sctp: DATA may open an association (NONE + DATA -> ESTABLISHED).
    lab.table.set_sysctls(Sysctls { sloppy_sctp: true, ..Sysctls::default() }).unwrap();
    let c3 = Flow::new(Protocol::Sctp, ip("203.0.113.12"), 6000, ip(VIP), 5000);
    assert_eq!(state(&lab.send(c3, ch(DATA), 0.0)), "ESTABLISHED");
}

// conn_reuse_mode (ip_vs_in, is_new_conn_expected): a SYN on TIME_WAIT or
// CLOSE expires the old connection and schedules afresh; mode 0 keeps it.
#[test]
fn conn_reuse_mode() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    let c = client(10, 40006);
    let r = back(S2, &c);
    assert_eq!(fwd(&lab.send(c, tcp(TcpFlags::SYN), 0.0)).dest, S2.parse().unwrap());
    lab.reply(r, tcp(TcpFlags::SYN_ACK), 0.0);
    lab.send(c, tcp(TcpFlags::ACK), 0.0);
    lab.send(c, tcp(TcpFlags::FIN_ACK), 1.0);
    lab.reply(r, tcp(TcpFlags::FIN_ACK), 1.0);
    assert_eq!(lab.only(1.0).state.name(), "TIME_WAIT");
    let v = lab.send(c, tcp(TcpFlags::SYN), 2.0);
    assert!(fwd(&v).created);
    assert_eq!(fwd(&v).dest, S1.parse().unwrap()); // rr moved on
    assert_eq!(lab.counts(S2), (0, 0, 0));
    assert_eq!(lab.counts(S1), (1, 0, 0));
    assert_eq!(lab.table.len(), 1);
    // Mode 0: the SYN moves the old connection instead (TIME_WAIT + syn).
    lab.table.set_sysctls(Sysctls { conn_reuse_mode: 0, ..Sysctls::default() }).unwrap();
    lab.send(c, tcp(TcpFlags::RST), 3.0);
    let v = lab.send(c, tcp(TcpFlags::SYN), 4.0);
    assert!(!fwd(&v).created);
    assert_eq!(state(&v), "SYN_RECV");
}

// conn_reuse_mode bit 2: FIN_WAIT without any reply seen (DR) is reusable too.
#[test]
fn conn_reuse_mode_fin_wait_without_output() {
    let dr = [DestConfig::route(ip("198.51.100.10"), 80), DestConfig::route(ip("198.51.100.11"), 80)];
    let mut lab = Lab::new(tcp_svc(), &dr);
    let c = client(10, 40007);
    lab.send(c, tcp(TcpFlags::SYN), 0.0);
    lab.send(c, tcp(TcpFlags::ACK), 0.0);
    lab.send(c, tcp(TcpFlags::FIN_ACK), 1.0);
    assert_eq!(lab.only(1.0).state.name(), "FIN_WAIT");
    assert!(!fwd(&lab.send(c, tcp(TcpFlags::SYN), 2.0)).created); // mode 1: kept (FIN_WAIT + syn -> SYN_RECV)
    lab.send(c, tcp(TcpFlags::ACK), 2.0);
    lab.send(c, tcp(TcpFlags::FIN_ACK), 3.0);
    lab.table.set_sysctls(Sysctls { conn_reuse_mode: 3, ..Sysctls::default() }).unwrap();
    assert!(fwd(&lab.send(c, tcp(TcpFlags::SYN), 4.0)).created);
}

// ip_vs_in "Check the server status": a removed server's connection drops
// packets, or with expire_nodest_conn is expired and rescheduled.
#[test]
fn removed_server_and_expire_nodest_conn() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    let c = client(10, 40008);
    lab.send(c, tcp(TcpFlags::SYN), 0.0); // -> S2 (newest first)
    lab.send(c, tcp(TcpFlags::ACK), 0.0);
    let gone = lab.svc.del_dest(S2.parse().unwrap()).unwrap();
    assert_eq!(lab.send(c, tcp(TcpFlags::ACK), 1.0), Verdict::Drop(DropReason::DestUnavailable));
    assert_eq!(gone.active_conns(), 1);
    lab.table.set_sysctls(Sysctls { expire_nodest_conn: true, ..Sysctls::default() }).unwrap();
    // A non-SYN packet expires it but cannot open a new connection.
    assert_eq!(lab.send(c, tcp(TcpFlags::ACK), 2.0), Verdict::Pass(PassReason::NotNewConnection));
    assert_eq!(gone.active_conns(), 0);
    assert!(lab.table.is_empty());
    let v = lab.send(c, tcp(TcpFlags::SYN), 3.0);
    assert_eq!(fwd(&v).dest, S1.parse().unwrap());
}

// Weight 0 (quiescent) keeps existing connections; with expire_nodest_conn a
// SYN on such a connection reschedules it (ip_vs_in).
#[test]
fn quiescent_server_keeps_connections() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    let c = client(10, 40009);
    lab.send(c, tcp(TcpFlags::SYN), 0.0); // -> S2
    lab.send(c, tcp(TcpFlags::ACK), 0.0);
    lab.svc.edit_dest(DestConfig::masq(ip("198.51.100.11"), 8080).weight(0)).unwrap();
    let v = lab.send(c, tcp(TcpFlags::ACK), 1.0);
    assert_eq!(fwd(&v).dest, S2.parse().unwrap());
    assert_eq!(fwd(&lab.send(client(11, 1), tcp(TcpFlags::SYN), 1.0)).dest, S1.parse().unwrap());
    // A SYN on the established connection: ES + syn -> ES, same server.
    assert_eq!(fwd(&lab.send(c, tcp(TcpFlags::SYN), 2.0)).dest, S2.parse().unwrap());
    lab.table.set_sysctls(Sysctls { expire_nodest_conn: true, ..Sysctls::default() }).unwrap();
    let v = lab.send(c, tcp(TcpFlags::SYN), 3.0);
    assert!(fwd(&v).created);
    assert_eq!(fwd(&v).dest, S1.parse().unwrap());
    assert_eq!(lab.counts(S2), (0, 0, 0));
}

// The overload flag (ip_vs_bind_dest / ip_vs_unbind_dest /
// __ip_vs_dest_update_overload): set when the total reaches the upper
// threshold, cleared when it leaves the lower one (75% of upper by default).
#[test]
fn thresholds_set_and_clear_overload() {
    let dests =
        [DestConfig::masq(ip("198.51.100.10"), 8080).thresholds(4, 0), DestConfig::masq(ip("198.51.100.11"), 8080)];
    let mut lab = Lab::new(tcp_svc(), &dests);
    let s1 = lab.dest(S1);
    // rr alternates S2, S1: after 8 SYNs S1 has 4 connections and is overloaded.
    for k in 0..8 {
        lab.send(client(k, 1000), tcp(TcpFlags::SYN), 0.0);
    }
    assert_eq!(s1.total_conns(), 4);
    assert!(s1.is_overloaded());
    for k in 8..12 {
        assert_eq!(fwd(&lab.send(client(k, 1000), tcp(TcpFlags::SYN), 0.0)).dest, S2.parse().unwrap());
    }
    // SYN_RECV lasts 60 s; refresh all but S1's so that only they expire...
    // instead, close S1's connections one by one with RST (CLOSE, 10 s).
    let mine: Vec<Flow> = (0..8)
        .map(|k| client(k, 1000))
        .filter(|f| lab.table.lookup(f, lab.t0).unwrap().dest == S1.parse().unwrap())
        .collect();
    for f in &mine {
        // (an input RST on SYN_RECV stays SYN_RECV: establish first)
        lab.send(*f, tcp(TcpFlags::ACK), 1.0);
        lab.send(*f, tcp(TcpFlags::RST), 1.0);
    }
    assert!(s1.is_overloaded()); // still 4 connections, now inactive
    lab.send(mine[0], tcp(TcpFlags::ACK), 5.0); // keep one alive longer (CLOSE + ack -> CLOSE)
    lab.table.expire(lab.at(11.0)); // three go: 4 -> 3 leaves the lower threshold (3)
    assert_eq!(s1.total_conns(), 1);
    assert!(!s1.is_overloaded());
    // A threshold edit re-evaluates the flag against the current total.
    lab.svc.edit_dest(DestConfig::masq(ip("198.51.100.10"), 8080).thresholds(1, 1)).unwrap();
    assert!(s1.is_overloaded());
    lab.svc.edit_dest(DestConfig::masq(ip("198.51.100.10"), 8080).thresholds(0, 0)).unwrap();
    assert!(!s1.is_overloaded());
}

fn persistent(mask: &str) -> ServiceConfig {
    let p = Persistence { timeout: 300, mask: PersistMask::V4(mask.parse().unwrap()) };
    tcp_svc().persistent(p)
}

// ip_vs_sched_persist with a /24 netmask: a second client of the same /24
// goes where the first went, through one template
// <TCP, 203.0.113.0:0, VIP:80, server:8080>.
#[test]
fn persistence_with_netmask() {
    let mut lab = Lab::new(persistent("255.255.255.0"), &nat2());
    let a = client(10, 40010);
    let b = client(11, 40011);
    let other = Flow::new(Protocol::Tcp, ip("198.18.0.1"), 40012, ip(VIP), 80);
    let va = lab.send(a, tcp(TcpFlags::SYN), 0.0);
    assert!(fwd(&va).persistent);
    let vb = lab.send(b, tcp(TcpFlags::SYN), 1.0);
    assert_eq!(fwd(&va).dest, fwd(&vb).dest);
    assert_ne!(fwd(&lab.send(other, tcp(TcpFlags::SYN), 1.0)).dest, fwd(&va).dest);
    let server = fwd(&va).dest.to_string();
    assert_eq!(lab.counts(&server), (2, 0, 1));
    let tpl: Vec<ConnEntry> = lab.entries(1.0).into_iter().filter(|e| e.template).collect();
    assert_eq!(tpl.len(), 2);
    let t = tpl.iter().find(|e| e.client.ip() == ip("203.0.113.0")).unwrap();
    assert_eq!(t.client.port(), 0);
    assert_eq!(t.virtual_addr, format!("{VIP}:80").parse().unwrap());
    assert_eq!(t.dest.to_string(), server);
    assert_eq!(t.state.name(), "NONE");
    assert_eq!(t.expires_secs, 300); // refreshed by b's connection at 1 s
    assert_eq!(t.controls, 2);
    // ESTABLISHED assures the template (ip_vs_control_assure_ct).
    lab.send(a, tcp(TcpFlags::ACK), 1.5);
    let t = lab.entries(1.5).into_iter().find(|e| e.template && e.client.ip() == ip("203.0.113.0")).unwrap();
    assert_eq!(t.state.name(), "ASSURED");
    // Controlled connections are never reused (is_new_conn_expected).
    lab.send(b, tcp(TcpFlags::RST), 2.0);
    assert!(!fwd(&lab.send(b, tcp(TcpFlags::SYN), 3.0)).created);
}

// ip_vs_conn_expire for a template: with no connection left it goes and the
// server's persistent count drops; with connections it lives 60 s more
// (expire_later) and keeps that timeout on later refreshes.
#[test]
fn template_expiry_and_expire_later() {
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2()[..1]);
    let a = client(10, 40013);
    lab.send(a, tcp(TcpFlags::SYN), 0.0);
    lab.send(a, tcp(TcpFlags::ACK), 0.0); // ES: 900 s
    assert_eq!(lab.counts(S1), (1, 0, 1));
    assert_eq!(lab.table.expire(lab.at(300.0)), Expired::default());
    let t = lab.entries(300.0).into_iter().find(|e| e.template).unwrap();
    assert_eq!(t.expires_secs, 60);
    assert_eq!(lab.table.expire(lab.at(600.0)), Expired::default());
    // A new connection refreshes the template with 60 s now, not 300.
    let a2 = client(10, 40014);
    lab.send(a2, tcp(TcpFlags::SYN), 601.0);
    let t = lab.entries(601.0).into_iter().find(|e| e.template).unwrap();
    assert_eq!(t.expires_secs, 60);
    assert_eq!(t.controls, 2);
    // Both connections end; the template goes at its next expiry after that.
    lab.send(a2, tcp(TcpFlags::ACK), 602.0);
    lab.send(a, tcp(TcpFlags::RST), 602.0);
    lab.send(a2, tcp(TcpFlags::RST), 602.0);
    assert_eq!(lab.table.expire(lab.at(612.0)), Expired { conns: 2, templates: 0 });
    assert_eq!(lab.counts(S1), (0, 0, 1));
    assert_eq!(lab.table.expire(lab.at(661.0)), Expired { conns: 0, templates: 1 });
    assert_eq!(lab.counts(S1), (0, 0, 0));
    assert!(lab.table.is_empty());
}

// A template whose time comes in the same expire() call as its last
// connection's: alive-ness is judged at the template's own due time, and a
// connection due at the same tick goes first.
#[test]
fn template_judged_at_its_own_time_in_a_long_jump() {
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2()[..1]);
    let a = client(10, 40015);
    lab.send(a, tcp(TcpFlags::SYN), 0.0); // SYN_RECV: 60 s; template 300 s
    lab.send(a, tcp(TcpFlags::ACK), 0.5); // ES: due at 900.5
    // At 300 s the connection still lives, so the template is kept until
    // 360, 420 ... 900 and 960, where it goes. One call or two agree.
    assert_eq!(lab.table.expire(lab.at(2000.0)), Expired { conns: 1, templates: 1 });
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2()[..1]);
    lab.send(a, tcp(TcpFlags::SYN), 0.0);
    lab.send(a, tcp(TcpFlags::ACK), 0.5);
    assert_eq!(lab.table.expire(lab.at(950.0)), Expired { conns: 1, templates: 0 });
    assert_eq!(lab.entries(950.0)[0].expires_secs, 10);
    assert_eq!(lab.table.expire(lab.at(960.0)), Expired { conns: 0, templates: 1 });
    // Due at the same tick as the template's re-armed time: connection first.
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2()[..1]);
    lab.send(a, tcp(TcpFlags::SYN), 0.0);
    lab.send(a, tcp(TcpFlags::ACK), 0.0); // due 900 = 300 + 10 * 60
    assert_eq!(lab.table.expire(lab.at(950.0)), Expired { conns: 1, templates: 1 });
}

// ip_vs_check_template: a template whose server is gone is invalidated (its
// ports become 65535, it is not refreshed) and a new one is made.
#[test]
fn template_of_removed_server_is_invalidated() {
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2());
    let a = client(10, 40016);
    let first = fwd(&lab.send(a, tcp(TcpFlags::SYN), 0.0)).dest;
    lab.send(a, tcp(TcpFlags::RST), 0.0);
    lab.table.expire(lab.at(10.0));
    lab.svc.del_dest(first).unwrap();
    let v = lab.send(client(10, 40017), tcp(TcpFlags::SYN), 20.0);
    assert_ne!(fwd(&v).dest, first);
    let tpl: Vec<ConnEntry> = lab.entries(20.0).into_iter().filter(|e| e.template).collect();
    assert_eq!(tpl.len(), 2);
    let old = tpl.iter().find(|e| e.dest.ip() == first.ip()).unwrap();
    assert_eq!((old.virtual_addr.port(), old.dest.port(), old.expires_secs), (65535, 65535, 280));
    let new = tpl.iter().find(|e| e.dest.ip() != first.ip()).unwrap();
    assert_eq!((new.virtual_addr.port(), new.expires_secs), (80, 300));
}

// expire_quiescent_template: weight 0 invalidates the template at its next
// use; without the sysctl the template keeps sending clients to it.
#[test]
fn expire_quiescent_template() {
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2());
    let a = client(10, 40018);
    let first = fwd(&lab.send(a, tcp(TcpFlags::SYN), 0.0)).dest;
    let cfg = DestConfig::masq(first.ip(), 8080).weight(0);
    lab.svc.edit_dest(cfg).unwrap();
    assert_eq!(fwd(&lab.send(client(10, 40019), tcp(TcpFlags::SYN), 1.0)).dest, first);
    lab.table.set_sysctls(Sysctls { expire_quiescent_template: true, ..Sysctls::default() }).unwrap();
    assert_ne!(fwd(&lab.send(client(10, 40020), tcp(TcpFlags::SYN), 2.0)).dest, first);
}

// Port-zero persistent service: template <TCP, caddr, 0, vaddr, 0, daddr, 0>,
// connections keep the client's destination port.
#[test]
fn port_zero_persistent_service() {
    let p = Persistence { timeout: 60, mask: PersistMask::host(crate::ipvs::Family::V4) };
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip(VIP), 0), "rr").persistent(p);
    let mut lab = Lab::new(cfg, &[DestConfig::masq(ip("198.51.100.10"), 0)]);
    let f = Flow::new(Protocol::Tcp, ip("203.0.113.10"), 1234, ip(VIP), 443);
    let v = lab.send(f, tcp(TcpFlags::SYN), 0.0);
    assert_eq!(fwd(&v).dest, "198.51.100.10:443".parse().unwrap());
    let t = lab.entries(0.0).into_iter().find(|e| e.template).unwrap();
    assert_eq!((t.virtual_addr.port(), t.dest.port(), t.expires_secs), (0, 0, 60));
    // Another port of the same client: same template.
    let f2 = Flow::new(Protocol::Tcp, ip("203.0.113.10"), 1235, ip(VIP), 22);
    assert_eq!(fwd(&lab.send(f2, tcp(TcpFlags::SYN), 1.0)).dest, "198.51.100.10:22".parse().unwrap());
    assert_eq!(lab.table.template_count(), 1);
}

// A persistent FTP service (port 21) keeps port 0 in its template.
#[test]
fn ftp_persistent_template_has_port_zero() {
    let p = Persistence { timeout: 300, mask: PersistMask::host(crate::ipvs::Family::V4) };
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip(VIP), 21), "rr").persistent(p);
    let mut lab = Lab::new(cfg, &[DestConfig::masq(ip("198.51.100.10"), 21)]);
    let f = Flow::new(Protocol::Tcp, ip("203.0.113.10"), 1234, ip(VIP), 21);
    assert_eq!(fwd(&lab.send(f, tcp(TcpFlags::SYN), 0.0)).dest, "198.51.100.10:21".parse().unwrap());
    let t = lab.entries(0.0).into_iter().find(|e| e.template).unwrap();
    assert_eq!((t.virtual_addr.port(), t.dest.port()), (0, 0));
    // Client port 20 (active FTP data) is never scheduled.
    let data = Flow::new(Protocol::Tcp, ip("203.0.113.10"), 20, ip(VIP), 21);
    assert_eq!(lab.send(data, tcp(TcpFlags::SYN), 0.0), Verdict::Pass(PassReason::FtpData));
}

// Firewall-mark persistence: template <IP, caddr, 0, mark, 0>, printed with
// protocol "IP" and the mark as the virtual address.
#[test]
fn fwmark_persistence() {
    let p = Persistence { timeout: 300, mask: PersistMask::host(crate::ipvs::Family::V4) };
    let cfg = ServiceConfig::new(ServiceKey::fwmark(crate::ipvs::Family::V4, 7), "rr").persistent(p);
    let mut lab = Lab::new(cfg, &[DestConfig::route(ip("198.51.100.10"), 0)]);
    let web = Flow::new(Protocol::Tcp, ip("203.0.113.10"), 1234, ip(VIP), 443).with_fwmark(7);
    let dns = Flow::new(Protocol::Udp, ip("203.0.113.10"), 999, ip("192.0.2.9"), 53).with_fwmark(7);
    assert_eq!(fwd(&lab.send(web, tcp(TcpFlags::SYN), 0.0)).dest, "198.51.100.10:443".parse().unwrap());
    assert_eq!(fwd(&lab.send(dns, Segment::Udp, 0.0)).dest, "198.51.100.10:53".parse().unwrap());
    let t = lab.entries(0.0).into_iter().find(|e| e.template).unwrap();
    assert_eq!(t.protocol_name(), "IP");
    assert_eq!(t.virtual_addr, "0.0.0.7:0".parse().unwrap());
    assert_eq!(lab.table.template_count(), 1);
    let unmarked = Flow::new(Protocol::Tcp, ip("203.0.113.10"), 1, ip(VIP), 443);
    assert!(matches!(
        lab.table.process(&mut lab.svc, &Packet::input(unmarked, tcp(TcpFlags::SYN)), lab.t0),
        Err(ConnError::NotForService { fwmark: 0, .. })
    ));
}

// One-packet scheduling (ops): each UDP datagram is scheduled on its own and
// no entry stays (ip_vs_conn_put of IP_VS_CONN_F_ONE_PACKET); the counters
// come back; with persistence the template stays.
#[test]
fn one_packet_scheduling() {
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Udp, ip(VIP), 53), "rr").flags(ServiceFlags::ONEPACKET);
    let dests = [DestConfig::masq(ip("198.51.100.10"), 53), DestConfig::masq(ip("198.51.100.11"), 53)];
    let mut lab = Lab::new(cfg.clone(), &dests);
    let c = Flow::new(Protocol::Udp, ip("203.0.113.10"), 5000, ip(VIP), 53);
    let a = fwd(&lab.send(c, Segment::Udp, 0.0)).clone();
    let b = fwd(&lab.send(c, Segment::Udp, 0.0)).clone();
    assert!(a.one_packet && b.one_packet);
    assert_ne!(a.dest, b.dest);
    assert!(lab.table.is_empty());
    assert_eq!(lab.counts("198.51.100.10:53"), (0, 0, 0));
    // Port 0 is fine here: nothing is kept.
    let zero = Flow::new(Protocol::Udp, ip("203.0.113.10"), 0, ip(VIP), 53);
    assert!(fwd(&lab.send(zero, Segment::Udp, 0.0)).one_packet);
    // With persistence: one template, no connection.
    let p = Persistence { timeout: 30, mask: PersistMask::host(crate::ipvs::Family::V4) };
    let mut lab = Lab::new(cfg.persistent(p), &dests);
    let a = fwd(&lab.send(c, Segment::Udp, 0.0)).dest;
    assert_eq!(fwd(&lab.send(c, Segment::Udp, 1.0)).dest, a);
    assert_eq!(lab.table.len(), 1);
    let t = lab.only(1.0);
    assert!(t.template);
    assert_eq!((t.controls, t.expires_secs), (0, 30));
    assert_eq!(lab.counts(&a.to_string()), (0, 0, 1));
}

// A full table drops and evicts nothing (ip_vs_conn_new failing: NF_DROP).
#[test]
fn full_table_drops_without_eviction() {
    let tc = ConnTableConfig::default().shards(2).max_entries(3);
    let mut lab = Lab::with_table(tcp_svc(), &nat2(), tc);
    for k in 0..3 {
        assert!(fwd(&lab.send(client(k, 1), tcp(TcpFlags::SYN), 0.0)).created);
    }
    assert_eq!(lab.send(client(9, 1), tcp(TcpFlags::SYN), 0.0), Verdict::Drop(DropReason::TableFull { limit: 3 }));
    assert_eq!(lab.table.len(), 3);
    assert_eq!(lab.counts(S1).0 + lab.counts(S2).0, 3);
    // Existing connections still work.
    assert!(!fwd(&lab.send(client(0, 1), tcp(TcpFlags::ACK), 0.1)).created);
    // A persistent service cannot create its template either.
    let tc = ConnTableConfig::default().shards(2).max_entries(1);
    let mut lab = Lab::with_table(persistent("255.255.255.255"), &nat2(), tc);
    assert_eq!(lab.send(client(1, 1), tcp(TcpFlags::SYN), 0.0), Verdict::Drop(DropReason::TableFull { limit: 1 }));
    assert_eq!(lab.table.template_count(), 1);
    assert_eq!(lab.entries(0.0)[0].controls, 0);
}

#[test]
fn bad_input_is_typed() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    let now = lab.t0;
    let udp = Flow::new(Protocol::Udp, ip("203.0.113.1"), 1, ip(VIP), 80);
    assert_eq!(
        lab.table.process(&mut lab.svc, &Packet::input(udp, Segment::Udp), now),
        Err(ConnError::ProtocolMismatch { service: lab.svc.key(), protocol: Protocol::Udp })
    );
    assert_eq!(
        lab.table.process(&mut lab.svc, &Packet::input(client(1, 1), Segment::Udp), now),
        Err(ConnError::SegmentMismatch { flow: Protocol::Tcp, segment: Protocol::Udp })
    );
    let v6 = Flow::new(Protocol::Tcp, ip("2001:db8::1"), 1, ip("2001:db8::80"), 80);
    assert!(matches!(
        lab.table.process(&mut lab.svc, &Packet::input(v6, tcp(TcpFlags::SYN)), now),
        Err(ConnError::FamilyMismatch { .. })
    ));
    let mixed = Flow::new(Protocol::Tcp, ip("2001:db8::1"), 1, ip(VIP), 80);
    assert!(matches!(
        lab.table.process(&mut lab.svc, &Packet::input(mixed, tcp(TcpFlags::SYN)), now),
        Err(ConnError::MixedFamilyFlow { .. })
    ));
    let wrong_port = Flow::new(Protocol::Tcp, ip("203.0.113.1"), 1, ip(VIP), 81);
    assert!(matches!(
        lab.table.process(&mut lab.svc, &Packet::input(wrong_port, tcp(TcpFlags::SYN)), now),
        Err(ConnError::NotForService { port: 81, .. })
    ));
    assert_eq!(lab.send(client(1, 0), tcp(TcpFlags::SYN), 0.0), Verdict::Drop(DropReason::ClientPortZero));
    assert!(lab.table.is_empty());
    let mut empty = Lab::new(tcp_svc(), &[]);
    assert_eq!(empty.send(client(1, 1), tcp(TcpFlags::SYN), 0.0), Verdict::Drop(DropReason::NoDestination));
    let mut pe = tcp_svc().persistent(Persistence::new(crate::ipvs::Family::V4));
    pe.pe_name = Some("sip".into());
    let mut lab = Lab::new(pe, &nat2());
    assert_eq!(lab.send(client(1, 1), tcp(TcpFlags::SYN), 0.0), Verdict::Drop(DropReason::PersistenceEngine));
}

// Tunnelling to a server of the other family: the address comes from the
// server, also for look-ups without the lock.
#[test]
fn mixed_family_tunnel() {
    let d = DestConfig::tunnel(ip("2001:db8::10"), 80, TunnelParams::default());
    let mut lab = Lab::new(tcp_svc(), &[d]);
    let c = client(10, 40021);
    let v = lab.send(c, tcp(TcpFlags::SYN), 0.0);
    assert_eq!(fwd(&v).dest, "[2001:db8::10]:80".parse().unwrap());
    assert!(matches!(fwd(&v).method, crate::ipvs::ForwardMethod::Tunnel(_)));
    assert_eq!(lab.table.lookup(&c, lab.t0).unwrap().dest, "[2001:db8::10]:80".parse().unwrap());
    assert_eq!(lab.table.lookup_dest(&c), Some("[2001:db8::10]:80".parse().unwrap()));
    assert_eq!(lab.only(0.0).dest, "[2001:db8::10]:80".parse().unwrap());
}

#[test]
fn ipv6_service() {
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip("2001:db8::80"), 443), "rr");
    let mut lab = Lab::new(cfg, &[DestConfig::masq(ip("2001:db8:1::10"), 8443)]);
    let c = Flow::new(Protocol::Tcp, ip("2001:db8:2::1"), 50000, ip("2001:db8::80"), 443);
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::SYN), 0.0)), "SYN_RECV");
    let r = back("[2001:db8:1::10]:8443", &c);
    assert_eq!(state(&lab.reply(r, tcp(TcpFlags::SYN_ACK), 0.0)), "SYN_RECV");
    assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), 0.0)), "ESTABLISHED");
    assert_eq!(lab.table.lookup(&c, lab.t0).unwrap().state.name(), "ESTABLISHED");
    assert_eq!(lab.table.expire(lab.at(900.0)).conns, 1);
}

// lookup() reads without changing anything. poll_timeout() is a lower
// bound of the next expiry; an owner that calls expire() at each
// poll_timeout() expires every entry exactly at its due tick.
#[test]
fn lookup_and_poll_timeout() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    assert_eq!(lab.table.poll_timeout(), None);
    let c = client(10, 40022);
    lab.send(c, tcp(TcpFlags::SYN), 0.0);
    let e = lab.table.lookup(&c, lab.at(10.0)).unwrap();
    assert_eq!((e.state.name(), e.expires_secs, e.controlled), ("SYN_RECV", 50, false));
    assert_eq!(lab.table.lookup(&c, lab.at(20.0)).unwrap().expires_secs, 40);
    assert!(lab.table.lookup(&client(11, 1), lab.t0).is_none());
    assert!(lab.table.poll_timeout().unwrap() <= lab.at(60.0));
    lab.send(client(11, 1), tcp(TcpFlags::SYN), 30.0);
    lab.send(c, tcp(TcpFlags::ACK), 40.0);
    lab.send(c, tcp(TcpFlags::RST), 40.0);
    // Drive the table by its own timer.
    let mut fired = Vec::new();
    while let Some(t) = lab.table.poll_timeout() {
        assert!(t >= lab.t0);
        let out = lab.table.expire(t);
        if out.conns > 0 {
            fired.push((t.duration_since(lab.t0).as_millis(), out.conns));
        }
    }
    assert_eq!(fired, [(50_000, 1), (90_000, 1)]);
    assert!(lab.table.is_empty());
}

#[test]
fn flush_and_expire_nodest_conn_flush() {
    let mut lab = Lab::new(persistent("255.255.255.255"), &nat2());
    for k in 0..6 {
        lab.send(client(k, 1), tcp(TcpFlags::SYN), 0.0);
    }
    assert_eq!(lab.table.len(), 12);
    lab.svc.del_dest(S2.parse().unwrap()).unwrap();
    assert_eq!(lab.table.expire_nodest_conn_flush(), Expired { conns: 3, templates: 3 });
    assert_eq!(lab.table.len(), 6);
    assert_eq!(lab.counts(S1), (3, 0, 3));
    assert_eq!(lab.table.flush(), Expired { conns: 3, templates: 3 });
    assert!(lab.table.is_empty());
    assert_eq!(lab.counts(S1), (0, 0, 0));
    assert_eq!(lab.table.poll_timeout(), None);
}

#[test]
fn ipvsadm_listing_of_a_persistent_service() {
    let mut lab = Lab::new(persistent("255.255.255.0"), &nat2()[..1]);
    lab.send(client(10, 40000), tcp(TcpFlags::SYN), 0.0);
    lab.send(client(10, 40000), tcp(TcpFlags::ACK), 0.0);
    let out = render_ipvsadm(&lab.entries(1.0));
    assert_eq!(
        out,
        "IPVS connection entries\n\
pro expire state       source             virtual            destination\n\
TCP 14:59  ESTABLISHED 203.0.113.10:40000 192.0.2.1:80       198.51.100.10:8080\n\
TCP 04:59  ASSURED     203.0.113.0:0      192.0.2.1:80       198.51.100.10:8080\n"
    );
}

// Several threads on one table: counters stay exact.
#[test]
fn threads_keep_counters_exact() {
    let mut svc = Service::new(tcp_svc(), 0).unwrap();
    for d in nat2() {
        svc.add_dest(d).unwrap();
    }
    let svc = parking_lot::Mutex::new(svc);
    let t0 = Instant::now();
    let table = ConnTable::new(ConnTableConfig::default().shards(8), t0).unwrap();
    std::thread::scope(|s| {
        for th in 0..4u8 {
            let (svc, table) = (&svc, &table);
            s.spawn(move || {
                for k in 0..500u16 {
                    let f = Flow::new(
                        Protocol::Tcp,
                        IpAddr::V4([203, 0, th, (k % 250) as u8].into()),
                        1000 + k,
                        ip(VIP),
                        80,
                    );
                    table.process(svc, &Packet::input(f, Segment::Tcp(TcpFlags::SYN)), t0).unwrap();
                    table.process(svc, &Packet::input(f, Segment::Tcp(TcpFlags::ACK)), t0).unwrap();
                    if k % 3 == 0 {
                        table.process(svc, &Packet::input(f, Segment::Tcp(TcpFlags::FIN_ACK)), t0).unwrap();
                    }
                }
            });
        }
    });
    let svc = svc.into_inner();
    let (active, inactive): (u32, u32) =
        svc.dests().iter().map(|d| (d.active_conns(), d.inactive_conns())).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!(table.len(), 2000);
    assert_eq!(inactive, 4 * 167);
    assert_eq!(active, 2000 - 4 * 167);
    table.expire(t0 + Duration::from_secs(900));
    assert!(table.is_empty());
    assert!(svc.dests().iter().all(|d| d.total_conns() == 0 && d.active_conns() == 0 && d.inactive_conns() == 0));
}

// A tunnel connection's look-up without the lock reports the server's
// tunnel parameters, not defaults (they live with the server).
#[test]
fn tunnel_lookup_reports_server_parameters() {
    use crate::ipvs::dest::{TunnelCsum, TunnelKind};
    let params = TunnelParams { kind: TunnelKind::Gue, port: 6080, csum: TunnelCsum::Csum };
    let mut lab = Lab::new(tcp_svc(), &[DestConfig::tunnel(ip("198.51.100.20"), 80, params)]);
    let c = client(10, 40030);
    let v = lab.send(c, tcp(TcpFlags::SYN), 0.0);
    assert_eq!(fwd(&v).method, crate::ipvs::ForwardMethod::Tunnel(params));
    let e = lab.table.lookup(&c, lab.t0).unwrap();
    assert_eq!(e.forward, Some(crate::ipvs::ForwardMethod::Tunnel(params)));
    assert_eq!(e.dest, "198.51.100.20:80".parse().unwrap());
    let mut out = Vec::new();
    lab.table.lookup_batch(&[c], lab.t0, &mut out);
    assert_eq!(out, [Some(e)]);
}

// The batch calls give exactly what one call per flow gives, in order, for
// hits and misses of both families, groups of any length.
#[test]
fn batch_calls_match_single_calls() {
    let v6cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip("2001:db8::80"), 80), "rr");
    let mut lab4 = Lab::new(tcp_svc(), &nat2());
    let mut lab6 = Lab::new(v6cfg, &[DestConfig::masq(ip("2001:db8:1::10"), 8080)]);
    let v6 = |k: u16| {
        Flow::new(
            Protocol::Tcp,
            IpAddr::V6([0x2001, 0xdb8, 2, 0, 0, 0, 0, k].into()),
            40000 + k,
            ip("2001:db8::80"),
            80,
        )
    };
    for k in 0..40u8 {
        lab4.send(client(k, 1000 + k as u16), tcp(TcpFlags::SYN), 0.0);
        lab6.send(v6(k as u16), tcp(TcpFlags::SYN), 0.0);
    }
    // Hits, misses (other ports and clients), IPv6 flows (misses in the
    // IPv4 lab) and a mixed-family flow.
    let mut flows: Vec<Flow> = Vec::new();
    for k in 0..60u8 {
        flows.push(client(k, 1000 + k as u16));
        flows.push(client(k, 2000));
        flows.push(v6(k as u16));
    }
    flows.push(Flow::new(Protocol::Tcp, ip("2001:db8::1"), 1, ip(VIP), 80));
    for lab in [&lab4, &lab6] {
        let now = lab.at(5.0);
        let want: Vec<Option<ConnEntry>> = flows.iter().map(|f| lab.table.lookup(f, now)).collect();
        assert_eq!(want.iter().filter(|e| e.is_some()).count(), 40);
        // lookup_dest: the server of each hit, None for each miss.
        let dests: Vec<Option<std::net::SocketAddr>> = flows.iter().map(|f| lab.table.lookup_dest(f)).collect();
        assert_eq!(dests, want.iter().map(|e| e.as_ref().map(|e| e.dest)).collect::<Vec<_>>());
        let mut out = vec![None; 3];
        let mut out_dest = vec![None; 3];
        for n in [0, 1, 15, 16, 17, flows.len()] {
            lab.table.lookup_batch(&flows[..n], now, &mut out);
            assert_eq!(out[..], want[..n]);
            lab.table.lookup_dest_batch(&flows[..n], &mut out_dest);
            assert_eq!(out_dest[..], dests[..n]);
        }
    }
    // process_batch against process on a twin table with the same seed.
    let mut twin = Lab::new(tcp_svc(), &nat2());
    twin.t0 = lab4.t0;
    twin.table = ConnTable::new(ConnTableConfig::default().shards(4).seed(9), lab4.t0).unwrap();
    for k in 0..40u8 {
        twin.send(client(k, 1000 + k as u16), tcp(TcpFlags::SYN), 0.0);
    }
    let pkts: Vec<Packet> = (0..50u8)
        .flat_map(|k| {
            let c = client(k, 1000 + k as u16);
            [
                Packet::input(c, tcp(TcpFlags::ACK)),
                Packet::output(back(S1, &c), tcp(TcpFlags::ACK)),
                Packet::input(c, tcp(TcpFlags::SYN)),
            ]
        })
        .chain([Packet::input(client(1, 1001), Segment::Udp)])
        .collect();
    let now = lab4.at(1.0);
    let want: Vec<Result<Verdict, ConnError>> =
        pkts.iter().map(|p| twin.table.process(&mut twin.svc, p, now)).collect();
    let mut out = Vec::new();
    lab4.table.process_batch(&mut lab4.svc, &pkts, now, &mut out);
    assert_eq!(out, want);
    assert_eq!(lab4.entries(1.0), twin.entries(1.0));
    assert_eq!(lab4.counts(S1), twin.counts(S1));
    assert_eq!(lab4.counts(S2), twin.counts(S2));
    // A shared service behind a mutex serves a batch too.
    let shared = parking_lot::Mutex::new(tcp_svc_with(&nat2()));
    let table = ConnTable::new(ConnTableConfig::default().shards(4), lab4.t0).unwrap();
    let syns: Vec<Packet> = (0..20u8).map(|k| Packet::input(client(k, 7), tcp(TcpFlags::SYN))).collect();
    table.process_batch(&shared, &syns, lab4.t0, &mut out);
    assert!(out.iter().all(|v| v.as_ref().is_ok_and(|v| v.forward().is_some_and(|f| f.created))));
    assert_eq!(table.len(), 20);
    // IPv6 client packets and replies (a reply is placed by its destination,
    // the client) and a mixed-family packet, through process_batch against
    // process on a twin table: the hash each prefetch hands on is the one
    // the packet's own path computes.
    let v6cfg = || ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip("2001:db8::80"), 80), "rr");
    let dests6 = [DestConfig::masq(ip("2001:db8:1::10"), 8080)];
    let (mut a6, mut b6) = (Lab::new(v6cfg(), &dests6), Lab::new(v6cfg(), &dests6));
    b6.t0 = a6.t0;
    a6.table = ConnTable::new(ConnTableConfig::default().shards(4).seed(5), a6.t0).unwrap();
    b6.table = ConnTable::new(ConnTableConfig::default().shards(4).seed(5), a6.t0).unwrap();
    let c6 = |k: u16| Flow::new(Protocol::Tcp, ip("2001:db8:2::1"), 2000 + k, ip("2001:db8::80"), 80);
    let pkts6: Vec<Packet> = (0..40u16)
        .flat_map(|k| {
            [
                Packet::input(c6(k), tcp(TcpFlags::SYN)),
                Packet::output(back("[2001:db8:1::10]:8080", &c6(k)), tcp(TcpFlags::SYN | TcpFlags::ACK)),
                Packet::input(c6(k), tcp(TcpFlags::ACK)),
                Packet::input(c6(k), tcp(TcpFlags::FIN | TcpFlags::ACK)),
            ]
        })
        .chain([Packet::input(Flow::new(Protocol::Tcp, ip("2001:db8::1"), 1, ip(VIP), 80), tcp(TcpFlags::SYN))])
        .collect();
    let now = a6.at(1.0);
    let want: Vec<Result<Verdict, ConnError>> = pkts6.iter().map(|p| b6.table.process(&mut b6.svc, p, now)).collect();
    a6.table.process_batch(&mut a6.svc, &pkts6, now, &mut out);
    assert_eq!(out, want);
    assert!(matches!(want.last(), Some(Err(ConnError::MixedFamilyFlow { .. }))));
    // Every packet found or made its connection (the reply moved it to
    // ESTABLISHED through the output table), and the client's FIN left it
    // in CLOSE_WAIT.
    assert_eq!(out.iter().filter(|v| v.as_ref().is_ok_and(|v| v.forward().is_some())).count(), 160);
    assert_eq!(a6.entries(1.0), b6.entries(1.0));
    assert!(a6.entries(1.0).iter().all(|e| e.state.name() == "CLOSE_WAIT"));
}

fn tcp_svc_with(dests: &[DestConfig]) -> Service {
    let mut svc = Service::new(tcp_svc(), 0).unwrap();
    for d in dests {
        svc.add_dest(*d).unwrap();
    }
    svc
}

// The iterator, the visitor and entries() list the same entries.
#[test]
fn iterator_and_visitor_list_every_entry() {
    let mut lab = Lab::new(persistent("255.255.255.0"), &nat2());
    for k in 0..30u8 {
        lab.send(client(k, 3000 + k as u16), tcp(TcpFlags::SYN), 0.0);
    }
    let v6cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, ip("2001:db8::80"), 80), "rr");
    let mut svc6 = Service::new(v6cfg, 0).unwrap();
    svc6.add_dest(DestConfig::masq(ip("2001:db8:1::10"), 8080)).unwrap();
    let c6 = Flow::new(Protocol::Tcp, ip("2001:db8:2::1"), 5, ip("2001:db8::80"), 80);
    lab.table.process(&mut svc6, &Packet::input(c6, tcp(TcpFlags::SYN)), lab.t0).unwrap();
    let key = |e: &ConnEntry| (e.template, e.client, e.virtual_addr);
    let mut a: Vec<ConnEntry> = lab.table.iter(lab.t0).collect();
    let mut b = Vec::new();
    lab.table.for_each_entry(lab.t0, |e| b.push(e));
    let mut c = lab.table.entries(lab.t0);
    for v in [&mut a, &mut b, &mut c] {
        v.sort_by_key(key);
    }
    assert_eq!(a.len(), 32); // 30 + 1 connections, 1 template
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(lab.table.iter(lab.t0).filter(|e| e.template).count(), 1);
}

// A client cycling SYN, ACK, RST on one port: each RST brings the timer
// forward (ESTABLISHED's 900 s to CLOSE's 10 s) and each SYN replaces the
// closed connection (conn_reuse_mode), two new timer handles per round. The
// wheel must not keep them all.
#[test]
fn timer_wheel_stays_bounded_under_syn_rst_cycling() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    let c = client(10, 40040);
    let mut max_handles = 0;
    for round in 0..20_000u32 {
        let t = round as f64 * 0.001;
        assert!(fwd(&lab.send(c, tcp(TcpFlags::SYN), t)).created, "round {round}");
        assert_eq!(state(&lab.send(c, tcp(TcpFlags::ACK), t)), "ESTABLISHED");
        assert_eq!(state(&lab.send(c, tcp(TcpFlags::RST), t)), "CLOSE");
        max_handles = max_handles.max(lab.table.timer_handles());
        if round % 1000 == 999 {
            lab.table.expire(lab.at(t));
        }
    }
    assert_eq!(lab.table.len(), 1);
    // One connection: at most 2 × 1 + 64 handles after any filing, plus the
    // one filing that triggers a rebuild.
    assert!(max_handles <= 2 + 64 + 1, "{max_handles} timer handles for one connection");
    assert_eq!(lab.counts(S1).0 + lab.counts(S2).0, 0);
    assert_eq!(lab.counts(S1).1 + lab.counts(S2).1, 1);
    // And it still expires on time: CLOSE's 10 s after the last RST.
    assert_eq!(lab.table.expire(lab.at(19.999 + 9.9)).conns, 0);
    assert_eq!(lab.table.expire(lab.at(19.999 + 10.01)).conns, 1);
    assert!(lab.table.is_empty());
    // Stale handles (up to ESTABLISHED's 900 s) may still call for a visit;
    // once past them nothing is left.
    lab.table.expire(lab.at(1000.0));
    assert_eq!(lab.table.poll_timeout(), None);
    assert_eq!(lab.table.timer_handles(), 0);
}

// Many connections of one client endpoint (one tag) to several virtual
// ports of a firewall-mark service: each files its own timer handle, and
// when they all come up at one tick with nothing due, the tag is handled
// and re-filed once, not once per duplicate.
#[test]
fn duplicate_handles_of_one_tag_are_merged() {
    let cfg = ServiceConfig::new(ServiceKey::Fwmark { family: crate::ipvs::Family::V4, mark: 7 }, "rr");
    let mut lab = Lab::new(cfg, &nat2());
    for port in 0..50u16 {
        let mut f = Flow::new(Protocol::Tcp, ip("203.0.113.5"), 4000, ip(VIP), 1000 + port);
        f.fwmark = 7;
        lab.send(f, tcp(TcpFlags::SYN), 0.0); // SYN_RECV: a handle at 60 s
        lab.send(f, tcp(TcpFlags::ACK), 0.0); // ESTABLISHED: due at 900 s, no new handle
    }
    assert_eq!(lab.table.len(), 50);
    assert_eq!(lab.table.timer_handles(), 50);
    // At 60 s the 50 handles fire, nothing is due: one handle re-filed.
    assert_eq!(lab.table.expire(lab.at(61.0)).conns, 0);
    assert_eq!(lab.table.timer_handles(), 1);
    assert_eq!(lab.table.expire(lab.at(899.9)).conns, 0);
    assert_eq!(lab.table.expire(lab.at(900.1)).conns, 50);
    assert_eq!(lab.table.timer_handles(), 0);
    assert_eq!(lab.table.poll_timeout(), None);
}

// flush() while other threads insert: nothing is lost or counted twice.
// After the flush and a final expiry every counter is back to zero.
#[test]
fn flush_races_with_inserts() {
    for round in 0..4u16 {
        let svc = parking_lot::Mutex::new(tcp_svc_with(&nat2()));
        let mut pcfg = persistent("255.255.255.0");
        pcfg.key = ServiceKey::addr(Protocol::Tcp, ip(VIP), 443);
        let psvc = parking_lot::Mutex::new({
            let mut s = Service::new(pcfg, 0).unwrap();
            for d in nat2() {
                s.add_dest(d).unwrap();
            }
            s
        });
        let t0 = Instant::now();
        let table = ConnTable::new(ConnTableConfig::default().shards(8).seed(round as u64), t0).unwrap();
        std::thread::scope(|s| {
            for th in 0..2u16 {
                let (table, svc, psvc) = (&table, &svc, &psvc);
                s.spawn(move || {
                    for k in 0..3000u16 {
                        let caddr = IpAddr::V4([203, 0, (113 + th) as u8, (k % 200) as u8].into());
                        let f = Flow::new(Protocol::Tcp, caddr, 1024 + k, ip(VIP), 80);
                        table.process(svc, &Packet::input(f, tcp(TcpFlags::SYN)), t0).unwrap();
                        let p = Flow::new(Protocol::Tcp, caddr, 1024 + k, ip(VIP), 443);
                        table.process(psvc, &Packet::input(p, tcp(TcpFlags::SYN)), t0).unwrap();
                        if k % 3 == 0 {
                            table.process(svc, &Packet::input(f, tcp(TcpFlags::ACK)), t0).unwrap();
                        }
                    }
                });
            }
            for _ in 0..20 {
                table.flush();
                std::thread::yield_now();
            }
        });
        // What survived the flushes still has its timers: expiry alone
        // empties the table.
        let far = t0 + Duration::from_secs(2000);
        table.expire(far);
        assert_eq!(table.len(), 0, "round {round}");
        assert_eq!(table.template_count(), 0);
        assert_eq!(table.entries(far), []);
        assert_eq!(table.poll_timeout(), None);
        assert_eq!(table.timer_handles(), 0);
        for s in [&svc, &psvc] {
            for d in s.lock().dests() {
                assert_eq!((d.active_conns(), d.inactive_conns(), d.persistent_conns()), (0, 0, 0), "round {round}");
            }
        }
    }
}

// A capacity beyond what the shards hold is a typed error, not an abort.
#[test]
fn huge_capacity_is_refused() {
    let t0 = Instant::now();
    for (shards, cap) in [(1, usize::MAX), (1, (6 << 20) + 1), (256, usize::MAX / 2)] {
        let cfg = ConnTableConfig::default().shards(shards).capacity(cap);
        assert!(matches!(ConnTable::new(cfg, t0), Err(ConnError::CapacityTooLarge { .. })), "{shards} {cap}");
    }
}

// Not a kernel rule: the slots of a large table live on huge pages (see
// ConnTableConfig::huge_pages) and must behave exactly as heap slots do,
// through growth, look-ups and expiry.
#[test]
fn huge_page_slots_behave_as_heap_slots() {
    let base = ConnTableConfig::default().shards(4).seed(9);
    let mut huge = Lab::with_table(tcp_svc(), &nat2(), base.clone().capacity(40_000).huge_pages(true));
    let mut heap = Lab::with_table(tcp_svc(), &nat2(), base.huge_pages(false));
    let flow = |i: u32| {
        Flow::new(
            Protocol::Tcp,
            IpAddr::V4([203, 0, 113, (i % 251) as u8].into()),
            1024 + (i / 251) as u16,
            ip(VIP),
            80,
        )
    };
    // Past the sized capacity, so the huge-page table also grows.
    for i in 0..60_000 {
        let (a, b) = (huge.send(flow(i), tcp(TcpFlags::SYN), 0.0), heap.send(flow(i), tcp(TcpFlags::SYN), 0.0));
        assert_eq!((fwd(&a).dest, state(&a)), (fwd(&b).dest, state(&b)), "{i}");
    }
    for i in (0..60_000).step_by(7) {
        let (a, b) = (huge.send(flow(i), tcp(TcpFlags::ACK), 1.0), heap.send(flow(i), tcp(TcpFlags::ACK), 1.0));
        assert_eq!((fwd(&a).dest, state(&a)), (fwd(&b).dest, state(&b)), "{i}");
    }
    for i in 0..60_000 {
        assert_eq!(huge.table.lookup(&flow(i), huge.at(2.0)), heap.table.lookup(&flow(i), heap.at(2.0)), "{i}");
        assert_eq!(huge.table.lookup_dest(&flow(i)), heap.table.lookup_dest(&flow(i)));
    }
    assert_eq!(huge.counts(S1), heap.counts(S1));
    // The arena's memory is counted: at least the slots themselves (40
    // bytes each, 60 000 connections at most FILL_NUM / FILL_DEN full).
    assert!(
        huge.table.heap_bytes() as u64 >= 60_000 * 40 * super::store::FILL_DEN / super::store::FILL_NUM,
        "{}",
        huge.table.heap_bytes()
    );
    // SYN_RECV connections expire after 60 s, ESTABLISHED after 900 s.
    let gone = huge.table.expire(huge.at(61.0));
    assert_eq!(gone, heap.table.expire(heap.at(61.0)));
    assert_eq!((huge.table.len(), heap.table.len()), (60_000usize.div_ceil(7), 60_000usize.div_ceil(7)));
    huge.table.expire(huge.at(902.0));
    assert!(huge.table.is_empty());
}

/// A `Tick` stands for its instant: every call that takes `now` answers the
/// same given the instant, this table's tick of it, or the tick of a table
/// with another epoch.
#[test]
fn ticks_and_instants_agree() {
    let mut lab = Lab::new(tcp_svc(), &nat2());
    let other = ConnTable::new(ConnTableConfig::default(), lab.at(3.0)).unwrap();
    let c = client(1, 40001);
    let d = client(2, 40002);
    let syn = tcp(TcpFlags::SYN);
    // A SYN at 1.5 s by instant, one at 1.5 s by this table's tick.
    let at = lab.at(1.5);
    lab.table.process(&mut lab.svc, &Packet::input(c, syn), at).unwrap();
    let v = lab.table.process(&mut lab.svc, &Packet::input(d, syn), lab.table.tick(at)).unwrap();
    assert_eq!(state(&v), "SYN_RECV");
    let at = lab.at(10.0);
    let want = lab.table.lookup(&c, at).unwrap();
    assert_eq!(want.expires_secs, 51);
    assert_eq!(lab.table.lookup(&c, lab.table.tick(at)), Some(want.clone()));
    assert_eq!(lab.table.lookup(&c, other.tick(at)), Some(want.clone()));
    assert_eq!(lab.table.lookup(&d, other.tick(at)).unwrap().expires_secs, 51);
    // The batches and a reply, by another table's tick: the server's
    // SYN-ACK moves the connection on, its timer from 20 s.
    let mut out = Vec::new();
    lab.table.lookup_batch(&[c, d], other.tick(lab.at(20.0)), &mut out);
    assert_eq!(out.iter().map(|e| e.as_ref().unwrap().expires_secs).collect::<Vec<_>>(), [41, 41]);
    let server = want.dest.to_string();
    let v = lab.table.process_reply(&back(&server, &c), tcp(TcpFlags::SYN_ACK), other.tick(lab.at(20.0))).unwrap();
    assert_eq!(state(&v), "SYN_RECV");
    // Restarted at 20 s, not at the other table's 17 s.
    assert_eq!(lab.table.lookup(&c, lab.at(20.0)).unwrap().expires_secs, 60);
    let mut res = Vec::new();
    let acks = [Packet::input(c, tcp(TcpFlags::ACK)), Packet::input(d, tcp(TcpFlags::ACK))];
    let at = lab.at(21.0);
    lab.table.process_batch(&mut lab.svc, &acks, lab.table.tick(at), &mut res);
    assert!(res.iter().all(|r| state(r.as_ref().unwrap()) == "ESTABLISHED"));
    assert_eq!(lab.table.lookup(&d, lab.at(21.0)).unwrap().expires_secs, 900);
    assert_eq!(lab.table.tick(lab.at(2.0)).ticks(), 500);
    assert_eq!(lab.table.tick(lab.at(2.0)).instant(), lab.at(2.0));
}

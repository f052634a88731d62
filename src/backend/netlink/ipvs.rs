//! [`NetlinkIpvs`]: the kernel's IPVS table over generic netlink.
//!
//! One socket, the family resolved by name once, one request and its
//! answer per call. A batch ([`IpvsBackend::apply`]) goes out as a few large
//! datagrams: the kernel handles the requests of one datagram in order under
//! one lock (`genl_rcv` → `netlink_rcv_skb`) and answers only refusals, plus
//! an acknowledgement for a barrier closing each datagram, so a batch of
//! N operations costs about N / 400 system calls each way instead of
//! `ipvsadm`'s one socket, one family lookup and one round trip per
//! operation.

use std::net::SocketAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_NOOP, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::protocols::NETLINK_GENERIC;

use super::family::{
    self, CmdAttr, FAMILY_NAME, IpvsCmd, IpvsMessage, Reply, daemon_attrs, dest_attrs, dest_key_attrs, service_attrs,
    service_key_attrs,
};
use super::socket::NlSocket;
use crate::backend::error::{BackendError, Errno, Operation};
use crate::backend::{BatchReport, IpvsBackend, IpvsOp, OpOutcome, check};
use crate::ipvs::{
    DaemonConfig, DaemonRole, DestConfig, DestSnapshot, IpvsInfo, ServiceConfig, ServiceKey, ServiceSnapshot, Timeouts,
};

/// What one refused request's answer costs in the receive queue (an
/// `NLMSG_ERROR` skb's `truesize`, rounded up), to size batches so that
/// every answer fits.
const ANSWER_TRUESIZE: usize = 1024;
/// The largest datagram a batch sends (the kernel refuses more than
/// `sk_sndbuf - 32`, 212 960 bytes by default).
const MAX_DATAGRAM: usize = 128 * 1024;

/// The kernel's IPVS table over the generic netlink family `IPVS`.
///
/// ```no_run
/// use std::net::{IpAddr, Ipv4Addr};
/// use lvskit::backend::IpvsBackend;
/// use lvskit::backend::netlink::NetlinkIpvs;
/// use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
///
/// let mut ipvs = NetlinkIpvs::new()?; // needs CAP_NET_ADMIN and the ip_vs module
/// let key = ServiceKey::addr(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
/// ipvs.add_service(&ServiceConfig::new(key, "wlc"))?;
/// ipvs.add_dest(&key, &DestConfig::masq(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 8080).weight(3))?;
/// for svc in ipvs.services()? {
///     println!("{} {} with {} real servers", svc.config.key, svc.config.scheduler, svc.dests.len());
/// }
/// # Ok::<(), lvskit::backend::BackendError>(())
/// ```
#[derive(Debug)]
pub struct NetlinkIpvs {
    sock: NlSocket,
    family_id: u16,
    tx: Vec<u8>,
    batch_ops: usize,
}

fn io_err(op: &Operation) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io { op: op.clone(), source }
}

fn decode_err(op: &Operation, e: impl std::fmt::Display) -> BackendError {
    BackendError::Decode { op: op.clone(), reason: e.to_string() }
}

impl NetlinkIpvs {
    /// Opens a generic netlink socket in the caller's network namespace and
    /// resolves the `IPVS` family. [`BackendError::FamilyNotFound`] when the
    /// kernel has no IPVS (module not loaded).
    pub fn new() -> Result<Self, BackendError> {
        let op = Operation::ResolveFamily(FAMILY_NAME);
        let mut sock = NlSocket::open(NETLINK_GENERIC).map_err(io_err(&op))?;
        let family_id = resolve_family(&mut sock, FAMILY_NAME)?;
        let batch_ops = (sock.rcvbuf() / ANSWER_TRUESIZE).clamp(16, 4096);
        Ok(NetlinkIpvs { sock, family_id, tx: Vec::with_capacity(MAX_DATAGRAM), batch_ops })
    }

    /// The family's numeric id in this kernel.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    /// How many requests [`apply`](IpvsBackend::apply) puts in one
    /// datagram (derived from the receive queue size).
    pub fn batch_size(&self) -> usize {
        self.batch_ops
    }

    /// Sets how many requests go in one datagram (at least 1). More than
    /// the receive queue can answer risks losing refusals (`ENOBUFS`), which
    /// the batch then reports as [`OpOutcome::Unknown`].
    pub fn set_batch_size(&mut self, n: usize) {
        self.batch_ops = n.max(1);
    }

    /// Sends one raw request and returns the kernel's reply messages (none
    /// for a command that only acknowledges). No client-side check is made:
    /// this is for commands and attributes the typed calls do not cover,
    /// and for testing what the kernel itself refuses.
    ///
    /// The request is followed by a barrier, so that a request the kernel
    /// leaves unanswered (`-EINTR`) returns with no reply message instead
    /// of waiting forever.
    pub fn request(&mut self, msg: IpvsMessage) -> Result<Vec<IpvsMessage>, BackendError> {
        let op = Operation::Raw(msg.cmd.number());
        self.transact_with(&op, msg, false, true)
    }

    /// Sends one raw dump request (`NLM_F_DUMP`) and returns every entry.
    pub fn dump(&mut self, msg: IpvsMessage) -> Result<Vec<IpvsMessage>, BackendError> {
        let op = Operation::Raw(msg.cmd.number());
        self.transact(&op, msg, true)
    }

    fn encode(&mut self, msg: IpvsMessage, flags: u16, seq: u32) {
        family::encode_request(msg, self.family_id, flags, seq, &mut self.tx);
    }

    /// Appends a barrier: an `NLMSG_NOOP` request with `NLM_F_ACK`, which
    /// `netlink_rcv_skb` acknowledges without calling the family. The
    /// kernel handles a datagram's messages in order, so the barrier's
    /// acknowledgement says that everything before it was handled, even a
    /// request that got no answer at all.
    fn encode_barrier(&mut self, seq: u32) {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&16u32.to_ne_bytes());
        h[4..6].copy_from_slice(&NLMSG_NOOP.to_ne_bytes());
        h[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        h[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.tx.extend_from_slice(&h);
    }

    /// One request and its answer: for a dump every entry up to
    /// `NLMSG_DONE`, otherwise the reply messages up to the acknowledgement.
    ///
    /// A request the kernel handles with `-EINTR` gets no answer at all
    /// (`netlink_rcv_skb` skips the acknowledgement). `IPVS_CMD_DEL_DAEMON`
    /// does that whenever the daemon's thread had not run yet
    /// (`kthread_stop` returns `-EINTR`), although the daemon is stopped.
    /// So that request is followed by a barrier, and the barrier's
    /// acknowledgement without an answer before it means success.
    fn transact(&mut self, op: &Operation, msg: IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>, BackendError> {
        self.transact_with(op, msg, dump, false)
    }

    fn transact_with(
        &mut self,
        op: &Operation,
        msg: IpvsMessage,
        dump: bool,
        barrier: bool,
    ) -> Result<Vec<IpvsMessage>, BackendError> {
        let needs_barrier = !dump && (barrier || msg.cmd == IpvsCmd::DelDaemon);
        let seq = self.sock.next_seq();
        self.tx.clear();
        self.encode(msg, if dump { NLM_F_DUMP } else { NLM_F_ACK }, seq);
        let barrier = if needs_barrier {
            let b = self.sock.next_seq();
            self.encode_barrier(b);
            Some(b)
        } else {
            None
        };
        self.sock.send(&self.tx).map_err(io_err(op))?;
        let mut out = Vec::new();
        loop {
            let buf = self.sock.recv().map_err(io_err(op))?;
            for reply in family::parse_replies(buf, self.family_id).map_err(|e| decode_err(op, e))? {
                match reply {
                    Reply::Message { seq: s, msg, .. } if s == seq => out.push(msg),
                    Reply::Ack { seq: s } if (s == seq && !dump) || Some(s) == barrier => return Ok(out),
                    Reply::Error { seq: s, errno } if s == seq => {
                        return Err(BackendError::kernel(op.clone(), Errno(errno)));
                    }
                    Reply::Done { seq: s, code } if s == seq => {
                        if code < 0 {
                            return Err(BackendError::kernel(op.clone(), Errno(code.saturating_neg())));
                        }
                        return Ok(out);
                    }
                    // Stale answers of an earlier request, or foreign noise.
                    _ => {}
                }
            }
        }
    }

    fn command(&mut self, op: &Operation, cmd: IpvsCmd, attrs: Vec<CmdAttr>) -> Result<(), BackendError> {
        self.transact(op, IpvsMessage::new(cmd, attrs), false).map(|_| ())
    }

    /// The request for an operation, after the client-side checks.
    fn message_for(op: &IpvsOp) -> Result<IpvsMessage, BackendError> {
        let operation = op.operation();
        Ok(match op {
            IpvsOp::AddService(s) => {
                check::service(&operation, s)?;
                IpvsMessage::new(IpvsCmd::NewService, vec![CmdAttr::Service(service_attrs(s))])
            }
            IpvsOp::EditService(s) => {
                check::service(&operation, s)?;
                IpvsMessage::new(IpvsCmd::SetService, vec![CmdAttr::Service(service_attrs(s))])
            }
            IpvsOp::DelService(k) => {
                IpvsMessage::new(IpvsCmd::DelService, vec![CmdAttr::Service(service_key_attrs(k))])
            }
            IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d) => {
                check::dest(&operation, k, d)?;
                let cmd = if matches!(op, IpvsOp::AddDest(..)) { IpvsCmd::NewDest } else { IpvsCmd::SetDest };
                IpvsMessage::new(cmd, vec![CmdAttr::Service(service_key_attrs(k)), CmdAttr::Dest(dest_attrs(d))])
            }
            IpvsOp::DelDest(k, a) => IpvsMessage::new(
                IpvsCmd::DelDest,
                vec![CmdAttr::Service(service_key_attrs(k)), CmdAttr::Dest(dest_key_attrs(*a))],
            ),
            IpvsOp::SetTimeouts(t) => IpvsMessage::new(
                IpvsCmd::SetConfig,
                vec![CmdAttr::TimeoutTcp(t.tcp), CmdAttr::TimeoutTcpFin(t.tcp_fin), CmdAttr::TimeoutUdp(t.udp)],
            ),
            IpvsOp::StartDaemon(d) => {
                check::daemon(&operation, d)?;
                IpvsMessage::new(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(daemon_attrs(d))])
            }
            IpvsOp::StopDaemon(r) => {
                IpvsMessage::new(IpvsCmd::DelDaemon, vec![CmdAttr::Daemon(vec![family::DaemonAttr::State(r.state())])])
            }
            IpvsOp::Zero(k) => {
                IpvsMessage::new(IpvsCmd::Zero, k.iter().map(|k| CmdAttr::Service(service_key_attrs(k))).collect())
            }
            IpvsOp::Flush => IpvsMessage::new(IpvsCmd::Flush, Vec::new()),
        })
    }

    /// Sends the datagram in `self.tx`: the requests of `chunk` (indices
    /// into `ops`) with sequence numbers `base..`, then a barrier with
    /// sequence number `barrier`. Records each outcome; returns the socket
    /// error, if any.
    fn finish_chunk(
        &mut self,
        ops: &[IpvsOp],
        chunk: &[usize],
        base: u32,
        barrier: u32,
        outcomes: &mut [OpOutcome],
    ) -> Result<(), BackendError> {
        let Some(&last_index) = chunk.last() else { return Ok(()) };
        let op_of = |seq: u32| -> Option<usize> { chunk.get(seq.wrapping_sub(base) as usize).copied() };
        if let Err(e) = self.sock.send(&self.tx) {
            return Err(BackendError::Io { op: ops[chunk[0]].operation(), source: e });
        }
        for &i in chunk {
            outcomes[i] = OpOutcome::Unknown;
        }
        loop {
            let buf = match self.sock.recv() {
                Ok(b) => b,
                Err(e) => return Err(BackendError::Io { op: ops[last_index].operation(), source: e }),
            };
            let replies = match family::parse_replies(buf, self.family_id) {
                Ok(r) => r,
                Err(e) => return Err(decode_err(&ops[last_index].operation(), e)),
            };
            let mut done = false;
            for reply in replies {
                match reply {
                    Reply::Error { seq, errno } => {
                        if let Some(i) = op_of(seq) {
                            outcomes[i] = OpOutcome::Failed(BackendError::kernel(ops[i].operation(), Errno(errno)));
                        }
                    }
                    Reply::Ack { seq } if seq == barrier => done = true,
                    _ => {}
                }
            }
            if done {
                // Everything before the barrier was handled, in order; what
                // was not refused was applied.
                for &i in chunk {
                    if outcomes[i] == OpOutcome::Unknown {
                        outcomes[i] = OpOutcome::Applied;
                    }
                }
                return Ok(());
            }
        }
    }
}

/// Resolves a generic netlink family's id by name (`CTRL_CMD_GETFAMILY`).
pub(crate) fn resolve_family(sock: &mut NlSocket, name: &'static str) -> Result<u16, BackendError> {
    let op = Operation::ResolveFamily(name);
    let seq = sock.next_seq();
    let genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_owned())],
    });
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    sock.send(&buf).map_err(io_err(&op))?;
    let mut id = None;
    loop {
        let data = sock.recv().map_err(io_err(&op))?;
        let mut off = 0;
        while off < data.len() {
            let msg =
                NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&data[off..]).map_err(|e| decode_err(&op, e))?;
            let len = msg.header.length as usize;
            if len == 0 {
                return Err(decode_err(&op, "netlink message of length 0"));
            }
            off += (len + 3) & !3;
            if msg.header.sequence_number != seq {
                continue;
            }
            match msg.payload {
                NetlinkPayload::InnerMessage(genl) => {
                    for nla in genl.payload.nlas {
                        if let GenlCtrlAttrs::FamilyId(x) = nla {
                            id = Some(x);
                        }
                    }
                }
                NetlinkPayload::Error(e) => match e.code {
                    None => return id.ok_or_else(|| decode_err(&op, "family reply without an id")),
                    Some(code) if code.get() == -(Errno::ENOENT.0) => return Err(BackendError::FamilyNotFound(name)),
                    Some(code) => return Err(BackendError::kernel(op, Errno(code.get().saturating_neg()))),
                },
                _ => {}
            }
        }
    }
}

impl IpvsBackend for NetlinkIpvs {
    fn add_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError> {
        self.execute(&IpvsOp::AddService(service.clone()))
    }

    fn edit_service(&mut self, service: &ServiceConfig) -> Result<(), BackendError> {
        self.execute(&IpvsOp::EditService(service.clone()))
    }

    fn del_service(&mut self, key: &ServiceKey) -> Result<(), BackendError> {
        self.execute(&IpvsOp::DelService(*key))
    }

    fn add_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        self.execute(&IpvsOp::AddDest(*service, *dest))
    }

    fn edit_dest(&mut self, service: &ServiceKey, dest: &DestConfig) -> Result<(), BackendError> {
        self.execute(&IpvsOp::EditDest(*service, *dest))
    }

    fn del_dest(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<(), BackendError> {
        self.execute(&IpvsOp::DelDest(*service, dest))
    }

    fn service(&mut self, key: &ServiceKey) -> Result<ServiceSnapshot, BackendError> {
        let op = Operation::GetService(*key);
        let replies = self.transact(
            &op,
            IpvsMessage::new(IpvsCmd::GetService, vec![CmdAttr::Service(service_key_attrs(key))]),
            false,
        )?;
        let attrs =
            replies.iter().find_map(IpvsMessage::service).ok_or_else(|| decode_err(&op, "reply without a service"))?;
        let parsed = family::parse_service(attrs).map_err(|e| decode_err(&op, e))?;
        let dests = self.dests(&parsed.config.key)?;
        Ok(ServiceSnapshot { config: parsed.config, dests, stats: parsed.stats, rates: parsed.rates })
    }

    fn services(&mut self) -> Result<Vec<ServiceSnapshot>, BackendError> {
        let op = Operation::ListServices;
        let entries = self.transact(&op, IpvsMessage::new(IpvsCmd::GetService, Vec::new()), true)?;
        let mut out = Vec::with_capacity(entries.len());
        for msg in &entries {
            let attrs = msg.service().ok_or_else(|| decode_err(&op, "dump entry without a service"))?;
            let parsed = family::parse_service(attrs).map_err(|e| decode_err(&op, e))?;
            out.push(ServiceSnapshot {
                config: parsed.config,
                dests: Vec::new(),
                stats: parsed.stats,
                rates: parsed.rates,
            });
        }
        out.sort_by_key(|s| s.config.key);
        for svc in &mut out {
            svc.dests = self.dests(&svc.config.key)?;
        }
        Ok(out)
    }

    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestSnapshot>, BackendError> {
        let op = Operation::ListDests(*key);
        let entries = self.transact(
            &op,
            IpvsMessage::new(IpvsCmd::GetDest, vec![CmdAttr::Service(service_key_attrs(key))]),
            true,
        )?;
        entries
            .iter()
            .map(|msg| {
                let attrs = msg.dest().ok_or_else(|| decode_err(&op, "dump entry without a real server"))?;
                family::parse_dest(attrs, key.family()).map_err(|e| decode_err(&op, e))
            })
            .collect()
    }

    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), BackendError> {
        self.execute(&IpvsOp::SetTimeouts(*timeouts))
    }

    fn timeouts(&mut self) -> Result<Timeouts, BackendError> {
        let op = Operation::GetTimeouts;
        let replies = self.transact(&op, IpvsMessage::new(IpvsCmd::GetConfig, Vec::new()), false)?;
        let msg = replies.first().ok_or_else(|| decode_err(&op, "no reply"))?;
        family::parse_timeouts(msg).map_err(|e| decode_err(&op, e))
    }

    fn start_daemon(&mut self, daemon: &DaemonConfig) -> Result<(), BackendError> {
        self.execute(&IpvsOp::StartDaemon(daemon.clone()))
    }

    fn stop_daemon(&mut self, role: DaemonRole) -> Result<(), BackendError> {
        self.execute(&IpvsOp::StopDaemon(role))
    }

    fn daemons(&mut self) -> Result<Vec<DaemonConfig>, BackendError> {
        let op = Operation::ListDaemons;
        let entries = self.transact(&op, IpvsMessage::new(IpvsCmd::GetDaemon, Vec::new()), true)?;
        entries
            .iter()
            .map(|msg| {
                let attrs = msg.daemon().ok_or_else(|| decode_err(&op, "dump entry without a daemon"))?;
                family::parse_daemon(attrs).map_err(|e| decode_err(&op, e))
            })
            .collect()
    }

    fn info(&mut self) -> Result<IpvsInfo, BackendError> {
        let op = Operation::GetInfo;
        let replies = self.transact(&op, IpvsMessage::new(IpvsCmd::GetInfo, Vec::new()), false)?;
        let msg = replies.first().ok_or_else(|| decode_err(&op, "no reply"))?;
        family::parse_info(msg).map_err(|e| decode_err(&op, e))
    }

    fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), BackendError> {
        self.execute(&IpvsOp::Zero(service.copied()))
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.execute(&IpvsOp::Flush)
    }

    fn execute(&mut self, op: &IpvsOp) -> Result<(), BackendError> {
        let msg = Self::message_for(op)?;
        let operation = op.operation();
        self.command(&operation, msg.cmd, msg.attrs)
    }

    fn apply(&mut self, ops: &[IpvsOp]) -> BatchReport {
        let mut outcomes: Vec<OpOutcome> = ops.iter().map(|_| OpOutcome::NotSent).collect();
        let mut chunk: Vec<usize> = Vec::with_capacity(self.batch_ops);
        let mut base = 0u32;
        self.tx.clear();
        for (i, op) in ops.iter().enumerate() {
            let msg = match Self::message_for(op) {
                Ok(m) => m,
                Err(e) => {
                    outcomes[i] = OpOutcome::Failed(e);
                    continue;
                }
            };
            let seq = self.sock.next_seq();
            if chunk.is_empty() {
                base = seq;
            }
            // No acknowledgement per request: the kernel answers only
            // refusals, and the barrier closes the datagram.
            self.encode(msg, 0, seq);
            chunk.push(i);
            if chunk.len() >= self.batch_ops || self.tx.len() >= MAX_DATAGRAM - 4096 {
                let barrier = self.sock.next_seq();
                self.encode_barrier(barrier);
                if let Err(e) = self.finish_chunk(ops, &chunk, base, barrier, &mut outcomes) {
                    return BatchReport { outcomes, transport: Some(e) };
                }
                chunk.clear();
                self.tx.clear();
            }
        }
        if !chunk.is_empty() {
            let barrier = self.sock.next_seq();
            self.encode_barrier(barrier);
            if let Err(e) = self.finish_chunk(ops, &chunk, base, barrier, &mut outcomes) {
                return BatchReport { outcomes, transport: Some(e) };
            }
            self.tx.clear();
        }
        BatchReport { outcomes, transport: None }
    }
}

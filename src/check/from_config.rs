//! From a parsed `keepalived.conf` ([`crate::config::Config`]) to checker
//! specs: [`virtual_servers`] and [`HealthChecker::from_keepalived`].
//!
//! The config module has already applied keepalived's defaults and
//! inheritance (each checker carries its effective `retry`,
//! `delay_before_retry`, `delay_loop`, `warmup`, `alpha` and connection
//! options, each real server its port and weight); this maps them onto
//! [`VirtualServerSpec`]s, resolving what keepalived resolves when it runs a
//! checker: the `Host:` of `HTTP_GET` (the URL's `virtualhost`, else the
//! checker's, the real server's, the virtual server's), the file of a
//! `FILE_CHECK`'s `track_file`, and the deprecated `host` blocks of
//! `SMTP_CHECK` (one checker each, as keepalived queues them).
//!
//! What lvskit does not run is refused with [`CheckError::FromConfig`],
//! which carries the directive's [`Span`] (locate it with the loaded
//! document's [`SourceMap`](crate::config::source::SourceMap)): `BFD_CHECK`,
//! `regex` on a URL, and a `MISC_CHECK` `user` given by name (numeric ids
//! are taken; names need the host's user database).

use std::time::Instant;

use rand::rngs::StdRng;

use super::dns::DnsType;
use super::http::{HttpProtocol, StatusSet};
use super::spec::{
    CheckKind, CheckerSpec, ConnectSpec, DnsCheck, FileCheck, HttpCheck, MiscCheck, RealServerSpec, Script, SmtpCheck,
    SorryServer, Timing, UdpCheck, UrlSpec, VirtualServerSpec,
};
use super::udp::BytePattern;
use super::{CheckError, HealthChecker};
use crate::config::{self, source::Span};

fn unsupported(span: Span, keyword: &'static str, message: impl Into<String>) -> CheckError {
    CheckError::FromConfig { span, keyword, message: message.into() }
}

fn script(s: &config::Script, keyword: &'static str) -> Result<Script, CheckError> {
    Script::new(s.args.iter().cloned()).map_err(|_| unsupported(s.span, keyword, "empty script"))
}

fn connect(c: &config::ConnectOptions) -> ConnectSpec {
    ConnectSpec {
        connect_ip: Some(c.dest.ip()),
        connect_port: Some(c.dest.port()),
        bindto: c.bind.map(|b| b.ip()),
        bind_port: c.bind.map(|b| b.port()).filter(|p| *p != 0),
        bind_if: c.bind_if.clone(),
        fwmark: c.fwmark.unwrap_or(0),
    }
}

/// A `user [group]` of `MISC_CHECK` as numeric ids.
fn user(u: &(String, Option<String>), span: Span) -> Result<(u32, u32), CheckError> {
    let uid: u32 = u.0.parse().map_err(|_| {
        unsupported(
            span,
            "user",
            format!("user '{}' is a name; give a numeric uid (lvskit does not read the user database)", u.0),
        )
    })?;
    let gid = match &u.1 {
        Some(g) => {
            g.parse().map_err(|_| unsupported(span, "user", format!("group '{g}' is a name; give a numeric gid")))?
        }
        None => uid,
    };
    Ok((uid, gid))
}

fn http(h: &config::HttpCheck, tls: bool, vhost: Option<&String>, span: Span) -> Result<HttpCheck, CheckError> {
    let mut urls = Vec::with_capacity(h.urls.len());
    for u in &h.urls {
        if u.regex.is_some() {
            return Err(unsupported(u.span, "regex", "url regex checks are not supported by lvskit"));
        }
        let mut status = StatusSet::empty();
        for r in &u.status_codes {
            status.insert_range(*r.start(), *r.end()).map_err(|e| unsupported(u.span, "status_code", e.to_string()))?;
        }
        if status.is_empty() {
            status = StatusSet::default_codes();
        }
        urls.push(UrlSpec { path: u.path.clone(), digest: u.digest, status, virtualhost: u.virtualhost.clone() });
    }
    let protocol = HttpProtocol::from_name(&h.http_protocol)
        .ok_or_else(|| unsupported(span, "http_protocol", format!("invalid http_protocol '{}'", h.http_protocol)))?;
    Ok(HttpCheck {
        tls,
        urls,
        virtualhost: h.virtualhost.clone().or_else(|| vhost.cloned()),
        protocol,
        enable_sni: h.enable_sni,
        fast_recovery: h.fast_recovery,
    })
}

fn checkers(
    c: &config::Config,
    vs: &config::VirtualServer,
    rs: &config::RealServer,
    k: &config::Checker,
) -> Result<Vec<CheckerSpec>, CheckError> {
    let vhost = rs.virtualhost.as_ref().or(vs.virtualhost.as_ref());
    let kind = match &k.kind {
        config::CheckerKind::Tcp => CheckKind::Tcp,
        config::CheckerKind::Http(h) => CheckKind::Http(http(h, false, vhost, k.span)?),
        config::CheckerKind::Ssl(h) => CheckKind::Http(http(h, true, vhost, k.span)?),
        config::CheckerKind::Misc(m) => {
            let mut s = script(&m.path, "misc_path")?;
            if let Some(u) = &m.user {
                let (uid, gid) = user(u, k.span)?;
                s = s.user(uid, gid);
            }
            CheckKind::Misc(MiscCheck { script: s, timeout: m.timeout, dynamic: m.dynamic })
        }
        config::CheckerKind::Smtp(s) => CheckKind::Smtp(SmtpCheck { helo_name: s.helo_name.clone() }),
        config::CheckerKind::Dns(d) => CheckKind::Dns(DnsCheck {
            qtype: DnsType::from_name(&d.qtype)
                .ok_or_else(|| unsupported(k.span, "type", format!("unknown DNS_CHECK type '{}'", d.qtype)))?,
            name: d.name.clone(),
        }),
        config::CheckerKind::Udp(u) => CheckKind::Udp(UdpCheck {
            payload: u.payload.clone(),
            require_reply: u.require_reply.is_some(),
            reply: u.require_reply.as_ref().filter(|r| !r.is_empty()).map(|r| BytePattern::exact(r.clone())),
            min_reply_len: u.min_reply_length.min(u32::from(u16::MAX)) as u16,
            max_reply_len: if u.max_reply_length == 0 {
                255
            } else {
                u.max_reply_length.min(u32::from(u16::MAX)) as u16
            },
        }),
        config::CheckerKind::Ping => CheckKind::Ping,
        config::CheckerKind::File(f) => {
            let tf =
                c.track_files.iter().find(|t| t.name == f.track_file).ok_or_else(|| {
                    unsupported(k.span, "track_file", format!("track_file {} not found", f.track_file))
                })?;
            let path = tf
                .file
                .clone()
                .ok_or_else(|| unsupported(tf.span, "file", format!("track_file {} has no file", tf.name)))?;
            let mut fc = FileCheck::new(path);
            fc.weight = f.weight;
            fc.reverse = f.reverse;
            CheckKind::File(fc)
        }
        config::CheckerKind::Bfd { .. } => {
            return Err(unsupported(k.span, "BFD_CHECK", "BFD_CHECK is not supported by lvskit"));
        }
    };
    let timing = Timing {
        delay_loop: Some(k.delay_loop),
        warmup: Some(k.warmup),
        retry: Some(k.retry),
        delay_before_retry: Some(k.delay_before_retry),
        connect_timeout: k.conn.as_ref().map(|c| c.timeout),
        alpha: Some(k.alpha),
    };
    let mut out =
        vec![CheckerSpec { kind: kind.clone(), timing, connect: k.conn.as_ref().map(connect).unwrap_or_default() }];
    if let config::CheckerKind::Smtp(s) = &k.kind {
        // keepalived queues one more checker per `host` block.
        for h in &s.hosts {
            out.push(CheckerSpec {
                kind: kind.clone(),
                timing: Timing { connect_timeout: Some(h.conn.timeout), ..timing },
                connect: connect(&h.conn),
            });
        }
    }
    Ok(out)
}

/// The checker specs of every `virtual_server` of a configuration, in
/// order. A virtual server naming a `virtual_server_group` gives one spec
/// with every service of the group.
pub fn virtual_servers(c: &config::Config) -> Result<Vec<VirtualServerSpec>, CheckError> {
    let mut out = Vec::with_capacity(c.virtual_servers.len());
    for vs in &c.virtual_servers {
        let services = vs.services(c);
        let Some(first) = services.first().cloned() else {
            return Err(unsupported(
                vs.span,
                "virtual_server",
                "virtual server has no IPVS service (empty or unknown group)",
            ));
        };
        let mut spec = VirtualServerSpec::new(first);
        spec.services = services;
        spec.timing = Timing {
            delay_loop: Some(vs.delay_loop),
            warmup: vs.warmup,
            retry: vs.retry,
            delay_before_retry: vs.delay_before_retry,
            connect_timeout: Some(vs.connect_timeout),
            alpha: Some(vs.alpha),
        };
        spec.inhibit_on_failure = vs.inhibit_on_failure;
        spec.quorum = vs.quorum;
        spec.hysteresis = vs.hysteresis;
        spec.sorry_server = vs.sorry_server.map(|s| SorryServer { dest: s.dest, inhibit: s.inhibit });
        spec.ha_suspend = vs.ha_suspend;
        spec.omega = vs.omega;
        spec.quorum_up = vs.quorum_up.as_ref().map(|s| script(s, "quorum_up")).transpose()?;
        spec.quorum_down = vs.quorum_down.as_ref().map(|s| script(s, "quorum_down")).transpose()?;
        for rs in &vs.real_servers {
            let mut r = RealServerSpec::new(rs.dest);
            r.timing = Timing {
                delay_loop: Some(rs.delay_loop),
                warmup: rs.warmup,
                retry: rs.retry,
                delay_before_retry: rs.delay_before_retry,
                connect_timeout: Some(rs.connect_timeout),
                alpha: Some(rs.alpha),
            };
            r.inhibit_on_failure = Some(rs.inhibit_on_failure);
            r.notify_up = rs.notify_up.as_ref().map(|s| script(s, "notify_up")).transpose()?;
            r.notify_down = rs.notify_down.as_ref().map(|s| script(s, "notify_down")).transpose()?;
            for k in &rs.checkers {
                r.checkers.extend(checkers(c, vs, rs, k)?);
            }
            spec.real_servers.push(r);
        }
        out.push(spec);
    }
    Ok(out)
}

impl HealthChecker {
    /// The health checker a `keepalived.conf` describes, starting at `now`
    /// (see [`virtual_servers`]).
    pub fn from_keepalived(c: &config::Config, rng: StdRng, now: Instant) -> Result<Self, CheckError> {
        HealthChecker::new(virtual_servers(c)?, rng, now)
    }
}

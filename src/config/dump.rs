//! A stable, readable listing of a typed [`Config`]: every block with its
//! effective values (defaults and inheritance applied), one setting per
//! line, in configuration order. `keepalived-check --dump` prints it; tests
//! compare it.

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::model::*;
use crate::ipvs::{DestConfig, ForwardMethod, PersistMask, TunnelCsum};

/// Seconds with up to microseconds, trailing zeros dropped: `1s`, `0.5s`.
fn secs(d: Duration) -> String {
    let us = d.as_micros();
    if us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else {
        let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

fn forward(f: ForwardMethod) -> String {
    match f {
        ForwardMethod::Masq => "NAT".into(),
        ForwardMethod::Route => "DR".into(),
        ForwardMethod::Local => "local".into(),
        ForwardMethod::Tunnel(t) => {
            let mut s = format!("TUN type {}", t.kind.name());
            if t.port != 0 {
                let _ = write!(s, " port {}", t.port);
            }
            match t.csum {
                TunnelCsum::NoCsum => {}
                TunnelCsum::Csum => s.push_str(" csum"),
                TunnelCsum::RemCsum => s.push_str(" remcsum"),
            }
            s
        }
    }
}

fn dest(d: &DestConfig) -> String {
    let mut s = format!("{} weight {} {}", std::net::SocketAddr::new(d.addr, d.port), d.weight, forward(d.forward));
    if d.upper_threshold != 0 || d.lower_threshold != 0 {
        let _ = write!(s, " uthreshold {} lthreshold {}", d.upper_threshold, d.lower_threshold);
    }
    s
}

fn script(s: &Script) -> String {
    s.args
        .iter()
        .map(|a| if a.contains(char::is_whitespace) || a.is_empty() { format!("{a:?}") } else { a.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

struct Out {
    s: String,
}

impl Out {
    fn line(&mut self, depth: usize, args: fmt::Arguments<'_>) {
        for _ in 0..depth {
            self.s.push_str("  ");
        }
        let _ = self.s.write_fmt(args);
        self.s.push('\n');
    }
}

macro_rules! l {
    ($o:expr, $d:expr, $($t:tt)*) => { $o.line($d, format_args!($($t)*)) };
}

fn raw(o: &mut Out, depth: usize, r: &RawDirective) {
    let args = r.args.join(" ");
    l!(o, depth, "{} {}{} (kept, not interpreted)", r.name, args, if r.block.is_some() { " {...}" } else { "" });
}

fn vip(v: &VirtualIp) -> String {
    let mut s = format!("{}/{}", v.addr, v.prefix_len);
    if let Some(b) = v.broadcast {
        let _ = write!(s, " brd {b}");
    }
    if let Some(p) = v.peer {
        let _ = write!(s, " peer {p}");
    }
    if let Some(d) = &v.dev {
        let _ = write!(s, " dev {d}");
    }
    if let Some(sc) = v.scope {
        let _ = write!(s, " scope {sc}");
    }
    if let Some(lb) = &v.label {
        let _ = write!(s, " label {lb}");
    }
    if v.no_track {
        s.push_str(" no_track");
    }
    if v.use_vmac {
        s.push_str(" use_vmac");
    }
    for f in &v.flags {
        let _ = write!(s, " {f}");
    }
    s
}

fn tracked(o: &mut Out, depth: usize, what: &str, t: &[Tracked]) {
    for x in t {
        l!(o, depth, "{what} {} weight {}{}", x.name, x.weight, if x.reverse { " reverse" } else { "" });
    }
}

fn notify(o: &mut Out, depth: usize, n: &Notify) {
    for (k, v) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify_deleted", &n.deleted),
        ("notify", &n.any),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ] {
        if let Some(s) = v {
            l!(o, depth, "{k} {}", script(s));
        }
    }
}

fn garp(o: &mut Out, depth: usize, g: &Garp) {
    l!(
        o,
        depth,
        "garp master_delay {} master_repeat {} master_refresh {} master_refresh_repeat {}{}{}",
        secs(g.master_delay),
        g.master_repeat,
        secs(g.master_refresh),
        g.master_refresh_repeat,
        g.lower_prio_delay.map_or(String::new(), |d| format!(" lower_prio_delay {}", secs(d))),
        g.lower_prio_repeat.map_or(String::new(), |r| format!(" lower_prio_repeat {r}")),
    );
}

fn checker(o: &mut Out, depth: usize, c: &Checker) {
    let mut head = c.kind.keyword().to_owned();
    if let Some(co) = &c.conn {
        let _ = write!(head, " connect {} timeout {}", co.dest, secs(co.timeout));
        if let Some(b) = co.bind {
            let _ = write!(head, " bindto {b}");
        }
        if let Some(i) = &co.bind_if {
            let _ = write!(head, " bind_if {i}");
        }
        if let Some(m) = co.fwmark {
            let _ = write!(head, " fwmark {m}");
        }
    }
    l!(o, depth, "{head}");
    l!(
        o,
        depth + 1,
        "retry {} delay_before_retry {} delay_loop {} warmup {} alpha {}{}",
        c.retry,
        secs(c.delay_before_retry),
        secs(c.delay_loop),
        secs(c.warmup),
        yes(c.alpha),
        if c.log_all_failures { " log_all_failures" } else { "" }
    );
    match &c.kind {
        CheckerKind::Http(h) | CheckerKind::Ssl(h) => {
            l!(
                o,
                depth + 1,
                "http_protocol {}{}{}",
                h.http_protocol,
                if h.enable_sni { " enable_sni" } else { "" },
                if h.fast_recovery { " fast_recovery" } else { "" }
            );
            if let Some(v) = &h.virtualhost {
                l!(o, depth + 1, "virtualhost {v}");
            }
            for u in &h.urls {
                let codes: Vec<String> = u
                    .status_codes
                    .iter()
                    .map(|r| {
                        if r.start() == r.end() { r.start().to_string() } else { format!("{}-{}", r.start(), r.end()) }
                    })
                    .collect();
                let mut s = format!("url {} status_code {}", u.path, codes.join(" "));
                if let Some(d) = u.digest {
                    s.push_str(" digest ");
                    for b in d {
                        let _ = write!(s, "{b:02x}");
                    }
                }
                if let Some(v) = &u.virtualhost {
                    let _ = write!(s, " virtualhost {v}");
                }
                if let Some((r, nm)) = &u.regex {
                    let _ = write!(s, " regex {r:?}{}", if *nm { " no_match" } else { "" });
                }
                l!(o, depth + 1, "{s}");
            }
        }
        CheckerKind::Misc(m) => {
            l!(o, depth + 1, "misc_path {}", script(&m.path));
            if let Some(t) = m.timeout {
                l!(o, depth + 1, "misc_timeout {}", secs(t));
            }
            if m.dynamic {
                l!(o, depth + 1, "misc_dynamic");
            }
            if let Some((u, g)) = &m.user {
                l!(o, depth + 1, "user {u}{}", g.as_ref().map_or(String::new(), |g| format!(" {g}")));
            }
        }
        CheckerKind::Smtp(s) => {
            l!(o, depth + 1, "helo_name {}", s.helo_name);
            for h in &s.hosts {
                l!(o, depth + 1, "host connect {} timeout {}", h.conn.dest, secs(h.conn.timeout));
            }
        }
        CheckerKind::Dns(d) => l!(o, depth + 1, "type {} name {}", d.qtype, d.name),
        CheckerKind::Udp(u) => {
            if let Some(p) = &u.payload {
                l!(o, depth + 1, "payload {}", p.iter().map(|b| format!("{b:02x}")).collect::<String>());
            }
            if let Some(r) = &u.require_reply {
                l!(o, depth + 1, "require_reply {}", r.iter().map(|b| format!("{b:02x}")).collect::<String>());
            }
            if u.min_reply_length != 0 || u.max_reply_length != 0 {
                l!(o, depth + 1, "reply_length {}..={}", u.min_reply_length, u.max_reply_length);
            }
        }
        CheckerKind::File(f) => l!(
            o,
            depth + 1,
            "track_file {} weight {}{}",
            f.track_file,
            f.weight,
            if f.reverse { " reverse" } else { "" }
        ),
        CheckerKind::Bfd { name } => l!(o, depth + 1, "name {name}"),
        CheckerKind::Tcp | CheckerKind::Ping => {}
    }
}

impl Config {
    /// The listing `keepalived-check --dump` prints.
    pub fn dump(&self) -> String {
        let mut o = Out { s: String::new() };
        let g = &self.global;
        l!(o, 0, "global_defs");
        l!(o, 1, "router_id {}", g.router_id.as_deref().unwrap_or("(host name)"));
        for e in &g.notification_email {
            l!(o, 1, "notification_email {e}");
        }
        if let Some(f) = &g.notification_email_from {
            l!(o, 1, "notification_email_from {f}");
        }
        if let Some(s) = &g.smtp_server {
            l!(o, 1, "smtp_server {} port {}", s.host, s.port);
        }
        if let Some(h) = &g.smtp_helo_name {
            l!(o, 1, "smtp_helo_name {h}");
        }
        l!(o, 1, "smtp_connect_timeout {}", secs(g.smtp_connect_timeout));
        for (k, v) in [
            ("smtp_alert", g.smtp_alert),
            ("smtp_alert_vrrp", g.smtp_alert_vrrp),
            ("smtp_alert_checker", g.smtp_alert_checker),
        ] {
            if let Some(b) = v {
                l!(o, 1, "{k} {}", yes(b));
            }
        }
        if let Some(i) = &g.default_interface {
            l!(o, 1, "default_interface {i}");
        }
        if let Some(t) = g.lvs_timeouts {
            l!(o, 1, "lvs_timeouts tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp);
        }
        if g.lvs_flush {
            l!(o, 1, "lvs_flush");
        }
        if let Some(f) = g.lvs_flush_on_stop {
            l!(o, 1, "lvs_flush_on_stop {}", if f == LvsFlushOnStop::Full { "full" } else { "VS" });
        }
        if let Some(s) = &g.lvs_sync_daemon {
            let d = &s.daemon;
            l!(
                o,
                1,
                "lvs_sync_daemon {} inst {} id {} maxlen {} port {} ttl {} group {}",
                d.mcast_ifn,
                s.vrrp_instance.as_deref().unwrap_or("-"),
                d.sync_id,
                d.sync_maxlen,
                d.mcast_port,
                d.mcast_ttl,
                d.mcast_group.map_or("-".to_owned(), |a| a.to_string())
            );
        }
        l!(o, 1, "vrrp_mcast_group4 {} vrrp_mcast_group6 {}", g.vrrp_mcast_group4, g.vrrp_mcast_group6);
        garp(&mut o, 1, &g.garp);
        l!(o, 1, "vrrp_version {} vrrp_strict {}", g.vrrp_version, yes(g.vrrp_strict));
        if g.enable_script_security {
            l!(o, 1, "enable_script_security");
        }
        if let Some((u, gr)) = &g.script_user {
            l!(o, 1, "script_user {u}{}", gr.as_ref().map_or(String::new(), |g| format!(" {g}")));
        }
        for r in &g.extra {
            raw(&mut o, 1, r);
        }
        for s in &self.vrrp_scripts {
            l!(o, 0, "vrrp_script {}", s.name);
            if let Some(sc) = &s.script {
                l!(o, 1, "script {}", script(sc));
            }
            l!(
                o,
                1,
                "interval {} timeout {} weight {}{} rise {} fall {}{}",
                secs(s.interval),
                secs(s.timeout.unwrap_or(s.interval)),
                s.weight,
                if s.weight_reverse { " reverse" } else { "" },
                s.rise,
                s.fall,
                if s.init_fail { " init_fail" } else { "" }
            );
        }
        for t in &self.track_files {
            l!(o, 0, "track_file {}", t.name);
            l!(
                o,
                1,
                "file {} weight {}{}",
                t.file.as_deref().unwrap_or("-"),
                t.weight,
                if t.weight_reverse { " reverse" } else { "" }
            );
        }
        for p in &self.track_processes {
            l!(o, 0, "vrrp_track_process {}", p.name);
            l!(
                o,
                1,
                "process {} weight {} quorum {}",
                p.process.as_ref().map_or("-".to_owned(), |v| v.join(" ")),
                p.weight,
                p.quorum
            );
        }
        for v in &self.vrrp_instances {
            l!(o, 0, "vrrp_instance {}", v.name);
            l!(o, 1, "state {}", if v.state == VrrpState::Master { "MASTER" } else { "BACKUP" });
            l!(o, 1, "interface {}", v.interface.as_deref().unwrap_or("-"));
            l!(
                o,
                1,
                "virtual_router_id {} priority {} advert_int {} version {} family {}",
                v.virtual_router_id,
                v.priority,
                secs(v.advert_int),
                v.version,
                v.family
            );
            match &v.authentication {
                Some(Authentication::Pass(p)) => l!(o, 1, "authentication PASS {:?}", String::from_utf8_lossy(p)),
                Some(Authentication::Ah(p)) => l!(o, 1, "authentication AH {:?}", String::from_utf8_lossy(p)),
                None => {}
            }
            for a in &v.virtual_ipaddress {
                l!(o, 1, "virtual_ipaddress {}", vip(a));
            }
            for a in &v.virtual_ipaddress_excluded {
                l!(o, 1, "virtual_ipaddress_excluded {}", vip(a));
            }
            for r in &v.virtual_routes {
                l!(o, 1, "virtual_route {}", r.words.join(" "));
            }
            for r in &v.virtual_rules {
                l!(o, 1, "virtual_rule {}", r.words.join(" "));
            }
            if let Some(s) = v.src_ip {
                l!(o, 1, "src_ip {s}");
            }
            for p in &v.unicast_peers {
                l!(o, 1, "unicast_peer {} min_ttl {} max_ttl {}", p.addr, p.min_ttl, p.max_ttl);
            }
            if let Some(m) = v.mcast_dst_ip {
                l!(o, 1, "mcast_dst_ip {m}");
            }
            if let Some(t) = v.unicast_ttl {
                l!(o, 1, "unicast_ttl {t}");
            }
            if v.unicast_fault_no_peer {
                l!(o, 1, "unicast_fault_no_peer yes");
            }
            match v.old_unicast_checksum {
                OldUnicastChecksum::Auto => {}
                OldUnicastChecksum::Never => l!(o, 1, "old_unicast_checksum never"),
                OldUnicastChecksum::Old => l!(o, 1, "old_unicast_checksum always"),
            }
            l!(
                o,
                1,
                "nopreempt {} preempt_delay {} accept {} strict_mode {}",
                yes(v.nopreempt),
                secs(v.preempt_delay),
                yes(v.accept),
                yes(v.strict_mode)
            );
            tracked(&mut o, 1, "track_interface", &v.track_interfaces);
            tracked(&mut o, 1, "track_script", &v.track_scripts);
            tracked(&mut o, 1, "track_file", &v.track_files);
            tracked(&mut o, 1, "track_process", &v.track_processes);
            tracked(&mut o, 1, "track_bfd", &v.track_bfds);
            notify(&mut o, 1, &v.notify);
            garp(&mut o, 1, &v.garp);
            if let Some(m) = &v.use_vmac {
                l!(
                    o,
                    1,
                    "use_vmac {}{}",
                    m.ifname.as_deref().unwrap_or("(default name)"),
                    m.mac.map_or(String::new(), |m| format!(
                        " {}",
                        m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
                    ))
                );
            }
            if let Some(s) = &v.sync_group {
                l!(o, 1, "sync_group {s}");
            }
            l!(o, 1, "smtp_alert {}", yes(v.smtp_alert));
            for r in &v.extra {
                raw(&mut o, 1, r);
            }
        }
        for s in &self.sync_groups {
            l!(o, 0, "vrrp_sync_group {}", s.name);
            l!(o, 1, "group {}", s.instances.join(" "));
            tracked(&mut o, 1, "track_interface", &s.track_interfaces);
            tracked(&mut o, 1, "track_script", &s.track_scripts);
            tracked(&mut o, 1, "track_file", &s.track_files);
            notify(&mut o, 1, &s.notify);
        }
        for a in &self.static_ipaddress {
            l!(o, 0, "static_ipaddress {}", vip(a));
        }
        for r in &self.static_routes {
            l!(o, 0, "static_route {}", r.words.join(" "));
        }
        for r in &self.static_rules {
            l!(o, 0, "static_rule {}", r.words.join(" "));
        }
        for gg in &self.garp_groups {
            l!(
                o,
                0,
                "garp_group garp_interval {} gna_interval {} interfaces {}",
                gg.garp_interval.map_or("-".to_owned(), secs),
                gg.gna_interval.map_or("-".to_owned(), secs),
                gg.interfaces.join(" ")
            );
        }
        for gr in &self.virtual_server_groups {
            l!(o, 0, "virtual_server_group {}", gr.name);
            for e in &gr.entries {
                match e {
                    GroupEntry::Range { first, last, port } if first == last => l!(o, 1, "{first} port {port}"),
                    GroupEntry::Range { first, last, port } => l!(o, 1, "{first}-{last} port {port}"),
                    GroupEntry::Fwmark { mark, family } => {
                        l!(o, 1, "fwmark {mark}{}", family.map_or(String::new(), |f| format!(" {f}")))
                    }
                }
            }
        }
        for vs in &self.virtual_servers {
            let key = match &vs.key {
                VirtualServerKey::Addr(sa) => format!("{} {sa}", vs.protocol),
                VirtualServerKey::Fwmark(m) => format!("fwmark {m} {}", vs.family),
                VirtualServerKey::Group(g) => format!("group {g} {}", vs.protocol),
            };
            l!(o, 0, "virtual_server {key}");
            l!(
                o,
                1,
                "lvs_sched {} lvs_method {}{}",
                vs.scheduler,
                forward(vs.forward),
                if vs.flags.is_empty() { String::new() } else { format!(" flags {:#x}", vs.flags.bits()) }
            );
            if let Some(p) = vs.persistence {
                let mask = match p.mask {
                    PersistMask::V4(m) => m.to_string(),
                    PersistMask::V6(l) => l.to_string(),
                };
                l!(o, 1, "persistence_timeout {} persistence_granularity {mask}", p.timeout);
            }
            if let Some(pe) = &vs.persistence_engine {
                l!(o, 1, "persistence_engine {pe}");
            }
            l!(
                o,
                1,
                "delay_loop {} connect_timeout {} quorum {} hysteresis {} alpha {} omega {} ha_suspend {} inhibit_on_failure {}",
                secs(vs.delay_loop),
                secs(vs.connect_timeout),
                vs.quorum,
                vs.hysteresis,
                yes(vs.alpha),
                yes(vs.omega),
                yes(vs.ha_suspend),
                yes(vs.inhibit_on_failure)
            );
            if let Some(v) = &vs.virtualhost {
                l!(o, 1, "virtualhost {v}");
            }
            if let Some(s) = &vs.quorum_up {
                l!(o, 1, "quorum_up {}", script(s));
            }
            if let Some(s) = &vs.quorum_down {
                l!(o, 1, "quorum_down {}", script(s));
            }
            if let Some(s) = &vs.sorry_server {
                l!(o, 1, "sorry_server {}{}", dest(&s.dest), if s.inhibit { " inhibit" } else { "" });
            }
            for r in &vs.extra {
                raw(&mut o, 1, r);
            }
            for rs in &vs.real_servers {
                l!(o, 1, "real_server {}", dest(&rs.dest));
                l!(
                    o,
                    2,
                    "inhibit_on_failure {} alpha {} smtp_alert {}",
                    yes(rs.inhibit_on_failure),
                    yes(rs.alpha),
                    yes(rs.smtp_alert)
                );
                if let Some(s) = &rs.notify_up {
                    l!(o, 2, "notify_up {}", script(s));
                }
                if let Some(s) = &rs.notify_down {
                    l!(o, 2, "notify_down {}", script(s));
                }
                for c in &rs.checkers {
                    checker(&mut o, 2, c);
                }
                for r in &rs.extra {
                    raw(&mut o, 2, r);
                }
            }
        }
        if let Some(ssl) = &self.ssl {
            l!(o, 0, "SSL");
            for (k, v) in
                [("password", &ssl.password), ("ca", &ssl.ca), ("certificate", &ssl.certificate), ("key", &ssl.key)]
            {
                if let Some(v) = v {
                    l!(o, 1, "{k} {v}");
                }
            }
        }
        for r in &self.extra {
            raw(&mut o, 0, r);
        }
        o.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(secs(Duration::from_secs(3)), "3s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5s");
        assert_eq!(secs(Duration::from_micros(1)), "0.000001s");
    }
}

//! `global_defs` (`keepalived/core/global_parser.c`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::Lowerer;
use crate::config::diag::ConfigErr;
use crate::config::keywords::Context;
use crate::config::model::{GlobalDefs, LvsFlushOnStop, LvsSyncDaemon, SmtpServer};
use crate::config::tree::include_check_flags;
use crate::config::tree::{Block, Directive};
use crate::ipvs::{DaemonConfig, DaemonRole, Timeouts};

/// `UINT_MAX / TIMER_HZ`: the largest number of seconds keepalived keeps in
/// a microsecond timer.
pub(crate) const MAX_SECS: u32 = u32::MAX / 1_000_000;

/// `LVS_MAX_TIMEOUT` (`keepalived/include/global_data.h`): 31 days.
const LVS_MAX_TIMEOUT: u32 = 86400 * 31;

pub(crate) fn global_defs<'d>(lw: &mut Lowerer<'_>, block: Block<'d>, g: &mut GlobalDefs) {
    for d in block.iter() {
        directive(lw, &d, g);
    }
}

fn set_bool<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, field: &mut bool) {
    if let Some(b) = lw.opt_bool(d) {
        *field = b;
    }
}

fn directive<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, g: &mut GlobalDefs) {
    lw.extra_words(d, Context::GlobalDefs);
    match d.name() {
        "router_id" => {
            if let Some(v) = lw.opt_string(d, "`router_id` without a name; keepalived ignores it") {
                g.router_id = Some(v);
            }
        }
        "notification_email_from" => {
            if let Some(v) = lw.opt_string(d, "`notification_email_from` without an address; keepalived ignores it") {
                g.notification_email_from = Some(v);
            }
        }
        "notification_email" => {
            if let Some(lines) = lw.value_lines(d) {
                if lines.is_empty() {
                    lw.general(d.span(), "empty `notification_email` block");
                }
                for l in lines {
                    for w in l.words() {
                        g.notification_email.push(w.as_str().to_owned());
                    }
                }
            }
        }
        "smtp_server" => {
            let Some(host) = lw.arg(d, 0) else { return };
            let port = match d.arg(1) {
                None => 25,
                Some(p) => match p.as_str().parse::<u16>() {
                    Ok(v) if v != 0 => v,
                    _ => {
                        lw.general(p.span(), format!("invalid smtp server port `{}`", p.as_str()));
                        return;
                    }
                },
            };
            let h = host.as_str();
            // keepalived parses an address, else resolves the name.
            if h.parse::<IpAddr>().is_err() && !is_hostname(h) {
                lw.general(host.span(), format!("invalid smtp server `{h}`"));
                return;
            }
            g.smtp_server = Some(SmtpServer { host: h.to_owned(), port });
        }
        "smtp_helo_name" => {
            if let Some(w) = d.arg(0) {
                g.smtp_helo_name = Some(w.as_str().to_owned());
            }
        }
        "smtp_connect_timeout" => {
            if let Some(mut v) = lw.unsigned(d, 0, 0, MAX_SECS, "keepalived ignores it") {
                if v == 0 {
                    lw.general(d.span(), "`smtp_connect_timeout` must be greater than 0; keepalived uses 1");
                    v = 1;
                }
                g.smtp_connect_timeout = Duration::from_secs(v as u64);
            }
        }
        "smtp_alert" => {
            if let Some(b) = lw.opt_bool(d) {
                g.smtp_alert = Some(b);
            }
        }
        "smtp_alert_vrrp" => {
            if let Some(b) = lw.opt_bool(d) {
                g.smtp_alert_vrrp = Some(b);
            }
        }
        "smtp_alert_checker" => {
            if let Some(b) = lw.opt_bool(d) {
                g.smtp_alert_checker = Some(b);
            }
        }
        "checker_log_all_failures" => set_bool(lw, d, &mut g.checker_log_all_failures),
        "default_interface" => {
            if let Some(v) = lw.opt_string(d, "`default_interface` requires an interface name") {
                g.default_interface = Some(v);
            }
        }
        "dynamic_interfaces" => {
            let mut allow_changes = false;
            if let Some(w) = d.arg(0) {
                if w.as_str() == "allow_if_changes" {
                    allow_changes = true;
                } else {
                    lw.general(w.span(), format!("unknown `dynamic_interfaces` option `{}`", w.as_str()));
                }
            }
            g.dynamic_interfaces = Some(allow_changes);
        }
        "no_email_faults" => g.no_email_faults = true,
        "enable_script_security" => g.enable_script_security = true,
        "script_user" => match d.arg(0) {
            Some(u) => g.script_user = Some((u.as_str().to_owned(), d.arg(1).map(|w| w.as_str().to_owned()))),
            None => {
                lw.general(d.span(), "`script_user` requires a user name");
            }
        },
        "include_check" => {
            let args: Vec<String> = d.args().map(|w| w.as_str().to_owned()).collect();
            for (i, w) in d.args().enumerate() {
                let s = w.as_str();
                let (plain, name) = match s.as_bytes().first() {
                    Some(b'+') | Some(b'-') => (false, &s[1..]),
                    _ => (true, s),
                };
                if plain && i > 0 {
                    lw.general(w.span(), format!("duplicate `include_check` type `{s}`; keepalived ignores it"));
                    continue;
                }
                if !matches!(name, "read" | "match" | "wildcard_match" | "brace_match") {
                    lw.general(w.span(), format!("unknown `include_check` type `{name}`; keepalived ignores it"))
                        .help = Some("the types are read, match, wildcard_match and brace_match".into());
                }
            }
            g.include_check = include_check_flags(g.include_check, &args);
        }
        "lvs_timeouts" => lvs_timeouts(lw, d, g),
        "lvs_flush" => g.lvs_flush = true,
        "lvs_flush_on_stop" | "lvs_flush_onstop" => match d.arg(0) {
            None => g.lvs_flush_on_stop = Some(LvsFlushOnStop::Full),
            Some(w) if w.as_str() == "VS" => g.lvs_flush_on_stop = Some(LvsFlushOnStop::VirtualServers),
            Some(w) => {
                lw.general(w.span(), format!("unknown `lvs_flush_on_stop` type `{}`", w.as_str()));
            }
        },
        "lvs_sync_daemon" => lvs_sync_daemon(lw, d, g),
        "vrrp_mcast_group4" => {
            let Some(w) = lw.arg(d, 0) else { return };
            match w.as_str().parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if a.is_multicast() => g.vrrp_mcast_group4 = a,
                Ok(IpAddr::V4(_)) => {
                    lw.general(
                        w.span(),
                        format!("vrrp_mcast_group4 `{}` is not multicast; keepalived ignores it", w.as_str()),
                    );
                }
                Ok(IpAddr::V6(_)) => {
                    lw.general(
                        w.span(),
                        format!("vrrp_mcast_group4 `{}` is not IPv4; keepalived ignores it", w.as_str()),
                    );
                }
                Err(_) => {
                    lw.general(
                        w.span(),
                        format!("cannot parse vrrp_mcast_group4 `{}`; keepalived ignores it", w.as_str()),
                    );
                }
            }
        }
        "vrrp_mcast_group6" => {
            let Some(w) = lw.arg(d, 0) else { return };
            match w.as_str().parse::<IpAddr>() {
                Ok(IpAddr::V6(a)) if a.is_multicast() => {
                    if a.segments()[0] & 0xff0f != 0xff02 {
                        lw.report(
                            ConfigErr::Warning,
                            w.span(),
                            format!("vrrp_mcast_group6 `{}` should be link-local multicast", w.as_str()),
                        );
                    }
                    g.vrrp_mcast_group6 = a;
                }
                Ok(IpAddr::V6(_)) => {
                    lw.general(
                        w.span(),
                        format!("vrrp_mcast_group6 `{}` is not multicast; keepalived ignores it", w.as_str()),
                    );
                }
                Ok(IpAddr::V4(_)) => {
                    lw.general(
                        w.span(),
                        format!("vrrp_mcast_group6 `{}` is not IPv6; keepalived ignores it", w.as_str()),
                    );
                }
                Err(_) => {
                    lw.general(
                        w.span(),
                        format!("cannot parse vrrp_mcast_group6 `{}`; keepalived ignores it", w.as_str()),
                    );
                }
            }
        }
        "vrrp_garp_master_delay" => {
            if let Some(v) = lw.unsigned(d, 0, 0, MAX_SECS, "keepalived ignores it") {
                g.garp.master_delay = Duration::from_secs(v as u64);
            }
        }
        "vrrp_garp_master_repeat" => {
            if let Some(mut v) = lw.unsigned(d, 0, 0, u32::MAX, "keepalived ignores it") {
                if v == 0 {
                    lw.general(d.span(), "`vrrp_garp_master_repeat` must be greater than 0; keepalived uses 1");
                    v = 1;
                }
                g.garp.master_repeat = v;
            }
        }
        "vrrp_garp_master_refresh" => {
            g.garp.master_refresh =
                Duration::from_secs(lw.unsigned(d, 0, 0, u32::MAX, "keepalived sets 0").unwrap_or(0) as u64);
        }
        "vrrp_garp_master_refresh_repeat" => {
            if let Some(mut v) = lw.unsigned(d, 0, 0, u32::MAX, "keepalived ignores it") {
                if v == 0 {
                    lw.general(d.span(), "`vrrp_garp_master_refresh_repeat` must be greater than 0; keepalived uses 1");
                    v = 1;
                }
                g.garp.master_refresh_repeat = v;
            }
        }
        "vrrp_garp_lower_prio_delay" => {
            if let Some(v) = lw.unsigned(d, 0, 0, MAX_SECS, "keepalived ignores it") {
                g.garp.lower_prio_delay = Some(Duration::from_secs(v as u64));
            }
        }
        "vrrp_garp_lower_prio_repeat" => {
            if let Some(v) = lw.unsigned(d, 0, 0, i32::MAX as u32, "keepalived ignores it") {
                g.garp.lower_prio_repeat = Some(v);
            }
        }
        "vrrp_down_timer_adverts" => {
            if let Some(v) = lw.unsigned(d, 0, 1, 100, "keepalived ignores it") {
                g.vrrp_down_timer_adverts = v;
            }
        }
        "vrrp_garp_interval" => {
            if let Some(v) = lw.timer(d, 0, 1, u32::MAX as u64, "keepalived ignores it") {
                g.vrrp_garp_interval = v;
            }
        }
        "vrrp_gna_interval" => {
            if let Some(v) = lw.timer(d, 0, 1, u32::MAX as u64, "keepalived ignores it") {
                g.vrrp_gna_interval = v;
            }
        }
        "vrrp_min_garp" => {
            let on = match d.arg(0) {
                None => true,
                Some(_) => match lw.opt_bool(d) {
                    Some(b) => b,
                    None => return,
                },
            };
            if on {
                // Only the settings still at their defaults change.
                if g.garp.master_repeat == 5 {
                    g.garp.master_repeat = 1;
                }
                if g.garp.master_refresh_repeat == 1 {
                    g.garp.master_refresh_repeat = 0;
                }
                if g.garp.master_delay == Duration::from_secs(5) {
                    g.garp.master_delay = Duration::ZERO;
                }
            }
        }
        "vrrp_lower_prio_no_advert" => set_bool(lw, d, &mut g.vrrp_lower_prio_no_advert),
        "vrrp_higher_prio_send_advert" => set_bool(lw, d, &mut g.vrrp_higher_prio_send_advert),
        "vrrp_version" => {
            if let Some(v) = lw.unsigned(d, 0, 2, 3, "keepalived ignores it") {
                g.vrrp_version = v as u8;
            }
        }
        "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
        "vrrp_skip_check_adv_addr" => set_bool(lw, d, &mut g.vrrp_skip_check_adv_addr),
        "vrrp_strict" => g.vrrp_strict = true,
        "vrrp_notify_priority_changes" => set_bool(lw, d, &mut g.vrrp_notify_priority_changes),
        "vrrp_startup_delay" => {
            if let Some(v) = lw.timer(d, 0, 0, 60 * 60 * 1_000_000, "keepalived ignores it") {
                g.vrrp_startup_delay = v;
            }
        }
        _ => lw.other(d, Context::GlobalDefs, &mut g.extra),
    }
}

/// Host names keepalived would try to resolve (letters, digits, `-`, `.`).
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('/')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

fn lvs_timeouts<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, g: &mut GlobalDefs) {
    if d.nargs() < 2 {
        lw.general(d.span(), "`lvs_timeouts` requires at least one option").help =
            Some("write `lvs_timeouts tcp SECS tcpfin SECS udp SECS`".into());
        return;
    }
    let mut t = g.lvs_timeouts.unwrap_or(Timeouts { tcp: 0, tcp_fin: 0, udp: 0 });
    let mut i = 0;
    while i < d.nargs() {
        let w = d.arg(i).expect("i < nargs");
        let which = w.as_str();
        if matches!(which, "tcp" | "tcpfin" | "udp") {
            if i + 1 == d.nargs() {
                lw.general(w.span(), format!("no value for lvs_timeouts `{which}`; keepalived ignores it"));
                i += 1;
                continue;
            }
            if let Some(v) = lw.unsigned(d, i + 1, 0, LVS_MAX_TIMEOUT, "keepalived ignores it") {
                match which {
                    "tcp" => t.tcp = v,
                    "tcpfin" => t.tcp_fin = v,
                    _ => t.udp = v,
                }
            }
            i += 2;
            continue;
        }
        lw.general(w.span(), format!("unknown lvs_timeouts option `{which}`")).help =
            Some("the options are tcp, tcpfin and udp".into());
        i += 1;
    }
    g.lvs_timeouts = Some(t);
}

fn lvs_sync_daemon<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, g: &mut GlobalDefs) {
    if let Some(prev) = &g.lvs_sync_daemon {
        let name = prev.daemon.mcast_ifn.clone();
        lw.general(
            d.span(),
            format!("`lvs_sync_daemon` was already given (interface {name}); keepalived ignores this one"),
        );
        return;
    }
    let Some(ifw) = d.arg(0) else {
        lw.general(d.span(), "`lvs_sync_daemon` requires an interface");
        return;
    };
    // IP_VS_IFNAME_MAXLEN is 16 with the NUL.
    if ifw.as_str().len() >= 16 {
        lw.general(
            ifw.span(),
            format!("lvs_sync_daemon interface name `{}` is too long; keepalived ignores it", ifw.as_str()),
        );
        return;
    }
    let mut daemon = DaemonConfig {
        role: DaemonRole::Master,
        mcast_ifn: ifw.as_str().to_owned(),
        sync_id: 0,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    let mut inst: Option<String> = None;
    let mut id_given = false;
    let n = d.nargs();
    let mut i = 1;
    while i < n {
        let w = d.arg(i).expect("i < nargs");
        let has_value = i + 1 < n;
        match w.as_str() {
            "inst" => {
                if inst.is_some() {
                    lw.general(w.span(), "lvs_sync_daemon instance already given; keepalived ignores this one");
                } else if let Some(v) = lw.arg(d, i + 1) {
                    inst = Some(v.as_str().to_owned());
                } else {
                    return;
                }
                i += 2;
                continue;
            }
            "id" => {
                if !has_value {
                    lw.general(w.span(), "no value for lvs_sync_daemon `id`; keepalived uses the VRID");
                } else if let Some(v) = lw.unsigned(d, i + 1, 0, 255, "keepalived uses the VRID") {
                    daemon.sync_id = v;
                    id_given = true;
                }
                i += 2;
                continue;
            }
            "maxlen" | "port" | "ttl" => {
                let what = w.as_str();
                if !has_value {
                    lw.general(w.span(), format!("no value for lvs_sync_daemon `{what}`; keepalived ignores it"));
                } else {
                    let max = match what {
                        "maxlen" => 65535 - 20 - 8,
                        "port" => 65535,
                        _ => 255,
                    };
                    if let Some(v) = lw.unsigned(d, i + 1, 1, max, "keepalived ignores it") {
                        match what {
                            "maxlen" => daemon.sync_maxlen = v as u16,
                            "port" => daemon.mcast_port = v as u16,
                            _ => daemon.mcast_ttl = v as u8,
                        }
                    }
                }
                i += 2;
                continue;
            }
            "group" => {
                if !has_value {
                    lw.general(w.span(), "no value for lvs_sync_daemon `group`; keepalived ignores it");
                } else {
                    let v = d.arg(i + 1).expect("has_value");
                    match v.as_str().parse::<IpAddr>() {
                        Ok(a) if a.is_multicast() => daemon.mcast_group = Some(a),
                        Ok(_) => {
                            lw.general(
                                v.span(),
                                format!(
                                    "lvs_sync_daemon group `{}` is not multicast; keepalived ignores it",
                                    v.as_str()
                                ),
                            );
                        }
                        Err(_) => {
                            lw.general(
                                v.span(),
                                format!("invalid lvs_sync_daemon group `{}`; keepalived ignores it", v.as_str()),
                            );
                        }
                    }
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        // The old positional form: IFNAME VRRP_INSTANCE [SYNC_ID].
        if i == 1 {
            inst = Some(w.as_str().to_owned());
        } else if i == 2 {
            if let Some(v) = lw.unsigned(d, 2, 0, 255, "keepalived uses the VRID") {
                lw.general(w.span(), "write `id` before the lvs_sync_daemon sync id").help =
                    Some(format!("lvs_sync_daemon {} ... id {v}", daemon.mcast_ifn));
                daemon.sync_id = v;
                id_given = true;
            }
        } else {
            lw.general(w.span(), format!("unknown lvs_sync_daemon option `{}`", w.as_str())).help =
                Some("the options are inst, id, maxlen, port, ttl and group".into());
        }
        i += 1;
    }
    g.lvs_sync_daemon = Some(LvsSyncDaemon { daemon, vrrp_instance: inst, sync_id_given: id_given });
}

#[allow(dead_code)]
fn unused(_: Ipv4Addr, _: Ipv6Addr) {}

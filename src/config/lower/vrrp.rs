//! VRRP: `vrrp_instance`, `vrrp_sync_group`, `vrrp_script`, `track_file`,
//! `vrrp_track_process` and the static addresses (`keepalived/vrrp/
//! vrrp_parser.c`, `vrrp_data.c`, `vrrp_ipaddress.c`, `vrrp_track.c`,
//! `keepalived/trackers/track_file.c`), then `vrrp_complete_init`
//! (`keepalived/vrrp/vrrp.c`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::{Lowerer, raw_line};
use crate::config::diag::ConfigErr;
use crate::config::keywords::Context;
use crate::config::model::{
    Authentication, Config, Garp, GarpGroup, Notify, OldUnicastChecksum, Script, SyncGroup, TrackFile, TrackProcess,
    Tracked, UnicastPeer, VirtualIp, Vmac, VrrpInstance, VrrpScript, VrrpState,
};
use crate::config::source::Span;
use crate::config::tree::Directive;
use crate::ipvs::Family;

/// `TIMER_MAX_SEC` (`lib/timer.h`).
const TIMER_MAX_SEC: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthType {
    Pass,
    Ah,
}

/// What keepalived knows about an instance while reading it, before
/// `vrrp_complete_instance` fills in defaults.
#[derive(Debug)]
struct Draft {
    inst: VrrpInstance,
    wantstate: Option<VrrpState>,
    base_priority: u8,
    version: u8,
    family: Option<Family>,
    adver_int_us: u64,
    auth_type: Option<AuthType>,
    auth_data: Vec<u8>,
    auth_span: Option<Span>,
    unicast_configured: bool,
    saddr_from_config: bool,
    /// `interface` given and usable (exists, not loopback).
    has_ifp: bool,
    interface_span: Option<Span>,
    strict_mode: Option<bool>,
    accept: Option<bool>,
    lower_prio_no_advert: Option<bool>,
    higher_prio_send_advert: Option<bool>,
    smtp_alert: Option<bool>,
    notify_priority_changes: Option<bool>,
    ttl: Option<u8>,
    vmac_mac_specified: bool,
    priority_span: Option<Span>,
    advert_span: Option<Span>,
    state_span: Option<Span>,
    garp_given: (bool, bool, bool, bool),
    /// Whether `vrrp_complete_instance` ran on it.
    completed: bool,
}

struct GroupDraft {
    group: SyncGroup,
    /// `group { ... }` names, `None` when not given.
    names: Option<Vec<(String, Span)>>,
}

/// VRRP state carried from reading to validation.
#[derive(Default)]
pub(crate) struct VrrpReader {
    drafts: Vec<Draft>,
    groups: Vec<GroupDraft>,
    /// Which `vrrp_script`s something tracks.
    script_used: Vec<bool>,
    /// `lvs_sync_daemon_interface` seen in an instance.
    syncd_from_instance: bool,
    /// Kept `garp_group`s with an `interfaces` block (keepalived numbers
    /// those in its messages).
    garp_groups_numbered: usize,
    /// The top-level `vrrp_script` names read so far, and the reports of
    /// tracked scripts not found whose help depends on whether one of that
    /// name comes later (the file is read in one pass).
    scripts: ScriptNames,
}

/// `vrrp_script` names, for the help of "track script not found".
#[derive(Default)]
struct ScriptNames {
    /// Every top-level `vrrp_script` name read so far.
    seen: Vec<String>,
    /// (diagnostic index, script name) of reports waiting for a later
    /// `vrrp_script` of that name.
    pending: Vec<(usize, String)>,
}

fn parse_addr(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

fn family_of(a: IpAddr) -> Family {
    Family::of(a)
}

impl VrrpReader {
    pub(crate) fn root<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        match d.name() {
            "vrrp_instance" => self.instance(lw, d, config),
            "vrrp_sync_group" => self.sync_group(lw, d, config),
            "vrrp_script" => {
                if let Some(a) = d.arg(0) {
                    self.vrrp_script_named(lw, a.as_str());
                }
                self.script(lw, d, config);
            }
            "vrrp_track_process" => track_process(lw, d, config),
            "track_file" | "vrrp_track_file" => track_file(lw, d, config),
            "garp_group" => self.garp_group(lw, d, config),
            "static_ipaddress" => {
                if let Some(lines) = lw.value_lines(d) {
                    for l in lines {
                        if let Some(ip) = ip_address(lw, &l, true) {
                            if ip.dev.is_none()
                                && config.global.default_interface.is_none()
                                && lw.host.interfaces.is_some()
                            {
                                lw.report(
                                    ConfigErr::Fatal,
                                    l.span(),
                                    format!("static address {} needs `dev` or a `default_interface`", ip.addr),
                                );
                                continue;
                            }
                            config.static_ipaddress.push(ip);
                        }
                    }
                }
            }
            "static_routes" => {
                if let Some(lines) = lw.value_lines(d) {
                    config.static_routes.extend(lines.iter().map(raw_line));
                }
            }
            "static_rules" => {
                if let Some(lines) = lw.value_lines(d) {
                    config.static_rules.extend(lines.iter().map(raw_line));
                }
            }
            _ => unreachable!("dispatched by name"),
        }
    }

    fn script<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        let Some(name) = lw.arg(d, 0) else { return };
        let mut s = VrrpScript {
            name: name.as_str().to_owned(),
            script: None,
            interval: Duration::from_secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            span: d.span(),
        };
        let Some(block) = lw.block_of(d) else { return };
        for c in block.iter() {
            lw.extra_words(&c, Context::VrrpScript);
            match c.name() {
                "script" => {
                    if let Some((script, rest)) = lw.script(&c) {
                        if !rest.is_empty() {
                            lw.lint(
                                c.span(),
                                format!(
                                    "keepalived runs only `{}` and ignores `{}`",
                                    script.args.join(" "),
                                    rest.join(" ")
                                ),
                            )
                            .help = Some("put the whole command in double quotes".into());
                        }
                        s.script = Some(script);
                    }
                }
                "interval" => {
                    if let Some(mut v) = lw.unsigned(&c, 0, 0, super::global::MAX_SECS, "keepalived ignores it") {
                        if v == 0 {
                            lw.general(c.span(), "vrrp script interval must be greater than 0; keepalived uses 1");
                            v = 1;
                        }
                        s.interval = Duration::from_secs(v as u64);
                    }
                }
                "timeout" => {
                    if let Some(mut v) = lw.unsigned(&c, 0, 0, super::global::MAX_SECS, "keepalived ignores it") {
                        if v == 0 {
                            lw.general(c.span(), "vrrp script timeout must be greater than 0; keepalived uses 1");
                            v = 1;
                        }
                        s.timeout = Some(Duration::from_secs(v as u64));
                    }
                }
                "weight" => {
                    // keepalived stores the value even when it is out of range.
                    let w = lw.arg(&c, 0);
                    if let Some(w) = w {
                        match super::num::read_int(w.as_str(), -253, 253) {
                            Ok(v) => s.weight = v as i32,
                            Err(e) => {
                                lw.general(w.span(), format!("vrrp_script {} weight `{}` {e}", s.name, w.as_str()));
                            }
                        }
                    }
                    if let Some(r) = c.arg(1) {
                        if r.as_str() == "reverse" {
                            s.weight_reverse = true;
                        } else {
                            lw.general(
                                r.span(),
                                format!("vrrp_script {} unknown weight option `{}`", s.name, r.as_str()),
                            );
                        }
                    }
                }
                "rise" | "fall" => {
                    let v = lw.unsigned(&c, 0, 1, i32::MAX as u32, "keepalived uses 1").unwrap_or(1);
                    if c.name() == "rise" {
                        s.rise = v;
                    } else {
                        s.fall = v;
                    }
                }
                "user" => match c.arg(0) {
                    Some(u) => s.user = Some((u.as_str().to_owned(), c.arg(1).map(|w| w.as_str().to_owned()))),
                    None => {
                        lw.general(c.span(), format!("vrrp_script {} `user` without a user name", s.name));
                    }
                },
                "init_fail" => s.init_fail = true,
                _ => {
                    let mut ignored = Vec::new();
                    lw.other(&c, Context::VrrpScript, &mut ignored);
                }
            }
        }
        if s.script.is_none() {
            lw.general(d.name_span(), format!("no script set for vrrp_script {}; keepalived removes it", s.name))
                .help = Some("add `script \"/path/to/check args\"`".into());
            return;
        }
        config.vrrp_scripts.push(s);
        self.script_used.push(false);
    }

    fn sync_group<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        if d.nargs() != 1 {
            lw.general(d.span(), "vrrp_sync_group must have a name; keepalived skips the block");
            return;
        }
        let name = d.arg(0).expect("nargs == 1").as_str().to_owned();
        if self.groups.iter().any(|g| g.group.name == name) {
            lw.general(d.span(), format!("vrrp sync group {name} already defined; keepalived skips the block"));
            return;
        }
        let mut g = GroupDraft {
            group: SyncGroup {
                name: name.clone(),
                instances: Vec::new(),
                track_interfaces: Vec::new(),
                track_scripts: Vec::new(),
                track_files: Vec::new(),
                notify: Notify::default(),
                smtp_alert: None,
                tracking_weight: false,
                extra: Vec::new(),
                span: d.span(),
            },
            names: None,
        };
        let Some(block) = lw.block_of(d) else {
            self.groups.push(g);
            return;
        };
        for c in block.iter() {
            match c.name() {
                "group" => {
                    if g.names.is_some() {
                        lw.general(
                            c.span(),
                            format!("group list already given for sync group {name}; keepalived skips this one"),
                        );
                        continue;
                    }
                    let lines = lw.value_lines(&c).unwrap_or_default();
                    let names: Vec<(String, Span)> = lines
                        .iter()
                        .flat_map(|l| l.words().map(|w| (w.as_str().to_owned(), w.span())).collect::<Vec<_>>())
                        .collect();
                    if names.is_empty() {
                        lw.general(c.span(), format!("sync group {name} has an empty group block"));
                        g.names = None;
                    } else {
                        g.names = Some(names);
                    }
                }
                "track_interface" => g.group.track_interfaces.extend(track_interfaces(lw, &c, &name)),
                "track_script" => {
                    let t = self.track_scripts(lw, &c, &name, config);
                    g.group.track_scripts.extend(t);
                }
                "track_file" => g.group.track_files.extend(track_files(lw, &c, &name, config)),
                "notify_backup" | "notify_master" | "notify_fault" | "notify_stop" | "notify" => {
                    notify(lw, &c, &mut g.group.notify, &format!("vrrp group {name}"));
                }
                "smtp_alert" => {
                    if let Some(b) = lw.opt_bool(&c) {
                        g.group.smtp_alert = Some(b);
                    }
                }
                "global_tracking" => {
                    lw.general(
                        c.span(),
                        format!(
                            "({name}) global_tracking is deprecated; use track_interface/script/file on the sync group"
                        ),
                    );
                    g.group.tracking_weight = true;
                }
                "sync_group_tracking_weight" => g.group.tracking_weight = true,
                _ => lw.other(&c, Context::VrrpSyncGroup, &mut g.group.extra),
            }
        }
        self.groups.push(g);
    }

    /// A top-level `vrrp_script` named `name`: the reports of its name not
    /// being found earlier get the help saying it comes later.
    fn vrrp_script_named(&mut self, lw: &mut Lowerer<'_>, name: &str) {
        if !self.scripts.seen.iter().any(|s| s == name) {
            self.scripts.seen.push(name.to_owned());
        }
        self.scripts.pending.retain(|(i, n)| {
            if n != name {
                return true;
            }
            lw.diags[*i].help = Some(later_script_help(n));
            false
        });
    }

    fn track_scripts<'d>(
        &mut self,
        lw: &mut Lowerer<'_>,
        d: &Directive<'d>,
        owner: &str,
        config: &Config,
    ) -> Vec<Tracked> {
        let mut out: Vec<Tracked> = Vec::new();
        let Some(lines) = lw.value_lines(d) else { return out };
        for l in lines {
            let name = l.name();
            let Some(idx) = config.vrrp_scripts.iter().position(|s| s.name == name) else {
                // Whether a top-level vrrp_script of that name is anywhere in
                // the file: one read so far, or (settled when it comes) later.
                let seen = self.scripts.seen.iter().any(|s| s == name);
                let dd = lw
                    .general(l.name_span(), format!("({owner}) track script {name} not found; keepalived ignores it"));
                dd.help = Some(if seen {
                    later_script_help(name)
                } else {
                    format!("no vrrp_script {name} is defined (or it was removed for having no `script`)")
                });
                if !seen {
                    let i = lw.diags.len() - 1;
                    self.scripts.pending.push((i, name.to_owned()));
                }
                continue;
            };
            if out.iter().any(|t| t.name == name) {
                lw.general(l.name_span(), format!("({owner}) duplicate track_script {name}; keepalived ignores it"));
                continue;
            }
            let scr = &config.vrrp_scripts[idx];
            let (mut weight, mut reverse) = (scr.weight, scr.weight_reverse);
            if let Some(w) = weighted(lw, &l, owner, "track script", &mut weight, &mut reverse, true) {
                if !w {
                    continue;
                }
            }
            if let Some(u) = self.script_used.get_mut(idx) {
                *u = true;
            }
            out.push(Tracked { name: name.to_owned(), weight, reverse, span: l.span() });
        }
        out
    }

    fn instance<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        if d.nargs() != 1 {
            lw.general(d.span(), "vrrp_instance must have a name; keepalived skips the block");
            return;
        }
        let name = d.arg(0).expect("nargs == 1").as_str().to_owned();
        if self.drafts.iter().any(|x| x.inst.name == name) {
            lw.general(d.span(), format!("vrrp instance {name} already defined; keepalived skips the block"));
            return;
        }
        let g = &config.global;
        let mut x = Draft {
            inst: VrrpInstance {
                name: name.clone(),
                state: VrrpState::Backup,
                interface: None,
                virtual_router_id: 0,
                priority: 100,
                advert_int: Duration::from_secs(1),
                version: 2,
                family: Family::V4,
                authentication: None,
                virtual_ipaddress: Vec::new(),
                virtual_ipaddress_excluded: Vec::new(),
                virtual_routes: Vec::new(),
                virtual_rules: Vec::new(),
                src_ip: None,
                unicast_peers: Vec::new(),
                mcast_dst_ip: None,
                unicast_ttl: None,
                nopreempt: false,
                preempt_delay: Duration::ZERO,
                track_interfaces: Vec::new(),
                track_scripts: Vec::new(),
                track_files: Vec::new(),
                track_processes: Vec::new(),
                track_bfds: Vec::new(),
                dont_track_primary: false,
                notify: Notify::default(),
                smtp_alert: false,
                notify_priority_changes: false,
                garp: Garp { lower_prio_delay: None, lower_prio_repeat: None, ..g.garp },
                accept: true,
                strict_mode: false,
                use_vmac: None,
                vmac_xmit_base: false,
                skip_check_adv_addr: g.vrrp_skip_check_adv_addr,
                check_unicast_src: false,
                unicast_fault_no_peer: false,
                old_unicast_checksum: OldUnicastChecksum::Auto,
                lower_prio_no_advert: false,
                higher_prio_send_advert: false,
                down_timer_adverts: g.vrrp_down_timer_adverts,
                promote_secondaries: false,
                debug: 0,
                sync_group: None,
                extra: Vec::new(),
                span: d.span(),
            },
            wantstate: None,
            base_priority: 0,
            version: 0,
            family: None,
            adver_int_us: 0,
            auth_type: None,
            auth_data: Vec::new(),
            auth_span: None,
            unicast_configured: false,
            saddr_from_config: false,
            has_ifp: false,
            interface_span: None,
            strict_mode: None,
            accept: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            smtp_alert: None,
            notify_priority_changes: None,
            ttl: None,
            vmac_mac_specified: false,
            priority_span: None,
            advert_span: None,
            state_span: None,
            garp_given: (false, false, false, false),
            completed: false,
        };
        if let Some(block) = lw.block_of(d) {
            for c in block.iter() {
                self.instance_keyword(lw, &c, &mut x, config);
            }
        }
        // vrrp_end_handler
        if x.inst.unicast_peers.is_empty() && x.ttl.is_some() {
            lw.general(
                x.inst.span,
                format!("({name}) cannot use unicast_ttl without unicast peers; keepalived resets it"),
            );
            x.ttl = None;
        }
        self.drafts.push(x);
    }

    fn instance_keyword<'d>(&mut self, lw: &mut Lowerer<'_>, c: &Directive<'d>, x: &mut Draft, config: &mut Config) {
        let iname = x.inst.name.clone();
        lw.extra_words(c, Context::VrrpInstance);
        match c.name() {
            "use_vmac" => {
                let mut v = Vmac::default();
                for w in c.args().take(2) {
                    let s = w.as_str();
                    if s.contains(':') {
                        match parse_mac(s) {
                            Some(m) if m[0] & 1 != 0 => {
                                lw.general(
                                    w.span(),
                                    format!("VMAC MAC address {s} is multicast; keepalived ignores it"),
                                );
                            }
                            Some(m) if m[..4] == [0, 0, 0x5e, 0] && (m[4] == 1 || m[4] == 2) => {
                                lw.general(
                                    w.span(),
                                    format!("VMAC MAC address {s} is an RFC 5798 address; keepalived ignores it"),
                                );
                            }
                            Some(m) => {
                                v.mac = Some(m);
                                x.vmac_mac_specified = true;
                            }
                            None => {
                                lw.general(w.span(), format!("invalid VMAC MAC address {s}; keepalived ignores it"));
                            }
                        }
                    } else if s.is_empty()
                        || s.len() >= 16
                        || s == "."
                        || s == ".."
                        || s.contains(['/', ':', ' ', '\t'])
                    {
                        lw.general(
                            w.span(),
                            format!(
                                "VMAC interface name `{s}` is too long or has invalid characters; keepalived ignores it"
                            ),
                        );
                    } else if self
                        .drafts
                        .iter()
                        .any(|o| o.inst.use_vmac.as_ref().and_then(|m| m.ifname.as_deref()) == Some(s))
                    {
                        lw.general(
                            w.span(),
                            format!("({iname}) another VRRP instance already uses {s}; keepalived ignores the name"),
                        );
                    } else {
                        v.ifname = Some(s.to_owned());
                    }
                }
                x.inst.use_vmac = Some(v);
            }
            "vmac_xmit_base" => x.inst.vmac_xmit_base = true,
            "unicast_peer" => {
                x.unicast_configured = true;
                if let Some(lines) = lw.value_lines(c) {
                    for l in lines {
                        unicast_peer(lw, &l, x);
                    }
                }
            }
            "unicast_fault_no_peer" => {
                x.unicast_configured = true;
                x.inst.unicast_fault_no_peer = true;
            }
            "old_unicast_checksum" => {
                // vrrp_unicast_chksum_handler: no word = always the old
                // checksum, `never`, anything else reported and ignored.
                x.unicast_configured = true;
                match c.arg(0) {
                    None => x.inst.old_unicast_checksum = OldUnicastChecksum::Old,
                    Some(w) if w.as_str() == "never" => x.inst.old_unicast_checksum = OldUnicastChecksum::Never,
                    Some(w) => {
                        lw.general(
                            w.span(),
                            format!(
                                "({}) unknown old_unicast_checksum mode `{}`; keepalived ignores the line",
                                x.inst.name,
                                w.as_str()
                            ),
                        )
                        .help = Some(
                            "write `old_unicast_checksum` alone (old checksum) or `old_unicast_checksum never`".into(),
                        );
                    }
                }
            }
            "check_unicast_src" => {
                x.unicast_configured = true;
                x.inst.check_unicast_src = true;
            }
            "native_ipv6" => {
                if x.family == Some(Family::V4) {
                    lw.general(c.span(), format!("({iname}) cannot use native_ipv6 with IPv4 addresses"));
                } else {
                    x.family = Some(Family::V6);
                    x.version = 3;
                }
            }
            "state" => {
                let Some(w) = lw.arg(c, 0) else { return };
                x.state_span = Some(c.span());
                match w.as_str() {
                    "MASTER" => x.wantstate = Some(VrrpState::Master),
                    "BACKUP" => {
                        if x.wantstate == Some(VrrpState::Master) {
                            lw.general(
                                w.span(),
                                format!("({iname}) state was already set to MASTER; keepalived ignores BACKUP"),
                            );
                        } else {
                            x.wantstate = Some(VrrpState::Backup);
                        }
                    }
                    other => {
                        lw.general(w.span(), format!("({iname}) unknown state `{other}`; keepalived uses BACKUP"))
                            .help = Some("the states are MASTER and BACKUP (upper case)".into());
                        x.wantstate = Some(VrrpState::Backup);
                    }
                }
            }
            "interface" => {
                let Some(w) = lw.arg(c, 0) else { return };
                let n = w.as_str();
                if n.len() >= 16 {
                    lw.general(
                        w.span(),
                        format!("interface name `{n}` is too long (at most 15 characters); keepalived ignores it"),
                    );
                    return;
                }
                x.inst.interface = Some(n.to_owned());
                x.interface_span = Some(w.span());
                x.has_ifp = false;
                if !self.interface_exists(lw, n, config) {
                    lw.general(w.span(), format!("interface {n} for vrrp_instance {iname} doesn't exist"));
                } else if n == "lo" {
                    lw.general(
                        w.span(),
                        format!("({iname}) cannot use a loopback interface ({n}) for VRRP; keepalived ignores it"),
                    );
                    x.inst.interface = None;
                } else {
                    x.has_ifp = true;
                }
            }
            "dont_track_primary" => x.inst.dont_track_primary = true,
            "track_interface" => {
                let t = track_interfaces(lw, c, &iname);
                for ti in &t {
                    if !self.interface_exists(lw, &ti.name, config) {
                        // reported inside track_interfaces
                    }
                }
                x.inst.track_interfaces.extend(t);
            }
            "track_script" => {
                let t = self.track_scripts(lw, c, &iname, config);
                x.inst.track_scripts.extend(t);
            }
            "track_file" => x.inst.track_files.extend(track_files(lw, c, &iname, config)),
            "track_process" => {
                if let Some(lines) = lw.value_lines(c) {
                    for l in lines {
                        let name = l.name();
                        if !config.track_processes.iter().any(|p| p.name == name) {
                            lw.general(
                                l.name_span(),
                                format!("({iname}) track process {name} not found; keepalived ignores it"),
                            );
                            continue;
                        }
                        x.inst.track_processes.push(Tracked {
                            name: name.to_owned(),
                            weight: 0,
                            reverse: false,
                            span: l.span(),
                        });
                    }
                }
            }
            "track_bfd" => {
                if let Some(lines) = lw.value_lines(c) {
                    for l in lines {
                        let name = l.name();
                        let known = config
                            .extra
                            .iter()
                            .any(|r| r.name == "bfd_instance" && r.args.first().is_some_and(|a| a == name));
                        if !known {
                            lw.general(
                                l.name_span(),
                                format!("({iname}) track bfd {name} not found; keepalived ignores it"),
                            );
                            continue;
                        }
                        x.inst.track_bfds.push(Tracked {
                            name: name.to_owned(),
                            weight: 0,
                            reverse: false,
                            span: l.span(),
                        });
                    }
                }
            }
            "mcast_src_ip" | "unicast_src_ip" => {
                if c.name() == "unicast_src_ip" {
                    x.unicast_configured = true;
                }
                let Some(w) = lw.arg(c, 0) else { return };
                let Some(a) = parse_addr(w.as_str()) else {
                    lw.general(
                        w.span(),
                        format!("({iname}) malformed source address `{}`; keepalived ignores it", w.as_str()),
                    );
                    return;
                };
                match x.family {
                    None => x.family = Some(family_of(a)),
                    Some(f) if f != family_of(a) => {
                        lw.general(
                            w.span(),
                            format!(
                                "({iname}) source address {a} is not of the instance's family; keepalived ignores it"
                            ),
                        );
                        return;
                    }
                    _ => {}
                }
                x.inst.src_ip = Some(a);
                x.saddr_from_config = true;
            }
            "mcast_dst_ip" => {
                let Some(w) = lw.arg(c, 0) else { return };
                let Some(a) = parse_addr(w.as_str()) else {
                    lw.general(
                        w.span(),
                        format!("({iname}) malformed mcast destination `{}`; keepalived ignores it", w.as_str()),
                    );
                    return;
                };
                match x.family {
                    None => x.family = Some(family_of(a)),
                    Some(f) if f != family_of(a) => {
                        lw.general(
                            w.span(),
                            format!(
                                "({iname}) mcast destination {a} is not of the instance's family; keepalived ignores it"
                            ),
                        );
                        return;
                    }
                    _ => {}
                }
                let ok = match a {
                    IpAddr::V4(v) => v.is_multicast(),
                    IpAddr::V6(v) => v.segments()[0] & 0xff0f == 0xff02,
                };
                if !ok {
                    lw.general(
                        w.span(),
                        format!(
                            "({iname}) mcast_dst_ip {a} is not{} multicast; keepalived ignores it",
                            if a.is_ipv6() { " link-local" } else { "" }
                        ),
                    );
                    return;
                }
                x.inst.mcast_dst_ip = Some(a);
            }
            "virtual_router_id" => {
                if let Some(v) = lw.unsigned(c, 0, 1, 255, "keepalived ignores it (the VRID must be 1..=255)") {
                    x.inst.virtual_router_id = v as u8;
                }
            }
            "unicast_ttl" => {
                if let Some(v) = lw.unsigned(c, 0, 0, 255, "keepalived ignores it") {
                    x.ttl = Some(v as u8);
                }
            }
            "version" => {
                let Some(w) = lw.arg(c, 0) else { return };
                match super::num::read_int(w.as_str(), 2, 3) {
                    Ok(v) => {
                        let v = v as u8;
                        if (x.version != 0 && x.version != v) || (v == 2 && x.family == Some(Family::V6)) {
                            lw.general(w.span(), format!("({iname}) version {v} conflicts with the configured or deduced version {}; keepalived ignores it", x.version));
                        } else {
                            x.version = v;
                        }
                    }
                    Err(_) => {
                        lw.general(w.span(), format!("({iname}) version must be 2 or 3"));
                    }
                }
            }
            "priority" => {
                x.priority_span = Some(c.span());
                match lw.unsigned(c, 0, 1, 255, "keepalived uses the default, 100") {
                    Some(v) => x.base_priority = v as u8,
                    None => {
                        if c.arg(0).is_some() {
                            x.base_priority = 100;
                        }
                    }
                }
            }
            "advert_int" => {
                x.advert_span = Some(c.span());
                if let Some(v) = lw.timer(c, 0, 10_000, 255_000_000, "keepalived ignores it") {
                    x.adver_int_us = v.as_micros() as u64;
                }
            }
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                let excluded = c.name() == "virtual_ipaddress_excluded";
                if let Some(lines) = lw.value_lines(c) {
                    for l in lines {
                        let Some(ip) = ip_address(lw, &l, false) else { continue };
                        if let Some(dev) = &ip.dev {
                            if !self.interface_exists(lw, dev, config) {
                                lw.general(l.span(), format!("interface {dev} for ip address {} doesn't exist; keepalived ignores the address", ip.addr));
                                continue;
                            }
                        }
                        if excluded {
                            x.inst.virtual_ipaddress_excluded.push(ip);
                            continue;
                        }
                        let f = family_of(ip.addr);
                        match x.family {
                            None => x.family = Some(f),
                            Some(ff) if ff != f => {
                                lw.general(l.span(), format!("({iname}) address family of {} does not match the instance's; keepalived ignores it", ip.addr));
                                continue;
                            }
                            _ => {}
                        }
                        x.inst.virtual_ipaddress.push(ip);
                    }
                }
            }
            "promote_secondaries" => x.inst.promote_secondaries = true,
            "virtual_routes" => {
                if let Some(lines) = lw.value_lines(c) {
                    x.inst.virtual_routes.extend(lines.iter().map(raw_line));
                }
            }
            "virtual_rules" => {
                if let Some(lines) = lw.value_lines(c) {
                    x.inst.virtual_rules.extend(lines.iter().map(raw_line));
                }
            }
            "accept" => x.accept = Some(true),
            "no_accept" => x.accept = Some(false),
            "skip_check_adv_addr" => {
                if let Some(b) = lw.opt_bool(c) {
                    // keepalived sets the flag for any valid word, even `false`.
                    let _ = b;
                    x.inst.skip_check_adv_addr = true;
                }
            }
            "strict_mode" => {
                if let Some(b) = lw.opt_bool(c) {
                    x.strict_mode = Some(b);
                }
            }
            "preempt" => x.inst.nopreempt = false,
            "nopreempt" => x.inst.nopreempt = true,
            "preempt_delay" => {
                x.inst.preempt_delay =
                    lw.timer(c, 0, 0, TIMER_MAX_SEC * 1_000_000, "keepalived uses 0").unwrap_or(Duration::ZERO);
            }
            "debug" => {
                if let Some(v) = lw.unsigned(c, 0, 0, 4, "keepalived ignores it") {
                    x.inst.debug = v as u8;
                }
            }
            "notify_backup"
            | "notify_master"
            | "notify_fault"
            | "notify_stop"
            | "notify_deleted"
            | "notify"
            | "notify_master_rx_lower_pri" => {
                notify(lw, c, &mut x.inst.notify, &format!("({iname})"));
            }
            "smtp_alert" => {
                if let Some(b) = lw.opt_bool(c) {
                    x.smtp_alert = Some(b);
                }
            }
            "notify_priority_changes" => {
                if let Some(b) = lw.opt_bool(c) {
                    x.notify_priority_changes = Some(b);
                }
            }
            "lvs_sync_daemon_interface" => {
                lw.general(c.span(), format!("({iname}) lvs_sync_daemon_interface in a vrrp_instance is deprecated"))
                    .help = Some("use the global `lvs_sync_daemon IFNAME INSTANCE` instead".into());
                if config.global.lvs_sync_daemon.is_some() {
                    lw.general(
                        c.span(),
                        format!("({iname}) lvs_sync_daemon_interface was already given; keepalived ignores this one"),
                    );
                    return;
                }
                let Some(w) = lw.arg(c, 0) else { return };
                self.syncd_from_instance = true;
                config.global.lvs_sync_daemon = Some(crate::config::model::LvsSyncDaemon {
                    daemon: crate::ipvs::DaemonConfig {
                        role: crate::ipvs::DaemonRole::Master,
                        mcast_ifn: w.as_str().to_owned(),
                        sync_id: 0,
                        sync_maxlen: 0,
                        mcast_group: None,
                        mcast_port: 0,
                        mcast_ttl: 0,
                    },
                    vrrp_instance: Some(iname.clone()),
                    sync_id_given: false,
                });
            }
            "garp_master_delay" => {
                if let Some(v) = lw.unsigned(c, 0, 0, super::global::MAX_SECS, "keepalived ignores it") {
                    x.inst.garp.master_delay = Duration::from_secs(v as u64);
                    x.garp_given.0 = true;
                }
            }
            "garp_master_refresh" => {
                x.inst.garp.master_refresh =
                    Duration::from_secs(lw.unsigned(c, 0, 0, u32::MAX, "keepalived sets 0").unwrap_or(0) as u64);
            }
            "garp_master_repeat" | "garp_master_refresh_repeat" => {
                if let Some(mut v) = lw.unsigned(c, 0, 0, u32::MAX, "keepalived ignores it") {
                    if v == 0 {
                        lw.general(
                            c.span(),
                            format!("({iname}) {} must be greater than 0; keepalived uses 1", c.name()),
                        );
                        v = 1;
                    }
                    if c.name() == "garp_master_repeat" {
                        x.inst.garp.master_repeat = v;
                    } else {
                        x.inst.garp.master_refresh_repeat = v;
                    }
                }
            }
            "garp_lower_prio_delay" => {
                if let Some(v) = lw.unsigned(c, 0, 0, super::global::MAX_SECS, "keepalived ignores it") {
                    x.inst.garp.lower_prio_delay = Some(Duration::from_secs(v as u64));
                }
            }
            "garp_lower_prio_repeat" => {
                if let Some(v) = lw.unsigned(c, 0, 0, i32::MAX as u32, "keepalived ignores it") {
                    x.inst.garp.lower_prio_repeat = Some(v);
                }
            }
            "down_timer_adverts" => {
                if let Some(v) = lw.unsigned(c, 0, 1, 100, "keepalived ignores it") {
                    x.inst.down_timer_adverts = v;
                }
            }
            "lower_prio_no_advert" => {
                if let Some(b) = lw.opt_bool(c) {
                    x.lower_prio_no_advert = Some(b);
                }
            }
            "higher_prio_send_advert" => {
                if let Some(b) = lw.opt_bool(c) {
                    x.higher_prio_send_advert = Some(b);
                }
            }
            "vmac_garp_intvl" => {
                lw.report(ConfigErr::Deprecated, c.name_span(), "`vmac_garp_intvl` is deprecated; use `garp_extra_if`");
                x.inst.extra.push(super::raw(c));
            }
            "linkbeat_use_polling" => {
                lw.general(c.span(), format!("({iname}) `linkbeat_use_polling` in a vrrp_instance is deprecated; use a linkbeat_interfaces block"));
                x.inst.extra.push(super::raw(c));
            }
            "authentication" => {
                let Some(block) = lw.block_of(c) else { return };
                for a in block.iter() {
                    lw.extra_words(&a, Context::Authentication);
                    match a.name() {
                        "auth_type" => {
                            let Some(w) = lw.arg(&a, 0) else { continue };
                            match w.as_str() {
                                "PASS" => x.auth_type = Some(AuthType::Pass),
                                "AH" => x.auth_type = Some(AuthType::Ah),
                                other => {
                                    lw.general(w.span(), format!("({iname}) unknown authentication type `{other}`"))
                                        .help = Some("the types are PASS and AH".into());
                                }
                            }
                            x.auth_span = Some(a.span());
                        }
                        "auth_pass" => {
                            let Some(w) = lw.arg(&a, 0) else { continue };
                            let mut p = w.as_str().as_bytes().to_vec();
                            if p.len() > 8 {
                                lw.general(
                                    w.span(),
                                    format!("auth_pass is {} characters long; keepalived truncates it to 8", p.len()),
                                )
                                .help = Some(format!(
                                    "VRRPv2 carries at most 8 bytes of password (RFC 2338 5.3.11); peers will use `{}`",
                                    String::from_utf8_lossy(&p[..8])
                                ));
                                p.truncate(8);
                            }
                            // A `!` or `#` inside the password has cut it
                            // already; the lexer warns about that.
                            x.auth_data = p;
                        }
                        _ => lw.unknown(&a, Context::Authentication),
                    }
                }
            }
            _ => lw.other(c, Context::VrrpInstance, &mut x.inst.extra),
        }
    }

    /// `garp_group` (`garp_group_*_handler`, `keepalived/vrrp/vrrp_parser.c`).
    fn garp_group<'d>(&mut self, lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
        let mut g = GarpGroup { span: d.span(), ..GarpGroup::default() };
        // The number keepalived gives the group in its messages: set by an
        // `interfaces` block, counting the groups that have one.
        let mut aggregation_group = 0;
        if let Some(block) = lw.block_of(d) {
            for c in block.iter() {
                match c.name() {
                    "garp_interval" | "gna_interval" => {
                        let name = c.name();
                        let Some(w) = lw.arg(&c, 0) else { continue };
                        // read_decimal_unsigned_strvec(.., 0, INT_MAX, 6,
                        // ignore_error = true): a word that is not a number
                        // is reported, and what strtoull read of it is kept
                        // when in range.
                        let max = i32::MAX as u64;
                        let value = match super::num::read_decimal(w.as_str(), 0, max, 6) {
                            Ok((v, too_many)) => {
                                if too_many {
                                    lw.report(
                                        ConfigErr::InvalidNumber,
                                        w.span(),
                                        format!(
                                            "`{name}` value `{}` has more than 6 decimal places; rounded",
                                            w.as_str()
                                        ),
                                    );
                                }
                                Some(v)
                            }
                            Err(super::num::NumError::Invalid) => {
                                let v = super::num::decimal_prefix(w.as_str(), 6);
                                let keep = v <= max;
                                lw.report(
                                    ConfigErr::InvalidNumber,
                                    w.span(),
                                    format!(
                                        "`{name}` value `{}` is not a number; keepalived {}",
                                        w.as_str(),
                                        if keep { format!("reads it as {}", fmt_us(v)) } else { "ignores it".into() }
                                    ),
                                );
                                keep.then_some(v)
                            }
                            Err(e) => {
                                lw.report(
                                    ConfigErr::InvalidNumber,
                                    w.span(),
                                    format!("`{name}` value `{}` {e}; keepalived ignores it", w.as_str()),
                                );
                                None
                            }
                        };
                        if let Some(v) = value.map(Duration::from_micros) {
                            if name == "garp_interval" {
                                g.garp_interval = Some(v);
                            } else {
                                g.gna_interval = Some(v);
                            }
                        }
                    }
                    "interface" => {
                        let Some(w) = lw.arg(&c, 0) else { continue };
                        self.garp_group_interface(lw, w.as_str(), w.span(), &mut g, config);
                    }
                    "interfaces" => {
                        let Some(lines) = lw.value_lines(&c) else { continue };
                        let words: Vec<_> = lines.iter().flat_map(|l| l.words().collect::<Vec<_>>()).collect();
                        if words.is_empty() {
                            lw.general(c.span(), "empty garp_group interfaces block");
                            continue;
                        }
                        aggregation_group = 1 + self.garp_groups_numbered;
                        for w in words {
                            self.garp_group_interface(lw, w.as_str(), w.span(), &mut g, config);
                        }
                    }
                    _ => lw.unknown(&c, Context::GarpGroup),
                }
            }
        }
        // garp_group_end_handler
        if g.garp_interval.is_none() && g.gna_interval.is_none() {
            lw.general(
                d.span(),
                format!("garp group {aggregation_group} does not have any delay set; keepalived removes it"),
            )
            .help = Some("give it a `garp_interval` or a `gna_interval`".into());
            return;
        }
        if aggregation_group != 0 {
            self.garp_groups_numbered += 1;
        }
        config.garp_groups.push(g);
    }

    fn garp_group_interface(
        &mut self,
        lw: &mut Lowerer<'_>,
        name: &str,
        span: Span,
        g: &mut GarpGroup,
        config: &Config,
    ) {
        if !self.interface_exists(lw, name, config) {
            lw.general(span, format!("interface {name} specified for garp_group doesn't exist; keepalived ignores it"));
            return;
        }
        if g.interfaces.iter().any(|i| i == name)
            || config.garp_groups.iter().any(|o| o.interfaces.iter().any(|i| i == name))
        {
            lw.general(span, format!("garp_group already specified for {name}; keepalived ignores this one"));
            return;
        }
        g.interfaces.push(name.to_owned());
    }

    fn interface_exists(&self, lw: &mut Lowerer<'_>, name: &str, config: &Config) -> bool {
        if lw.host.has_interface(name) || config.global.dynamic_interfaces.is_some() {
            return true;
        }
        lw.bad_interface = true;
        false
    }
}

/// Microseconds as keepalived writes seconds.
fn fmt_us(us: u64) -> String {
    if us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else {
        format!("{}.{:06}s", us / 1_000_000, us % 1_000_000)
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        m[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(m)
}

fn unicast_peer<'d>(lw: &mut Lowerer<'_>, l: &Directive<'d>, x: &mut Draft) {
    let iname = x.inst.name.clone();
    let Some(a) = parse_addr(l.name()) else {
        lw.general(
            l.name_span(),
            format!("({iname}) malformed unicast peer address `{}`; keepalived ignores it", l.name()),
        );
        return;
    };
    match x.family {
        None => x.family = Some(family_of(a)),
        Some(f) if f != family_of(a) => {
            lw.general(
                l.name_span(),
                format!("({iname}) unicast peer {a} is not of the instance's family; keepalived ignores it"),
            );
            return;
        }
        _ => {}
    }
    let mut peer = UnicastPeer { addr: a, min_ttl: 0, max_ttl: 255 };
    let n = l.nargs();
    let mut i = 0;
    while i < n {
        let k = l.arg(i).expect("i < n");
        if i + 1 >= n {
            lw.general(k.span(), format!("({iname}) {} is missing a value", k.as_str()));
            break;
        }
        let v = l.arg(i + 1).expect("i + 1 < n");
        if let Ok(ttl) = super::num::read_unsigned(v.as_str(), 0, 255, u32::MAX as u64) {
            match k.as_str() {
                "min_ttl" => peer.min_ttl = ttl as u8,
                "max_ttl" => peer.max_ttl = ttl as u8,
                other => {
                    lw.general(k.span(), format!("({iname}) unknown unicast_peer option `{other}`"));
                    break;
                }
            }
            x.inst.check_unicast_src = true;
        } else {
            lw.general(v.span(), format!("({iname}) invalid ttl `{}`", v.as_str()));
        }
        i += 2;
    }
    if peer.min_ttl > peer.max_ttl {
        lw.general(
            l.span(),
            format!("({iname}) min_ttl {} > max_ttl {}: every packet will be discarded", peer.min_ttl, peer.max_ttl),
        );
    }
    x.inst.unicast_peers.push(peer);
}

/// `weight W [reverse]` after a tracked name. `Some(false)` when the entry
/// is dropped, `Some(true)`/`None` when it is kept.
fn weighted<'d>(
    lw: &mut Lowerer<'_>,
    l: &Directive<'d>,
    owner: &str,
    what: &str,
    weight: &mut i32,
    reverse: &mut bool,
    noreverse: bool,
) -> Option<bool> {
    let name = l.name();
    let k = l.arg(0)?;
    if k.as_str() != "weight" {
        lw.general(k.span(), format!("({owner}) unknown {what} option `{}`; keepalived ignores the entry", k.as_str()));
        return Some(false);
    }
    let Some(v) = l.arg(1) else {
        lw.general(
            k.span(),
            format!("({owner}) weight without a value for {what} {name}; keepalived ignores the entry"),
        );
        return Some(false);
    };
    match super::num::read_int(v.as_str(), -254, 254) {
        Ok(w) if w == 254 || w == -254 => {
            lw.general(v.span(), format!("({owner}) weight for {name} cannot be +/-254; keepalived uses +/-253"));
            *weight = if w < 0 { -253 } else { 253 };
        }
        Ok(w) => *weight = w as i32,
        Err(e) => {
            lw.general(
                v.span(),
                format!("({owner}) {what} {name} weight `{}` {e}; keepalived ignores the weight", v.as_str()),
            );
        }
    }
    if let Some(r) = l.arg(2) {
        match r.as_str() {
            "reverse" => *reverse = true,
            "noreverse" if noreverse => *reverse = false,
            other => {
                lw.general(r.span(), format!("({owner}) unknown {what} {name} weight option `{other}`"));
            }
        }
    }
    Some(true)
}

fn track_interfaces<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, owner: &str) -> Vec<Tracked> {
    let mut out: Vec<Tracked> = Vec::new();
    let Some(lines) = lw.value_lines(d) else { return out };
    for l in lines {
        let name = l.name();
        if !lw.host.has_interface(name) {
            lw.bad_interface = true;
            lw.general(l.name_span(), format!("({owner}) tracked interface {name} doesn't exist"));
            continue;
        }
        if out.iter().any(|t| t.name == name) {
            lw.general(l.name_span(), format!("({owner}) duplicate track_interface {name}; keepalived ignores it"));
            continue;
        }
        let (mut weight, mut reverse) = (0, false);
        if weighted(lw, &l, owner, "track_interface", &mut weight, &mut reverse, false) == Some(false) {
            continue;
        }
        out.push(Tracked { name: name.to_owned(), weight, reverse, span: l.span() });
    }
    out
}

fn track_files<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, owner: &str, config: &Config) -> Vec<Tracked> {
    let mut out: Vec<Tracked> = Vec::new();
    let Some(lines) = lw.value_lines(d) else { return out };
    for l in lines {
        let name = l.name();
        let Some(tf) = config.track_files.iter().find(|t| t.name == name) else {
            lw.general(l.name_span(), format!("({owner}) track file {name} not found; keepalived ignores it"));
            continue;
        };
        if out.iter().any(|t| t.name == name) {
            lw.general(l.name_span(), format!("({owner}) duplicate track_file {name}; keepalived ignores it"));
            continue;
        }
        let (mut weight, mut reverse) = (tf.weight, tf.weight_reverse);
        if weighted(lw, &l, owner, "track file", &mut weight, &mut reverse, true) == Some(false) {
            continue;
        }
        out.push(Tracked { name: name.to_owned(), weight, reverse, span: l.span() });
    }
    out
}

fn notify<'d>(lw: &mut Lowerer<'_>, c: &Directive<'d>, n: &mut Notify, owner: &str) {
    let slot: &mut Option<Script> = match c.name() {
        "notify_backup" => &mut n.backup,
        "notify_master" => &mut n.master,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify_deleted" => &mut n.deleted,
        "notify_master_rx_lower_pri" => &mut n.master_rx_lower_pri,
        _ => &mut n.any,
    };
    if slot.is_some() {
        lw.general(c.span(), format!("{owner}: {} script already given; keepalived ignores this one", c.name()));
        return;
    }
    if c.name() == "notify_deleted" && c.nargs() == 0 {
        return;
    }
    if let Some((script, _user)) = lw.script(c) {
        *slot = Some(script);
    }
}

/// `alloc_ipaddress` (`keepalived/vrrp/vrrp_ipaddress.c`).
fn ip_address<'d>(lw: &mut Lowerer<'_>, l: &Directive<'d>, static_addr: bool) -> Option<VirtualIp> {
    let text = l.name();
    let (addr_s, prefix_s) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let v6 = text.contains(':');
    let max_plen: u8 = if v6 { 128 } else { 32 };
    let mut prefix_len = max_plen;
    if let Some(p) = prefix_s {
        match super::num::read_unsigned(p, 0, max_plen as u64, u32::MAX as u64) {
            Ok(v) => prefix_len = v as u8,
            Err(_) => {
                lw.general(
                    l.name_span(),
                    format!("invalid prefix length `{p}` for address {text}; keepalived uses {max_plen}"),
                );
            }
        }
    }
    let addr: Option<IpAddr> = if v6 {
        addr_s.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        parse_inet_pton4(addr_s).map(IpAddr::V4)
    };
    let Some(addr) = addr else {
        lw.general(l.name_span(), format!("invalid IP address `{text}`; keepalived skips it"));
        return None;
    };
    let mut ip = VirtualIp {
        addr,
        prefix_len,
        dev: None,
        label: None,
        scope: None,
        broadcast: None,
        peer: None,
        no_track: false,
        use_vmac: false,
        flags: Vec::new(),
        span: l.span(),
    };
    let n = l.nargs();
    let mut brd: Option<i8> = None;
    let mut i = 0;
    while i < n {
        let k = l.arg(i).expect("i < n");
        let val = l.arg(i + 1);
        let needs = matches!(k.as_str(), "dev" | "scope" | "broadcast" | "brd" | "label" | "peer" | "preferred_lft")
            || (static_addr && k.as_str() == "track_group");
        if needs && val.is_none() {
            lw.general(k.span(), format!("no `{}` parameter for {text}; keepalived skips the address", k.as_str()));
            return None;
        }
        match k.as_str() {
            "dev" => {
                if ip.dev.is_some() {
                    lw.general(
                        k.span(),
                        format!("cannot give `dev` more than once for {text}; keepalived skips the address"),
                    );
                    return None;
                }
                ip.dev = Some(val.expect("checked").as_str().to_owned());
                i += 1;
            }
            "scope" => {
                let v = val.expect("checked");
                match scope_number(v.as_str()) {
                    Some(s) => ip.scope = Some(s),
                    None => {
                        lw.general(
                            v.span(),
                            format!("invalid scope `{}` for {text}; keepalived ignores it", v.as_str()),
                        );
                    }
                }
                i += 1;
            }
            "broadcast" | "brd" => {
                let v = val.expect("checked");
                if v6 {
                    lw.general(k.span(), format!("broadcast on the IPv6 address {text}; keepalived skips the address"));
                    return None;
                }
                match v.as_str() {
                    "-" => brd = Some(-2),
                    "+" => brd = Some(-1),
                    s => match parse_inet_pton4(s) {
                        Some(b) => ip.broadcast = Some(b),
                        None => {
                            lw.general(v.span(), format!("invalid broadcast `{s}`; keepalived skips the address"));
                            return None;
                        }
                    },
                }
                i += 1;
            }
            "label" => {
                let v = val.expect("checked");
                if v.as_str().len() >= 16 {
                    lw.general(
                        v.span(),
                        format!(
                            "address label `{}` is longer than 15 characters; keepalived removes the address",
                            v.as_str()
                        ),
                    );
                    return None;
                }
                ip.label = Some(v.as_str().to_owned());
                i += 1;
            }
            "peer" => {
                let v = val.expect("checked");
                i += 1;
                if ip.peer.is_some() {
                    lw.general(v.span(), format!("peer {} - another peer has already been given", v.as_str()));
                } else {
                    match v.as_str().parse::<IpAddr>() {
                        Ok(p) if p.is_ipv6() == v6 => {
                            if prefix_len != max_plen {
                                lw.general(v.span(), "cannot give an address prefix together with a peer address; keepalived ignores the prefix");
                            }
                            ip.peer = Some(p);
                        }
                        Ok(_) => {
                            lw.general(
                                v.span(),
                                format!("peer address {} does not match the address family", v.as_str()),
                            );
                        }
                        Err(_) => {
                            lw.general(v.span(), format!("invalid peer address `{}`", v.as_str()));
                        }
                    }
                }
            }
            "home" | "-nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin" => ip.flags.push(k.as_str().to_owned()),
            "no_track" => ip.no_track = true,
            "preferred_lft" => {
                let v = val.expect("checked");
                if v.as_str() != "forever"
                    && super::num::read_unsigned(v.as_str(), 0, u32::MAX as u64, u32::MAX as u64).is_err()
                {
                    lw.general(v.span(), format!("preferred_lft `{}` is invalid", v.as_str()));
                }
                ip.flags.push(format!("preferred_lft {}", v.as_str()));
                i += 1;
            }
            "track_group" if static_addr => {
                ip.flags.push(format!("track_group {}", val.expect("checked").as_str()));
                i += 1;
            }
            "use_vmac" if !static_addr => ip.use_vmac = true,
            other => {
                lw.general(k.span(), format!("unknown option `{other}` for ip address; keepalived ignores it"));
            }
        }
        i += 1;
    }
    if brd.is_some() && ip.peer.is_some() {
        lw.general(l.span(), "cannot give both broadcast and peer addresses; keepalived ignores the broadcast");
        ip.broadcast = None;
    } else if let Some(b) = brd {
        if prefix_len <= 30 {
            if let IpAddr::V4(a) = ip.peer.unwrap_or(addr) {
                let mask = u32::MAX >> prefix_len;
                let base = u32::from(a);
                ip.broadcast = Some(Ipv4Addr::from(if b == -1 { base | mask } else { base & !mask }));
            }
        } else {
            lw.general(l.span(), format!("address prefix length {prefix_len} is too long for a broadcast address"));
        }
    }
    if v6 {
        if ip.scope.is_some() {
            lw.general(l.span(), format!("cannot give a scope for the IPv6 address {text}; keepalived ignores it"));
            ip.scope = None;
        }
        if ip.label.is_some() {
            lw.general(l.span(), format!("cannot give a label for the IPv6 address {text}; keepalived ignores it"));
            ip.label = None;
        }
    }
    Some(ip)
}

/// `inet_pton(AF_INET)`: exactly four decimal octets.
fn parse_inet_pton4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        o[i] = p.parse::<u16>().ok().filter(|v| *v <= 255)? as u8;
    }
    Some(Ipv4Addr::from(o))
}

/// Address scopes by name (`/etc/iproute2/rt_scopes`) or number.
fn scope_number(s: &str) -> Option<u8> {
    Some(match s {
        "global" => 0,
        "site" => 200,
        "link" => 253,
        "host" => 254,
        "nowhere" => 255,
        _ => return s.parse::<u8>().ok(),
    })
}

fn track_process<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
    let Some(name) = lw.arg(d, 0) else { return };
    let mut p = TrackProcess {
        name: name.as_str().to_owned(),
        process: None,
        weight: 0,
        quorum: 1,
        extra: Vec::new(),
        span: d.span(),
    };
    if let Some(block) = lw.block_of(d) {
        for c in block.iter() {
            match c.name() {
                "process" => {
                    if let Some(w) = lw.arg(&c, 0) {
                        let _ = w;
                        p.process = Some(c.args().map(|w| w.as_str().to_owned()).collect());
                    }
                }
                "weight" => {
                    if let Some(v) = lw.int(&c, 0, -254, 254, "keepalived ignores it") {
                        p.weight = v;
                    }
                }
                "quorum" => {
                    if let Some(v) = lw.unsigned(&c, 0, 1, 65535, "keepalived ignores it") {
                        p.quorum = v;
                    }
                }
                _ => {
                    if Context::VrrpTrackProcess.accepts(c.name()) {
                        p.extra.push(super::raw(&c));
                    } else {
                        lw.unknown(&c, Context::VrrpTrackProcess);
                    }
                }
            }
        }
    }
    config.track_processes.push(p);
}

fn track_file<'d>(lw: &mut Lowerer<'_>, d: &Directive<'d>, config: &mut Config) {
    let Some(name) = lw.arg(d, 0) else { return };
    let deprecated = d.name() == "vrrp_track_file";
    if deprecated {
        lw.lint(d.name_span(), "`vrrp_track_file` is deprecated; use `track_file`").help =
            Some("keepalived only logs this".into());
    }
    let mut t = TrackFile {
        name: name.as_str().to_owned(),
        file: None,
        weight: 1,
        weight_reverse: false,
        init_file: None,
        deprecated_keyword: deprecated,
        span: d.span(),
    };
    if let Some(block) = lw.block_of(d) {
        for c in block.iter() {
            match c.name() {
                "file" => match c.arg(0) {
                    None => {
                        lw.general(c.span(), "track file file name missing");
                    }
                    Some(w) if t.file.is_some() => {
                        lw.general(
                            w.span(),
                            format!("file already set for track file {}; keepalived ignores `{}`", t.name, w.as_str()),
                        );
                    }
                    Some(w) => t.file = Some(w.as_str().to_owned()),
                },
                "weight" => {
                    let Some(w) = c.arg(0) else {
                        lw.general(c.span(), format!("no weight given for track file {}", t.name));
                        continue;
                    };
                    if t.weight != 1 {
                        lw.general(
                            w.span(),
                            format!(
                                "weight already set for track file {}; keepalived ignores `{}`",
                                t.name,
                                w.as_str()
                            ),
                        );
                        continue;
                    }
                    t.weight = match super::num::read_int(w.as_str(), -254, 254) {
                        Ok(v) => v as i32,
                        Err(e) => {
                            lw.general(
                                w.span(),
                                format!("track_file {} weight `{}` {e}; keepalived uses 1", t.name, w.as_str()),
                            );
                            1
                        }
                    };
                    if let Some(r) = c.arg(1) {
                        if r.as_str() == "reverse" {
                            t.weight_reverse = true;
                        } else {
                            lw.general(
                                r.span(),
                                format!("track_file {} unknown weight option `{}`", t.name, r.as_str()),
                            );
                        }
                    }
                }
                "init_file" => {
                    let mut value = 0i64;
                    let mut overwrite = false;
                    for w in c.args() {
                        let s = w.as_str().trim_start();
                        if s.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-') {
                            match super::num::read_int(s, i32::MIN as i64, i32::MAX as i64) {
                                Ok(v) => {
                                    if !(-254..=254).contains(&v) {
                                        lw.general(
                                            w.span(),
                                            format!(
                                                "track file {} init value {v} is outside the sensible range -254..=254",
                                                t.name
                                            ),
                                        );
                                    }
                                    value = v;
                                }
                                Err(_) => {
                                    lw.general(w.span(), format!("track file {} init value `{s}` is invalid", t.name));
                                    value = 0;
                                }
                            }
                        } else if s == "overwrite" {
                            overwrite = true;
                        } else {
                            lw.general(w.span(), format!("unknown track file init option `{s}`"));
                        }
                    }
                    t.init_file = Some((value, overwrite));
                }
                _ => lw.unknown(&c, Context::TrackFile),
            }
        }
    }
    if t.file.is_none() {
        lw.general(d.name_span(), format!("no file set for track_file {}; keepalived ignores it", t.name)).help =
            Some("add `file /path/to/file`".into());
        return;
    }
    config.track_files.push(t);
}

/// `vrrp_complete_init` and the checks around it, in keepalived's order.
pub(crate) fn validate(lw: &mut Lowerer<'_>, config: &mut Config, mut r: VrrpReader) {
    let have_vrrp = !r.drafts.is_empty() || !r.groups.is_empty() || !config.vrrp_scripts.is_empty();
    // start_vrrp: a non-existent interface stops the VRRP process here.
    if lw.bad_interface {
        let span = r.drafts.iter().find_map(|x| x.interface_span).unwrap_or_default();
        lw.report(ConfigErr::BadIf, span, "a non-existent interface is named in the configuration").help = Some(
            "keepalived's VRRP process stops here (unless `dynamic_interfaces` is set); the VRRP checks that follow are not made".into(),
        );
        finish(lw, config, r);
        return;
    }
    if !have_vrrp {
        finish(lw, config, r);
        return;
    }
    // chk_min_cfg
    for x in &r.drafts {
        if x.inst.virtual_router_id == 0 {
            lw.general(x.inst.span, format!("({}) the virtual router id must be set", x.inst.name)).help =
                Some("add `virtual_router_id N` (1..=255)".into());
            finish(lw, config, r);
            return;
        }
        // keepalived 2.2.7 checks this before it marks unicast instances as
        // such (`chk_min_cfg` runs before `vrrp_complete_instance`), so an
        // instance without a usable interface always fails here.
        if !x.has_ifp {
            let unicast = x.unicast_configured && !x.inst.unicast_peers.is_empty();
            lw.general(x.inst.span, format!("({}) unknown interface", x.inst.name)).help = Some(if unicast {
                "keepalived 2.2.7 requires `interface` even for unicast instances: it checks for one before it knows the instance is unicast".into()
            } else {
                "add `interface IFNAME`".into()
            });
            finish(lw, config, r);
            return;
        }
    }
    // Sync groups.
    let mut groups = std::mem::take(&mut r.groups);
    let mut kept_groups: Vec<SyncGroup> = Vec::new();
    for g in groups.iter_mut() {
        let Some(names) = g.names.take() else {
            lw.general(
                g.group.span,
                format!("sync group {} has no virtual router(s); keepalived removes it", g.group.name),
            );
            continue;
        };
        let mut master = None;
        for (n, span) in names {
            let Some(x) = r.drafts.iter_mut().find(|x| x.inst.name == n) else {
                lw.general(
                    span,
                    format!("virtual router {n} in sync group {} doesn't exist; keepalived ignores it", g.group.name),
                );
                continue;
            };
            if let Some(other) = &x.inst.sync_group {
                lw.general(span, format!("virtual router {n} cannot be in more than one sync group (it is in {other}); keepalived ignores {}", g.group.name));
                continue;
            }
            x.inst.sync_group = Some(g.group.name.clone());
            if master == Some(true) && x.wantstate == Some(VrrpState::Backup) {
                lw.general(
                    span,
                    format!(
                        "sync group {} has some members as address owner and some not; this won't work",
                        g.group.name
                    ),
                );
            }
            if master != Some(false) {
                master = Some(x.wantstate == Some(VrrpState::Master) && x.base_priority == 255);
            }
            g.group.instances.push(n);
        }
        if g.group.instances.is_empty() {
            lw.general(
                g.group.span,
                format!("sync group {}: no matching virtual router found; keepalived removes it", g.group.name),
            );
            continue;
        }
        if g.group.instances.len() == 1 {
            lw.general(
                g.group.span,
                format!("sync group {} has only 1 virtual router; this probably isn't what you want", g.group.name),
            );
        }
        kept_groups.push(g.group.clone());
    }
    config.sync_groups = kept_groups;
    // vrrp_complete_instance for each.
    for x in r.drafts.iter_mut() {
        if !complete_instance(lw, x, config) {
            finish(lw, config, r);
            return;
        }
    }
    // check_vrid_conflicts
    let mut conflict = false;
    for (i, a) in r.drafts.iter().enumerate() {
        for b in &r.drafts[..i] {
            if a.inst.virtual_router_id != b.inst.virtual_router_id || a.inst.family != b.inst.family {
                continue;
            }
            let a_uni = !a.inst.unicast_peers.is_empty() && a.unicast_configured;
            let b_uni = !b.inst.unicast_peers.is_empty() && b.unicast_configured;
            if a_uni != b_uni {
                continue;
            }
            if a_uni {
                if a.inst.interface.is_some() && b.inst.interface.is_some() && a.inst.interface != b.inst.interface {
                    continue;
                }
                if a.inst.src_ip.is_none() || b.inst.src_ip.is_none() || a.inst.src_ip != b.inst.src_ip {
                    continue;
                }
                if a.inst.unicast_peers.iter().any(|p| b.inst.unicast_peers.iter().any(|q| q.addr == p.addr)) {
                    lw.general(
                        a.inst.span,
                        format!(
                            "({}) duplicate VRID conflict with {} VRID {}",
                            b.inst.name, a.inst.name, a.inst.virtual_router_id
                        ),
                    );
                    conflict = true;
                }
                continue;
            }
            if a.inst.interface != b.inst.interface || a.inst.mcast_dst_ip != b.inst.mcast_dst_ip {
                continue;
            }
            let ifname = a.inst.interface.clone().unwrap_or_default();
            let v = if a.inst.family == Family::V4 { 4 } else { 6 };
            lw.general(
                a.inst.span,
                format!(
                    "{} and {} both use VRID {} with IPv{v} on interface {ifname}",
                    b.inst.name, a.inst.name, a.inst.virtual_router_id
                ),
            )
            .help = Some("each VRRP router on a link needs its own virtual_router_id".into());
            conflict = true;
        }
    }
    if conflict {
        finish(lw, config, r);
        return;
    }
    // keepalived -t stops here (`vrrp_complete_init` returns before the
    // following checks when only testing the configuration).
    // lvs_sync_daemon's instance.
    if let Some(sd) = &mut config.global.lvs_sync_daemon {
        if let Some(inst) = sd.vrrp_instance.clone() {
            match r.drafts.iter().find(|x| x.inst.name == inst) {
                None => {
                    let span = r.drafts.first().map(|x| x.inst.span).unwrap_or_default();
                    lw.lint(span, format!("no vrrp instance {inst} for lvs_sync_daemon")).help = Some(
                        "keepalived -t does not check this; when it runs, keepalived reports it and drops the lvs_sync_daemon settings".into(),
                    );
                    config.global.lvs_sync_daemon = None;
                }
                Some(x) => {
                    if !sd.sync_id_given {
                        sd.daemon.sync_id = x.inst.virtual_router_id as u32;
                    }
                }
            }
        }
    }
    let _ = r.syncd_from_instance;
    // Unused scripts.
    let mut i = 0;
    let mut used = std::mem::take(&mut r.script_used);
    config.vrrp_scripts.retain(|s| {
        let keep = used.get(i).copied().unwrap_or(true);
        if !keep {
            lw.lint(s.span, format!("vrrp_script {} is not used", s.name)).help = Some(format!(
                "keepalived -t does not check this; when it runs, keepalived reports it and removes the script. Track it with `track_script {{ {} }}` or remove it",
                s.name
            ));
        }
        i += 1;
        keep
    });
    used.clear();
    // Lint: a MASTER with a lower priority than a BACKUP of the same VRID.
    for a in &r.drafts {
        for b in &r.drafts {
            if a.inst.virtual_router_id == b.inst.virtual_router_id
                && a.inst.family == b.inst.family
                && a.inst.state == VrrpState::Master
                && b.inst.state == VrrpState::Backup
                && a.inst.priority < b.inst.priority
            {
                let span = a.priority_span.unwrap_or(a.inst.span);
                lw.lint(
                    span,
                    format!(
                        "{} starts as MASTER with priority {} but {} (its BACKUP for VRID {}) has priority {}",
                        a.inst.name, a.inst.priority, b.inst.name, a.inst.virtual_router_id, b.inst.priority
                    ),
                )
                .help = Some(format!(
                    "the backup will take over as soon as it hears {}; give the master the higher priority",
                    a.inst.name
                ));
            }
        }
    }
    finish(lw, config, r);
}

/// Stores the instances. Those keepalived did not get to (it stopped
/// earlier) still get its defaults, without reports.
fn finish(lw: &Lowerer<'_>, config: &mut Config, mut r: VrrpReader) {
    let mut scratch = Lowerer::new(lw.host);
    for x in r.drafts.iter_mut().filter(|x| !x.completed) {
        complete_instance(&mut scratch, x, config);
    }
    config.vrrp_instances = r.drafts.into_iter().map(|x| x.inst).collect();
}

/// `vrrp_complete_instance` (`keepalived/vrrp/vrrp.c`): defaults and
/// consistency. Returns false where keepalived stops.
fn complete_instance(lw: &mut Lowerer<'_>, x: &mut Draft, config: &Config) -> bool {
    x.completed = true;
    let g = &config.global;
    let name = x.inst.name.clone();
    let span = x.inst.span;
    let strict = x.strict_mode.unwrap_or(g.vrrp_strict);
    x.inst.strict_mode = strict;
    if x.family == Some(Family::V6) {
        if x.version == 2 && strict {
            lw.general(span, format!("({name}) cannot use IPv6 with VRRP version 2; keepalived uses version 3"));
            x.version = 3;
        } else if x.version == 0 {
            x.version = 3;
        }
    }
    let family = x.family.unwrap_or(Family::V4);
    x.inst.family = family;
    if x.version == 0 {
        x.version = if family == Family::V6 { 3 } else { g.vrrp_version };
    }
    x.inst.version = x.version;
    let unicast = x.unicast_configured && !x.inst.unicast_peers.is_empty();
    if family == Family::V4 && x.ttl.is_none() && unicast {
        x.ttl = Some(255);
    }
    x.inst.unicast_ttl = if unicast { x.ttl } else { None };
    if x.inst.virtual_ipaddress.is_empty() {
        if x.version == 3 || strict {
            lw.general(span, format!("({name}) no VIP specified; at least one is required")).help =
                Some("add a virtual_ipaddress block".into());
            return false;
        }
        lw.general(span, format!("({name}) no VIP specified; at least one is sensible"));
    }
    if x.base_priority == 0 {
        x.base_priority = if x.wantstate == Some(VrrpState::Master) { 255 } else { 100 };
    }
    let mut state = x.wantstate.unwrap_or(if x.base_priority == 255 { VrrpState::Master } else { VrrpState::Backup });
    if x.wantstate.is_some() && strict && ((state == VrrpState::Master) != (x.base_priority == 255)) {
        lw.general(
            x.state_span.unwrap_or(span),
            format!("({name}) state MASTER must match being address owner (priority 255) in strict mode"),
        );
        state = if x.base_priority == 255 { VrrpState::Master } else { VrrpState::Backup };
    }
    // Authentication.
    let auth_span = x.auth_span.unwrap_or(span);
    if let Some(t) = x.auth_type {
        if strict {
            lw.general(
                auth_span,
                format!("({name}) strict mode does not support authentication; keepalived ignores it"),
            );
            x.auth_type = None;
        } else if x.version == 3 {
            lw.general(
                auth_span,
                format!("({name}) VRRP version 3 does not support authentication; keepalived ignores it"),
            )
            .help = Some("RFC 5798 removed authentication; remove the block or use version 2".into());
            x.auth_type = None;
        } else if x.auth_data.first().is_none_or(|b| *b == 0) {
            lw.general(auth_span, format!("({name}) authentication given but no password; keepalived ignores it"));
            x.auth_type = None;
        } else if family == Family::V6 && t == AuthType::Ah {
            lw.general(auth_span, format!("({name}) cannot use AH authentication with IPv6; keepalived ignores it"));
            x.auth_type = None;
        } else if t == AuthType::Ah && state == VrrpState::Master && x.base_priority != 255 {
            lw.general(
                x.state_span.unwrap_or(span),
                format!(
                    "({name}) initial state MASTER is incompatible with AH authentication; keepalived starts as BACKUP"
                ),
            );
            state = VrrpState::Backup;
        }
    }
    x.inst.authentication = x.auth_type.map(|t| match t {
        AuthType::Pass => Authentication::Pass(x.auth_data.clone()),
        AuthType::Ah => Authentication::Ah(x.auth_data.clone()),
    });
    if strict && unicast && x.has_ifp {
        lw.general(span, format!("({name}) unicast peers are not supported in strict mode"));
        return false;
    }
    if !x.has_ifp {
        if !x.saddr_from_config {
            lw.general(span, format!("({name}) unicast instances must have unicast_src_ip or interface"));
            return false;
        }
        if let Some(IpAddr::V6(a)) = x.inst.src_ip {
            if a.segments()[0] & 0xffc0 == 0xfe80 {
                lw.general(
                    span,
                    format!("({name}) a non link-local source address is required when no interface is given"),
                );
                return false;
            }
        }
    }
    if x.unicast_configured && x.inst.unicast_peers.is_empty() && !x.inst.unicast_fault_no_peer {
        lw.report(
            ConfigErr::Deprecated,
            span,
            format!("({name}) a unicast keyword without any unicast peers; keepalived uses multicast (deprecated)"),
        );
    }
    if strict && x.vmac_mac_specified {
        lw.general(span, format!("({name}) cannot give a MAC address in strict mode; keepalived clears it"));
        if let Some(v) = &mut x.inst.use_vmac {
            v.mac = None;
        }
    }
    // Move VIPs that do not fit in an advert to the excluded list.
    let hdr = if family == Family::V4 {
        14 + 20 + 8 + if x.version == 2 { 8 + if x.auth_type == Some(AuthType::Ah) { 24 } else { 0 } } else { 0 }
    } else {
        14 + 40 + 8
    };
    let per = if family == Family::V4 { 4 } else { 16 };
    let max_addr = ((1500 - hdr) / per).min(255);
    if x.inst.virtual_ipaddress.len() > max_addr {
        lw.general(span, format!("({name}) {} VIPs do not fit in an advert (at most {max_addr}); keepalived moves the rest to the excluded addresses", x.inst.virtual_ipaddress.len()));
        let extra = x.inst.virtual_ipaddress.split_off(max_addr);
        x.inst.virtual_ipaddress_excluded.extend(extra);
    }
    if x.base_priority == 255 && x.inst.nopreempt {
        lw.general(span, format!("({name}) nopreempt is incompatible with priority 255; keepalived clears nopreempt"));
        x.inst.nopreempt = false;
    }
    if state == VrrpState::Master {
        if x.inst.nopreempt {
            lw.general(
                span,
                format!("({name}) nopreempt will not work with initial state MASTER; keepalived clears it"),
            )
            .help = Some("use `state BACKUP` on every router for nopreempt".into());
            x.inst.nopreempt = false;
        }
        if !x.inst.preempt_delay.is_zero() {
            lw.general(
                span,
                format!("({name}) preempt_delay will not work with initial state MASTER; keepalived clears it"),
            );
            x.inst.preempt_delay = Duration::ZERO;
        }
    }
    if !x.inst.preempt_delay.is_zero() {
        if strict {
            lw.general(span, format!("({name}) preempt_delay is incompatible with strict mode; keepalived resets it"));
            x.inst.preempt_delay = Duration::ZERO;
        }
        if x.inst.nopreempt {
            lw.general(span, format!("({name}) preempt_delay is incompatible with nopreempt; keepalived resets it"));
            x.inst.preempt_delay = Duration::ZERO;
        }
    }
    if x.inst.down_timer_adverts != 3 && strict {
        lw.general(span, format!("({name}) down_timer_adverts is incompatible with strict mode; keepalived resets it"));
        x.inst.down_timer_adverts = 3;
    }
    x.inst.state = state;
    x.inst.priority = x.base_priority;
    let mut accept = x.accept.unwrap_or(if x.base_priority == 255 { true } else { !strict });
    if accept && x.base_priority != 255 && strict && x.version == 2 {
        lw.general(
            span,
            format!("({name}) accept mode with VRRP version 2 does not comply with RFC 3768; keepalived resets it"),
        );
        accept = false;
    }
    x.inst.accept = accept;
    if !unicast && x.inst.mcast_dst_ip.is_none() {
        x.inst.mcast_dst_ip = Some(match family {
            Family::V4 => IpAddr::V4(g.vrrp_mcast_group4),
            Family::V6 => IpAddr::V6(g.vrrp_mcast_group6),
        });
    } else if unicast && x.inst.mcast_dst_ip.is_some() {
        lw.general(span, format!("({name}) multicast destination given with unicast; keepalived ignores it"));
        x.inst.mcast_dst_ip = None;
    }
    // garp_lower_prio_*, lower_prio_no_advert, higher_prio_send_advert.
    match x.inst.garp.lower_prio_repeat {
        None => x.inst.garp.lower_prio_repeat = Some(if strict { 0 } else { g.garp.lower_prio_repeat.unwrap_or(0) }),
        Some(v) if strict && v != 0 => {
            lw.general(span, format!("({name}) strict mode requires no repeat garps; keepalived resets it"));
            x.inst.garp.lower_prio_repeat = Some(0);
        }
        _ => {}
    }
    match x.inst.garp.lower_prio_delay {
        None => {
            x.inst.garp.lower_prio_delay =
                Some(if strict { Duration::ZERO } else { g.garp.lower_prio_delay.unwrap_or(Duration::ZERO) })
        }
        Some(v) if strict && !v.is_zero() => {
            lw.general(span, format!("({name}) strict mode requires no repeat garp delay; keepalived resets it"));
            x.inst.garp.lower_prio_delay = Some(Duration::ZERO);
        }
        _ => {}
    }
    x.inst.lower_prio_no_advert = match x.lower_prio_no_advert {
        None => strict || g.vrrp_lower_prio_no_advert,
        Some(false) if strict => {
            lw.general(span, format!("({name}) strict mode requires lower_prio_no_advert; keepalived sets it"));
            true
        }
        Some(v) => v,
    };
    x.inst.higher_prio_send_advert = match x.higher_prio_send_advert {
        None => !strict && g.vrrp_higher_prio_send_advert,
        Some(true) if strict => {
            lw.general(
                span,
                format!("({name}) strict mode requires higher_prio_send_advert to be clear; keepalived clears it"),
            );
            false
        }
        Some(v) => v,
    };
    x.inst.smtp_alert = x.smtp_alert.or(g.smtp_alert_vrrp).or(g.smtp_alert).unwrap_or(false);
    x.inst.notify_priority_changes = x.notify_priority_changes.unwrap_or(g.vrrp_notify_priority_changes);
    // Advertisement interval.
    let adv_span = x.advert_span.unwrap_or(span);
    let mut adv = if x.adver_int_us == 0 { 1_000_000 } else { x.adver_int_us };
    if x.version == 2 {
        if adv >= 256 * 1_000_000 {
            lw.general(adv_span, format!("({name}) VRRPv2 advertisement interval {:.2}s is out of range (less than 256s); keepalived uses 255s", adv as f64 / 1e6));
            adv = 255 * 1_000_000;
        } else if adv % 1_000_000 != 0 {
            lw.general(adv_span, format!("({name}) VRRPv2 advertisement interval {:.6}s must be a whole number of seconds; keepalived rounds it", adv as f64 / 1e6))
                .help = Some("VRRPv2 carries the interval in whole seconds (RFC 3768 5.3.7); use `version 3` for sub-second intervals".into());
            adv += 500_000;
            adv -= adv % 1_000_000;
            if adv == 0 {
                adv = 1_000_000;
            }
        }
    } else if adv >= 4096 * 10_000 {
        lw.general(adv_span, format!("({name}) VRRPv3 advertisement interval {:.2}s is out of range (less than 40.96s); keepalived uses 40.95s", adv as f64 / 1e6));
        adv = 4095 * 10_000;
    } else if adv % 10_000 != 0 {
        lw.general(
            adv_span,
            format!(
                "({name}) VRRPv3 advertisement interval {:.6}s must be in units of 10ms; keepalived rounds it",
                adv as f64 / 1e6
            ),
        );
        adv += 5_000;
        adv -= adv % 10_000;
        if adv == 0 {
            adv = 10_000;
        }
    }
    x.inst.advert_int = Duration::from_micros(adv);
    true
}

/// The help of a tracked script not found whose `vrrp_script` comes later
/// in the file.
fn later_script_help(name: &str) -> String {
    format!(
        "vrrp_script {name} is defined after this point; keepalived only finds scripts defined before they are tracked"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pton4_is_strict() {
        assert_eq!(parse_inet_pton4("192.168.1.1"), Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(parse_inet_pton4("192.168.100."), None);
        assert_eq!(parse_inet_pton4("1.2.3"), None);
        assert_eq!(parse_inet_pton4("256.1.1.1"), None);
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:5e:00:01:05"), Some([2, 0, 0x5e, 0, 1, 5]));
        assert_eq!(parse_mac("02:00:5e"), None);
    }
}

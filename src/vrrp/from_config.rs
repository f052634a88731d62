//! From a parsed `keepalived.conf` ([`crate::config::Config`]) to running
//! VRRP objects: [`InstanceConfig::from_keepalived`] for one
//! `vrrp_instance`, [`routers`] for all of them with their sync groups.
//!
//! The config module has already applied keepalived's defaults and the
//! `global_defs` inheritance; this adds what keepalived resolves when it
//! completes an instance: the `vrrp_script`s' `init_fail`, the
//! `vrrp_check_unicast_src` / `vrrp_skip_check_adv_addr` globals, the
//! gratuitous ARP spacing of the instance's interface (its `garp_group`, else
//! `vrrp_garp_interval` / `vrrp_gna_interval`), and the sync groups'
//! tracking. Keywords lvskit's VRRP does not act on (`use_vmac`,
//! `virtual_routes`, `virtual_rules`, notify scripts …) stay in the config
//! model for the embedder; the first three are reported as warnings because
//! they change what keepalived would do on the wire or to the host.

use super::config::{
    Auth, ConfigError, ConfigWarning, InitialState, InstanceConfig, TrackKind, TrackState, TrackedObject, UnicastPeer,
    VirtualAddress,
};
use super::instance::VrrpInstance;
use super::sync::SyncGroup;
use crate::backend::AddrScope;
use crate::config;
use crate::wire::Family;
use crate::wire::vrrp::Version;

/// Every VRRP object of a configuration, ready to start.
#[derive(Debug, Clone)]
pub struct Routers {
    /// The instances outside any sync group, in configuration order.
    pub instances: Vec<VrrpInstance>,
    /// The sync groups, with their members in `group { }` order.
    pub groups: Vec<SyncGroup>,
    /// What conversion and keepalived's checks adjusted.
    pub warnings: Vec<ConfigWarning>,
}

fn vip(v: &config::VirtualIp) -> VirtualAddress {
    VirtualAddress {
        addr: v.net(),
        broadcast: v.broadcast,
        dev: v.dev.clone(),
        scope: AddrScope::from_number(v.scope.unwrap_or(0)),
        label: v.label.clone(),
        dad: v.flags.iter().any(|f| f == "-nodad"),
        noprefixroute: v.flags.iter().any(|f| f == "noprefixroute"),
    }
}

fn tracked(kind: TrackKind, t: &config::Tracked, initial: TrackState) -> TrackedObject {
    TrackedObject { kind, name: t.name.clone(), weight: t.weight, reverse: t.reverse, initial }
}

fn script_initial(c: &config::Config, name: &str) -> TrackState {
    if c.vrrp_script(name).is_some_and(|s| s.init_fail) { TrackState::Down } else { TrackState::Init }
}

/// The tracked objects of a `track_*` set (an instance's or a group's).
fn tracks(
    c: &config::Config,
    interfaces: &[config::Tracked],
    scripts: &[config::Tracked],
    files: &[config::Tracked],
) -> Vec<TrackedObject> {
    let mut out: Vec<TrackedObject> =
        interfaces.iter().map(|t| tracked(TrackKind::Interface, t, TrackState::Up)).collect();
    out.extend(scripts.iter().map(|t| tracked(TrackKind::Script, t, script_initial(c, &t.name))));
    out.extend(files.iter().map(|t| tracked(TrackKind::File, t, TrackState::Value(0))));
    out
}

impl InstanceConfig {
    /// The settings of `instance`, one of `config`'s `vrrp_instance`s (its
    /// sync group's tracking is added by [`routers`]), and what lvskit will
    /// not do of it.
    pub fn from_keepalived(config: &config::Config, instance: &config::VrrpInstance) -> (Self, Vec<ConfigWarning>) {
        let g = &config.global;
        let mut warnings = Vec::new();
        let mut warn = |keyword: &'static str, message: &str| {
            warnings.push(ConfigWarning { instance: instance.name.clone(), keyword, message: message.to_owned() });
        };
        if instance.use_vmac.is_some() {
            warn("use_vmac", "not supported by lvskit: adverts and GARPs use the interface's own MAC");
        }
        if !instance.virtual_routes.is_empty() {
            warn("virtual_routes", "not installed by lvskit's VRRP (the routes stay in the configuration)");
        }
        if !instance.virtual_rules.is_empty() {
            warn("virtual_rules", "not installed by lvskit's VRRP (the rules stay in the configuration)");
        }
        let unicast = !instance.unicast_peers.is_empty();
        let strict = instance.strict_mode;
        let mut track = tracks(config, &instance.track_interfaces, &instance.track_scripts, &instance.track_files);
        track.extend(instance.track_processes.iter().map(|t| tracked(TrackKind::Process, t, TrackState::Up)));
        track.extend(instance.track_bfds.iter().map(|t| tracked(TrackKind::Bfd, t, TrackState::Up)));
        let family_v6 = instance.family == Family::V6;
        // keepalived spaces gratuitous ARPs / NAs per interface (the
        // `garp_group` naming it, else the globals); lvskit's instance sends
        // on its own interface, so it takes that interface's spacing. An
        // instance without an interface sends on its VIPs' `dev`s, which
        // keepalived gives the globals unless a group names them.
        let garp_spacing = match &instance.interface {
            Some(i) => config.garp_spacing(i),
            None => (g.vrrp_garp_interval, g.vrrp_gna_interval),
        };
        let c = InstanceConfig {
            name: instance.name.clone(),
            interface: instance.interface.clone(),
            vrid: instance.virtual_router_id,
            priority: Some(instance.priority),
            state: Some(match instance.state {
                config::VrrpState::Master => InitialState::Master,
                config::VrrpState::Backup => InitialState::Backup,
            }),
            advert_int: instance.advert_int,
            version: Some(if instance.version == 3 { Version::V3 } else { Version::V2 }),
            native_ipv6: family_v6 && instance.virtual_ipaddress.is_empty(),
            auth: match &instance.authentication {
                None => Auth::None,
                Some(config::Authentication::Pass(p)) => {
                    let mut data = [0u8; 8];
                    let n = p.len().min(8);
                    data[..n].copy_from_slice(&p[..n]);
                    Auth::Pass(data)
                }
                Some(config::Authentication::Ah(_)) => Auth::Ah,
            },
            virtual_ipaddress: instance.virtual_ipaddress.iter().map(vip).collect(),
            virtual_ipaddress_excluded: instance.virtual_ipaddress_excluded.iter().map(vip).collect(),
            src_ip: instance.src_ip,
            unicast_peers: instance
                .unicast_peers
                .iter()
                .map(|p| UnicastPeer { addr: p.addr, min_ttl: p.min_ttl, max_ttl: p.max_ttl })
                .collect(),
            unicast_ttl: instance.unicast_ttl,
            // The config model fills in the global group; only a group other
            // than the standard one needs saying, and only for multicast.
            mcast_dst_ip: instance
                .mcast_dst_ip
                .filter(|d| !unicast && *d != crate::wire::vrrp::mcast_group(instance.family)),
            check_unicast_src: instance.check_unicast_src || g.vrrp_check_unicast_src,
            unicast_fault_no_peer: instance.unicast_fault_no_peer,
            old_unicast_checksum: match instance.old_unicast_checksum {
                config::OldUnicastChecksum::Auto => super::UnicastChecksum::Auto,
                config::OldUnicastChecksum::Never => super::UnicastChecksum::Never,
                config::OldUnicastChecksum::Old => super::UnicastChecksum::Always,
            },
            nopreempt: instance.nopreempt,
            preempt_delay: instance.preempt_delay,
            accept: Some(instance.accept),
            strict_mode: Some(strict),
            skip_check_adv_addr: instance.skip_check_adv_addr || g.vrrp_skip_check_adv_addr,
            dont_track_primary: instance.dont_track_primary,
            track,
            garp_master_delay: instance.garp.master_delay,
            garp_master_repeat: instance.garp.master_repeat,
            garp_master_refresh: instance.garp.master_refresh,
            garp_master_refresh_repeat: instance.garp.master_refresh_repeat,
            garp_lower_prio_delay: instance.garp.lower_prio_delay,
            garp_lower_prio_repeat: instance.garp.lower_prio_repeat,
            garp_interval: garp_spacing.0,
            gna_interval: garp_spacing.1,
            down_timer_adverts: instance.down_timer_adverts,
            // Passed only when they differ from what strict mode implies, so
            // that normalization does not report keepalived's own defaults.
            lower_prio_no_advert: (instance.lower_prio_no_advert != strict).then_some(instance.lower_prio_no_advert),
            higher_prio_send_advert: instance.higher_prio_send_advert.then_some(true),
        };
        (c, warnings)
    }
}

/// Every `vrrp_instance` and `vrrp_sync_group` of `config` as
/// [`VrrpInstance`]s and [`SyncGroup`]s (not started). Fails on the first
/// instance keepalived (or lvskit) would refuse.
pub fn routers(config: &config::Config) -> Result<Routers, ConfigError> {
    let mut warnings = Vec::new();
    let mut built: Vec<Option<VrrpInstance>> = Vec::with_capacity(config.vrrp_instances.len());
    for inst in &config.vrrp_instances {
        let (c, w) = InstanceConfig::from_keepalived(config, inst);
        warnings.extend(w);
        let vi = VrrpInstance::new(c)?;
        warnings.extend(vi.warnings().iter().cloned());
        built.push(Some(vi));
    }
    let mut groups = Vec::new();
    for g in &config.sync_groups {
        let mut members = Vec::new();
        for name in &g.instances {
            let Some(i) = config.vrrp_instances.iter().position(|v| &v.name == name) else { continue };
            match built[i].take() {
                Some(vi) => members.push(vi),
                None => {
                    return Err(ConfigError::SyncGroup {
                        group: g.name.clone(),
                        message: format!("virtual router {name} cannot exist in more than one sync group"),
                    });
                }
            }
        }
        let group = SyncGroup::new(g.name.clone(), members, g.tracking_weight)?.with_group_tracking(tracks(
            config,
            &g.track_interfaces,
            &g.track_scripts,
            &g.track_files,
        ));
        warnings.extend(group.warnings().iter().cloned());
        groups.push(group);
    }
    Ok(Routers { instances: built.into_iter().flatten().collect(), groups, warnings })
}

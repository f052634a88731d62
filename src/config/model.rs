//! The typed configuration: what a `keepalived.conf` means once keepalived's
//! defaults are applied.
//!
//! What maps onto the shared LVS model is lowered into it: every virtual
//! server yields [`ipvs::ServiceConfig`]s, every real server an
//! [`ipvs::DestConfig`], `lvs_timeouts` an [`ipvs::Timeouts`] and
//! `lvs_sync_daemon` an [`ipvs::DaemonConfig`]. Everything keepalived-only
//! (VRRP instances, checkers, notification settings) lives in the types here.
//!
//! Values are the *effective* ones: keepalived's defaults and the
//! inheritance it performs (a real server's checker takes its retry count
//! from the real server, then the virtual server, then the checker type's
//! default; `validate_check_config`, `keepalived/check/check_data.c`) are
//! already applied, so consumers never re-implement them. Where a value was
//! not written, the field says so only when keepalived itself distinguishes
//! "unset" from any value.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::ipvs::{self, Family, ForwardMethod, Protocol};

use super::source::Span;

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks, in order.
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `track_file` (and the deprecated `vrrp_track_file`) blocks.
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process` blocks.
    pub track_processes: Vec<TrackProcess>,
    /// `vrrp_instance` blocks.
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `vrrp_sync_group` blocks.
    pub sync_groups: Vec<SyncGroup>,
    /// `static_ipaddress` entries.
    pub static_ipaddress: Vec<VirtualIp>,
    /// `static_routes` lines, kept as written (lvskit does not install routes).
    pub static_routes: Vec<RawLine>,
    /// `static_rules` lines, kept as written.
    pub static_rules: Vec<RawLine>,
    /// `virtual_server_group` blocks.
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    /// `virtual_server` blocks that keepalived keeps (with real servers).
    pub virtual_servers: Vec<VirtualServer>,
    /// The `SSL` block (client certificate for `SSL_GET`).
    pub ssl: Option<SslContext>,
    /// `garp_group` blocks that keepalived keeps (those with an interval),
    /// each interface claimed by the first group naming it.
    pub garp_groups: Vec<GarpGroup>,
    /// Top-level keywords keepalived accepts that lvskit keeps without
    /// interpreting (`net_namespace`, `bfd_instance` ...).
    pub extra: Vec<RawDirective>,
}

impl Config {
    /// The VRRP instance of that name.
    pub fn vrrp_instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp_instances.iter().find(|v| v.name == name)
    }

    /// The virtual server group of that name.
    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|g| g.name == name)
    }

    /// The `vrrp_script` of that name.
    pub fn vrrp_script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }

    /// The spacing of gratuitous ARPs and unsolicited NAs on `interface`:
    /// `(garp_interval, gna_interval)` of the `garp_group` naming it, else
    /// the `vrrp_garp_interval` / `vrrp_gna_interval` globals. An interface
    /// in a group takes nothing from the globals, not even the interval the
    /// group leaves out (`set_default_garp_delay` only fills interfaces
    /// without a group, `keepalived/vrrp/vrrp_if.c`).
    pub fn garp_spacing(&self, interface: &str) -> (Duration, Duration) {
        match self.garp_groups.iter().find(|g| g.interfaces.iter().any(|i| i == interface)) {
            Some(g) => (g.garp_interval.unwrap_or_default(), g.gna_interval.unwrap_or_default()),
            None => (self.global.vrrp_garp_interval, self.global.vrrp_gna_interval),
        }
    }

    /// Every IPVS service the virtual servers describe, with their real
    /// servers, in configuration order (a group-based virtual server gives
    /// one service per address, port and mark of its group).
    pub fn ipvs_services(&self) -> Vec<(ipvs::ServiceConfig, Vec<ipvs::DestConfig>)> {
        let mut out = Vec::new();
        for vs in &self.virtual_servers {
            let dests: Vec<ipvs::DestConfig> = vs.real_servers.iter().map(|r| r.dest).collect();
            for svc in vs.services(self) {
                out.push((svc, dests.clone()));
            }
        }
        out
    }
}

/// A directive lvskit keeps as written: keyword, arguments, nested block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawDirective {
    /// The keyword.
    pub name: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The directives of its block, if it has one.
    pub block: Option<Vec<RawDirective>>,
    /// Where it is.
    pub span: Span,
}

/// One line of a value block kept as written (routes and rules).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawLine {
    /// The words.
    pub words: Vec<String>,
    /// Where it is.
    pub span: Span,
}

/// A script command line (notify scripts, `vrrp_script`, `MISC_CHECK`), split
/// as keepalived splits it (quotes and `\` escapes honoured,
/// `alloc_strvec_quoted_escaped`, `lib/parser.c`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// Program and arguments.
    pub args: Vec<String>,
    /// Where it is.
    pub span: Span,
}

/// `global_defs`. Defaults are keepalived's (`init_global_data`,
/// `keepalived/core/global_data.c`).
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDefs {
    /// `router_id` (keepalived uses the host name when unset).
    pub router_id: Option<String>,
    /// `notification_email` addresses.
    pub notification_email: Vec<String>,
    /// `notification_email_from`.
    pub notification_email_from: Option<String>,
    /// `smtp_server` address or name, and port (25 by default).
    pub smtp_server: Option<SmtpServer>,
    /// `smtp_helo_name`.
    pub smtp_helo_name: Option<String>,
    /// `smtp_connect_timeout`, 30 s by default.
    pub smtp_connect_timeout: Duration,
    /// `smtp_alert` (applies to VRRP and checkers unless overridden).
    pub smtp_alert: Option<bool>,
    /// `smtp_alert_vrrp`.
    pub smtp_alert_vrrp: Option<bool>,
    /// `smtp_alert_checker`.
    pub smtp_alert_checker: Option<bool>,
    /// `checker_log_all_failures`.
    pub checker_log_all_failures: bool,
    /// `default_interface` (for static addresses without `dev`).
    pub default_interface: Option<String>,
    /// `dynamic_interfaces` (and its `allow_if_changes` option).
    pub dynamic_interfaces: Option<bool>,
    /// `no_email_faults`.
    pub no_email_faults: bool,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// `lvs_timeouts`: the IPVS TCP, TCP FIN and UDP timeouts to set; 0 in a
    /// field means "leave the kernel's value" (as `ipvsadm --set`).
    pub lvs_timeouts: Option<ipvs::Timeouts>,
    /// `lvs_flush`: flush the IPVS table at start-up.
    pub lvs_flush: bool,
    /// `lvs_flush_on_stop` (`VS` flushes only keepalived's own services).
    pub lvs_flush_on_stop: Option<LvsFlushOnStop>,
    /// `lvs_sync_daemon` (or a `vrrp_instance`'s deprecated
    /// `lvs_sync_daemon_interface`).
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `vrrp_mcast_group4`, 224.0.0.18 by default.
    pub vrrp_mcast_group4: Ipv4Addr,
    /// `vrrp_mcast_group6`, ff02::12 by default.
    pub vrrp_mcast_group6: Ipv6Addr,
    /// Gratuitous ARP / NA defaults for instances.
    pub garp: Garp,
    /// `vrrp_garp_interval`: gap between gratuitous ARPs, none by default.
    pub vrrp_garp_interval: Duration,
    /// `vrrp_gna_interval`: gap between unsolicited NAs, none by default.
    pub vrrp_gna_interval: Duration,
    /// `vrrp_version`, 2 by default.
    pub vrrp_version: u8,
    /// `vrrp_strict`.
    pub vrrp_strict: bool,
    /// `vrrp_check_unicast_src`.
    pub vrrp_check_unicast_src: bool,
    /// `vrrp_skip_check_adv_addr`.
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_lower_prio_no_advert`.
    pub vrrp_lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert`.
    pub vrrp_higher_prio_send_advert: bool,
    /// `vrrp_down_timer_adverts`, 3 by default.
    pub vrrp_down_timer_adverts: u32,
    /// `vrrp_notify_priority_changes`.
    pub vrrp_notify_priority_changes: bool,
    /// `vrrp_startup_delay`.
    pub vrrp_startup_delay: Duration,
    /// `include_check` flags in effect at the end (read, match, wildcard,
    /// brace: bits 0..4).
    pub include_check: u8,
    /// Other `global_defs` keywords keepalived accepts, kept as written
    /// (process tuning, SNMP, D-Bus, nftables, FIFOs ...).
    pub extra: Vec<RawDirective>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            checker_log_all_failures: false,
            default_interface: None,
            dynamic_interfaces: None,
            no_email_faults: false,
            enable_script_security: false,
            script_user: None,
            lvs_timeouts: None,
            lvs_flush: false,
            lvs_flush_on_stop: None,
            lvs_sync_daemon: None,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            garp: Garp::default(),
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_version: 2,
            vrrp_strict: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_down_timer_adverts: 3,
            vrrp_notify_priority_changes: false,
            vrrp_startup_delay: Duration::ZERO,
            include_check: 0,
            extra: Vec::new(),
        }
    }
}

/// Where notification mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// An address or a host name (keepalived resolves names).
    pub host: String,
    /// The port, 25 by default.
    pub port: u16,
}

/// `lvs_flush_on_stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LvsFlushOnStop {
    /// Flush the whole IPVS table.
    Full,
    /// Remove only the virtual servers keepalived configured (`VS`).
    VirtualServers,
}

/// `lvs_sync_daemon IFNAME [VRRP_INSTANCE] [id SYNC_ID] [maxlen LEN] [port
/// PORT] [ttl TTL] [group IP]`: the IPVS connection sync daemon keepalived
/// starts as master or backup following a VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    /// The daemon's parameters (role master; keepalived switches it with the
    /// instance's state). `sync_id` is the VRID of the instance unless `id`
    /// was given.
    pub daemon: ipvs::DaemonConfig,
    /// The VRRP instance whose state it follows.
    pub vrrp_instance: Option<String>,
    /// Whether `id` was given (otherwise the id is the instance's VRID).
    pub sync_id_given: bool,
}

/// Gratuitous ARP / unsolicited NA settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Garp {
    /// Delay before the second burst after becoming master (5 s).
    pub master_delay: Duration,
    /// Messages per burst on becoming master (5).
    pub master_repeat: u32,
    /// Refresh period while master, zero for none.
    pub master_refresh: Duration,
    /// Messages per refresh (1).
    pub master_refresh_repeat: u32,
    /// Delay before the burst sent on hearing a lower priority advert.
    pub lower_prio_delay: Option<Duration>,
    /// Messages in that burst.
    pub lower_prio_repeat: Option<u32>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

/// `vrrp_script`: a command whose exit status adjusts priorities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// Its name.
    pub name: String,
    /// The command.
    pub script: Option<Script>,
    /// `interval`, 1 s by default.
    pub interval: Duration,
    /// `timeout`, the interval when not given (keepalived's 0 means "the
    /// interval").
    pub timeout: Option<Duration>,
    /// `weight` (-253..=253), 0 by default.
    pub weight: i32,
    /// `weight ... reverse`.
    pub weight_reverse: bool,
    /// `rise`, 1 by default.
    pub rise: u32,
    /// `fall`, 1 by default.
    pub fall: u32,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
    /// `init_fail`: start in the failed state.
    pub init_fail: bool,
    /// Where it is defined.
    pub span: Span,
}

/// `track_file`: a file holding a number that adjusts priorities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// Its name.
    pub name: String,
    /// `file PATH`.
    pub file: Option<String>,
    /// `weight`, 1 by default.
    pub weight: i32,
    /// `weight ... reverse`.
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: the value to create the file with.
    pub init_file: Option<(i64, bool)>,
    /// Whether it was written `vrrp_track_file` (deprecated).
    pub deprecated_keyword: bool,
    /// Where it is defined.
    pub span: Span,
}

/// `vrrp_track_process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    /// Its name.
    pub name: String,
    /// `process NAME [ARGS...]`.
    pub process: Option<Vec<String>>,
    /// `weight`.
    pub weight: i32,
    /// `quorum`, 1 by default.
    pub quorum: u32,
    /// Other settings, as written.
    pub extra: Vec<RawDirective>,
    /// Where it is defined.
    pub span: Span,
}

/// A VRRP state keepalived starts an instance in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VrrpState {
    /// `MASTER`.
    Master,
    /// `BACKUP`.
    Backup,
}

/// VRRPv2 authentication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Authentication {
    /// `auth_type PASS`: the password, at most 8 bytes.
    Pass(Vec<u8>),
    /// `auth_type AH`: IPsec AH with the password as key material.
    Ah(Vec<u8>),
}

/// An address on an interface: a VIP, an excluded VIP or a static address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (32 or 128 when not given).
    pub prefix_len: u8,
    /// `dev IFNAME`.
    pub dev: Option<String>,
    /// `label LABEL` (IPv4 only).
    pub label: Option<String>,
    /// `scope SCOPE` as its number (`site` 200, `link` 253, `host` 254,
    /// `nowhere` 255, `global` 0, or a number).
    pub scope: Option<u8>,
    /// `brd ADDR` (or `+`/`-` resolved against the prefix).
    pub broadcast: Option<Ipv4Addr>,
    /// `peer ADDR`.
    pub peer: Option<IpAddr>,
    /// `no_track`.
    pub no_track: bool,
    /// `use_vmac`.
    pub use_vmac: bool,
    /// Other flags as written (`home`, `-nodad`, `noprefixroute` ...).
    pub flags: Vec<String>,
    /// Where it is.
    pub span: Span,
}

impl VirtualIp {
    /// The address with its prefix.
    pub fn net(&self) -> ipnet::IpNet {
        ipnet::IpNet::new(self.addr, self.prefix_len).unwrap_or_else(|_| ipnet::IpNet::from(self.addr))
    }
}

/// `unicast_peer` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnicastPeer {
    /// The peer.
    pub addr: IpAddr,
    /// `min_ttl`, 0 by default.
    pub min_ttl: u8,
    /// `max_ttl`, 255 by default.
    pub max_ttl: u8,
}

/// Something a VRRP instance or sync group tracks, with the weight it
/// applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The interface, script, file, process or BFD name.
    pub name: String,
    /// The weight applied (for scripts and files: the entry's own weight, or
    /// the script's/file's when not given).
    pub weight: i32,
    /// `reverse`.
    pub reverse: bool,
    /// Where it is.
    pub span: Span,
}

/// A VRRP instance's notify scripts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<Script>,
    /// `notify_backup`.
    pub backup: Option<Script>,
    /// `notify_fault`.
    pub fault: Option<Script>,
    /// `notify_stop`.
    pub stop: Option<Script>,
    /// `notify_deleted`.
    pub deleted: Option<Script>,
    /// `notify` (called with type, name, state and priority).
    pub any: Option<Script>,
    /// `notify_master_rx_lower_pri`.
    pub master_rx_lower_pri: Option<Script>,
}

/// `use_vmac [IFNAME] [MAC]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vmac {
    /// The macvlan interface name (keepalived makes one up when not given).
    pub ifname: Option<String>,
    /// An explicit MAC address.
    pub mac: Option<[u8; 6]>,
}

/// `vrrp_instance`. Defaults and derived values are keepalived's
/// (`alloc_vrrp`, `keepalived/vrrp/vrrp_data.c`; `vrrp_complete_instance`,
/// `keepalived/vrrp/vrrp.c`).
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// Its name.
    pub name: String,
    /// `state`; when not given, MASTER for priority 255 and BACKUP otherwise.
    pub state: VrrpState,
    /// `interface`.
    pub interface: Option<String>,
    /// `virtual_router_id` (1..=255).
    pub virtual_router_id: u8,
    /// `priority`; when not given, 255 for state MASTER and 100 otherwise.
    pub priority: u8,
    /// `advert_int` (1 s by default), rounded as keepalived rounds it: to
    /// whole seconds for VRRPv2, to 10 ms for VRRPv3.
    pub advert_int: Duration,
    /// VRRP version, 2 or 3 (`version`, else `vrrp_version`, else 3 for IPv6).
    pub version: u8,
    /// Address family of the instance (from its addresses; IPv4 by default).
    pub family: Family,
    /// `authentication` (VRRPv2 only).
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress`.
    pub virtual_ipaddress: Vec<VirtualIp>,
    /// `virtual_ipaddress_excluded` (also VIPs that do not fit in an advert).
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    /// `virtual_routes` lines, as written.
    pub virtual_routes: Vec<RawLine>,
    /// `virtual_rules` lines, as written.
    pub virtual_rules: Vec<RawLine>,
    /// `mcast_src_ip` / `unicast_src_ip`.
    pub src_ip: Option<IpAddr>,
    /// `unicast_peer`.
    pub unicast_peers: Vec<UnicastPeer>,
    /// `mcast_dst_ip`; when not given, the global group of the family (for
    /// multicast instances).
    pub mcast_dst_ip: Option<IpAddr>,
    /// `unicast_ttl` (unicast only).
    pub unicast_ttl: Option<u8>,
    /// `nopreempt` (cleared for priority 255 and initial state MASTER).
    pub nopreempt: bool,
    /// `preempt_delay`.
    pub preempt_delay: Duration,
    /// `track_interface`.
    pub track_interfaces: Vec<Tracked>,
    /// `track_script` (only scripts defined before the instance, as
    /// keepalived resolves them while reading).
    pub track_scripts: Vec<Tracked>,
    /// `track_file`.
    pub track_files: Vec<Tracked>,
    /// `track_process`.
    pub track_processes: Vec<Tracked>,
    /// `track_bfd`.
    pub track_bfds: Vec<Tracked>,
    /// `dont_track_primary`.
    pub dont_track_primary: bool,
    /// Notify scripts.
    pub notify: Notify,
    /// `smtp_alert` (else `smtp_alert_vrrp`, else `smtp_alert`, else off).
    pub smtp_alert: bool,
    /// `notify_priority_changes`.
    pub notify_priority_changes: bool,
    /// Gratuitous ARP settings (the globals unless overridden).
    pub garp: Garp,
    /// `accept` / `no_accept`; when not given, on unless strict mode (and
    /// always on for the address owner).
    pub accept: bool,
    /// `strict_mode` (else `vrrp_strict`).
    pub strict_mode: bool,
    /// `use_vmac`.
    pub use_vmac: Option<Vmac>,
    /// `vmac_xmit_base`.
    pub vmac_xmit_base: bool,
    /// `skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
    /// `check_unicast_src`.
    pub check_unicast_src: bool,
    /// `unicast_fault_no_peer`: when unicast is configured but no peer is
    /// given, keepalived keeps the instance in FAULT instead of falling back
    /// to multicast (`VRRP_FLAG_UNICAST_FAULT_NO_PEERS`,
    /// `keepalived/vrrp/vrrp.c`).
    pub unicast_fault_no_peer: bool,
    /// `old_unicast_checksum [never]`: how VRRPv3 unicast adverts over IPv4
    /// are checksummed (`vrrp_unicast_chksum_handler`,
    /// `keepalived/vrrp/vrrp_parser.c`; per instance only, there is no
    /// global form).
    pub old_unicast_checksum: OldUnicastChecksum,
    /// `lower_prio_no_advert`.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts`, 3 by default.
    pub down_timer_adverts: u32,
    /// `promote_secondaries`.
    pub promote_secondaries: bool,
    /// `debug` level (0..=4).
    pub debug: u8,
    /// The sync group it belongs to.
    pub sync_group: Option<String>,
    /// Other keywords keepalived accepts, kept as written.
    pub extra: Vec<RawDirective>,
    /// Where it is defined.
    pub span: Span,
}

/// `garp_group`: least time between two gratuitous ARPs (or unsolicited
/// NAs) sent on each of its interfaces, shared by every instance using
/// them (`garp_delay_t`, `keepalived/include/vrrp_if.h`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GarpGroup {
    /// `garp_interval` (seconds, microsecond precision), when given.
    pub garp_interval: Option<Duration>,
    /// `gna_interval`, when given.
    pub gna_interval: Option<Duration>,
    /// `interface` / `interfaces { }`: the interfaces it applies to (those
    /// that exist and that no earlier group claimed).
    pub interfaces: Vec<String>,
    /// Where it is defined.
    pub span: Span,
}

/// `old_unicast_checksum`: keepalived's `chksum_compatibility_t`
/// (`keepalived/include/vrrp.h`) as the configuration can set it. Up to
/// 1.3.6 keepalived put 224.0.0.18 instead of the peer's address in the
/// pseudo-header of VRRPv3 unicast adverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OldUnicastChecksum {
    /// Not given (or given with an unknown mode, which keepalived reports
    /// and ignores): RFC 5798 checksums, switching to the old ones when a
    /// peer's advert only verifies the old way.
    #[default]
    Auto,
    /// `old_unicast_checksum never`: always RFC 5798, never switch.
    Never,
    /// `old_unicast_checksum` alone: always the old checksum.
    Old,
}

/// `vrrp_sync_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// Its name.
    pub name: String,
    /// `group { ... }`: the instances (those that exist).
    pub instances: Vec<String>,
    /// `track_interface`.
    pub track_interfaces: Vec<Tracked>,
    /// `track_script`.
    pub track_scripts: Vec<Tracked>,
    /// `track_file`.
    pub track_files: Vec<Tracked>,
    /// Notify scripts.
    pub notify: Notify,
    /// `smtp_alert`.
    pub smtp_alert: Option<bool>,
    /// `sync_group_tracking_weight` (or the deprecated `global_tracking`).
    pub tracking_weight: bool,
    /// Other keywords keepalived accepts, kept as written.
    pub extra: Vec<RawDirective>,
    /// Where it is defined.
    pub span: Span,
}

/// One entry of a `virtual_server_group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupEntry {
    /// `IP[-LAST|/PREFIX] [PORT]`: addresses `first..=last` on `port` (0 for
    /// "any", persistence only).
    Range {
        /// First address.
        first: IpAddr,
        /// Last address (the same as `first` for one address).
        last: IpAddr,
        /// Port.
        port: u16,
    },
    /// `fwmark MARK [inet|inet6]`.
    Fwmark {
        /// The mark.
        mark: u32,
        /// The family, when given.
        family: Option<Family>,
    },
}

/// `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerGroup {
    /// Its name.
    pub name: String,
    /// Entries in order.
    pub entries: Vec<GroupEntry>,
    /// Where it is defined.
    pub span: Span,
}

/// What a `virtual_server` line names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VirtualServerKey {
    /// `virtual_server IP PORT`.
    Addr(SocketAddr),
    /// `virtual_server fwmark MARK`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// `sorry_server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SorryServer {
    /// The server (as an IPVS destination, weight 1).
    pub dest: ipvs::DestConfig,
    /// `sorry_server_inhibit`.
    pub inhibit: bool,
}

/// `virtual_server`. Defaults are keepalived's (`alloc_vs`,
/// `keepalived/check/check_data.c`).
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServer {
    /// What it names.
    pub key: VirtualServerKey,
    /// Address family (from its address, `ip_family`, or its servers).
    pub family: Family,
    /// `protocol` (TCP, UDP or SCTP). keepalived defaults an address-based
    /// virtual server without one to UDP (what the kernel would do) and warns.
    pub protocol: Protocol,
    /// `lvs_sched` / `lb_algo`, `wlc` by default.
    pub scheduler: String,
    /// `ops`, `flag-1..3`, `sh-port` ... (only those valid for the
    /// scheduler are kept, as keepalived keeps them).
    pub flags: ipvs::ServiceFlags,
    /// `hashed` (accepted, ignored by the kernel).
    pub hashed: bool,
    /// `lvs_method` / `lb_kind` with tunnel options; `NAT` when not given.
    pub forward: ForwardMethod,
    /// `persistence_timeout` (360 s when written without a value) and
    /// `persistence_granularity`.
    pub persistence: Option<ipvs::Persistence>,
    /// `persistence_engine`.
    pub persistence_engine: Option<String>,
    /// `delay_loop`, 60 s by default.
    pub delay_loop: Duration,
    /// `connect_timeout`, 5 s by default.
    pub connect_timeout: Duration,
    /// `retry` (inherited by checkers that set none).
    pub retry: Option<u32>,
    /// `delay_before_retry` (inherited by checkers).
    pub delay_before_retry: Option<Duration>,
    /// `warmup` (inherited by checkers).
    pub warmup: Option<Duration>,
    /// `ha_suspend`.
    pub ha_suspend: bool,
    /// `alpha`.
    pub alpha: bool,
    /// `omega`.
    pub omega: bool,
    /// `inhibit_on_failure` (inherited by real servers).
    pub inhibit_on_failure: bool,
    /// `quorum`, 1 by default (reduced to the real servers' total weight).
    pub quorum: u32,
    /// `hysteresis`, 0 by default (kept below the quorum).
    pub hysteresis: u32,
    /// `quorum_up` script.
    pub quorum_up: Option<Script>,
    /// `quorum_down` script.
    pub quorum_down: Option<Script>,
    /// `virtualhost` (default `Host:` for HTTP checkers).
    pub virtualhost: Option<String>,
    /// `smtp_alert` (else `smtp_alert_checker`, else `smtp_alert`, else off).
    pub smtp_alert: bool,
    /// `weight`: the weight of real servers that set none, 1 by default.
    pub weight: u32,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `real_server` blocks keepalived keeps (duplicates and servers of the
    /// wrong family are dropped, as keepalived drops them).
    pub real_servers: Vec<RealServer>,
    /// Other keywords keepalived accepts, kept as written.
    pub extra: Vec<RawDirective>,
    /// Where it is defined.
    pub span: Span,
}

impl VirtualServer {
    /// The IPVS services this virtual server configures: one for an address
    /// or a mark, one per address, port and mark for a group (ranges
    /// expanded, as keepalived adds each address of a range).
    pub fn services(&self, config: &Config) -> Vec<ipvs::ServiceConfig> {
        let mut keys: Vec<ipvs::ServiceKey> = Vec::new();
        match &self.key {
            VirtualServerKey::Addr(sa) => keys.push(ipvs::ServiceKey::addr(self.protocol, sa.ip(), sa.port())),
            VirtualServerKey::Fwmark(m) => keys.push(ipvs::ServiceKey::fwmark(self.family, *m)),
            VirtualServerKey::Group(g) => {
                if let Some(group) = config.virtual_server_group(g) {
                    for e in &group.entries {
                        match *e {
                            GroupEntry::Fwmark { mark, family } => {
                                keys.push(ipvs::ServiceKey::fwmark(family.unwrap_or(self.family), mark))
                            }
                            GroupEntry::Range { first, last, port } => {
                                for a in addr_range(first, last) {
                                    keys.push(ipvs::ServiceKey::addr(self.protocol, a, port));
                                }
                            }
                        }
                    }
                }
            }
        }
        keys.into_iter()
            .map(|key| ipvs::ServiceConfig {
                key,
                scheduler: self.scheduler.clone(),
                flags: self.flags,
                persistence: self.persistence.map(|p| ipvs::Persistence {
                    timeout: p.timeout,
                    mask: if p.mask.family() == key.family() { p.mask } else { ipvs::PersistMask::host(key.family()) },
                }),
                pe_name: self.persistence_engine.clone(),
            })
            .collect()
    }
}

/// The addresses `first..=last` (at most 65536 of them).
pub(crate) fn addr_range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            (a..=b.max(a)).take(65536).map(|x| IpAddr::V4(x.into())).collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            (a..=b.max(a)).take(65536).map(|x| IpAddr::V6(x.into())).collect()
        }
        _ => vec![first],
    }
}

/// `real_server`. Unset timing values are inherited from the virtual server
/// (`validate_check_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    /// The server as an IPVS destination: address, port (the virtual
    /// server's for DR and tunnel), forwarding method (its own `lvs_method`,
    /// else the virtual server's), `weight` (else the virtual server's
    /// `weight`), `uthreshold`/`lthreshold`.
    pub dest: ipvs::DestConfig,
    /// `inhibit_on_failure`: on failure set weight 0 instead of removing it.
    pub inhibit_on_failure: bool,
    /// `notify_up` script (boxed: few servers have one).
    pub notify_up: Option<Box<Script>>,
    /// `notify_down` script (boxed: few servers have one).
    pub notify_down: Option<Box<Script>>,
    /// `alpha`.
    pub alpha: bool,
    /// `retry`, if given here or on the virtual server.
    pub retry: Option<u32>,
    /// `delay_loop` (else the virtual server's).
    pub delay_loop: Duration,
    /// `connect_timeout` (else the virtual server's).
    pub connect_timeout: Duration,
    /// `delay_before_retry`, if given here or on the virtual server.
    pub delay_before_retry: Option<Duration>,
    /// `warmup`, if given here or on the virtual server.
    pub warmup: Option<Duration>,
    /// `smtp_alert` (else `smtp_alert_checker`, else `smtp_alert`, else on).
    pub smtp_alert: bool,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// Health checkers.
    pub checkers: Vec<Checker>,
    /// Other keywords keepalived accepts, kept as written.
    pub extra: Vec<RawDirective>,
    /// Where it is defined.
    pub span: Span,
}

/// Where and how a checker connects (`connect_ip`, `connect_port`,
/// `bindto`, `bind_port`, `bind_if`, `connect_timeout`, `fwmark`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Destination: the real server unless `connect_ip`/`connect_port`.
    pub dest: SocketAddr,
    /// `bindto` and `bind_port`.
    pub bind: Option<SocketAddr>,
    /// `bind_if`.
    pub bind_if: Option<String>,
    /// `connect_timeout` (else the real server's).
    pub timeout: Duration,
    /// `fwmark` (SO_MARK).
    pub fwmark: Option<u32>,
}

/// One `url` of an HTTP or SSL check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `path`.
    pub path: String,
    /// `digest`: MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// `status_code` values accepted; 200..=299 when none is given.
    pub status_codes: Vec<std::ops::RangeInclusive<u16>>,
    /// `virtualhost` for this URL.
    pub virtualhost: Option<String>,
    /// `regex` (with `regex_no_match`).
    pub regex: Option<(String, bool)>,
    /// Where it is.
    pub span: Span,
}

/// `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// URLs with a path (keepalived drops the others).
    pub urls: Vec<Url>,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// `http_protocol` (`1.0`, `1.1`, `1.0C`), 1.0 by default.
    pub http_protocol: String,
    /// `enable_sni`.
    pub enable_sni: bool,
    /// `fast_recovery`.
    pub fast_recovery: bool,
}

/// `MISC_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path`.
    pub path: Script,
    /// `misc_timeout` (the delay loop when not given).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit status 2..=255 sets weight status-2.
    pub dynamic: bool,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
}

/// One `host` of an `SMTP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpHost {
    /// Where it connects.
    pub conn: ConnectOptions,
}

/// `SMTP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`, `smtpchecker.keepalived.org` by default.
    pub helo_name: String,
    /// Additional `host` blocks.
    pub hosts: Vec<SmtpHost>,
}

/// `DNS_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type` (`SOA` by default).
    pub qtype: String,
    /// `name` (`.` by default).
    pub name: String,
}

/// `UDP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UdpCheck {
    /// `payload` bytes.
    pub payload: Option<Vec<u8>>,
    /// `require_reply [HEX]`.
    pub require_reply: Option<Vec<u8>>,
    /// `min_reply_length`.
    pub min_reply_length: u32,
    /// `max_reply_length`.
    pub max_reply_length: u32,
}

/// `FILE_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// `track_file NAME`.
    pub track_file: String,
    /// `weight W [reverse]`.
    pub weight: i32,
    /// `reverse`.
    pub reverse: bool,
}

/// What a checker probes. The settings of the checkers other than TCP,
/// PING and BFD are boxed: a configuration holds tens of thousands of
/// checkers, mostly `TCP_CHECK`s, and the enum stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerKind {
    /// `TCP_CHECK`: a TCP connect.
    Tcp,
    /// `HTTP_GET`.
    Http(Box<HttpCheck>),
    /// `SSL_GET`.
    Ssl(Box<HttpCheck>),
    /// `MISC_CHECK`: a script's exit status.
    Misc(Box<MiscCheck>),
    /// `SMTP_CHECK`.
    Smtp(Box<SmtpCheck>),
    /// `DNS_CHECK`.
    Dns(Box<DnsCheck>),
    /// `UDP_CHECK`.
    Udp(Box<UdpCheck>),
    /// `PING_CHECK`: ICMP echo.
    Ping,
    /// `FILE_CHECK`: a `track_file`'s value.
    File(Box<FileCheck>),
    /// `BFD_CHECK`: a BFD session's state.
    Bfd {
        /// `name` of the BFD instance.
        name: String,
    },
}

impl CheckerKind {
    /// keepalived's keyword for it.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Ssl(_) => "SSL_GET",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
            CheckerKind::Bfd { .. } => "BFD_CHECK",
        }
    }
}

/// A health checker of a real server, with its effective timing (its own
/// setting, else the real server's, else the virtual server's, else the
/// checker type's default: `validate_check_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checker {
    /// What it probes.
    pub kind: CheckerKind,
    /// Connection options (none for MISC, FILE and BFD checks).
    pub conn: Option<ConnectOptions>,
    /// `retry` (`nb_get_retry` is its deprecated name): failures tolerated
    /// before the server is marked down. Default 1 (3 for DNS, 0 for MISC).
    pub retry: u32,
    /// `delay_before_retry`: default 1 s (3 s for HTTP/SSL, the delay loop
    /// for DNS).
    pub delay_before_retry: Duration,
    /// `delay_loop`: the interval between checks.
    pub delay_loop: Duration,
    /// `warmup`: the largest random delay before the first check (the delay
    /// loop by default).
    pub warmup: Duration,
    /// `alpha`: start in the failed state.
    pub alpha: bool,
    /// `log_all_failures`.
    pub log_all_failures: bool,
    /// Where it is defined.
    pub span: Span,
}

/// The `SSL` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SslContext {
    /// `password`.
    pub password: Option<String>,
    /// `ca`.
    pub ca: Option<String>,
    /// `certificate`.
    pub certificate: Option<String>,
    /// `key`.
    pub key: Option<String>,
}

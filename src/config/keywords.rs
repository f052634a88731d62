//! The keywords keepalived 2.2.7 accepts in each block, as Debian's build
//! (`keepalived -v`: LVS VRRP VRRP_AUTH VRRP_VMAC BFD REGEX JSON NFTABLES
//! SNMP DBUS, with linkbeat) installs them.
//!
//! The lists were established by running the real `keepalived -t` on one
//! file per keyword and block and keeping those it did not report as
//! "Unknown keyword" (the keyword names themselves come from the
//! `install_keyword*` calls in keepalived's sources). A keyword outside its
//! block's list is unknown to keepalived; a keyword in it that lvskit does
//! not interpret is kept as a [`RawDirective`](super::model::RawDirective).

/// The blocks keywords are looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// `root` (the top level)
    Root,
    /// `global_defs` block
    GlobalDefs,
    /// `vrrp_instance` block
    VrrpInstance,
    /// `authentication` block
    Authentication,
    /// `vrrp_sync_group` block
    VrrpSyncGroup,
    /// `vrrp_script` block
    VrrpScript,
    /// `vrrp_track_process` block
    VrrpTrackProcess,
    /// `track_file` block
    TrackFile,
    /// `garp_group` block
    GarpGroup,
    /// `track_group` block
    TrackGroup,
    /// `bfd_instance` block
    BfdInstance,
    /// `virtual_server` block
    VirtualServer,
    /// `real_server` block
    RealServer,
    /// `SSL` block
    Ssl,
    /// `TCP_CHECK` block
    TcpCheck,
    /// `HTTP_GET` block
    HttpGet,
    /// `SSL_GET` block
    SslGet,
    /// `MISC_CHECK` block
    MiscCheck,
    /// `SMTP_CHECK` block
    SmtpCheck,
    /// `DNS_CHECK` block
    DnsCheck,
    /// `UDP_CHECK` block
    UdpCheck,
    /// `PING_CHECK` block
    PingCheck,
    /// `FILE_CHECK` block
    FileCheck,
    /// `BFD_CHECK` block
    BfdCheck,
    /// `url` block
    Url,
}

impl Context {
    /// The keywords keepalived accepts in this block, sorted.
    pub fn keywords(self) -> &'static [&'static str] {
        match self {
            Context::Root => &[
                "SSL",
                "bfd_instance",
                "child_wait_time",
                "garp_group",
                "global_defs",
                "instance",
                "interface_up_down_delays",
                "linkbeat_interfaces",
                "linkbeat_use_polling",
                "namespace_with_ipsets",
                "net_namespace",
                "net_namespace_ipvs",
                "static_ipaddress",
                "static_routes",
                "static_rules",
                "track_file",
                "track_group",
                "use_pid_dir",
                "virtual_server",
                "virtual_server_group",
                "vrrp_instance",
                "vrrp_script",
                "vrrp_sync_group",
                "vrrp_track_file",
                "vrrp_track_process",
            ],
            Context::GlobalDefs => &[
                "bfd_cpu_affinity",
                "bfd_no_swap",
                "bfd_priority",
                "bfd_process_name",
                "bfd_rlimit_rtime",
                "bfd_rlimit_rttime",
                "bfd_rt_priority",
                "checker_cpu_affinity",
                "checker_log_all_failures",
                "checker_no_swap",
                "checker_priority",
                "checker_process_name",
                "checker_rlimit_rtime",
                "checker_rlimit_rttime",
                "checker_rt_priority",
                "config_save_dir",
                "data_use_instance",
                "dbus_service_name",
                "default_interface",
                "disable_local_igmp",
                "dynamic_interfaces",
                "enable_dbus",
                "enable_script_security",
                "enable_snmp_checker",
                "enable_snmp_keepalived",
                "enable_snmp_rfc",
                "enable_snmp_rfcv2",
                "enable_snmp_rfcv3",
                "enable_snmp_vrrp",
                "enable_traps",
                "fifo_write_vrrp_states_on_reload",
                "include_check",
                "log_unknown_vrids",
                "lvs_flush",
                "lvs_flush_on_stop",
                "lvs_flush_onstop",
                "lvs_netlink_cmd_rcv_bufs",
                "lvs_netlink_cmd_rcv_bufs_force",
                "lvs_netlink_monitor_rcv_bufs",
                "lvs_netlink_monitor_rcv_bufs_force",
                "lvs_notify_fifo",
                "lvs_notify_fifo_script",
                "lvs_process_name",
                "lvs_sync_daemon",
                "lvs_timeouts",
                "max_auto_priority",
                "min_auto_priority_delay",
                "nftables",
                "nftables_counters",
                "nftables_ifindex",
                "nftables_ipvs",
                "nftables_ipvs_priority",
                "nftables_ipvs_start_fwmark",
                "nftables_priority",
                "no_checker_emails",
                "no_email_faults",
                "notification_email",
                "notification_email_from",
                "notify_fifo",
                "notify_fifo_script",
                "process_monitor_rcv_bufs",
                "process_monitor_rcv_bufs_force",
                "process_name",
                "process_names",
                "random_seed",
                "reload_check_config",
                "reload_file",
                "reload_repeat",
                "reload_time_file",
                "router_id",
                "rs_init_notifies",
                "script_user",
                "shutdown_script",
                "shutdown_script_timeout",
                "smtp_alert",
                "smtp_alert_checker",
                "smtp_alert_vrrp",
                "smtp_connect_timeout",
                "smtp_helo_name",
                "smtp_server",
                "snmp_socket",
                "startup_script",
                "startup_script_timeout",
                "tmp_config_directory",
                "umask",
                "vmac_addr_prefix",
                "vmac_prefix",
                "vrrp_check_unicast_src",
                "vrrp_cpu_affinity",
                "vrrp_down_timer_adverts",
                "vrrp_garp_extra_if",
                "vrrp_garp_interval",
                "vrrp_garp_lower_prio_delay",
                "vrrp_garp_lower_prio_repeat",
                "vrrp_garp_master_delay",
                "vrrp_garp_master_refresh",
                "vrrp_garp_master_refresh_repeat",
                "vrrp_garp_master_repeat",
                "vrrp_gna_interval",
                "vrrp_higher_prio_send_advert",
                "vrrp_iptables",
                "vrrp_lower_prio_no_advert",
                "vrrp_mcast_group4",
                "vrrp_mcast_group6",
                "vrrp_min_garp",
                "vrrp_netlink_cmd_rcv_bufs",
                "vrrp_netlink_cmd_rcv_bufs_force",
                "vrrp_netlink_monitor_rcv_bufs",
                "vrrp_netlink_monitor_rcv_bufs_force",
                "vrrp_no_swap",
                "vrrp_notify_fifo",
                "vrrp_notify_fifo_script",
                "vrrp_notify_priority_changes",
                "vrrp_priority",
                "vrrp_process_name",
                "vrrp_rlimit_rtime",
                "vrrp_rlimit_rttime",
                "vrrp_rt_priority",
                "vrrp_rx_bufs_multiplier",
                "vrrp_rx_bufs_policy",
                "vrrp_skip_check_adv_addr",
                "vrrp_startup_delay",
                "vrrp_strict",
                "vrrp_version",
                "vrrp_vmac_garp_intvl",
            ],
            Context::VrrpInstance => &[
                "accept",
                "advert_int",
                "authentication",
                "check_unicast_src",
                "debug",
                "dont_track_primary",
                "down_timer_adverts",
                "garp_extra_if",
                "garp_lower_prio_delay",
                "garp_lower_prio_repeat",
                "garp_master_delay",
                "garp_master_refresh",
                "garp_master_refresh_repeat",
                "garp_master_repeat",
                "higher_prio_send_advert",
                "interface",
                "kernel_rx_buf_size",
                "linkbeat_use_polling",
                "lower_prio_no_advert",
                "lvs_sync_daemon_interface",
                "mcast_dst_ip",
                "mcast_src_ip",
                "native_ipv6",
                "no_accept",
                "nopreempt",
                "notify",
                "notify_backup",
                "notify_deleted",
                "notify_fault",
                "notify_master",
                "notify_master_rx_lower_pri",
                "notify_priority_changes",
                "notify_stop",
                "old_unicast_checksum",
                "preempt",
                "preempt_delay",
                "priority",
                "promote_secondaries",
                "skip_check_adv_addr",
                "smtp_alert",
                "state",
                "strict_mode",
                "track_bfd",
                "track_file",
                "track_interface",
                "track_process",
                "track_script",
                "track_src_ip",
                "unicast_fault_no_peer",
                "unicast_peer",
                "unicast_src_ip",
                "unicast_ttl",
                "use_ipvlan",
                "use_vmac",
                "use_vmac_addr",
                "version",
                "virtual_ipaddress",
                "virtual_ipaddress_excluded",
                "virtual_router_id",
                "virtual_routes",
                "virtual_rules",
                "vmac_garp_intvl",
                "vmac_xmit_base",
                "vrf",
            ],
            Context::Authentication => &["auth_pass", "auth_type"],
            Context::VrrpSyncGroup => &[
                "global_tracking",
                "group",
                "notify",
                "notify_backup",
                "notify_fault",
                "notify_master",
                "notify_priority_changes",
                "notify_stop",
                "smtp_alert",
                "sync_group_tracking_weight",
                "track_bfd",
                "track_file",
                "track_interface",
                "track_process",
                "track_script",
            ],
            Context::VrrpScript => &["fall", "init_fail", "interval", "rise", "script", "timeout", "user", "weight"],
            Context::VrrpTrackProcess => &[
                "delay",
                "fork_delay",
                "full_command",
                "param_match",
                "process",
                "quorum",
                "quorum_max",
                "terminate_delay",
                "weight",
            ],
            Context::TrackFile => &["file", "init_file", "weight"],
            Context::GarpGroup => &["garp_interval", "gna_interval", "interface", "interfaces"],
            Context::TrackGroup => &["group"],
            Context::BfdInstance => &[
                "checker",
                "hoplimit",
                "idle_tx",
                "max_hops",
                "min_rx",
                "min_tx",
                "multiplier",
                "neighbor_ip",
                "neighbour_ip",
                "passive",
                "source_ip",
                "ttl",
                "vrrp",
                "weight",
            ],
            Context::VirtualServer => &[
                "alpha",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "flag-1",
                "flag-2",
                "flag-3",
                "ha_suspend",
                "hashed",
                "hysteresis",
                "inhibit_on_failure",
                "ip_family",
                "lb_algo",
                "lb_kind",
                "lvs_method",
                "lvs_sched",
                "mh-fallback",
                "mh-port",
                "omega",
                "ops",
                "persistence_engine",
                "persistence_granularity",
                "persistence_timeout",
                "protocol",
                "quorum",
                "quorum_down",
                "quorum_up",
                "real_server",
                "retry",
                "sh-fallback",
                "sh-port",
                "smtp_alert",
                "snmp_name",
                "sorry_server",
                "sorry_server_inhibit",
                "sorry_server_lvs_method",
                "virtualhost",
                "warmup",
                "weight",
            ],
            Context::RealServer => &[
                "BFD_CHECK",
                "DNS_CHECK",
                "FILE_CHECK",
                "HTTP_GET",
                "MISC_CHECK",
                "PING_CHECK",
                "SMTP_CHECK",
                "SSL_GET",
                "TCP_CHECK",
                "UDP_CHECK",
                "alpha",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "inhibit_on_failure",
                "lthreshold",
                "lvs_method",
                "notify_down",
                "notify_up",
                "retry",
                "smtp_alert",
                "snmp_name",
                "uthreshold",
                "virtualhost",
                "warmup",
                "weight",
            ],
            Context::Ssl => &["ca", "certificate", "key", "password"],
            Context::TcpCheck => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "fwmark",
                "log_all_failures",
                "retry",
                "warmup",
            ],
            Context::HttpGet => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "enable_sni",
                "fast_recovery",
                "fwmark",
                "http_protocol",
                "log_all_failures",
                "nb_get_retry",
                "retry",
                "url",
                "virtualhost",
                "warmup",
            ],
            Context::SslGet => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "enable_sni",
                "fast_recovery",
                "fwmark",
                "http_protocol",
                "log_all_failures",
                "nb_get_retry",
                "retry",
                "url",
                "virtualhost",
                "warmup",
            ],
            Context::MiscCheck => &[
                "alpha",
                "delay_before_retry",
                "delay_loop",
                "log_all_failures",
                "misc_dynamic",
                "misc_path",
                "misc_timeout",
                "retry",
                "user",
                "warmup",
            ],
            Context::SmtpCheck => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "fwmark",
                "helo_name",
                "host",
                "log_all_failures",
                "retry",
                "warmup",
            ],
            Context::DnsCheck => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "fwmark",
                "log_all_failures",
                "name",
                "retry",
                "type",
                "warmup",
            ],
            Context::UdpCheck => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "fwmark",
                "log_all_failures",
                "max_reply_length",
                "min_reply_length",
                "payload",
                "require_reply",
                "retry",
                "warmup",
            ],
            Context::PingCheck => &[
                "alpha",
                "bind_if",
                "bind_port",
                "bindto",
                "connect_ip",
                "connect_port",
                "connect_timeout",
                "delay_before_retry",
                "delay_loop",
                "fwmark",
                "log_all_failures",
                "retry",
                "warmup",
            ],
            Context::FileCheck => &["track_file", "weight"],
            Context::BfdCheck => &["alpha", "name"],
            Context::Url => &[
                "digest",
                "path",
                "regex",
                "regex_max_offset",
                "regex_min_offset",
                "regex_no_match",
                "regex_options",
                "regex_stack",
                "status_code",
                "virtualhost",
            ],
        }
    }

    /// Whether keepalived accepts `keyword` in this block.
    pub fn accepts(self, keyword: &str) -> bool {
        self.keywords().binary_search(&keyword).is_ok()
    }

    /// The block's name as written in a configuration.
    pub fn name(self) -> &'static str {
        match self {
            Context::Root => "top level",
            Context::GlobalDefs => "global_defs",
            Context::VrrpInstance => "vrrp_instance",
            Context::Authentication => "authentication",
            Context::VrrpSyncGroup => "vrrp_sync_group",
            Context::VrrpScript => "vrrp_script",
            Context::VrrpTrackProcess => "vrrp_track_process",
            Context::TrackFile => "track_file",
            Context::GarpGroup => "garp_group",
            Context::TrackGroup => "track_group",
            Context::BfdInstance => "bfd_instance",
            Context::VirtualServer => "virtual_server",
            Context::RealServer => "real_server",
            Context::Ssl => "SSL",
            Context::TcpCheck => "TCP_CHECK",
            Context::HttpGet => "HTTP_GET",
            Context::SslGet => "SSL_GET",
            Context::MiscCheck => "MISC_CHECK",
            Context::SmtpCheck => "SMTP_CHECK",
            Context::DnsCheck => "DNS_CHECK",
            Context::UdpCheck => "UDP_CHECK",
            Context::PingCheck => "PING_CHECK",
            Context::FileCheck => "FILE_CHECK",
            Context::BfdCheck => "BFD_CHECK",
            Context::Url => "url",
        }
    }
}

/// How many words after the keyword keepalived's handler reads, for the
/// keywords whose handlers ignore anything further (so that lvskit can
/// point out words keepalived silently drops, like prose after a value).
/// `None` for keywords that take lists, blocks or a free number of words.
pub fn max_args(ctx: Context, keyword: &str) -> Option<usize> {
    arg_lists(ctx).listed_max(keyword, [true; 3])
}

/// The largest argument count of `keyword` if `nargs` is more than that
/// ([`max_args`], looking only at the lists that can matter). Runs for every
/// directive read: most are turned away by the lengths and the first and
/// last bytes of the listed keywords ([`ArgLists`]' masks) before any is
/// compared.
#[inline(always)]
pub(crate) fn excess_args(ctx: Context, keyword: &str, nargs: usize) -> Option<usize> {
    let b = keyword.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else { return None };
    if nargs == 0 || b.len() >= 64 {
        return None;
    }
    let lists = arg_lists(ctx);
    let may = |m: &[u64; 3]| m[0] >> b.len() & m[1] >> (first & 63) & m[2] >> (last & 63) & 1 == 1;
    let may = [may(&lists.masks[0]), nargs >= 2 && may(&lists.masks[1]), nargs >= 3 && may(&lists.masks[2])];
    if may == [false; 3] {
        return None;
    }
    lists.listed_max(keyword, may)
}

/// A filter of the keywords of `list`: bit `n` of the first word set when
/// one is `n` bytes long, of the second when one starts with a byte whose
/// low six bits are `n`, of the third when one ends with one. A keyword
/// missing from any of the three is not in the list (keywords are shorter
/// than 64 bytes and not empty).
const fn list_masks(list: &[&str]) -> [u64; 3] {
    let mut m = [0u64; 3];
    let mut i = 0;
    while i < list.len() {
        let b = list[i].as_bytes();
        m[0] |= 1 << b.len();
        m[1] |= 1 << (b[0] & 63);
        m[2] |= 1 << (b[b.len() - 1] & 63);
        i += 1;
    }
    m
}

/// A context's argument lists (keywords taking no, one and two arguments)
/// and the [`list_masks`] of each.
struct ArgLists {
    lists: [&'static [&'static str]; 3],
    masks: [[u64; 3]; 3],
}

impl ArgLists {
    const fn new(zero: &'static [&'static str], one: &'static [&'static str], two: &'static [&'static str]) -> Self {
        ArgLists { lists: [zero, one, two], masks: [list_masks(zero), list_masks(one), list_masks(two)] }
    }

    /// The first list `may` allows that holds `keyword`, as its argument
    /// count.
    fn listed_max(&self, keyword: &str, may: [bool; 3]) -> Option<usize> {
        self.lists.iter().zip(may).position(|(list, may)| may && list.contains(&keyword))
    }
}

/// The keywords of `ctx` that take no, one and two arguments, with their
/// filters.
fn arg_lists(ctx: Context) -> &'static ArgLists {
    use Context as C;
    /// A context's lists, built once at compile time.
    macro_rules! lists {
        ($zero:expr, $one:expr, $two:expr $(,)?) => {{
            const L: ArgLists = ArgLists::new($zero, $one, $two);
            &L
        }};
    }
    match ctx {
        C::GlobalDefs => lists!(
            &["no_email_faults", "enable_script_security", "lvs_flush", "vrrp_check_unicast_src", "vrrp_strict"],
            &[
                "router_id",
                "notification_email_from",
                "smtp_helo_name",
                "smtp_connect_timeout",
                "smtp_alert",
                "smtp_alert_vrrp",
                "smtp_alert_checker",
                "checker_log_all_failures",
                "default_interface",
                "dynamic_interfaces",
                "lvs_flush_on_stop",
                "lvs_flush_onstop",
                "vrrp_mcast_group4",
                "vrrp_mcast_group6",
                "vrrp_garp_master_delay",
                "vrrp_garp_master_repeat",
                "vrrp_garp_master_refresh",
                "vrrp_garp_master_refresh_repeat",
                "vrrp_garp_lower_prio_delay",
                "vrrp_garp_lower_prio_repeat",
                "vrrp_down_timer_adverts",
                "vrrp_garp_interval",
                "vrrp_gna_interval",
                "vrrp_min_garp",
                "vrrp_lower_prio_no_advert",
                "vrrp_higher_prio_send_advert",
                "vrrp_version",
                "vrrp_skip_check_adv_addr",
                "vrrp_notify_priority_changes",
                "vrrp_startup_delay",
            ],
            &["smtp_server", "script_user"],
        ),
        C::VrrpInstance => lists!(
            &[
                "nopreempt",
                "preempt",
                "dont_track_primary",
                "promote_secondaries",
                "accept",
                "no_accept",
                "native_ipv6",
                "vmac_xmit_base",
                "check_unicast_src",
                "unicast_fault_no_peer",
            ],
            &[
                "state",
                "interface",
                "virtual_router_id",
                "priority",
                "advert_int",
                "version",
                "mcast_src_ip",
                "unicast_src_ip",
                "mcast_dst_ip",
                "unicast_ttl",
                "preempt_delay",
                "debug",
                "smtp_alert",
                "strict_mode",
                "skip_check_adv_addr",
                "garp_master_delay",
                "garp_master_refresh",
                "garp_master_repeat",
                "garp_master_refresh_repeat",
                "garp_lower_prio_delay",
                "garp_lower_prio_repeat",
                "down_timer_adverts",
                "lower_prio_no_advert",
                "higher_prio_send_advert",
                "notify_priority_changes",
                "lvs_sync_daemon_interface",
            ],
            &[],
        ),
        C::Authentication => lists!(&[], &["auth_type", "auth_pass"], &[]),
        C::VrrpScript => lists!(&["init_fail"], &["interval", "timeout", "rise", "fall"], &["weight", "user"]),
        C::VirtualServer => lists!(
            &[
                "inhibit_on_failure",
                "hashed",
                "ops",
                "flag-1",
                "flag-2",
                "flag-3",
                "sh-port",
                "sh-fallback",
                "mh-port",
                "mh-fallback",
                "ha_suspend",
                "alpha",
                "omega",
                "sorry_server_inhibit",
            ],
            &[
                "ip_family",
                "retry",
                "delay_before_retry",
                "warmup",
                "connect_timeout",
                "delay_loop",
                "lb_algo",
                "lvs_sched",
                "persistence_engine",
                "persistence_timeout",
                "persistence_granularity",
                "protocol",
                "smtp_alert",
                "virtualhost",
                "quorum",
                "hysteresis",
                "weight",
            ],
            &["sorry_server"],
        ),
        C::RealServer => lists!(
            &[],
            &[
                "weight",
                "uthreshold",
                "lthreshold",
                "inhibit_on_failure",
                "alpha",
                "retry",
                "delay_before_retry",
                "warmup",
                "connect_timeout",
                "delay_loop",
                "smtp_alert",
                "virtualhost",
            ],
            &[],
        ),
        C::TcpCheck
        | C::HttpGet
        | C::SslGet
        | C::MiscCheck
        | C::SmtpCheck
        | C::DnsCheck
        | C::UdpCheck
        | C::PingCheck => lists!(
            &["misc_dynamic"],
            &[
                "connect_ip",
                "connect_port",
                "bindto",
                "bind_port",
                "bind_if",
                "connect_timeout",
                "fwmark",
                "retry",
                "nb_get_retry",
                "delay_before_retry",
                "warmup",
                "delay_loop",
                "alpha",
                "log_all_failures",
                "virtualhost",
                "http_protocol",
                "enable_sni",
                "fast_recovery",
                "misc_timeout",
                "helo_name",
                "type",
                "name",
                "min_reply_length",
                "max_reply_length",
            ],
            &["user"],
        ),
        C::FileCheck => lists!(&[], &["track_file"], &["weight"]),
        C::Url => lists!(&["regex_no_match"], &["path", "digest", "virtualhost"], &[]),
        _ => lists!(&[], &[], &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every context (the match below stops compiling when one is added
    /// without being listed here).
    fn all_contexts() -> [Context; 25] {
        use Context as C;
        let all = [
            C::Root,
            C::GlobalDefs,
            C::VrrpInstance,
            C::Authentication,
            C::VrrpSyncGroup,
            C::VrrpScript,
            C::VrrpTrackProcess,
            C::TrackFile,
            C::GarpGroup,
            C::TrackGroup,
            C::BfdInstance,
            C::VirtualServer,
            C::RealServer,
            C::Ssl,
            C::TcpCheck,
            C::HttpGet,
            C::SslGet,
            C::MiscCheck,
            C::SmtpCheck,
            C::DnsCheck,
            C::UdpCheck,
            C::PingCheck,
            C::FileCheck,
            C::BfdCheck,
            C::Url,
        ];
        for c in all {
            match c {
                C::Root
                | C::GlobalDefs
                | C::VrrpInstance
                | C::Authentication
                | C::VrrpSyncGroup
                | C::VrrpScript
                | C::VrrpTrackProcess
                | C::TrackFile
                | C::GarpGroup
                | C::TrackGroup
                | C::BfdInstance
                | C::VirtualServer
                | C::RealServer
                | C::Ssl
                | C::TcpCheck
                | C::HttpGet
                | C::SslGet
                | C::MiscCheck
                | C::SmtpCheck
                | C::DnsCheck
                | C::UdpCheck
                | C::PingCheck
                | C::FileCheck
                | C::BfdCheck
                | C::Url => {}
            }
        }
        all
    }

    /// The length masks only skip work: `excess_args` agrees with
    /// `max_args` for every keyword of every context (and for words that
    /// share a listed keyword's length without being it).
    #[test]
    fn excess_args_agrees_with_max_args() {
        let probes = ["weight", "connect_port", "misc_dynamic", "nb_get_retry", "x", "", "no_such_keyword_xy"];
        for ctx in all_contexts() {
            let lists = arg_lists(ctx).lists;
            let words = ctx.keywords().iter().chain(lists.into_iter().flatten()).chain(probes.iter());
            for kw in words {
                for nargs in 0..5 {
                    let want = max_args(ctx, kw).filter(|&m| nargs > m);
                    assert_eq!(excess_args(ctx, kw, nargs), want, "{ctx:?} {kw} {nargs}");
                }
            }
        }
    }
}

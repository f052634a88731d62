//! The seed's two-director configuration (issue 5) parses to the expected
//! model, and its annotated variant loads with exactly the warnings it
//! deserves, each with file:line:col.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use lvskit::config::{
    Authentication, CheckerKind, ConfigErr, HostInfo, KeepalivedVerdict, LoadOptions, Severity, VirtualServerKey,
    VrrpState, load_str,
};
use lvskit::ipvs::{DestConfig, ForwardMethod, Protocol, ServiceFlags, ServiceKey};

fn read(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/verdicts").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn opts() -> LoadOptions {
    LoadOptions { host: HostInfo { interfaces: Some(vec!["lo".into(), "eth0".into()]) }, ..LoadOptions::default() }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn seed_parses_to_the_expected_model() {
    let loaded = load_str("keepalived.conf", &read("seed.conf"), &opts());
    // keepalived reports nb_get_retry in TCP_CHECK as unknown (twice) and
    // nothing else.
    let msgs: Vec<&str> = loaded.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs, ["unknown keyword `nb_get_retry` in TCP_CHECK"; 2]);
    assert_eq!(loaded.keepalived_verdict(), KeepalivedVerdict::Exit(5));
    let c = &loaded.config;

    let g = &c.global;
    assert_eq!(g.router_id.as_deref(), Some("LVS_MASTER"));
    assert_eq!(g.notification_email, ["ops@example.com"]);
    assert_eq!(g.notification_email_from.as_deref(), Some("root@example.com"));
    let smtp = g.smtp_server.as_ref().expect("smtp_server");
    assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 25));
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(30));

    assert_eq!(c.vrrp_instances.len(), 1);
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.name, "VI_1");
    assert_eq!(vi.state, VrrpState::Master);
    assert_eq!(vi.interface.as_deref(), Some("eth0"));
    assert_eq!((vi.virtual_router_id, vi.priority, vi.version), (51, 100, 2));
    assert_eq!(vi.advert_int, Duration::from_secs(1));
    assert_eq!(vi.authentication, Some(Authentication::Pass(b"1111".to_vec())));
    assert_eq!(vi.virtual_ipaddress.len(), 1);
    assert_eq!((vi.virtual_ipaddress[0].addr, vi.virtual_ipaddress[0].prefix_len), (ip(192, 168, 200, 254), 32));
    assert_eq!(vi.mcast_dst_ip, Some(ip(224, 0, 0, 18)));
    assert!(!vi.nopreempt && vi.accept && !vi.strict_mode);

    assert_eq!(c.virtual_servers.len(), 1);
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.key, VirtualServerKey::Addr(SocketAddr::new(ip(192, 168, 200, 254), 80)));
    assert_eq!((vs.protocol, vs.scheduler.as_str(), vs.forward), (Protocol::Tcp, "rr", ForwardMethod::Route));
    assert_eq!(vs.delay_loop, Duration::from_secs(6));
    assert_eq!(vs.quorum, 1);
    assert!(vs.persistence.is_none());
    for (rs, last) in vs.real_servers.iter().zip([103, 104]) {
        assert_eq!(rs.dest, DestConfig::route(ip(192, 168, 200, last), 80).weight(1));
        assert_eq!(rs.checkers.len(), 1);
        let ch = &rs.checkers[0];
        assert_eq!(ch.kind, CheckerKind::Tcp);
        let conn = ch.conn.as_ref().expect("TCP_CHECK connects");
        assert_eq!(conn.dest, SocketAddr::new(ip(192, 168, 200, last), 80));
        assert_eq!(conn.timeout, Duration::from_secs(10));
        // nb_get_retry is read as retry (keepalived would ignore it and use 1).
        assert_eq!(ch.retry, 3);
        assert_eq!(ch.delay_before_retry, Duration::from_secs(3));
        assert_eq!((ch.delay_loop, ch.warmup), (Duration::from_secs(6), Duration::from_secs(6)));
    }

    // The shared LVS model.
    let services = c.ipvs_services();
    assert_eq!(services.len(), 1);
    let (svc, dests) = &services[0];
    assert_eq!(svc.key, ServiceKey::addr(Protocol::Tcp, ip(192, 168, 200, 254), 80));
    assert_eq!(
        (svc.scheduler.as_str(), svc.flags, svc.persistence, svc.pe_name.as_deref()),
        ("rr", ServiceFlags::EMPTY, None, None)
    );
    assert_eq!(dests.len(), 2);
    svc.validate().expect("a valid IPVS service");
    for d in dests {
        d.validate(svc.key.family()).expect("a valid IPVS real server");
    }
}

#[test]
fn annotated_seed_loads_with_three_located_warnings() {
    let text = read("seed_variant.conf");
    let loaded = load_str("keepalived.conf", &text, &opts());
    assert!(!loaded.has_errors());
    assert_eq!(loaded.keepalived_verdict(), KeepalivedVerdict::Exit(5));
    let got: Vec<(u32, u32, Option<ConfigErr>, &str)> = loaded
        .diagnostics
        .iter()
        .map(|d| {
            let l = d.location.as_ref().expect("located");
            assert_eq!(d.severity, Severity::Warning);
            assert_eq!(l.file, "keepalived.conf");
            (l.line, l.col, d.keepalived.map(|k| k.level), d.message.as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            // Prose after the VRID: keepalived drops it silently.
            (14, 26, None, "keepalived ignores `this must match on both directors` after `virtual_router_id 51`"),
            // A line of prose alone: an unknown keyword.
            (30, 5, Some(ConfigErr::UnknownKeyword), "unknown keyword `the` in virtual_server"),
            (35, 13, Some(ConfigErr::UnknownKeyword), "unknown keyword `nb_get_retry` in TCP_CHECK"),
            (44, 13, Some(ConfigErr::UnknownKeyword), "unknown keyword `nb_get_retry` in TCP_CHECK"),
        ]
    );
    // The nb_get_retry warning says it is read as retry.
    assert!(loaded.diagnostics[2].help.as_deref().unwrap().contains("reads it as `retry`"));
    // The comments after values are comments: the model is the seed's
    // (spans aside).
    let seed = load_str("keepalived.conf", &read("seed.conf"), &opts());
    assert_eq!(loaded.config.dump(), seed.config.dump());
    assert_eq!(loaded.config.ipvs_services(), seed.config.ipvs_services());
    // Rendering shows the line and a caret under the word.
    let shown = loaded.diagnostics[1].to_string();
    assert!(shown.contains("--> keepalived.conf:30:5"), "{shown}");
    assert!(shown.contains("30 |     the web servers sit behind this address"), "{shown}");
    assert!(shown.contains("   |     ^^^\n"), "{shown}");
}

#[test]
fn comment_characters_cut_words() {
    let text = read("auth_pass_comment.conf");
    let loaded = load_str("k.conf", &text, &opts());
    // keepalived sets `abc` and says nothing; lvskit sets `abc` and warns.
    assert_eq!(loaded.keepalived_verdict(), KeepalivedVerdict::Exit(0));
    assert_eq!(loaded.config.vrrp_instances[0].authentication, Some(Authentication::Pass(b"abc".to_vec())));
    assert_eq!(loaded.diagnostics.len(), 1);
    assert!(loaded.diagnostics[0].keepalived.is_none());
    let d = &loaded.diagnostics[0];
    assert_eq!(d.message, "`!` starts a comment inside the word `abc!def`; keepalived reads `abc`", "{d}");
    let at = d.location.as_ref().expect("located");
    assert_eq!((at.file.as_str(), at.line, at.col), ("k.conf", 9, 22), "{d}");
}

#[test]
fn comment_characters_cutting_any_word_are_located() {
    let text = "global_defs {\n  router_id LVS#1\n  smtp_server \"192.0.2.1\"#relay\n}#end\n\
                vrrp_instance VI_1 {\n    state MASTER!role\n    interface eth0 # nic\n    virtual_router_id 51\n\
                \x20   priority 100\n    virtual_ipaddress {\n        192.0.2.254/24#vip\n    }\n}\n";
    let loaded = load_str("k.conf", text, &opts());
    let cuts: Vec<(u32, u32, &str)> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("starts a comment inside the word"))
        .map(|d| {
            let l = d.location.as_ref().expect("located");
            assert!(d.keepalived.is_none(), "keepalived says nothing: {d}");
            (l.line, l.col, d.message.as_str())
        })
        .collect();
    assert_eq!(
        cuts,
        [
            (2, 16, "`#` starts a comment inside the word `LVS#1`; keepalived reads `LVS`"),
            (6, 17, "`!` starts a comment inside the word `MASTER!role`; keepalived reads `MASTER`"),
            (11, 23, "`#` starts a comment inside the word `192.0.2.254/24#vip`; keepalived reads `192.0.2.254/24`"),
        ],
        "{:#?}",
        loaded.diagnostics
    );
    // What keepalived reads.
    assert_eq!(loaded.config.global.router_id.as_deref(), Some("LVS"));
    assert_eq!(loaded.config.vrrp_instances[0].state, lvskit::config::VrrpState::Master);
}

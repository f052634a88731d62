//! From `keepalived.conf` to running checkers: every checker kind and the
//! pool settings map onto `check` specs with keepalived's resolution, what
//! lvskit cannot run is refused at its location, and Debian's sample
//! configurations all build a `HealthChecker`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lvskit::check::dns::DnsType;
use lvskit::check::http::HttpProtocol;
use lvskit::check::{CheckError, CheckKind, HealthChecker, from_config};
use lvskit::config::{LoadOptions, load_str};
use rand::SeedableRng;

const CONF: &str = r#"
track_file weightfile {
    file /run/lvskit/weight
    weight 2 reverse
}
virtual_server 192.0.2.1 80 {
    delay_loop 6
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    quorum 2
    hysteresis 1
    virtualhost vs.example.org
    sorry_server 198.51.100.99 80
    sorry_server_inhibit
    inhibit_on_failure
    quorum_up "/usr/local/bin/q up"
    real_server 198.51.100.1 80 {
        weight 3
        notify_down "/usr/local/bin/n down"
        TCP_CHECK {
            connect_timeout 10
            retry 3
            delay_before_retry 2
            connect_port 8080
            bindto 198.51.100.200
        }
        HTTP_GET {
            url {
                path /health
                digest 5d41402abc4b2a76b9719d911017c592
                status_code 200-204 301
            }
            url {
                path /b
                virtualhost b.example.org
            }
            http_protocol 1.1
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check 'a b'"
            misc_dynamic
            misc_timeout 4
            user 1000 100
        }
        DNS_CHECK {
            type A
            name www.example.org
        }
        UDP_CHECK {
            require_reply 706f6e67
            max_reply_length 64
        }
        SMTP_CHECK {
            helo_name probe.example
        }
        PING_CHECK {
            alpha
        }
        FILE_CHECK {
            track_file weightfile
        }
    }
    real_server 198.51.100.2 80 {
        SSL_GET {
            url {
                path /
            }
            enable_sni
        }
    }
}
"#;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn every_checker_kind_converts() {
    let loaded = load_str("keepalived.conf", CONF, &LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let specs = from_config::virtual_servers(&loaded.config).unwrap();
    assert_eq!(specs.len(), 1);
    let vs = &specs[0];
    assert_eq!((vs.quorum, vs.hysteresis, vs.inhibit_on_failure), (2, 1, true));
    assert_eq!(vs.sorry_server.unwrap().dest.socket_addr(), sa("198.51.100.99:80"));
    assert!(vs.sorry_server.unwrap().inhibit);
    assert_eq!(vs.quorum_up.as_ref().unwrap().argv, ["/usr/local/bin/q", "up"]);
    let rs = &vs.real_servers[0];
    assert_eq!(rs.dest.weight, 3);
    assert_eq!(rs.notify_down.as_ref().unwrap().argv, ["/usr/local/bin/n", "down"]);
    let kinds: Vec<&str> = rs.checkers.iter().map(|c| c.kind.name()).collect();
    assert_eq!(
        kinds,
        ["TCP_CHECK", "HTTP_GET", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK", "SMTP_CHECK", "PING_CHECK", "FILE_CHECK"]
    );

    let tcp = &rs.checkers[0];
    assert_eq!(tcp.timing.retry, Some(3));
    assert_eq!(tcp.timing.delay_before_retry, Some(Duration::from_secs(2)));
    assert_eq!(tcp.timing.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(tcp.timing.delay_loop, Some(Duration::from_secs(6)));
    assert_eq!(tcp.connect.connect_port, Some(8080));
    assert_eq!(tcp.connect.bindto, Some("198.51.100.200".parse().unwrap()));

    let CheckKind::Http(h) = &rs.checkers[1].kind else { panic!() };
    assert!(!h.tls);
    assert_eq!(h.protocol, HttpProtocol::Http11);
    assert_eq!(h.urls[0].digest.unwrap()[0], 0x5d);
    assert!(h.urls[0].status.contains(204) && h.urls[0].status.contains(301) && !h.urls[0].status.contains(205));
    assert!(h.urls[1].status.contains(200) && h.urls[1].status.contains(299));
    // Host: the URL's, else the checker's, else the real server's, else the virtual server's.
    assert_eq!((h.vhost(0), h.vhost(1)), (Some("vs.example.org"), Some("b.example.org")));
    // HTTP's default delay_before_retry, inherited retry.
    assert_eq!(rs.checkers[1].timing.delay_before_retry, Some(Duration::from_secs(3)));

    let CheckKind::Misc(m) = &rs.checkers[2].kind else { panic!() };
    assert_eq!(m.script.argv, ["/usr/local/bin/check", "a b"]);
    assert_eq!(
        (m.script.uid, m.script.gid, m.dynamic, m.timeout),
        (Some(1000), Some(100), true, Some(Duration::from_secs(4)))
    );
    let CheckKind::Dns(d) = &rs.checkers[3].kind else { panic!() };
    assert_eq!((d.qtype, d.name.as_str()), (DnsType::A, "www.example.org"));
    assert_eq!(rs.checkers[3].timing.retry, Some(3), "DNS_CHECK's default retry");
    let CheckKind::Udp(u) = &rs.checkers[4].kind else { panic!() };
    assert!(u.require_reply);
    assert_eq!(u.reply.as_ref().unwrap().data, b"pong");
    assert_eq!(u.max_reply_len, 64);
    let CheckKind::Smtp(s) = &rs.checkers[5].kind else { panic!() };
    assert_eq!(s.helo_name, "probe.example");
    assert_eq!(rs.checkers[6].timing.alpha, Some(true));
    let CheckKind::File(f) = &rs.checkers[7].kind else { panic!() };
    assert_eq!((f.path.to_str().unwrap(), f.weight, f.reverse), ("/run/lvskit/weight", 2, true));

    let CheckKind::Http(h) = &vs.real_servers[1].checkers[0].kind else { panic!() };
    assert!(h.tls && h.enable_sni);

    // And it runs: the checker starts with both servers in the pool.
    let hc =
        HealthChecker::from_keepalived(&loaded.config, rand::rngs::StdRng::seed_from_u64(1), Instant::now()).unwrap();
    assert_eq!(hc.checker_count(), 9);
    let pool = hc.desired();
    assert_eq!(pool.len(), 1);
}

#[test]
fn what_lvskit_cannot_run_is_refused_at_its_location() {
    let conf = "virtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 198.51.100.1 80 {\n    MISC_CHECK {\n      misc_path /bin/true\n      user nobody\n    }\n  }\n}\n";
    let loaded = load_str("k.conf", conf, &LoadOptions::default());
    let err = from_config::virtual_servers(&loaded.config).unwrap_err();
    let CheckError::FromConfig { span, keyword, message } = &err else { panic!("{err:?}") };
    assert_eq!(*keyword, "user");
    assert!(message.contains("numeric uid"), "{message}");
    let at = loaded.sources.locate(*span);
    assert_eq!((at.file.as_str(), at.line), ("k.conf", 4));
    let conf = "virtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 198.51.100.1 80 {\n    HTTP_GET {\n      url {\n        path /\n        regex \"ok\"\n      }\n    }\n  }\n}\n";
    let loaded = load_str("k.conf", conf, &LoadOptions::default());
    let err = from_config::virtual_servers(&loaded.config).unwrap_err();
    assert!(matches!(err, CheckError::FromConfig { keyword: "regex", .. }), "{err:?}");
}

#[test]
fn debian_samples_build_health_checkers() {
    let dir = "/usr/share/doc/keepalived/samples";
    let Ok(rd) = std::fs::read_dir(dir) else {
        panic!("{dir}: install Debian's keepalived package (scripts/setup does) to run this test");
    };
    let mut n = 0;
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("keepalived.conf") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let loaded = load_str(&name, &text, &LoadOptions::default());
        if loaded.config.virtual_servers.is_empty() {
            continue;
        }
        let hc = HealthChecker::from_keepalived(&loaded.config, rand::rngs::StdRng::seed_from_u64(1), Instant::now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!hc.desired().is_empty(), "{name}");
        n += 1;
    }
    assert!(n >= 10, "only {n} samples with virtual servers");
}

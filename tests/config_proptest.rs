//! Property tests of the keepalived.conf reader:
//!
//! * a configuration written from a generated set of virtual and real
//!   servers reads back, without a diagnostic, as exactly those IPVS
//!   services and servers (render → parse round trip);
//! * any mix of keywords, braces, quotes, comment characters, definitions
//!   and conditionals loads without panicking, with every diagnostic inside
//!   its file, deterministically.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use lvskit::config::{LoadOptions, load_str};
use lvskit::ipvs::{DestConfig, ForwardMethod, PersistMask, Persistence, Protocol, ServiceConfig, ServiceKey};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Rs {
    last_octet: u8,
    port: u16,
    weight: u32,
    upper: u32,
}

#[derive(Debug, Clone)]
struct Vs {
    vip: u8,
    port: u16,
    proto: Protocol,
    sched: &'static str,
    method: ForwardMethod,
    persist: Option<(u32, u8)>,
    rs: Vec<Rs>,
}

fn vs_strategy() -> impl Strategy<Value = Vs> {
    (
        1u8..=254,
        1u16..=65535,
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)],
        prop::sample::select(vec![
            "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        ]),
        prop_oneof![
            Just(ForwardMethod::Masq),
            Just(ForwardMethod::Route),
            Just(ForwardMethod::Tunnel(Default::default()))
        ],
        prop::option::of((1u32..=2_678_400, 8u8..=32)),
        prop::collection::vec((1u8..=254, 1u16..=65535, 0u32..=65535, 0u32..=10_000), 1..6),
    )
        .prop_map(|(vip, port, proto, sched, method, persist, rs)| {
            let mut seen = std::collections::BTreeSet::new();
            let rs = rs
                .into_iter()
                .filter(|(o, p, ..)| seen.insert((*o, if method == ForwardMethod::Masq { *p } else { port })))
                .map(|(last_octet, p, weight, upper)| Rs {
                    last_octet,
                    port: if method == ForwardMethod::Masq { p } else { port },
                    weight,
                    upper,
                })
                .collect();
            Vs { vip, port, proto, sched, method, persist, rs }
        })
}

fn render(vss: &[Vs]) -> String {
    let mut s = String::from("! generated\nglobal_defs {\n    router_id PROPTEST\n}\n");
    for v in vss {
        let method = match v.method {
            ForwardMethod::Masq => "NAT",
            ForwardMethod::Route => "DR",
            _ => "TUN",
        };
        let _ = writeln!(s, "virtual_server 192.0.2.{} {} {{", v.vip, v.port);
        let _ = writeln!(s, "    lvs_sched {}\n    lvs_method {method}\n    protocol {}", v.sched, v.proto);
        if let Some((t, bits)) = v.persist {
            let mask = Ipv4Addr::from(u32::MAX << (32 - bits));
            let _ = writeln!(s, "    persistence_timeout {t}\n    persistence_granularity {mask}");
        }
        for r in &v.rs {
            let _ =
                writeln!(s, "    real_server 198.51.100.{} {} {{\n        weight {}", r.last_octet, r.port, r.weight);
            if r.upper > 0 {
                let _ = writeln!(s, "        uthreshold {}", r.upper);
            }
            s.push_str("        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n");
        }
        s.push_str("}\n");
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_servers_read_back(vss in prop::collection::vec(vs_strategy(), 1..5)) {
        // One virtual server per address and port, as keepalived expects.
        let mut seen = std::collections::BTreeSet::new();
        let vss: Vec<Vs> = vss.into_iter().filter(|v| seen.insert((v.vip, v.port, v.proto))).collect();
        let text = render(&vss);
        let loaded = load_str("gen.conf", &text, &LoadOptions::default());
        prop_assert!(loaded.diagnostics.is_empty(), "{}\n{}", text, loaded.diagnostics.iter().map(|d| d.to_string()).collect::<String>());
        let got = loaded.config.ipvs_services();
        prop_assert_eq!(got.len(), vss.len());
        for (v, (svc, dests)) in vss.iter().zip(&got) {
            let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, v.vip));
            let mut want = ServiceConfig::new(ServiceKey::addr(v.proto, vip, v.port), v.sched);
            if let Some((t, bits)) = v.persist {
                want.persistence = Some(Persistence { timeout: t, mask: PersistMask::V4(Ipv4Addr::from(u32::MAX << (32 - bits))) });
            }
            prop_assert_eq!(svc, &want);
            let want_dests: Vec<DestConfig> = v
                .rs
                .iter()
                .map(|r| DestConfig::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, r.last_octet)), r.port, v.method).weight(r.weight).thresholds(r.upper, 0))
                .collect();
            prop_assert_eq!(dests, &want_dests);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        "virtual_server", "real_server", "vrrp_instance", "global_defs", "TCP_CHECK", "HTTP_GET", "url", "path", "{", "}",
        "\n", " ", "\t", "\"", "#", "!", "\\", "$X", "$X=1", "${X}", "@a", "@^a", "~SEQ(i,1,3)", "~LST(j,a,b)", "include",
        "192.0.2.1", "80", "0", "-1", "255", "256", "state", "MASTER", "priority", "interface", "eth0", "virtual_router_id",
        "virtual_ipaddress", "weight", "lvs_sched", "rr", "auth_pass", "abc!def", "nb_get_retry", "2001:db8::1",
    ]), 0..120)) {
        let text: String = tokens.concat();
        let a = load_str("p.conf", &text, &LoadOptions { config_id: Some("a".into()), max_generated_lines: Some(500), ..LoadOptions::default() });
        for d in &a.diagnostics {
            if let Some(s) = d.span {
                let f = a.sources.file(s.file);
                prop_assert!(s.start <= s.end && s.end as usize <= f.text().len());
            }
            let _ = d.to_string();
        }
        let b = load_str("p.conf", &text, &LoadOptions { config_id: Some("a".into()), max_generated_lines: Some(500), ..LoadOptions::default() });
        prop_assert_eq!(a.config.dump(), b.config.dump());
        prop_assert_eq!(&a.diagnostics, &b.diagnostics);
    }
}

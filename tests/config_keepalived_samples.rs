//! Every sample configuration Debian's keepalived package ships
//! (`/usr/share/doc/keepalived/samples/`, 25 files that keepalived 2.2.7
//! accepts) is read and lowered to the typed model without an error.
//! `scripts/setup` installs the package; without it this test fails, saying
//! so. The samples and the expectations here are keepalived 2.2.x's (Debian
//! 12 ships 2.2.7): with another installed version the tests fail, naming
//! the version found, rather than check against different samples.

use std::path::PathBuf;

use lvskit::config::{FsLoader, LoadOptions, VirtualServerKey, load, parse};

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// The installed keepalived's version (`keepalived --version` prints
/// `Keepalived v2.2.7 (01/16,2022)` on stderr).
fn keepalived_version() -> Option<String> {
    let out = std::process::Command::new("/usr/sbin/keepalived").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?;
    Some(first.strip_prefix("Keepalived v")?.split_whitespace().next()?.to_owned())
}

fn samples() -> Vec<PathBuf> {
    match keepalived_version() {
        Some(v) if v.starts_with("2.2.") => {}
        Some(v) => {
            panic!("keepalived {v} is installed; these samples tests expect keepalived 2.2.x (Debian 12's 2.2.7)")
        }
        None => panic!(
            "/usr/sbin/keepalived --version gave no version: install Debian 12's keepalived 2.2.7 (scripts/setup)"
        ),
    }
    let rd = std::fs::read_dir(SAMPLES).unwrap_or_else(|e| {
        panic!("{SAMPLES}: {e}: install Debian's keepalived package (scripts/setup does) to run this test")
    });
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf.")))
        .collect();
    v.sort();
    v
}

#[test]
fn every_sample_loads_without_error() {
    let samples = samples();
    assert_eq!(samples.len(), 25, "keepalived 2.2.7 ships 25 samples: {samples:?}");
    // The host is unknown: every interface a sample names is taken to exist
    // (keepalived would check them against the machine it runs on).
    for id in [None, Some("high"), Some("low")] {
        let opts = LoadOptions { config_id: id.map(String::from), ..LoadOptions::default() };
        for s in &samples {
            let loaded = load(&s.to_string_lossy(), &FsLoader, &opts);
            let errors: Vec<String> =
                loaded.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
            assert!(errors.is_empty(), "{} (config id {id:?}):\n{}", s.display(), errors.join("\n"));
            let (document, _) = parse(&s.to_string_lossy(), &FsLoader, &opts);
            assert!(!document.is_empty(), "{}: nothing read", s.display());
            // Everything lowered is usable: services and servers validate
            // against the IPVS model, the dump renders.
            for (svc, dests) in loaded.config.ipvs_services() {
                svc.validate().unwrap_or_else(|e| panic!("{}: {e}", s.display()));
                for d in dests {
                    if !matches!(d.forward, lvskit::ipvs::ForwardMethod::Tunnel(_)) {
                        d.validate(svc.key.family()).unwrap_or_else(|e| panic!("{}: {e}", s.display()));
                    }
                }
            }
            assert!(!loaded.config.dump().is_empty());
        }
    }
}

#[test]
fn samples_lower_to_what_they_say() {
    let sample = |name: &str, id: Option<&str>| {
        let opts = LoadOptions { config_id: id.map(String::from), ..LoadOptions::default() };
        load(&format!("{SAMPLES}/keepalived.conf.{name}"), &FsLoader, &opts).config
    };
    // A NAT virtual server with persistence, a sorry server and an HTTP check.
    let c = sample("sample", None);
    assert_eq!(c.global.router_id.as_deref(), Some("LVS_DEVEL"));
    assert_eq!(c.vrrp_instances[0].virtual_ipaddress.len(), 3);
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.persistence.map(|p| p.timeout), Some(50));
    assert_eq!(vs.sorry_server.map(|s| s.dest.port), Some(1358));
    let lvskit::config::CheckerKind::Http(h) = &vs.real_servers[0].checkers[0].kind else { panic!("HTTP_GET") };
    assert_eq!(h.urls[0].path, "/testurl3/test.jsp");
    assert_eq!(h.urls[0].status_codes, [200..=299]);
    assert_eq!(vs.real_servers[0].checkers[0].retry, 3);
    // Groups: ranges expand to one IPVS service per address.
    let c = sample("virtual_server_group", None);
    assert!(!c.virtual_server_groups.is_empty());
    let vs =
        c.virtual_servers.iter().find(|v| matches!(v.key, VirtualServerKey::Group(_))).expect("group virtual server");
    assert!(vs.services(&c).len() > c.virtual_server_groups[0].entries.len());
    // @high / @low select different priorities.
    let high = sample("conditional_conf", Some("high"));
    let low = sample("conditional_conf", Some("low"));
    assert_eq!(high.vrrp_instances[0].priority, 170);
    assert_eq!(low.vrrp_instances[0].priority, 85);
    assert_eq!(high.vrrp_instances[0].version, 3);
    // IPv6 services.
    let c = sample("IPv6", None);
    assert!(c.virtual_servers.iter().all(|v| v.family == lvskit::ipvs::Family::V6));
    // fwmark services have no protocol.
    let c = sample("fwmark", None);
    assert!(matches!(c.virtual_servers[0].key, VirtualServerKey::Fwmark(_)));
}

//! `keepalived-check` (`examples/keepalived-check.rs`), the twin of
//! `keepalived -t`: its exit codes and report (the library's
//! `Loaded::check_exit_code` / `check_report`) on the whole verdict corpus,
//! the seed's configuration and a valid file; the `--dump` output against a
//! golden file; the built example binary end to end; `Loaded::into_result`;
//! and reloading through `ConfigStore`, which keeps the configuration in
//! force when the new one is broken.
//!
//! Bless the dump golden with `LVSKIT_BLESS=1 cargo test --test
//! config_check_cli` after an intended change.

use std::path::{Path, PathBuf};
use std::process::Command;

mod example_support;

use lvskit::config::{ConfigStore, FsLoader, HostInfo, LoadOptions, Loaded, MemoryLoader, load};

const VERDICTS: &str = "tests/data/config/verdicts";

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: Some("lvskit".into()),
        host: HostInfo { interfaces: Some(["lo", "eth0", "eth1", "peth0", "peth1"].map(String::from).to_vec()) },
        ..LoadOptions::default()
    }
}

fn load_verdict(name: &str) -> Loaded {
    load(&format!("{VERDICTS}/{name}"), &FsLoader, &opts())
}

/// keepalived's recorded exit status, or `None` for a crash.
fn recorded_exit(conf: &Path) -> Option<u8> {
    let rec = std::fs::read_to_string(conf.with_extension("keepalived")).expect("recording");
    rec.lines().next().and_then(|l| l.strip_prefix("exit ")).map(|n| n.parse().expect("status"))
}

#[test]
fn exit_codes_follow_keepalived_on_the_verdict_corpus() {
    let mut n = 0;
    for e in std::fs::read_dir(VERDICTS).expect("corpus") {
        let p = e.expect("entry").path();
        if p.extension().is_none_or(|x| x != "conf") {
            continue;
        }
        let loaded = load(&p.to_string_lossy(), &FsLoader, &opts());
        let code = loaded.check_exit_code();
        match recorded_exit(&p) {
            // keepalived complained: the same status.
            Some(k) if k != 0 => assert_eq!(code, k, "{}", p.display()),
            // keepalived was silent: 0 only when lvskit is too; 4 for an
            // error only lvskit sees, 5 for warnings only lvskit gives.
            Some(_) => {
                let want = if loaded.diagnostics.is_empty() {
                    0
                } else if loaded.has_errors() {
                    4
                } else {
                    5
                };
                assert_eq!(code, want, "{}: {:?}", p.display(), loaded.diagnostics);
            }
            None => assert_eq!(code, 4, "{}: keepalived crashed", p.display()),
        }
        n += 1;
    }
    assert!(n >= 100, "only {n} files");
}

#[test]
fn seed_and_valid_file_exit_codes_and_report() {
    // The seed: keepalived warns "Unknown keyword 'nb_get_retry'" twice and
    // `keepalived -t` exits 5 (recorded in seed.keepalived).
    let seed = load_verdict("seed.conf");
    assert_eq!(recorded_exit(Path::new(&format!("{VERDICTS}/seed.conf"))), Some(5));
    assert_eq!(seed.check_exit_code(), 5);
    let report = seed.check_report("seed.conf");
    assert_eq!(report.matches("unknown keyword `nb_get_retry` in TCP_CHECK").count(), 2, "{report}");
    assert!(report.ends_with("seed.conf: 0 error(s), 2 warning(s); keepalived -t: exit 5\n"), "{report}");
    // A file with nothing to say: 0 and no output.
    let ok = load_verdict("garp_group_ok.conf");
    assert_eq!(recorded_exit(Path::new(&format!("{VERDICTS}/garp_group_ok.conf"))), Some(0));
    assert_eq!((ok.check_exit_code(), ok.check_report("x").as_str()), (0, ""));
    // keepalived's own status 2 for a keyword without its parameter.
    assert_eq!(load_verdict("missing_param_priority.conf").check_exit_code(), 2);
}

fn dump_golden() -> PathBuf {
    Path::new("tests/data/config/golden-dump/seed.dump").to_path_buf()
}

#[test]
fn dump_of_the_seed_matches_golden() {
    let got = load_verdict("seed.conf").config.dump();
    let path = dump_golden();
    if std::env::var_os("LVSKIT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("golden dump (bless with LVSKIT_BLESS=1)");
    assert_eq!(got, want);
    // The golden is the seed's model: the things the issue names are there.
    for line in ["router_id LVS_MASTER", "vrrp_instance VI_1", "virtual_server", "192.168.200.103"] {
        assert!(want.contains(line), "{line} missing from\n{want}");
    }
}

#[test]
fn example_binary_end_to_end() {
    let bin = match example_support::example_binary("keepalived-check") {
        Ok(b) => b,
        Err(why) => {
            println!("note: {why}; run the whole `cargo test` (it builds the examples) to test it; skipped");
            return;
        }
    };
    let run = |args: &[&str]| {
        let out = Command::new(&bin).args(args).output().expect("run keepalived-check");
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let seed = format!("{VERDICTS}/seed.conf");
    let (code, out, err) = run(&["-f", &seed, "-i", "lvskit", "--any-interface", "--dump"]);
    assert_eq!(code, Some(5), "{err}");
    assert_eq!(out, std::fs::read_to_string(dump_golden()).unwrap());
    let lib = load(&seed, &FsLoader, &LoadOptions { host: HostInfo { interfaces: None }, ..opts() });
    assert_eq!(err, lib.check_report(&seed));
    let ok = format!("{VERDICTS}/garp_group_ok.conf");
    // Interfaces as the recordings had them would need the namespace; any
    // interface exists here, which this file does not depend on.
    let (code, out, err) = run(&["-f", &ok, "-i", "lvskit", "--any-interface"]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    let (code, _, err) = run(&["-f", &format!("{VERDICTS}/missing_param_priority.conf"), "--any-interface"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(&["-f", "/nonexistent/keepalived.conf"]);
    assert_eq!(code, Some(4), "{err}");
    let (code, _, _) = run(&["--bogus"]);
    assert_eq!(code, Some(1));

    // A file of 1 MiB or more is read on a heap prepared for huge pages;
    // what comes out is the same as without (`--no-huge-pages`).
    let big = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-cli-big.conf");
    let mut text = String::from("global_defs {\n    router_id BIG\n}\n");
    for v in 0..2_500u32 {
        let (a, b) = (v / 250, v % 250);
        text += &format!(
            "virtual_server 192.0.{a}.{b} 80 {{\n    delay_loop 6\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n"
        );
        for r in 1..=4 {
            text += &format!(
                "    real_server 198.51.{a}.{} 80 {{\n        weight {r}\n        TCP_CHECK {{\n            connect_timeout 3\n            connect_port 80\n        }}\n    }}\n",
                (b + r) % 250
            );
        }
        text += "}\n";
    }
    text += "virtual_server 203.0.113.1 80 {\n    lb_algo rr extra prose\n}\n";
    assert!(text.len() >= 1 << 20);
    std::fs::write(&big, &text).unwrap();
    let big = big.to_string_lossy().into_owned();
    let prepared = run(&["-f", &big, "-i", "lvskit", "--any-interface", "--dump"]);
    let plain = run(&["-f", &big, "-i", "lvskit", "--any-interface", "--dump", "--no-huge-pages"]);
    std::fs::remove_file(&big).unwrap();
    assert_eq!(prepared, plain);
    assert_eq!(prepared.0, Some(5), "{}", prepared.2);
    assert!(prepared.2.contains("keepalived ignores `extra prose`"), "{}", prepared.2);
    assert_eq!(prepared.1.matches("real_server").count(), 10_000);
}

#[test]
fn into_result_separates_runnable_from_broken() {
    // Warnings only: keepalived runs it; so does lvskit, with the warnings.
    let seed = load_verdict("seed.conf");
    let n = seed.diagnostics.len();
    let checked = seed.into_result().expect("runnable");
    assert_eq!(checked.warnings.len(), n);
    assert_eq!(checked.config.virtual_servers.len(), 1);
    // An error: every diagnostic comes back, and Display names them.
    let broken = load_verdict("missing_param_priority.conf");
    assert!(broken.has_errors());
    let e = broken.into_result().expect_err("broken");
    assert_eq!(e.errors().count(), 1);
    let shown = e.to_string();
    assert!(shown.starts_with("configuration has 1 error\n"), "{shown}");
    assert!(shown.contains("missing_param_priority.conf:7:"), "{shown}");
}

const A: &str = "\
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        192.0.2.254
    }
}
";

/// B: a keyword without its parameter, where keepalived stops reading.
const B: &str = "\
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 52
    priority
    virtual_ipaddress {
        192.0.2.1
    }
}
";

/// C: runs with a warning (an unknown keyword).
const C: &str = "\
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 53
    frobnicate
    virtual_ipaddress {
        198.51.100.1
    }
}
";

#[test]
fn reload_keeps_the_running_configuration_when_the_new_one_is_broken() {
    let path = "/etc/keepalived/keepalived.conf";
    let mut store = ConfigStore::new();
    assert!(store.current().is_none());
    store.reload(path, &MemoryLoader::new().with(path, A), &opts()).expect("A loads");
    let a_dump = store.current().unwrap().config.dump();
    assert_eq!(store.generation(), 1);
    assert_eq!(store.current().unwrap().config.vrrp_instances[0].virtual_router_id, 51);

    // The file changes to B and the daemon reloads: B is refused ...
    let err = store.reload(path, &MemoryLoader::new().with(path, B), &opts()).expect_err("B is broken");
    assert!(err.errors().any(|d| d.message.contains("`priority` is missing a parameter")), "{err}");
    // ... and A is still what is in force, unchanged.
    assert_eq!(store.generation(), 1);
    let cur = store.current().unwrap();
    assert_eq!(cur.config.dump(), a_dump);
    assert_eq!(cur.config.vrrp_instances[0].virtual_router_id, 51);
    assert_eq!(cur.config.vrrp_instances[0].priority, 150);

    // A file with warnings only replaces it (keepalived runs such files).
    let c = store.reload(path, &MemoryLoader::new().with(path, C), &opts()).expect("C runs");
    assert_eq!(c.config.vrrp_instances[0].name, "VI_2");
    assert!(c.warnings.iter().any(|d| d.message.contains("frobnicate")));
    assert_eq!(store.generation(), 2);
}

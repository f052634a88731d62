//! lvskit's verdict on each configuration of `tests/data/config/verdicts/`
//! matches what the real `keepalived -t` (2.2.7) did on it, as recorded by
//! `scripts/record-keepalived-verdicts` in `NAME.keepalived` (first line
//! `exit N` or `crash`, then keepalived's messages).
//!
//! The recordings were made in a network namespace with exactly the
//! interfaces `lo`, `eth0`, `eth1` (veth pairs with peers `peth0`, `peth1`)
//! and configuration id `lvskit`; lvskit is given the same.
//! `tests/config_keepalived_live.rs` re-runs keepalived to confirm the
//! recordings.

use std::path::{Path, PathBuf};

use lvskit::config::{FsLoader, HostInfo, KeepalivedVerdict, LoadOptions, load};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/verdicts")
}

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: Some("lvskit".into()),
        host: HostInfo { interfaces: Some(["lo", "eth0", "eth1", "peth0", "peth1"].map(String::from).to_vec()) },
        cwd: dir().to_string_lossy().into_owned(),
        random_seed: 0,
        max_generated_lines: None,
    }
}

fn recorded(conf: &Path) -> KeepalivedVerdict {
    let rec = std::fs::read_to_string(conf.with_extension("keepalived"))
        .unwrap_or_else(|e| panic!("{}: no recording ({e}); run scripts/record-keepalived-verdicts", conf.display()));
    let first = rec.lines().next().unwrap_or("");
    match first.split_once(' ') {
        Some(("exit", n)) => KeepalivedVerdict::Exit(n.parse().expect("exit status")),
        _ if first == "crash" => KeepalivedVerdict::Crash,
        _ => panic!("{}: bad recording first line {first:?}", conf.display()),
    }
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("verdict corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

#[test]
fn verdicts_match_keepalived() {
    let cases = cases();
    assert!(cases.len() >= 100, "expected the whole corpus, found {}", cases.len());
    let mut wrong = Vec::new();
    for conf in &cases {
        let loaded = load(&conf.to_string_lossy(), &FsLoader, &opts());
        let got = loaded.keepalived_verdict();
        let want = recorded(conf);
        if got != want {
            let diags: Vec<String> = loaded.diagnostics.iter().map(|d| format!("    {}", d.message)).collect();
            wrong.push(format!(
                "{}: lvskit says {got}, keepalived did {want}\n{}",
                conf.file_name().unwrap().to_string_lossy(),
                diags.join("\n")
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} verdicts differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

//! Golden tests for diagnostics: every configuration of
//! `tests/data/config/verdicts/` renders exactly as in
//! `tests/data/config/golden/NAME.txt` (each diagnostic with file:line:col,
//! the source line and a caret, then the verdict keepalived would reach).
//!
//! After an intended change, regenerate with
//! `LVSKIT_BLESS=1 cargo test --test config_diagnostics` and review the
//! diff.

use std::fmt::Write as _;
use std::path::Path;

use lvskit::config::{FsLoader, HostInfo, LoadOptions, load};

#[test]
fn diagnostics_render_as_recorded() {
    // Integration tests run in the package root; relative paths keep the
    // rendered file names short and machine-independent.
    let dir = Path::new("tests/data/config/verdicts");
    let golden = Path::new("tests/data/config/golden");
    let bless = std::env::var_os("LVSKIT_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(golden).expect("golden dir");
    }
    let opts = LoadOptions {
        config_id: Some("lvskit".into()),
        host: HostInfo { interfaces: Some(["lo", "eth0", "eth1", "peth0", "peth1"].map(String::from).to_vec()) },
        ..LoadOptions::default()
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    let mut differ = Vec::new();
    for name in &names {
        let path = dir.join(name);
        let loaded = load(&path.to_string_lossy(), &FsLoader, &opts);
        let mut out = String::new();
        for d in &loaded.diagnostics {
            let _ = writeln!(out, "{d}");
        }
        let _ = writeln!(out, "keepalived -t: {}", loaded.keepalived_verdict());
        let gfile = golden.join(name.replace(".conf", ".txt"));
        if bless {
            std::fs::write(&gfile, &out).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&gfile)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with LVSKIT_BLESS=1)", gfile.display()));
        if want != out {
            differ.push(format!("{name}:\n--- golden\n{want}--- now\n{out}"));
        }
    }
    assert!(differ.is_empty(), "{} of {} renderings differ:\n{}", differ.len(), names.len(), differ.join("\n"));
}

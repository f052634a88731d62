//! `ipvsadm -Lnc` and `/proc/net/ip_vs_conn`, character for character,
//! against outputs of the real tools captured in the IPVS VM
//! (`tests/data/ipvsadm-lnc/capture.sh`): each `NAME.proc` is the kernel's
//! table and `NAME.out` what ipvsadm 1.31 printed from it at that moment.

use std::path::Path;

use lvskit::ipvs::conn::{parse_proc, render_ipvsadm, render_proc};

fn snapshots() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ipvsadm-lnc");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "proc") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let proc_text = std::fs::read_to_string(&path).unwrap();
            let ipvsadm = std::fs::read_to_string(path.with_extension("out")).unwrap();
            out.push((name, proc_text, ipvsadm));
        }
    }
    out.sort();
    assert!(out.len() >= 3, "golden snapshots missing in {}", dir.display());
    out
}

#[test]
fn ipvsadm_lnc_matches_the_real_tool() {
    for (name, proc_text, ipvsadm) in snapshots() {
        let entries = parse_proc(&proc_text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(render_ipvsadm(&entries), ipvsadm, "{name}");
    }
}

#[test]
fn proc_format_round_trips_the_kernels_text() {
    for (name, proc_text, _) in snapshots() {
        let entries = parse_proc(&proc_text).unwrap();
        assert_eq!(render_proc(&entries), proc_text, "{name}");
    }
}

#[test]
fn golden_data_covers_the_interesting_cases() {
    let all: String = snapshots().into_iter().map(|(_, _, o)| o).collect();
    for needle in ["ESTABLISHED", "TIME_WAIT", "SYN_RECV", "UDP ", "IP  ", "ASSURED", "[2001:db8:", "101:"] {
        assert!(all.contains(needle), "no {needle:?} in the golden outputs");
    }
    // Both mixed-family directions.
    assert!(all.contains("192.0.2.1:8000     [2001:db8:1::11]:8000"));
    assert!(all.contains("[2001:db8::80]:8001 198.51.100.20:8001"));
}

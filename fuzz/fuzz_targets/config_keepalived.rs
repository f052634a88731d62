//! Fuzzes the keepalived.conf reader end to end: line reader, directive tree,
//! lowering and diagnostics rendering. The input is split at the first NUL
//! byte into a main file and a file it may include as `inc.conf`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::config::{HostInfo, LoadOptions, MemoryLoader, load};

fuzz_target!(|data: &[u8]| {
    let (main, inc) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let loader = MemoryLoader::new().with("/etc/k/keepalived.conf", main.to_vec()).with("/etc/k/inc.conf", inc.to_vec());
    let opts = LoadOptions {
        config_id: Some("a".into()),
        host: HostInfo { interfaces: Some(vec!["lo".into(), "eth0".into()]) },
        max_generated_lines: Some(2000),
        ..LoadOptions::default()
    };
    let loaded = load("/etc/k/keepalived.conf", &loader, &opts);
    for d in loaded.diagnostics.iter().take(1000) {
        let _ = d.to_string();
        if let Some(s) = d.span {
            let f = loaded.document.sources().file(s.file);
            assert!(s.start <= s.end && s.end as usize <= f.text().len(), "span {s:?} outside {}", f.name());
        }
    }
    let _ = loaded.config.dump();
    let _ = loaded.config.ipvs_services();
    let _ = loaded.keepalived_verdict();
});

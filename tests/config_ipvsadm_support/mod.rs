//! What the ipvsadm recording tests share (`config_ipvsadm_golden.rs` and
//! `config_ipvsadm_vm.rs`): the recordings' directory, their command files
//! and the in-memory table they describe.

use std::path::{Path, PathBuf};

use lvskit::backend::{IpvsBackend, MemoryIpvs};
use lvskit::config::ipvsadm::{self, Command};

/// `tests/data/config/ipvsadm`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/ipvsadm")
}

/// The lines of `name` (under [`dir`]) without comments and blank lines.
pub fn lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(dir().join(name))
        .expect("data file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The in-memory table the ipvsadm commands of `name` (under [`dir`]) build,
/// read with lvskit's command parser.
pub fn table(name: &str) -> MemoryIpvs {
    let mut ipvs = MemoryIpvs::new();
    for line in lines(name) {
        let args: Vec<&str> = line.split_whitespace().collect();
        match ipvsadm::parse_args(&args) {
            Ok(Command::Op(op)) => ipvs.execute(&op).unwrap_or_else(|e| panic!("{line}: {e}")),
            other => panic!("{line}: {other:?}"),
        }
    }
    ipvs
}

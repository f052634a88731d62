//! The fuzz corpora, read for the tests that replay them on stable
//! (`fuzz/corpus/<target>/`, one file per input).

use std::path::{Path, PathBuf};

/// The corpus directory of fuzz target `target`.
fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

/// One named input of fuzz target `target`'s corpus; panics when missing.
#[allow(dead_code)] // Not every test that includes this module reads one input.
pub fn input(target: &str, name: &str) -> Vec<u8> {
    let p = dir(target).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every input of fuzz target `target`'s corpus as (file name, bytes),
/// sorted by name; panics when the directory is missing or empty.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = dir(target);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("entry").path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).expect("read"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{}: empty corpus", dir.display());
    v
}

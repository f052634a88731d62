//! Fuzzes the keepalived.conf reader end to end: line reader, directive tree,
//! lowering and diagnostics rendering. The input is split at the first NUL
//! byte into a main file and a file it may include as `inc.conf`. The body
//! is `lvskit::config::fuzzing::fuzz_keepalived`, which
//! `tests/config_fuzz_corpus.rs` replays on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lvskit::config::fuzzing::fuzz_keepalived(data));

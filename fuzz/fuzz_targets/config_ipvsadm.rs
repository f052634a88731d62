//! Fuzzes lvskit's ipvsadm formats: the rule-file reader (`parse_rules`),
//! the command-line reader (`parse_args`, one command per input line), the
//! command-line writer (`command_line` must read back as the same
//! operation), the listings, and `save` (what it writes must restore to the
//! same table). The body is `lvskit::config::fuzzing::fuzz_ipvsadm`, which
//! `tests/config_fuzz_corpus.rs` replays on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lvskit::config::fuzzing::fuzz_ipvsadm(data));

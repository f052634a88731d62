//! Fuzz target `vrrp_instance`: see `fuzz/vrrp_checks.rs` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../vrrp_checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::vrrp_instance(data));

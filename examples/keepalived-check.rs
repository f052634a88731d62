//! `keepalived-check`: the twin of `keepalived -t`, built on lvskit's
//! configuration reader.
//!
//! ```text
//! cargo run --example keepalived-check -- [-f FILE] [-i CONFIG_ID] [--dump] [--any-interface]
//! ```
//!
//! It reads FILE (default `/etc/keepalived/keepalived.conf`) as keepalived
//! 2.2.7 would, prints every diagnostic with its file, line, column and a
//! caret, and exits like `keepalived -t`
//! (the logic is the library's `Loaded::check_exit_code` and
//! `Loaded::check_report`, tested with this binary in
//! `tests/config_check_cli.rs`):
//!
//! * 0 when there is nothing to report;
//! * keepalived's own status where keepalived reports the file: 2 (a
//!   keyword missing its parameter), 4 (cannot run), 5 (runs, with errors
//!   reported), 6 (script security, or a checked `include` failed);
//! * 4 where keepalived would crash or hang, or where lvskit cannot read the
//!   file at all (keepalived 2.2.7 exits 0 on a missing file);
//! * 5 where only lvskit has something to say (a problem keepalived
//!   silently accepts).
//!
//! `-i` sets the configuration id for `@ID` lines (default: the host name up
//! to its first dot, as keepalived does). Interfaces are checked against
//! this host's (`/sys/class/net`), as keepalived does; `--any-interface`
//! takes every named interface to exist. `--dump` prints the typed
//! configuration.

use std::process::ExitCode;

use lvskit::config::{FsLoader, HostInfo, LoadOptions, load};

fn usage() -> ExitCode {
    eprintln!("usage: keepalived-check [-f FILE] [-i CONFIG_ID] [--dump] [--any-interface]");
    ExitCode::from(1)
}

fn host_name() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim();
    Some(h.split('.').next().unwrap_or(h).to_owned())
}

fn interfaces() -> Option<Vec<String>> {
    let rd = std::fs::read_dir("/sys/class/net").ok()?;
    Some(rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
}

fn main() -> ExitCode {
    let mut file = "/etc/keepalived/keepalived.conf".to_owned();
    let mut config_id: Option<String> = None;
    let mut dump = false;
    let mut any_interface = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-f" | "--use-file" => match args.next() {
                Some(f) => file = f,
                None => return usage(),
            },
            "-i" | "--config-id" => match args.next() {
                Some(i) => config_id = Some(i),
                None => return usage(),
            },
            "--dump" => dump = true,
            "--any-interface" => any_interface = true,
            "-h" | "--help" => {
                let _ = usage();
                return ExitCode::SUCCESS;
            }
            s if s.starts_with("--use-file=") => file = s["--use-file=".len()..].to_owned(),
            s if s.starts_with("--config-id=") => config_id = Some(s["--config-id=".len()..].to_owned()),
            _ => return usage(),
        }
    }
    let cwd = std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = LoadOptions {
        config_id: config_id.or_else(host_name),
        host: HostInfo { interfaces: if any_interface { None } else { interfaces() } },
        cwd,
        random_seed: 0,
        max_generated_lines: None,
    };
    let loaded = load(&file, &FsLoader, &opts);
    eprint!("{}", loaded.check_report(&file));
    if dump {
        print!("{}", loaded.config.dump());
    }
    let code = loaded.check_exit_code();
    // The process ends here: handing a large configuration back to the
    // allocator piece by piece would only slow the exit.
    std::mem::forget(loaded);
    ExitCode::from(code)
}

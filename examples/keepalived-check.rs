//! `keepalived-check`: the twin of `keepalived -t`, built on lvskit's
//! configuration reader.
//!
//! ```text
//! cargo run --example keepalived-check -- [-f FILE] [-i CONFIG_ID] [--dump] [--any-interface] [--no-huge-pages]
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
//!
//! Memory: built with the `huge-pages` feature (64-bit glibc on Linux), a
//! large file (1 MiB or more) is read into a heap prepared for it first
//! (see `prepare_heap`): glibc is asked to grow its heap in one
//! step sized for the configuration, and that step is advised for
//! transparent huge pages, so the tens of megabytes the typed
//! configuration of a large file takes are faulted in 2 MiB at a time
//! instead of 4 KiB at a time. `--no-huge-pages` leaves the heap as glibc
//! sets it up (the output is the same either way; without the feature the
//! flag is accepted and changes nothing).

use std::process::ExitCode;

use lvskit::config::{FsLoader, HostInfo, LoadOptions, load};

fn usage() -> ExitCode {
    eprintln!("usage: keepalived-check [-f FILE] [-i CONFIG_ID] [--dump] [--any-interface] [--no-huge-pages]");
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
    let mut huge_pages = true;
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
            "--no-huge-pages" => huge_pages = false,
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
    if huge_pages {
        if let Ok(md) = std::fs::metadata(&file) {
            prepare_heap(md.len());
        }
    }
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

/// Prepares glibc's heap for loading a configuration file of `file_len`
/// bytes, when it is 1 MiB or more (smaller files are read on the heap as
/// glibc sets it up).
///
/// The typed configuration takes about three times the file's size, in
/// hundreds of thousands of small allocations. On the heap as glibc sets it
/// up, each 4 KiB page of them costs a page fault on first touch: for a
/// 9 MB file of 10 000 virtual servers that is 7 900 faults and a third of
/// the process's time. Here the heap is grown once, by eight times the
/// file's size (`M_TOP_PAD`; allocations up to 32 MiB are kept on it
/// instead of in mappings of their own, `M_MMAP_THRESHOLD`), and the new
/// part of it is advised `MADV_HUGEPAGE`, so that the kernel backs it with
/// 2 MiB pages where it has them (the whole process then takes about 800
/// faults, and 30 ms instead of 40 on the 10 000-server file). Where the
/// kernel has no transparent huge pages (or `madvise` refuses), the heap is
/// simply larger from the start and pages come 4 KiB at a time as before;
/// where it must first compact memory to find huge pages (the `madvise`
/// setting of `transparent_hugepage/defrag`), a run can take longer
/// instead. Untouched parts of the step are never resident, but a touched
/// huge page is resident whole (38 MB resident instead of 34 on that file),
/// and under strict overcommit the whole step counts against the commit
/// limit. Should the heap not grow by the step, the three settings are
/// reset to glibc's default values (which leaves glibc's dynamic mmap
/// threshold off, and overrides any set through `GLIBC_TUNABLES`). Only
/// 64-bit glibc on Linux has these knobs as used here (32-bit glibc refuses
/// the 32 MiB threshold and the step is then not taken); elsewhere this
/// does nothing.
#[cfg(all(feature = "huge-pages", target_os = "linux", target_env = "gnu"))]
fn prepare_heap(file_len: u64) {
    const HUGE_PAGE: usize = 2 << 20;
    // glibc's defaults, put back should the heap not grow as asked.
    const DEFAULT_PAD: libc::c_int = 128 << 10;
    const LARGE_FILE: u64 = 1 << 20;
    if file_len < LARGE_FILE {
        return;
    }
    // Eight times the file, in whole huge pages, at most 1 GiB.
    let pad = (file_len.saturating_mul(8).min(1 << 30) as usize).next_multiple_of(HUGE_PAGE);
    let Ok(pad_c) = libc::c_int::try_from(pad) else { return };
    // SAFETY: `mallopt`, `malloc` and `free` are glibc's thread-safe
    // allocator interface; the block is freed at once, after one write to
    // its first byte (in bounds), and nothing is read from it. `sbrk(0)`
    // only reads the program break (and the program has one thread here).
    // `madvise(MADV_HUGEPAGE)` only changes how the kernel backs the pages
    // of the range, never their contents, so it cannot break what any code
    // holds; the range also lies within what the heap grew by (between the
    // program break before and after the allocation that grew it).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, pad_c.saturating_mul(2));
        libc::mallopt(libc::M_TOP_PAD, pad_c);
        let before = libc::sbrk(0) as usize;
        // Larger than what the heap has left at start-up, so that glibc
        // grows the heap now, by the pad.
        let block = libc::malloc(HUGE_PAGE);
        if !block.is_null() {
            // A write the compiler must keep, or it may drop the unused
            // allocation, and the growth with it.
            std::ptr::write_volatile(block.cast::<u8>(), 0);
            libc::free(block);
        }
        let after = libc::sbrk(0) as usize;
        if block.is_null() || after.saturating_sub(before) < pad {
            // No room for the step (strict overcommit, a break that cannot
            // move): back to glibc's default values.
            libc::mallopt(libc::M_TOP_PAD, DEFAULT_PAD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, DEFAULT_PAD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, DEFAULT_PAD);
            return;
        }
        let start = before.next_multiple_of(HUGE_PAGE);
        if after > start {
            libc::madvise(start as *mut libc::c_void, after - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Does nothing: the heap knobs are glibc's, on Linux, and used with the
/// `huge-pages` feature.
#[cfg(not(all(feature = "huge-pages", target_os = "linux", target_env = "gnu")))]
fn prepare_heap(_file_len: u64) {}

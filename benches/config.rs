//! Reading a large keepalived.conf: 10 000 virtual servers with 4 real
//! servers each, every real server with a `TCP_CHECK` (430 000 lines,
//! 9 MB), against `keepalived -t` on the same file (goal: lvskit at least
//! ten times faster).
//!
//! * `config_10k/lvskit_load`: `config::load` through the file system
//!   (read, lex, each top-level block's directive tree lowered into the
//!   typed model as soon as read, diagnostics);
//! * `config_10k/lvskit_parse`: the directive tree alone, from memory;
//! * `config_10k/lvskit_services`: lowering the model to the shared
//!   `ipvs::ServiceConfig`/`DestConfig` list;
//! * `config_10k/keepalived_t`: `/usr/sbin/keepalived -t -f FILE`, the
//!   whole process, when keepalived is installed (its verdict must be 0);
//! * `config_10k/keepalived_check_process` and
//!   `keepalived_check_process_no_huge_pages`: the `keepalived-check`
//!   example (`cargo build --release --example keepalived-check` first), the
//!   whole process likewise, with and without its huge-page heap: the
//!   process-against-process comparison with `keepalived_t` (a repeated
//!   `lvskit_load` in this process reuses memory the allocator already holds
//!   and pays none of the page faults a first load pays).
//!
//! The file is written to `target/config-bench-10k.conf`.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../tests/example_support/mod.rs"]
mod example_support;
use lvskit::config::{FsLoader, LoadOptions, MemoryLoader, load, parse};

const VIRTUAL_SERVERS: usize = 10_000;
const REAL_SERVERS: usize = 4;
const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// The configuration: virtual servers 10.X.Y.1:80 (X.Y counting up), real
/// servers 10.X.Y.10.. with weights 1..4 and a TCP_CHECK each.
fn generate() -> String {
    let mut s = String::with_capacity(10 << 20);
    s.push_str("global_defs {\n    router_id BENCH\n}\n");
    for i in 0..VIRTUAL_SERVERS {
        let (a, b) = (10 + i / 250, 1 + i % 250);
        s.push_str(&format!(
            "virtual_server 10.{a}.{b}.1 80 {{\n    delay_loop 6\n    lb_algo wrr\n    lb_kind DR\n    persistence_timeout 50\n    protocol TCP\n"
        ));
        for r in 0..REAL_SERVERS {
            s.push_str(&format!(
                "    real_server 10.{a}.{b}.{} 80 {{\n        weight {}\n        TCP_CHECK {{\n            connect_timeout 3\n            retry 3\n            delay_before_retry 3\n            connect_port 80\n        }}\n    }}\n",
                10 + r,
                1 + r
            ));
        }
        s.push_str("}\n");
    }
    s
}

fn file() -> (PathBuf, String) {
    let text = generate();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).expect("target directory");
    let path = dir.join("config-bench-10k.conf");
    std::fs::write(&path, &text).expect("write the configuration");
    (path, text)
}

fn bench(c: &mut Criterion) {
    let (path, text) = file();
    let path_str = path.to_str().expect("UTF-8 path").to_owned();
    let opts = LoadOptions::default();

    // The file must read cleanly, into every service, for the figures to
    // mean anything.
    let loaded = load(&path_str, &FsLoader, &opts);
    assert!(loaded.diagnostics.is_empty(), "{}", loaded.diagnostics[0]);
    let services = loaded.config.ipvs_services();
    assert_eq!(services.len(), VIRTUAL_SERVERS);
    assert!(services.iter().all(|(_, d)| d.len() == REAL_SERVERS));

    let mut g = c.benchmark_group("config_10k");
    g.sample_size(20);
    // The result is dropped outside the timing: the figure is the time to
    // have the configuration in hand (freeing it takes about 5 ms more).
    g.bench_function("lvskit_load", |b| b.iter_with_large_drop(|| load(black_box(&path_str), &FsLoader, &opts)));
    let memory = MemoryLoader::new().with("/bench/keepalived.conf", text.clone().into_bytes());
    g.bench_function("lvskit_parse", |b| b.iter_with_large_drop(|| parse("/bench/keepalived.conf", &memory, &opts)));
    g.bench_function("lvskit_services", |b| b.iter(|| black_box(loaded.config.ipvs_services())));
    if std::path::Path::new(KEEPALIVED).exists() {
        let status = Command::new(KEEPALIVED).args(["-t", "-f", &path_str]).status().expect("run keepalived");
        assert!(status.success(), "keepalived -t refuses the file: {status}");
        g.sample_size(10);
        g.bench_function("keepalived_t", |b| {
            b.iter(|| {
                let s = Command::new(KEEPALIVED).args(["-t", "-f", &path_str]).status().expect("run keepalived");
                assert!(s.success());
            })
        });
    } else {
        eprintln!("note: {KEEPALIVED} is not installed; no keepalived figure");
    }
    match example_support::example_binary("keepalived-check") {
        Ok(bin) => {
            let run = |extra: &[&str]| {
                let s = Command::new(&bin)
                    .args(["-f", &path_str, "--any-interface"])
                    .args(extra)
                    .status()
                    .expect("run keepalived-check");
                assert_eq!(s.code(), Some(0), "keepalived-check reports the file");
            };
            run(&[]);
            g.sample_size(10);
            g.bench_function("keepalived_check_process", |b| b.iter(|| run(&[])));
            g.bench_function("keepalived_check_process_no_huge_pages", |b| b.iter(|| run(&["--no-huge-pages"])));
        }
        Err(why) => eprintln!(
            "note: {why} (cargo build --release --features huge-pages --example keepalived-check); no keepalived-check process figure"
        ),
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

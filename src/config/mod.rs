//! Configuration: `keepalived.conf` as keepalived 2.2.7 reads it, and the
//! `ipvsadm` rule formats.
//!
//! Reading a `keepalived.conf` goes through three stages, each usable on its
//! own:
//!
//! 1. [`lexer`]: keepalived's line reader, with comments, `@id` conditional
//!    lines, `$NAME` definitions, `~SEQ`/`~LST` expansion and `include`s
//!    (through a [`Loader`], so files can come from memory);
//! 2. [`tree`]: the directive tree with byte spans ([`Document`]);
//! 3. lowering into the typed [`Config`] ([`model`]), with keepalived's
//!    defaults and checks.
//!
//! [`parse`] stops after the tree; [`load`] lowers each top-level block as
//! soon as it is read and keeps no tree (memory: the sources and the typed
//! configuration, plus one top-level block at a time).
//!
//! Problems never stop loading: every one of them becomes a [`Diagnostic`]
//! (file, line, column, source line and caret), marked with how keepalived
//! itself treats it. [`Loaded::into_result`] separates what keepalived would
//! still run (a [`Config`] with its warnings) from what it cannot run
//! ([`ConfigError`]).
//!
//! ```
//! use lvskit::config::{load_str, LoadOptions};
//!
//! let text = "\
//! virtual_server 192.0.2.1 80 {
//!     lvs_sched rr
//!     lvs_method DR
//!     protocol TCP
//!     real_server 198.51.100.1 80 {
//!         weight 2
//!         TCP_CHECK {
//!             connect_timeout 3
//!         }
//!     }
//! }
//! ";
//! let loaded = load_str("keepalived.conf", text, &LoadOptions::default());
//! assert!(loaded.diagnostics.is_empty());
//! let (service, dests) = &loaded.config.ipvs_services()[0];
//! assert_eq!(service.scheduler, "rr");
//! assert_eq!(dests[0].weight, 2);
//! assert_eq!(loaded.config.virtual_servers[0].real_servers[0].checkers[0].retry, 1);
//! ```
//!
//! The `ipvsadm` formats (command lines, save/restore rules, `ipvsadm -L`
//! listings) are in [`ipvsadm`].
//!
//! Deliberate differences from keepalived are listed in the README
//! ("Configuration").

pub mod diag;
pub mod dump;
#[doc(hidden)]
pub mod fuzzing;
pub mod ipvsadm;

pub mod keywords;
pub mod lexer;
pub mod loader;
mod lower;
pub mod model;
pub mod source;
pub mod store;
pub mod tree;

use std::fmt;

pub use diag::{Abort, ConfigErr, Diagnostic, KeepalivedVerdict, Pass, Severity, keepalived_verdict};
pub use loader::{FileKind, FsLoader, LoadError, Loader, MemoryLoader};
pub use lower::{HostInfo, split_quoted_escaped};
pub use model::*;
pub use source::{FileId, Location, SourceFile, SourceMap, Span};
pub use store::ConfigStore;
pub use tree::{Block, Directive, Document, Word};

/// How to read a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The configuration id `@ID` lines are compared with (`keepalived -i`;
    /// keepalived uses the host name when not given). `None` keeps only
    /// `@^ID` lines.
    pub config_id: Option<String>,
    /// What is known about the host (interfaces).
    pub host: HostInfo,
    /// The working directory, for relative paths in `$_PWD` when the main
    /// file's path has no directory.
    pub cwd: String,
    /// Seed of `${_RANDOM}` (keepalived seeds from the clock or
    /// `random_seed`; lvskit is deterministic).
    pub random_seed: u64,
    /// The most lines `~SEQ`, `~LST` and multi-line definitions may produce
    /// ([`lexer::MAX_GENERATED`], a million, when `None`).
    pub max_generated_lines: Option<usize>,
}

/// A loaded configuration: its sources, what it means, and every problem.
pub struct Loaded {
    /// The files read (diagnostics' spans point into them). The directive
    /// tree is not kept: [`parse`] gives it.
    pub sources: SourceMap,
    /// The typed configuration (what keepalived would run, as far as it
    /// could be read).
    pub config: Config,
    /// Every problem found, in the order found, with locations resolved.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("files", &self.sources.len())
            .field("config", &self.config)
            .field("diagnostics", &self.diagnostics)
            .finish()
    }
}

impl Loaded {
    /// Whether any problem is an error (keepalived would not run it).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// What `keepalived -t` (2.2.7) would do with the same file.
    pub fn keepalived_verdict(&self) -> KeepalivedVerdict {
        keepalived_verdict(&self.diagnostics)
    }

    /// The exit status of `keepalived-check` (`examples/keepalived-check.rs`),
    /// the twin of `keepalived -t`: 0 when there is nothing to report;
    /// keepalived's own status where keepalived reports the file (2: a
    /// keyword missing its parameter, 4: cannot run, 5: runs with errors
    /// reported, 6: script security or a checked `include`); 4 where
    /// keepalived would crash or hang, or lvskit finds an error keepalived
    /// does not report; 5 where only lvskit has warnings (keepalived's own
    /// status for a file it runs with complaints).
    pub fn check_exit_code(&self) -> u8 {
        match self.keepalived_verdict() {
            KeepalivedVerdict::Exit(0) if self.has_errors() => 4,
            KeepalivedVerdict::Exit(0) if !self.diagnostics.is_empty() => 5,
            KeepalivedVerdict::Exit(c) => c,
            KeepalivedVerdict::Crash | KeepalivedVerdict::Hang => 4,
        }
    }

    /// What `keepalived-check` prints on standard error for `file`: every
    /// diagnostic, then (when there is any) a summary line with the counts
    /// and what `keepalived -t` would do.
    pub fn check_report(&self, file: &str) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.to_string());
        }
        if !self.diagnostics.is_empty() {
            let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
            let warnings = self.diagnostics.len() - errors;
            out.push_str(&format!(
                "{file}: {errors} error(s), {warnings} warning(s); keepalived -t: {}\n",
                self.keepalived_verdict()
            ));
        }
        out
    }

    /// The configuration with its warnings if nothing is an error, else
    /// every diagnostic.
    pub fn into_result(self) -> Result<Checked, ConfigError> {
        if self.has_errors() {
            Err(ConfigError { diagnostics: self.diagnostics })
        } else {
            Ok(Checked { config: self.config, warnings: self.diagnostics })
        }
    }
}

/// A configuration keepalived would run, with the warnings found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The configuration.
    pub config: Config,
    /// Warnings (keepalived's and lvskit's).
    pub warnings: Vec<Diagnostic>,
}

/// A configuration that cannot be run: every diagnostic (errors and
/// warnings), in order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// All diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors().count();
        writeln!(f, "configuration has {n} error{}", if n == 1 { "" } else { "s" })?;
        for d in &self.diagnostics {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

fn lex_options(opts: &LoadOptions) -> lexer::LexOptions {
    lexer::LexOptions {
        config_id: opts.config_id.clone(),
        cwd: opts.cwd.clone(),
        random_seed: opts.random_seed,
        max_generated: opts.max_generated_lines,
        no_fast_path: false,
    }
}

/// Reads the directive tree of `path` (and its includes) without lowering
/// it. Diagnostics are those of reading (quotes, braces, includes,
/// definitions).
pub fn parse<L: Loader + ?Sized>(path: &str, loader: &L, opts: &LoadOptions) -> (Document, Vec<Diagnostic>) {
    let mut pp = lexer::Preprocessor::new(loader, lex_options(opts));
    pp.open_main(path);
    let doc = tree::parse(&mut pp);
    (doc, pp.diags)
}

/// Loads `path` through `loader`: reads, lowers and checks it.
///
/// The file is lowered while it is read, one top-level block at a time,
/// and the directive tree is not kept (use [`parse`] for it): memory holds
/// the sources and the typed configuration. A `global_defs` block after
/// other top-level directives (keepalived reads every `global_defs` first)
/// makes lvskit read the file again as a whole, with the same result.
pub fn load<L: Loader + ?Sized>(path: &str, loader: &L, opts: &LoadOptions) -> Loaded {
    let mut pp = lexer::Preprocessor::new(loader, lex_options(opts));
    pp.open_main(path);
    let mut st = lower::Lowering::new(&opts.host);
    let mut in_order = true;
    let doc = tree::stream(&mut pp, &mut |d| {
        in_order = st.top(d);
        in_order
    });
    if !in_order {
        return load_whole(path, loader, opts);
    }
    let mut diagnostics = pp.diags;
    let (config, more) = st.finish();
    diagnostics.extend(more);
    finish_load(doc.into_sources(), config, diagnostics)
}

/// [`load`] of the whole tree at once.
fn load_whole<L: Loader + ?Sized>(path: &str, loader: &L, opts: &LoadOptions) -> Loaded {
    let (document, mut diagnostics) = parse(path, loader, opts);
    let (config, more) = lower::lower(&document, &opts.host);
    diagnostics.extend(more);
    finish_load(document.into_sources(), config, diagnostics)
}

fn finish_load(sources: SourceMap, config: Config, mut diagnostics: Vec<Diagnostic>) -> Loaded {
    for d in &mut diagnostics {
        d.resolve(&sources);
    }
    Loaded { sources, config, diagnostics }
}

/// Loads a configuration held in a string (its includes, if any, resolve
/// against an empty file system). `name` is the file name diagnostics show.
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let loader = MemoryLoader::new().with(name, text);
    load(name, &loader, opts)
}

/// Every configuration file the equivalence tests read: the verdict
/// corpus, the fuzz corpus and, when installed, the samples keepalived
/// ships, as (name, bytes).
#[cfg(test)]
pub(crate) fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
    let samples = std::path::Path::new("/usr/share/doc/keepalived/samples");
    for dir in [root.join("tests/data/config/verdicts"), root.join("fuzz/corpus/config_keepalived"), samples.to_owned()]
    {
        if dir == samples && !samples.exists() {
            continue;
        }
        for e in std::fs::read_dir(dir).expect("corpus") {
            let p = e.expect("entry").path();
            texts.push((p.display().to_string(), std::fs::read(&p).expect("read")));
        }
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowering while reading gives exactly what lowering the whole tree
    /// gives: same configuration, same diagnostics in the same order (the
    /// verdict corpus, the fuzz corpus, the shipped samples, and files that
    /// exercise what streaming must get right).
    #[test]
    fn streaming_loads_as_the_whole_tree() {
        let mut texts = corpus();
        let vs = |a: &str| {
            format!(
                "virtual_server {a} 80 {{\n lvs_sched rr\n real_server 192.0.2.9 80 {{\n  TCP_CHECK {{\n  }}\n }}\n}}\n"
            )
        };
        for t in [
            // A global_defs after other blocks: read first all the same.
            format!("{}global_defs {{\n smtp_alert_checker\n router_id x\n}}\n{}", vs("192.0.2.1"), vs("192.0.2.2")),
            // A group used before it is defined, between plain servers.
            format!(
                "{}virtual_server group G {{\n quorum 9\n real_server 192.0.2.7 80 {{\n }}\n}}\n{}virtual_server_group G {{\n 192.0.2.5 80\n}}\n",
                vs("192.0.2.1"),
                vs("192.0.2.2")
            ),
            // Tracked scripts defined later, earlier, never.
            "vrrp_script e {\n script /bin/true\n}\nvrrp_instance I {\n state MASTER\n interface eth0\n virtual_router_id 1\n priority 100\n track_script {\n  e\n  l\n  n\n }\n}\nvrrp_script l {\n script /bin/true\n}\n".to_owned(),
            // Unclosed blocks and stray braces at the top level.
            format!("}}\n{{\nfoo\n}}\n{}bar {{\nvirtual_server 192.0.2.3 80 {{\n", vs("192.0.2.1")),
        ] {
            texts.push((format!("{t:?}"), t.into_bytes()));
        }
        let opts =
            LoadOptions { config_id: Some("a".into()), max_generated_lines: Some(500), ..LoadOptions::default() };
        for (name, text) in texts {
            let l = MemoryLoader::new().with("/k.conf", text);
            let render = |x: Loaded| {
                let d: Vec<String> = x.diagnostics.iter().map(|d| d.to_string()).collect();
                (format!("{:?}", x.config), d)
            };
            assert_eq!(render(load("/k.conf", &l, &opts)), render(load_whole("/k.conf", &l, &opts)), "{name}");
        }
    }
}

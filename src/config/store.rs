//! [`ConfigStore`]: the configuration in force, replaced on reload only by
//! one that can run.
//!
//! A daemon built on lvskit loads its `keepalived.conf` at start and again
//! on SIGHUP. keepalived itself, on reload, runs whatever it could read of
//! the new file unless `reload_check_config` is set, in which case it checks
//! the new file first and keeps the old configuration when the check fails
//! (`keepalived/core/main.c`). The store always does the latter: a file with
//! errors ([`Loaded::has_errors`]) leaves the configuration in force
//! untouched and comes back as a [`ConfigError`]; a file with warnings only
//! (which keepalived runs) replaces it. Sans-IO apart from the [`Loader`]
//! the caller gives; no clock, no signals.

use super::{Checked, ConfigError, LoadOptions, Loaded, Loader, load};

/// The configuration in force and how many times it was (re)placed.
#[derive(Debug, Clone, Default)]
pub struct ConfigStore {
    current: Option<Checked>,
    generation: u64,
}

impl ConfigStore {
    /// An empty store (nothing loaded yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration in force, with the warnings it was loaded with.
    pub fn current(&self) -> Option<&Checked> {
        self.current.as_ref()
    }

    /// How many configurations have been put in force (0 before the first).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Loads `path` and, when it has no error, puts it in force. On error
    /// the configuration in force stays as it was.
    pub fn reload<L: Loader + ?Sized>(
        &mut self,
        path: &str,
        loader: &L,
        opts: &LoadOptions,
    ) -> Result<&Checked, ConfigError> {
        self.apply(load(path, loader, opts))
    }

    /// Puts an already loaded configuration in force when it has no error.
    pub fn apply(&mut self, loaded: Loaded) -> Result<&Checked, ConfigError> {
        let checked = loaded.into_result()?;
        self.generation += 1;
        Ok(self.current.insert(checked))
    }
}

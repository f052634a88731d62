//! The `ipvsadm` formats, as ipvsadm 1.31 (Debian 12) reads and writes
//! them:
//!
//! * command lines (`-A -t 192.0.2.1:80 -s rr`, `-a ... -r ... -m -w 3`,
//!   `--set`, `--start-daemon` ...) into [`Command`]s and the backend's
//!   [`IpvsOp`]s ([`parse_args`]), and back ([`command_line`]);
//! * `ipvsadm-save` / `ipvsadm-restore` rule files ([`parse_rules`],
//!   [`save`]), with and without `-n` (ports named from a built-in copy of
//!   Debian's `/etc/services`; addresses are never looked up);
//! * the listings `ipvsadm -Ln`, `-Ln --stats`, `--rate`, `--exact`,
//!   `--thresholds`, `--persistent-conn`, `--timeout` and `--daemon`
//!   ([`list`]), character for character, in ipvsadm's order (its
//!   comparison, integer wrap-arounds included, under glibc's merge sort).
//!
//! ```
//! use lvskit::backend::{IpvsBackend, MemoryIpvs};
//! use lvskit::config::ipvsadm::{self, ListOptions};
//!
//! let mut ipvs = MemoryIpvs::new();
//! for op in ipvsadm::parse_rules("-A -t 192.0.2.1:http -s rr\n-a -t 192.0.2.1:http -r 198.51.100.1:http -g -w 2\n")? {
//!     ipvs.execute(&op)?;
//! }
//! let services = ipvs.services()?;
//! assert_eq!(ipvsadm::save(&services, true), "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 2\n");
//! let listing = ipvsadm::list(&ipvs.info()?, &services, &ListOptions { numeric: true, ..ListOptions::default() });
//! assert!(listing.contains("  -> 198.51.100.1:80              Route   2      0          0         \n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Differences from the real tool: host names are neither resolved when read
//! (an error) nor printed (addresses stay numeric, as ipvsadm prints them
//! when it cannot resolve them); `-c` (connection listing) is read but not
//! rendered; some messages carry the offending text after ipvsadm's wording
//! ([`ArgsError`]). Weights are read up to 2147483647 as ipvsadm 1.31 reads
//! them (the kernel takes them too); lvskit's backends refuse those above
//! [`MAX_WEIGHT`](crate::ipvs::dest::MAX_WEIGHT).

mod emit;
mod list;
mod parse;
pub mod services;

pub use emit::{command_line, save};
pub use list::{list, list_daemons, list_timeout, sort_dests, sort_services};
pub use parse::{ArgsError, RuleError, RulesError, inet_aton, parse_args, parse_rules};

use crate::backend::IpvsOp;
use crate::ipvs::ServiceKey;

/// One `ipvsadm` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A command that changes the table (`-A -E -D -a -e -d -C -Z --set
    /// --start-daemon --stop-daemon`).
    Op(IpvsOp),
    /// `-L` / `-l`.
    List(ListOptions),
    /// `-S` (`-n` for numeric ports).
    Save {
        /// `-n`.
        numeric: bool,
    },
    /// `-R`.
    Restore,
    /// `-h`.
    Help,
    /// `-v`.
    Version,
}

/// The columns of a service listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListFormat {
    /// Scheduler, forwarding method, weight and connections.
    #[default]
    Default,
    /// `--stats`: connections, packets and bytes.
    Stats,
    /// `--rate`: per-second rates.
    Rate,
    /// `--thresholds`: connection thresholds.
    Thresholds,
    /// `--persistent-conn`: persistence templates.
    PersistentConn,
}

/// What `ipvsadm -L` was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOptions {
    /// `-n`: ports as numbers.
    pub numeric: bool,
    /// The columns.
    pub format: ListFormat,
    /// `--exact`: counters without K/M/G/T abbreviation.
    pub exact: bool,
    /// `--nosort`: the table's own order.
    pub nosort: bool,
    /// `-t`/`-u`/`--sctp-service`/`-f`: only this service (and no version
    /// header).
    pub service: Option<ServiceKey>,
    /// `--timeout`.
    pub timeout: bool,
    /// `--daemon`.
    pub daemon: bool,
    /// `-c`: connections (read, not rendered by lvskit).
    pub connections: bool,
}

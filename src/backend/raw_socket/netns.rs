//! [`enter_netns`]: run a thread in another network namespace, as
//! keepalived's `net_namespace` keyword runs the whole daemon in one
//! (`set_namespaces` in `keepalived/core/namespaces.c` opens
//! `/var/run/netns/NAME` and calls `setns`).
//!
//! Sockets, including netlink ones, belong to the namespace of the thread
//! that opens them, so a [`Driver`](super::Driver) built on a thread after
//! this call lives entirely in that namespace; other threads are not moved.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use super::error::{RawSocketError, SocketOp};
use super::sys;

/// Moves the calling thread into network namespace `name`: a name made by
/// `ip netns add` (`/run/netns/NAME`), or a path such as
/// `/proc/PID/ns/net`. Needs `CAP_SYS_ADMIN`.
pub fn enter_netns(name: &str) -> Result<(), RawSocketError> {
    let path = if name.contains('/') { PathBuf::from(name) } else { PathBuf::from("/run/netns").join(name) };
    let op = || SocketOp::Netns(path.display().to_string());
    let f = File::open(&path).map_err(RawSocketError::io(op()))?;
    sys::setns_net(f.as_fd()).map_err(RawSocketError::io(op()))
}

//! Scripts: `MISC_CHECK` programs and notify scripts, executed without a
//! shell in their own process group, with keepalived's timeout sequence
//! (`misc_check_child_thread`, `check/check_misc.c`): SIGTERM to the group
//! at the timeout, SIGKILL two seconds later, and SIGKILL to the group once
//! the script is gone, for any children it left.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal, kill_process_group, pidfd_open};

use crate::check::outcome::ScriptExit;
use crate::check::spec::Script;

/// Time between SIGTERM and SIGKILL (keepalived: two seconds).
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Where a running script is in the timeout sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Running,
    TermSent,
    KillSent,
}

/// A running script.
#[derive(Debug)]
pub(crate) struct Running {
    pub child: Child,
    /// Readable when the child exits (Linux 5.3+); `None` means poll.
    pub pidfd: Option<OwnedFd>,
    pub stage: Stage,
}

/// Starts `script` without a shell: argv as given, stdin/stdout/stderr on
/// `/dev/null`, in a new process group, as its user and group if set.
pub(crate) fn spawn(script: &Script) -> io::Result<Running> {
    let mut cmd = Command::new(&script.argv[0]);
    cmd.args(&script.argv[1..]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    if let Some(gid) = script.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = script.uid {
        cmd.uid(uid);
    }
    let child = cmd.spawn()?;
    let pidfd = pidfd_open(Pid::from_child(&child), PidfdFlags::NONBLOCK).ok();
    Ok(Running { child, pidfd, stage: Stage::Running })
}

impl Running {
    fn pgid(&self) -> Option<Pid> {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Moves the timeout sequence on (called at each deadline); returns
    /// when to call again.
    pub fn escalate(&mut self, now: Instant) -> Instant {
        let (sig, next, wait) = match self.stage {
            Stage::Running => (Signal::TERM, Stage::TermSent, KILL_GRACE),
            Stage::TermSent => (Signal::KILL, Stage::KillSent, KILL_GRACE),
            // keepalived waits longer once SIGKILL did not work.
            Stage::KillSent => (Signal::KILL, Stage::KillSent, Duration::from_secs(10)),
        };
        if let Some(pg) = self.pgid() {
            // The group may be gone already; the exit will be seen anyway.
            let _ = kill_process_group(pg, sig);
        }
        self.stage = next;
        now + wait
    }

    /// Kills the script and its process group, and reaps it.
    pub fn kill(&mut self) {
        if let Some(pg) = self.pgid() {
            let _ = kill_process_group(pg, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit, if the script is done.
    pub fn try_exit(&mut self) -> io::Result<Option<ScriptExit>> {
        let Some(status) = self.child.try_wait()? else { return Ok(None) };
        if self.stage != Stage::Running {
            // Anything the script started goes too (keepalived's kill(-pid, SIGKILL)).
            if let Some(pg) = self.pgid() {
                let _ = kill_process_group(pg, Signal::KILL);
            }
        }
        Ok(Some(match (status.code(), status.signal()) {
            (Some(code), _) => ScriptExit::Exited(code as u8),
            (None, Some(sig)) => {
                let timed_out = match self.stage {
                    Stage::Running => false,
                    Stage::TermSent => sig == Signal::TERM.as_raw(),
                    Stage::KillSent => sig == Signal::TERM.as_raw() || sig == Signal::KILL.as_raw(),
                };
                ScriptExit::Signaled { signal: sig, timed_out }
            }
            (None, None) => ScriptExit::Signaled { signal: 0, timed_out: self.stage != Stage::Running },
        }))
    }
}

/// Runs `script` to its end, waiting at most `timeout` before the
/// SIGTERM/SIGKILL sequence. Blocks the calling thread; for use outside an
/// event loop (the [`Runner`](super::Runner) runs scripts without
/// blocking).
pub fn run_blocking(script: &Script, timeout: Duration) -> ScriptExit {
    let mut r = match spawn(script) {
        Ok(r) => r,
        Err(e) => return ScriptExit::SpawnFailed { kind: e.kind(), errno: e.raw_os_error() },
    };
    let mut deadline = Instant::now() + timeout;
    loop {
        match r.try_exit() {
            Ok(Some(x)) => return x,
            Ok(None) => {}
            Err(e) => return ScriptExit::SpawnFailed { kind: e.kind(), errno: e.raw_os_error() },
        }
        let now = Instant::now();
        if now >= deadline {
            deadline = r.escalate(now);
        }
        std::thread::sleep(Duration::from_millis(5).min(deadline.saturating_duration_since(now)));
    }
}

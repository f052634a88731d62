//! Tracked objects: how an interface, script, file, process or BFD session
//! moves an instance's effective priority or puts it in FAULT, and
//! [`ScriptTracker`], keepalived's `rise`/`fall` counting of a
//! `vrrp_script`'s exit codes.
//!
//! keepalived updates `total_priority` incrementally as objects change
//! (`vrrp_track.c`, `process_if_status_change` in `keepalived_netlink.c`,
//! `track_file.c`). Its increments add up to a function of each object's
//! current state, which is what [`contribution`] computes, so an instance
//! can recompute its priority from scratch after any change and land where
//! keepalived lands.

use super::config::{TrackKind, TrackState, TrackedObject};

/// What one tracked object does to its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contribution {
    /// Adds this much to the priority (possibly 0 or negative).
    Weight(i64),
    /// Puts the instance in FAULT.
    Fault,
    /// A script with weight 0 that has not reported yet: the instance waits
    /// out of service (keepalived's `num_script_init`).
    Pending,
}

/// The contribution of an object in `state` (keepalived 2.2.7's rules):
///
/// * weight 0: FAULT while down (while up with `reverse`); a file is
///   "down" when it holds a non-zero value;
/// * up/down objects: a positive weight is added while up, a negative one
///   while down, each multiplied by -1 with `reverse`;
/// * files: value x weight (x -1 with `reverse`), clamped to -254..=253;
///   -254 is FAULT.
pub fn contribution(object: &TrackedObject, state: TrackState) -> Contribution {
    let m: i64 = if object.reverse { -1 } else { 1 };
    let w = i64::from(object.weight);
    match (object.kind, state) {
        (_, TrackState::Init) if w == 0 => Contribution::Pending,
        (_, TrackState::Init) => Contribution::Weight(0),
        (TrackKind::File, state) => {
            let value = match state {
                TrackState::Value(v) => v,
                TrackState::Up => 0,
                TrackState::Down => 1,
                TrackState::Init => 0,
            };
            if w == 0 {
                // Non-zero is failure, zero success; reversed with `reverse`.
                if (value != 0) == (m == 1) { Contribution::Fault } else { Contribution::Weight(0) }
            } else {
                let s = value.saturating_mul(w).saturating_mul(m).clamp(-254, 253);
                if s == -254 { Contribution::Fault } else { Contribution::Weight(s) }
            }
        }
        (_, state) => {
            let up = match state {
                TrackState::Up => true,
                TrackState::Down => false,
                TrackState::Value(v) => v != 0,
                TrackState::Init => true,
            };
            if w == 0 {
                if up == (m == 1) { Contribution::Weight(0) } else { Contribution::Fault }
            } else if up {
                Contribution::Weight(if w > 0 { w * m } else { 0 })
            } else {
                Contribution::Weight(if w < 0 { w * m } else { 0 })
            }
        }
    }
}

/// keepalived's `rise`/`fall` state of one `vrrp_script`
/// (`vrrp_script_child_thread`): feed it each run's outcome; it says when
/// the script's tracked state changes.
///
/// It starts in the "init" state with one success to go (keepalived sets
/// `result = rise - 1` so that "one success is enough"), or failed with
/// `init_fail`. The first outcome always reports; after that a success
/// reports once `rise` consecutive successes are reached from the failed
/// side, and a failure once `fall` consecutive failures are reached from
/// the good side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptTracker {
    rise: u32,
    fall: u32,
    result: u32,
    init: bool,
}

impl ScriptTracker {
    /// A tracker with `rise` and `fall` (each at least 1; keepalived's
    /// defaults are 1 and 1).
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        ScriptTracker { rise, fall, result: if init_fail { 0 } else { rise - 1 }, init: !init_fail }
    }

    /// The state to report before the first run.
    pub fn initial_state(&self) -> TrackState {
        if self.init { TrackState::Init } else { TrackState::Down }
    }

    /// Whether the script currently counts as succeeding.
    pub fn is_up(&self) -> bool {
        self.result >= self.rise
    }

    /// Records one run (`true`: exit status 0); returns the new state when
    /// it changes.
    pub fn record(&mut self, success: bool) -> Option<TrackState> {
        let was_init = std::mem::replace(&mut self.init, false);
        let top = self.rise + self.fall - 1;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
                None
            } else if self.result != top {
                let report = self.result < self.rise;
                self.result = top;
                report.then_some(TrackState::Up)
            } else {
                None
            }
        } else if self.result > self.rise {
            self.result -= 1;
            None
        } else {
            let report = self.result == self.rise || was_init;
            self.result = 0;
            report.then_some(TrackState::Down)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: TrackKind, weight: i32, reverse: bool) -> TrackedObject {
        TrackedObject::new(kind, "x", weight).reverse(reverse)
    }

    #[test]
    fn weight_signs() {
        use Contribution::*;
        let s = |w, r, st| contribution(&obj(TrackKind::Script, w, r), st);
        assert_eq!(s(10, false, TrackState::Up), Weight(10));
        assert_eq!(s(10, false, TrackState::Down), Weight(0));
        assert_eq!(s(-10, false, TrackState::Up), Weight(0));
        assert_eq!(s(-10, false, TrackState::Down), Weight(-10));
        assert_eq!(s(10, true, TrackState::Up), Weight(-10));
        assert_eq!(s(-10, true, TrackState::Down), Weight(10));
        assert_eq!(s(0, false, TrackState::Down), Fault);
        assert_eq!(s(0, true, TrackState::Up), Fault);
        assert_eq!(s(0, false, TrackState::Init), Pending);
        assert_eq!(s(5, false, TrackState::Init), Weight(0));
    }

    #[test]
    fn files() {
        use Contribution::*;
        let f = |w, r, v| contribution(&obj(TrackKind::File, w, r), TrackState::Value(v));
        assert_eq!(f(0, false, 0), Weight(0));
        assert_eq!(f(0, false, 3), Fault);
        assert_eq!(f(0, true, 0), Fault);
        assert_eq!(f(2, false, 10), Weight(20));
        assert_eq!(f(2, false, 1000), Weight(253));
        assert_eq!(f(-1, false, 254), Fault);
        assert_eq!(f(-1, false, 253), Weight(-253));
        assert_eq!(f(1, true, 5), Weight(-5));
        assert_eq!(f(i32::MAX, false, i64::MAX), Weight(253));
    }

    #[test]
    fn script_rise_and_fall() {
        // rise 2, fall 3: the first result reports at once.
        let mut t = ScriptTracker::new(2, 3, false);
        assert_eq!(t.initial_state(), TrackState::Init);
        assert_eq!(t.record(true), Some(TrackState::Up));
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(TrackState::Down));
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(TrackState::Up));
        // A failure that interrupts the rise resets it.
        assert_eq!(t.record(false), None);
        let mut t = ScriptTracker::new(2, 1, false);
        assert_eq!(t.record(false), Some(TrackState::Down));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(TrackState::Up));
        assert_eq!(t.record(false), Some(TrackState::Down));
    }

    #[test]
    fn init_fail_starts_down() {
        let mut t = ScriptTracker::new(1, 1, true);
        assert_eq!(t.initial_state(), TrackState::Down);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), Some(TrackState::Up));
    }
}

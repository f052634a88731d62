//! Time as the connection table counts it: jiffies at Debian's HZ of 250
//! (4 ms ticks) since the table's creation.
//!
//! The kernel keeps every connection timeout in jiffies, restarts a
//! connection's timer at `jiffies + timeout` on each packet, and
//! `/proc/net/ip_vs_conn` shows the remaining time as whole seconds rounded
//! down. Counting the same ticks keeps those numbers identical. Entries
//! store ticks as `u32` and compare them by wrapping difference, as the
//! kernel's `time_after` does, which bounds every timeout to 2^31 ticks
//! (`INT_MAX / HZ` seconds, the limit `ip_vs_set_timeout` enforces).
//!
//! The per-packet calls take their `now` as anything [`Now`]: a plain
//! [`Instant`], or a [`Tick`], an `Instant` converted once for a burst of
//! packets, which is how the kernel reads `jiffies` once and uses it for
//! every packet of a softirq run.

use std::time::{Duration, Instant};

/// Ticks per second (Debian's `CONFIG_HZ`).
pub const HZ: u32 = 250;

/// Nanoseconds per tick.
const TICK_NS: u128 = 1_000_000_000 / HZ as u128;

/// Converts between `Instant`s and ticks since an epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new(epoch: Instant) -> Self {
        Clock { epoch }
    }

    /// Whole ticks elapsed at `now` (0 before the epoch). std's `Instant`
    /// subtraction costs about 55 instructions, so the batch calls convert
    /// their `now` once.
    #[inline]
    pub(crate) fn ticks_at(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.epoch);
        d.as_secs() * HZ as u64 + (d.subsec_nanos() as u64 / TICK_NS as u64)
    }

    /// Whole ticks elapsed at `now`, an `Instant` or a [`Tick`] (which
    /// skips the conversion when this clock made it).
    #[inline]
    pub(crate) fn ticks<N: Now>(&self, now: N) -> u64 {
        sealed::Sealed::ticks_since(now, self.epoch)
    }

    /// `now` converted once, for the calls that take it as [`Now`].
    #[inline]
    pub(crate) fn stamp(&self, now: Instant) -> Tick {
        Tick { at: now, epoch: self.epoch, ticks: self.ticks_at(now) }
    }

    /// The instant tick `t` starts.
    #[inline]
    pub(crate) fn instant(&self, t: u64) -> Instant {
        self.epoch + Duration::from_nanos(t.saturating_mul(TICK_NS as u64))
    }
}

/// A moment as a connection table counts it: an [`Instant`] together with
/// its whole 4 ms ticks since the epoch of the table that converted it
/// ([`ConnTable::tick`](super::ConnTable::tick)).
///
/// Every call that takes `now` as an `Instant` converts it, and std's
/// `Instant` subtraction costs about 55 instructions, a sixth of a one-call
/// look-up. A data plane that reads the clock once per burst of packets
/// converts it once into a `Tick` and passes that to each packet's
/// [`process`](super::ConnTable::process) or
/// [`lookup`](super::ConnTable::lookup) on the same table, which then
/// skips the conversion. A `Tick` always means the same moment as its
/// `Instant`: a table with another epoch converts it again from the
/// `Instant`. Not comparable: two `Tick`s of one moment made by tables with
/// different epochs hold different tick counts.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    at: Instant,
    epoch: Instant,
    ticks: u64,
}

impl Tick {
    /// The instant this tick was converted from.
    #[inline]
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Whole ticks ([`HZ`] per second) from the converting table's epoch
    /// to [`instant`](Self::instant), rounded down.
    #[inline]
    pub fn ticks(&self) -> u64 {
        self.ticks
    }
}

pub(crate) mod sealed {
    use std::time::Instant;

    /// Keeps [`Now`](super::Now) to the two types of this module's choice,
    /// and holds its methods, so that they are not public API.
    pub trait Sealed: Copy {
        /// The moment as an `Instant`.
        fn instant(self) -> Instant;

        /// Whole ticks ([`HZ`](super::HZ) per second) from `epoch` to this
        /// moment, 0 before it. A `Tick` converted against `epoch` answers
        /// without arithmetic.
        fn ticks_since(self, epoch: Instant) -> u64;
    }

    impl Sealed for Instant {
        #[inline]
        fn instant(self) -> Instant {
            self
        }

        #[inline]
        fn ticks_since(self, epoch: Instant) -> u64 {
            super::Clock::new(epoch).ticks_at(self)
        }
    }

    impl Sealed for super::Tick {
        #[inline]
        fn instant(self) -> Instant {
            self.at
        }

        #[inline]
        fn ticks_since(self, epoch: Instant) -> u64 {
            if self.epoch == epoch { self.ticks } else { self.at.ticks_since(epoch) }
        }
    }
}

/// What the connection table's per-packet calls take as `now`: an
/// [`Instant`], converted on each call, or a [`Tick`] converted once.
/// Sealed: implemented by these two types only, with no methods of its own.
pub trait Now: sealed::Sealed {}

impl Now for Instant {}

impl Now for Tick {}

/// `now` as an `Instant`.
#[inline]
pub(crate) fn instant_of(now: impl Now) -> Instant {
    sealed::Sealed::instant(now)
}

/// The absolute tick a stored `u32` tick stands for, read relative to
/// `reference` (within ±2^31 ticks of it).
#[inline]
pub(crate) fn widen(reference: u64, t: u32) -> u64 {
    let diff = t.wrapping_sub(reference as u32) as i32 as i64;
    (reference as i64).wrapping_add(diff).max(0) as u64
}

/// Seconds left at tick `now` until the stored `u32` tick `due` (read
/// within ±2^31 ticks of `now`, as [`widen`] reads it), rounded down and
/// never negative (`jiffies_delta_to_msecs(expires - jiffies) / 1000`).
/// Works on the wrapping difference alone: less than 2^31 ticks ahead is
/// less than 2^24 seconds, so nothing saturates.
#[inline]
pub(crate) fn secs_left(due: u32, now: u64) -> u32 {
    let ahead = due.wrapping_sub(now as u32) as i32;
    if ahead <= 0 { 0 } else { (ahead as u64 * (1000 / HZ as u64) / 1000) as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_widening() {
        let t0 = Instant::now();
        let c = Clock::new(t0);
        assert_eq!(c.ticks_at(t0), 0);
        // Clocks with different epochs give different ticks for the same
        // instant, asked in turn.
        let t1 = t0 + Duration::from_secs(1);
        let later = Clock::new(t1);
        assert_eq!(c.ticks_at(t1), 250);
        assert_eq!(later.ticks_at(t1), 0);
        assert_eq!(c.ticks_at(t1), 250);
        assert_eq!(later.ticks_at(t1 + Duration::from_millis(8)), 2);
        assert_eq!(c.ticks_at(t0 + Duration::from_millis(3)), 0);
        assert_eq!(c.ticks_at(t0 + Duration::from_millis(4)), 1);
        assert_eq!(c.ticks_at(t0 + Duration::from_secs(900)), 225_000);
        assert_eq!(c.instant(250), t0 + Duration::from_secs(1));
        assert_eq!(widen(1000, 1500), 1500);
        assert_eq!(widen(1000, 500), 500);
        let big = (1u64 << 32) + 10;
        assert_eq!(widen(big, 5), big - 5);
        assert_eq!(widen(big, 20), big + 10);
        assert_eq!(widen(big - 20, 5), big - 5);
        assert_eq!(secs_left(1000, 0), 4);
        assert_eq!(secs_left(999, 0), 3);
        assert_eq!(secs_left(5, 10), 0);
        assert_eq!(secs_left(5, (1 << 32) + 1005), 0);
        assert_eq!(secs_left(1005, (1 << 32) + 5), 4);
    }

    /// The wrapping form of `secs_left` against the widened tick it stands
    /// for, at the edges of the ±2^31 window and of the epoch.
    #[test]
    fn secs_left_matches_the_widened_due_tick() {
        fn wide(due: u64, now: u64) -> u32 {
            let ticks = due.saturating_sub(now);
            (ticks.saturating_mul(1000 / HZ as u64) / 1000).min(u32::MAX as u64) as u32
        }
        let nows = [0, 1, 249, 250, 1 << 20, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 40) + 3];
        let offsets = [0i64, 1, -1, 249, 250, 251, 999, 1000, -1000, (1 << 31) - 1, -(1 << 31), 225_000, -225_000];
        for &now in &nows {
            for &off in &offsets {
                let due = (now as i64 + off).max(0) as u64;
                let t = due as u32;
                assert_eq!(secs_left(t, now), wide(widen(now, t), now), "now {now} offset {off}");
            }
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (now, t) = (x >> 20, x as u32);
            assert_eq!(secs_left(t, now), wide(widen(now, t), now), "now {now} due {t}");
        }
    }

    #[test]
    fn a_tick_means_its_instant_on_every_clock() {
        let t0 = Instant::now();
        let c = Clock::new(t0);
        let at = t0 + Duration::from_millis(1_234_567);
        let tick = c.stamp(at);
        assert_eq!(tick.instant(), at);
        assert_eq!(tick.ticks(), c.ticks_at(at));
        assert_eq!(c.ticks(tick), c.ticks(at));
        assert_eq!(c.ticks(tick), 308_641);
        // Another epoch converts again, from the instant.
        let later = Clock::new(t0 + Duration::from_secs(1000));
        assert_eq!(later.ticks(tick), later.ticks_at(at));
        // The same epoch takes the stored count as it is.
        let stored = Tick { ticks: 999, ..tick };
        assert_eq!(c.ticks(stored), 999);
        assert_eq!(later.ticks(stored), 58_641);
        assert_eq!(later.ticks(tick), 58_641);
        let after = Clock::new(at + Duration::from_secs(1));
        assert_eq!(after.ticks(tick), 0);
        assert_eq!(sealed::Sealed::instant(at), at);
    }
}

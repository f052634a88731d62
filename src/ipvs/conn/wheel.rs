//! A lazy hierarchical timer wheel: six levels of 64 buckets, 1 tick per
//! bucket at level 0 and 64 times more at each level above, covering 2^36
//! ticks (the longest IPVS timeout is 2^31).
//!
//! Items are 32-bit handles, not timers: the entry a handle names holds its
//! own due time, and a packet that pushes the due time later writes only the
//! entry, never the wheel. When a bucket comes due, each handle is resolved
//! to its entry's current due time and either fires, is filed again further
//! ahead, or is dropped because its entry is gone. An entry whose due time
//! moves *earlier* (a shorter timeout after a state change) gets a second
//! handle; the stale one resolves later and costs one look-up.
//!
//! Cost: O(1) to insert; each handle is touched once per level it descends
//! through, so O(1) amortised per timeout period; advancing over empty time
//! jumps straight to the next non-empty bucket. Memory: 4 bytes per handle
//! plus the buckets' spare capacity.

const LEVELS: usize = 6;
const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;

/// A timer wheel of 32-bit handles.
#[derive(Debug, Default)]
pub(crate) struct Wheel {
    /// Every tick up to and including `current` has been processed.
    current: u64,
    /// `buckets[level * 64 + slot]`, allocated on first use.
    buckets: Vec<Vec<u32>>,
    /// One bit per non-empty bucket.
    occupied: [u64; LEVELS],
    /// Handles already due when filed, delivered at the next `pop`.
    ready: Vec<u32>,
    /// Handles filed.
    len: usize,
}

impl Wheel {
    /// A wheel whose ticks up to `current` count as processed.
    pub(crate) fn new(current: u64) -> Self {
        Wheel { current, ..Default::default() }
    }

    /// The last processed tick.
    #[inline]
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// Handles filed (live and stale).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Files `item` to come due at tick `due`.
    pub(crate) fn insert(&mut self, item: u32, due: u64) {
        self.len += 1;
        if due <= self.current {
            self.ready.push(item);
            return;
        }
        let delta = due - self.current;
        let mut level = 0;
        while level + 1 < LEVELS && delta >= 1u64 << (BITS * (level as u32 + 1)) {
            level += 1;
        }
        let slot = ((due >> (BITS * level as u32)) as usize) & (SLOTS - 1);
        if self.buckets.is_empty() {
            self.buckets.resize_with(LEVELS * SLOTS, Vec::new);
        }
        self.buckets[level * SLOTS + slot].push(item);
        self.occupied[level] |= 1 << slot;
    }

    /// The tick of the next event: a level-0 bucket (exact), a higher
    /// bucket's cascade time (a lower bound of its items' due times), or
    /// the current tick when handles are ready. `None` when empty.
    pub(crate) fn next_event(&self) -> Option<u64> {
        if !self.ready.is_empty() {
            return Some(self.current);
        }
        let mut best: Option<u64> = None;
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits == 0 {
                continue;
            }
            let shift = BITS * level as u32;
            let block = self.current >> shift;
            // First occupied slot at or after the block following the current one.
            let start = ((block + 1) as u32) & (SLOTS as u32 - 1);
            let rotated = bits.rotate_right(start);
            let ahead = rotated.trailing_zeros() as u64;
            let tick = (block + 1 + ahead) << shift;
            best = Some(best.map_or(tick, |b| b.min(tick)));
        }
        best
    }

    /// Advances to the next event at or before `target`, moving the handles
    /// that come due at it into `out` (cleared first), and returns its tick;
    /// handles of higher levels whose time has come are re-filed by the due
    /// time `resolve` reports (`None` drops them). With no event up to
    /// `target`, the wheel moves to `target` and returns `None`.
    pub(crate) fn pop(
        &mut self,
        target: u64,
        out: &mut Vec<u32>,
        mut resolve: impl FnMut(u32) -> Option<u64>,
    ) -> Option<u64> {
        out.clear();
        loop {
            if !self.ready.is_empty() {
                self.len -= self.ready.len();
                std::mem::swap(out, &mut self.ready);
                return Some(self.current);
            }
            let t = match self.next_event() {
                Some(t) if t <= target => t,
                _ => {
                    self.current = self.current.max(target);
                    return None;
                }
            };
            self.current = t;
            // Cascade every level whose block starts at `t`, highest first.
            for level in (1..LEVELS).rev() {
                let shift = BITS * level as u32;
                if t & ((1u64 << shift) - 1) != 0 {
                    continue;
                }
                let slot = ((t >> shift) as usize) & (SLOTS - 1);
                if self.occupied[level] & (1 << slot) == 0 {
                    continue;
                }
                self.occupied[level] &= !(1 << slot);
                let mut items = std::mem::take(&mut self.buckets[level * SLOTS + slot]);
                self.len -= items.len();
                // A handle filed several times (several entries of one tag,
                // or again when its time came forward) moves down once.
                items.sort_unstable();
                items.dedup();
                for item in items {
                    if let Some(due) = resolve(item) {
                        self.insert(item, due.max(t));
                    }
                }
            }
            let slot = (t as usize) & (SLOTS - 1);
            if self.occupied[0] & (1 << slot) != 0 {
                self.occupied[0] &= !(1 << slot);
                let items = std::mem::take(&mut self.buckets[slot]);
                self.len -= items.len();
                out.extend_from_slice(&items);
            }
            if !self.ready.is_empty() {
                self.len -= self.ready.len();
                out.append(&mut self.ready);
            }
            if !out.is_empty() {
                return Some(t);
            }
        }
    }

    /// Bytes held by the buckets (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Vec<u32>>()
            + self.buckets.iter().map(|b| b.capacity() * 4).sum::<usize>()
            + self.ready.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Drives the wheel with fixed due times (handle = index into `dues`) up
    /// to `target` and returns (tick, handle) in firing order.
    fn run(w: &mut Wheel, dues: &BTreeMap<u32, u64>, target: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        let mut fired = Vec::new();
        while let Some(t) = w.pop(target, &mut out, |i| dues.get(&i).copied()) {
            for &i in &out {
                match dues.get(&i) {
                    Some(&d) if d <= t => fired.push((t, i)),
                    Some(&d) => w.insert(i, d),
                    None => {}
                }
            }
        }
        fired
    }

    #[test]
    fn fires_at_exact_ticks() {
        let mut w = Wheel::new(0);
        let dues: BTreeMap<u32, u64> = [(1, 5), (2, 64), (3, 65), (4, 4096), (5, 225_000), (6, 1 << 31)].into();
        for (&i, &d) in &dues {
            w.insert(i, d);
        }
        assert_eq!(w.next_event(), Some(5));
        let fired = run(&mut w, &dues, 1 << 32);
        assert_eq!(fired, [(5, 1), (64, 2), (65, 3), (4096, 4), (225_000, 5), (1 << 31, 6)]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_event(), None);
    }

    #[test]
    fn stops_at_target_and_resumes() {
        let mut w = Wheel::new(100);
        let dues: BTreeMap<u32, u64> = [(1, 150), (2, 10_000)].into();
        w.insert(1, 150);
        w.insert(2, 10_000);
        assert!(run(&mut w, &dues, 149).is_empty());
        assert_eq!(w.current(), 149);
        assert_eq!(run(&mut w, &dues, 150), [(150, 1)]);
        assert_eq!(run(&mut w, &dues, 9_999), []);
        assert_eq!(run(&mut w, &dues, 20_000), [(10_000, 2)]);
    }

    #[test]
    fn past_due_goes_ready() {
        let mut w = Wheel::new(1000);
        w.insert(7, 10);
        assert_eq!(w.next_event(), Some(1000));
        let dues: BTreeMap<u32, u64> = [(7, 10)].into();
        assert_eq!(run(&mut w, &dues, 1000), [(1000, 7)]);
    }

    #[test]
    fn dropped_and_moved_handles() {
        let mut w = Wheel::new(0);
        w.insert(1, 5000);
        w.insert(2, 5000);
        // Handle 1's entry is gone; handle 2's entry was pushed later.
        let dues: BTreeMap<u32, u64> = [(2, 9000)].into();
        assert_eq!(run(&mut w, &dues, 100_000), [(9000, 2)]);
        assert_eq!(w.len(), 0);
    }

    proptest! {
        #[test]
        fn matches_a_sorted_list(
            start in 0u64..1_000_000,
            items in proptest::collection::vec(0u64..3_000_000, 0..60),
            steps in proptest::collection::vec(1u64..400_000, 1..12),
        ) {
            let mut w = Wheel::new(start);
            let mut dues = BTreeMap::new();
            for (i, &d) in items.iter().enumerate() {
                dues.insert(i as u32, start + d);
                w.insert(i as u32, start + d);
            }
            let mut now = start;
            let mut got = Vec::new();
            for s in steps {
                now += s;
                got.extend(run(&mut w, &dues, now));
            }
            let mut want: Vec<(u64, u32)> = dues.iter().filter(|&(_, &d)| d <= now).map(|(&i, &d)| (d.max(start), i)).collect();
            want.sort();
            got.sort();
            prop_assert_eq!(got, want);
        }
    }
}

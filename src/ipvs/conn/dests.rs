//! The real servers one shard's connections point at: each distinct
//! [`Dest`] gets a 16-bit index the slots store instead of an 8-byte
//! pointer, and is held (an `Arc`) as long as a connection uses it, as the
//! kernel's connections hold `dest->refcnt`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::ipvs::dest::Dest;

/// Hashes a pointer (already unique and well spread above its low bits).
#[derive(Default)]
pub(crate) struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A shard's servers, by index.
#[derive(Debug, Default)]
pub(crate) struct DestTable {
    slots: Vec<Option<(Arc<Dest>, u32)>>,
    free: Vec<u16>,
    by_ptr: HashMap<usize, u16, BuildHasherDefault<PtrHasher>>,
}

impl DestTable {
    /// The index of `dest`, taking a reference; `None` when the shard
    /// already points at 65536 distinct servers.
    pub(crate) fn acquire(&mut self, dest: &Arc<Dest>) -> Option<u16> {
        let key = Arc::as_ptr(dest) as usize;
        if let Some(&i) = self.by_ptr.get(&key) {
            if let Some((_, refs)) = &mut self.slots[i as usize] {
                *refs += 1;
            }
            return Some(i);
        }
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u16::try_from(self.slots.len()).ok()?;
                self.slots.push(None);
                i
            }
        };
        self.slots[i as usize] = Some((Arc::clone(dest), 1));
        self.by_ptr.insert(key, i);
        Some(i)
    }

    /// Drops one reference to index `i`.
    pub(crate) fn release(&mut self, i: u16) {
        let Some(slot) = self.slots.get_mut(i as usize) else { return };
        let Some((dest, refs)) = slot else { return };
        *refs -= 1;
        if *refs == 0 {
            self.by_ptr.remove(&(Arc::as_ptr(dest) as usize));
            *slot = None;
            self.free.push(i);
        }
    }

    /// The server at index `i`.
    #[inline]
    pub(crate) fn get(&self, i: u16) -> Option<&Arc<Dest>> {
        self.slots.get(i as usize)?.as_ref().map(|(d, _)| d)
    }

    /// Distinct servers held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_ptr.len()
    }

    /// Heap bytes held: the index slots, the free list and the pointer map
    /// (a hashbrown table: one key/value pair plus one control byte per
    /// bucket). The servers themselves belong to their services.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<(Arc<Dest>, u32)>>()
            + self.free.capacity() * 2
            + self.by_ptr.capacity() * (std::mem::size_of::<(usize, u16)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::DestConfig;

    #[test]
    fn refcounts_and_reuse() {
        let a = Arc::new(Dest::new(&DestConfig::masq("198.51.100.1".parse().unwrap(), 80)));
        let b = Arc::new(Dest::new(&DestConfig::masq("198.51.100.2".parse().unwrap(), 80)));
        let mut t = DestTable::default();
        let ia = t.acquire(&a).unwrap();
        assert_eq!(t.acquire(&a), Some(ia));
        let ib = t.acquire(&b).unwrap();
        assert_ne!(ia, ib);
        assert_eq!(Arc::strong_count(&a), 2);
        t.release(ia);
        assert_eq!(t.len(), 2);
        t.release(ia);
        assert_eq!(t.len(), 1);
        assert_eq!(Arc::strong_count(&a), 1);
        assert!(t.get(ia).is_none());
        let c = Arc::new(Dest::new(&DestConfig::masq("198.51.100.3".parse().unwrap(), 80)));
        assert_eq!(t.acquire(&c), Some(ia));
        assert!(Arc::ptr_eq(t.get(ib).unwrap(), &b));
    }
}

//! Persistence templates of one shard (`IP_VS_CONN_F_TEMPLATE` entries).
//!
//! A template remembers which real server a client network went to for a
//! persistent service; connections it controls point back at it by index,
//! so templates never move: they sit in a slab, found through a chained
//! hash index that allows duplicate keys (an invalidated template keeps
//! living under a changed key until it expires, and a new one may take the
//! same key, exactly as the kernel's hash chains allow). New entries go to
//! the head of their chain, so a look-up finds the newest first, as
//! `hlist_add_head` makes the kernel's do.

use std::sync::Arc;

use crate::ipvs::dest::Dest;

const NIL: u32 = u32::MAX;

/// One template.
#[derive(Debug, Clone)]
pub(crate) struct Template<A> {
    /// IP protocol number; 0 (`IPPROTO_IP`) for firewall-mark templates.
    pub proto: u8,
    /// The client address masked by the service's persistence mask.
    pub caddr: A,
    /// Always 0, as the kernel creates templates.
    pub cport: u16,
    /// The virtual address, or the firewall mark in the address's first
    /// four bytes for firewall-mark templates.
    pub vaddr: A,
    /// The virtual port; 0 for port-zero, firewall-mark and FTP services;
    /// 65535 once invalidated.
    pub vport: u16,
    /// The server port the template names (0 when the connections keep
    /// their own); 65535 once invalidated.
    pub dport: u16,
    /// The server.
    pub dest: Arc<Dest>,
    /// `IP_VS_CTPL_S_ASSURED`.
    pub assured: bool,
    /// Timeout in ticks.
    pub timeout: u32,
    /// Tick the timer last restarted.
    pub last_used: u32,
    /// Connections it controls.
    pub n_control: u32,
    /// Generation, so that a timer handle of a freed slot is recognised.
    pub generation: u8,
    /// Chain hash of the current key.
    pub hash: u64,
    next: u32,
}

impl<A: Copy + Eq> Template<A> {
    /// A fresh template (state NONE, no connections).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        proto: u8,
        caddr: A,
        vaddr: A,
        vport: u16,
        dport: u16,
        dest: Arc<Dest>,
        timeout: u32,
        now: u32,
        hash: u64,
    ) -> Self {
        Template {
            proto,
            caddr,
            cport: 0,
            vaddr,
            vport,
            dport,
            dest,
            assured: false,
            timeout,
            last_used: now,
            n_control: 0,
            generation: 0,
            hash,
            next: NIL,
        }
    }

    /// Whether this template has key (proto, caddr, vaddr, vport) with
    /// client port 0 (`ip_vs_ct_in_get`).
    #[inline]
    pub(crate) fn is(&self, proto: u8, caddr: A, vaddr: A, vport: u16) -> bool {
        self.proto == proto && self.caddr == caddr && self.vaddr == vaddr && self.vport == vport && self.cport == 0
    }

    /// The tick it expires at, as stored (wrapping).
    #[inline]
    pub(crate) fn due32(&self) -> u32 {
        self.last_used.wrapping_add(self.timeout)
    }
}

/// A shard's templates.
#[derive(Debug)]
pub(crate) struct TemplateStore<A> {
    slab: Vec<Option<Template<A>>>,
    gens: Vec<u8>,
    free: Vec<u32>,
    heads: Vec<u32>,
    len: usize,
}

impl<A> Default for TemplateStore<A> {
    fn default() -> Self {
        TemplateStore { slab: Vec::new(), gens: Vec::new(), free: Vec::new(), heads: Vec::new(), len: 0 }
    }
}

impl<A: Copy + Eq> TemplateStore<A> {
    /// Templates held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        (hash as usize) & (self.heads.len() - 1)
    }

    /// The newest template with this key.
    pub(crate) fn find(&self, hash: u64, proto: u8, caddr: A, vaddr: A, vport: u16) -> Option<u32> {
        if self.heads.is_empty() {
            return None;
        }
        let mut i = self.heads[self.bucket(hash)];
        while i != NIL {
            let t = self.slab[i as usize].as_ref()?;
            if t.hash == hash && t.is(proto, caddr, vaddr, vport) {
                return Some(i);
            }
            i = t.next;
        }
        None
    }

    /// Adds `t` at the head of its chain and returns its index, or `None`
    /// when the shard already holds `limit` templates.
    pub(crate) fn insert(&mut self, mut t: Template<A>, limit: u32) -> Option<u32> {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                if self.slab.len() as u64 >= limit as u64 {
                    return None;
                }
                self.slab.push(None);
                self.gens.push(0);
                (self.slab.len() - 1) as u32
            }
        };
        if self.len + 1 > self.heads.len() {
            self.rehash((self.len + 1).next_power_of_two().max(16));
        }
        let generation = self.gens[i as usize];
        t.generation = generation;
        let b = self.bucket(t.hash);
        t.next = self.heads[b];
        self.heads[b] = i;
        self.slab[i as usize] = Some(t);
        self.len += 1;
        Some(i)
    }

    fn rehash(&mut self, n: usize) {
        self.heads = vec![NIL; n];
        for i in 0..self.slab.len() {
            if let Some(t) = &self.slab[i] {
                let b = (t.hash as usize) & (n - 1);
                let next = self.heads[b];
                self.heads[b] = i as u32;
                if let Some(t) = &mut self.slab[i] {
                    t.next = next;
                }
            }
        }
    }

    fn unlink(&mut self, i: u32) {
        let Some(hash) = self.slab.get(i as usize).and_then(|t| t.as_ref()).map(|t| t.hash) else { return };
        let b = self.bucket(hash);
        let next = self.slab[i as usize].as_ref().map_or(NIL, |t| t.next);
        if self.heads[b] == i {
            self.heads[b] = next;
            return;
        }
        let mut p = self.heads[b];
        while p != NIL {
            let pn = self.slab[p as usize].as_ref().map_or(NIL, |t| t.next);
            if pn == i {
                if let Some(t) = &mut self.slab[p as usize] {
                    t.next = next;
                }
                return;
            }
            p = pn;
        }
    }

    /// Gives template `i` a new key (the kernel's unhash / change / rehash in
    /// `ip_vs_check_template`), moving it to the head of its new chain.
    pub(crate) fn rekey(&mut self, i: u32, vport: u16, dport: u16, hash: u64) {
        self.unlink(i);
        let b = self.bucket(hash);
        let head = self.heads[b];
        if let Some(t) = &mut self.slab[i as usize] {
            t.vport = vport;
            t.dport = dport;
            t.cport = 0;
            t.hash = hash;
            t.next = head;
            self.heads[b] = i;
        }
    }

    /// Removes template `i`.
    pub(crate) fn remove(&mut self, i: u32) -> Option<Template<A>> {
        self.slab.get(i as usize)?.as_ref()?;
        self.unlink(i);
        let t = self.slab[i as usize].take();
        self.gens[i as usize] = self.gens[i as usize].wrapping_add(1);
        self.free.push(i);
        self.len -= 1;
        t
    }

    /// Template `i`.
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Option<&Template<A>> {
        self.slab.get(i as usize)?.as_ref()
    }

    /// Template `i`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut Template<A>> {
        self.slab.get_mut(i as usize)?.as_mut()
    }

    /// Every template with its index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Template<A>)> {
        self.slab.iter().enumerate().filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.capacity() * std::mem::size_of::<Option<Template<A>>>()
            + self.gens.capacity()
            + self.free.capacity() * 4
            + self.heads.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::DestConfig;

    fn dest() -> Arc<Dest> {
        Arc::new(Dest::new(&DestConfig::masq("198.51.100.1".parse().unwrap(), 80)))
    }

    #[test]
    fn duplicates_newest_first_and_rekey() {
        let mut s: TemplateStore<u32> = TemplateStore::default();
        let d = dest();
        let a = s.insert(Template::new(6, 10, 1, 80, 80, d.clone(), 300, 0, 42), 100).unwrap();
        assert_eq!(s.find(42, 6, 10, 1, 80), Some(a));
        // Invalidate a, then a fresh one takes the key.
        s.rekey(a, 0xffff, 0xffff, 99);
        assert_eq!(s.find(42, 6, 10, 1, 80), None);
        assert_eq!(s.find(99, 6, 10, 1, 0xffff), Some(a));
        let b = s.insert(Template::new(6, 10, 1, 80, 80, d.clone(), 300, 0, 42), 100).unwrap();
        assert_eq!(s.find(42, 6, 10, 1, 80), Some(b));
        // A second invalidated one with the same changed key: newest first.
        s.rekey(b, 0xffff, 0xffff, 99);
        assert_eq!(s.find(99, 6, 10, 1, 0xffff), Some(b));
        s.remove(b);
        assert_eq!(s.find(99, 6, 10, 1, 0xffff), Some(a));
        assert_eq!(s.len(), 1);
        // The freed slot comes back with a new generation.
        let c = s.insert(Template::new(6, 11, 1, 80, 80, d, 300, 0, 7), 100).unwrap();
        assert_eq!(c, b);
        assert_eq!(s.get(c).unwrap().generation, 1);
    }

    #[test]
    fn grows_and_limits() {
        let mut s: TemplateStore<u32> = TemplateStore::default();
        let d = dest();
        for k in 0..500u32 {
            s.insert(Template::new(6, k, 1, 80, 80, d.clone(), 300, 0, k as u64 * 7919), 500).unwrap();
        }
        for k in 0..500u32 {
            assert!(s.find(k as u64 * 7919, 6, k, 1, 80).is_some());
        }
        assert!(s.insert(Template::new(6, 1000, 1, 80, 80, d, 300, 0, 1), 500).is_none());
    }
}

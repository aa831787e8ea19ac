//! A monotone bucket queue for small integer keys (Dial's algorithm) with a bitmap to skip empty
//! buckets. Keys are shortest-path labels, bounded by the largest pair weight.

#[derive(Debug)]
pub(crate) struct BucketQueue {
    buckets: Vec<Vec<u32>>,
    bits: Vec<u64>,
    cursor: usize,
    hi: usize,
}

impl BucketQueue {
    /// Keys must lie in `0..size`.
    pub(crate) fn new(size: usize) -> Self {
        let size = size.max(1);
        BucketQueue {
            buckets: vec![Vec::new(); size],
            bits: vec![0; size.div_ceil(64)],
            cursor: 0,
            hi: 0,
        }
    }

    /// Inserts `item` with `key`; keys pushed after a pop must not be below the last popped key.
    #[inline]
    pub(crate) fn push(&mut self, key: usize, item: u32) {
        debug_assert!(key >= self.cursor, "non-monotone push {key} < {}", self.cursor);
        self.buckets[key].push(item);
        self.bits[key >> 6] |= 1u64 << (key & 63);
        if key > self.hi {
            self.hi = key;
        }
    }

    /// Pops an item with the smallest key, if that key is `< bound`.
    #[inline]
    pub(crate) fn pop_below(&mut self, bound: usize) -> Option<(usize, u32)> {
        let bound = bound.min(self.buckets.len());
        if self.cursor >= bound {
            return None;
        }
        let mut w = self.cursor >> 6;
        let mut word = self.bits[w] & (!0u64 << (self.cursor & 63));
        let last = (bound - 1) >> 6;
        loop {
            if word != 0 {
                let k = (w << 6) + word.trailing_zeros() as usize;
                if k >= bound {
                    return None;
                }
                self.cursor = k;
                let b = &mut self.buckets[k];
                let item = b.pop()?;
                if b.is_empty() {
                    self.bits[w] &= !(1u64 << (k & 63));
                }
                return Some((k, item));
            }
            if w >= last {
                return None;
            }
            w += 1;
            word = self.bits[w];
        }
    }

    /// Empties the queue (cost proportional to the key range used).
    pub(crate) fn clear(&mut self) {
        let (lo, hi) = (self.cursor >> 6, self.hi >> 6);
        for w in lo..=hi.min(self.bits.len() - 1) {
            let mut word = self.bits[w];
            while word != 0 {
                let k = (w << 6) + word.trailing_zeros() as usize;
                self.buckets[k].clear();
                word &= word - 1;
            }
            self.bits[w] = 0;
        }
        self.cursor = 0;
        self.hi = 0;
    }
}

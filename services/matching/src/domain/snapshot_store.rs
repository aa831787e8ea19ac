//! The shared storage of directory snapshots (copy-on-write): interned codes and the compiled entries
//! in chunks, both shared between snapshots until a patch changes them, so patching one provider of a
//! large directory copies one chunk, not the directory.

use std::collections::HashMap;
use std::sync::Arc;

use super::directory::Entry;

/// Interned codes (jurisdictions, primary language subtags, identity/faith/cultural codes), shared
/// between snapshots until a new code is added.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    ids: Arc<HashMap<String, u32>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, code: &str) -> u32 {
        if let Some(id) = self.ids.get(code) {
            return *id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        Arc::make_mut(&mut self.ids).insert(code.to_owned(), id);
        id
    }

    pub(crate) fn get(&self, code: &str) -> Option<u32> {
        self.ids.get(code).copied()
    }
}

/// Entries per chunk of a snapshot: a patch copies the one chunk it changes, not the directory.
pub(crate) const CHUNK: usize = 256;

/// The entries of a snapshot in chunks shared between snapshots (copy-on-write per chunk): patching one
/// provider of a 20,000-provider directory copies 256 entries and a few dozen pointers, not 20,000 entries
/// (every referral changes a provider's capacity), while ranking still walks contiguous memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct Entries {
    chunks: Vec<Arc<Vec<Entry>>>,
    len: usize,
}

impl Entries {
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        self.chunks.get(i / CHUNK).and_then(|c| c.get(i % CHUNK))
    }

    pub(crate) fn set(&mut self, i: usize, e: Entry) {
        if let Some(slot) =
            self.chunks.get_mut(i / CHUNK).and_then(|c| Arc::make_mut(c).get_mut(i % CHUNK))
        {
            *slot = e;
        }
    }

    pub(crate) fn push(&mut self, e: Entry) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(e);
            self.len += 1;
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

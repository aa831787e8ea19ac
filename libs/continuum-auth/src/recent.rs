//! Answers worth keeping for a few seconds: bearer tokens verified moments ago (the [`Verifier`]) and
//! service tokens minted moments ago (the [`ServiceAuth`] interceptor).
//!
//! Issue 12: every call verified its bearer token from scratch (decode the header, decode the claims,
//! check the HMAC or signature, check the claims) and every call to a peer minted a new service token,
//! though one client or one peer presents the same token call after call; a waitlisted intake (three
//! calls) spent about 7 % of the process's CPU there. Each entry lapses at its own deadline, which its
//! user sets no later than the token's expiry; the map is bounded (when full, lapsed entries go and, if
//! none has lapsed, all of them), so a flood of distinct tokens costs memory only up to the bound.
//!
//! [`Verifier`]: crate::Verifier
//! [`ServiceAuth`]: crate::ServiceAuth

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// A bounded map of values that lapse at their own deadline ([module docs](self)).
pub(crate) struct Recent<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
}

/// Keys and values are tokens and who they name: never printed, only counted.
impl<K, V> std::fmt::Debug for Recent<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.entries.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Recent").field("kept", &kept).field("capacity", &self.capacity).finish()
    }
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    /// An empty map holding at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// The value kept for `key`, unless it has lapsed by `now`.
    pub(crate) fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).filter(|(_, until)| *until > now).map(|(v, _)| v.clone())
    }

    /// Keeps `value` for `key` until `until`, making room first when the map is full.
    pub(crate) fn put(&self, key: K, value: V, until: Instant, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, until));
    }

    /// Forgets everything (the keys that verified the kept tokens have changed).
    pub(crate) fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_entry_is_answered_until_its_deadline_and_not_after() {
        let recent: Recent<String, u32> = Recent::new(8);
        let now = Instant::now();
        recent.put("a".into(), 1, now + Duration::from_secs(5), now);
        assert_eq!(recent.get("a", now), Some(1));
        assert_eq!(recent.get("a", now + Duration::from_secs(4)), Some(1));
        assert_eq!(recent.get("a", now + Duration::from_secs(5)), None, "lapsed at its deadline");
        assert_eq!(recent.get("b", now), None);
        recent.clear();
        assert_eq!(recent.get("a", now), None, "cleared");
    }

    #[test]
    fn what_is_kept_never_prints() {
        let recent: Recent<String, String> = Recent::new(8);
        let now = Instant::now();
        recent.put("eyJ.secret-token".into(), "user-7".into(), now + Duration::from_secs(5), now);
        let printed = format!("{recent:?}");
        assert!(!printed.contains("secret-token") && !printed.contains("user-7"), "{printed}");
        assert!(printed.contains("kept: 1"), "{printed}");
    }

    #[test]
    fn a_full_map_drops_lapsed_entries_first_and_never_grows_past_its_bound() {
        let recent: Recent<u32, u32> = Recent::new(3);
        let now = Instant::now();
        recent.put(1, 1, now + Duration::from_secs(1), now);
        recent.put(2, 2, now + Duration::from_secs(60), now);
        recent.put(3, 3, now + Duration::from_secs(60), now);
        // Two seconds on, entry 1 has lapsed: it makes room, the live ones stay.
        let later = now + Duration::from_secs(2);
        recent.put(4, 4, later + Duration::from_secs(60), later);
        assert_eq!(recent.len(), 3);
        assert_eq!((recent.get(&2, later), recent.get(&4, later)), (Some(2), Some(4)));
        // Nothing lapsed: the map starts over rather than growing.
        recent.put(5, 5, later + Duration::from_secs(60), later);
        assert_eq!(recent.len(), 1);
        assert_eq!(recent.get(&5, later), Some(5));
        // Replacing a kept key does not count as growing.
        recent.put(5, 6, later + Duration::from_secs(60), later);
        assert_eq!((recent.len(), recent.get(&5, later)), (1, Some(6)));
    }
}

//! Per-process caches of what nearly every request reads: sessions, users, table
//! schemas, function modules.
//!
//! Correctness rule: this process forgets an entry the moment it changes the thing
//! itself (logout, a group change, a schema change, a deploy). What *other* processes
//! change is seen after at most [`Freshness::Bounded`] milliseconds — on Lambda, where
//! many sandboxes share the store, and for several servers on one DynamoDB table. A
//! server that is the only writer of its store (the embedded default) caches with
//! [`Freshness::OwnWrites`]: entries stay until this process changes them.

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a cached entry may be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Only this process writes the store: forget on own writes, never by age.
    OwnWrites,
    /// Other processes write too: an entry is trusted for this many milliseconds.
    Bounded(i64),
    /// No caching.
    None,
}

/// The default bound where the store is shared (`cache.bound_ms`), in milliseconds.
pub const DEFAULT_BOUND_MS: i64 = 1_000;

impl Freshness {
    /// The bound used by default where the store is shared (Lambda, several servers on
    /// DynamoDB).
    pub const SHARED: Freshness = Freshness::Bounded(DEFAULT_BOUND_MS);
}

/// A map with an age bound and a size bound (full means cleared: simple, and a cold
/// cache only costs the reads it saves).
pub struct Cache<V> {
    freshness: Freshness,
    max: usize,
    map: Mutex<HashMap<String, (V, i64)>>,
}

impl<V: Clone> Cache<V> {
    pub fn new(freshness: Freshness, max: usize) -> Self {
        Cache {
            freshness,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str, now_ms: i64) -> Option<V> {
        let fresh = |at: i64| match self.freshness {
            Freshness::OwnWrites => true,
            Freshness::Bounded(ms) => now_ms - at < ms,
            Freshness::None => false,
        };
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(_, at)| fresh(*at))
            .map(|(v, _)| v.clone())
    }

    pub fn put(&self, key: &str, v: V, now_ms: i64) {
        if self.freshness == Freshness::None {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.max && !map.contains_key(key) {
                map.clear();
            }
            map.insert(key.to_string(), (v, now_ms));
        }
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_own_writes_and_none() {
        let c = Cache::new(Freshness::Bounded(1_000), 2);
        c.put("a", 1, 0);
        assert_eq!(c.get("a", 999), Some(1));
        assert_eq!(c.get("a", 1_000), None, "stale after the bound");
        c.forget("a");
        assert_eq!(c.get("a", 1), None);
        let own = Cache::new(Freshness::OwnWrites, 2);
        own.put("a", 1, 0);
        assert_eq!(own.get("a", i64::MAX), Some(1));
        own.put("b", 2, 0);
        own.put("c", 3, 0);
        assert_eq!(
            (own.get("a", 0), own.get("c", 0)),
            (None, Some(3)),
            "full: cleared"
        );
        let none = Cache::new(Freshness::None, 2);
        none.put("a", 1, 0);
        assert_eq!(none.get("a", 0), None);
    }
}

//! A small per-container cache of facts read from the table, by appid: kept for a bounded time
//! (how long a container may act on what it read) and bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Values by appid, each kept for `ttl` after it was read; at most `capacity` of them.
#[derive(Debug)]
pub struct AppidCache<V> {
    ttl: Duration,
    capacity: usize,
    cached: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> AppidCache<V> {
    /// A cache keeping each value for `ttl`; a zero `ttl` or `capacity` keeps nothing.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            cached: Mutex::default(),
        }
    }

    /// The value read for `appid` less than the cache's time ago.
    pub fn get(&self, appid: &str) -> Option<V> {
        let cached = self.cached.lock().expect("cache lock");
        cached
            .get(appid)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` for `appid`. When full, expired values are dropped, and if none is, all
    /// are (the next use of each reads the table again).
    pub fn insert(&self, appid: &str, value: V) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut cached = self.cached.lock().expect("cache lock");
        if cached.len() >= self.capacity && !cached.contains_key(appid) {
            cached.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if cached.len() >= self.capacity {
                cached.clear();
            }
        }
        cached.insert(appid.to_owned(), (value, Instant::now()));
    }

    /// Forgets what was read for `appid` (WeChat contradicted it).
    pub fn remove(&self, appid: &str) {
        self.cached.lock().expect("cache lock").remove(appid);
    }

    /// How many values are kept (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.cached.lock().expect("cache lock").len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_for_their_time_and_bounded() {
        let names = AppidCache::new(Duration::from_secs(3600), 2);
        names.insert("wxa", "gh_a");
        names.insert("wxb", "gh_b");
        assert_eq!(names.get("wxa"), Some("gh_a"));
        names.insert("wxb", "gh_b");
        assert_eq!(names.len(), 2);
        // Full, and nothing expired: all are dropped to make room.
        names.insert("wxc", "gh_c");
        assert_eq!(names.len(), 1);
        assert_eq!(names.get("wxa"), None);
        assert_eq!(names.get("wxc"), Some("gh_c"));
        names.remove("wxc");
        assert!(names.is_empty());

        let uncached = AppidCache::new(Duration::ZERO, 2);
        uncached.insert("wxa", "gh_a");
        assert!(uncached.is_empty());
        assert_eq!(uncached.get("wxa"), None);
    }
}

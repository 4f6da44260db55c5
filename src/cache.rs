//! Recently opened small files, kept open for a moment, so that a file asked for again and
//! again costs no `openat2`, `statx` and `close` per request: half the system calls of a small
//! download. lighttpd's stat cache and nginx's `open_file_cache` make the same trade. Files over
//! [`MAX_SIZE`] are not kept: for them those three calls are a small part of the cost, and a
//! large file deleted on disk should not keep its space while the cache holds it.
//!
//! The trade: an entry is used for at most [`TTL`] after its file was opened, so a file
//! changed or replaced on disk may be served as it was (its old size, dates and tag, or the old
//! file) for up to that long. Only opens that passed confinement are kept, under the exact name
//! that was asked for, so the cache never widens what can be reached: a symlink swapped to point
//! outside the root still serves, for that moment, the file it pointed to inside. Refusals are
//! not kept. At most [`CAPACITY`] entries, each holding a descriptor (counted in
//! [`crate::sys::FD_RESERVE`]); an expired entry is closed when next looked up or when a new
//! file needs its room. One lock, held for a lookup: uncontended in the reactor, shared
//! by the threads of the blocking models.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::root::Opened;

/// How long an open file is reused.
pub const TTL: Duration = Duration::from_secs(1);
/// Most files kept open.
pub const CAPACITY: usize = 64;
/// The largest file kept open.
pub const MAX_SIZE: u64 = 64 * 1024;

#[derive(Debug, Default)]
pub struct OpenCache {
    entries: Mutex<HashMap<Box<[u8]>, Entry>>,
}

#[derive(Debug)]
struct Entry {
    opened: Opened,
    at: Instant,
}

impl OpenCache {
    /// The file opened under `name` less than [`TTL`] before `now`, if any.
    pub fn get(&self, name: &[u8], now: Instant) -> Option<Opened> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(name)?;
        if now.saturating_duration_since(entry.at) < TTL {
            return Some(entry.opened.clone());
        }
        entries.remove(name);
        None
    }

    /// Keeps `opened` under `name` if it is small enough, making room if the cache is full:
    /// expired entries go first, then any one.
    pub fn put(&self, name: &[u8], opened: &Opened, now: Instant) {
        if opened.size > MAX_SIZE {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(name) {
            entries.retain(|_, entry| now.saturating_duration_since(entry.at) < TTL);
            if entries.len() >= CAPACITY {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        let entry = Entry {
            opened: opened.clone(),
            at: now,
        };
        entries.insert(name.into(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    fn opened(size: u64) -> Opened {
        Opened {
            file: Arc::new(File::open("/dev/null").unwrap()),
            size,
            modified: UNIX_EPOCH,
        }
    }

    #[test]
    fn an_entry_serves_until_its_ttl() {
        let cache = OpenCache::default();
        let t0 = Instant::now();
        assert!(cache.get(b"a", t0).is_none());
        cache.put(b"a", &opened(5), t0);
        assert_eq!(cache.get(b"a", t0 + TTL / 2).map(|o| o.size), Some(5));
        assert!(
            cache.get(b"/a", t0).is_none(),
            "by the exact name asked for"
        );
        assert!(cache.get(b"a", t0 + TTL).is_none(), "expired");
        assert!(cache.entries.lock().unwrap().is_empty(), "and closed");
    }

    #[test]
    fn large_files_are_not_kept() {
        let cache = OpenCache::default();
        let t0 = Instant::now();
        cache.put(b"big", &opened(MAX_SIZE + 1), t0);
        assert!(cache.get(b"big", t0).is_none());
    }

    #[test]
    fn it_holds_at_most_capacity_files() {
        let cache = OpenCache::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY as u64 * 3 {
            cache.put(i.to_string().as_bytes(), &opened(i), t0);
        }
        let held = cache.entries.lock().unwrap().len();
        assert_eq!(held, CAPACITY);
        let last = (CAPACITY as u64 * 3 - 1).to_string();
        assert!(
            cache.get(last.as_bytes(), t0).is_some(),
            "the newest is kept"
        );
    }
}

//! Small files kept in memory for a moment, so that a file asked for again and again costs no
//! `openat2`, `statx`, `close` or `sendfile` per request: its bytes go out with the response
//! head in one `writev`, and a small download costs two system calls (the read of the request,
//! the write of the response) instead of six. lighttpd's stat cache and nginx's
//! `open_file_cache` make the same trade with open descriptors; keeping bytes instead keeps no
//! descriptor (a deleted file's space is not held) and serves a consistent snapshot: size,
//! tag and bytes all from one moment.
//!
//! The trade: an entry is used for at most [`TTL`] after it was read, so a small file changed
//! or replaced on disk may be served as it was for up to that long. Only files that passed
//! confinement are kept, under the exact name that was asked for, so the cache never widens what
//! can be reached: a symlink swapped to point outside the root still serves, for that moment,
//! the file it pointed to inside. Refusals are not kept. At most [`CAPACITY`] files of at most
//! [`MAX_SIZE`] bytes (4 MiB in all); an expired entry is dropped when next looked up or when a
//! new file needs its room. One lock, held for a lookup: uncontended in the reactor, shared by
//! the threads of the blocking models.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::content::{Content, Data};

/// How long a file's bytes are reused.
pub const TTL: Duration = Duration::from_secs(1);
/// Most files kept.
pub const CAPACITY: usize = 64;
/// The largest file kept.
pub const MAX_SIZE: u64 = 64 * 1024;

#[derive(Debug, Default)]
pub struct SmallFiles {
    entries: Mutex<HashMap<Box<[u8]>, Entry>>,
}

#[derive(Debug)]
struct Entry {
    bytes: Arc<[u8]>,
    modified: SystemTime,
    at: Instant,
}

impl SmallFiles {
    /// The file read under `name` less than [`TTL`] before `now`, if any.
    pub fn get(&self, name: &[u8], now: Instant) -> Option<Content> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(name)?;
        if now.saturating_duration_since(entry.at) < TTL {
            return Some(Content {
                size: entry.bytes.len() as u64,
                modified: entry.modified,
                data: Data::Bytes(Arc::clone(&entry.bytes)),
            });
        }
        entries.remove(name);
        None
    }

    /// Keeps a file's `bytes` under `name`, making room if the cache is full: expired entries
    /// go first, then any one.
    pub fn put(&self, name: &[u8], bytes: &Arc<[u8]>, modified: SystemTime, now: Instant) {
        if bytes.len() as u64 > MAX_SIZE {
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
            bytes: Arc::clone(bytes),
            modified,
            at: now,
        };
        entries.insert(name.into(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn bytes(len: usize) -> Arc<[u8]> {
        vec![7u8; len].into()
    }

    fn size(content: Option<Content>) -> Option<u64> {
        content.map(|c| c.size)
    }

    #[test]
    fn an_entry_serves_until_its_ttl() {
        let cache = SmallFiles::default();
        let t0 = Instant::now();
        assert!(cache.get(b"a", t0).is_none());
        cache.put(b"a", &bytes(5), UNIX_EPOCH, t0);
        assert_eq!(size(cache.get(b"a", t0 + TTL / 2)), Some(5));
        assert!(
            cache.get(b"/a", t0).is_none(),
            "by the exact name asked for"
        );
        assert!(cache.get(b"a", t0 + TTL).is_none(), "expired");
        assert!(cache.entries.lock().unwrap().is_empty(), "and dropped");
    }

    #[test]
    fn large_files_are_not_kept() {
        let cache = SmallFiles::default();
        let t0 = Instant::now();
        cache.put(b"big", &bytes(MAX_SIZE as usize + 1), UNIX_EPOCH, t0);
        assert!(cache.get(b"big", t0).is_none());
    }

    #[test]
    fn it_holds_at_most_capacity_files() {
        let cache = SmallFiles::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY * 3 {
            cache.put(i.to_string().as_bytes(), &bytes(i), UNIX_EPOCH, t0);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), CAPACITY);
        let last = (CAPACITY * 3 - 1).to_string();
        assert_eq!(
            size(cache.get(last.as_bytes(), t0)),
            Some(last.parse().unwrap())
        );
    }
}

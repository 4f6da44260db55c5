//! What is served for a name: its size, its date and its bytes, in an open file or in memory.
//! Confinement ([`crate::root`]) hands it out; the small-file cache ([`crate::cache`]) keeps
//! the in-memory kind; a download ([`crate::handlers`]) sends it.

use std::fs::File;
use std::sync::Arc;
use std::time::SystemTime;

/// What is served for a name: its size and date, and its bytes, in a file or in memory.
#[derive(Debug)]
pub struct Content {
    pub size: u64,
    pub modified: SystemTime,
    pub data: Data,
}

#[derive(Debug)]
pub enum Data {
    /// A file too large to keep in memory, open.
    File(File),
    /// A small file's bytes, shared with the cache.
    Bytes(Arc<[u8]>),
}

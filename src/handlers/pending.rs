//! Output a service owes its peer but the socket would not take yet.

use std::io;

use super::write_some;

/// Output a service owes its peer but the socket would not take yet: what every service keeps
/// instead of blocking, and measures against [`Settings::buffer_limit`](crate::Settings::buffer_limit)
/// to stop reading (backpressure).
///
/// Empty, it owns no heap memory: an idle connection costs only its struct. It allocates when a
/// write falls short and gives the allocation back as soon as it has been flushed.
#[derive(Debug, Default)]
pub struct Pending {
    buf: Vec<u8>,
    /// How much of `buf` has already been sent.
    start: usize,
}

impl Pending {
    /// Bytes still owed.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing is owed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps `data` to send later.
    pub fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // Reuse the sent prefix before growing.
        if self.start > 0 && self.buf.capacity() - self.buf.len() < data.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Sends what the socket takes now. `Ok` whether or not everything went.
    pub fn flush<W: io::Write + ?Sized>(&mut self, io: &mut W) -> io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        self.start += write_some(io, &self.buf[self.start..])?;
        if self.is_empty() {
            // Give the memory back: idle connections hold no buffer.
            *self = Pending::default();
        }
        Ok(())
    }
}

//! The echo service: every byte the peer sends comes back, in order, unchanged.
//!
//! Reads land in the driver's scratch buffer and are written straight back; only what the
//! socket refuses is kept, and never more than `Settings::buffer` bytes: when that is full the
//! service stops reading until the peer drains it (backpressure). When the peer shuts down its
//! sending side, what is pending is flushed and the connection ends.

use std::io::{self, Read, Write};

use super::pending::Pending;
use super::{write_some, Next, Reason, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Connected, nothing received yet: closing now loses nothing.
    Fresh,
    /// Bytes have flowed; the peer may send more.
    Echoing,
    /// The peer shut down its sending side; flushing what is left, then done.
    PeerDone,
}

#[derive(Debug)]
pub struct Echo {
    state: State,
    pending: Pending,
}

impl Default for Echo {
    fn default() -> Self {
        Echo::new()
    }
}

impl Echo {
    pub fn new() -> Echo {
        Echo {
            state: State::Fresh,
            pending: Pending::default(),
        }
    }

    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    pub fn at_rest(&self) -> bool {
        self.state == State::Fresh
    }

    fn set_state(&mut self, next: State) {
        if self.state != next {
            log::trace!("echo: {:?} -> {:?}", self.state, next);
            self.state = next;
        }
    }

    /// Echoes until the socket would block or the exchange is over.
    pub fn drive<S: Read + Write>(
        &mut self,
        io: &mut S,
        scratch: &mut [u8],
        settings: &Settings,
    ) -> Next {
        loop {
            if let Err(err) = self.pending.flush(io) {
                return Next::Close(err.into());
            }
            if self.state == State::PeerDone {
                return if self.pending.is_empty() {
                    Next::Close(Reason::Done)
                } else {
                    Next::Write
                };
            }
            let room = settings.buffer.saturating_sub(self.pending.len());
            if room == 0 {
                // Backpressure: read nothing more until the peer takes what it is owed.
                return Next::Write;
            }
            let want = room.min(scratch.len());
            match io.read(&mut scratch[..want]) {
                Ok(0) => self.set_state(State::PeerDone),
                Ok(n) => {
                    self.set_state(State::Echoing);
                    let data = &scratch[..n];
                    if self.pending.is_empty() {
                        // The common case: straight back out, nothing kept.
                        match write_some(io, data) {
                            Ok(sent) => self.pending.push(&data[sent..]),
                            Err(err) => return Next::Close(err.into()),
                        }
                    } else {
                        self.pending.push(data);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if self.pending.is_empty() {
                        Next::Read
                    } else {
                        Next::Write
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(e.into()),
            }
        }
    }
}

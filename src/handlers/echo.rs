//! The echo service: every byte the peer sends comes back, in order, unchanged.
//!
//! Reads land in the driver's scratch buffer and are written straight back; only what the
//! socket refuses is kept, and never more than `Settings::buffer` bytes: when that is full the
//! service stops reading until the peer drains it (backpressure). When the peer shuts down its
//! sending side, what is pending is flushed and the connection ends.

use std::io;

use super::pending::Pending;
use super::{write_some, Ctx, Next, Reason, Service, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Connected, nothing received yet: closing now loses nothing.
    Fresh,
    /// Bytes have flowed; the peer may send more.
    Echoing,
    /// The peer shut down its sending side; flushing what is left, then done.
    PeerDone,
}

/// The echo service: usable on its own as a program's service too (it is the smallest complete
/// example of the [`Service`] contract).
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
    /// A fresh connection's echo.
    pub fn new() -> Echo {
        Echo {
            state: State::Fresh,
            pending: Pending::default(),
        }
    }

    fn set_state(&mut self, next: State) {
        if self.state != next {
            log::trace!("echo: {:?} -> {:?}", self.state, next);
            self.state = next;
        }
    }
}

impl Service for Echo {
    /// Echoes until the socket would block or the exchange is over.
    fn on_ready(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Next {
        let scratch = &mut *ctx.scratch;
        loop {
            if let Err(err) = self.pending.flush(io) {
                return Next::Close(err.into());
            }
            if self.state == State::PeerDone {
                return if self.pending.is_empty() {
                    Next::Close(Reason::Done)
                } else {
                    Next::Wait
                };
            }
            let room = ctx.settings.buffer.saturating_sub(self.pending.len());
            if room == 0 {
                // Backpressure: read nothing more until the peer takes what it is owed.
                return Next::Wait;
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(e.into()),
            }
        }
    }

    fn buffered(&self) -> usize {
        self.pending.len()
    }

    fn at_rest(&self) -> bool {
        self.state == State::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::script::Script;
    use crate::handlers::Settings;
    use std::io::ErrorKind;

    const ROOMY: usize = 1 << 20;

    fn drive(echo: &mut Echo, io: &mut Script, buffer: usize) -> Next {
        let settings = Settings {
            buffer,
            ..Settings::default()
        };
        echo.on_ready(io, &mut Script::ctx(&mut [0u8; 16], &settings))
    }

    // --- Fresh ---

    #[test]
    fn fresh_waits_to_read_and_is_at_rest() {
        let (mut echo, mut io) = (Echo::new(), Script::new(ROOMY));
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Wait);
        assert!(echo.at_rest());
    }

    #[test]
    fn fresh_end_of_stream_is_done() {
        let (mut echo, mut io) = (Echo::new(), Script::new(ROOMY).then_eof());
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Close(Reason::Done));
    }

    // --- Echoing ---

    #[test]
    fn bytes_come_straight_back_and_nothing_is_kept() {
        let mut io = Script::new(ROOMY)
            .then_bytes(b"hello")
            .then_bytes(b" world, longer than scratch");
        let mut echo = Echo::new();
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Wait);
        assert_eq!(io.written, b"hello world, longer than scratch");
        assert_eq!(echo.buffered(), 0);
        assert!(!echo.at_rest());
    }

    #[test]
    fn a_short_write_keeps_the_rest_and_waits_to_write() {
        let mut io = Script::new(3).then_bytes(b"abcdef");
        let mut echo = Echo::new();
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Wait);
        assert_eq!((io.written.as_slice(), echo.buffered()), (&b"abc"[..], 3));
        io.room = ROOMY;
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Wait);
        assert_eq!(
            (io.written.as_slice(), echo.buffered()),
            (&b"abcdef"[..], 0)
        );
    }

    #[test]
    fn a_full_buffer_stops_reading_until_it_drains() {
        let mut io = Script::new(0).then_bytes(&[7u8; 40]);
        let mut echo = Echo::new();
        assert_eq!(drive(&mut echo, &mut io, 10), Next::Wait);
        assert_eq!(echo.buffered(), 10, "holds exactly the buffer");
        assert_eq!(io.unread(), 1, "the rest stays in the socket");
        io.room = ROOMY;
        assert_eq!(drive(&mut echo, &mut io, 10), Next::Wait);
        assert_eq!(io.written, vec![7u8; 40]);
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let mut io = Script::new(ROOMY)
            .then_error(ErrorKind::Interrupted)
            .then_bytes(b"x");
        let mut echo = Echo::new();
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Wait);
        assert_eq!(io.written, b"x");
    }

    // --- PeerDone ---

    #[test]
    fn end_of_stream_flushes_what_is_owed_then_is_done() {
        let mut io = Script::new(2).then_bytes(b"tail").then_eof();
        let mut echo = Echo::new();
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Wait);
        io.room = ROOMY;
        assert_eq!(drive(&mut echo, &mut io, 64), Next::Close(Reason::Done));
        assert_eq!(io.written, b"tail");
    }

    // --- Errors ---

    #[test]
    fn socket_errors_end_the_connection_with_their_reason() {
        let cases = [
            (Some(ErrorKind::ConnectionReset), None, Reason::Reset),
            (None, Some(ErrorKind::BrokenPipe), Reason::Reset),
            (
                Some(ErrorKind::PermissionDenied),
                None,
                Reason::Io(ErrorKind::PermissionDenied),
            ),
        ];
        for (read_error, write_error, want) in cases {
            let mut io = match read_error {
                Some(kind) => Script::new(ROOMY).then_error(kind),
                None => Script::new(ROOMY).then_bytes(b"x"),
            };
            io.write_error = write_error;
            let mut echo = Echo::new();
            assert_eq!(drive(&mut echo, &mut io, 64), Next::Close(want));
        }
    }
}

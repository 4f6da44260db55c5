//! The raw protocol's download: the named file, whole, then the connection closes. What the
//! client sends meanwhile is read and dropped, since closing a socket with unread input resets
//! it, and a reset loses the file's tail.

use std::io;
use std::time::{Instant, SystemTime};

use super::super::{Ctx, Transport};
use super::body::Body;
use super::Outcome;
use crate::logging::access::{self, Access, Fields, Request};
use crate::root::Refusal;

/// Whether the client may still send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    Open,
    /// The client shut down its sending side.
    Ended,
}

#[derive(Debug)]
pub(super) struct Download {
    name: Vec<u8>,
    since: Instant,
    pub(super) input: Input,
    body: Body,
}

impl Download {
    /// Opens the named file; a refusal comes back with the name, for the access log.
    pub(super) fn open(
        name: Vec<u8>,
        since: Instant,
        input: Input,
        ctx: &Ctx,
    ) -> Result<Download, (Vec<u8>, Refusal)> {
        let content = match &ctx.settings.root {
            Some(root) => root.content(&name, ctx.now()),
            None => Err(Refusal::NotFound), // no files service configured: nothing to serve
        };
        match content {
            Ok(content) => Ok(Download {
                name,
                since,
                input,
                body: Body::new(content.data, 0, content.size),
            }),
            Err(refusal) => Err((name, refusal)),
        }
    }

    pub(super) fn buffered(&self) -> usize {
        self.body.buffered()
    }

    /// Sends as much as the socket takes; `None` while waiting for it.
    pub(super) fn pump(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Option<Outcome> {
        if let Err(e) = self.discard_input(io, ctx.scratch) {
            return Some(Outcome::from_io(e));
        }
        self.body.pump(io, ctx)
    }

    /// Counts the download and writes its access line.
    pub(super) fn log(&self, outcome: Outcome, ctx: &Ctx) {
        log_access(&self.name, self.body.sent(), self.since, outcome, ctx);
    }

    /// Reads and drops what the client sent after its name (nothing, usually: then no call is
    /// made, the socket being known drained).
    fn discard_input(&mut self, io: &mut dyn Transport, scratch: &mut [u8]) -> io::Result<()> {
        while self.input == Input::Open {
            match io.discard_now(scratch) {
                Ok(0) => self.input = Input::Ended,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Counts one raw request, and writes its access line: a warning when the server failed the
/// client (a refusal is the client's doing, like HTTP's 404).
pub(super) fn log_access(name: &[u8], sent: u64, since: Instant, outcome: Outcome, ctx: &Ctx) {
    ctx.tally.raw(outcome.result());
    let (peer, now, settings) = (ctx.peer, ctx.now(), ctx.settings);
    let level = outcome.level();
    if !access::enabled(level) {
        return;
    }
    let reason = (outcome != Outcome::Sent).then_some(&outcome as &dyn std::fmt::Display);
    let line = Access {
        time: SystemTime::now(),
        peer,
        request: Request::Raw(name),
        status: None,
        bytes: sent,
        duration: now.saturating_duration_since(since),
        fields: Fields::default(),
        reason,
    };
    access::record(level, settings.access_format, &line);
}

//! A service behind a load balancer (`--proxy-protocol`): the connection's first bytes must be
//! a PROXY protocol header ([`crate::proxy`]), which says who the client really is; then the
//! service it wraps runs as if that client had connected itself. The wrapper reads the header,
//! refuses a connection without a valid one (one log line at info, as a refused request's
//! access line is: the client's doing, not the server's fault; then close), gives the service
//! what was read past the header as if it came from the socket, and tells it, and the
//! driver's log, the client's address.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use super::{AnyService, Ctx, Next, Reason, Service, Settings, Transport};
use crate::proxy::{self, Parse, MAX_HEADER};

pub(crate) struct Proxied {
    stage: Stage,
    inner: AnyService,
}

enum Stage {
    /// Reading the header, until `until` (the request timeout from the accept).
    Header { buf: Vec<u8>, until: Instant },
    /// The header was whole: `rest` holds what came after it, not yet read by the service;
    /// `client` is who the header named (`None`: the connection's own address).
    Passing {
        rest: Vec<u8>,
        client: Option<SocketAddr>,
    },
}

impl Proxied {
    pub(crate) fn new(inner: AnyService, settings: &Settings, now: Instant) -> Proxied {
        Proxied {
            stage: Stage::Header {
                buf: Vec::new(),
                until: now + settings.request_timeout,
            },
            inner,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Still reading the header.
    pub(crate) fn awaiting_header(&self) -> bool {
        matches!(self.stage, Stage::Header { .. })
    }

    /// The client the header named, once it has.
    pub(crate) fn client(&self) -> Option<SocketAddr> {
        match &self.stage {
            Stage::Passing { client, .. } => *client,
            Stage::Header { .. } => None,
        }
    }

    /// Reads what the socket has of the header: `None` once whole (and the stage moved on).
    fn read_header(&mut self, io: &mut dyn Transport, peer: SocketAddr) -> Option<Next> {
        let Stage::Header { buf, .. } = &mut self.stage else {
            return None;
        };
        loop {
            let at = buf.len();
            buf.resize(MAX_HEADER, 0);
            let read = io.read(&mut buf[at..]);
            buf.truncate(at + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) if buf.is_empty() => return Some(Next::Close(Reason::Done)),
                Ok(0) => return Some(refuse(peer, "the connection ended inside the PROXY header")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Next::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Next::Close(e.into())),
            }
            match proxy::parse(buf) {
                Parse::Partial if buf.len() < MAX_HEADER => {}
                Parse::Partial => return Some(refuse(peer, "PROXY header too long")),
                Parse::Refused(why) => return Some(refuse(peer, why)),
                Parse::Done(header) => {
                    let rest = buf.split_off(header.len);
                    let client = header.source;
                    log::debug!(
                        "{} {peer}: PROXY header for {}",
                        self.inner.name(),
                        client.map_or("the balancer itself".into(), |c| c.to_string())
                    );
                    self.stage = Stage::Passing { rest, client };
                    return None;
                }
            }
        }
    }

    /// Runs the wrapped service, as the header's client, over the socket with what was read
    /// past the header first.
    fn pass(
        &mut self,
        io: &mut dyn Transport,
        cx: &mut Ctx,
        turn: impl FnOnce(&mut AnyService, &mut dyn Transport, &mut Ctx) -> Next,
    ) -> Next {
        let Stage::Passing { rest, client } = &mut self.stage else {
            return Next::Wait;
        };
        let mut cx = cx.for_peer(client.unwrap_or(cx.peer));
        let mut io = Replay { rest, io };
        turn(&mut self.inner, &mut io, &mut cx)
    }
}

/// A connection without a valid header: one line, then closed.
fn refuse(peer: SocketAddr, why: &'static str) -> Next {
    log::info!("{peer}: {why}: closing (--proxy-protocol)");
    Next::Close(Reason::Protocol(why))
}

impl Service for Proxied {
    fn on_ready(&mut self, io: &mut dyn Transport, cx: &mut Ctx) -> Next {
        if let Some(next) = self.read_header(io, cx.peer) {
            return next;
        }
        self.pass(io, cx, |inner, io, cx| inner.get_mut().on_ready(io, cx))
    }

    fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match &self.stage {
            Stage::Header { until, .. } => Some(*until),
            Stage::Passing { .. } => self.inner.deadline(settings),
        }
    }

    fn on_deadline(&mut self, io: &mut dyn Transport, cx: &mut Ctx) -> Next {
        if let Stage::Header { until, .. } = &self.stage {
            if *until <= cx.now() {
                let why = "no whole PROXY header within the request timeout";
                log::info!("{}: {why}: closing (--proxy-protocol)", cx.peer);
                return Next::Close(Reason::RequestTimeout);
            }
            return self.on_ready(io, cx);
        }
        self.pass(io, cx, |inner, io, cx| inner.get_mut().on_deadline(io, cx))
    }

    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    fn at_rest(&self) -> bool {
        match &self.stage {
            Stage::Header { buf, .. } => buf.is_empty(),
            Stage::Passing { rest, .. } => rest.is_empty() && self.inner.at_rest(),
        }
    }

    fn mid_answer(&self) -> bool {
        self.inner.mid_answer()
    }

    fn abandon(&mut self, reason: Reason, cx: &mut Ctx) {
        if let Stage::Passing { client, .. } = &self.stage {
            let mut cx = cx.for_peer(client.unwrap_or(cx.peer));
            self.inner.abandon(reason, &mut cx);
        }
    }
}

/// The socket as the wrapped service sees it: what was read past the header comes first.
struct Replay<'a> {
    rest: &'a mut Vec<u8>,
    io: &'a mut dyn Transport,
}

impl Replay<'_> {
    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest.drain(..n);
        if self.rest.is_empty() {
            *self.rest = Vec::new(); // give the memory back
        }
        n
    }
}

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rest.is_empty() || buf.is_empty() {
            return self.io.read(buf);
        }
        Ok(self.take(buf))
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.io.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

impl Transport for Replay<'_> {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        self.io.send_file(file, offset, len)
    }

    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rest.is_empty() || buf.is_empty() {
            return self.io.discard_now(buf);
        }
        Ok(self.take(buf))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.io.shutdown_write()
    }

    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_more(buf)
    }
}

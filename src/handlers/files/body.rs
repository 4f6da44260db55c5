//! A part of a file on its way to the socket: the raw protocol's whole file, or an HTTP
//! response's body. A small file's bytes come from memory ([`crate::cache`]) and may leave
//! with the response head in one `writev`. A larger file goes with `sendfile(2)` as fast as the
//! socket takes it, or, where `sendfile` is not supported, in chunks of at most `buffer` bytes
//! through the scratch buffer; either way nothing is read ahead of the socket.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;

use super::super::pending::Pending;
use super::super::{write_some, Ctx, Transport};
use super::Outcome;
use crate::content::Data;

/// Most bytes asked of one `sendfile` call (the kernel's own cap, about 2 GiB).
const MAX_SENDFILE: u64 = 0x7fff_f000;

#[derive(Debug)]
pub(super) struct Body {
    data: Data,
    /// Where the part starts, and one past its end.
    start: u64,
    end: u64,
    /// Bytes taken from the file so far end here; `pending` holds those not yet sent.
    offset: u64,
    pending: Pending,
    method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Sendfile,
    /// `pread` into the scratch buffer and `write`, where `sendfile` is not supported.
    Copy,
}

impl Body {
    /// Bytes `start..end` of `data`.
    pub(super) fn new(data: Data, start: u64, end: u64) -> Body {
        Body {
            data,
            start,
            end,
            offset: start,
            pending: Pending::default(),
            method: Method::Sendfile,
        }
    }

    /// Bytes the socket has taken.
    pub(super) fn sent(&self) -> u64 {
        self.offset - self.start - self.pending.len() as u64
    }

    /// Bytes read from the file that the socket has not taken yet.
    pub(super) fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Sends as much as the socket takes. `None` while waiting for it to take more; the outcome
    /// once the part is sent or cannot be.
    pub(super) fn pump(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Option<Outcome> {
        loop {
            if let Err(e) = self.pending.flush(io) {
                return Some(Outcome::from_io(e));
            }
            if !self.pending.is_empty() {
                return None;
            }
            let left = self.end - self.offset;
            if left == 0 {
                return Some(Outcome::Sent);
            }
            let result = match (&self.data, self.method) {
                (Data::Bytes(bytes), _) => {
                    io.write(&bytes[self.offset as usize..self.end as usize])
                }
                (Data::File(file), Method::Sendfile) => {
                    io.send_file(file, self.offset, left.min(MAX_SENDFILE) as usize)
                }
                (Data::File(file), Method::Copy) => {
                    copy(file, self.offset, &mut self.pending, io, ctx, left)
                }
            };
            match result {
                Ok(0) => return Some(Outcome::Truncated),
                Ok(n) => self.offset += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.method == Method::Sendfile && sendfile_unsupported(&e) => {
                    log::debug!("sendfile not supported here ({e}): copying instead");
                    self.method = Method::Copy;
                }
                Err(e) => return Some(Outcome::from_io(e)),
            }
        }
    }

    /// Writes `head` and as much of the part after it as the socket takes, in one call where
    /// the part is in memory; a file's part waits for [`Body::pump`], the head telling the
    /// kernel it follows (`MSG_MORE`). Returns how much of `head` went.
    pub(super) fn send_with_head(
        &mut self,
        io: &mut dyn Transport,
        head: &[u8],
    ) -> io::Result<usize> {
        let Data::Bytes(bytes) = &self.data else {
            return io.write_more(head);
        };
        let rest = &bytes[self.offset as usize..self.end as usize];
        let n = io.write_vectored(&[IoSlice::new(head), IoSlice::new(rest)])?;
        self.offset += n.saturating_sub(head.len()) as u64;
        Ok(n.min(head.len()))
    }
}

/// One chunk of `file` through the scratch buffer; what the socket refuses waits in `pending`.
fn copy(
    file: &File,
    offset: u64,
    pending: &mut Pending,
    io: &mut dyn Transport,
    ctx: &mut Ctx,
    left: u64,
) -> io::Result<usize> {
    let want = left
        .min(ctx.settings.buffer as u64)
        .min(ctx.scratch.len() as u64) as usize;
    let chunk = &mut ctx.scratch[..want];
    let n = file.read_at(chunk, offset)?;
    let sent = write_some(io, &chunk[..n])?;
    pending.push(&chunk[sent..n]);
    Ok(n)
}

fn sendfile_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

//! A scripted socket for unit tests of the services: each read takes the next step of a
//! script, and writes go into a buffer until the socket's room runs out.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use super::{Ctx, Settings, Transport};

#[derive(Default)]
pub struct Script {
    /// What successive reads return: bytes (empty for end-of-stream) or an error. Once the
    /// script is spent, reads would block.
    reads: VecDeque<io::Result<Vec<u8>>>,
    /// Everything written so far.
    pub written: Vec<u8>,
    /// Bytes the socket accepts before writes would block.
    pub room: usize,
    /// Every write fails with this, if set.
    pub write_error: Option<io::ErrorKind>,
    /// The service sent FIN.
    pub write_shut: bool,
}

impl Script {
    pub fn new(room: usize) -> Script {
        Script {
            room,
            ..Script::default()
        }
    }

    pub fn then_bytes(mut self, bytes: &[u8]) -> Script {
        self.reads.push_back(Ok(bytes.to_vec()));
        self
    }

    pub fn then_eof(self) -> Script {
        self.then_bytes(b"")
    }

    pub fn then_error(mut self, kind: io::ErrorKind) -> Script {
        self.reads.push_back(Err(kind.into()));
        self
    }

    /// A context for one turn at the present time.
    pub fn ctx<'a>(scratch: &'a mut [u8], settings: &'a Settings) -> Ctx<'a> {
        Ctx::new(scratch, settings, "127.0.0.1:9".parse().unwrap())
    }

    /// Reads still to come.
    pub fn unread(&self) -> usize {
        self.reads.len()
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reads.pop_front() {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(Err(e)) => Err(e),
            Some(Ok(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.reads.push_front(Ok(bytes[n..].to_vec()));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.write_error {
            return Err(kind.into());
        }
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `sendfile` as a copy: what the file holds at `offset`, through the same write room.
impl Transport for Script {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        let mut buf = vec![0; len.min(self.room.max(1))];
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            return Ok(0);
        }
        self.write(&buf[..n])
    }

    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.write_shut = true;
        Ok(())
    }
}

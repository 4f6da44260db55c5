//! A scripted socket for unit tests of the services: each read takes the next step of a
//! script, and writes go into a buffer until the socket's room runs out.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

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

//! One log destination: a bounded queue that serving threads append whole lines to, and the one
//! thread that writes the queue out, many lines per `write`.
//!
//! A serving thread only ever takes the queue's lock for a copy of one line; it never waits for
//! the destination. When the queue is full the line is dropped and counted. The writer swaps
//! the queue's buffer for its own empty one under the lock and writes with no lock held, so a
//! destination that blocks (a pipe nobody reads) or fails (EPIPE, ENOSPC, EIO) stalls or loses
//! only log lines, never service. Once a write works again after a loss (or at exit), the
//! writer says how many lines were lost, as a warning in the diagnostics log.
//!
//! The writer sleeps in `poll(2)` on a socket pair. A serving thread writes to it only when the
//! writer is asleep on an empty queue, or when the queue passes [`BATCH`]; a signal handler
//! writes to it to reopen files. Once awake, the writer lets lines gather for up to [`GATHER`]
//! before it writes them, so a busy server costs one wake-up and one `write` per batch, and a
//! quiet one gets its lines out within that time.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem::{self, ManuallyDrop};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::sys;

/// Most bytes a queue holds; lines beyond are dropped and counted (1 MiB: about 10,000 access
/// lines, a twentieth of a second of a very busy server, or minutes of a blocked destination).
pub const CAPACITY: usize = 1 << 20;
/// A queue this full is written at once rather than after [`GATHER`].
pub const BATCH: usize = 64 * 1024;
/// How long the writer lets lines gather after the first of a batch.
pub const GATHER: Duration = Duration::from_millis(50);
/// How long the writer waits for a destination that will not take bytes before asking again.
const STALLED_POLL: Duration = Duration::from_millis(100);

/// Where a log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stderr,
    /// A file, opened for appending (created 0640), reopened on request.
    File(PathBuf),
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Stderr => f.write_str("stderr"),
            Dest::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A destination, opened: what its writer will write to.
#[derive(Debug)]
pub struct Output {
    dest: Dest,
    /// `None` for a file that could not be reopened: its lines are lost until the next reopen.
    file: Option<ManuallyDrop<File>>,
}

impl Output {
    /// Opens `dest`: a file for appending, created 0640 (a FIFO with no reader is an error,
    /// not a wait); stderr as it is.
    pub fn open(dest: Dest) -> io::Result<Output> {
        let file = match &dest {
            // Borrowed, never closed: stderr belongs to the process.
            // SAFETY: descriptor 2 stays open for the life of the process (main makes sure it
            // is open); ManuallyDrop keeps this File from closing it.
            Dest::Stderr => ManuallyDrop::new(unsafe { File::from_raw_fd(libc::STDERR_FILENO) }),
            Dest::File(path) => ManuallyDrop::new(open_file(path)?),
        };
        Ok(Output {
            dest,
            file: Some(file),
        })
    }

    /// The file behind it (device and inode), so that one destination named two ways (`-` and
    /// `/dev/stderr`, `x.log` and `./x.log`) gets one writer, not two splicing lines together.
    pub fn identity(&self) -> io::Result<(u64, u64)> {
        let file = self.file.as_ref().ok_or(io::ErrorKind::NotFound)?;
        let meta = file.metadata()?;
        Ok((meta.dev(), meta.ino()))
    }

    fn reopen(&mut self) -> io::Result<()> {
        let Dest::File(path) = &self.dest else {
            return Ok(()); // stderr is not ours to reopen
        };
        if let Some(old) = self.file.take() {
            drop(ManuallyDrop::into_inner(old));
        }
        self.file = Some(ManuallyDrop::new(open_file(path)?));
        Ok(())
    }

    /// Whether writes now go to a file opened since a line was cut short in the old one.
    fn fresh(&self) -> bool {
        matches!(self.dest, Dest::File(_)) && self.file.is_some()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(bytes),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "not reopened")),
        }
    }

    /// Takes the last `bytes` written back out of a regular file, if nothing was written
    /// after them; fails where that cannot be done (a pipe, a file another writer appends to).
    fn unwrite(&mut self, bytes: usize) -> io::Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(()); // nothing was written
        };
        let end = file.stream_position()?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() != end || end < bytes as u64 {
            return Err(io::Error::other("not ours to cut"));
        }
        let cut = end - bytes as u64;
        file.set_len(cut)?;
        // Without O_APPEND (stderr as `2>file`) the next write goes where the offset is: move
        // it back too, or the gap would read as NUL bytes.
        file.seek(SeekFrom::Start(cut))?;
        Ok(())
    }

    fn fd(&self) -> RawFd {
        self.file.as_ref().map_or(-1, |f| f.as_raw_fd())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let (Dest::File(_), Some(file)) = (&self.dest, self.file.take()) {
            drop(ManuallyDrop::into_inner(file));
        }
    }
}

/// Opens a log file for appending, created readable by its owner and group only. Nonblocking
/// while opening, so that a FIFO with no reader fails (ENXIO) instead of hanging the start;
/// blocking after, because only the writer thread ever writes to it.
fn open_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => io::Error::new(e.kind(), "a FIFO that nobody reads"),
            _ => e,
        })?;
    sys::set_blocking(file.as_raw_fd())?;
    Ok(file)
}

/// The queue side of a destination, shared by every serving thread.
#[derive(Debug)]
pub struct Sink {
    shared: Arc<Shared>,
    dest: Dest,
    /// Told when the writer has written everything it was asked to before finishing.
    done: Mutex<Option<Receiver<()>>>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// The writer's wake-up: a byte here ends its `poll`.
    wake: UnixStream,
    /// Lines lost so far (queue full, or a failed write), for the lifetime of the process.
    dropped: AtomicU64,
    /// Lines of the batch being written that have not gone yet.
    writing: AtomicU64,
    /// Lines lost and not yet reported when the writer stopped.
    unreported: AtomicU64,
}

/// Lines every sink of the process has lost, for the metrics.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines lost so far by every destination of the process (0 when it logs elsewhere: an
/// embedding program with its own logger).
pub fn dropped_in_process() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

impl Shared {
    /// `lines` lines were lost.
    fn dropped(&self, lines: u64) {
        self.dropped.fetch_add(lines, Ordering::Relaxed);
        DROPPED.fetch_add(lines, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Queue {
    lines: Vec<u8>,
    /// Lines in `lines`.
    count: u64,
    /// Lines refused for want of room since the writer last took the queue.
    refused: u64,
    /// The writer sleeps until woken: the next line must wake it.
    asleep: bool,
    /// The writer has been woken for a full batch and has not taken it yet.
    urged: bool,
    /// Write what is queued, then stop.
    finishing: bool,
}

/// What a destination was left with at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Left {
    /// Lines it had not taken by the deadline.
    pub unwritten: u64,
    /// Lines lost before, never reported in a log.
    pub unreported: u64,
}

impl Sink {
    /// Starts the writer of an opened destination. `reopen` counts reopen requests; the
    /// writer reopens a file when it changes. Returns the writer's wake-up descriptor, for a
    /// signal handler.
    pub fn start(out: Output, reopen: &'static AtomicU64) -> io::Result<(Sink, RawFd)> {
        let (wake, waiting) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        waiting.set_nonblocking(true)?;
        let wake_fd = wake.as_raw_fd();
        let dest = out.dest.clone();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake,
            dropped: AtomicU64::new(0),
            writing: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        });
        let (done_tx, done_rx) = mpsc::channel();
        let writer = Writer {
            shared: Arc::clone(&shared),
            waiting,
            out,
            reopen,
            seen: reopen.load(Ordering::Relaxed),
            lost: Loss::default(),
            dangling: false,
        };
        std::thread::Builder::new()
            .name("tcpserve-log".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                writer.run();
                let _ = done_tx.send(());
            })?;
        let sink = Sink {
            shared,
            dest,
            done: Mutex::new(Some(done_rx)),
        };
        Ok((sink, wake_fd))
    }

    pub fn dest(&self) -> &Dest {
        &self.dest
    }

    /// Queues one whole line (ending in `\n`), or counts it as dropped if there is no room.
    pub fn push(&self, line: &[u8]) {
        let mut queue = lock(&self.shared.queue);
        if queue.lines.len() + line.len() > CAPACITY {
            queue.refused += 1;
            self.shared.dropped(1);
            return;
        }
        queue.lines.extend_from_slice(line);
        queue.count += 1;
        let wake = if queue.asleep {
            queue.asleep = false;
            true
        } else if !queue.urged && queue.lines.len() >= BATCH {
            queue.urged = true;
            true
        } else {
            false
        };
        drop(queue);
        if wake {
            sys::poke(self.shared.wake.as_raw_fd());
        }
    }

    /// Lines lost so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Asks the writer to write everything queued and stop, and waits until `deadline` for it.
    /// A loss the writer could not report in a log comes back, with the lines the destination
    /// did not take in time.
    pub fn finish(&self, deadline: Instant) -> Left {
        lock(&self.shared.queue).finishing = true;
        sys::poke(self.shared.wake.as_raw_fd());
        let mut left = Left::default();
        if let Some(done) = lock(&self.done).take() {
            let wait = deadline.saturating_duration_since(Instant::now());
            if let Err(RecvTimeoutError::Timeout) = done.recv_timeout(wait) {
                let queued = lock(&self.shared.queue).count;
                left.unwritten = queued + self.shared.writing.load(Ordering::Relaxed);
            }
        }
        left.unreported = self.shared.unreported.load(Ordering::Relaxed);
        left
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A thread that panicked while holding the lock left whole lines: carry on with them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lines_in(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The writer thread's own state.
struct Writer {
    shared: Arc<Shared>,
    waiting: UnixStream,
    out: Output,
    reopen: &'static AtomicU64,
    /// The reopen count last acted on.
    seen: u64,
    lost: Loss,
    /// The destination holds the start of a line whose end was lost.
    dangling: bool,
}

/// Lines lost and not yet reported, and the last reason.
#[derive(Default)]
struct Loss {
    lines: u64,
    why: Option<String>,
}

impl Loss {
    fn add(&mut self, lines: u64, why: String) {
        self.lines += lines;
        self.why = Some(why);
    }
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::new();
        loop {
            self.reopen_if_asked();
            let urgent = {
                let mut queue = lock(&self.shared.queue);
                if queue.lines.is_empty() {
                    if queue.finishing {
                        break;
                    }
                    queue.asleep = true;
                    None
                } else {
                    Some(queue.urged || queue.finishing)
                }
            };
            match urgent {
                None => {
                    self.sleep(None);
                    continue;
                }
                Some(false) => self.gather(),
                Some(true) => {}
            }
            let (refused, count) = {
                let mut queue = lock(&self.shared.queue);
                mem::swap(&mut queue.lines, &mut batch);
                queue.urged = false;
                (mem::take(&mut queue.refused), mem::take(&mut queue.count))
            };
            if refused > 0 {
                // Counted as dropped when they were refused.
                self.lost.add(refused, "the queue was full".to_string());
            }
            self.shared.writing.store(count, Ordering::Relaxed);
            self.write(&batch);
            self.shared.writing.store(0, Ordering::Relaxed);
            batch.clear();
        }
        // A loss not yet reported: said now, in the diagnostics log if it still takes lines
        // (the access log's writer stops first), and kept for whoever finishes the logger.
        self.shared
            .unreported
            .store(self.lost.lines, Ordering::Relaxed);
        self.report_loss();
    }

    /// Waits up to [`GATHER`] for more lines, unless the queue fills to a batch, a reopen is
    /// asked for, or the writer is to finish.
    fn gather(&mut self) {
        let deadline = Instant::now() + GATHER;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.reopen.load(Ordering::Relaxed) != self.seen {
                return;
            }
            self.sleep(Some(left));
            let queue = lock(&self.shared.queue);
            if queue.urged || queue.finishing {
                return;
            }
        }
    }

    /// Waits for a wake-up (or `timeout`), then takes every wake-up byte.
    fn sleep(&mut self, timeout: Option<Duration>) {
        let _ = sys::wait_readable(&[self.waiting.as_raw_fd()], timeout);
        let mut bytes = [0u8; 64];
        while matches!(self.waiting.read(&mut bytes), Ok(n) if n > 0) {}
    }

    fn reopen_if_asked(&mut self) {
        let asked = self.reopen.load(Ordering::Relaxed);
        if asked == self.seen {
            return;
        }
        self.seen = asked;
        if let Err(e) = self.out.reopen() {
            log::warn!(
                "cannot reopen {}: {e}; its lines are dropped until the next reopen",
                self.out.dest
            );
        }
        self.dangling &= !self.out.fresh();
    }

    /// Writes `batch` out; what does not go is counted as lost. After a write that worked, a
    /// loss before it is reported.
    fn write(&mut self, batch: &[u8]) {
        if self.dangling {
            // A line cut short before, which could not be taken back: end it, so the next
            // line starts a line of its own.
            if self.out.write(b"\n").is_err() {
                return self.fail(batch, 0, "cannot write".to_string());
            }
            self.dangling = false;
        }
        let mut done = 0;
        while done < batch.len() {
            match self.out.write(&batch[done..]) {
                Ok(0) => return self.fail(batch, done, "the destination took nothing".into()),
                Ok(n) => {
                    // Counted only when a write falls short: a whole batch in one write, the
                    // usual case, costs no scan.
                    if done + n < batch.len() {
                        let gone = lines_in(&batch[done..done + n]);
                        self.shared.writing.fetch_sub(gone, Ordering::Relaxed);
                    }
                    done += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A descriptor left nonblocking by whoever started us: wait for room.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = sys::wait_writable(self.out.fd(), STALLED_POLL);
                }
                Err(e) => return self.fail(batch, done, format!("cannot write: {e}")),
            }
        }
        self.report_loss();
    }

    /// A loss not yet reported, as a warning in the diagnostics log.
    fn report_loss(&mut self) {
        if self.lost.lines > 0 {
            let Loss { lines, why } = mem::take(&mut self.lost);
            log::warn!(
                "{}: {lines} log lines dropped ({})",
                self.out.dest,
                why.as_deref().unwrap_or("unknown")
            );
        }
    }

    /// Only `done` bytes of `batch` went: the lines after them are lost, and so is a line
    /// they end in the middle of, whose start is taken back out of a file (or, where it
    /// cannot be, ended before the next write) so that no line is ever glued to another.
    fn fail(&mut self, batch: &[u8], done: usize, why: String) {
        let whole = batch[..done]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if done > whole && self.out.unwrite(done - whole).is_err() {
            self.dangling = true;
        }
        let lines = lines_in(&batch[whole..]);
        self.shared.dropped(lines);
        self.lost.add(lines, why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NO_REOPEN: AtomicU64 = AtomicU64::new(0);

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tcpserve-sink-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    fn sink(dest: Dest) -> Sink {
        Sink::start(Output::open(dest).unwrap(), &NO_REOPEN)
            .unwrap()
            .0
    }

    #[test]
    fn every_queued_line_is_written_by_the_finish() {
        let dir = scratch("all");
        let path = dir.join("x.log");
        let sink = sink(Dest::File(path.clone()));
        for i in 0..10_000 {
            sink.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(sink.finish(deadline()), Left::default());
        let text = std::fs::read_to_string(&path).unwrap();
        let want: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        assert!(text == want, "{} bytes, want {}", text.len(), want.len());
        assert_eq!(sink.dropped(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_full_device_loses_lines_and_counts_them() {
        let sink = sink(Dest::File("/dev/full".into()));
        for _ in 0..100 {
            sink.push(b"lost\n");
        }
        // No write ever worked, so no log line said so: the loss comes back to be said.
        let left = sink.finish(deadline());
        assert_eq!(left.unwritten, 0);
        assert_eq!(left.unreported, 100);
        assert_eq!(sink.dropped(), 100);
    }

    #[test]
    fn a_queue_with_no_room_drops_and_counts() {
        // A line larger than the whole queue can never be taken.
        let sink = sink(Dest::File("/dev/null".into()));
        let huge = vec![b'x'; CAPACITY + 1];
        sink.push(&huge);
        sink.push(b"fits\n");
        // Said in a log line once the next write worked.
        assert_eq!(sink.finish(deadline()), Left::default());
        assert_eq!(sink.dropped(), 1);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_an_error() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/x.log");
        let err = Output::open(Dest::File(path)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fifo_nobody_reads_is_an_error_not_a_wait() {
        let dir = scratch("fifo");
        let path = dir.join("fifo");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = Output::open(Dest::File(path)).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn one_file_under_two_names_is_one_identity() {
        let dir = scratch("same");
        let a = Output::open(Dest::File(dir.join("x.log"))).unwrap();
        let b = Output::open(Dest::File(dir.join(".").join("x.log"))).unwrap();
        let c = Output::open(Dest::File(dir.join("y.log"))).unwrap();
        assert_eq!(a.identity().unwrap(), b.identity().unwrap());
        assert_ne!(a.identity().unwrap(), c.identity().unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

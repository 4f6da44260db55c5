//! A server's system calls, counted by `perf stat -e raw_syscalls:sys_enter` over exactly the
//! measured window, and the judgement whether a count can be believed.
//!
//! `perf stat -p PID -- sleep SECS`, started when the window opens, does not count that window:
//! perf first opens a counter on every thread of the process, and only then starts the `sleep`; for
//! a thousand busy threads on a loaded machine that is slow (here, `perf stat -p` of the threads
//! model's server under 1,000 echo connections took 5.0 s to run a `sleep 2`, opening and closing
//! its counters). The span it counts starts late and runs past the end of the load into an idle
//! server, so the count covers part of the load or none of it (which is how the 0.01 system calls
//! per round trip once reported for that server can come about). So perf is attached once, before
//! the load, with its counters disabled (`--delay -1`) while the server has only its first few
//! threads, and is told to enable and disable them through a control FIFO (`--control`), each
//! acknowledged, at the window's edges. Threads the server starts later (the threads model's one
//! per connection) inherit the counter of the thread that started them (perf's default;
//! `--no-inherit` would lose them), and perf adds the inherited counts, of live threads and ended
//! ones, into what it prints.
//!
//! Whatever the method, a count is judged before it is printed: perf may say `<not counted>`
//! or `<not supported>`, print nothing, count nothing, or count fewer system calls than the
//! operations need, and then the figure is "not measured", with that reason.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The tracepoint hit once on entry to every system call.
pub const EVENT: &str = "raw_syscalls:sys_enter";

/// Fewer system calls than this per operation cannot be a whole count: an echo round trip
/// takes at least a read and a write, a download at least an accept, a read and a send.
const LEAST_PER_OP: f64 = 1.0;

/// How long perf may take to attach, or to answer a command.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// `perf stat` counting [`EVENT`], in CSV (`-x,`), on stderr.
fn perf_stat() -> Command {
    let mut perf = Command::new("perf");
    perf.args(["stat", "-x,", "-e", EVENT])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    perf
}

/// Whether perf can count [`EVENT`] here (it needs the tool, kernel support and permission),
/// and why not.
pub fn available() -> Result<(), String> {
    let out = perf_stat()
        .args(["--", "true"])
        .output()
        .map_err(|e| format!("perf cannot be run: {e}"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    match count_in(&text) {
        Ok(_) if out.status.success() => Ok(()),
        Ok(_) => Err(format!("perf stat failed ({})", out.status)),
        Err(why) => Err(why),
    }
}

/// A `perf stat` attached to one process, counting only between [`enable`](Counter::enable)
/// and [`disable`](Counter::disable). Dropped unfinished, it is killed.
pub struct Counter {
    perf: Child,
    /// Commands to perf.
    ctl: File,
    /// perf's `ack` after each command.
    ack: File,
    fifos: [PathBuf; 2],
}

impl Counter {
    /// Attaches perf to `pid`'s threads, counters disabled, and returns once perf answers.
    pub fn attach(pid: u32) -> Result<Counter, String> {
        let fifos = [fifo("ctl")?, fifo("ack")?];
        // Opened before perf starts, read and write, so that neither side blocks in `open`.
        let open = |path: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        let (ctl, ack) = match (open(&fifos[0]), open(&fifos[1])) {
            (Ok(ctl), Ok(ack)) => (ctl, ack),
            (Err(e), _) | (_, Err(e)) => {
                remove(&fifos);
                return Err(e);
            }
        };
        let control = format!("fifo:{},{}", fifos[0].display(), fifos[1].display());
        let spawned = perf_stat()
            .args([
                "--delay",
                "-1",
                "--control",
                &control,
                "-p",
                &pid.to_string(),
            ])
            .spawn();
        let perf = match spawned {
            Ok(perf) => perf,
            Err(e) => {
                remove(&fifos);
                return Err(format!("perf cannot be run: {e}"));
            }
        };
        let mut counter = Counter {
            perf,
            ctl,
            ack,
            fifos,
        };
        counter.command("ping")?;
        Ok(counter)
    }

    /// Starts counting; returns once perf has.
    pub fn enable(&mut self) -> Result<(), String> {
        self.command("enable")
    }

    /// Stops counting; returns once perf has.
    pub fn disable(&mut self) -> Result<(), String> {
        self.command("disable")
    }

    /// Ends perf and returns what it printed (the count, and any complaint).
    pub fn finish(mut self) -> Result<String, String> {
        // SAFETY: a signal to our own child, which has not been reaped (only `Drop` waits).
        unsafe { libc::kill(self.perf.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + ANSWER_WITHIN;
        while self.exited().is_none() {
            if Instant::now() > deadline {
                return Err("perf did not stop when interrupted".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(self.printed())
    }

    /// Sends `word` and waits for perf's `ack`; if perf ended instead, says what it printed.
    fn command(&mut self, word: &str) -> Result<(), String> {
        self.ctl
            .write_all(format!("{word}\n").as_bytes())
            .map_err(|e| format!("perf's control FIFO: {e}"))?;
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut heard = Vec::new();
        let mut buf = [0; 64];
        loop {
            match self.ack.read(&mut buf) {
                Ok(n) => heard.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("perf's ack FIFO: {e}")),
            }
            // perf writes "ack\n" and its string's NUL.
            if heard.windows(4).any(|w| w == b"ack\n") {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                let printed = self.printed();
                let said = first_line(&printed);
                return Err(format!("perf exited ({status}) before it counted: {said}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "perf did not answer '{word}' within {ANSWER_WITHIN:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.perf.try_wait().ok().flatten()
    }

    /// What perf wrote on stderr, once it has ended.
    fn printed(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.perf.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.perf.kill();
            let _ = self.perf.wait();
        }
        remove(&self.fifos);
    }
}

/// A new FIFO in the temporary directory, named for this process and `role`.
fn fifo(role: &str) -> Result<PathBuf, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "tcpserve-bench-{}-{n}-{role}.fifo",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a NUL in the path", path.display()))?;
    // SAFETY: a valid C string, and mkfifo keeps no pointer to it.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        let e = io::Error::last_os_error();
        return Err(format!("cannot make the FIFO {}: {e}", path.display()));
    }
    Ok(path)
}

fn remove(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// The first line of `text` that says something, for a reason.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("nothing")
}

/// The count perf printed for [`EVENT`] in its CSV output, or why there is none.
fn count_in(output: &str) -> Result<u64, String> {
    let line = output
        .lines()
        .find(|l| l.split(',').nth(2) == Some(EVENT))
        .ok_or_else(|| format!("perf printed no count: {}", first_line(output)))?;
    let fields: Vec<&str> = line.split(',').collect();
    let count = fields[0].trim();
    if count.starts_with('<') {
        // `<not counted>` (the counter never ran), `<not supported>`.
        return Err(format!("perf printed {count} for {EVENT}"));
    }
    let count: u64 = count
        .parse()
        .map_err(|_| format!("perf printed '{count}' for {EVENT}, not a count"))?;
    // Counted part of the time and scaled up: an estimate, not a count.
    match fields.get(4).and_then(|p| p.trim().parse::<f64>().ok()) {
        Some(percent) if percent < 100.0 => Err(format!(
            "perf counted {EVENT} {percent:.0}% of the time and scaled the rest"
        )),
        _ => Ok(count),
    }
}

/// System calls per operation from perf's output for a window in which `ops` operations
/// completed, or why that figure cannot be believed.
pub fn per_op(output: &str, ops: u64) -> Result<f64, String> {
    let count = count_in(output)?;
    if count == 0 {
        return Err("perf counted no system call at all".into());
    }
    if ops == 0 {
        return Err("no operation completed in the window".into());
    }
    let per = count as f64 / ops as f64;
    if per < LEAST_PER_OP {
        return Err(format!(
            "perf counted {count} system calls for {ops} operations ({per:.2} each), fewer \
             than an operation needs: it missed threads or part of the window"
        ));
    }
    Ok(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What perf printed, the operations in the window, and the figure or a word of the reason.
    #[test]
    fn a_count_is_believed_only_when_it_can_be() {
        let cases: &[(&str, u64, Result<f64, &str>)] = &[
            (
                "Events disabled\nEvents enabled\nEvents disabled\n\
                 241931,,raw_syscalls:sys_enter,1718452387,100.00,,\n",
                100_000,
                Ok(2.41931),
            ),
            ("29,,raw_syscalls:sys_enter,948257,100.00,,\n", 10, Ok(2.9)),
            // Older perf without the percentage.
            ("400,,raw_syscalls:sys_enter,1000\n", 200, Ok(2.0)),
            (
                "<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n",
                1000,
                Err("<not counted>"),
            ),
            (
                "<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n",
                1000,
                Err("<not supported>"),
            ),
            (
                "0,,raw_syscalls:sys_enter,1000,100.00,,\n",
                1000,
                Err("no system call"),
            ),
            // The threads model at 1,000 connections, as once printed: 0.01 per round trip.
            (
                "3500,,raw_syscalls:sys_enter,80060746,100.00,,\n",
                350_000,
                Err("fewer than an operation needs"),
            ),
            (
                "900,,raw_syscalls:sys_enter,1000,100.00,,\n",
                1000,
                Err("fewer than an operation needs"),
            ),
            (
                "5000,,raw_syscalls:sys_enter,1000,100.00,,\n",
                0,
                Err("no operation"),
            ),
            (
                "500000,,raw_syscalls:sys_enter,1000,62.50,,\n",
                1000,
                Err("scaled"),
            ),
            (
                "Problems finding threads of monitor\n\n Usage: perf stat [<options>]\n",
                1000,
                Err("Problems finding threads"),
            ),
            (
                "Error:\nNo permission to enable raw_syscalls:sys_enter event.\n",
                1000,
                Err("printed no count: Error:"),
            ),
            ("", 1000, Err("printed no count: nothing")),
            (
                "12x,,raw_syscalls:sys_enter,1000,100.00,,\n",
                1000,
                Err("not a count"),
            ),
            // Another event's line is not this one's count.
            (
                "123456,,cycles,1000,100.00,,\n",
                1000,
                Err("printed no count"),
            ),
        ];
        for (output, ops, want) in cases {
            let got = per_op(output, *ops);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert!((w - g).abs() < 1e-9, "{output:?}: {g}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{output:?}: {g:?} lacks {w:?}"),
                _ => panic!("{output:?} with {ops} ops: {got:?}, not {want:?}"),
            }
        }
    }
}

//! The three models give the same answers. Scripted client sessions, written as tables, are
//! played against a server of each model in turn (one after another, never at once; each model
//! its own server on port 0, all serving the same root), and every model's transcript must be
//! byte-identical to the reactor's: every byte received, how the connection ended (the server's
//! clean end-of-stream, a reset, or still open at the deadline), and what each write and
//! half-close came to. Each session also carries the answer docs/PROTOCOL.md gives, so three
//! models wrong alike fail too.
//!
//! The sessions: echo (small, large, half-close, a message split over writes); files over the
//! whole hostile-name table (tests/common/hostile.rs), both half-closed after the payload and
//! left open (where a bare row ends by the quiet period); and the name framing: a bare name
//! ended by the quiet period, a name split by pauses shorter than it and one split by a pause
//! longer than it, `name_wait` 0, CRLF, half-close.

mod common;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::hostile::{contains, hostile_rows, shown, Tree, Want};
use common::*;
use tcpserve::{Builder, Handle, Model};

/// How long a session's last step waits for the server to end the connection before calling it
/// still open. A session the server ends is over a few milliseconds after its last byte (or its
/// quiet period): this is the margin, and what each session left open costs per model.
const OPEN_AFTER: Duration = Duration::from_secs(1);
/// Most bytes a session reads.
const CAP: usize = 4 << 20;

enum Step {
    /// Send these bytes, all of them.
    Write(Vec<u8>),
    /// Wait this many milliseconds: the client's pace, part of the script.
    Pause(u64),
    /// Shut down the sending side (FIN).
    ShutWrite,
    /// Read until the server ends the connection, or call it open after [`OPEN_AFTER`]. What
    /// arrives is read all along (so a large echo never stalls); this step waits for the end.
    /// Every session ends with this step, and has no other.
    ReadToEnd,
}

use Step::{Pause, ReadToEnd, ShutWrite};

fn write(bytes: impl AsRef<[u8]>) -> Step {
    Step::Write(bytes.as_ref().to_vec())
}

/// How a session's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server's FIN: a clean end-of-stream.
    Eof,
    /// ECONNRESET.
    Reset,
    /// Neither, [`OPEN_AFTER`] after the last step began.
    Open,
    /// More than [`CAP`] bytes arrived; the rest was not read.
    Capped,
    /// Any other error, a read timeout included.
    Failed(io::ErrorKind),
}

struct Session {
    what: String,
    steps: Vec<Step>,
    /// What the client receives, and how the connection ends, by docs/PROTOCOL.md.
    want: (Vec<u8>, End),
}

fn session(what: impl Into<String>, steps: Vec<Step>, want: (Vec<u8>, End)) -> Session {
    Session {
        what: what.into(),
        steps,
        want,
    }
}

/// What a session came to.
#[derive(PartialEq, Eq)]
struct Transcript {
    received: Vec<u8>,
    end: End,
    /// What each write and half-close came to, in order.
    sends: Vec<Result<(), io::ErrorKind>>,
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes \"{}\", {:?}, sends {:?}",
            self.received.len(),
            shown(&self.received),
            self.end,
            self.sends
        )
    }
}

/// Where two byte strings part, for a failure message.
fn parting(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(at) => format!("first difference at byte {at}"),
        None if a.len() == b.len() => "the same bytes".to_string(),
        None => format!("one is a prefix of the other ({} and {})", a.len(), b.len()),
    }
}

/// Reads until the stream ends or more than [`CAP`] bytes have arrived.
fn read_all(mut stream: TcpStream) -> (Vec<u8>, End) {
    let mut got = Vec::new();
    let mut buf = vec![0; 64 << 10];
    // Bounded: each pass ends the loop or adds at least a byte toward CAP, and a read waits at
    // most PATIENCE (the timeout `connect` set).
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, End::Eof),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > CAP {
                    return (got, End::Capped);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (got, End::Reset),
            Err(e) => return (got, End::Failed(e.kind())),
        }
    }
}

/// Plays `steps` as one client of `server` (its service at `addr`).
fn play(server: &Handle, addr: SocketAddr, steps: &[Step]) -> Transcript {
    let ends = steps.iter().filter(|s| matches!(s, ReadToEnd)).count();
    assert!(
        ends == 1 && matches!(steps.last(), Some(ReadToEnd)),
        "a session ends with its one ReadToEnd"
    );
    let accepted = server.stats().accepted;
    let mut stream = connect(addr);
    // Each write leaves when the script says.
    stream.set_nodelay(true).unwrap();
    // The script starts once the server has the connection: an iterative server still closing
    // the previous session would otherwise find the first writes already merged.
    wait_until("the server to accept the session", || {
        server.stats().accepted > accepted
    });
    let reader = stream.try_clone().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    thread::scope(|s| {
        let reading = s.spawn(move || {
            let read = read_all(reader);
            let _ = done_tx.send(());
            read
        });
        let mut sends = Vec::new();
        let mut open = false;
        for step in steps {
            match step {
                Step::Write(bytes) => sends.push(stream.write_all(bytes).map_err(|e| e.kind())),
                Pause(ms) => thread::sleep(Duration::from_millis(*ms)),
                ShutWrite => sends.push(stream.shutdown(Shutdown::Write).map_err(|e| e.kind())),
                ReadToEnd => {
                    if done_rx.recv_timeout(OPEN_AFTER).is_err() {
                        open = true;
                        // The reader's blocked read returns end-of-stream.
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
            }
        }
        let (received, end) = reading.join().expect("the reader");
        Transcript {
            received,
            end: if open { End::Open } else { end },
            sends,
        }
    })
}

/// A server of each model, started from the same builder but for the model.
struct Servers {
    each: Vec<(Model, Handle)>,
    /// The service the sessions talk to.
    addr: fn(&Handle) -> SocketAddr,
}

impl Servers {
    fn start(builder: impl Fn(Model) -> Builder, addr: fn(&Handle) -> SocketAddr) -> Servers {
        let each = Model::ALL
            .into_iter()
            .map(|model| (model, start(builder(model))))
            .collect();
        Servers { each, addr }
    }

    /// Plays every session against each model in turn and fails, listing every session where
    /// a model answered otherwise than the reactor, or the reactor otherwise than the protocol,
    /// or any model sent `secret`.
    fn assert_same_answers(&self, sessions: &[Session], secret: Option<&[u8]>) {
        assert_eq!(
            self.each[0].0,
            Model::Reactor,
            "the reactor is the reference"
        );
        let mut failures = Vec::new();
        for session in sessions {
            let transcripts: Vec<(Model, Transcript)> = self
                .each
                .iter()
                .map(|(model, server)| {
                    let addr = (self.addr)(server);
                    (*model, play(server, addr, &session.steps))
                })
                .collect();
            let what = &session.what;
            for (model, got) in &transcripts {
                if secret.is_some_and(|secret| contains(&got.received, secret)) {
                    failures.push(format!("{what}: THE SECRET LEAKED through {model:?}"));
                }
            }
            let reference = &transcripts[0].1;
            let (want_bytes, want_end) = &session.want;
            if reference.received != *want_bytes || reference.end != *want_end {
                failures.push(format!(
                    "{what}: the reactor answered {reference:?}; the protocol says {} bytes \"{}\", {want_end:?} ({})",
                    want_bytes.len(),
                    shown(want_bytes),
                    parting(&reference.received, want_bytes)
                ));
            }
            for (model, got) in &transcripts[1..] {
                if got != reference {
                    failures.push(format!(
                        "{what}: {model:?} answered {got:?}; the reactor {reference:?} ({})",
                        parting(&got.received, &reference.received)
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} sessions failed:\n{}",
            failures.len(),
            sessions.len(),
            failures.join("\n")
        );
        for (model, server) in &self.each {
            wait_until("every session's connection to close", || {
                server.stats().open == 0
            });
            assert_eq!(
                server.stats().accepted,
                sessions.len() as u64,
                "{model:?}: connections"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------------------------

/// An echo session: everything written comes back; the server ends the connection (cleanly)
/// only after a half-close.
fn echo(what: &str, steps: Vec<Step>) -> Session {
    let mut back = Vec::new();
    for step in &steps {
        if let Step::Write(bytes) = step {
            back.extend_from_slice(bytes);
        }
    }
    let end = if steps.iter().any(|s| matches!(s, ShutWrite)) {
        End::Eof
    } else {
        End::Open
    };
    session(what, steps, (back, end))
}

#[test]
fn echo_sessions_get_the_same_answers_from_every_model() {
    let large = random_bytes(1 << 20, 7); // sixteen times the server's buffer
    let every_byte: Vec<u8> = (0..=255).collect();
    let greeting = "你好".as_bytes();
    let sessions = vec![
        // The only session left open: each costs OPEN_AFTER per model.
        echo(
            "small, split inside a character over paced writes, left open",
            vec![
                write(&greeting[..2]),
                Pause(20),
                write(&greeting[2..]),
                ReadToEnd,
            ],
        ),
        echo("nothing, then half-close", vec![ShutWrite, ReadToEnd]),
        echo(
            "small, then half-close",
            vec![write("hello\n"), ShutWrite, ReadToEnd],
        ),
        echo(
            "every byte value, then half-close",
            vec![write(&every_byte), ShutWrite, ReadToEnd],
        ),
        echo(
            "1 MiB in one write, then half-close",
            vec![write(&large), ShutWrite, ReadToEnd],
        ),
        echo(
            "1 MiB in 64 writes, then half-close",
            large
                .chunks(16 << 10)
                .map(write)
                .chain([ShutWrite, ReadToEnd])
                .collect(),
        ),
        echo(
            "a message split over paced writes, then half-close",
            vec![
                write("hel"),
                Pause(20),
                write("lo, "),
                Pause(20),
                write("world\n"),
                ShutWrite,
                ReadToEnd,
            ],
        ),
    ];
    let servers = Servers::start(echo_config, echo_addr);
    servers.assert_same_answers(&sessions, None);
}

// ---------------------------------------------------------------------------------------------
// Files: the hostile-name table
// ---------------------------------------------------------------------------------------------

/// What the table says the client receives for `want`.
fn answer(tree: &Tree, want: Want) -> Vec<u8> {
    match want {
        Want::Served(rel) => tree.content(rel),
        Want::Refused => Vec::new(),
    }
}

/// Every row of the table, the payload in one write, then half-closed: each name ends at its
/// terminator or the half-close; a long quiet period keeps it from ending any other way.
#[test]
fn the_hostile_table_half_closed_gets_the_same_answers_from_every_model() {
    let tree = Tree::new("models-hostile-fin");
    let rows = hostile_rows(&tree);
    assert!(rows.len() >= 60, "the table lost rows");
    let sessions: Vec<Session> = rows
        .iter()
        .map(|row| {
            let mut steps = Vec::new();
            if !row.payload.is_empty() {
                steps.push(write(&row.payload));
            }
            steps.extend([ShutWrite, ReadToEnd]);
            let what = format!("half-closed \"{}\"", shown(&row.payload));
            session(what, steps, (answer(&tree, row.want), End::Eof))
        })
        .collect();
    let servers = Servers::start(
        |model| files_config(model, &tree.root).name_wait(Duration::from_secs(10)),
        files_addr,
    );
    servers.assert_same_answers(&sessions, Some(tree.marker.as_bytes()));
}

/// Every row again, the payload in one write and then nothing, with the default quiet period
/// (the lesson's client): a row with no terminator ends by the quiet period; one that sent
/// nothing at all is still open at the deadline (the request timeout is 10 s).
#[test]
fn the_hostile_table_left_open_gets_the_same_answers_from_every_model() {
    let tree = Tree::new("models-hostile-open");
    let rows = hostile_rows(&tree);
    assert!(rows.len() >= 60, "the table lost rows");
    let sessions: Vec<Session> = rows
        .iter()
        .map(|row| {
            let what = format!("left open \"{}\"", shown(&row.payload));
            if row.payload.is_empty() {
                return session(what, vec![ReadToEnd], (Vec::new(), End::Open));
            }
            let steps = vec![write(&row.payload), ReadToEnd];
            session(what, steps, (answer(&tree, row.want), End::Eof))
        })
        .collect();
    let servers = Servers::start(|model| files_config(model, &tree.root), files_addr);
    servers.assert_same_answers(&sessions, Some(tree.marker.as_bytes()));
}

// ---------------------------------------------------------------------------------------------
// Files: where a name ends
// ---------------------------------------------------------------------------------------------

/// A root with `hello.txt` (3000 random bytes) and `sub/nested.txt` (5000), and those contents.
fn framing_root(test: &str) -> (TempDir, Vec<u8>, Vec<u8>) {
    let dir = TempDir::new(test);
    let hello = random_bytes(3000, 3);
    let nested = random_bytes(5000, 5);
    std::fs::write(dir.join("hello.txt"), &hello).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/nested.txt"), &nested).unwrap();
    (dir, hello, nested)
}

/// The default quiet period, 100 ms: the lesson's client sends the bare name and waits.
#[test]
fn framing_by_the_default_quiet_period_gets_the_same_answers_from_every_model() {
    let (dir, hello, nested) = framing_root("models-quiet");
    let refused = || (Vec::new(), End::Eof);
    let sessions = vec![
        session(
            "bare name, then wait",
            vec![write("hello.txt"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "bare name, then wait; more bytes long after the file",
            vec![
                write("sub/nested.txt"),
                Pause(400),
                write("more\n"),
                ReadToEnd,
            ],
            (nested.clone(), End::Eof),
        ),
        // The quiet period (100 ms) ends the name at "sub/": a directory, refused.
        session(
            "a name split by a pause longer than the quiet period",
            vec![write("sub/"), Pause(400), write("nested.txt"), ReadToEnd],
            refused(),
        ),
        session(
            "bare name ending in CR: the CR is part of the name",
            vec![write("hello.txt\r"), ReadToEnd],
            refused(),
        ),
        session(
            "CRLF",
            vec![write("hello.txt\r\n"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "newline, then another name",
            vec![write("hello.txt\nsub/nested.txt\n"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "bare name, then half-close",
            vec![write("sub/nested.txt"), ShutWrite, ReadToEnd],
            (nested.clone(), End::Eof),
        ),
        session(
            "nothing, then half-close",
            vec![ShutWrite, ReadToEnd],
            refused(),
        ),
        session(
            "bare name of no file",
            vec![write("nope"), ReadToEnd],
            refused(),
        ),
    ];
    let servers = Servers::start(|model| files_config(model, dir.path()), files_addr);
    servers.assert_same_answers(&sessions, None);
}

/// A name split by pauses shorter than the quiet period is one name. The quiet period is
/// 500 ms here, the pauses 50 ms: ten times the pause, so a late-scheduled test thread does not
/// end a name early by accident (a session ended by the quiet period is above, with 100 ms).
#[test]
fn framing_with_pauses_shorter_than_the_quiet_period_gets_the_same_answers_from_every_model() {
    let (dir, hello, nested) = framing_root("models-paced");
    let sessions = vec![
        session(
            "bare name in three paced writes, then wait",
            vec![
                write("sub/ne"),
                Pause(50),
                write("sted.t"),
                Pause(50),
                write("xt"),
                ReadToEnd,
            ],
            (nested.clone(), End::Eof),
        ),
        session(
            "three paced writes, newline",
            vec![
                write("sub/ne"),
                Pause(50),
                write("sted.t"),
                Pause(50),
                write("xt\n"),
                ReadToEnd,
            ],
            (nested.clone(), End::Eof),
        ),
        session(
            "CRLF split over two paced writes",
            vec![write("hello.txt\r"), Pause(50), write("\n"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "newline alone in the last paced write",
            vec![write("hello.txt"), Pause(50), write("\n"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "two paced writes, then half-close",
            vec![
                write("sub/"),
                Pause(50),
                write("nested.txt"),
                ShutWrite,
                ReadToEnd,
            ],
            (nested.clone(), End::Eof),
        ),
    ];
    let servers = Servers::start(
        |model| files_config(model, dir.path()).name_wait(Duration::from_millis(500)),
        files_addr,
    );
    servers.assert_same_answers(&sessions, None);
}

/// `name_wait` 0: the first read is the whole name, as in the lesson's server.
#[test]
fn framing_with_name_wait_zero_gets_the_same_answers_from_every_model() {
    let (dir, hello, _) = framing_root("models-wait0");
    let sessions = vec![
        session(
            "bare name, served at once",
            vec![write("hello.txt"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "newline: still a terminator",
            vec![write("hello.txt\n"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        session(
            "CRLF",
            vec![write("hello.txt\r\n"), ReadToEnd],
            (hello.clone(), End::Eof),
        ),
        // The first read is "hel": no such file; the rest, sent later, is dropped.
        session(
            "half a name, a pause, the rest",
            vec![write("hel"), Pause(200), write("lo.txt"), ReadToEnd],
            (Vec::new(), End::Eof),
        ),
        session(
            "bare name, then half-close",
            vec![write("hello.txt"), ShutWrite, ReadToEnd],
            (hello.clone(), End::Eof),
        ),
    ];
    let servers = Servers::start(
        |model| files_config(model, dir.path()).name_wait(Duration::ZERO),
        files_addr,
    );
    servers.assert_same_answers(&sessions, None);
}

//! Entry points for the fuzz targets in `fuzz/` (built only under cargo-fuzz's `--cfg
//! fuzzing`): the parts of a connection that are private to the crate, driven as a driver
//! would drive them, over the unit tests' scripted socket.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::handlers::script::Script;
use crate::handlers::{Ctx, Files, Next, Service, Settings};
use crate::metrics::counts::Uncounted;
use crate::root::Root;

/// What a files session wrote, and whether it ended by itself.
pub struct Session {
    pub written: Vec<u8>,
    pub closed: bool,
    /// After each turn: how much input had been fed, and how much output written.
    pub turns: Vec<(usize, usize)>,
}

/// A files service serving `root`, fed `input` in the pieces `cuts` marks (each byte a piece's
/// length, and how much the socket takes that turn: the client reads slowly or fast), each
/// piece one turn, then the end of input, every deadline passed, and a socket that takes all.
pub fn files_session(root: &Path, input: &[u8], cuts: &[u8]) -> Session {
    let settings = Settings {
        root: Some(Root::new(root).expect("the fuzz root")),
        ..Settings::default()
    };
    let start = Instant::now();
    let mut files = Files::new(&settings, start);
    let mut io = Script::new(0);
    let mut scratch = vec![0u8; 4096];
    let peer = "127.0.0.1:9".parse().unwrap();
    let mut at = 0;
    let mut now = start;
    let mut pieces = cuts.iter().map(|&c| usize::from(c) + 1);
    let mut next = Next::Wait;
    let mut turns = Vec::new();
    while at < input.len() && next == Next::Wait {
        let cut = pieces.next();
        let len = cut.unwrap_or(input.len()).min(input.len() - at);
        // The client read some of what was sent: room for this many more bytes (backpressure
        // when small); without a cut, all of it.
        io.room = cut.map_or(usize::MAX, |c| io.room.saturating_add(c * 97));
        io = io.then_bytes(&input[at..at + len]);
        at += len;
        // A millisecond between pieces, or, where the cut is even, a pause past the quiet
        // period: a name without its newline is then whole, as a driver would find it.
        let pause = match cut {
            Some(c) if c % 2 == 0 => settings.name_wait + Duration::from_millis(1),
            _ => Duration::from_millis(1),
        };
        now += pause;
        let mut cx = Ctx::at(&mut scratch, &settings, peer, now, &Uncounted);
        next = match files.deadline(&settings) {
            Some(due) if due <= now => files.on_deadline(&mut io, &mut cx),
            _ => files.on_ready(&mut io, &mut cx),
        };
        turns.push((at, io.written.len()));
    }
    if next == Next::Wait {
        io.room = usize::MAX;
        io = io.then_eof();
        let late = start + Duration::from_secs(3600);
        next = files.on_deadline(
            &mut io,
            &mut Ctx::at(&mut scratch, &settings, peer, late, &Uncounted),
        );
        for _ in 0..4 {
            if next != Next::Wait {
                break;
            }
            next = files.on_ready(
                &mut io,
                &mut Ctx::at(&mut scratch, &settings, peer, late, &Uncounted),
            );
        }
    }
    turns.push((input.len(), io.written.len()));
    Session {
        written: io.written,
        closed: next != Next::Wait,
        turns,
    }
}

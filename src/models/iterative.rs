//! The iterative model, as in the lesson: accept one client, serve it to the end, then accept
//! the next; the others wait in the kernel's backlog meanwhile. One thread serves
//! ([`serial`](super::serial)); the caller's thread is the controller (stopping). `--max-conns`
//! is moot: one connection at a time.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread;

use super::control;
use super::serial::{serve_in_turn, Acceptor};
use crate::driver::{Ending, Setup};

pub fn run(setup: Setup) -> io::Result<Ending> {
    control::serve(setup, |listeners, settings, limits, control| {
        let control = Arc::clone(control);
        let worker = thread::Builder::new()
            .name("tcpserve-iterative".into())
            .spawn(move || {
                let acceptor = Mutex::new(Acceptor::default());
                serve_in_turn(&listeners, &settings, &limits, &control, &acceptor)
            })?;
        Ok(vec![worker])
    })
}

//! The pool model, the prethreaded server of Stevens' chapter on server designs: `--pool-size`
//! threads, started with the server, each serving one client at a time to its end
//! ([`serial`](super::serial), the loop the iterative model runs once), taking turns to accept
//! (one thread waits on the listeners at a time: no thundering herd). Clients beyond the pool
//! wait in the kernel's backlog, not in a queue of the server's: a thread takes a client only
//! when it can serve it, so no accepted client waits with its timeouts running, and the backlog
//! (4096 deep) is already the bounded queue. What a pool shows: no thread is created per
//! client, and memory stays that of N threads however many clients come; but N keep-alive
//! clients hold all N threads, and the rest wait until one of them leaves or idles out.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread;

use super::control;
use super::serial::{serve_in_turn, Acceptor};
use crate::driver::{Ending, Setup};

pub fn run(setup: Setup) -> io::Result<Ending> {
    control::serve(setup, |listeners, settings, limits, control| {
        let (size, stack) = (limits.pool_size, limits.thread_stack);
        let shared = Arc::new((listeners, settings, limits, Mutex::new(Acceptor::default())));
        (0..size)
            .map(|i| {
                let (shared, control) = (Arc::clone(&shared), Arc::clone(control));
                thread::Builder::new()
                    .name(format!("tcpserve-pool-{i}"))
                    .stack_size(stack)
                    .spawn(move || {
                        let (listeners, settings, limits, acceptor) = &*shared;
                        serve_in_turn(listeners, settings, limits, &control, acceptor)
                    })
            })
            .collect()
    })
}

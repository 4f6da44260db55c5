//! The echo service over real sockets, against an in-process server of each model on a free
//! port.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tcpserve::{Ending, Model};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    one_byte_comes_back,
    the_tutorial_greeting_comes_back_unchanged,
    eight_mib_of_random_bytes_round_trip_intact,
    a_client_that_never_reads_costs_at_most_the_buffer,
    half_close_delivers_everything_then_closes,
    a_silent_connection_is_closed_after_the_idle_timeout,
    a_connection_making_progress_outlives_the_idle_timeout,
    stop_closes_a_resting_connection_at_once,
    stop_lets_a_busy_connection_finish,
    stop_gives_up_on_busy_connections_after_the_shutdown_timeout,
    a_second_stop_ends_the_server_at_once,
    urgent_data_does_not_stall_the_stream,
);
// The iterative model serves one client at a time and the pool a few, so neither holds a
// thousand clients open at once; --max-conns is moot for both (their threads bound how many
// are served). The iterative model cannot hold a second client beside a crashing one.
per_model!(
    [reactor, reactors, threads]
    a_thousand_concurrent_connections_each_echo_64_kib,
    clients_over_max_conns_are_closed_at_once_until_a_slot_frees,
    the_cap_counts_the_connections_of_every_service,
);
per_model!([reactor, reactors, threads, pool] an_abrupt_reset_does_not_disturb_another_client);

/// Writes `data` on a thread of its own, then half-closes; meanwhile reads everything back.
fn send_all_and_read_back(client: &mut std::net::TcpStream, data: &[u8]) -> Vec<u8> {
    let mut writer = client.try_clone().unwrap();
    let sent = data.to_vec();
    let writing = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let back = read_to_end(client);
    writing.join().unwrap();
    back
}

fn one_byte_comes_back(model: Model) {
    let server = start(echo_config(model));
    let mut client = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut client, b"x"), b"x");
}

fn the_tutorial_greeting_comes_back_unchanged(model: Model) {
    let server = start(echo_config(model));
    let mut client = connect(echo_addr(&server));
    let greeting = "你好".as_bytes();
    assert_eq!(echo_once(&mut client, greeting), greeting);
}

fn eight_mib_of_random_bytes_round_trip_intact(model: Model) {
    let server = start(echo_config(model));
    let mut client = connect(echo_addr(&server));
    let data = random_bytes(8 << 20, 1);
    let back = send_all_and_read_back(&mut client, &data);
    assert!(
        back == data,
        "echo differs ({} of {} bytes back)",
        back.len(),
        data.len()
    );
    // Counters are published once per turn of the loop: wait for the turn to end.
    wait_until("the counters to show the transfer", || {
        let stats = server.stats();
        stats.bytes_in == data.len() as u64 && stats.bytes_out == data.len() as u64
    });
}

fn a_thousand_concurrent_connections_each_echo_64_kib(model: Model) {
    const CONNS: usize = 1000;
    const WORKERS: usize = 8;
    const CHUNK: usize = 4096;
    const CHUNKS: usize = 16; // 64 KiB per connection
    let server = start(echo_config(model));
    let clients: Vec<_> = (0..CONNS).map(|_| connect(echo_addr(&server))).collect();
    wait_until("all connections accepted", || {
        server.stats().open == CONNS as u64
    });
    // Each worker keeps its share of connections mid-transfer at once: a chunk to every
    // connection, then every echo back, sixteen times.
    let mut shares: Vec<Vec<_>> = (0..WORKERS).map(|_| Vec::new()).collect();
    for (i, c) in clients.into_iter().enumerate() {
        shares[i % WORKERS].push((i, c));
    }
    let workers: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            thread::spawn(move || {
                for round in 0..CHUNKS {
                    for (i, c) in share.iter_mut() {
                        c.write_all(&random_bytes(CHUNK, (*i * CHUNKS + round) as u64))
                            .unwrap();
                    }
                    for (i, c) in share.iter_mut() {
                        let mut back = vec![0; CHUNK];
                        c.read_exact(&mut back).unwrap();
                        let want = random_bytes(CHUNK, (*i * CHUNKS + round) as u64);
                        assert!(back == want, "connection {i} chunk {round} differs");
                    }
                }
                share.len()
            })
        })
        .collect();
    let done: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(done, CONNS);
    wait_until("the counters to show every byte", || {
        server.stats().bytes_out == (CONNS * CHUNK * CHUNKS) as u64
    });
}

fn a_client_that_never_reads_costs_at_most_the_buffer(model: Model) {
    const TOTAL: usize = 16 << 20;
    let buffer = 64 * 1024;
    let server = start(echo_config(model).buffer(buffer));
    let mut client = connect(echo_addr(&server));
    let data = random_bytes(TOTAL, 7);
    let mut writer = client.try_clone().unwrap();
    let sent = data.clone();
    let writing = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let cap = buffer as u64;
    if model == Model::Reactor {
        // The client reads nothing: the reactor fills its buffer to the cap and stops there.
        // (A blocking model holds nothing: its thread is blocked writing instead.)
        wait_until("the server's buffer to fill", || {
            server.stats().buffered == cap
        });
    }
    let mut most = 0;
    for _ in 0..50 {
        most = most.max(server.stats().buffered);
        thread::sleep(Duration::from_millis(1));
    }
    assert!(
        most <= cap,
        "held {most} bytes, more than --buffer, while stalled"
    );
    // Now read: every byte arrives, in order, and the buffer never exceeds the cap.
    let mut back = Vec::with_capacity(TOTAL);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = client.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&chunk[..n]);
        most = most.max(server.stats().buffered);
    }
    writing.join().unwrap();
    assert!(most <= cap, "buffered {most} bytes");
    assert!(
        back == data,
        "echo differs ({} of {TOTAL} bytes back)",
        back.len()
    );
    wait_until("the buffer to empty", || server.stats().buffered == 0);
}

fn half_close_delivers_everything_then_closes(model: Model) {
    let server = start(echo_config(model));
    let mut client = connect(echo_addr(&server));
    // More than the buffer, sent before reading anything, so the server still owes bytes
    // when it sees the client's FIN.
    let data = random_bytes(1 << 20, 3);
    let back = send_all_and_read_back(&mut client, &data);
    assert!(back == data, "got {} of {} bytes", back.len(), data.len());
    wait_until("the server to close its side", || {
        server.stats().closed == 1 && server.stats().open == 0
    });
}

fn a_silent_connection_is_closed_after_the_idle_timeout(model: Model) {
    let idle = Duration::from_millis(300);
    let server = start(echo_config(model).idle_timeout(idle));
    let started = Instant::now();
    let mut silent = connect(echo_addr(&server));
    assert_eq!(
        silent.read(&mut [0u8; 16]).unwrap(),
        0,
        "expected end-of-stream"
    );
    assert!(started.elapsed() >= idle, "closed before the idle timeout");
    wait_until("the counters to show the close", || {
        server.stats().open == 0
    });
}

fn a_connection_making_progress_outlives_the_idle_timeout(model: Model) {
    let idle = Duration::from_millis(300);
    let server = start(echo_config(model).idle_timeout(idle));
    let mut chatty = connect(echo_addr(&server));
    let started = Instant::now();
    // Pacing, not synchronisation: each message is answered before the next.
    while started.elapsed() < idle * 3 {
        assert_eq!(echo_once(&mut chatty, b"ping"), b"ping");
        thread::sleep(idle / 4);
    }
    assert_eq!(server.stats().closed, 0);
}

fn an_abrupt_reset_does_not_disturb_another_client(model: Model) {
    let server = start(echo_config(model));
    let mut steady = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut steady, b"before"), b"before");
    // A client that leaves the server owing it data, then resets.
    // A client that sends without reading until its writes block (the server owes it more
    // than the sockets hold, and has stopped reading), then resets.
    let mut crasher = connect(echo_addr(&server));
    crasher.set_nonblocking(true).unwrap();
    let chunk = random_bytes(64 * 1024, 9);
    let mut blocked = 0;
    wait_until("the crasher's writes to block", || {
        match crasher.write(&chunk) {
            Ok(_) => blocked = 0,
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
                blocked += 1;
            }
        }
        blocked >= 20
    });
    reset(crasher);
    wait_until("the reset connection to be closed", || {
        server.stats().open == 1
    });
    assert_eq!(server.stats().buffered, 0);
    assert_eq!(echo_once(&mut steady, b"after"), b"after");
}

fn clients_over_max_conns_are_closed_at_once_until_a_slot_frees(model: Model) {
    let server = start(echo_config(model).max_conns(2));
    let mut first = connect(echo_addr(&server));
    let mut second = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut first, b"1"), b"1");
    assert_eq!(echo_once(&mut second, b"2"), b"2");
    let mut over = connect(echo_addr(&server));
    assert_eq!(
        over.read(&mut [0u8; 4]).unwrap(),
        0,
        "over the cap: end-of-stream"
    );
    wait_until("the refusal to be counted", || server.stats().refused == 1);
    drop(first);
    wait_until("a slot to free", || server.stats().open == 1);
    let mut third = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut third, b"3"), b"3");
}

fn stop_closes_a_resting_connection_at_once(model: Model) {
    let server = start(echo_config(model));
    let mut resting = connect(echo_addr(&server));
    wait_until("the connection to be accepted", || server.stats().open == 1);
    server.stop();
    // Never sent a byte: nothing in flight, closed at once (well before the 10 s timeout).
    assert_eq!(resting.read(&mut [0u8; 4]).unwrap(), 0);
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

fn stop_lets_a_busy_connection_finish(model: Model) {
    let server = start(echo_config(model));
    let mut busy = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut busy, b"working"), b"working");
    server.stop();
    // Mid-exchange: still served, until the client ends it.
    assert_eq!(echo_once(&mut busy, b"still here"), b"still here");
    busy.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut busy), b"");
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

fn stop_gives_up_on_busy_connections_after_the_shutdown_timeout(model: Model) {
    let server = start(echo_config(model).shutdown_timeout(Duration::from_millis(200)));
    let mut busy = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut busy, b"working"), b"working");
    server.stop();
    assert_eq!(
        read_to_end(&mut busy),
        b"",
        "closed at the shutdown timeout"
    );
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

fn a_second_stop_ends_the_server_at_once(model: Model) {
    let server = start(echo_config(model));
    let mut busy = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut busy, b"working"), b"working");
    server.stop();
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Forced);
}

fn urgent_data_does_not_stall_the_stream(model: Model) {
    use std::os::fd::AsRawFd;
    let server = start(echo_config(model));
    // Urgent data makes the kernel end a read at its mark with more bytes queued: a server
    // that took that short read for a drained socket would never read the rest.
    for round in 0..20 {
        let mut client = connect(echo_addr(&server));
        client.write_all(b"abc").unwrap();
        // SAFETY: sends one byte from a live buffer on a socket we own.
        let sent =
            unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(sent, 1);
        client.write_all(b"def").unwrap();
        // Not inline: the urgent byte is not part of the stream, so the echo is the rest.
        let mut back = [0u8; 6];
        client.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"abcdef", "round {round}");
    }
}

/// `--max-conns` is one cap for all services (in the threads model, for all acceptors).
fn the_cap_counts_the_connections_of_every_service(model: Model) {
    let root = TempDir::new("cap-both");
    let server = start(
        echo_config(model)
            .files(any_port(), root.path())
            .max_conns(2),
    );
    let mut echo = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut echo, b"1"), b"1");
    let _files = connect(files_addr(&server)); // silent: waiting to send its name
    wait_until("both connections to be open", || server.stats().open == 2);
    for addr in [echo_addr(&server), files_addr(&server)] {
        let mut over = connect(addr);
        assert_eq!(
            over.read(&mut [0u8; 4]).unwrap(),
            0,
            "over the cap: end-of-stream"
        );
    }
    wait_until("both refusals to be counted", || {
        server.stats().refused == 2
    });
    assert_eq!(echo_once(&mut echo, b"2"), b"2");
}

//! Faults around accepting and stopping, over real sockets: a burst of new connections does
//! not stall a download in progress; a refused request's lingering close outlives a graceful
//! stop, so its client reads the refusal whole instead of a reset.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{connect, files_config, start, TempDir, PATIENCE};
use tcpserve::Model;

// Not iterative or pool: they serve a bounded number of clients at once, so a burst beside a
// download waits by design.
per_model!([reactor, reactors, threads] a_burst_of_new_connections_does_not_stall_a_download);
per_model!([reactor, reactors, threads, pool, iterative] a_lingering_close_outlives_a_graceful_stop);

const BURST: usize = 3000;

fn a_burst_of_new_connections_does_not_stall_a_download(model: Model) {
    let dir = TempDir::new("faults-burst");
    let size: u64 = 256 << 20;
    std::fs::File::create(dir.join("big.bin"))
        .unwrap()
        .set_len(size)
        .unwrap(); // sparse: quick to make, read as zeros
    let server = start(files_config(model, dir.path()));
    let addr = server.addr("files").unwrap();
    let mut download = connect(addr);
    download.write_all(b"big.bin\n").unwrap();
    // The download, read as fast as it comes, on a thread of its own: its longest wait
    // between two reads, and what it got.
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let (mut got, mut longest, mut last) = (0u64, Duration::ZERO, Instant::now());
        loop {
            let n = download.read(&mut buf).expect("the download");
            let now = Instant::now();
            longest = longest.max(now - last);
            last = now;
            if n == 0 {
                return (got, longest);
            }
            assert!(
                buf[..n].iter().all(|&b| b == 0),
                "a sparse file reads as zeros"
            );
            got += n as u64;
        }
    });
    common::wait_until("the download to start", || {
        server.stats().bytes_out > (1 << 20)
    });
    let started = Instant::now();
    for i in 0..BURST {
        // Each connects and leaves at once: the server accepts it and reads its end.
        let client = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        drop(client);
    }
    let burst = started.elapsed();
    let (got, longest) = reader.join().unwrap();
    assert_eq!(got, size, "the download is whole");
    assert!(
        longest < Duration::from_secs(2),
        "the download stalled for {longest:?} while {BURST} clients came and went in {burst:?}"
    );
    common::wait_until("every client accepted", || {
        server.stats().accepted > BURST as u64 && server.stats().open == 0
    });
}

fn a_lingering_close_outlives_a_graceful_stop(model: Model) {
    let dir = TempDir::new("faults-linger");
    std::fs::write(dir.join("a.txt"), b"a").unwrap();
    let server = start(files_config(model, dir.path()));
    let mut client = connect(server.addr("files").unwrap());
    // A body the server will not take: it answers 413, sends its FIN, and reads on, dropping
    // what comes, so that closing cannot reset the answer before the client has read it.
    let head = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n";
    client.write_all(head).unwrap();
    client.write_all(&[b'x'; 16 << 10]).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 413 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    server.stop();
    // The client goes on sending its body for a while after the stop: the server still reads
    // and drops it, so no send fails (a reset would fail one within a round trip).
    let window = Instant::now() + Duration::from_millis(500);
    let mut sent = 0usize;
    while Instant::now() < window {
        match client.write(&[b'x'; 16 << 10]) {
            Ok(n) => sent += n,
            Err(e) => panic!("a send {sent} bytes after the stop failed: {e}"),
        }
    }
    client.shutdown(Shutdown::Write).unwrap();
    // Then the rest of the answer, and a clean end, not a reset.
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("a clean end after the answer");
    assert_eq!(server.join().unwrap(), tcpserve::Ending::Graceful);
}

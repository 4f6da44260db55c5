//! The library's public API as an embedding program uses it: what the builder refuses, a
//! program's own services driven by every model (the built-in echo as a program's service, and
//! one that lives on its own deadline), the event loop turned from outside, and stopping.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::{any_port, connect, read_to_end, TempDir};
use tcpserve::{
    Ctx, Echo, Ending, Model, Next, Reason, Server, Service, Settings, StartError, Transport,
};

per_model!([reactor, reactors, threads, pool, iterative]
    the_built_in_echo_runs_as_a_programs_service,
    a_programs_service_is_called_back_at_its_deadline,
    a_handle_reports_its_addresses_and_counters_and_stops,
);

#[test]
fn the_builder_refuses_what_no_server_can_do() {
    let dir = TempDir::new("api-refusals");
    let other = TempDir::new("api-refusals-other");
    let echo = || Server::builder().echo(any_port());
    let rows: Vec<(&str, tcpserve::Builder, &str)> = vec![
        ("no service", Server::builder(), "nothing to serve"),
        (
            "zero idle timeout",
            echo().idle_timeout(Duration::ZERO),
            "idle_timeout",
        ),
        (
            "endless idle timeout",
            echo().idle_timeout(Duration::MAX),
            "idle_timeout",
        ),
        (
            "zero request timeout",
            echo().request_timeout(Duration::ZERO),
            "request_timeout",
        ),
        (
            "endless shutdown",
            echo().shutdown_timeout(Duration::MAX),
            "shutdown_timeout",
        ),
        (
            "endless name wait",
            echo().name_wait(Duration::MAX),
            "name_wait",
        ),
        ("no buffer", echo().buffer(0), "buffer"),
        ("no workers", echo().workers(0), "workers"),
        (
            "workers for a blocking model",
            echo().model(Model::Threads).workers(2),
            "only the reactor model has workers",
        ),
        (
            "no pool",
            echo().model(Model::Pool).pool_size(0),
            "pool_size",
        ),
        (
            "a pool past reason",
            echo().pool_size(1_000_000),
            "pool_size",
        ),
        ("no connections", echo().max_conns(0), "max_conns"),
        (
            "a service named as the metrics listener",
            Server::builder()
                .service("metrics", any_port(), Echo::new)
                .metrics(any_port()),
            "may not be named 'metrics'",
        ),
        (
            "endless shutdown delay",
            echo().shutdown_delay(Duration::MAX),
            "shutdown_delay",
        ),
        (
            "two roots",
            Server::builder()
                .files(any_port(), dir.path())
                .files(any_port(), other.path()),
            "one directory per server",
        ),
    ];
    for (what, builder, says) in rows {
        match builder.bind() {
            Err(StartError::Invalid(why)) => assert!(why.contains(says), "{what}: {why}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let missing = dir.join("missing");
    match Server::builder().files(any_port(), &missing).bind() {
        Err(e @ StartError::Root { .. }) => assert!(e.to_string().contains("missing"), "{e}"),
        other => panic!("a missing root: {other:?}"),
    }
    for model in [
        Model::Reactors,
        Model::Threads,
        Model::Pool,
        Model::Iterative,
    ] {
        let server = echo().model(model).bind().unwrap();
        match server.into_event_loop() {
            Err(StartError::Invalid(why)) => assert!(why.contains(model.name()), "{why}"),
            other => panic!("{model:?} has no event loop: {other:?}"),
        }
    }
}

#[test]
fn a_taken_address_names_the_service_and_the_address() {
    let first = Server::builder().echo(any_port()).start().unwrap();
    let taken = first.addr("echo").unwrap();
    let err = Server::builder()
        .service("mine", taken, Echo::new)
        .bind()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("mine: cannot listen on {taken}: address already in use")
    );
}

fn the_built_in_echo_runs_as_a_programs_service(model: Model) {
    let server = Server::builder()
        .model(model)
        .service("mine", any_port(), Echo::new)
        .start()
        .unwrap();
    let data = common::random_bytes(300_000, 7);
    let mut client = connect(server.addr("mine").unwrap());
    let writer = {
        let mut client = client.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || {
            client.write_all(&data).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        })
    };
    common::assert_same(
        &read_to_end(&mut client),
        &data,
        "echoed by a program's service",
    );
    writer.join().unwrap();
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

/// Says "tick" once its deadline comes, then closes: a service that waits on its own timer.
struct Tick {
    at: Option<Instant>,
    sent: usize,
}

const TICK: Duration = Duration::from_millis(150);

impl Service for Tick {
    fn on_ready(&mut self, io: &mut dyn Transport, cx: &mut Ctx) -> Next {
        let Some(at) = self.at else {
            // A deadline named, the turn ends: the driver waits for the socket or the deadline.
            self.at = Some(cx.now() + TICK);
            return Next::Wait;
        };
        if cx.now() < at {
            return match io.read(cx.scratch()) {
                Ok(0) => Next::Close(Reason::Done),
                Ok(_) => Next::Close(Reason::Protocol("tick takes no input")),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Next::Wait,
                Err(e) => Next::Close(e.into()),
            };
        }
        let tick = b"tick\n";
        while self.sent < tick.len() {
            match io.write(&tick[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) => return Next::Close(e.into()),
            }
        }
        Next::Close(Reason::Done)
    }

    fn deadline(&self, _: &Settings) -> Option<Instant> {
        self.at.filter(|_| self.sent == 0)
    }
}

fn a_programs_service_is_called_back_at_its_deadline(model: Model) {
    let server = Server::builder()
        .model(model)
        .service("tick", any_port(), || Tick { at: None, sent: 0 })
        .start()
        .unwrap();
    let started = Instant::now();
    let mut client = connect(server.addr("tick").unwrap());
    assert_eq!(read_to_end(&mut client), b"tick\n");
    let took = started.elapsed();
    assert!(took >= TICK, "ticked after {took:?}");
    assert!(took < TICK * 10, "ticked late, after {took:?}");
}

fn a_handle_reports_its_addresses_and_counters_and_stops(model: Model) {
    let dir = TempDir::new("api-handle");
    let server = Server::builder()
        .model(model)
        .echo(any_port())
        .files(any_port(), dir.path())
        .service("mine", any_port(), Echo::new)
        .start()
        .unwrap();
    let names: Vec<&str> = server.addrs().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["echo", "files", "mine"]);
    assert!(
        server.addrs().iter().all(|(_, addr)| addr.port() != 0),
        "ports resolved"
    );
    let mut client = connect(server.addr("mine").unwrap());
    client.write_all(b"abc").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"abc");
    common::wait_until("the counters to be published", || {
        let stats = server.stats();
        stats.closed == 1 && stats.bytes_in == 3 && stats.bytes_out == 3
    });
    let addr = server.addr("echo").unwrap();
    server.stop_now();
    assert_eq!(server.join().unwrap(), Ending::Forced);
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}

#[test]
fn an_event_loop_serves_between_the_programs_own_work_and_stays_ended() {
    let mut server = Server::builder()
        .echo(any_port())
        .bind()
        .unwrap()
        .into_event_loop()
        .unwrap();
    let mut client = connect(server.addr("echo").unwrap());
    client.set_nonblocking(true).unwrap();
    client.write_all(b"ping").unwrap();
    let (mut reply, mut turns) = (Vec::new(), 0);
    while reply.len() < 4 {
        turns += 1;
        assert!(turns < 1000, "no reply after {turns} turns");
        assert_eq!(server.poll(Some(Duration::from_millis(5))).unwrap(), None);
        let mut buf = [0u8; 16];
        match client.read(&mut buf) {
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
        }
    }
    assert_eq!(reply, b"ping");
    assert_eq!(server.stats().open, 1);
    // A timeout bounds a turn with nothing to do.
    let started = Instant::now();
    assert_eq!(server.poll(Some(Duration::from_millis(20))).unwrap(), None);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Stopped: the echo connection has sent bytes, so it is in flight until its client goes.
    server.stopper().stop();
    assert_eq!(server.poll(Some(Duration::from_millis(20))).unwrap(), None);
    drop(client);
    let mut ended = None;
    for _ in 0..1000 {
        ended = server.poll(Some(Duration::from_millis(20))).unwrap();
        if ended.is_some() {
            break;
        }
    }
    assert_eq!(ended, Some(Ending::Graceful));
    assert_eq!(
        server.poll(None).unwrap(),
        Some(Ending::Graceful),
        "and stays ended"
    );
}

#[test]
fn a_dropped_event_loop_resets_the_download_it_was_sending() {
    let dir = TempDir::new("api-dropped-loop");
    std::fs::write(dir.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let mut server = Server::builder()
        .files(any_port(), dir.path())
        .bind()
        .unwrap()
        .into_event_loop()
        .unwrap();
    let mut client = connect(server.addr("files").unwrap());
    client.write_all(b"big.bin\n").unwrap();
    for _ in 0..1000 {
        server.poll(Some(Duration::from_millis(5))).unwrap();
        if server.stats().bytes_out > 0 {
            break;
        }
    }
    assert!(server.stats().bytes_out > 0, "the download started");
    drop(server);
    let mut got = Vec::new();
    let err = client
        .read_to_end(&mut got)
        .expect_err("a reset, not a clean end");
    assert_eq!(
        err.kind(),
        io::ErrorKind::ConnectionReset,
        "after {} bytes",
        got.len()
    );
    assert!(got.len() < 32 << 20);
}

//! `serve --proxy-protocol`, behind a load balancer, over real sockets on every model: headers
//! v1 and v2 that name a client, which the access log then shows; a table of hostile headers,
//! each refused with a log line and a close; a header split across many reads; a header that
//! never ends; and a real HAProxy (Debian's haproxy package) in front, whose client's own
//! loopback address is the one logged.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::child::{bin, free_port, haproxy, have};
use common::serve::Server;
use common::{connect, read_to_end, TempDir, PATIENCE};
use tcpserve::Model;

per_model!([reactor, reactors, threads, pool, iterative]
    a_header_names_the_client_the_log_shows,
    hostile_headers_are_refused_and_closed_with_a_line,
    a_header_in_many_pieces_is_read_whole,
    a_header_that_never_ends_is_closed_at_the_request_timeout,
    behind_haproxy_the_log_shows_the_clients_own_address,
);

const SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = SIGNATURE.to_vec();
    h.extend_from_slice(&[ver_cmd, fam]);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(body);
    h
}

/// 203.0.113.9:5555 to 127.0.0.1:80, as v2 carries it.
fn v2_v4() -> Vec<u8> {
    v2(
        0x21,
        0x11,
        &[203, 0, 113, 9, 127, 0, 0, 1, 0x15, 0xb3, 0, 80],
    )
}

/// 2001:db8::9:6000 to ::1:80.
fn v2_v6() -> Vec<u8> {
    let mut body = vec![0x20, 0x01, 0x0d, 0xb8];
    body.extend_from_slice(&[0; 11]);
    body.push(9);
    body.extend_from_slice(&[0; 15]);
    body.push(1);
    body.extend_from_slice(&[0x17, 0x70, 0, 80]);
    v2(0x21, 0x21, &body)
}

/// A files server of `model` that takes PROXY headers, on a free port, with `extra` options.
fn server(model: Model, dir: &TempDir, extra: &[&str]) -> Server {
    std::fs::write(dir.join("a.txt"), b"served\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--model", model.name(), "--proxy-protocol"])
        .args(["--files", "127.0.0.1:0", "--root"])
        .arg(dir.path())
        .args(extra);
    Server::spawn(cmd, model)
}

/// Sends `bytes` and the end of input, and reads what comes back until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut client = connect(addr);
    // The server may close before taking it all: that is for the caller to judge.
    let _ = client.write_all(bytes);
    let _ = client.shutdown(Shutdown::Write);
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got);
    got
}

fn a_header_names_the_client_the_log_shows(model: Model) {
    let dir = TempDir::new("proxy-names");
    let mut server = server(model, &dir, &["-v"]);
    let http = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".as_slice();
    let raw = b"a.txt\n".as_slice();
    let v1 = |line: &str| line.as_bytes().to_vec();
    // What, the header, the request after it, the client the access line must begin with.
    let rows: Vec<(&str, Vec<u8>, &[u8], &str)> = vec![
        (
            "v1 TCP4, HTTP",
            v1("PROXY TCP4 192.0.2.7 127.0.0.1 4000 80\r\n"),
            http,
            "192.0.2.7 ",
        ),
        (
            "v1 TCP6, raw",
            v1("PROXY TCP6 2001:db8::7 ::1 4000 80\r\n"),
            raw,
            "2001:db8::7 ",
        ),
        (
            "v1 UNKNOWN: the balancer",
            v1("PROXY UNKNOWN\r\n"),
            raw,
            "127.0.0.1 ",
        ),
        ("v2 TCP4, HTTP", v2_v4(), http, "203.0.113.9 "),
        ("v2 TCP6, raw", v2_v6(), raw, "2001:db8::9 "),
        (
            "v2 LOCAL: the balancer",
            v2(0x20, 0x00, &[]),
            raw,
            "127.0.0.1 ",
        ),
    ];
    for (i, (what, header, request, client)) in rows.iter().enumerate() {
        let got = exchange(server.addr, &[header.as_slice(), request].concat());
        assert!(
            got.ends_with(b"served\n"),
            "{what}: {}",
            String::from_utf8_lossy(&got)
        );
        server.wait_for_count("a.txt", i + 1);
        let line = server
            .log
            .iter()
            .filter(|l| l.contains("a.txt"))
            .nth(i)
            .unwrap()
            .clone();
        assert!(line.starts_with(client), "{what}: {line}");
    }
    // The connection's own end is logged for the client too (debug, with -v).
    server.wait_for("files 192.0.2.7:4000: closed");
    server.wait_for("files [2001:db8::9]:6000: closed");
    server.stop_gracefully();
}

fn hostile_headers_are_refused_and_closed_with_a_line(model: Model) {
    let dir = TempDir::new("proxy-hostile");
    let mut server = server(model, &dir, &[]);
    let v1 = |line: &str| line.as_bytes().to_vec();
    let mut wrong_signature = v2_v4();
    wrong_signature[5] = b'X';
    let mut long_v2 = SIGNATURE.to_vec();
    long_v2.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    // What, the bytes, the reason the log line must give.
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "no header: HTTP",
            v1("GET /a.txt HTTP/1.1\r\n\r\n"),
            "no PROXY protocol header",
        ),
        (
            "no header: a raw name",
            v1("a.txt\n"),
            "no PROXY protocol header",
        ),
        (
            "truncated v1",
            v1("PROXY TCP4 192.0.2.7 127.0.0.1"),
            "ended inside the PROXY header",
        ),
        (
            "truncated v2",
            v2_v4()[..20].to_vec(),
            "ended inside the PROXY header",
        ),
        (
            "oversized v1",
            v1(&format!("PROXY TCP4 {}\r\n", "1".repeat(120))),
            "longer than 107",
        ),
        ("oversized v2", long_v2, "longer than this server takes"),
        (
            "wrong signature",
            wrong_signature,
            "no PROXY protocol header",
        ),
        ("v2 version 1", v2(0x11, 0x11, &[0; 12]), "unknown version"),
        ("v2 command 15", v2(0x2f, 0x11, &[0; 12]), "unknown command"),
        (
            "v2 IPv4 in 11 bytes",
            v2(0x21, 0x11, &[0; 11]),
            "too short for its addresses",
        ),
        (
            "v2 IPv6 in 12 bytes",
            v2(0x21, 0x21, &[0; 12]),
            "too short for its addresses",
        ),
        ("v2 UDP", v2(0x21, 0x12, &[0; 12]), "UDP"),
        (
            "v1 IPv6 as TCP4",
            v1("PROXY TCP4 ::1 ::1 1 2\r\n"),
            "not of its family",
        ),
        (
            "v1 port 65536",
            v1("PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n"),
            "bad port",
        ),
    ];
    for (what, bytes, says) in &rows {
        let before = server.count(says);
        let got = exchange(server.addr, bytes);
        assert!(
            got.is_empty(),
            "{what}: answered {}",
            String::from_utf8_lossy(&got)
        );
        server.wait_for_count(says, before + 1);
    }
    // No access line: nothing was served (refusal lines name no file).
    assert_eq!(server.count("a.txt"), 0, "{}", server.log_text());
    server.stop_gracefully();
}

fn a_header_in_many_pieces_is_read_whole(model: Model) {
    let dir = TempDir::new("proxy-pieces");
    let mut server = server(model, &dir, &[]);
    for (what, header) in [
        ("v1", b"PROXY TCP4 192.0.2.8 127.0.0.1 4000 80\r\n".to_vec()),
        ("v2", v2_v4()),
    ] {
        let mut client = connect(server.addr);
        client.set_nodelay(true).unwrap();
        for byte in &header {
            client.write_all(std::slice::from_ref(byte)).unwrap();
            // Pacing, so the pieces tend to arrive as reads of their own; whether they do
            // changes what is tested, not whether it passes.
            std::thread::sleep(Duration::from_millis(2));
        }
        client.write_all(b"a.txt\n").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut client), b"served\n", "{what}");
    }
    server.wait_for_count("a.txt", 2);
    assert!(
        server.first("192.0.2.8 ").is_some(),
        "{}",
        server.log_text()
    );
    assert!(
        server.first("203.0.113.9 ").is_some(),
        "{}",
        server.log_text()
    );
    server.stop_gracefully();
}

fn a_header_that_never_ends_is_closed_at_the_request_timeout(model: Model) {
    let dir = TempDir::new("proxy-slow");
    let mut server = server(model, &dir, &["--request-timeout", "0.5"]);
    let mut client = connect(server.addr);
    client.write_all(b"PROXY TCP4 192.0.2.7").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(read_to_end(&mut client), b"", "closed without a byte");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < PATIENCE,
        "after {took:?}"
    );
    server.wait_for("no whole PROXY header within the request timeout");
    server.stop_gracefully();
}

fn behind_haproxy_the_log_shows_the_clients_own_address(model: Model) {
    if !have("haproxy", "haproxy") {
        return;
    }
    let dir = TempDir::new("proxy-haproxy");
    let mut server = server(model, &dir, &[]);
    // HAProxy listens on 127.0.0.2; the client connects from 127.0.0.3: three addresses, so
    // the log tells the client from the balancer.
    let mut fronts = Vec::new();
    let mut config = String::from(
        "global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    \
         timeout client 20s\n    timeout server 20s\n\n",
    );
    for (i, send) in ["send-proxy-v2", "send-proxy"].iter().enumerate() {
        let port = free_port("127.0.0.2");
        fronts.push(SocketAddr::from(([127, 0, 0, 2], port)));
        config += &format!(
            "listen front{i}\n    bind 127.0.0.2:{port}\n    server tcpserve {} {send}\n\n",
            server.addr
        );
    }
    let (child, haproxy_log) = haproxy(dir.path(), &config);
    for (i, front) in fronts.iter().enumerate() {
        // HAProxy is up once its port takes a connection (a wait on that, with a deadline).
        let mut client = None;
        common::wait_until("HAProxy to listen", || {
            client = connect_from([127, 0, 0, 3], *front);
            client.is_some()
        });
        let mut client = client.unwrap();
        client
            .write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let got = read_to_end(&mut client);
        assert!(
            got.ends_with(b"served\n"),
            "{}\n{}",
            String::from_utf8_lossy(&got),
            haproxy_log.text()
        );
        server.wait_for_count("GET /a.txt", i + 1);
    }
    let lines: Vec<&String> = server
        .log
        .iter()
        .filter(|l| l.contains("GET /a.txt"))
        .collect();
    assert!(
        lines.iter().all(|l| l.starts_with("127.0.0.3 ")),
        "{lines:?}"
    );
    drop(child);
    server.stop_gracefully();
}

/// A connection to `to` from the local address `from` (any port), if it can be made now.
fn connect_from(from: [u8; 4], to: SocketAddr) -> Option<TcpStream> {
    // SAFETY: a socket we own for the whole block; bind and connect with live sockaddrs.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let stream = <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let sockaddr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = sockaddr(from, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            panic!("bind to {from:?}: {}", std::io::Error::last_os_error());
        }
        let SocketAddr::V4(to) = to else {
            panic!("IPv4 only")
        };
        let remote = sockaddr(to.ip().octets(), to.port());
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return None;
        }
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Some(stream)
    }
}

//! Deployment, with the binary as an operator runs it: several addresses per service, IPv4 and
//! IPv6 side by side, on every model.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::process::Command;

use common::child::bin;
use common::serve::Server;
use common::{connect, echo_once, read_to_end, TempDir};
use tcpserve::Model;

per_model!([reactor, threads, iterative] each_service_listens_on_every_address_given);

fn each_service_listens_on_every_address_given(model: Model) {
    let dir = TempDir::new("deploy-addresses");
    std::fs::write(dir.join("a.txt"), b"served\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--model", model.name()])
        .args(["--echo", "127.0.0.1:0", "--echo", "[::1]:0"])
        .args(["--files", "127.0.0.1:0", "--files", "[::1]:0"])
        .arg("--root")
        .arg(dir.path());
    let mut server = Server::spawn(cmd, model);
    server.wait_for_count(" listening on ", 4);
    let (echo, files) = (server.addrs("echo"), server.addrs("files"));
    let families = |addrs: &[std::net::SocketAddr]| -> Vec<bool> {
        addrs.iter().map(|a| a.is_ipv6()).collect()
    };
    assert_eq!(families(&echo), [false, true], "{}", server.log_text());
    assert_eq!(families(&files), [false, true], "{}", server.log_text());
    for addr in &echo {
        let mut client = connect(*addr);
        assert_eq!(echo_once(&mut client, b"hello"), b"hello", "{addr}");
    }
    for addr in &files {
        let mut client = connect(*addr);
        client.write_all(b"a.txt\n").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut client), b"served\n", "{addr}");
    }
    // The IPv6 client is logged as itself.
    server.wait_for_count("\"a.txt\"", 2);
    let v6 = server
        .log
        .iter()
        .filter(|l| l.contains("\"a.txt\"") && l.starts_with("::1 "));
    assert_eq!(v6.count(), 1, "{}", server.log_text());
    server.stop_gracefully();
}

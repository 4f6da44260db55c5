//! Deployment, with the binary as an operator runs it, on every model: several addresses per
//! service, IPv4 and IPv6 side by side; dropping root for `--user` after binding.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::process::Command;

use common::child::{bin, skip};
use common::serve::Server;
use common::{connect, echo_once, read_to_end, TempDir};
use tcpserve::Model;

per_model!([reactor, threads, iterative]
    each_service_listens_on_every_address_given,
    as_root_user_drops_every_thread_to_the_user_for_good,
);

fn is_root() -> bool {
    // SAFETY: a plain call.
    unsafe { libc::geteuid() == 0 }
}

/// The `Uid:`, `Gid:` and `Groups:` lines of /proc/PID/status or /proc/PID/task/TID/status.
fn ids(status: &str) -> Vec<String> {
    let text = std::fs::read_to_string(status).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn as_root_user_drops_every_thread_to_the_user_for_good(model: Model) {
    if !is_root() {
        return skip("dropping privileges needs root: run the tests as root to check --user");
    }
    let dir = TempDir::new("deploy-user");
    std::fs::write(dir.join("a.txt"), b"served\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--model", model.name(), "--files", "127.0.0.1:0"])
        .args(["--user", "nobody:nogroup", "--root"])
        .arg(dir.path());
    let mut server = Server::spawn(cmd, model);
    server.wait_for("running as nobody:nogroup (uid 65534, gid 65534)");
    assert_eq!(server.count("serving as root"), 0, "{}", server.log_text());
    let mut client = connect(server.addr);
    client.write_all(b"a.txt\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"served\n");
    // Every thread, the log writer started before the drop included: real, effective, saved
    // and file-system ids all the user's, and no other group.
    let want = [
        "Uid: 65534 65534 65534 65534",
        "Gid: 65534 65534 65534 65534",
        "Groups: 65534",
    ];
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
    let mut seen = 0;
    for task in tasks {
        let status = task.unwrap().path().join("status");
        assert_eq!(ids(status.to_str().unwrap()), want, "{}", status.display());
        seen += 1;
    }
    assert!(seen >= 2, "the server and its log writer: {seen} tasks");
    server.stop_gracefully();
}

#[test]
fn as_root_without_user_the_server_says_so_once() {
    if !is_root() {
        return skip("the warning is for root only: run the tests as root to check it");
    }
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--echo", "127.0.0.1:0"]);
    let mut server = Server::spawn(cmd, Model::Reactor);
    server.stop_gracefully();
    assert_eq!(server.count("serving as root"), 1, "{}", server.log_text());
}

#[test]
fn a_user_that_cannot_be_had_is_refused_before_serving() {
    let rows: &[(&str, i32, &str)] = &[
        ("", 2, "is not USER or USER:GROUP"),
        ("nobody:", 2, "is not USER or USER:GROUP"),
        ("no-such-user-here", 2, "no such user 'no-such-user-here'"),
        (
            "nobody:no-such-group-here",
            2,
            "no such group 'no-such-group-here'",
        ),
        ("root", 2, "is root"),
        ("0:0", 2, "is root"),
    ];
    for (spec, code, says) in rows {
        let out = Command::new(bin())
            .args(["serve", "--echo", "127.0.0.1:0", "--user", spec])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{spec:?}: {stderr}");
        assert!(stderr.contains(says), "{spec:?}: {stderr}");
    }
    // Not root: setgroups is refused, and the server exits 1 rather than serve as itself. As
    // root, the test becomes another user first (util-linux's setpriv).
    let mut cmd = if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
        cmd
    } else {
        Command::new(bin())
    };
    {
        let out = cmd
            .args(["serve", "--echo", "127.0.0.1:0", "--user", "nobody"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("cannot become nobody"), "{stderr}");
    }
}

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

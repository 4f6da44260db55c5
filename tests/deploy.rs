//! Deployment, with the binary as an operator runs it, on every model: several addresses per
//! service, IPv4 and IPv6 side by side; dropping root for `--user` after binding; sockets
//! passed by systemd (socket activation, through Debian's `systemd-socket-activate`).

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::process::{Command, Stdio};

use common::child::{bin, free_port, have, skip, ChildGuard, Lines};
use common::serve::Server;
use common::{connect, echo_once, read_to_end, TempDir};
use tcpserve::Model;

per_model!([reactor, reactors, threads, pool, iterative]
    each_service_listens_on_every_address_given,
    an_ipv4_client_of_a_dual_stack_listener_is_logged_as_ipv4,
    as_root_user_drops_every_thread_to_the_user_for_good,
    sockets_passed_by_systemd_are_served_by_their_names,
    a_passed_socket_goes_on_listening_after_the_server_stops,
);

fn sockets_passed_by_systemd_are_served_by_their_names(model: Model) {
    if !have("systemd-socket-activate", "systemd") {
        return;
    }
    let dir = TempDir::new("deploy-activation");
    std::fs::write(dir.join("a.txt"), b"served\n").unwrap();
    let (files, echo) = (free_port("127.0.0.1"), free_port("::1"));
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.args([
        "-l",
        &format!("127.0.0.1:{files}"),
        "-l",
        &format!("[::1]:{echo}"),
    ])
    .args([
        "--fdname=files:echo",
        bin(),
        "serve",
        "--model",
        model.name(),
        "--root",
    ])
    .arg(dir.path())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let mut log = Lines::follow(child.0.stderr.take().unwrap());
    // systemd-socket-activate listens, then starts the server at the first connection.
    log.wait_for_count("Listening on ", 2);
    let mut client = connect(([127, 0, 0, 1], files).into());
    client.write_all(b"a.txt\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"served\n");
    log.wait_for(&format!("files listening on 127.0.0.1:{files}, serving"));
    log.wait_for(&format!("echo listening on [::1]:{echo}"));
    let mut client = connect(format!("[::1]:{echo}").parse().unwrap());
    assert_eq!(echo_once(&mut client, b"hello"), b"hello");
    drop(client);
    // Only the sockets passed: no default address was bound besides.
    assert_eq!(log.count(" listening on "), 2, "{}", log.text());
    // SAFETY: kill(2) on our own child, which exec'd the server under the same pid.
    unsafe { libc::kill(child.pid(), libc::SIGTERM) };
    let status = child.wait_exit();
    log.take_rest();
    assert_eq!(status.code(), Some(0), "{}", log.text());
}

/// systemd keeps its socket across a stop, for the next start: the server may close its own
/// descriptor, never shut the socket down.
fn a_passed_socket_goes_on_listening_after_the_server_stops(model: Model) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=echo exec \"$0\" serve --model \"$1\"",
    ])
    .args([bin(), model.name()]);
    // SAFETY: dup2 and fcntl alone, between fork and exec: the listener becomes the child's
    // descriptor 3, kept across exec (dup2 onto itself would leave close-on-exec set).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(fd, 3) != 3 || libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = Server::spawn(cmd, model);
    assert_eq!(server.addrs("echo"), [addr], "{}", server.log_text());
    let mut client = connect(addr);
    assert_eq!(echo_once(&mut client, b"hello"), b"hello");
    drop(client);
    server.stop_gracefully();
    // Still listening: a new client is queued for whoever serves next (here, the test).
    let client = connect(addr);
    listener.set_nonblocking(false).unwrap();
    let (_, peer) = listener.accept().expect("the socket still takes clients");
    assert_eq!(peer, client.local_addr().unwrap());
}

#[test]
fn a_broken_activation_environment_exits_1_saying_what_is_wrong() {
    // sh becomes the server (exec keeps its pid), so LISTEN_PID=$$ names the server.
    let rows: &[(&str, &str, &str)] = &[
        (
            "a file, not a socket",
            "LISTEN_FDS=1 exec \"$0\" serve 3</dev/null",
            "non-socket",
        ),
        (
            "a closed descriptor",
            "LISTEN_FDS=1 exec \"$0\" serve 3<&-",
            "descriptor 3 is not open",
        ),
        (
            "no count",
            "LISTEN_FDS=many exec \"$0\" serve",
            "LISTEN_FDS: 'many'",
        ),
        (
            "a name of no service",
            "LISTEN_FDS=1 LISTEN_FDNAMES=web exec \"$0\" serve 3<&0",
            "named 'web': name it echo or files",
        ),
    ];
    // Meant for another process: ignored, and the server binds what it is told.
    let out = Command::new("sh")
        .args([
            "-c",
            "LISTEN_PID=1 LISTEN_FDS=1 exec \"$0\" serve --echo 127.0.0.1:0 --bogus",
            bin(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Unrecognized option: 'bogus'"), "{stderr}");
    for (what, script, says) in rows {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let out = Command::new("sh")
            .args(["-c", &format!("export LISTEN_PID=$$; {script}"), bin()])
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains(says), "{what}: {stderr}");
    }
}

fn an_ipv4_client_of_a_dual_stack_listener_is_logged_as_ipv4(model: Model) {
    let Ok(v6only) = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only") else {
        return skip("no /proc/sys/net/ipv6/bindv6only: IPv6 is off on this machine");
    };
    let dir = TempDir::new("deploy-dual-stack");
    std::fs::write(dir.join("a.txt"), b"served\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args([
        "serve",
        "--model",
        model.name(),
        "--files",
        "[::]:0",
        "--root",
    ])
    .arg(dir.path());
    let mut server = Server::spawn(cmd, model);
    if v6only.trim() != "0" {
        // net.ipv6.bindv6only=1: [::] is IPv6 only here, as the README says.
        server.stop_gracefully();
        return skip("net.ipv6.bindv6only is 1 here: [::] takes no IPv4 client");
    }
    let mut client = connect(([127, 0, 0, 1], server.addr.port()).into());
    client.write_all(b"a.txt\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"served\n");
    let line = server.wait_for("\"a.txt\"");
    assert!(line.starts_with("127.0.0.1 "), "{line}");
    server.stop_gracefully();
}

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
        let got = ids(status.to_str().unwrap());
        if got.is_empty() {
            continue; // a connection's thread that ended meanwhile
        }
        assert_eq!(got, want, "{}", status.display());
        seen += 1;
    }
    assert!(seen >= 2, "the server and its log writer: {seen} tasks");
    server.stop_gracefully();
}

#[test]
fn as_root_a_root_the_user_cannot_read_exits_1_before_serving() {
    if !is_root() {
        return skip("checking the root as --user needs root: run the tests as root");
    }
    let dir = TempDir::new("deploy-user-root");
    let private = dir.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = Command::new(bin())
        .args([
            "serve",
            "--files",
            "127.0.0.1:0",
            "--user",
            "nobody:nogroup",
            "--root",
        ])
        .arg(&private)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot serve") && stderr.contains("Permission denied"),
        "{stderr}"
    );
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
        ("nobody:root", 2, "keeps the root group"),
        ("4321", 2, "has no entry, so no group of its own"),
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
    if is_root() && !have("setpriv", "util-linux") {
        return;
    }
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

#[test]
fn the_systemd_units_pass_systemd_analyze_verify_without_a_word() {
    if !have("systemd-analyze", "systemd") {
        return;
    }
    let units = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let dir = TempDir::new("deploy-units");
    for unit in ["tcpserve.socket", "tcpserve.service"] {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        // Verified against the binary under test, which ExecStart must name and find.
        let text = text.replace("/usr/local/bin/tcpserve", bin());
        std::fs::write(dir.join(unit), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args([dir.join("tcpserve.socket"), dir.join("tcpserve.service")])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "{:?}: {said}",
        out.status
    );
    // The command it runs is the one the activation test above runs.
    let service = std::fs::read_to_string(units.join("tcpserve.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args, ["serve", "--root", "/srv/www"]);
}

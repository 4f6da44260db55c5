//! The lesson's own Python clients (shared/tutorial beside the checkout) against tcpserve:
//! the clients it must never break. Where the lesson's folder is absent (a clone on its own),
//! these tests say so and pass; the other tests carry equivalents of every case.

#[macro_use]
mod common;

use std::process::Command;

use common::*;
use tcpserve::Model;

per_model!([reactor, reactors, threads, pool, iterative] the_lessons_echo_client_gets_its_text_back);

fn the_lessons_echo_client_gets_its_text_back(model: Model) {
    let Some(client) = tutorial("echo_client.py") else {
        return;
    };
    let server = start(echo_config(model));
    let port = echo_addr(&server).port().to_string();
    for text in [None, Some("hello, tcpserve"), Some("x")] {
        let mut cmd = Command::new("python3");
        cmd.arg(&client).args(["127.0.0.1", &port]);
        cmd.args(text);
        let out = cmd.output().expect("python3 runs");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text:?}: {printed} {:?}", out);
        assert_eq!(printed.trim_end(), text.unwrap_or("你好"));
    }
}

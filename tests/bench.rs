//! `tcpserve bench` smoke tests: each subcommand for a fraction of a second against an
//! in-process server, checking the shape of what it prints and that nothing went wrong. Speed
//! is never asserted here: benchmarks are not tests.

mod common;

use std::process::{Command, Output};

use common::*;

/// A reactor server on free ports, with echo and files from `root`.
fn server(root: &std::path::Path) -> tcpserve::Handle {
    start(
        tcpserve::Server::builder()
            .echo(any_port())
            .files(any_port(), root),
    )
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpserve"))
        .arg("bench")
        .args(args)
        .output()
        .expect("tcpserve runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn each_load_reports_its_figures_and_no_errors() {
    let dir = TempDir::new("bench-smoke");
    std::fs::write(dir.join("f.bin"), random_bytes(100_000, 1)).unwrap();
    let server = server(dir.path());
    let (echo, files) = (
        echo_addr(&server).to_string(),
        files_addr(&server).to_string(),
    );
    let quick = ["--duration", "0.3", "--warmup", "0.1", "--threads", "2"];
    let pid = std::process::id().to_string();
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            [
                &["echo", &echo, "--conns", "4", "--size", "100"][..],
                &quick,
            ]
            .concat(),
            &[
                "round trips/s",
                "latency",
                "p99.9",
                "errors 0",
                "mismatched bytes 0",
            ],
        ),
        (
            [
                &["file", &files, "f.bin", "--conns", "3", "--size", "100000"][..],
                &quick,
            ]
            .concat(),
            &[
                "downloads/s",
                "first byte",
                "total time",
                "errors 0",
                "short downloads 0",
            ],
        ),
        (
            vec!["idle", &echo, "--conns", "20", "--pid", &pid],
            &[
                "idle",
                "round trip",
                "errors 0",
                "bytes per connection (20 held)",
            ],
        ),
    ];
    for (args, shows) in cases {
        let out = bench(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        for s in shows {
            assert!(
                text(&out).contains(s),
                "{args:?} lacks {s:?}: {}",
                text(&out)
            );
        }
    }
}

#[test]
fn a_wrong_size_counts_as_short_downloads_and_fails() {
    let dir = TempDir::new("bench-short");
    std::fs::write(dir.join("f.bin"), random_bytes(1000, 2)).unwrap();
    let server = server(dir.path());
    let files = files_addr(&server).to_string();
    let out = bench(&[
        "file",
        &files,
        "f.bin",
        "--size",
        "999",
        "--duration",
        "0.2",
        "--warmup",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("short downloads 0"), "{}", text(&out));
}

#[test]
fn compare_writes_the_csv_the_report_and_the_charts() {
    let dir = TempDir::new("bench-compare");
    let out_dir = dir.join("out");
    let out = bench(&[
        "compare",
        "--conns",
        "1,2",
        "--sizes",
        "64",
        "--file-size",
        "64K",
        "--file-conns",
        "2",
        "--duration",
        "0.2",
        "--warmup",
        "0.1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    for column in [
        "model",
        "ops_per_s",
        "p99_us",
        "cpu_us_per_op",
        "syscalls_per_op",
        "mem_bytes_per_conn",
    ] {
        assert!(
            header.split(',').any(|c| c == column),
            "no {column} in {header}"
        );
    }
    // Echo at 1 and 2 connections, the file load, idle at 1 and 2: five loads, three models.
    assert_eq!(lines.clone().count(), 15, "{csv}");
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.split(',').count(), "{line}");
    }
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for s in [
        "Command: `",
        "cores",
        "vs reactor",
        "## echo",
        "## file",
        "## idle",
    ] {
        assert!(report.contains(s), "report lacks {s:?}");
    }
    // The iterative model cannot serve two held connections at once: said, not hidden.
    assert!(report.contains("did not finish"), "{report}");
    for chart in [
        "echo-64-throughput.svg",
        "echo-64-p99.svg",
        "echo-64-cpu.svg",
        "idle-memory.svg",
    ] {
        let svg = std::fs::read_to_string(out_dir.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{chart}"
        );
        assert!(
            svg.contains("reactor") && svg.contains("threads"),
            "{chart}"
        );
    }
}

#[test]
fn bad_bench_command_lines_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["frob", "127.0.0.1:1"],
        &["echo"],
        &["echo", "127.0.0.1:1", "--conns", "0"],
        &["echo", "127.0.0.1:1", "--size", "x"],
        &["echo", "127.0.0.1:1", "--size", "2M"],
        &["compare", "--sizes", "64,4M"],
        &["file", "127.0.0.1:1"],
        &["idle", "127.0.0.1:1"],
        &["idle", "127.0.0.1:1", "--conns", "2", "--pid", "x"],
        &["compare", "--models", "reactor,bogus"],
        &["compare", "--conns", ""],
        &["compare", "extra"],
    ];
    for args in cases {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("usage:"), "{args:?}");
        assert!(!text(&out).contains("panicked"), "{args:?}");
    }
}

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
        "--models",
        "reactor,threads,iterative",
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
        "design",
        "model",
        "ops_per_s",
        "p99_us",
        "cpu_us_per_op",
        "syscalls_per_op",
        "mem_bytes_per_conn",
        "server_threads",
        "conn_ops_min",
        "conn_ops_median",
        "conn_ops_max",
        "jain",
    ] {
        assert!(
            header.split(',').any(|c| c == column),
            "no {column} in {header}"
        );
    }
    // Echo at 1 and 2 connections, the file load, idle at 1 and 2: five loads, three designs.
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
        "echo-64-fairness.svg",
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
        &["compare", "--models", "threads:4"],
        &["compare", "--models", "iterative:1"],
        &["compare", "--models", "reactor:0"],
        &["compare", "--models", "pool:x"],
        &["compare", "--models", "pool:2,pool:2"],
        &["compare", "--models", ""],
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

/// Every cell of a Markdown table row, trimmed.
fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

#[test]
fn compare_opens_with_the_design_table_and_prints_no_unmeasured_number() {
    let dir = TempDir::new("bench-designs");
    let out_dir = dir.join("out");
    let out = bench(&[
        "compare",
        "--models",
        "reactor,reactor:2,pool:2",
        "--conns",
        "4",
        "--sizes",
        "64",
        "--duration",
        "1",
        "--warmup",
        "0.3",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    // The design table comes first, one row per design, every cell filled.
    let first_section = report.find("\n## ").map(|i| &report[i..]).unwrap_or("");
    assert!(first_section.starts_with("\n## The designs"), "{report}");
    let table: Vec<Vec<&str>> = first_section
        .lines()
        .skip_while(|l| !l.starts_with("| design |"))
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .collect();
    assert_eq!(table[0][..2], ["design", "threads"], "{report}");
    assert!(table[0]
        .iter()
        .any(|c| c.starts_with("p99 at 4 connections")));
    let rows: Vec<&Vec<&str>> = table.iter().skip(2).collect();
    let designs: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(designs, ["reactor", "reactor:2", "pool:2"], "{report}");
    for row in &rows {
        assert_eq!(row.len(), 6, "{row:?}");
        assert!(row.iter().all(|c| !c.is_empty()), "{row:?}");
    }
    // Two pool threads serve two of the four clients, which keep them: starvation, shown.
    assert!(rows[2][5].contains("2 of 4 starved"), "{:?}", rows[2]);
    // A reactor with two workers runs at least two threads besides the main one.
    let threads = |row: &Vec<&str>| row[1].replace(',', "").parse::<u64>().ok();
    assert!(threads(rows[1]).is_some_and(|n| n >= 3), "{:?}", rows[1]);
    // No figure is NaN or infinite, in the report or the CSV.
    for word in report.split(|c: char| c.is_whitespace() || c == '|' || c == ',') {
        let w = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase();
        assert!(
            !["nan", "inf", "infinity"].contains(&w.as_str()),
            "{word:?} in {report}"
        );
    }
    for cell in csv.split([',', '\n']) {
        assert!(
            !cell.eq_ignore_ascii_case("nan") && !cell.contains("inf"),
            "{cell:?}"
        );
    }
    // A system call count is a believable number (at least one per operation) or, said so,
    // not measured, with the reason in the notes; an idle row has none.
    let detail = report
        .lines()
        .map(cells)
        .filter(|row| row.len() == 17 && designs.contains(&row[0]));
    let mut counted = 0;
    for row in detail {
        counted += 1;
        match row[10] {
            "" => {}
            "not measured" => assert!(report.contains("## Notes"), "{report}"),
            n => assert!(n.parse::<f64>().is_ok_and(|n| n >= 1.0), "{row:?}"),
        }
    }
    // Echo, file and idle, for each design.
    assert_eq!(counted, 9, "{report}");
}

//! The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` before each
//! family, one sample a line, label values escaped. Names are fixed (README, "Metrics"), so
//! dashboards can rely on them.

use std::fmt::Write;

use super::counts::{Closed, Label, Local, Method, RawResult, Refusal, ServiceCounts};
use super::counts::{CODES, DURATION_BOUNDS_US};
use super::process::Process;
use super::Board;

/// The media type of what [`render`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the metrics endpoint shows, appended to `out`.
pub fn render(board: &Board, process: &Process, log_dropped: u64, out: &mut String) {
    let counts = &board.snapshot();
    let mut w = Writer(out);
    w.family(
        "tcpserve_build_info",
        "gauge",
        "The version and serving model; always 1.",
    );
    let version = env!("CARGO_PKG_VERSION");
    w.sample(
        "tcpserve_build_info",
        &[("version", version), ("model", board.model)],
        1,
    );
    w.family(
        "tcpserve_draining",
        "gauge",
        "1 from the first stop request on, else 0.",
    );
    w.sample("tcpserve_draining", &[], u64::from(board.leaving()));
    connections(&mut w, counts);
    bytes(&mut w, counts);
    http(&mut w, counts);
    let raw = "tcpserve_raw_downloads_total";
    w.family(raw, "counter", "Raw-protocol downloads, by how they ended.");
    for &result in RawResult::ALL {
        w.sample(
            raw,
            &[("result", result.label())],
            counts.raw[result.index()].get(),
        );
    }
    let single: [(&str, &str, u64); 3] = [
        (
            "tcpserve_log_lines_dropped_total",
            "Log lines lost because a destination could not keep up or failed.",
            log_dropped,
        ),
        (
            "tcpserve_accept_pauses_total",
            "Times accepting paused for want of a resource (descriptors, memory).",
            counts.accept_pauses.get(),
        ),
        (
            "tcpserve_accept_errors_total",
            "Accepts that failed for one client's reason and were skipped.",
            counts.accept_errors.get(),
        ),
    ];
    for (name, help, value) in single {
        w.family(name, "counter", help);
        w.sample(name, &[], value);
    }
    process_figures(&mut w, process);
}

/// One family with a sample per service.
fn per_service(
    w: &mut Writer,
    counts: &Local,
    (name, kind, help): (&str, &str, &str),
    value: impl Fn(&ServiceCounts<std::cell::Cell<u64>>) -> u64,
) {
    w.family(name, kind, help);
    for (service, name_of) in counts.services.iter().zip(counts.names.iter()) {
        w.sample(name, &[("service", name_of)], value(service));
    }
}

/// One family with a sample per service and reason.
fn per_reason<L: Label>(
    w: &mut Writer,
    counts: &Local,
    (name, help): (&str, &str),
    cells: impl Fn(&ServiceCounts<std::cell::Cell<u64>>) -> &[std::cell::Cell<u64>],
) {
    w.family(name, "counter", help);
    for (service, name_of) in counts.services.iter().zip(counts.names.iter()) {
        for &why in L::ALL {
            let labels = [("service", *name_of), ("reason", why.label())];
            w.sample(name, &labels, cells(service)[why.index()].get());
        }
    }
}

fn connections(w: &mut Writer, counts: &Local) {
    let accepted = (
        "tcpserve_connections_accepted_total",
        "counter",
        "Connections accepted, by service.",
    );
    per_service(w, counts, accepted, |s| s.accepted.get());
    let open = (
        "tcpserve_connections_open",
        "gauge",
        "Connections open now, by service.",
    );
    per_service(w, counts, open, |s| s.open.get());
    let refused = (
        "tcpserve_connections_refused_total",
        "Clients turned away, by service and reason: over --max-conns (closed at once, not \
         counted as accepted), without a valid PROXY header (accepted, then closed), or no \
         thread to serve them.",
    );
    per_reason::<Refusal>(w, counts, refused, |s| &s.refused);
    let closed = (
        "tcpserve_connections_closed_total",
        "Connections closed, by service and reason.",
    );
    per_reason::<Closed>(w, counts, closed, |s| &s.closed);
}

fn bytes(w: &mut Writer, counts: &Local) {
    let received = (
        "tcpserve_bytes_received_total",
        "counter",
        "Bytes received from clients, by service.",
    );
    per_service(w, counts, received, |s| s.bytes_in.get());
    let sent = (
        "tcpserve_bytes_sent_total",
        "counter",
        "Bytes sent to clients, by service.",
    );
    per_service(w, counts, sent, |s| s.bytes_out.get());
    let buffered = (
        "tcpserve_bytes_buffered",
        "gauge",
        "Bytes held in server memory now for clients that have not read them, by service.",
    );
    per_service(w, counts, buffered, |s| s.buffered.get());
}

fn http(w: &mut Writer, counts: &Local) {
    let name = "tcpserve_http_requests_total";
    w.family(
        name,
        "counter",
        "HTTP requests the files service answered, by method and status (only those seen).",
    );
    for &method in Method::ALL {
        let row = &counts.http.requests[method.index()];
        for (slot, cell) in row.iter().enumerate() {
            let n = cell.get();
            if n == 0 {
                continue;
            }
            let mut code = itoa(CODES.get(slot).copied().unwrap_or(0));
            if slot == CODES.len() {
                code = "other".into();
            }
            w.sample(name, &[("method", method.label()), ("code", &code)], n);
        }
    }
    let name = "tcpserve_http_request_duration_seconds";
    w.family(
        name,
        "histogram",
        "HTTP requests' time from the head's first byte to the answer's last.",
    );
    let mut total = 0;
    let buckets = &counts.http.buckets;
    for (bound, cell) in DURATION_BOUNDS_US.iter().zip(buckets.iter()) {
        total += cell.get();
        let le = seconds(*bound);
        w.sample(&format!("{name}_bucket"), &[("le", &le)], total);
    }
    total += buckets[DURATION_BOUNDS_US.len()].get();
    w.sample(&format!("{name}_bucket"), &[("le", "+Inf")], total);
    let sum = seconds(counts.http.duration_sum_us.get());
    let _ = writeln!(w.0, "{name}_sum {sum}");
    w.sample(&format!("{name}_count"), &[], total);
}

fn process_figures(w: &mut Writer, p: &Process) {
    let figures: [(&str, &str, &str, Option<f64>); 6] = [
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            p.open_fds.map(|n| n as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "The limit on open file descriptors.",
            p.max_fds.map(|n| n as f64),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes.map(|n| n as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes.map(|n| n as f64),
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch in seconds.",
            p.start_time_seconds,
        ),
    ];
    for (name, kind, help, value) in figures {
        // A figure /proc would not give is left out rather than shown as a false zero.
        if let Some(value) = value {
            w.family(name, kind, help);
            let _ = writeln!(w.0, "{name} {value}");
        }
    }
}

/// Microseconds as seconds, exactly (`0.0005`, `1`, `2.5`).
fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return itoa(whole);
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn itoa(n: impl Into<u64>) -> String {
    n.into().to_string()
}

/// Writes families and samples.
struct Writer<'a>(&'a mut String);

impl Writer<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"");
                escape(value, self.0);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::counts::Tally;
    use std::time::Duration;

    #[test]
    fn seconds_are_written_exactly() {
        let cases = [
            (500, "0.0005"),
            (1_000_000, "1"),
            (2_500_000, "2.5"),
            (0, "0"),
            (1, "0.000001"),
        ];
        for (us, text) in cases {
            assert_eq!(seconds(us), text);
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape("a\"b\\c\nd", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_text_holds_each_family_once_with_its_samples() {
        let board = Board::new(&["echo", "a \"quoted\" one"], "reactor", 2);
        board.counts(0).opened(0);
        board
            .counts(0)
            .http(Method::Get, 404, Duration::from_millis(3));
        board
            .counts(1)
            .http(Method::Get, 200, Duration::from_secs(20));
        let mut out = String::new();
        render(&board, &Process::default(), 7, &mut out);
        let has = |line: &str| out.lines().any(|l| l == line);
        let version = env!("CARGO_PKG_VERSION");
        let build = format!("tcpserve_build_info{{version=\"{version}\",model=\"reactor\"}} 1");
        assert!(has(&build), "{out}");
        assert!(has("tcpserve_connections_open{service=\"echo\"} 1"));
        assert!(has(
            "tcpserve_connections_open{service=\"a \\\"quoted\\\" one\"} 0"
        ));
        assert!(has(
            "tcpserve_http_requests_total{method=\"GET\",code=\"404\"} 1"
        ));
        assert!(has(
            "tcpserve_http_request_duration_seconds_bucket{le=\"0.005\"} 1"
        ));
        assert!(has(
            "tcpserve_http_request_duration_seconds_bucket{le=\"10\"} 1"
        ));
        assert!(has(
            "tcpserve_http_request_duration_seconds_bucket{le=\"+Inf\"} 2"
        ));
        assert!(has("tcpserve_http_request_duration_seconds_count 2"));
        assert!(has("tcpserve_http_request_duration_seconds_sum 20.003"));
        assert!(has("tcpserve_log_lines_dropped_total 7"));
        assert!(!out.contains("process_"), "no figure that was not read");
        let types = out.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = out.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(types, helps);
    }
}

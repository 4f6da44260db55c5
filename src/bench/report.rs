//! The benchmark's words and numbers: human units, and the text report of one load run.

use std::fmt::Write;
use std::time::Duration;

use super::fairness::Fairness;
use super::histogram::Histogram;
use super::load::{Load, Plan, Tally};

/// Nanoseconds as `310 µs`, `1.2 ms`, `2.0 s`.
pub fn duration(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A count with thousands separators: `152,345`.
pub fn count(n: f64) -> String {
    let whole = n.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes per second in decimal units, as load tools print them: `9.7 MB/s`, `2.41 GB/s`.
pub fn rate(bytes_per_s: f64) -> String {
    if bytes_per_s >= 1e9 {
        format!("{:.2} GB/s", bytes_per_s / 1e9)
    } else {
        format!("{:.1} MB/s", bytes_per_s / 1e6)
    }
}

/// `p50 310 µs   p90 …   max …` for a histogram.
pub fn percentiles(h: &Histogram) -> String {
    if h.count() == 0 {
        return "none".into();
    }
    let q = |q: f64| duration(h.value_at_quantile(q));
    format!(
        "p50 {}   p90 {}   p99 {}   p99.9 {}   max {}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        duration(h.max())
    )
}

/// Jain's index to three places (`0.998`), or `–` when no connection completed anything.
pub fn jain(index: Option<f64>) -> String {
    index.map_or("–".into(), |j| format!("{j:.3}"))
}

/// `min 12   median 15   max 19   Jain 0.998`: operations per connection, and how even.
pub fn spread(f: &Fairness) -> String {
    format!(
        "min {}   median {}   max {}   Jain {}",
        count(f.min as f64),
        count(f.median as f64),
        count(f.max as f64),
        jain(f.jain)
    )
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The report of one run, as `tcpserve bench echo|file|idle` prints it.
pub fn text(plan: &Plan, tally: &Tally) -> String {
    let mut out = String::new();
    let conns = plan.conns;
    let measured = format!(
        "{} measured after {} warm-up, {} threads",
        secs(tally.window),
        secs(plan.warmup),
        plan.threads
    );
    let _ = match &plan.load {
        Load::Echo { size } => writeln!(
            out,
            "echo {}: {conns} connections, {size}-byte messages, {measured}\n  round trips/s  {}\n  throughput     {} each way\n  latency        {}",
            plan.target,
            count(tally.rate()),
            rate(tally.throughput()),
            percentiles(&tally.latency)
        ),
        Load::File { name, .. } => writeln!(
            out,
            "file {} {}: {conns} connections, {measured}\n  downloads/s    {}\n  throughput     {}\n  first byte     {}\n  total time     {}",
            plan.target,
            String::from_utf8_lossy(name),
            count(tally.rate()),
            rate(tally.throughput()),
            percentiles(&tally.first_byte),
            percentiles(&tally.latency)
        ),
        Load::Idle => writeln!(
            out,
            "idle {}: {conns} connections, one round trip each\n  round trip     {}",
            plan.target,
            percentiles(&tally.latency)
        ),
    };
    let _ = writeln!(out, "  connect        {}", percentiles(&tally.connect));
    if let (false, Some(f)) = (matches!(plan.load, Load::Idle), tally.fairness()) {
        let _ = writeln!(out, "  per connection {}", spread(&f));
    }
    let wrong = match plan.load {
        Load::File { .. } => "short downloads",
        _ => "mismatched bytes",
    };
    let _ = writeln!(
        out,
        "  errors {}   {wrong} {}   stalled connections {}",
        tally.errors, tally.mismatched, tally.stalled
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        let cases: &[(String, &str)] = &[
            (duration(999), "999 ns"),
            (duration(310_000), "310 µs"),
            (duration(1_234_000), "1.2 ms"),
            (duration(2_000_000_000), "2.00 s"),
            (count(152_345.4), "152,345"),
            (count(999.0), "999"),
            (count(1_000_000.0), "1,000,000"),
            (rate(9_700_000.0), "9.7 MB/s"),
            (rate(2_410_000_000.0), "2.41 GB/s"),
            (jain(Some(0.99849)), "0.998"),
            (jain(None), "–"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}

//! `tcpserve stats`: a running server's metrics, read from its metrics listener and shown as a
//! short table for a person. Three parts, each a pure function but the first:
//!
//! - [`fetch`]: one `GET /metrics` (the request is the library's [`request`], the head its
//!   [`parse_head`] and [`framing`]), status 200 required, a body of at most [`MAX_BODY`];
//! - [`parse`]: the Prometheus text exposition format (0.0.4), read strictly: a line that is
//!   neither a comment, blank, nor a well-formed sample is an error naming its line;
//! - [`Reading`] (the few series the table shows, summed over the labels it does not show) and
//!   [`table`] (two readings and the time between them: totals, gauges and rates).

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::time::Duration;

use super::http::{
    framing, read_body, read_head, request, Framing, HttpError, Url, MAX_RESPONSE_HEAD,
};
use super::{connect, ClientError};

/// The largest metrics body taken: tcpserve's is a few KiB; more is not a metrics page.
pub const MAX_BODY: usize = 4 << 20;

/// The path the metrics listener serves.
const METRICS_PATH: &str = "/metrics";

/// Why `tcpserve stats` got no reading; printed as one line.
#[derive(Debug)]
pub enum StatsError {
    /// Connecting, sending, receiving, or an HTTP answer this client refuses.
    Client(ClientError),
    /// The body is over [`MAX_BODY`].
    TooLarge,
    /// The body is not the text exposition format.
    Metrics(ParseError),
    /// Well-formed metrics, but not tcpserve's: no `tcpserve_build_info`.
    NotTcpserve,
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::Client(e) => e.fmt(f),
            StatsError::TooLarge => write!(
                f,
                "bad response from the server: a body over {} MiB",
                MAX_BODY >> 20
            ),
            StatsError::Metrics(e) => write!(f, "bad metrics from the server: {e}"),
            StatsError::NotTcpserve => {
                f.write_str("not tcpserve's metrics: the answer has no tcpserve_build_info")
            }
        }
    }
}

impl std::error::Error for StatsError {}

impl From<ClientError> for StatsError {
    fn from(e: ClientError) -> StatsError {
        StatsError::Client(e)
    }
}

impl From<HttpError> for StatsError {
    fn from(e: HttpError) -> StatsError {
        StatsError::Client(e.into())
    }
}

impl From<ParseError> for StatsError {
    fn from(e: ParseError) -> StatsError {
        StatsError::Metrics(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Fetching

/// `http://ADDR/metrics` for the `ADDR` of the command line (`HOST:PORT`, an IPv6 host in
/// brackets); `Err` says why it is not one. Anything that would change the path (a `/`, `?`
/// or `#`) is refused rather than sent.
pub fn metrics_url(addr: &str) -> Result<Url, String> {
    let url = Url::parse(&format!("http://{addr}{METRICS_PATH}"))
        .map_err(|e| format!("'{addr}' is not an address like 127.0.0.1:9100: {e}"))?;
    if url.target != METRICS_PATH {
        return Err(format!(
            "'{addr}' is not an address like 127.0.0.1:9100: give HOST:PORT only"
        ));
    }
    Ok(url)
}

/// One reading of the metrics at `url`: a connection of its own (`Connection: close`), with
/// `timeout` for connecting and for each read and write.
pub fn fetch(url: &Url, timeout: Duration) -> Result<Reading, StatsError> {
    let mut stream = connect(&url.address(), timeout)?;
    stream
        .write_all(request(url, 0).as_bytes())
        .map_err(|error| ClientError::Io {
            what: "sending the request",
            error,
        })?;
    let body = read_answer(&mut stream)?;
    Reading::from_samples(&parse(&body)?)
}

/// Reads an answer to the request: the head (status 200 only), then the body as the head
/// frames it (`Content-Length`, chunked, or until the close), at most [`MAX_BODY`] bytes.
pub fn read_answer(stream: &mut impl Read) -> Result<Vec<u8>, StatsError> {
    let mut buf = vec![0u8; MAX_RESPONSE_HEAD];
    let (head, body_start, filled) = read_head(stream, &mut buf)?;
    if head.status != 200 {
        let line = head.status_line;
        return Err(HttpError::Status {
            line,
            location: None,
        }
        .into());
    }
    let framing = framing(&head).map_err(HttpError::Field)?;
    if matches!(framing, Framing::Length(want) if want > MAX_BODY as u64) {
        return Err(StatsError::TooLarge);
    }
    let rest = (&buf[body_start..filled]).chain(stream);
    let mut body = Vec::new();
    read_body(rest, framing, |part| read_capped(part, &mut body))?;
    Ok(body)
}

/// Appends `part` of the body to `out`, refusing the body past [`MAX_BODY`] bytes; how many
/// bytes it added.
fn read_capped(part: &mut dyn Read, out: &mut Vec<u8>) -> Result<u64, StatsError> {
    let before = out.len();
    part.take(MAX_BODY as u64 + 1)
        .read_to_end(out)
        .map_err(|error| ClientError::Io {
            what: "receiving the metrics",
            error,
        })?;
    if out.len() > MAX_BODY {
        return Err(StatsError::TooLarge);
    }
    Ok((out.len() - before) as u64)
}

// ---------------------------------------------------------------------------------------------
// The text exposition format

/// One sample: `name{label="value",...} value [timestamp]` (the timestamp is checked, then
/// dropped: the table has no use for it).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// A sample's labels: names and unescaped values, in the order given.
pub type Labels = Vec<(String, String)>;

impl Sample {
    /// The value of the label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A line of a metrics page that is not the text format, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// Counted from 1.
    pub line: usize,
    pub fault: Fault,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.fault)
    }
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes that are not UTF-8 (the format is UTF-8 text).
    NotUtf8,
    /// No metric name, or a character that cannot be in one.
    Name,
    /// An empty label name or one with a character that cannot be in one.
    LabelName,
    /// A label name not followed by `=`.
    NoEquals,
    /// A label's value not in double quotes.
    NoQuote,
    /// A backslash in a label value not followed by `\`, `"` or `n`.
    Escape,
    /// A label value whose closing quote never comes.
    Unended,
    /// After a label, neither `,` nor `}`.
    LabelEnd,
    /// A label named twice in one sample.
    RepeatedLabel,
    /// The labels run into the value without a blank between.
    NoBlank,
    /// No value after the name and labels.
    NoValue,
    /// A value that is not a number, `+Inf`, `-Inf` or `NaN`.
    Value,
    /// A timestamp that is not a whole number of milliseconds.
    Timestamp,
    /// More after the timestamp.
    Trailing,
    /// A series (name and labels) that an earlier line gave already.
    RepeatedSeries,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::NotUtf8 => "not UTF-8",
            Fault::Name => "not a metric name",
            Fault::LabelName => "not a label name",
            Fault::NoEquals => "a label name without '='",
            Fault::NoQuote => "a label value not in double quotes",
            Fault::Escape => "a backslash in a label value not before \\, \" or n",
            Fault::Unended => "a label value without its closing quote",
            Fault::LabelEnd => "a label followed by neither ',' nor '}'",
            Fault::RepeatedLabel => "a label given twice",
            Fault::NoBlank => "no blank before the value",
            Fault::NoValue => "no value",
            Fault::Value => "a value that is not a number, +Inf, -Inf or NaN",
            Fault::Timestamp => "a timestamp that is not whole milliseconds",
            Fault::Trailing => "more after the timestamp",
            Fault::RepeatedSeries => "a series given twice",
        })
    }
}

/// The blanks that may separate a line's tokens.
const BLANKS: [char; 2] = [' ', '\t'];

/// Parses a metrics page: its samples in order. Comments (`# HELP`, `# TYPE`, any line whose
/// first non-blank is `#`) and blank lines are skipped; anything else must be a sample.
pub fn parse(page: &[u8]) -> Result<Vec<Sample>, ParseError> {
    let text = std::str::from_utf8(page).map_err(|e| ParseError {
        line: line_of(page, e.valid_up_to()),
        fault: Fault::NotUtf8,
    })?;
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.split('\n').enumerate() {
        let content = line.trim_start_matches(BLANKS);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let at = |fault| ParseError { line: i + 1, fault };
        let sample = sample(content).map_err(at)?;
        if !seen.insert(series(&sample)) {
            return Err(at(Fault::RepeatedSeries));
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// The line (from 1) that byte `at` of `page` is on.
fn line_of(page: &[u8], at: usize) -> usize {
    page[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

/// What makes a series one: its name and its labels, whatever their order.
fn series(sample: &Sample) -> (String, Labels) {
    let mut labels = sample.labels.clone();
    labels.sort();
    (sample.name.clone(), labels)
}

/// One sample line, leading blanks removed.
fn sample(line: &str) -> Result<Sample, Fault> {
    let (name, rest) = split_name(line, is_metric_start, is_metric_char).ok_or(Fault::Name)?;
    // Blanks may come between the name and its labels, as Prometheus's own parser allows.
    let (labels, rest) = match rest.trim_start_matches(BLANKS).strip_prefix('{') {
        Some(inside) => {
            let (labels, rest) = labels(inside)?;
            // `a{}1`: the value must stand apart.
            if !rest.is_empty() && !rest.starts_with(BLANKS) {
                return Err(Fault::NoBlank);
            }
            (labels, rest)
        }
        // `a-b 1`: the name ends at a character that cannot be in one.
        None if !rest.is_empty() && !rest.starts_with(BLANKS) => return Err(Fault::Name),
        None => (Vec::new(), rest),
    };
    let mut tokens = rest.split(BLANKS).filter(|t| !t.is_empty());
    let value = value(tokens.next().ok_or(Fault::NoValue)?)?;
    if let Some(timestamp) = tokens.next() {
        timestamp.parse::<i64>().map_err(|_| Fault::Timestamp)?;
    }
    if tokens.next().is_some() {
        return Err(Fault::Trailing);
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` for a metric name.
fn is_metric_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_metric_char(c: char) -> bool {
    is_metric_start(c) || c.is_ascii_digit()
}

/// `[a-zA-Z_][a-zA-Z0-9_]*` for a label name.
fn is_label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_label_char(c: char) -> bool {
    is_label_start(c) || c.is_ascii_digit()
}

/// A name at the start of `s` and what follows it; `None` if `s` does not start with one.
fn split_name(s: &str, start: fn(char) -> bool, rest: fn(char) -> bool) -> Option<(&str, &str)> {
    if !s.starts_with(start) {
        return None;
    }
    Some(s.split_at(s.find(|c| !rest(c)).unwrap_or(s.len())))
}

/// The labels after `{` up to and including `}` (a comma before it allowed), and what follows.
fn labels(mut s: &str) -> Result<(Labels, &str), Fault> {
    let mut labels = Labels::new();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = split_name(s, is_label_start, is_label_char).ok_or(Fault::LabelName)?;
        let after = after.strip_prefix('=').ok_or(Fault::NoEquals)?;
        let after = after.strip_prefix('"').ok_or(Fault::NoQuote)?;
        let (value, after) = label_value(after)?;
        if labels.iter().any(|(n, _)| n == name) {
            return Err(Fault::RepeatedLabel);
        }
        labels.push((name.to_string(), value));
        s = match after.strip_prefix(',') {
            Some(next) => next,
            None if after.starts_with('}') => after,
            None => return Err(Fault::LabelEnd),
        };
    }
}

/// A label value after its opening quote, unescaped (`\\`, `\"`, `\n`), and what follows its
/// closing quote.
fn label_value(s: &str) -> Result<(String, &str), Fault> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &s[i + 1..])),
            '\\' => value.push(match chars.next() {
                Some((_, '\\')) => '\\',
                Some((_, '"')) => '"',
                Some((_, 'n')) => '\n',
                Some(_) => return Err(Fault::Escape),
                None => return Err(Fault::Unended),
            }),
            c => value.push(c),
        }
    }
    Err(Fault::Unended)
}

/// A sample's value: a decimal number (exponent allowed), `+Inf`, `-Inf` or `NaN`. Rust's
/// parser alone would also take `inf`, `infinity` and `nan` in any case, which the format
/// does not.
fn value(token: &str) -> Result<f64, Fault> {
    match token {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if token
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            token.parse().map_err(|_| Fault::Value)
        }
        _ => Err(Fault::Value),
    }
}

// ---------------------------------------------------------------------------------------------
// A reading, and the table of two

/// One service's series, summed over the labels the table does not show.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServiceCounts {
    /// `tcpserve_connections_open`, a gauge.
    pub open: f64,
    /// `tcpserve_connections_accepted_total`.
    pub accepted: f64,
    /// `tcpserve_bytes_received_total`.
    pub received: f64,
    /// `tcpserve_bytes_sent_total`.
    pub sent: f64,
}

/// What the table shows of one metrics page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// `tcpserve_build_info`'s labels (`?` if missing).
    pub version: String,
    pub model: String,
    /// By the `service` label, in name order.
    pub services: BTreeMap<String, ServiceCounts>,
    /// `tcpserve_http_requests_total` by status class: 1xx to 5xx.
    pub http: [f64; 5],
    /// `tcpserve_log_lines_dropped_total`.
    pub dropped: f64,
    /// `process_open_fds`, if given.
    pub open_fds: Option<f64>,
    /// `process_resident_memory_bytes`, if given.
    pub resident: Option<f64>,
}

impl Reading {
    /// The table's series out of a page's samples; others are ignored. A page without
    /// `tcpserve_build_info` is some other program's.
    pub fn from_samples(samples: &[Sample]) -> Result<Reading, StatsError> {
        let mut reading = Reading::default();
        let mut tcpserve = false;
        for s in samples {
            match s.name.as_str() {
                "tcpserve_build_info" => {
                    tcpserve = true;
                    reading.version = s.label("version").unwrap_or("?").to_string();
                    reading.model = s.label("model").unwrap_or("?").to_string();
                }
                "process_open_fds" => reading.open_fds = Some(s.value),
                "process_resident_memory_bytes" => reading.resident = Some(s.value),
                _ => {
                    if let Some(total) = reading.total_for(s) {
                        *total += s.value;
                    }
                }
            }
        }
        if !tcpserve {
            return Err(StatsError::NotTcpserve);
        }
        Ok(reading)
    }

    /// The total a sample of a summed series adds to; `None` for a series the table does not
    /// show, or a sample without the label that says where it goes.
    fn total_for(&mut self, s: &Sample) -> Option<&mut f64> {
        match s.name.as_str() {
            "tcpserve_connections_open" => Some(&mut service(&mut self.services, s)?.open),
            "tcpserve_connections_accepted_total" => {
                Some(&mut service(&mut self.services, s)?.accepted)
            }
            "tcpserve_bytes_received_total" => Some(&mut service(&mut self.services, s)?.received),
            "tcpserve_bytes_sent_total" => Some(&mut service(&mut self.services, s)?.sent),
            "tcpserve_http_requests_total" => {
                let class = s.label("code").and_then(status_class)?;
                Some(&mut self.http[class])
            }
            "tcpserve_log_lines_dropped_total" => Some(&mut self.dropped),
            _ => None,
        }
    }
}

/// The counts of the sample's service, new ones on its first sample; `None` for a sample
/// without a `service` label.
fn service<'a>(
    services: &'a mut BTreeMap<String, ServiceCounts>,
    s: &Sample,
) -> Option<&'a mut ServiceCounts> {
    Some(services.entry(s.label("service")?.to_string()).or_default())
}

/// `1xx` to `5xx` as 0 to 4, for a status code `100` to `599`; other codes are not counted.
fn status_class(code: &str) -> Option<usize> {
    match code.as_bytes() {
        [d @ b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => Some(usize::from(d - b'1')),
        _ => None,
    }
}

/// The table of `after`, with rates per second since `before`, taken `elapsed` earlier:
/// a header line, the services, HTTP requests by class, dropped log lines.
pub fn table(before: &Reading, after: &Reading, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = |was: Option<f64>, now: f64| per_second(was, now, secs);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tcpserve {}, {} model: {} open fds, {} resident; per second over {secs:.2} s",
        after.version,
        after.model,
        after.open_fds.map_or("-".into(), count),
        after.resident.map_or("-".into(), mebibytes),
    );
    let mut services = vec![row(
        "service",
        ["open", "accepted/s", "received B/s", "sent B/s"],
    )];
    for (name, now) in &after.services {
        let was = before.services.get(name);
        services.push(row(
            name,
            [
                count(now.open),
                rate(was.map(|c| c.accepted), now.accepted),
                rate(was.map(|c| c.received), now.received),
                rate(was.map(|c| c.sent), now.sent),
            ],
        ));
    }
    out.push_str(&aligned(&services));
    let classes = (0..5).map(|c| format!("{}xx", c + 1));
    let totals = after.http.iter().map(|&n| count(n));
    let rates = (before.http.iter().zip(&after.http)).map(|(&was, &now)| rate(Some(was), now));
    out.push_str(&aligned(&[
        row("HTTP", classes),
        row("total", totals),
        row("per s", rates),
    ]));
    let _ = writeln!(
        out,
        "log lines dropped: {} ({}/s)",
        count(after.dropped),
        rate(Some(before.dropped), after.dropped)
    );
    out
}

/// A table row: its label, then its cells.
fn row<S: Into<String>>(label: &str, cells: impl IntoIterator<Item = S>) -> Vec<String> {
    let cells = cells.into_iter().map(Into::into);
    std::iter::once(label.to_string()).chain(cells).collect()
}

/// Rows as lines, each column as wide as its widest cell: the first (labels) left-aligned,
/// the numbers right-aligned, two spaces between.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let width = |r: &Vec<String>| r.get(c).map_or(0, |cell| cell.chars().count());
            rows.iter().map(width).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, (cell, width)) in r.iter().zip(&widths).enumerate() {
            let _ = match c {
                0 => write!(out, "{cell:<width$}"),
                _ => write!(out, "  {cell:>width$}"),
            };
        }
        out.push('\n');
    }
    out
}

/// A count or gauge as a whole number; `-` if it is not a finite one.
fn count(n: f64) -> String {
    if n.is_finite() {
        format!("{n:.0}")
    } else {
        "-".into()
    }
}

/// Bytes in MiB, one decimal.
fn mebibytes(bytes: f64) -> String {
    if bytes.is_finite() {
        format!("{:.1} MiB", bytes / f64::from(1 << 20))
    } else {
        "-".into()
    }
}

/// The rate of a counter that went from `was` to `now` in `secs`, one decimal; `-` where there
/// is none to give: no earlier reading, no time between, or a counter that went down (the
/// server restarted) rather than a negative or huge rate.
fn per_second(was: Option<f64>, now: f64, secs: f64) -> String {
    match was {
        Some(was) if now >= was && secs > 0.0 && (now - was).is_finite() => {
            format!("{:.1}", (now - was) / secs)
        }
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as tcpserve's metrics listener writes it.
    const PAGE: &str = r#"# HELP tcpserve_build_info The version and serving model.
# TYPE tcpserve_build_info gauge
tcpserve_build_info{version="0.1.0",model="reactor"} 1
# TYPE tcpserve_connections_accepted_total counter
tcpserve_connections_accepted_total{service="echo"} 4
tcpserve_connections_accepted_total{service="files"} 12
tcpserve_connections_accepted_total{service="metrics"} 1
tcpserve_connections_refused_total{service="files",reason="max_conns"} 0
tcpserve_connections_open{service="echo"} 3
tcpserve_connections_open{service="files"} 0
tcpserve_connections_open{service="metrics"} 1
tcpserve_connections_closed_total{service="files",reason="done"} 9
tcpserve_bytes_received_total{service="echo"} 10
tcpserve_bytes_received_total{service="files"} 1234
tcpserve_bytes_sent_total{service="echo"} 10
tcpserve_bytes_sent_total{service="files"} 99999
tcpserve_bytes_buffered{service="files"} 0
tcpserve_http_requests_total{method="GET",code="200"} 5
tcpserve_http_requests_total{method="HEAD",code="200"} 1
tcpserve_http_requests_total{method="GET",code="404"} 2
tcpserve_raw_downloads_total{result="sent"} 2
tcpserve_http_request_duration_seconds_bucket{le="0.001"} 3
tcpserve_http_request_duration_seconds_bucket{le="+Inf"} 8
tcpserve_http_request_duration_seconds_sum 0.0042
tcpserve_http_request_duration_seconds_count 8

tcpserve_log_lines_dropped_total 0
tcpserve_accept_pauses_total 0
process_open_fds 12
process_resident_memory_bytes 3.5e6
"#;

    /// `PAGE` a second later: more traffic, one service new, one echo client gone.
    const LATER: &str = r#"tcpserve_build_info{version="0.1.0",model="reactor"} 1
tcpserve_connections_accepted_total{service="echo"} 4
tcpserve_connections_accepted_total{service="files"} 14
tcpserve_connections_accepted_total{service="metrics"} 2
tcpserve_connections_accepted_total{service="kv"} 7
tcpserve_connections_open{service="echo"} 2
tcpserve_connections_open{service="files"} 1
tcpserve_connections_open{service="metrics"} 1
tcpserve_bytes_received_total{service="echo"} 10
tcpserve_bytes_received_total{service="files"} 1434
tcpserve_bytes_sent_total{service="echo"} 10
tcpserve_bytes_sent_total{service="files"} 2099999
tcpserve_http_requests_total{method="GET",code="200"} 7
tcpserve_http_requests_total{method="HEAD",code="200"} 1
tcpserve_http_requests_total{method="GET",code="404"} 2
tcpserve_http_requests_total{method="GET",code="304"} 1
tcpserve_log_lines_dropped_total 3
process_open_fds 14
process_resident_memory_bytes 3.6e6
"#;

    fn reading(page: &str) -> Reading {
        Reading::from_samples(&parse(page.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn the_table_shows_totals_gauges_and_rates() {
        let got = table(&reading(PAGE), &reading(LATER), Duration::from_millis(2000));
        let want = "\
tcpserve 0.1.0, reactor model: 14 open fds, 3.4 MiB resident; per second over 2.00 s
service  open  accepted/s  received B/s   sent B/s
echo        2         0.0           0.0        0.0
files       1         1.0         100.0  1000000.0
kv          0           -             -          -
metrics     1         0.5           0.0        0.0
HTTP   1xx  2xx  3xx  4xx  5xx
total    0    8    1    2    0
per s  0.0  1.0  0.5  0.0  0.0
log lines dropped: 3 (1.5/s)
";
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn counters_that_went_down_have_no_rate() {
        // A restart between the readings: every counter is lower than before.
        let got = table(&reading(LATER), &reading(PAGE), Duration::from_secs(1));
        let files = got.lines().find(|l| l.starts_with("files")).unwrap();
        assert_eq!(
            files.split_whitespace().collect::<Vec<_>>(),
            ["files", "0", "-", "-", "-"]
        );
        let rates = got.lines().find(|l| l.starts_with("per s")).unwrap();
        assert_eq!(
            rates.split_whitespace().collect::<Vec<_>>(),
            ["per", "s", "0.0", "-", "-", "0.0", "0.0"]
        );
        assert!(got.contains("log lines dropped: 0 (-/s)"), "{got}");
    }

    #[test]
    fn rates_are_given_only_where_they_mean_something() {
        let cases: &[(Option<f64>, f64, f64, &str)] = &[
            (Some(10.0), 15.0, 0.5, "10.0"),
            (Some(10.0), 10.0, 1.0, "0.0"),
            (Some(10.0), 9.0, 1.0, "-"),
            (None, 9.0, 1.0, "-"),
            (Some(1.0), 2.0, 0.0, "-"),
            (Some(1.0), f64::NAN, 1.0, "-"),
            (Some(f64::NAN), 1.0, 1.0, "-"),
            (Some(1.0), f64::INFINITY, 1.0, "-"),
            (Some(0.0), 1e12, 1.0, "1000000000000.0"),
        ];
        for &(was, now, secs, want) in cases {
            assert_eq!(
                per_second(was, now, secs),
                want,
                "{was:?} -> {now} in {secs}"
            );
        }
    }

    #[test]
    fn a_page_without_process_metrics_or_requests_still_makes_a_table() {
        let page = "tcpserve_build_info{version=\"0.1.0\",model=\"threads\"} 1\n\
                    tcpserve_connections_open{service=\"echo\"} NaN\n";
        let got = table(&reading(page), &reading(page), Duration::from_secs(1));
        assert!(
            got.starts_with("tcpserve 0.1.0, threads model: - open fds, - resident;"),
            "{got}"
        );
        assert!(got.contains("\necho        -         0.0"), "{got}");
        assert!(got.contains("\ntotal    0    0    0    0    0\n"), "{got}");
    }

    #[test]
    fn a_reading_sums_what_the_table_does_not_split() {
        let r = reading(PAGE);
        assert_eq!((r.version.as_str(), r.model.as_str()), ("0.1.0", "reactor"));
        assert_eq!(r.http, [0.0, 6.0, 0.0, 2.0, 0.0]);
        let files = r.services["files"];
        assert_eq!(
            (files.open, files.accepted, files.received, files.sent),
            (0.0, 12.0, 1234.0, 99999.0)
        );
        assert_eq!((r.open_fds, r.resident), (Some(12.0), Some(3.5e6)));
        // Codes that are not 1xx to 5xx, and services without a name, are not counted.
        let odd = "tcpserve_build_info 1\n\
                   tcpserve_http_requests_total{code=\"600\"} 1\n\
                   tcpserve_http_requests_total{code=\"20\"} 1\n\
                   tcpserve_http_requests_total 1\n\
                   tcpserve_connections_open 4\n";
        let r = reading(odd);
        assert_eq!(r.http, [0.0; 5]);
        assert!(r.services.is_empty());
        assert_eq!((r.version.as_str(), r.model.as_str()), ("?", "?"));
    }

    #[test]
    fn a_page_that_is_not_tcpserves_is_refused() {
        let samples = parse(b"go_goroutines 7\nprocess_open_fds 3\n").unwrap();
        let error = Reading::from_samples(&samples).unwrap_err();
        assert!(matches!(error, StatsError::NotTcpserve), "{error}");
    }

    #[test]
    fn well_formed_lines_parse() {
        let one = |name: &str, labels: &[(&str, &str)], value: f64| Sample {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            value,
        };
        let cases: &[(&str, Sample)] = &[
            ("foo 1", one("foo", &[], 1.0)),
            ("foo{} 1", one("foo", &[], 1.0)),
            ("  foo\t \t2  ", one("foo", &[], 2.0)),
            ("foo {a=\"b\"} 1", one("foo", &[("a", "b")], 1.0)),
            ("foo{a=\"b\",} 1", one("foo", &[("a", "b")], 1.0)),
            (
                "foo{a=\"\",_b2=\"c\"} 1",
                one("foo", &[("a", ""), ("_b2", "c")], 1.0),
            ),
            (
                r#"foo{a="x\\y\"z\nw"} 1"#,
                one("foo", &[("a", "x\\y\"z\nw")], 1.0),
            ),
            (r#"foo{a="}{,= #"} 1"#, one("foo", &[("a", "}{,= #")], 1.0)),
            (
                "foo{a=\"caf\u{e9} \u{20ac}\"} 1",
                one("foo", &[("a", "caf\u{e9} \u{20ac}")], 1.0),
            ),
            ("foo:bar_baz9 1", one("foo:bar_baz9", &[], 1.0)),
            ("_x 1", one("_x", &[], 1.0)),
            (":x 1", one(":x", &[], 1.0)),
            ("foo 3.5e6", one("foo", &[], 3.5e6)),
            ("foo 1E-3", one("foo", &[], 1e-3)),
            ("foo -0.5", one("foo", &[], -0.5)),
            ("foo .5", one("foo", &[], 0.5)),
            ("foo +1", one("foo", &[], 1.0)),
            (
                "foo 18446744073709551615",
                one("foo", &[], 18446744073709551615.0),
            ),
            ("foo +Inf", one("foo", &[], f64::INFINITY)),
            ("foo -Inf", one("foo", &[], f64::NEG_INFINITY)),
            ("b{le=\"+Inf\"} 3", one("b", &[("le", "+Inf")], 3.0)),
            ("foo 1 1700000000000", one("foo", &[], 1.0)),
            ("foo 1 -5", one("foo", &[], 1.0)),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line.as_bytes()), Ok(vec![want.clone()]), "{line:?}");
        }
        let nan = parse(b"foo NaN").unwrap();
        assert!(nan[0].value.is_nan());
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let page = "# HELP foo A thing.\n# TYPE foo counter\n\n   \n\t# indented\n#\nfoo 1\n# EOF";
        assert_eq!(parse(page.as_bytes()).unwrap().len(), 1);
        assert_eq!(parse(b""), Ok(vec![]));
        assert_eq!(parse(PAGE.as_bytes()).unwrap().len(), 26);
    }

    #[test]
    fn hostile_lines_are_refused_with_their_line_number() {
        use Fault::*;
        let cases: &[(&[u8], Fault)] = &[
            (b"foo", NoValue),
            (b"foo ", NoValue),
            (b"foo{a=\"b\"}", NoValue),
            (b"foo{a=\"b\"} ", NoValue),
            (b"1foo 1", Name),
            (b"foo-bar 1", Name),
            (b"foo.bar 1", Name),
            (b"{a=\"b\"} 1", Name),
            (b"\"foo\" 1", Name),
            (b"f\xc3\xa9e 1", Name),
            (b"foo{ a=\"b\"} 1", LabelName),
            (b"foo{,} 1", LabelName),
            (b"foo{1a=\"b\"} 1", LabelName),
            (b"foo{a=\"b\",,} 1", LabelName),
            (b"foo{a=\"b\" 1", LabelEnd),
            (b"foo{", LabelName),
            (b"foo{a} 1", NoEquals),
            (b"foo{a =\"b\"} 1", NoEquals),
            (b"foo{a:b=\"c\"} 1", NoEquals),
            (b"foo{a=b} 1", NoQuote),
            (b"foo{a='b'} 1", NoQuote),
            (b"foo{a= \"b\"} 1", NoQuote),
            (b"foo{a=\"b} 1", Unended),
            (b"foo{a=\"b\\\"} 1", Unended),
            (b"foo{a=\"\\", Unended),
            (b"foo{a=\"\\t\"} 1", Escape),
            (b"foo{a=\"\\u0041\"} 1", Escape),
            (b"foo{a=\"b\"c=\"d\"} 1", LabelEnd),
            (b"foo{a=\"b\" } 1", LabelEnd),
            (b"foo{a=\"b\",a=\"c\"} 1", RepeatedLabel),
            (b"foo{a=\"b\"}1", NoBlank),
            (b"foo{}1", NoBlank),
            (b"foo inf", Value),
            (b"foo Inf", Value),
            (b"foo +inf", Value),
            (b"foo nan", Value),
            (b"foo infinity", Value),
            (b"foo 0x10", Value),
            (b"foo 1_000", Value),
            (b"foo 1e", Value),
            (b"foo --1", Value),
            (b"foo .", Value),
            (b"foo 1,5", Value),
            (b"foo 1\r", Value),
            (b"foo \xc2\xa01", Value),
            (b"foo 1 1.5", Timestamp),
            (b"foo 1 1e3", Timestamp),
            (b"foo 1 9223372036854775808", Timestamp),
            (b"foo 1 2 3", Trailing),
            (b"foo 1\x00", Value),
            (b"foo\xff 1", NotUtf8),
            (b"foo{a=\"\xc3\"} 1", NotUtf8),
        ];
        for (line, fault) in cases {
            let shown = String::from_utf8_lossy(line);
            // Alone, and as the third line of a page that is fine up to it.
            assert_eq!(
                parse(line),
                Err(ParseError {
                    line: 1,
                    fault: *fault
                }),
                "{shown:?}"
            );
            let page = [b"# TYPE foo gauge\nok 1\n".as_slice(), line, b"\nlater 1\n"].concat();
            assert_eq!(
                parse(&page),
                Err(ParseError {
                    line: 3,
                    fault: *fault
                }),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn a_series_given_twice_is_refused() {
        let cases: &[&[u8]] = &[
            b"foo 1\nfoo 2\n",
            b"foo{a=\"1\",b=\"2\"} 1\nfoo{b=\"2\",a=\"1\"} 1\n",
            b"foo{} 1\nfoo 1\n",
        ];
        for page in cases {
            let want = Err(ParseError {
                line: 2,
                fault: Fault::RepeatedSeries,
            });
            assert_eq!(parse(page), want, "{}", String::from_utf8_lossy(page));
        }
        assert!(parse(b"foo{a=\"1\"} 1\nfoo{a=\"2\"} 1\nbar 1\n").is_ok());
    }

    #[test]
    fn errors_say_the_line_and_what_is_wrong() {
        let error = StatsError::from(parse(b"ok 1\n\nfoo{a=\"b} 1\n").unwrap_err());
        assert_eq!(
            error.to_string(),
            "bad metrics from the server: line 3: a label value without its closing quote"
        );
    }

    /// What `read_answer` makes of `answer`: the body, or the error's line.
    fn answer(answer: &[u8]) -> Result<Vec<u8>, String> {
        read_answer(&mut &answer[..]).map_err(|e| e.to_string())
    }

    #[test]
    fn an_answer_is_read_as_its_head_frames_it() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfoo 1\n", b"foo 1\n"),
            // Past Content-Length is not the body.
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nfoo 1\n", b"foo"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b""),
            (b"HTTP/1.0 200 OK\n\nfoo 1\nbar 2\n", b"foo 1\nbar 2\n"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n3\r\n 1\n\r\n0\r\n\r\n",
                b"foo 1\n",
            ),
        ];
        for (input, body) in cases {
            assert_eq!(
                answer(input).as_deref(),
                Ok(*body),
                "{}",
                input.escape_ascii()
            );
        }
    }

    #[test]
    fn a_bad_or_unwanted_answer_is_one_clear_error() {
        let over = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let endless = [
            b"HTTP/1.1 200 OK\r\n\r\n".as_slice(),
            &vec![b'#'; MAX_BODY + 1],
        ]
        .concat();
        let at_most = [b"HTTP/1.1 200 OK\r\n\r\n".as_slice(), &vec![b'#'; MAX_BODY]].concat();
        assert_eq!(answer(&at_most).map(|b| b.len()), Ok(MAX_BODY));
        let cases: &[(&[u8], &str)] = &[
            (b"", "the server closed the connection without answering"),
            (b"HTTP/1.1 200 OK\r\n", "after 17 bytes of a response head"),
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                "server answered: HTTP/1.1 404 Not Found",
            ),
            (
                b"HTTP/1.1 204 No Content\r\n\r\n",
                "server answered: HTTP/1.1 204 No Content",
            ),
            // An interim answer is skipped, as `get` skips it; then nothing came.
            (
                b"HTTP/1.1 100 Continue\r\n\r\n",
                "closed the connection without answering",
            ),
            (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfoo",
                "connection closed after 3 of 10 bytes",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                "Content-Length 'x'",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                "Transfer-Encoding 'gzip'",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo",
                "receiving the metrics: ",
            ),
            (over.as_bytes(), "a body over 4 MiB"),
            (&endless, "a body over 4 MiB"),
        ];
        for (input, says) in cases {
            let got = answer(input);
            let shown = input[..input.len().min(60)].escape_ascii();
            assert!(
                matches!(&got, Err(e) if e.contains(says)),
                "{shown}: {got:?}"
            );
        }
    }

    #[test]
    fn addr_is_host_and_port_and_nothing_that_moves_the_path() {
        let url = metrics_url("127.0.0.1:9100").unwrap();
        assert_eq!(
            (url.address(), url.target.as_str()),
            ("127.0.0.1:9100".into(), "/metrics")
        );
        assert_eq!(metrics_url("[::1]:9100").unwrap().address(), "[::1]:9100");
        assert_eq!(metrics_url("localhost").unwrap().address(), "localhost:80");
        let request = request(&url, 0);
        assert!(
            request.starts_with("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
        for bad in [
            "",
            "127.0.0.1:9100/x",
            "h:1?x",
            "h:1#",
            "a b:1",
            "u@h:1",
            "h:99999",
            "h:0",
            "http://h:1",
        ] {
            assert!(metrics_url(bad).is_err(), "{bad:?}");
        }
    }
}

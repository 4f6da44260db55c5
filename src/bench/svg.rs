//! Line charts as standalone SVG text, for the benchmark report: no plotting crate, and a file
//! any browser opens.
//!
//! A [`Chart`] owns its layout: a fixed 720×420 canvas, the title on top, the plot area with
//! ticked and labelled axes, and the legend outside the plot on the right, so it never covers a
//! line. Each axis is linear (about five ticks at 1, 2 or 5 × 10^k, always including zero so
//! heights compare honestly) or logarithmic (ticks at powers of ten). Points that cannot be drawn
//! (NaN, infinite, or not positive on a log axis) are skipped; rendering never fails and never
//! panics, whatever the input.

use std::fmt::{self, Write as _};

/// One named line: its points are drawn in x order, joined by straight segments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The legend's name for it (any text; escaped for XML).
    pub name: String,
    /// `(x, y)` pairs, in any order; a series may lack some x values that others have.
    pub points: Vec<(f64, f64)>,
}

/// A line chart: a title, two labelled axes and up to about six series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Shown above the plot.
    pub title: String,
    /// Shown below the x axis.
    pub x_label: String,
    /// Shown beside the y axis, turned upright.
    pub y_label: String,
    /// Logarithmic x axis, ticked at powers of ten.
    pub x_log: bool,
    /// Logarithmic y axis, ticked at powers of ten.
    pub y_log: bool,
    /// The lines; each gets its own colour and marker, in this order.
    pub series: Vec<Series>,
}

// The canvas, in SVG user units (pixels). The right margin holds the legend and is sized to
// its longest name; the plot takes the rest.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 78.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 58.0;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

/// Longest legend name shown whole, in characters; longer ones end in "…" to stay on the canvas.
const LEGEND_CHARS: usize = 24;

/// A generous width of one character at the legend's 12px, for sizing the margin without
/// measuring fonts; names of wide glyphs may still run long.
const CHAR_W: f64 = 7.0;

/// From the plot's right edge to the legend.
const LEGEND_GAP: f64 = 16.0;

/// From a legend row's start to its name: the line sample with its marker, and a gap.
const LEGEND_SAMPLE: f64 = 34.0;

/// Colours that stay apart for the common kinds of colour blindness (Okabe and Ito), then
/// cycled with the markers past the sixth series.
const COLOURS: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];

/// Point markers, one per series, so lines stay apart in grey print too.
#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
    Plus,
}

const MARKERS: [Marker; 6] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
    Marker::Cross,
    Marker::Plus,
];

impl Chart {
    /// The chart as a complete SVG document, starting with `<svg` and ending with `</svg>`.
    pub fn render(&self) -> String {
        let x_axis = Axis::fit(self.series.iter().flat_map(|s| xs(&s.points)), self.x_log);
        let y_axis = Axis::fit(self.series.iter().flat_map(|s| ys(&s.points)), self.y_log);
        let drawable = |&(x, y): &(f64, f64)| x_axis.admits(x) && y_axis.admits(y);
        let plot_w = self.plot_width();

        let mut out = String::with_capacity(8 * 1024);
        put(
            &mut out,
            format_args!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
                 viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"Helvetica, Arial, sans-serif\" \
                 font-size=\"12\">\n"
            ),
        );
        put(
            &mut out,
            format_args!("<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n"),
        );
        put(
            &mut out,
            format_args!(
                "<text x=\"{:.1}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" \
                 font-weight=\"bold\">{}</text>\n",
                LEFT + plot_w / 2.0,
                Escaped(&self.title)
            ),
        );
        self.render_axes(&mut out, &x_axis, &y_axis, plot_w);

        put(
            &mut out,
            format_args!(
                "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{PLOT_H}\" \
                 fill=\"none\" stroke=\"#333\"/>\n"
            ),
        );
        // Each series' drawable points in x order, in pixels.
        let placed: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|series| {
                let mut points: Vec<(f64, f64)> =
                    series.points.iter().copied().filter(drawable).collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                points
                    .iter()
                    .map(|&(x, y)| {
                        (
                            x_axis.to_px(x, LEFT, LEFT + plot_w),
                            y_axis.to_px(y, TOP + PLOT_H, TOP),
                        )
                    })
                    .collect()
            })
            .collect();
        // Every line before any marker, so no line hides another series' points.
        for (i, at) in placed.iter().enumerate().filter(|(_, at)| at.len() > 1) {
            put(
                &mut out,
                format_args!(
                    "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" \
                     stroke-linejoin=\"round\" points=\"",
                    COLOURS[i % COLOURS.len()]
                ),
            );
            for (j, (x, y)) in at.iter().enumerate() {
                let gap = if j == 0 { "" } else { " " };
                put(&mut out, format_args!("{gap}{x:.1},{y:.1}"));
            }
            out.push_str("\"/>\n");
        }
        for (i, at) in placed.iter().enumerate() {
            for &(x, y) in at {
                marker(
                    &mut out,
                    MARKERS[i % MARKERS.len()],
                    COLOURS[i % COLOURS.len()],
                    x,
                    y,
                );
            }
        }
        self.render_legend(&mut out, plot_w);
        if !self.series.iter().any(|s| s.points.iter().any(drawable)) {
            put(
                &mut out,
                format_args!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n",
                    LEFT + plot_w / 2.0,
                    TOP + PLOT_H / 2.0
                ),
            );
        }
        out.push_str("</svg>\n");
        out
    }

    /// The plot's width: the canvas less the left margin and a right margin that fits the
    /// legend (and the last x tick label's overhang when there is no legend).
    fn plot_width(&self) -> f64 {
        let longest = self
            .series
            .iter()
            .map(|s| s.name.chars().count().min(LEGEND_CHARS))
            .max();
        let right = match longest {
            Some(chars) => LEGEND_GAP + LEGEND_SAMPLE + CHAR_W * chars as f64 + 12.0,
            None => 30.0,
        };
        WIDTH - LEFT - right.max(30.0)
    }

    /// Grid lines, tick marks, tick labels and axis labels.
    fn render_axes(&self, out: &mut String, x_axis: &Axis, y_axis: &Axis, plot_w: f64) {
        let bottom = TOP + PLOT_H;
        for tick in &x_axis.ticks {
            let x = x_axis.to_px(tick.value, LEFT, LEFT + plot_w);
            let (stroke, len) = tick_style(tick.major);
            put(
                out,
                format_args!(
                    "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"{stroke}\"/>\n\
                     <line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\n",
                    bottom + len
                ),
            );
            if tick.major {
                put(
                    out,
                    format_args!(
                        "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
                        bottom + 20.0,
                        Escaped(&tick_label(tick.value))
                    ),
                );
            }
        }
        for tick in &y_axis.ticks {
            let y = y_axis.to_px(tick.value, bottom, TOP);
            let (stroke, len) = tick_style(tick.major);
            put(
                out,
                format_args!(
                    "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{stroke}\"/>\n\
                     <line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{LEFT}\" y2=\"{y:.1}\" stroke=\"#333\"/>\n",
                    LEFT + plot_w,
                    LEFT - len
                ),
            );
            if tick.major {
                put(
                    out,
                    format_args!(
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                        LEFT - 9.0,
                        y + 4.0,
                        Escaped(&tick_label(tick.value))
                    ),
                );
            }
        }
        put(
            out,
            format_args!(
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
                LEFT + plot_w / 2.0,
                HEIGHT - 14.0,
                Escaped(&self.x_label)
            ),
        );
        let (lx, ly) = (18.0, TOP + PLOT_H / 2.0);
        put(
            out,
            format_args!(
                "<text x=\"{lx}\" y=\"{ly:.1}\" text-anchor=\"middle\" font-size=\"13\" \
                 transform=\"rotate(-90 {lx} {ly:.1})\">{}</text>\n",
                Escaped(&self.y_label)
            ),
        );
    }

    /// One row per series in the right margin: a stroke of its line, its marker, its name.
    fn render_legend(&self, out: &mut String, plot_w: f64) {
        let x = LEFT + plot_w + LEGEND_GAP;
        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let y = TOP + 10.0 + 22.0 * i as f64;
            put(
                out,
                format_args!(
                    "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" \
                     stroke-width=\"2\"/>\n",
                    x + 26.0
                ),
            );
            marker(out, MARKERS[i % MARKERS.len()], colour, x + 13.0, y);
            put(
                out,
                format_args!(
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                    x + LEGEND_SAMPLE,
                    y + 4.0,
                    Escaped(&shortened(&series.name))
                ),
            );
        }
    }
}

/// A tick on an axis: where, and whether it is major (a linear step or a power of ten, with a
/// label, a long mark and a grid line) or minor (a 2..9 multiple on a log axis: a short mark
/// and a faint grid line).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tick {
    value: f64,
    major: bool,
}

/// One axis's range and ticks. On a log axis `low` and `high` are powers of ten, and positions
/// are computed from logarithms.
#[derive(Debug)]
struct Axis {
    log: bool,
    low: f64,
    high: f64,
    ticks: Vec<Tick>,
}

impl Axis {
    /// The range covering every value this axis can place (finite, and positive on a log
    /// axis), widened to whole ticks; a default range when there are none.
    fn fit(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|&v| v.is_finite() && (!log || v > 0.0)) {
            low = low.min(v);
            high = high.max(v);
        }
        if log {
            let (low, high) = if low <= high {
                (low, high)
            } else {
                (1.0, 10.0)
            };
            let powers = log_ticks(low, high);
            let (first, last) = match (powers.first(), powers.last()) {
                (Some(&f), Some(&l)) => (f, l),
                _ => (1.0, 10.0),
            };
            // Every power while eight fit, else every second, third...: more would crowd the
            // labels. Minor ticks at 2..9 only where a decade is wide enough to show them.
            let every = powers.len().div_ceil(8).max(1);
            let mut ticks = Vec::new();
            for (i, &p) in powers.iter().enumerate().step_by(every) {
                ticks.push(Tick {
                    value: p,
                    major: true,
                });
                if powers.len() <= 6 && i + 1 < powers.len() {
                    for m in 2..=9 {
                        ticks.push(Tick {
                            value: p * f64::from(m),
                            major: false,
                        });
                    }
                }
            }
            Axis {
                log,
                low: first,
                high: last,
                ticks,
            }
        } else {
            // Zero is always in view, so a line's height means what it says.
            let (low, high) = if low <= high {
                (low.min(0.0), high.max(0.0))
            } else {
                (0.0, 1.0)
            };
            let values = linear_ticks(low, high);
            let (first, last) = match (values.first(), values.last()) {
                (Some(&f), Some(&l)) if f < l => (f, l),
                _ => (low, if high > low { high } else { low + 1.0 }),
            };
            let ticks = values
                .into_iter()
                .map(|value| Tick { value, major: true })
                .collect();
            Axis {
                log,
                low: first,
                high: last,
                ticks,
            }
        }
    }

    /// Whether a value can be placed on this axis.
    fn admits(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// The pixel position of `v`, where `low` maps to `from` and `high` to `to`.
    fn to_px(&self, v: f64, from: f64, to: f64) -> f64 {
        let t = if self.log {
            (v.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
        } else {
            // Halved first, so a range of ±1e308 does not overflow to infinity.
            (v / 2.0 - self.low / 2.0) / (self.high / 2.0 - self.low / 2.0)
        };
        let px = from + t * (to - from);
        // Only reachable for ranges no benchmark makes; a point at the edge beats a NaN in the file.
        if px.is_finite() {
            px
        } else {
            from
        }
    }
}

/// The x values of some points.
fn xs(points: &[(f64, f64)]) -> impl Iterator<Item = f64> + '_ {
    points.iter().map(|p| p.0)
}

/// The y values of some points.
fn ys(points: &[(f64, f64)]) -> impl Iterator<Item = f64> + '_ {
    points.iter().map(|p| p.1)
}

/// Ticks at 1, 2 or 5 × 10^k covering `[low, high]` in about five steps: the smallest such
/// step that needs at most five, with the ends rounded out to whole steps. Expects finite
/// bounds, `low <= high`; anything else gets no ticks.
fn linear_ticks(low: f64, high: f64) -> Vec<f64> {
    if !(low.is_finite() && high.is_finite() && low <= high) {
        return Vec::new();
    }
    if low == high {
        // One value: put it mid-axis rather than on an edge.
        let pad = low.abs().max(1.0) / 2.0;
        return linear_ticks(low - pad, high + pad);
    }
    let raw = (high - low) / 5.0;
    let mut step = 10f64.powi(raw.log10().floor() as i32);
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * step >= raw * (1.0 - 1e-9) {
            step *= m;
            break;
        }
    }
    if !(step.is_finite() && step > 0.0) {
        return vec![low, high];
    }
    let first = (low / step + 1e-9).floor();
    let last = (high / step - 1e-9).ceil().max(first + 1.0);
    if !(first.is_finite() && last.is_finite()) || last - first > 50.0 {
        return vec![low, high];
    }
    // Each tick from its own multiple, so rounding does not pile up along the axis.
    (first as i64..=last as i64)
        .map(|k| {
            let v = k as f64 * step;
            // -0.0 would print as "-0".
            if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Powers of ten from the one at or below `low` to the one at or above `high`, at least two.
/// Expects `0 < low <= high`, finite; anything else gets no ticks.
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    if !(low > 0.0 && low.is_finite() && high.is_finite() && low <= high) {
        return Vec::new();
    }
    let (mut first, mut last) = (decade_below(low), decade_below(high));
    if 10f64.powi(last) < high {
        last += 1;
    }
    if first == last {
        first -= 1;
        last += 1;
    }
    // Kept to powers an f64 holds as a normal number.
    let (first, last) = (first.max(-307), last.min(308));
    (first..=last).map(|k| 10f64.powi(k)).collect()
}

/// The exponent of the largest power of ten at or below `v` (positive, finite), corrected for
/// `log10` landing a hair off at exact powers.
fn decade_below(v: f64) -> i32 {
    let mut k = v.log10().floor() as i32;
    if 10f64.powi(k) > v {
        k -= 1;
    }
    if 10f64.powi(k + 1) <= v {
        k += 1;
    }
    k
}

/// A short label for a tick: "0", "0.25", "1.5k", "2M", "1e-6".
fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        // No finite tick is NaN or infinite; "0" also covers -0.0.
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    if !(1e-4..1e15).contains(&a) {
        // Three significant digits, so powers computed as 9.999e-308 still read 1e-307.
        let text = format!("{a:.2e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{sign}{mantissa}e{exponent}");
    }
    let (scaled, suffix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|&(unit, _)| a >= unit)
        .map_or((a, ""), |(unit, suffix)| (a / unit, suffix));
    // Four significant digits, then trailing zeros dropped: nice ticks need fewer, and
    // floating-point dust (0.30000000000000004) disappears.
    let decimals = (3 - scaled.log10().floor() as i32).clamp(0, 8) as usize;
    let mut digits = format!("{scaled:.decimals$}");
    if digits.contains('.') {
        let kept = digits.trim_end_matches('0').trim_end_matches('.').len();
        digits.truncate(kept);
    }
    format!("{sign}{digits}{suffix}")
}

/// A legend name cut to [`LEGEND_CHARS`], so it stays on the canvas.
fn shortened(name: &str) -> String {
    if name.chars().count() <= LEGEND_CHARS {
        return name.to_string();
    }
    let mut short: String = name.chars().take(LEGEND_CHARS - 1).collect();
    short.push('…');
    short
}

/// Draws a marker centred on `(x, y)`.
fn marker(out: &mut String, kind: Marker, colour: &str, x: f64, y: f64) {
    let r = 4.0;
    match kind {
        Marker::Circle => put(
            out,
            format_args!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{colour}\"/>\n"),
        ),
        Marker::Square => put(
            out,
            format_args!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\n",
                x - r,
                y - r,
                2.0 * r,
                2.0 * r
            ),
        ),
        Marker::Triangle => put(
            out,
            format_args!(
                "<polygon points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{colour}\"/>\n",
                y - 1.2 * r,
                x - 1.1 * r,
                y + 0.8 * r,
                x + 1.1 * r,
                y + 0.8 * r
            ),
        ),
        Marker::Diamond => put(
            out,
            format_args!(
                "<polygon points=\"{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}\" fill=\"{colour}\"/>\n",
                y - 1.3 * r,
                x + 1.3 * r,
                y + 1.3 * r,
                x - 1.3 * r
            ),
        ),
        Marker::Cross => put(
            out,
            format_args!(
                "<path d=\"M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}\" stroke=\"{colour}\" \
                 stroke-width=\"2.5\"/>\n",
                x - r,
                y - r,
                x + r,
                y + r,
                x - r,
                y + r,
                x + r,
                y - r
            ),
        ),
        Marker::Plus => put(
            out,
            format_args!(
                "<path d=\"M{:.1},{y:.1}L{:.1},{y:.1}M{x:.1},{:.1}L{x:.1},{:.1}\" stroke=\"{colour}\" \
                 stroke-width=\"2.5\"/>\n",
                x - 1.2 * r,
                x + 1.2 * r,
                y - 1.2 * r,
                y + 1.2 * r
            ),
        ),
    }
}

/// Appends formatted text to the document.
fn put(out: &mut String, args: fmt::Arguments<'_>) {
    // Writing into a String cannot fail; the Result exists for other writers.
    let _ = out.write_fmt(args);
}

/// Text made safe for XML content and attribute values: markup characters become entities, and
/// control characters XML 1.0 forbids are dropped (a browser refuses the whole file for one).
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                '\t' | '\n' | '\r' => f.write_char(c)?,
                c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A tick's grid colour and mark length: major ticks darker and longer.
fn tick_style(major: bool) -> (&'static str, f64) {
    if major {
        ("#ddd", 6.0)
    } else {
        ("#f0f0f0", 3.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.to_string(),
            points: points.to_vec(),
        }
    }

    /// Throughput against concurrency for the three serving models, one with a gap and a NaN.
    fn sample() -> Chart {
        let conc = [1.0, 10.0, 100.0, 1000.0, 10000.0];
        let curve = |peak: f64, knee: f64| -> Vec<(f64, f64)> {
            conc.iter().map(|&c| (c, peak * c / (c + knee))).collect()
        };
        let mut iterative = curve(30_000.0, 0.3);
        iterative.truncate(3);
        iterative.push((1000.0, f64::NAN));
        Chart {
            title: "Echo throughput by serving model".into(),
            x_label: "concurrent connections".into(),
            y_label: "requests per second".into(),
            x_log: true,
            y_log: false,
            series: vec![
                series("reactor", &curve(180_000.0, 8.0)),
                series("threads", &curve(120_000.0, 5.0)),
                series("iterative", &iterative),
            ],
        }
    }

    /// Checks that tags nest and close, attributes are quoted, and every `&` starts an entity:
    /// enough of XML to catch what a string-building writer gets wrong.
    fn well_formed(svg: &str) -> Result<(), String> {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            check_entities(text)?;
            let end = rest[start..]
                .find('>')
                .ok_or_else(|| "unclosed tag".to_string())?;
            let tag = &rest[start + 1..start + end];
            if tag.matches('"').count() % 2 != 0 {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            check_entities(tag)?;
            if let Some(name) = tag.strip_prefix('/') {
                match open.pop() {
                    Some(top) if top == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else if !tag.ends_with('/') {
                open.push(tag.split_whitespace().next().unwrap_or(""));
            }
            rest = &rest[start + end + 1..];
        }
        check_entities(rest)?;
        if rest.contains('>') || !open.is_empty() {
            return Err(format!("left open: {open:?}"));
        }
        Ok(())
    }

    fn check_entities(s: &str) -> Result<(), String> {
        for (i, _) in s.match_indices('&') {
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| s[i..].starts_with(e));
            if !ok {
                return Err(format!("bare & in {s:?}"));
            }
        }
        if s.contains('>') {
            return Err(format!("bare > in {s:?}"));
        }
        Ok(())
    }

    #[test]
    fn renders_a_standalone_document_with_every_label() {
        let mut chart = sample();
        chart.series.push(series("a <&> \"b\"", &[(5.0, 1.0)]));
        let svg = chart.render();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        well_formed(&svg).unwrap();
        for text in [
            ">Echo throughput by serving model<",
            ">concurrent connections<",
            ">requests per second<",
            ">reactor<",
            ">threads<",
            ">iterative<",
            ">a &lt;&amp;&gt; &quot;b&quot;<",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        // Log x labels at powers of ten, nice y labels in thousands.
        for label in [">1<", ">10<", ">100<", ">1k<", ">10k<", ">50k<", ">200k<"] {
            assert!(svg.contains(label), "missing tick label {label}");
        }
        // Five circles for the reactor's points and one in the legend; a line for each series
        // with two drawable points (the last has one, and iterative's NaN is skipped).
        assert_eq!(svg.matches("<circle").count(), 6);
        assert_eq!(svg.matches("<polyline").count(), 3);
    }

    /// p99 latency against load on log-log axes, with six series and awkward names.
    fn crowded() -> Chart {
        let names = [
            "reactor",
            "threads",
            "iterative",
            "reactor <&> \"tuned\"",
            "a rather long series name indeed",
            "blocking",
        ];
        let series = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let base = 20.0 * (i as f64 + 1.0);
                let points: Vec<(f64, f64)> = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]
                    .iter()
                    .skip(i % 2)
                    .map(|&c| (c, base * (1.0 + c / (40.0 * (i as f64 + 1.0))).powi(2)))
                    .collect();
                series(name, &points)
            })
            .collect();
        Chart {
            title: "p99 latency under load".into(),
            x_label: "concurrent connections".into(),
            y_label: "p99 latency (µs)".into(),
            x_log: true,
            y_log: true,
            series,
        }
    }

    #[test]
    fn writes_samples_to_look_at() {
        for (file, chart) in [
            ("sample_chart.svg", sample()),
            ("sample_chart_loglog.svg", crowded()),
        ] {
            let svg = chart.render();
            well_formed(&svg).unwrap();
            // For a person to render and inspect; no assertion needs the file.
            let _ = std::fs::write(std::env::temp_dir().join(file), svg);
        }
    }

    #[test]
    fn text_is_escaped_for_xml() {
        let cases = [
            ("plain", "plain"),
            ("a<b>&c", "a&lt;b&gt;&amp;c"),
            ("\"q\" 'a'", "&quot;q&quot; &apos;a&apos;"),
            ("bell\u{7}nul\0", "bellnul"),
            ("tab\tok", "tab\tok"),
            ("µs ✓", "µs ✓"),
        ];
        for (raw, want) in cases {
            assert_eq!(Escaped(raw).to_string(), want, "{raw:?}");
        }
    }

    #[test]
    fn log_ticks_sit_at_powers_of_ten() {
        let cases: &[(f64, f64, &[f64])] = &[
            (1.0, 10_000.0, &[1.0, 10.0, 100.0, 1e3, 1e4]),
            (3.0, 45_000.0, &[1.0, 10.0, 100.0, 1e3, 1e4, 1e5]),
            (1000.0, 1000.0, &[100.0, 1e3, 1e4]),
            (0.02, 0.5, &[0.01, 0.1, 1.0]),
            (7.0, 7.0, &[1.0, 10.0]),
            (0.0, 10.0, &[]),
            (f64::NAN, 10.0, &[]),
        ];
        for &(low, high, want) in cases {
            let got = log_ticks(low, high);
            assert_eq!(got.len(), want.len(), "{low}..{high}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!((g / w - 1.0).abs() < 1e-12, "{low}..{high}: {got:?}");
            }
        }
    }

    #[test]
    fn linear_ticks_are_nice() {
        let cases: &[(f64, f64, &[f64])] = &[
            (0.0, 1.0, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
            (0.0, 7.0, &[0.0, 2.0, 4.0, 6.0, 8.0]),
            (3.0, 97.0, &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]),
            (0.0, 123_456.0, &[0.0, 50_000.0, 100_000.0, 150_000.0]),
            (0.0, 100.0, &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]),
            (-5.0, 5.0, &[-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0]),
            (5.0, 5.0, &[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
            (0.0, 0.0, &[-0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6]),
            (1.0, f64::INFINITY, &[]),
        ];
        for &(low, high, want) in cases {
            let got = linear_ticks(low, high);
            assert_eq!(got.len(), want.len(), "{low}..{high}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-9, "{low}..{high}: {got:?}");
            }
        }
    }

    #[test]
    fn tick_labels_are_short() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (0.25, "0.25"),
            (0.6000000000000001, "0.6"),
            (0.001, "0.001"),
            (1e-6, "1e-6"),
            (7.0, "7"),
            (100.0, "100"),
            (1500.0, "1.5k"),
            (10_000.0, "10k"),
            (150_000.0, "150k"),
            (2e6, "2M"),
            (2.5e9, "2.5G"),
            (1e12, "1T"),
            (1e20, "1e20"),
            (1.2345e20, "1.23e20"),
            (9.99999e-308, "1e-307"),
            (-2000.0, "-2k"),
        ];
        for (v, want) in cases {
            assert_eq!(tick_label(v), want, "{v}");
        }
    }

    #[test]
    fn odd_charts_do_not_panic() {
        let huge = f64::MAX;
        let cases: &[(&str, bool, bool, Vec<Series>)] = &[
            ("empty", false, false, vec![]),
            ("empty log", true, true, vec![]),
            ("no points", false, true, vec![series("none", &[])]),
            (
                "single point",
                false,
                false,
                vec![series("one", &[(3.0, 4.0)])],
            ),
            (
                "single point log",
                true,
                true,
                vec![series("one", &[(3.0, 4.0)])],
            ),
            (
                "all equal",
                false,
                false,
                vec![series("flat", &[(2.0, 0.0), (2.0, 0.0)])],
            ),
            (
                "all equal log",
                true,
                true,
                vec![series("flat", &[(5.0, 5.0), (5.0, 5.0)])],
            ),
            (
                "nothing drawable on log axes",
                true,
                true,
                vec![series(
                    "bad",
                    &[(0.0, 1.0), (-1.0, 2.0), (f64::NAN, f64::INFINITY)],
                )],
            ),
            (
                "extreme magnitudes",
                false,
                true,
                vec![series(
                    "wide",
                    &[(-huge, f64::MIN_POSITIVE), (huge, huge), (0.0, 1e-300)],
                )],
            ),
            (
                "many series",
                false,
                false,
                (0..9)
                    .map(|i| series(&"long name ".repeat(i), &[(i as f64, 1.0)]))
                    .collect(),
            ),
        ];
        for (name, x_log, y_log, series) in cases {
            let chart = Chart {
                title: name.to_string(),
                x_log: *x_log,
                y_log: *y_log,
                series: series.clone(),
                ..Chart::default()
            };
            let svg = chart.render();
            assert!(well_formed(&svg).is_ok(), "{name}: {:?}", well_formed(&svg));
            assert!(
                !svg.contains("NaN") && !svg.contains("inf"),
                "{name}: {svg}"
            );
        }
    }
}

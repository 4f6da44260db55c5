//! What the server counts, by the labels its metrics show: per service (accepted, refused and
//! closed connections by reason, bytes), HTTP requests by method and status with their
//! durations, raw downloads by result, and accept faults.
//!
//! One layout, two kinds of cell ([`Cell`]): the reactor counts in plain `Cell<u64>`s on its
//! own thread and copies them into the published atomics once per turn ([`Counts::publish`]);
//! the blocking models, whose connections run on many threads, count straight into the
//! published `AtomicU64`s. Either way, readers on other threads (the metrics endpoint, the
//! embedding program's `Handle::stats`) read only the atomics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A counter: a plain cell on one thread, or an atomic shared by several.
pub trait Cell: Default {
    fn add(&self, n: u64);
    fn sub(&self, n: u64);
    fn get(&self) -> u64;
    fn set(&self, n: u64);
}

impl Cell for std::cell::Cell<u64> {
    fn add(&self, n: u64) {
        self.set(self.get().wrapping_add(n));
    }
    fn sub(&self, n: u64) {
        self.set(self.get().wrapping_sub(n));
    }
    fn get(&self) -> u64 {
        std::cell::Cell::get(self)
    }
    fn set(&self, n: u64) {
        std::cell::Cell::set(self, n);
    }
}

impl Cell for AtomicU64 {
    fn add(&self, n: u64) {
        self.fetch_add(n, Relaxed);
    }
    fn sub(&self, n: u64) {
        self.fetch_sub(n, Relaxed);
    }
    fn get(&self) -> u64 {
        self.load(Relaxed)
    }
    fn set(&self, n: u64) {
        self.store(n, Relaxed);
    }
}

/// The reactor's own counts, on its thread.
pub(crate) type Local = Counts<std::cell::Cell<u64>>;
/// The published counts, readable from any thread.
pub(crate) type Shared = Counts<AtomicU64>;

/// A label's values, in the order they are shown.
pub(crate) trait Label: Copy + 'static {
    const ALL: &'static [Self];
    fn label(self) -> &'static str;
    fn index(self) -> usize;
}

macro_rules! labels {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name { $($variant),+ }

        impl Label for $name {
            const ALL: &'static [$name] = &[$($name::$variant),+];
            fn label(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

labels! {
    /// Why a client was turned away.
    Refusal {
        MaxConns => "max_conns",
        ProxyHeader => "proxy_header",
        NoThread => "no_thread",
    }
}

labels! {
    /// Why a connection closed: the service's or the driver's `Reason` without its details,
    /// or a service that panicked (a program's own, under a blocking model, built to unwind).
    Closed {
        Done => "done",
        Reset => "reset",
        IdleTimeout => "idle_timeout",
        RequestTimeout => "request_timeout",
        Shutdown => "shutdown",
        Protocol => "protocol_error",
        Socket => "socket_error",
        Panic => "service_panic",
    }
}

labels! {
    /// An HTTP request's method, as counted: those the files service answers (OPTIONS as a
    /// CORS preflight, with `Access-Control-Allow-Origin` configured), and the rest.
    Method {
        Get => "GET",
        Head => "HEAD",
        Options => "OPTIONS",
        Other => "other",
    }
}

impl Method {
    pub(crate) fn of(method: &[u8]) -> Method {
        match method {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

labels! {
    /// How a raw download ended.
    RawResult {
        Sent => "sent",
        Refused => "refused",
        ClientClosed => "client_closed",
        Truncated => "truncated",
        RequestTimeout => "request_timeout",
        Abandoned => "abandoned",
        Failed => "failed",
    }
}

/// The statuses the files service sends, each counted apart; anything else is counted, and
/// shown, as `other`.
pub(crate) const CODES: [u16; 18] = [
    200, 204, 206, 301, 304, 400, 403, 404, 405, 408, 413, 414, 416, 431, 500, 501, 503, 505,
];

/// Slot of `status` among [`CODES`], or the last one (other).
fn code_index(status: u16) -> usize {
    CODES
        .iter()
        .position(|&c| c == status)
        .unwrap_or(CODES.len())
}

/// Upper bounds of the request duration histogram's buckets, in microseconds (the last bucket,
/// `+Inf`, is implied): from half a millisecond to ten seconds, as Prometheus' defaults.
pub(crate) const DURATION_BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// One service's connections and bytes.
#[derive(Debug, Default)]
pub struct ServiceCounts<C> {
    pub accepted: C,
    pub open: C,
    pub refused: [C; 3],
    pub closed: [C; 8],
    pub bytes_in: C,
    pub bytes_out: C,
    pub buffered: C,
}

/// HTTP requests the files service answered.
#[derive(Debug, Default)]
pub struct HttpCounts<C> {
    /// By method, then status slot.
    pub requests: [[C; CODES.len() + 1]; 4],
    /// Non-cumulative: bucket `i` counts durations above bound `i - 1` up to bound `i`; the
    /// last, those above every bound.
    pub buckets: [C; DURATION_BOUNDS_US.len() + 1],
    pub duration_sum_us: C,
}

/// Everything one driver counts.
#[derive(Debug)]
pub struct Counts<C> {
    /// By the service's slot, in the order `names` gives them.
    pub services: Box<[ServiceCounts<C>]>,
    pub names: Box<[&'static str]>,
    pub http: HttpCounts<C>,
    pub raw: [C; 7],
    pub accept_errors: C,
    pub accept_pauses: C,
}

// The arrays are as long as their labels.
const _: () = assert!(Refusal::NoThread as usize == 2 && Closed::Panic as usize == 7);
const _: () = assert!(Method::Other as usize == 3 && RawResult::Failed as usize == 6);

impl<C: Cell> Counts<C> {
    /// Zero counts for services named `names` (each once, in slot order).
    pub fn new(names: &[&'static str]) -> Counts<C> {
        Counts {
            services: names.iter().map(|_| ServiceCounts::default()).collect(),
            names: names.into(),
            http: HttpCounts::default(),
            raw: Default::default(),
            accept_errors: C::default(),
            accept_pauses: C::default(),
        }
    }

    /// A connection of the service in `slot` was accepted.
    pub fn opened(&self, slot: usize) {
        let service = &self.services[slot];
        service.accepted.add(1);
        service.open.add(1);
    }

    /// A connection of the service in `slot` closed, as `why` says.
    pub fn closed(&self, slot: usize, why: Closed) {
        let service = &self.services[slot];
        service.open.sub(1);
        service.closed[why.index()].add(1);
    }

    /// A client of the service in `slot` was turned away.
    pub fn refused(&self, slot: usize, why: Refusal) {
        self.services[slot].refused[why.index()].add(1);
    }

    /// Bytes a connection of the service in `slot` moved. A count that did not move is not
    /// touched: the blocking models' counts are atomics every thread shares.
    pub fn moved(&self, slot: usize, bytes_in: u64, bytes_out: u64) {
        let service = &self.services[slot];
        if bytes_in > 0 {
            service.bytes_in.add(bytes_in);
        }
        if bytes_out > 0 {
            service.bytes_out.add(bytes_out);
        }
    }

    /// A connection of the service in `slot` now holds `after` bytes for its client, `before`
    /// before.
    pub fn rebuffered(&self, slot: usize, before: usize, after: usize) {
        let buffered = &self.services[slot].buffered;
        match after.cmp(&before) {
            std::cmp::Ordering::Greater => buffered.add((after - before) as u64),
            std::cmp::Ordering::Less => buffered.sub((before - after) as u64),
            std::cmp::Ordering::Equal => {}
        }
    }

    /// Copies every count into `to`, as it is now.
    pub fn publish(&self, to: &Shared) {
        self.pair_with(to, |mine, theirs| theirs.set(mine.get()));
    }

    /// Adds every count into `to` (a sum over several drivers' counts).
    pub fn add_into(&self, to: &Local) {
        self.pair_with(to, |mine, theirs| theirs.add(mine.get()));
    }

    /// Calls `f` with each count and the same count in `to` (both laid out for the same
    /// services).
    fn pair_with<D: Cell>(&self, to: &Counts<D>, f: impl Fn(&C, &D)) {
        let all = |mine: &[C], theirs: &[D]| {
            mine.iter().zip(theirs).for_each(|(m, t)| f(m, t));
        };
        for (m, t) in self.services.iter().zip(to.services.iter()) {
            for (a, b) in [
                (&m.accepted, &t.accepted),
                (&m.open, &t.open),
                (&m.bytes_in, &t.bytes_in),
                (&m.bytes_out, &t.bytes_out),
                (&m.buffered, &t.buffered),
            ] {
                f(a, b);
            }
            all(&m.refused, &t.refused);
            all(&m.closed, &t.closed);
        }
        for (mine, theirs) in self.http.requests.iter().zip(&to.http.requests) {
            all(mine, theirs);
        }
        all(&self.http.buckets, &to.http.buckets);
        f(&self.http.duration_sum_us, &to.http.duration_sum_us);
        all(&self.raw, &to.raw);
        f(&self.accept_errors, &to.accept_errors);
        f(&self.accept_pauses, &to.accept_pauses);
    }
}

/// Where a service records what it answered, through its `Ctx`: the driver's counts, or
/// nowhere (a service run outside any driver, in its own tests).
pub trait Tally {
    /// An HTTP request answered with `status`, `took` from its head's first byte to the end of
    /// its answer.
    fn http(&self, method: Method, status: u16, took: Duration);
    /// A raw download ended.
    fn raw(&self, result: RawResult);
}

impl<C: Cell> Tally for Counts<C> {
    fn http(&self, method: Method, status: u16, took: Duration) {
        self.http.requests[method.index()][code_index(status)].add(1);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = DURATION_BOUNDS_US.partition_point(|&bound| bound < us);
        self.http.buckets[bucket].add(1);
        self.http.duration_sum_us.add(us);
    }

    fn raw(&self, result: RawResult) {
        self.raw[result.index()].add(1);
    }
}

/// Counts nothing.
pub struct Uncounted;

impl Tally for Uncounted {
    fn http(&self, _: Method, _: u16, _: Duration) {}
    fn raw(&self, _: RawResult) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_in_the_bucket_whose_bound_is_the_first_at_or_above_them() {
        let counts = Local::new(&["files"]);
        let cases: &[(u64, usize)] = &[
            (0, 0),
            (500, 0),
            (501, 1),
            (1_000, 1),
            (10_000_000, 13),
            (10_000_001, 14),
        ];
        for &(us, bucket) in cases {
            let before = counts.http.buckets[bucket].get();
            counts.http(Method::Get, 200, Duration::from_micros(us));
            assert_eq!(counts.http.buckets[bucket].get(), before + 1, "{us} µs");
        }
        assert_eq!(counts.http.requests[0][0].get(), cases.len() as u64);
    }

    #[test]
    fn a_status_outside_the_table_is_counted_as_other() {
        let counts = Local::new(&["files"]);
        counts.http(Method::of(b"PUT"), 418, Duration::ZERO);
        counts.http(Method::of(b"HEAD"), 304, Duration::ZERO);
        counts.http(Method::of(b"OPTIONS"), 204, Duration::ZERO);
        let other = Method::Other.index();
        assert_eq!(counts.http.requests[other][CODES.len()].get(), 1);
        assert_eq!(
            counts.http.requests[Method::Head.index()][code_index(304)].get(),
            1
        );
        assert_eq!(
            counts.http.requests[Method::Options.index()][code_index(204)].get(),
            1
        );
    }

    #[test]
    fn publishing_copies_every_count() {
        let local = Local::new(&["echo", "files"]);
        local.opened(1);
        local.moved(1, 10, 20);
        local.rebuffered(1, 0, 5);
        local.closed(1, Closed::IdleTimeout);
        local.refused(0, Refusal::MaxConns);
        local.raw(RawResult::Truncated);
        local.accept_pauses.add(2);
        let shared = Shared::new(&["echo", "files"]);
        local.publish(&shared);
        let files = &shared.services[1];
        assert_eq!((files.accepted.get(), files.open.get()), (1, 0));
        assert_eq!((files.bytes_in.get(), files.bytes_out.get()), (10, 20));
        assert_eq!(files.buffered.get(), 5);
        assert_eq!(files.closed[Closed::IdleTimeout.index()].get(), 1);
        assert_eq!(shared.services[0].refused[0].get(), 1);
        assert_eq!(shared.raw[RawResult::Truncated.index()].get(), 1);
        assert_eq!(shared.accept_pauses.get(), 2);
    }
}

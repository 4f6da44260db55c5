//! HTTP/1.1 on the files port: the pure building blocks, none of which touches a socket.
//!
//! - [`request`]: telling an HTTP request line from a raw-protocol name, and a strict push
//!   parser for the request head, with its limits.
//! - [`target`]: the request target to the bytes of a path for [`crate::root::relative_path`].
//! - [`range`]: the `Range` header against a file's size.
//! - [`date`]: IMF-fixdate formatting and HTTP-date parsing.
//! - [`mime`]: `Content-Type` by extension.
//! - [`response`]: response heads written into a caller's buffer, error bodies, validators
//!   (`ETag`, `If-None-Match`, `If-Modified-Since`, `If-Range`).
//!
//! Nothing here allocates per request: parsed fields borrow the input, output goes into
//! buffers the caller owns and reuses.
//!
//! Not wired into the files service yet. What the wiring must respect:
//! - Ask [`request::looks_like_http`] on each read of the first line. When the raw framing
//!   would end a name (half-close, quiet period) while detection is still undecided, it is raw;
//!   a newline always decides, so raw clients never wait longer than today. Once it is HTTP,
//!   the quiet period no longer applies; with `--name-wait 0` a request line split over reads
//!   falls to raw.
//! - A first line may stay undecided up to 8 KiB: read that far while undecided, and apply the
//!   raw 4 KiB name limit only once it is raw.
//! - Keep the bytes after `head_len`: they are the next pipelined request (bounded buffer).
//! - Re-parse only when new bytes hold a newline (or the buffer first passes 8 KiB, for a 414
//!   without one): parsing is O(n), and one byte per segment would make it quadratic.
//! - `[Header; 100]` and a decode buffer do not belong on a 16 KiB thread stack: use the
//!   scratch buffer or the connection's own.
//! - Order: parse error (answer, close) → method (405, before the target) → [`target::decode`]
//!   → `Root::open`; a directory → [`target::with_index`], else 404.
//! - After a 413 or 501 the body is still coming: half-close and linger (the files service's
//!   `Closing` state), or the kernel's reset destroys the answer. Every parse error closes;
//!   408 carries `Connection: close`.
//! - Range applies to GET only; If-Range before Range; a 304 has no body and no length.
//! - Persistence: [`response::Connection::new`] from the version and [`request::Request::keep_alive`].
//! - Access log: common log format, time from [`date::format_clf`], the request line escaped
//!   with [`crate::root::Escaped`].

#![warn(missing_docs)]

pub mod date;
pub mod mime;
pub mod range;
pub mod request;
pub mod response;
pub mod target;

#[cfg(test)]
mod hostile;

#[cfg(test)]
pub(crate) mod tests {
    /// A small xorshift64* generator: deterministic garbage for the no-panic tests.
    pub(crate) struct XorShift(u64);

    impl XorShift {
        pub(crate) fn new(seed: u64) -> XorShift {
            XorShift(seed | 1)
        }

        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// A number in `0..n` (`n` > 0; slightly biased, which garbage does not mind).
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }
}

//! HTTP/1.1 on the files port: the pure building blocks, none of which touches a socket.
//!
//! - [`request`]: telling an HTTP request line from a raw-protocol name, and a strict push
//!   parser for the request head, with its limits.
//! - [`target`]: the request target (origin or absolute form) to the bytes of a path for
//!   [`crate::root::relative_path`], and a directory's `Location` with its slash.
//! - [`range`]: the `Range` header against a file's size.
//! - [`date`]: IMF-fixdate formatting and HTTP-date parsing.
//! - [`mime`]: `Content-Type` by extension; [`mime_types`]: more of them from a file
//!   (`--mime-types`).
//! - [`headers`]: the operator's custom response fields (`--header`), checked and rendered
//!   once, and whether `OPTIONS` is answered as a CORS preflight.
//! - [`encoding`]: `Accept-Encoding`, for precompressed files (`--precompressed`).
//! - [`listing`]: a directory's listing (`--listing`), as HTML or JSON.
//! - [`pages`]: the operator's error pages and single-page app (`--error-page`, `--spa`).
//! - [`response`]: response heads written into a caller's buffer, error bodies, validators
//!   (`ETag`, `If-None-Match`, `If-Modified-Since`, `If-Range`).
//! - [`client`]: the other side, for `tcpserve get`: its URL, the response head, chunked
//!   bodies.
//!
//! Nothing on the server's side allocates per request: parsed fields borrow the input, output
//! goes into buffers the caller owns and reuses. The one exception is a directory listing
//! (`--listing`), built whole per request: listings are not the path files take.
//!
//! The files service's HTTP sessions (`handlers/files/http.rs`) put these together. What the
//! wiring respects:
//! - [`request::looks_like_http`] is asked on each read of the first line. When the raw
//!   framing would end a name (half-close, quiet period) while detection is still undecided,
//!   it is raw; a newline always decides, so raw clients never wait longer than before HTTP
//!   existed. Once it is HTTP (or the start of `GET `/`HEAD `), the quiet period no longer
//!   applies; with `--name-wait 0` a request line split over reads falls to raw.
//! - A first line may stay undecided up to 8 KiB (a method, a space, and a long target): it is
//!   read that far, and past it answered 414; the raw 4 KiB name limit applies once it is raw.
//! - The bytes after `head_len` are kept: they are the next pipelined request.
//! - A head is re-parsed only when new bytes hold a newline (or cross a limit): parsing is
//!   O(n), and one byte per segment would make it quadratic.
//! - The decode buffer is the driver's scratch buffer, not the stack (threads may have 16 KiB).
//! - Order: parse error (answer, close) → method (405, before the target; `OPTIONS` passes
//!   when [`headers::Custom::preflight`] and is answered 204 before the target is decoded) →
//!   [`target::decode`] → `Root::open`; a directory → [`target::with_index`], without one 404,
//!   or with `--listing` [`listing`] (`Root::list`); a path not found → the single-page app's
//!   file where [`pages`] says so; a file found → its precompressed neighbour under
//!   `--precompressed` ([`encoding`]); last, an error with a page ([`pages`]) gets that page.
//!   Every head, the faults' too, carries [`headers::Custom::block`].
//! - After a 413 or 501 the body is still coming: the server half-closes and lingers, or the
//!   kernel's reset would destroy the answer. Every parse error closes; so does 408.
//! - Range applies to GET only; If-Range before Range; a 304 has no body and no length.
//! - Persistence: [`response::Connection::new`] from the version and
//!   [`request::Request::keep_alive`].
//! - Access log: [`crate::logging::access`] writes the line (common log format, time from
//!   [`date::format_clf`]; combined; JSON), the request line escaped with
//!   [`crate::logging::Escaped`].

#![warn(missing_docs)]

mod accept;
pub mod client;
pub mod date;
pub mod encoding;
pub mod headers;
pub mod listing;
pub mod mime;
pub mod mime_types;
pub mod pages;
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

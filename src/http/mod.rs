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

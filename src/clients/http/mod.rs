//! `tcpserve get http://host[:port]/path`: the downloader's HTTP/1.1 mode. The library's
//! `http::client` checks the URL and writes the request (`url`), reads the response head
//! (status, fields, framing, `Content-Range`: `head`) and decodes chunked bodies (`chunked`);
//! this module decides what an answer means ([`plan`]) and runs the download ([`download`]). Where the file goes, the copy loop,
//! its progress line and the final rename are [`super::get`]'s, shared with the raw mode.
//!
//! One request per connection (`Connection: close`). The body goes to `DEST.part` beside the
//! destination, a stable name so that a failed download can be resumed: it is kept on failure
//! (the error says where) and renamed to DEST once whole. `--continue` resumes `DEST.part` if
//! there is one, else DEST itself (a partial left by wget or curl), with `Range: bytes=N-`;
//! the answer is checked before a byte of the partial is touched. The partial is locked
//! (`flock`) while written, so two downloads of one file cannot interleave.
//!
//! Responses are read strictly but as real servers write them: lines end with CRLF or a bare
//! LF, the head may take 64 KiB, interim 1xx heads are skipped, and the body is delimited by
//! `Content-Length`, chunked coding, or the end of the connection.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::get::{self, Progress, Saved};
use super::ClientError;
pub use tcpserve::http::client::chunked::Chunked;
pub use tcpserve::http::client::head::{
    content_range, framing, parse_head, ContentRange, FieldError, Framing, Head, HeadError,
    MAX_RESPONSE_HEAD,
};
pub use tcpserve::http::client::url::{request, Url};

/// Why an HTTP download failed.
#[derive(Debug)]
pub enum HttpError {
    /// Not a 2xx (nor a 206 or 416 that resuming expects): the status line, and for a
    /// redirection, where to.
    Status {
        line: String,
        location: Option<String>,
    },
    /// The server closed before a whole head; `got` bytes of it had come.
    NoHead { got: usize },
    /// A head this client refuses.
    Head(HeadError),
    /// A field of the head this client refuses.
    Field(FieldError),
    /// The body ended early.
    ShortBody { got: u64, want: u64 },
    /// A 206 to a request without `Range`.
    UnaskedPartial,
    /// A 206 whose `Content-Range` (`None`: missing) is not `bytes FROM-(TOTAL-1)/TOTAL`.
    ContentRange { from: u64, value: Option<String> },
    /// A 206 whose `Content-Length` differs from the range's length.
    RangeLength { content_length: u64, range: u64 },
    /// A 416 to `Range: bytes=HAVE-`: the server's file has `total` bytes (`None`: not said).
    Unsatisfiable { have: u64, total: Option<u64> },
    /// After a resumed download the file's size is not the total the server gave.
    Total { size: u64, total: u64 },
    /// An earlier partial download is in the way of a fresh one.
    PartialExists(PathBuf),
    /// Another download holds the partial file's lock.
    Locked(PathBuf),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Status { line, location } => {
                write!(f, "server answered: {line}")?;
                match location {
                    Some(location) => write!(f, " (Location: {location})"),
                    None => Ok(()),
                }
            }
            HttpError::NoHead { got: 0 } => {
                f.write_str("the server closed the connection without answering")
            }
            HttpError::NoHead { got } => write!(
                f,
                "the server closed the connection after {got} bytes of a response head"
            ),
            HttpError::Head(e) => write!(f, "bad response from the server: {e}"),
            HttpError::Field(e) => e.fmt(f),
            HttpError::ShortBody { got, want } => {
                write!(f, "connection closed after {got} of {want} bytes")
            }
            HttpError::UnaskedPartial => {
                f.write_str("the server sent part of the file (206) when the whole was asked for")
            }
            HttpError::ContentRange { from, value } => {
                write!(f, "cannot resume from byte {from}: the server's 206 has ")?;
                match value {
                    Some(v) => write!(f, "Content-Range '{v}', not 'bytes {from}-LAST/SIZE'"),
                    None => f.write_str("no Content-Range"),
                }
            }
            HttpError::RangeLength {
                content_length,
                range,
            } => write!(
                f,
                "cannot resume: Content-Length {content_length} does not match the {range} \
                 bytes of Content-Range"
            ),
            HttpError::Unsatisfiable {
                have,
                total: Some(total),
            } => write!(
                f,
                "cannot resume: the partial file has {have} bytes, the server's file {total}"
            ),
            HttpError::Unsatisfiable { have, total: None } => write!(
                f,
                "cannot resume: the server refused the range from byte {have} (416) without \
                 saying the file's size (the file may be complete already)"
            ),
            HttpError::Total { size, total } => write!(
                f,
                "verifying the total length: the file has {size} bytes, the server said {total}"
            ),
            HttpError::PartialExists(path) => write!(
                f,
                "{} holds an earlier partial download: --continue resumes it, --force starts \
                 over",
                path.display()
            ),
            HttpError::Locked(path) => {
                write!(f, "{} is being written by another download", path.display())
            }
        }
    }
}

impl From<FieldError> for HttpError {
    fn from(e: FieldError) -> HttpError {
        HttpError::Field(e)
    }
}

impl From<HttpError> for ClientError {
    fn from(e: HttpError) -> ClientError {
        ClientError::Http(e)
    }
}

/// What to do with an answer to a request from byte `from` (0: the whole file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Write the body from byte `at` of the file on (0: the whole file, over anything held),
    /// expecting the file to end up `total` bytes long when the server said so.
    Body {
        at: u64,
        framing: Framing,
        total: Option<u64>,
    },
    /// The file was already whole (a 416 naming its length as the partial's).
    Complete,
}

/// Decides what a response head means for a request from byte `from`, before any byte of
/// the partial file is touched.
pub fn plan(head: &Head, from: u64) -> Result<Plan, HttpError> {
    let range_field = || -> Result<_, HttpError> {
        let value = head.single("content-range")?;
        Ok((value, value.and_then(content_range)))
    };
    match head.status {
        206 if from == 0 => Err(HttpError::UnaskedPartial),
        206 => {
            let (value, range) = range_field()?;
            let total = match range {
                Some(ContentRange::Bytes {
                    first,
                    last,
                    total: Some(total),
                }) if first == from && last + 1 == total => total,
                _ => {
                    return Err(HttpError::ContentRange {
                        from,
                        value: value.map(|v| String::from_utf8_lossy(v).into_owned()),
                    })
                }
            };
            let range = total - from;
            let framing = match framing(head)? {
                Framing::Length(n) if n != range => {
                    return Err(HttpError::RangeLength {
                        content_length: n,
                        range,
                    })
                }
                // Content-Range gives the length a closing server leaves unsaid.
                Framing::UntilClose => Framing::Length(range),
                framing => framing,
            };
            Ok(Plan::Body {
                at: from,
                framing,
                total: Some(total),
            })
        }
        416 if from > 0 => match range_field()? {
            (_, Some(ContentRange::Unsatisfied { total })) if total == from => Ok(Plan::Complete),
            (_, Some(ContentRange::Unsatisfied { total })) => Err(HttpError::Unsatisfiable {
                have: from,
                total: Some(total),
            }),
            _ => Err(HttpError::Unsatisfiable {
                have: from,
                total: None,
            }),
        },
        // To a range, only a 200 means "here is the whole file instead"; an odd 2xx (204 No
        // Content) must not empty the partial.
        200..=299 if from == 0 || head.status == 200 => {
            let framing = framing(head)?;
            let total = match framing {
                Framing::Length(n) => Some(n),
                _ => None,
            };
            Ok(Plan::Body {
                at: 0,
                framing,
                total,
            })
        }
        _ => Err(HttpError::Status {
            line: head.status_line.clone(),
            location: match head.status {
                300..=399 => head
                    .values("location")
                    .next()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                _ => None,
            },
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The download

/// How a download was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Replace an existing destination, or start over from an earlier partial download.
    pub force: bool,
    /// Resume a partial download (`--continue`).
    pub resume: bool,
    /// For connecting, and for each read and write.
    pub timeout: Duration,
    /// Draw the progress line on stderr.
    pub progress: bool,
}

/// How a download went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The whole file came.
    Whole,
    /// The first this many bytes were there already; the rest came.
    Resumed(u64),
    /// The server ignored the range and sent the whole file, which replaced the partial.
    Restarted,
    /// The partial file was already whole: nothing came.
    AlreadyComplete,
}

/// Downloads `url` into `dest` (see the module's docs for the partial file and resuming).
pub fn download(url: &Url, dest: &Path, options: &Options) -> Result<(Saved, How), ClientError> {
    let mut partial = Partial::open(dest, options)?;
    match fetch(url, &mut partial, options) {
        Ok(how) => partial.finish(how),
        Err(error) => Err(partial.abandon(error)),
    }
}

/// `DEST.part` beside the destination: a stable name, so a later run can resume it.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map_or_else(|| OsString::from("download"), |n| n.to_os_string());
    name.push(".part");
    dest.with_file_name(name)
}

/// The file a download writes, locked, and what it held at the start.
struct Partial {
    file: File,
    /// `DEST.part`, or DEST itself when resuming a partial file left there.
    path: PathBuf,
    dest: PathBuf,
    /// The bytes to resume after (0: download the whole file).
    held: u64,
}

impl Partial {
    /// Chooses the file to write and opens it; nothing in it changes until an answer says how.
    fn open(dest: &Path, options: &Options) -> Result<Partial, ClientError> {
        let part = part_path(dest);
        let (part_exists, dest_exists) = (part.exists(), dest.exists());
        let (path, resume) = if options.resume && part_exists {
            // Whole, it will replace the destination.
            if dest_exists && !options.force {
                return Err(ClientError::Exists(dest.to_path_buf()));
            }
            (part, true)
        } else if options.resume && dest_exists {
            (dest.to_path_buf(), true)
        } else if dest_exists && !options.force {
            return Err(ClientError::Exists(dest.to_path_buf()));
        } else if part_exists && !options.force {
            return Err(HttpError::PartialExists(part).into());
        } else {
            (part, false)
        };
        let output = |error| ClientError::Output {
            path: path.clone(),
            error,
        };
        let file = OpenOptions::new()
            .write(true)
            .create(!resume)
            .truncate(false)
            .open(&path)
            .map_err(output)?;
        lock(&file, &path)?;
        let held = if resume {
            file.metadata().map_err(output)?.len()
        } else {
            0
        };
        Ok(Partial {
            file,
            path,
            dest: dest.to_path_buf(),
            held,
        })
    }

    /// Puts a finished file in place.
    fn finish(self, how: How) -> Result<(Saved, How), ClientError> {
        let bytes = self
            .file
            .metadata()
            .map_err(|error| ClientError::Output {
                path: self.path.clone(),
                error,
            })?
            .len();
        get::put_in_place(self.file, &self.path, &self.dest)?;
        let saved = Saved {
            path: self.dest,
            bytes,
        };
        Ok((saved, how))
    }

    /// After a failure: an empty partial goes, any other is kept and `error` says where.
    fn abandon(self, error: ClientError) -> ClientError {
        let bytes = self.file.metadata().map_or(0, |m| m.len());
        drop(self.file);
        if bytes == 0 && self.path != self.dest {
            let _ = fs::remove_file(&self.path);
            return error;
        }
        ClientError::Kept {
            error: Box::new(error),
            path: self.path,
            bytes,
        }
    }
}

/// Takes `file`'s exclusive lock, or says who holds it.
fn lock(file: &File, path: &Path) -> Result<(), ClientError> {
    // SAFETY: flock only acts on the descriptor, which `file` keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if e.kind() == io::ErrorKind::WouldBlock => {
            Err(HttpError::Locked(path.to_path_buf()).into())
        }
        error => Err(ClientError::Output {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Asks for the file (from `partial.held` on), checks the answer, and writes the body.
fn fetch(url: &Url, partial: &mut Partial, options: &Options) -> Result<How, ClientError> {
    let mut stream = super::connect(&url.address(), options.timeout)?;
    stream
        .write_all(request(url, partial.held).as_bytes())
        .map_err(|error| ClientError::Io {
            what: "sending the request",
            error,
        })?;
    let mut buf = vec![0u8; 4 * MAX_RESPONSE_HEAD];
    let (head, body_start, filled) = read_head(&mut stream, &mut buf)?;
    let (at, framing, total) = match plan(&head, partial.held)? {
        Plan::Complete => return Ok(How::AlreadyComplete),
        Plan::Body { at, framing, total } => (at, framing, total),
    };
    if at == 0 && partial.held > 0 {
        eprintln!("tcpserve: the server ignored the range and sends the whole file: starting over");
    }
    let output = |error| ClientError::Output {
        path: partial.path.clone(),
        error,
    };
    partial.file.set_len(at).map_err(output)?;
    partial.file.seek(SeekFrom::Start(at)).map_err(output)?;
    let body = (&buf[body_start..filled]).chain(&mut stream);
    let mut progress = Progress::new(options.progress, total, at);
    let file = &mut partial.file;
    read_body(body, framing, |body| get::copy(body, file, &mut progress))?;
    if let Some(total) = total {
        let size = file.metadata().map_err(output)?.len();
        if size != total {
            return Err(HttpError::Total { size, total }.into());
        }
    }
    Ok(match (at, partial.held) {
        (0, 0) => How::Whole,
        (0, _) => How::Restarted,
        (at, _) => How::Resumed(at),
    })
}

/// Hands `sink` the body that `rest` (what was read past the head, then the connection)
/// holds as `framing` delimits it; a body shorter than its length is an error.
pub fn read_body<E: From<HttpError>>(
    rest: impl Read,
    framing: Framing,
    mut sink: impl FnMut(&mut dyn Read) -> Result<u64, E>,
) -> Result<(), E> {
    match framing {
        Framing::Length(want) => {
            let got = sink(&mut rest.take(want))?;
            if got < want {
                return Err(HttpError::ShortBody { got, want }.into());
            }
        }
        Framing::Chunked => {
            sink(&mut Chunked::new(BufReader::new(rest)))?;
        }
        Framing::UntilClose => {
            sink(&mut { rest })?;
        }
    }
    Ok(())
}

/// Reads up to the end of the final (non-1xx) response head into `buf`: returns the head,
/// where its body starts in `buf`, and how much of `buf` is filled.
pub fn read_head(
    stream: &mut impl Read,
    buf: &mut [u8],
) -> Result<(Head, usize, usize), ClientError> {
    let (mut start, mut filled) = (0, 0);
    // Parsing again is worth it only when a line may have ended since.
    let mut newline = false;
    loop {
        if newline {
            match parse_head(&buf[start..filled]).map_err(HttpError::Head)? {
                // Interim answers (100 Continue, 103 Early Hints) precede the real one; 101
                // would switch protocols, which was not asked for.
                Some((head, len)) if head.status < 200 && head.status != 101 => {
                    start += len;
                    if start > MAX_RESPONSE_HEAD {
                        return Err(HttpError::Head(HeadError::TooLarge).into());
                    }
                    continue;
                }
                Some((head, len)) => return Ok((head, start + len, filled)),
                None => {}
            }
        }
        if filled == buf.len() {
            return Err(HttpError::Head(HeadError::TooLarge).into());
        }
        let n = get::read_some(stream, &mut buf[filled..], "receiving the response")?;
        if n == 0 {
            let got = filled - start;
            return Err(HttpError::NoHead { got }.into());
        }
        // A wrong start is told at once, not after 64 KiB of it.
        newline = buf[filled..filled + n].contains(&b'\n') || filled < 5;
        filled += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `plan` made of the head `text` holds, without the error's details.
    fn planned(text: &str, from: u64) -> Result<Plan, String> {
        let (head, _) = parse_head(text.as_bytes()).unwrap().unwrap();
        plan(&head, from).map_err(|e| e.to_string())
    }

    #[test]
    fn answers_to_a_range_are_checked_before_anything_is_written() {
        use Framing::*;
        let ok = |at, framing, total| Ok::<_, &str>(Plan::Body { at, framing, total });
        let cases: &[(&str, u64, Result<Plan, &str>)] = &[
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 0, ok(0, Length(10), Some(10))),
            ("HTTP/1.1 200 OK\r\n\r\n", 0, ok(0, UntilClose, None)),
            // Range ignored: the whole file, from the start.
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 4, ok(0, Length(10), Some(10))),
            (
                "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-9/10\r\nContent-Length: 6\r\n\r\n",
                4,
                ok(4, Length(6), Some(10)),
            ),
            // No length: Content-Range says how much is to come.
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-9/10\r\n\r\n", 4, ok(4, Length(6), Some(10))),
            (
                "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-9/10\r\nTransfer-Encoding: chunked\r\n\r\n",
                4,
                ok(4, Chunked, Some(10)),
            ),
            ("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */4\r\n\r\n", 4, Ok(Plan::Complete)),
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-9/10\r\n\r\n", 0, Err("206) when the whole")),
            ("HTTP/1.1 206 Partial\r\n\r\n", 4, Err("no Content-Range")),
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 3-9/10\r\n\r\n", 4, Err("'bytes 3-9/10'")),
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 5-9/10\r\n\r\n", 4, Err("'bytes 5-9/10'")),
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-8/10\r\n\r\n", 4, Err("'bytes 4-8/10'")),
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-9/*\r\n\r\n", 4, Err("'bytes 4-9/*'")),
            ("HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-9/10\r\nContent-Range: bytes 4-9/10\r\n\r\n", 4, Err("more than one")),
            (
                "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4-9/10\r\nContent-Length: 10\r\n\r\n",
                4,
                Err("Content-Length 10 does not match the 6"),
            ),
            (
                "HTTP/1.1 206 Partial\r\nContent-Type: multipart/byteranges; boundary=x\r\n\r\n",
                4,
                Err("no Content-Range"),
            ),
            ("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */3\r\n\r\n", 4, Err("4 bytes, the server's file 3")),
            ("HTTP/1.1 416 Range Not Satisfiable\r\n\r\n", 4, Err("without saying")),
            ("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */4\r\n\r\n", 0, Err("server answered: HTTP/1.1 416")),
            ("HTTP/1.1 404 Not Found\r\n\r\n", 0, Err("server answered: HTTP/1.1 404 Not Found")),
            ("HTTP/1.1 404 Not Found\r\n\r\n", 4, Err("server answered: HTTP/1.1 404 Not Found")),
            ("HTTP/1.1 204 No Content\r\n\r\n", 0, ok(0, Length(0), Some(0))),
            ("HTTP/1.1 204 No Content\r\n\r\n", 4, Err("server answered: HTTP/1.1 204 No Content")),
            (
                "HTTP/1.1 301 Moved Permanently\r\nLocation: http://h/b/\r\n\r\n",
                0,
                Err("HTTP/1.1 301 Moved Permanently (Location: http://h/b/)"),
            ),
            ("HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, Err("server answered: HTTP/1.1 101")),
        ];
        for (text, from, want) in cases {
            let got = planned(text, *from);
            match (want, &got) {
                (Ok(want), Ok(got)) => assert_eq!(got, want, "{text:?} from {from}"),
                (Err(says), Err(message)) => {
                    assert!(message.contains(says), "{text:?} from {from}: {message}")
                }
                _ => panic!("{text:?} from {from}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn interim_heads_are_skipped_and_the_body_starts_after_the_final_one() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                       HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let mut buf = vec![0u8; 4 * MAX_RESPONSE_HEAD];
        let (head, start, filled) = read_head(&mut &answer[..], &mut buf).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(&buf[start..filled], b"abc");
    }

    #[test]
    fn a_head_that_never_ends_or_never_comes_is_an_error() {
        let endless = format!(
            "HTTP/1.1 200 OK\r\n{}",
            "X: y\r\n".repeat(MAX_RESPONSE_HEAD)
        );
        let interims = "HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_RESPONSE_HEAD / 20);
        let cases: &[(&[u8], &str)] = &[
            (b"", "without answering"),
            (b"HTTP/1.1 200 OK\r\n", "after 17 bytes of a response head"),
            (endless.as_bytes(), "larger than 64 KiB"),
            (interims.as_bytes(), "larger than 64 KiB"),
            (b"SSH-2.0-OpenSSH\r\n", "not an HTTP response"),
        ];
        for (answer, says) in cases {
            let mut buf = vec![0u8; 4 * MAX_RESPONSE_HEAD];
            let error = read_head(&mut &answer[..], &mut buf).unwrap_err();
            assert!(error.to_string().contains(says), "{says}: {error}");
        }
    }
}

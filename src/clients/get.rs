//! `tcpserve get`: the lesson's downloader. Sends the bare file name, then half-closes (so
//! tcpserve needs no quiet period and the lesson's own server still works), and saves
//! everything until the server closes. The bytes go to a temporary file beside the destination,
//! renamed into place only when the transfer ended cleanly: a failed download never leaves a
//! half file under the real name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ClientError;

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What a finished download came to.
pub struct Saved {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Where a download of `name` goes: `output` if given (inside it, if it is a directory), else
/// the name's last component in the current directory. `None` if the name has no usable last
/// component and no output was given.
pub fn destination(name: &str, output: Option<&Path>) -> Option<PathBuf> {
    let base = name
        .rsplit('/')
        .next()
        .filter(|b| !matches!(*b, "" | "." | ".."));
    match output {
        Some(dir) if dir.is_dir() => base.map(|b| dir.join(b)),
        Some(path) => Some(path.to_path_buf()),
        None => base.map(PathBuf::from),
    }
}

/// Downloads `name` over `stream` into `dest`.
pub fn download(
    stream: &mut TcpStream,
    name: &str,
    dest: &Path,
    force: bool,
    progress: bool,
) -> Result<Saved, ClientError> {
    if !force && dest.exists() {
        return Err(ClientError::Exists(dest.to_path_buf()));
    }
    let part = part_path(dest);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .map_err(|error| ClientError::Output {
            path: part.clone(),
            error,
        })?;
    let result = receive(stream, name, &mut file, progress).and_then(|bytes| {
        file.sync_all().map_err(|error| ClientError::Output {
            path: part.clone(),
            error,
        })?;
        Ok(bytes)
    });
    drop(file);
    match result {
        Ok(bytes) => match fs::rename(&part, dest) {
            Ok(()) => Ok(Saved {
                path: dest.to_path_buf(),
                bytes,
            }),
            Err(error) => {
                let _ = fs::remove_file(&part);
                Err(ClientError::Output {
                    path: dest.to_path_buf(),
                    error,
                })
            }
        },
        Err(e) => {
            let _ = fs::remove_file(&part);
            Err(e)
        }
    }
}

/// `.NAME.part-PID` beside the destination, so the rename stays on one file system.
fn part_path(dest: &Path) -> PathBuf {
    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
    let part = format!(
        ".{}.part-{}",
        file_name.unwrap_or_else(|| "download".into()),
        std::process::id()
    );
    dest.with_file_name(part)
}

/// Sends the name and copies the reply into `out` until the server closes.
fn receive(
    stream: &mut TcpStream,
    name: &str,
    out: &mut File,
    progress: bool,
) -> Result<u64, ClientError> {
    let sending = |error| ClientError::Io {
        what: "sending the name",
        error,
    };
    stream.write_all(name.as_bytes()).map_err(sending)?;
    // Only a hint that the name is whole; if the server has already closed, the reads below
    // say how the transfer ended.
    let _ = stream.shutdown(Shutdown::Write);
    let started = Instant::now();
    let mut shown = started;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(ClientError::Io {
                    what: "receiving the file",
                    error,
                })
            }
        };
        out.write_all(&buf[..n]).map_err(|error| ClientError::Io {
            what: "writing the file",
            error,
        })?;
        total += n as u64;
        if progress && shown.elapsed() >= PROGRESS_EVERY {
            shown = Instant::now();
            eprint!("\r{}", progress_line(total, started.elapsed()));
        }
    }
    if progress {
        eprintln!("\r{}", progress_line(total, started.elapsed()));
    }
    Ok(total)
}

fn progress_line(bytes: u64, elapsed: Duration) -> String {
    let rate = bytes as f64 / elapsed.as_secs_f64().max(1e-3);
    format!("{} received, {}/s    ", human(bytes as f64), human(rate))
}

/// Bytes in binary units, e.g. `12.3 MiB`.
fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_the_names_last_component_unless_given() {
        let here = Path::new("/definitely/not/a/dir/out.bin");
        let cases: &[(&str, Option<&Path>, Option<&str>)] = &[
            ("a.txt", None, Some("a.txt")),
            ("sub/dir/b.bin", None, Some("b.bin")),
            ("/abs/c", None, Some("c")),
            ("dir/", None, None),
            ("..", None, None),
            ("x/.", None, None),
            ("dir/", Some(here), Some("/definitely/not/a/dir/out.bin")),
            ("a.txt", Some(Path::new("/")), Some("/a.txt")),
        ];
        for (name, output, want) in cases {
            let got = destination(name, *output);
            assert_eq!(got.as_deref(), want.map(Path::new), "{name} {output:?}");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(5.0 * 1024.0 * 1024.0 * 1024.0), "5.0 GiB");
    }
}

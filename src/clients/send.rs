//! `tcpserve send`: the lesson's echo client. With a message: send it, print the reply. Without:
//! send each line of stdin and print each reply, so it works in a pipe and at a terminal.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};

use super::ClientError;

/// Sends `message` and writes the reply (and a newline) to `out`; true if the reply matched.
pub fn once(
    stream: &mut TcpStream,
    message: &[u8],
    out: &mut impl Write,
) -> Result<bool, ClientError> {
    let mut reply = vec![0u8; message.len()];
    exchange(stream, message, &mut reply)?;
    let print = |error| ClientError::Io {
        what: "writing the reply",
        error,
    };
    out.write_all(&reply).map_err(print)?;
    out.write_all(b"\n").map_err(print)?;
    out.flush().map_err(print)?;
    Ok(reply == message)
}

/// Sends every line of `input` in turn and writes each reply to `out`; true if all matched.
pub fn lines(
    stream: &mut TcpStream,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Result<bool, ClientError> {
    let mut line = Vec::new();
    let mut reply = Vec::new();
    let mut all_matched = true;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|error| ClientError::Io {
                what: "reading standard input",
                error,
            })?;
        if n == 0 {
            break;
        }
        reply.resize(line.len(), 0);
        exchange(stream, &line, &mut reply)?;
        all_matched &= reply == line;
        out.write_all(&reply)
            .and_then(|_| out.flush())
            .map_err(|error| ClientError::Io {
                what: "writing the reply",
                error,
            })?;
    }
    // Tell the server we are done, and let it close first.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.read(&mut [0u8; 1]);
    Ok(all_matched)
}

/// Writes `message`, then reads exactly `reply.len()` bytes back.
fn exchange(stream: &mut TcpStream, message: &[u8], reply: &mut [u8]) -> Result<(), ClientError> {
    stream.write_all(message).map_err(|error| ClientError::Io {
        what: "sending",
        error,
    })?;
    let mut got = 0;
    while got < reply.len() {
        match stream.read(&mut reply[got..]) {
            Ok(0) => {
                return Err(ClientError::ShortReply {
                    got,
                    want: reply.len(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(ClientError::Io {
                    what: "waiting for the reply",
                    error,
                })
            }
        }
    }
    Ok(())
}

//! README's embedding example: a directory served over HTTP and a protocol of the program's
//! own, on a background thread, until standard input closes.
use std::io::{self, Read};
use tcpserve::{Ctx, Model, Next, Reason, Server, Service, Transport};

/// Greets each client and closes (a client is not expected to send).
#[derive(Default)]
struct Hello(usize);

impl Service for Hello {
    fn on_ready(&mut self, io: &mut dyn Transport, _: &mut Ctx) -> Next {
        let greeting = b"hello from tcpserve\n";
        while self.0 < greeting.len() {
            match io.write(&greeting[self.0..]) {
                Ok(n) => self.0 += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(e.into()),
            }
        }
        Next::Close(Reason::Done)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1); // [DIR [MODEL]]
    let dir = args.next().unwrap_or_else(|| ".".into());
    let model = args.next().and_then(|m| Model::from_name(&m));
    let server = Server::builder()
        .model(model.unwrap_or(Model::Reactor))
        .files(([127, 0, 0, 1], 0), dir)
        .service("hello", ([127, 0, 0, 1], 0), Hello::default)
        .start()?;
    for (name, addr) in server.addrs() {
        println!("{name} listening on {addr}");
    }
    io::stdin().read_to_end(&mut Vec::new())?; // serve until stdin closes
    server.stop();
    println!("stopped: {:?}", server.join()?);
    Ok(())
}

//! The start-up baseline of scripts/bench-lambda: the least a Rust Lambda does before its
//! first poll (process start, Rust runtime start, one HTTP request to the Runtime API).
//! Built with rustc alone; blocks until the harness kills it.

use std::io::{Read, Write};

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    let Ok(mut stream) = std::net::TcpStream::connect(&api) else {
        return;
    };
    let request =
        format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
}

//! The kernel's floor for a burst's first writes: one thread writes one
//! pre-encoded request of about the size loadgen sends to each of N open
//! loopback TCP connections in turn, as fast as the kernel lets it, and
//! prints when each write had completed after the first began (p50, p99,
//! max in µs) as one JSON line. `benches/loadgen_ceiling.sh` sets loadgen's
//! first-write skew against it in the same run: a start cannot be tighter
//! than one thread's writes unless the writes are spread over cores.
//!
//! `cargo run --release -p clickday-loadgen --example write-floor -- 127.0.0.1:9000 10000`

use std::io::Write as _;
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: write-floor ADDR CONNECTIONS");
        std::process::exit(64);
    };
    let n: usize = n.parse().expect("CONNECTIONS is a number");
    clickday_edge::raise_nofile_limit();
    let body = format!(
        r#"{{"application_id":"app-0","click_day":"echo","data":"{}"}}"#,
        "x".repeat(480)
    );
    let request = format!(
        "POST /v1/submissions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut sockets: Vec<TcpStream> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(&addr).expect("connect");
            s.set_nodelay(true).expect("nodelay");
            s
        })
        .collect();
    // Let the server accept them all before the clock starts.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let start = Instant::now();
    let mut done: Vec<u64> = Vec::with_capacity(n);
    for socket in &mut sockets {
        socket.write_all(request.as_bytes()).expect("write");
        done.push(start.elapsed().as_micros() as u64);
    }
    let at = |q: f64| done[((done.len() as f64 * q).ceil() as usize).clamp(1, done.len()) - 1];
    println!(
        r#"{{"connections":{n},"bytes":{},"p50_us":{},"p99_us":{},"max_us":{}}}"#,
        request.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

//! A trivial hyper server that answers like the gateway without doing any
//! work: the baseline for loadgen's own ceiling (benches/loadgen_ceiling.sh)
//! and for the gateway's CPU time per request. Plain HTTP/1.1 and HTTP/2
//! (prior knowledge) on one port, or with `--tls DIR` TLS 1.3 exactly as the
//! gateway serves it (its self-signed certificate made in `DIR`, its cipher
//! order, ALPN h2 then http/1.1), so the per-request CPU compares like with
//! like.
//!
//! `cargo run --release -p clickday-loadgen --example echo-server -- 127.0.0.1:9000 [--tls DIR]`

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    // Read the whole body, as the gateway must before stamping.
    let _ = req.into_body().collect().await?;
    let body = match path.as_str() {
        "/v1/click-days" => r#"[{"id":"echo","opens_at":"2020-01-01T00:00:00.000000000Z","closes_at":"2100-01-01T00:00:00.000000000Z","categories":["lavoro-domestico"]}]"#.to_string(),
        "/v1/time" => r#"{"unix_nanos":0,"utc":"1970-01-01T00:00:00.000000000Z"}"#.to_string(),
        _ => {
            let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            format!(r#"{{"submission_id":"echo-{n}","received_at":"2026-01-01T00:00:00.000000000Z","status":"queued","duplicate":false}}"#)
        }
    };
    let status = if path == "/v1/submissions" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response"))
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let threads = std::env::var("ECHO_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let args: Vec<String> = std::env::args().collect();
    let tls = match args.iter().position(|a| a == "--tls") {
        Some(i) => {
            let dir = std::path::PathBuf::from(args.get(i + 1).expect("--tls DIR"));
            let (cert, key) =
                clickday_gateway::tls::ensure_self_signed(&dir).map_err(std::io::Error::other)?;
            let material = clickday_gateway::tls::TlsMaterial::load(&cert, &key)
                .map_err(std::io::Error::other)?;
            Some(tokio_rustls::TlsAcceptor::from(
                material.tcp_config().map_err(std::io::Error::other)?,
            ))
        }
        None => None,
    };
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            eprintln!(
                "echo server on {listen} ({threads} threads, TLS {})",
                tls.is_some()
            );
            loop {
                let (tcp, _) = listener.accept().await?;
                let _ = tcp.set_nodelay(true);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder.http2().max_concurrent_streams(1024);
                    let _ = match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => {
                                builder
                                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                                    .await
                            }
                            Err(_) => return,
                        },
                        None => {
                            builder
                                .serve_connection(TokioIo::new(tcp), service_fn(answer))
                                .await
                        }
                    };
                });
            }
        })
}

//! Routing, body reading under a size limit and a deadline, and the JSON
//! and problem documents of PROTOCOL.md. Transport-agnostic: any
//! `http::Request` with an `http_body::Body` goes through [`Gateway::handle`].

use crate::Gateway;
use bytes::Bytes;
use clickday_core::Problem;
use clickday_core::time::format_rfc3339_nanos;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

pub type ResponseBody = Full<Bytes>;

impl Gateway {
    /// Answers one request. Never fails: every error is a problem document.
    pub async fn handle<B>(&self, req: Request<B>, peer: IpAddr) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let protocol = match req.version() {
            Version::HTTP_2 => "h2",
            Version::HTTP_3 => "h3",
            _ => "h1",
        };
        match (req.method(), req.uri().path()) {
            (&Method::POST, "/v1/submissions") => self.submissions(req, peer, protocol).await,
            (&Method::GET, "/v1/time") => {
                let now = (self.clock)();
                json_response(
                    StatusCode::OK,
                    &json!({"unix_nanos": now, "utc": format_rfc3339_nanos(now)}),
                )
            }
            (&Method::GET, "/v1/click-days") => self.click_days(),
            (&Method::GET, "/healthz") => {
                json_response(StatusCode::OK, &json!({"status": "alive"}))
            }
            (&Method::GET, "/readyz") => self.readiness().await,
            (&Method::GET, "/metrics") => self.metrics_text(),
            (_, "/v1/submissions") => {
                with_allow(problem_response(&Problem::MethodNotAllowed), "POST")
            }
            (_, "/v1/time" | "/v1/click-days" | "/healthz" | "/readyz" | "/metrics") => {
                with_allow(problem_response(&Problem::MethodNotAllowed), "GET")
            }
            (method, path)
                if path == crate::ledger::KEYS || path.starts_with(crate::ledger::PREFIX) =>
            {
                if method != Method::GET {
                    return with_allow(problem_response(&Problem::MethodNotAllowed), "GET");
                }
                // Reads reach the store: the per-address budget applies.
                if let Err(problem) = self.limiters.check_ip(peer) {
                    return problem_response(&problem);
                }
                match path.strip_prefix(crate::ledger::PREFIX) {
                    Some(rest) => self.ledger(rest).await,
                    None => self.published_keys().await,
                }
            }
            _ => problem_response(&Problem::NotFound),
        }
    }

    async fn submissions<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        protocol: &'static str,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        // One address may have only so many bodies in reading; nothing else
        // is held while a body trickles in (see admission.rs).
        let Some(reading) = self.unread.start(peer) else {
            self.metrics.count("shed", protocol);
            return problem_response(&Problem::Unavailable {
                retry_after_secs: self.admission.shed(),
                ticket: None,
            });
        };
        self.metrics.in_flight.inc();
        let started = std::time::Instant::now();
        let outcome = self.receive(req, peer, reading).await;
        self.metrics.in_flight.dec();
        self.metrics
            .submission_seconds
            .get_or_create(&crate::metrics::ProtocolLabels { protocol })
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(accepted) => {
                self.metrics.count(
                    if accepted.duplicate {
                        "duplicate"
                    } else {
                        "accepted"
                    },
                    protocol,
                );
                accepted_response(&accepted)
            }
            Err(problem) => {
                self.metrics.count(problem.code(), protocol);
                problem_response(&problem)
            }
        }
    }

    /// Checks 1 and 2 before and while reading; the stamp is taken the
    /// moment the body is complete, before any verification.
    async fn receive<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        reading: crate::admission::Reading<'_>,
    ) -> Result<clickday_core::Acknowledgement, Problem>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        self.limiters.check_ip(peer)?;
        check_content_type(req.headers())?;
        let too_large = Problem::TooLarge {
            limit: self.body_limit,
        };
        if declared_length(req.headers()).is_some_and(|n| n > self.body_limit as u64) {
            return Err(too_large);
        }
        let (parts, body) = req.into_parts();
        let body = read_body(body, self.body_limit, self.body_read_timeout).await?;
        let stamp = self.stamper.stamp((self.clock)());
        // Read: the address's slot is free for its next body.
        drop(reading);
        self.submit(&parts.headers, body, stamp).await
    }

    fn click_days(&self) -> Response<ResponseBody> {
        let days: Vec<_> = self
            .calendar
            .days()
            .map(|d| {
                json!({
                    "id": d.id,
                    "opens_at": format_rfc3339_nanos(d.opens_at),
                    "closes_at": format_rfc3339_nanos(d.closes_at),
                    "categories": d.categories,
                })
            })
            .collect();
        json_response(StatusCode::OK, &json!(days))
    }

    async fn readiness(&self) -> Response<ResponseBody> {
        let queue = self.queue.check_ready().await;
        let keys = self.keys.is_loaded();
        let ready = queue.is_ok() && keys;
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(
            status,
            &json!({
                "ready": ready,
                "queue": queue.err().map_or("ok".to_string(), |e| e.to_string()),
                "keys_loaded": keys,
            }),
        )
    }

    fn metrics_text(&self) -> Response<ResponseBody> {
        self.metrics.keys.set(self.keys.len() as i64);
        let (ips, keys) = self.limiters.tracked();
        self.metrics
            .limiter_entries
            .get_or_create(&vec![("limiter", "ip")])
            .set(ips as i64);
        self.metrics
            .limiter_entries
            .get_or_create(&vec![("limiter", "key")])
            .set(keys as i64);
        self.metrics
            .limiter_entries
            .get_or_create(&vec![("limiter", "unread_bodies")])
            .set(self.unread.tracked() as i64);
        let mut resp = Response::new(Full::new(Bytes::from(self.metrics.render())));
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        resp
    }
}

/// `application/json`, parameters (charset) allowed, case-insensitive.
fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(Problem::UnsupportedMediaType),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Reads the whole body, refusing it as soon as it passes `limit` (the rest
/// is not read) or when it has not arrived within `timeout`.
async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, Problem>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Problem::TooLarge { limit })
        }
        Ok(Err(e)) => Err(Problem::Malformed(format!(
            "the body could not be read: {e}"
        ))),
        Err(_) => Err(Problem::BodyTimeout {
            secs: timeout.as_secs().max(1),
        }),
    }
}

fn accepted_response(accepted: &clickday_core::Acknowledgement) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(accepted.status()).unwrap_or(StatusCode::ACCEPTED);
    json_bytes_response(status, accepted.to_json())
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    json_bytes_response(status, serde_json::to_vec(value).unwrap_or_default())
}

fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub(crate) fn problem_response(problem: &Problem) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from(problem.to_json())));
    *resp.status_mut() =
        StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = problem.retry_after_secs() {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(ticket) = problem.ticket()
        && let Ok(value) = HeaderValue::from_str(&ticket.text)
    {
        headers.insert("clickday-ticket", value);
    }
    resp
}

fn with_allow(mut resp: Response<ResponseBody>, allow: &'static str) -> Response<ResponseBody> {
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

//! The arrival ledger, served read-only as C2SP `tlog-tiles` below
//! `/v1/ledger/<click_day>/`: the newest signed checkpoint (mutable,
//! cached for a second) and the hash tiles and entry bundles (immutable).
//! The persister writes the log; the gateway only reads the store.

use crate::Gateway;
use crate::http::{ResponseBody, problem_response};
use bytes::Bytes;
use clickday_core::Problem;
use clickday_ledger::TilePath;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// Where the ledger is served.
pub(crate) const PREFIX: &str = "/v1/ledger/";
/// Where the public keys that check receipts and checkpoints are listed.
pub(crate) const KEYS: &str = "/v1/keys";

/// Ledger reads in progress at once, all addresses together: a crowd of
/// readers (each within its own rate limit) must not take the store's
/// connections from the key refresh; past it, `503` with `Retry-After: 1`.
pub(crate) const MAX_CONCURRENT_READS: usize = 16;

impl Gateway {
    /// `rest` is the path after [`PREFIX`]: `<click_day>/checkpoint` or
    /// `<click_day>/tile/...`.
    pub(crate) async fn ledger(&self, rest: &str) -> Response<ResponseBody> {
        let Some(store) = &self.ledger else {
            return problem_response(&Problem::NotFound);
        };
        let Some((day, resource)) = rest.split_once('/') else {
            return problem_response(&Problem::NotFound);
        };
        // Only configured click days reach the store.
        if self.calendar.get(day).is_none() {
            return problem_response(&Problem::UnknownClickDay(day.to_string()));
        }
        let Ok(_reading) = self.ledger_reads.try_acquire() else {
            return busy();
        };
        if resource == "checkpoint" {
            return match store.latest_checkpoint(day).await {
                Ok(Some((_, note))) => resource_response(
                    note.into_bytes(),
                    "text/plain; charset=utf-8",
                    "public, max-age=1",
                ),
                Ok(None) => problem_response(&Problem::NotFound),
                Err(e) => unreadable(e),
            };
        }
        let Some(path) = TilePath::parse(resource) else {
            return problem_response(&Problem::NotFound);
        };
        match store.ledger_tile(day, &path.to_string()).await {
            Ok(Some(data)) => resource_response(
                data,
                "application/octet-stream",
                "public, max-age=31536000, immutable",
            ),
            Ok(None) => problem_response(&Problem::NotFound),
            Err(e) => unreadable(e),
        }
    }

    /// `GET /v1/keys`: every receipt key and ledger key the persisters
    /// published, oldest first, so old receipts stay checkable.
    pub(crate) async fn published_keys(&self) -> Response<ResponseBody> {
        let Some(store) = &self.ledger else {
            return problem_response(&Problem::NotFound);
        };
        let Ok(_reading) = self.ledger_reads.try_acquire() else {
            return busy();
        };
        let keys = match store.published_keys().await {
            Ok(keys) => keys,
            Err(e) => return unreadable(e),
        };
        let of = |kind: &str, field: &str| -> Vec<serde_json::Value> {
            keys.iter()
                .filter(|k| k.kind == kind)
                .map(|k| {
                    serde_json::json!({
                        "key_id": k.key_id,
                        field: k.public_key,
                        "published_at": clickday_core::time::format_rfc3339_nanos(k.published_at * 1_000),
                    })
                })
                .collect()
        };
        let body = serde_json::json!({
            "receipt_keys": of("receipt", "public_key"),
            "ledger_keys": of("ledger", "verifier_key"),
        });
        resource_response(
            body.to_string().into_bytes(),
            "application/json",
            "public, max-age=60",
        )
    }
}

/// Too many store reads in progress, or the store unreachable: `503`,
/// come back in a second.
fn busy() -> Response<ResponseBody> {
    problem_response(&Problem::Unavailable {
        retry_after_secs: 1,
        ticket: None,
    })
}

fn unreadable(e: clickday_store::StoreError) -> Response<ResponseBody> {
    tracing::debug!(error = %e, "ledger store read failed");
    busy()
}

fn resource_response(
    body: Vec<u8>,
    content_type: &'static str,
    cache: &'static str,
) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

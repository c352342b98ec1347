//! `send`: every application of a click day, signed before the instant,
//! sent all at once at the opening on one warm connection (HTTP/2
//! streams or HTTP/3), each resent with the same bytes after `503`,
//! `429` (after `Retry-After` and a little more) and timeouts, until it is
//! accepted or refused for good. One slow answer never holds back the
//! others (the lesson of 2007, when each PC sent one after another).

use crate::clock::{self, Estimate};
use crate::journal::{Entry, Journal, Outcome};
use crate::portal::Ready;
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickday_transport::Protocol;
use clickday_transport::retry::{backoff, jitter, retry_after};
use clickday_transport::{Connection, Gate, Target};
use ed25519_dalek::{Signer, SigningKey};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One try's longest wait for an answer; then the same bytes go again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds every ready application of `click_day` not yet in the journal,
/// signed, and saves the journal before anything is sent.
pub fn prepare(
    home: &Path,
    journal: &mut Journal,
    key: &SigningKey,
    key_id: &str,
    click_day: &str,
    ready: &[Ready],
) -> anyhow::Result<()> {
    for app in ready.iter().filter(|a| a.click_day == click_day) {
        // Already signed once: those bytes, never new ones.
        journal
            .entries
            .entry(app.application_id.clone())
            .or_insert_with(|| Entry {
                click_day: app.click_day.clone(),
                body: app.body.clone(),
                signature: URL_SAFE_NO_PAD.encode(key.sign(app.body.as_bytes()).to_bytes()),
                key_id: key_id.to_string(),
                ticket: None,
                outcome: Outcome::Pending,
            });
    }
    journal.save(home)
}

/// Sends the journal's pending entries of `click_day` at `opens_at_nanos`
/// (gateway time); the journal is saved after every answer.
pub async fn send_all(
    home: &Path,
    journal: Journal,
    line: &GatewayLine,
    click_day: &str,
    opens_at_nanos: i64,
    on_outcome: impl Fn(&str, &Outcome) + Send + Sync + 'static,
) -> anyhow::Result<Journal> {
    let pending: Vec<(String, Entry)> = journal
        .entries
        .iter()
        .filter(|(_, e)| e.click_day == click_day && e.outcome == Outcome::Pending)
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect();
    let journal = Arc::new(Mutex::new(journal));
    let estimate = line.estimate;
    keep_warm_until(line, opens_at_nanos).await;
    let on_outcome = Arc::new(on_outcome);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (id, entry)) in pending.into_iter().enumerate() {
        let (target, connection, journal, on_outcome) = (
            line.target.clone(),
            line.connection.clone(),
            journal.clone(),
            on_outcome.clone(),
        );
        let home = home.to_path_buf();
        tasks.spawn(async move {
            // A ticket is journaled as soon as it comes: a client killed
            // before the resend still keeps the first arrival.
            // Saved only when it changes: a gateway answering 503 many
            // times over with the same ticket costs no rewrite each time.
            let remember = |ticket: &str| {
                if let Ok(mut journal) = journal.lock()
                    && let Some(e) = journal.entries.get_mut(&id)
                    && e.ticket.as_deref() != Some(ticket)
                {
                    e.ticket = Some(ticket.to_string());
                    let _ = journal.save(&home);
                }
            };
            let outcome = deliver(&target, connection, &entry, index, &estimate, &remember).await;
            let mut journal = journal
                .lock()
                .map_err(|_| anyhow::anyhow!("journal lock poisoned"))?;
            if let Some(e) = journal.entries.get_mut(&id) {
                e.outcome = outcome.clone();
            }
            journal.save(&home)?;
            on_outcome(&id, &outcome);
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a sending task failed")??;
    }
    let journal = journal
        .lock()
        .map_err(|_| anyhow::anyhow!("journal lock poisoned"))?;
    Ok(journal.clone())
}

/// A gateway closes a connection with no request for a while (its
/// `idle_timeout`, two minutes by default; pings do not count): a line
/// opened well ahead asks the time this often, so it is still warm at the
/// opening.
const KEEP_WARM_EVERY: Duration = Duration::from_secs(30);

/// Sleeps until the gateway's clock reads `at_nanos`, asking it the time
/// every [`KEEP_WARM_EVERY`] meanwhile. A line that went cold anyway is
/// reopened by the first send (`deliver`).
async fn keep_warm_until(line: &GatewayLine, at_nanos: i64) {
    let every = i64::try_from(KEEP_WARM_EVERY.as_nanos()).unwrap_or(i64::MAX);
    while at_nanos - line.estimate.now_nanos() > every {
        tokio::time::sleep(KEEP_WARM_EVERY).await;
        if let Ok(request) =
            http::Request::get(line.target.uri("/v1/time")).body(bytes::Bytes::new())
        {
            let _ = line.connection.send(request).await;
        }
    }
    wait_for(at_nanos, &line.estimate).await;
}

/// Sleeps until the gateway's clock reads `at_nanos`.
async fn wait_for(at_nanos: i64, estimate: &Estimate) {
    let left = at_nanos - estimate.now_nanos();
    if left > 0 {
        tokio::time::sleep(Duration::from_nanos(left as u64)).await;
    }
}

/// One application until it is accepted or refused for good.
async fn deliver(
    target: &Target,
    mut connection: Arc<Connection>,
    entry: &Entry,
    index: usize,
    estimate: &Estimate,
    remember_ticket: &(dyn Fn(&str) + Sync),
) -> Outcome {
    let mut attempt: u32 = 0;
    let mut ticket = entry.ticket.clone();
    loop {
        attempt = attempt.saturating_add(1);
        let mut request = http::Request::post(target.uri("/v1/submissions"))
            .header("content-type", "application/json")
            .header("clickday-key", &entry.key_id)
            .header("clickday-signature", &entry.signature);
        if let Some(ticket) = &ticket {
            request = request.header("clickday-ticket", ticket);
        }
        let request = request.body(bytes::Bytes::from(entry.body.clone()));
        let Ok(request) = request else {
            return refused(0, "malformed", "the journal holds an unusable request");
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, connection.send(request)).await {
            Ok(Ok(answer)) => {
                let json: serde_json::Value =
                    serde_json::from_slice(&answer.body).unwrap_or_default();
                let text = |k: &str| json[k].as_str().unwrap_or_default().to_string();
                let acknowledgement = clickday_core::Acknowledgement::parse(&answer.body);
                match (answer.status.as_u16(), acknowledgement) {
                    (200 | 202, Ok(a)) => {
                        return Outcome::Accepted {
                            received_at: a.received_at_text(),
                            submission_id: a.submission_id,
                            duplicate: a.duplicate,
                        };
                    }
                    (503 | 429, _) => {
                        if let Some(issued) = answer.headers.get_str("clickday-ticket") {
                            remember_ticket(issued);
                            ticket = Some(issued.to_string());
                        }
                        let wait = retry_after(&answer.headers);
                        tokio::time::sleep(wait + jitter(wait, index, attempt)).await;
                    }
                    // Our clock was early after all: wait for the opening.
                    (425, _) => {
                        let opens = clickday_core::time::parse_rfc3339(&text("opens_at")).ok();
                        match opens {
                            Some(at) => wait_for(at as i64, estimate).await,
                            None => tokio::time::sleep(Duration::from_secs(1)).await,
                        }
                    }
                    // A deployment that no longer knows its ticket (a key
                    // rotated away): better a new stamp than no application.
                    (400, _) if ticket.is_some() && text("code") == "bad_ticket" => {
                        ticket = None;
                    }
                    (status, _) if (400..500).contains(&status) => {
                        return refused(status, &text("code"), &text("detail"));
                    }
                    // A 2xx without an id, a 5xx, a garbled answer: no
                    // usable answer, so the same bytes go again.
                    _ => tokio::time::sleep(backoff(attempt)).await,
                }
            }
            // No answer: the same bytes again, on a new connection if this
            // one is gone.
            Ok(Err(_)) | Err(_) => {
                tokio::time::sleep(backoff(attempt)).await;
                if !connection.is_open()
                    && let Ok(fresh) = target.connect(Arc::new(Gate::new(Instant::now()))).await
                {
                    connection = Arc::new(fresh);
                }
            }
        }
    }
}

fn refused(status: u16, code: &str, detail: &str) -> Outcome {
    Outcome::Refused {
        status,
        code: code.to_string(),
        detail: detail.to_string(),
    }
}

/// A warm connection to the gateway and the clock measured on it.
pub struct GatewayLine {
    pub target: Arc<Target>,
    pub connection: Arc<Connection>,
    pub estimate: Estimate,
}

/// Opens and warms the connection (the clock samples are its first
/// requests). Without a `protocol`: HTTP/2 first, then HTTP/3 if the
/// gateway offers it (`Alt-Svc: h3=…`) and a QUIC connection comes up
/// within a few seconds; HTTP/2 otherwise (UDP blocked on the way).
pub async fn open(
    url: &str,
    protocol: Option<Protocol>,
    trust: Option<&clickday_transport::Trust>,
) -> anyhow::Result<GatewayLine> {
    let (target, connection) = connect(url, protocol.unwrap_or(Protocol::Http2), trust).await?;
    let (target, connection) = match protocol {
        Some(_) => (target, connection),
        None => match offers_h3(&target, &connection).await {
            true => {
                let quic =
                    tokio::time::timeout(QUIC_WAIT, connect(url, Protocol::Http3, trust)).await;
                match quic {
                    Ok(Ok(h3)) => h3,
                    _ => (target, connection),
                }
            }
            false => (target, connection),
        },
    };
    let estimate = clock::estimate(&connection, &target.uri("/v1/time"), 8).await?;
    Ok(GatewayLine {
        target: Arc::new(target),
        connection: Arc::new(connection),
        estimate,
    })
}

/// How long an offered HTTP/3 may take to come up before HTTP/2 is kept.
const QUIC_WAIT: Duration = Duration::from_secs(3);

async fn connect(
    url: &str,
    protocol: Protocol,
    trust: Option<&clickday_transport::Trust>,
) -> anyhow::Result<(Target, Connection)> {
    let target = Target::new(url, protocol, trust)
        .await
        .with_context(|| format!("gateway {url}"))?;
    let connection = target
        .connect(Arc::new(Gate::new(Instant::now())))
        .await
        .with_context(|| format!("cannot reach the gateway at {url}"))?;
    Ok((target, connection))
}

/// Whether the gateway's answers advertise HTTP/3 (PROTOCOL.md).
async fn offers_h3(target: &Target, connection: &Connection) -> bool {
    let Ok(request) = http::Request::get(target.uri("/v1/time")).body(bytes::Bytes::new()) else {
        return false;
    };
    match connection.send(request).await {
        Ok(answer) => answer
            .headers
            .get_all("alt-svc")
            .any(|v| v.windows(3).any(|w| w == b"h3=")),
        Err(_) => false,
    }
}

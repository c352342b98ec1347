//! The outbox's emails: the confirmation "domanda ricevuta", written here
//! from the submission, and messages other components wrote (the portal's
//! registration confirmations, resets, tickets), sent as they are. Retries
//! with backoff, never dropped. The message is built by lettre; the
//! embedded default writes it to `<outbox>/<reference>-<kind>.eml` (the
//! submission id, or `outbox-<row id>`; so a repeated attempt rewrites the
//! same file instead of adding one), production hands it to an SMTP relay.
//! The Message-ID is derived from the same reference, so a resend after a
//! crash between sending and recording it carries the same id and
//! receiving systems can recognise it.

use clickday_config::{EmailConfig, EmailTransport};
use clickday_core::time::format_rfc3339_nanos;
use clickday_core::time::format_rome;
use clickday_store::{EmailContent, EmailJob, ReceivedSubmission, Store};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A sender holds its leased messages this long before others may retry them.
const LEASE: Duration = Duration::from_secs(120);
const IDLE: Duration = Duration::from_millis(200);
const BATCH: usize = 100;

enum Transport {
    Files(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub(crate) struct EmailStage {
    store: Arc<dyn Store>,
    transport: Transport,
    from: Mailbox,
    /// The portal's applications page, linked from confirmations.
    applications_url: String,
    sender: String,
    max_backoff: Duration,
    metrics: Arc<crate::metrics::Metrics>,
    /// Set while ingestion has a backlog: confirmations follow the spike.
    ingest_backlog: Arc<std::sync::atomic::AtomicBool>,
}

impl EmailStage {
    pub(crate) fn new(
        cfg: &EmailConfig,
        portal_url: &str,
        store: Arc<dyn Store>,
        sender: &str,
        metrics: Arc<crate::metrics::Metrics>,
        ingest_backlog: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Self, crate::PersisterError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|source| crate::PersisterError::Sender {
                from: cfg.from.clone(),
                source,
            })?;
        let transport = match &cfg.transport {
            EmailTransport::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| crate::PersisterError::Outbox {
                    path: dir.clone(),
                    source,
                })?;
                Transport::Files(dir.clone())
            }
            EmailTransport::Smtp { host, port } => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(*port)
                    .timeout(Some(Duration::from_secs(15)))
                    .build(),
            ),
        };
        Ok(EmailStage {
            applications_url: format!("{portal_url}/domande"),
            store,
            transport,
            from,
            sender: sender.to_string(),
            max_backoff: cfg.max_backoff,
            metrics,
            ingest_backlog,
        })
    }

    pub(crate) async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if self
                .ingest_backlog
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(IDLE) => continue,
                }
            }
            let queued = match self.store.queue_confirmations(BATCH).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "moving submissions to the email outbox failed; retrying");
                    0
                }
            };
            let jobs = match self.store.claim_emails(&self.sender, BATCH, LEASE).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "email outbox unavailable; retrying");
                    Vec::new()
                }
            };
            if jobs.is_empty() && queued == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(IDLE) => continue,
                }
            }
            // Confirmations are addressed by name when the portal knows
            // the applicant; an unknown name is no reason not to send.
            let accounts: Vec<&str> = jobs
                .iter()
                .filter_map(|j| match &j.content {
                    EmailContent::Received(s) => Some(s.account_id.as_str()),
                    EmailContent::Written { .. } => None,
                })
                .collect();
            let names = if accounts.is_empty() {
                Default::default()
            } else {
                self.store
                    .applicant_names(&accounts)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::debug!(error = %e, "applicant names unavailable; emails say \"richiedente\"");
                        Default::default()
                    })
            };
            for job in jobs {
                let name = match &job.content {
                    EmailContent::Received(s) => names.get(&s.account_id).map(String::as_str),
                    EmailContent::Written { .. } => None,
                };
                let outcome = match message(&job, name, &self.from, &self.applications_url) {
                    Ok(msg) => self.deliver(&job, msg).await,
                    Err(e) => Err(e),
                };
                let recorded = match outcome {
                    Ok(()) => {
                        self.metrics.emails_sent.inc();
                        self.store.email_sent(job.id).await
                    }
                    Err(e) => {
                        self.metrics.email_failures.inc();
                        let retry_in = backoff(job.attempts, self.max_backoff);
                        tracing::warn!(email = %job.reference(), error = %e, ?retry_in, "email not sent; will retry");
                        self.store.email_failed(job.id, &e, retry_in).await
                    }
                };
                if let Err(e) = recorded {
                    tracing::warn!(error = %e, "recording an email attempt failed; the lease will expire and it is retried");
                }
            }
        }
    }

    async fn deliver(&self, job: &EmailJob, msg: Message) -> Result<(), String> {
        match &self.transport {
            Transport::Files(dir) => {
                let name = format!("{}-{}.eml", job.reference(), job.kind);
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, msg.formatted())
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::fs::rename(&tmp, dir.join(name))
                    .await
                    .map_err(|e| e.to_string())
            }
            Transport::Smtp(smtp) => smtp.send(msg).await.map(drop).map_err(|e| e.to_string()),
        }
    }
}

/// 1 s, 2 s, 4 s … up to `max`.
fn backoff(attempts: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << attempts.min(20)).min(max)
}

/// The email of an outbox row; `name` addresses a confirmation.
fn message(
    job: &EmailJob,
    name: Option<&str>,
    from: &Mailbox,
    applications_url: &str,
) -> Result<Message, String> {
    let to: Mailbox = job
        .recipient
        .parse()
        .map_err(|e| format!("recipient {:?}: {e}", job.recipient))?;
    let (subject, body) = match &job.content {
        EmailContent::Received(submission) => received(submission, name, applications_url),
        EmailContent::Written { subject, body } => (subject.clone(), body.clone()),
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{}.{}@clickday>", job.reference(), job.kind)))
        .header(lettre::message::header::MIME_VERSION_1_0)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// The confirmation of a stored submission, Italian first, English below.
fn received(
    job: &ReceivedSubmission,
    name: Option<&str>,
    applications_url: &str,
) -> (String, String) {
    let rome = format_rome(job.received_at);
    let utc = format_rfc3339_nanos(job.received_at);
    let body = format!(
        "Gentile {dear_it},\n\n\
         la domanda {app} per il click day {day} (categoria {cat}, provincia {prov}) è stata ricevuta.\n\n\
         Identificativo della domanda: {id}\n\
         Arrivo: {rome} (UTC {utc})\n\n\
         La ricevuta in PDF con l'anteprima della domanda è disponibile nell'area riservata del portale:\n\
         {url}\n\n\
         Conservi l'identificativo: serve per ogni richiesta di assistenza.\n\n\
         -- English --\n\n\
         Dear {dear_en},\n\n\
         application {app} for click day {day} (category {cat}, province {prov}) was received.\n\n\
         Submission id: {id}\n\
         Arrival: {rome} (UTC {utc})\n\n\
         The PDF receipt with a preview of the application is available in your area of the portal:\n\
         {url}\n\n\
         Keep the submission id: the help desk will ask for it.\n",
        app = job.application_id,
        day = job.click_day,
        cat = job.category,
        prov = job.province,
        id = job.submission_id,
        url = applications_url,
        dear_it = name.unwrap_or("richiedente"),
        dear_en = name.unwrap_or("applicant"),
    );
    let subject = format!(
        "Domanda ricevuta / Application received - {}",
        job.submission_id
    );
    (subject, body)
}

//! Check 9: make the submission durable, or say why not.

use crate::Gateway;
use bytes::Bytes;
use clickday_core::{Application, ArrivalStamp, Problem};
use clickday_queue::{Enqueued, Record};
use std::time::Instant;

/// The answer to an accepted submission.
#[derive(Debug)]
pub struct Accepted {
    pub submission_id: String,
    pub received_at: u64,
    pub duplicate: bool,
}

impl Gateway {
    pub(crate) async fn enqueue(
        &self,
        app: Application,
        account_id: &str,
        key_id: String,
        stamp: ArrivalStamp,
        body: Bytes,
        signature: [u8; 64],
    ) -> Result<Accepted, Problem> {
        let record = Record {
            submission_id: stamp.submission_id().to_string(),
            account_id: account_id.to_string(),
            key_id,
            application_id: app.application_id,
            click_day: app.click_day,
            category: app.category,
            province: app.province,
            form: app.form,
            received_at: stamp.unix_nanos,
            node: stamp.node,
            seq: stamp.seq,
            body_sha256: clickday_core::body_digest(&body),
            body,
            signature,
        };
        let unavailable = Problem::Unavailable {
            retry_after_secs: self.retry_after_secs,
        };
        let started = Instant::now();
        // On timeout the write may still land; a resend then gets the
        // original id and stamp back, so nothing is lost or doubled.
        let outcome = tokio::time::timeout(self.enqueue_timeout, self.queue.enqueue(&record)).await;
        self.metrics
            .enqueue_seconds
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(Enqueued::New)) => Ok(Accepted {
                submission_id: record.submission_id,
                received_at: record.received_at,
                duplicate: false,
            }),
            Ok(Ok(Enqueued::Duplicate {
                submission_id,
                received_at,
            })) => Ok(Accepted {
                submission_id,
                received_at,
                duplicate: true,
            }),
            Ok(Ok(Enqueued::Conflict)) => Err(Problem::Conflict(record.application_id)),
            Ok(Err(e)) => {
                // Per request, so debug: under overload a warning per request
                // would flood the log; the outcome metric counts them.
                tracing::debug!(error = %e, submission.id = %record.submission_id, "enqueue failed");
                Err(unavailable)
            }
            Err(_) => {
                tracing::debug!(submission.id = %record.submission_id, "enqueue timed out");
                Err(unavailable)
            }
        }
    }
}

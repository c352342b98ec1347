//! Check 9: make the submission durable, or say why not.

use crate::Gateway;
use bytes::Bytes;
use clickday_core::{Acknowledgement, Application, ArrivalStamp, Problem, Submission};
use clickday_queue::Enqueued;
use std::time::Instant;

impl Gateway {
    pub(crate) async fn enqueue(
        &self,
        app: Application,
        account_id: &str,
        key_id: String,
        stamp: ArrivalStamp,
        body: Bytes,
        signature: [u8; 64],
    ) -> Result<Acknowledgement, Problem> {
        let record = Submission {
            submission_id: stamp.submission_id().to_string(),
            account_id: account_id.to_string(),
            key_id,
            application: app,
            stamp,
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
            Ok(Ok(Enqueued::New)) => Ok(Acknowledgement {
                received_at: record.received_at(),
                submission_id: record.submission_id,
                duplicate: false,
            }),
            Ok(Ok(Enqueued::Duplicate {
                submission_id,
                received_at,
            })) => Ok(Acknowledgement {
                submission_id,
                received_at,
                duplicate: true,
            }),
            Ok(Ok(Enqueued::Conflict)) => Err(Problem::Conflict(record.application.application_id)),
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

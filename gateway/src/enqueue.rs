//! Check 9: make the submission durable, or say why not.

use crate::Gateway;
use clickday_core::{Acknowledgement, KeyId, Problem, Submission};
use clickday_queue::Enqueued;
use std::time::Instant;

impl Gateway {
    /// `key_id` is the record's, parsed: the ticket of a 503 binds it.
    pub(crate) async fn enqueue(
        &self,
        record: Submission,
        key_id: KeyId,
    ) -> Result<Acknowledgement, Problem> {
        // The body was read and stamped: a 503 now keeps the stamp in a
        // ticket, so the resend keeps its place (PROTOCOL v1.1).
        // Counted with the refusals for room: a crowd the queue cannot take
        // is told to come back later the larger it is.
        let unavailable = || Problem::Unavailable {
            retry_after_secs: self.admission.shed(),
            ticket: self.calendar.get(&record.application.click_day).map(|day| {
                Box::new(self.issue_ticket(key_id, record.body_sha256, record.stamp, day.closes_at))
            }),
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
                Err(unavailable())
            }
            Err(_) => {
                tracing::debug!(submission.id = %record.submission_id, "enqueue timed out");
                Err(unavailable())
            }
        }
    }
}

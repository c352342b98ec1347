//! A sender's timeout for its exchanges, one timer for all of them.
//!
//! A timer per exchange (`tokio::time::timeout`) put an entry into the
//! runtime's timer wheel and took it out again on every request, a few
//! per cent of a lane's time at a hundred thousand requests a second.
//! Deadlines of one sender only move later, so its timer stays armed at
//! an earlier exchange's deadline and is moved to the current one only
//! when it fires before it: about once per timeout, not once per request.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use tokio::time::{Instant, Sleep};

#[derive(Default)]
pub(crate) struct Deadlines {
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadlines {
    /// `work`'s output, or None when `deadline` came first. `work` is
    /// pinned by the caller, so it is not moved (copied) again here.
    pub(crate) async fn within<F: Future>(
        &mut self,
        deadline: Instant,
        mut work: Pin<&mut F>,
    ) -> Option<F::Output> {
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() > deadline {
                    timer.as_mut().reset(deadline); // an earlier one after all
                }
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        poll_fn(|cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            // Fired at an earlier exchange's deadline: move it on.
            while timer.as_mut().poll(cx).is_ready() {
                if timer.deadline() >= deadline {
                    return Poll::Ready(None);
                }
                timer.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn each_exchange_gets_its_own_deadline_from_one_timer() {
        let mut deadlines = Deadlines::default();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        // Done in time: its output.
        assert_eq!(
            deadlines
                .within(start + 10 * second, pin!(async { 7 }))
                .await,
            Some(7)
        );
        // The timer is still armed for 10 s; an exchange begun at 5 s with
        // a 10 s timeout must not be cut at 10 s but at 15 s.
        tokio::time::sleep(5 * second).await;
        assert_eq!(
            deadlines
                .within(start + 15 * second, pin!(std::future::pending::<()>()))
                .await,
            None
        );
        assert_eq!(Instant::now(), start + 15 * second);

        // A deadline earlier than the armed one is honoured too.
        let mut deadlines = Deadlines::default();
        assert_eq!(
            deadlines
                .within(start + 60 * second, pin!(async { 1 }))
                .await,
            Some(1)
        );
        assert_eq!(
            deadlines
                .within(start + 20 * second, pin!(std::future::pending::<()>()))
                .await,
            None
        );
        assert_eq!(Instant::now(), start + 20 * second);
    }
}

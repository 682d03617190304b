//! Acknowledging a batch message record by record: the JetStream message is
//! acknowledged once every record it carries was acknowledged by the
//! application or skipped (a skipped record counts as acknowledged).
//!
//! Until then the message stays pending on the consumer; if the application
//! never acknowledges a record, the message is redelivered after the ack
//! wait, and its records already delivered are then skipped (and reported).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};

use crate::SdkError;

/// How many records of a message are not done yet. Pure: no I/O.
#[derive(Debug)]
pub(crate) struct Countdown(AtomicUsize);

impl Countdown {
    pub(crate) fn new(records: usize) -> Self {
        Countdown(AtomicUsize::new(records))
    }

    /// Marks `n` more records done; true if that finished the message (the
    /// count reached zero now, not before).
    pub(crate) fn done(&self, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left.saturating_sub(n))
            })
            .is_ok_and(|before| before > 0 && before <= n)
    }

    /// Undoes `n` records done (the message's acknowledgement failed, so
    /// the last of them may try again).
    pub(crate) fn undo(&self, n: usize) {
        self.0.fetch_add(n, Ordering::SeqCst);
    }
}

/// One JetStream message carrying a batch, with its countdown.
#[derive(Debug)]
pub(crate) struct BatchAck {
    message: jetstream::Message,
    countdown: Countdown,
    /// Terminated by the application: nothing more is sent for it.
    terminated: AtomicBool,
    /// Handed back by the application ([`crate::nak`]): the server
    /// redelivers it, so it is never acknowledged from this copy.
    nakked: AtomicBool,
}

impl BatchAck {
    pub(crate) fn new(message: jetstream::Message, records: usize) -> Arc<Self> {
        Arc::new(BatchAck {
            message,
            countdown: Countdown::new(records),
            terminated: AtomicBool::new(false),
            nakked: AtomicBool::new(false),
        })
    }

    fn failed(
        &self,
        what: &str,
        e: impl std::fmt::Display + Into<crate::error::Cause>,
    ) -> SdkError {
        SdkError::Consume {
            source: None,
            stream: self
                .message
                .info()
                .map_or_else(|_| String::new(), |i| i.stream.to_string()),
            detail: format!("{what} failed: {e}"),
        }
        .with_source(e)
    }

    /// Marks `n` records done; acknowledges the message after its last.
    pub(crate) async fn done(&self, n: usize) -> Result<(), SdkError> {
        if !self.countdown.done(n) || self.settled() {
            return Ok(());
        }
        self.message.ack().await.map_err(|e| {
            self.countdown.undo(n);
            self.failed("ack", e)
        })
    }

    /// Tells the server the message is still being worked on: its ack
    /// wait starts again.
    pub(crate) async fn in_progress(&self) -> Result<(), SdkError> {
        if self.settled() {
            return Ok(());
        }
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| self.failed("in-progress", e))
    }

    /// Terminated or handed back: nothing more is sent for this copy.
    fn settled(&self) -> bool {
        self.terminated.load(Ordering::SeqCst) || self.nakked.load(Ordering::SeqCst)
    }

    /// Hands the message back: the server redelivers it after `delay`.
    /// Once only; a no-op for a terminated message.
    pub(crate) async fn nak(&self, delay: Duration) -> Result<(), SdkError> {
        if self.terminated.load(Ordering::SeqCst) || self.nakked.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| {
                self.nakked.store(false, Ordering::SeqCst);
                self.failed("nak", e)
            })
    }

    /// Terminates the message: never redelivered, whatever records of it
    /// are not acknowledged yet.
    pub(crate) async fn term(&self) -> Result<(), SdkError> {
        if self.nakked.load(Ordering::SeqCst) || self.terminated.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.message.ack_with(AckKind::Term).await.map_err(|e| {
            self.terminated.store(false, Ordering::SeqCst);
            self.failed("term", e)
        })
    }
}

/// One record's share of its message's acknowledgement.
#[derive(Debug)]
pub(crate) struct RecordAck {
    batch: Arc<BatchAck>,
    acked: AtomicBool,
}

impl RecordAck {
    pub(crate) fn new(batch: Arc<BatchAck>) -> Self {
        RecordAck {
            batch,
            acked: AtomicBool::new(false),
        }
    }

    /// See [`BatchAck::in_progress`].
    pub(crate) async fn in_progress(&self) -> Result<(), SdkError> {
        self.batch.in_progress().await
    }

    /// See [`BatchAck::term`].
    pub(crate) async fn term(&self) -> Result<(), SdkError> {
        self.batch.term().await
    }

    /// See [`BatchAck::nak`].
    pub(crate) async fn nak(&self, delay: Duration) -> Result<(), SdkError> {
        self.batch.nak(delay).await
    }

    /// The message this record came in.
    pub(crate) fn batch(&self) -> &Arc<BatchAck> {
        &self.batch
    }

    /// Acknowledges the record (once; again is a no-op).
    pub(crate) async fn ack(&self) -> Result<(), SdkError> {
        if self.acked.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.batch.done(1).await.inspect_err(|_| {
            self.acked.store(false, Ordering::SeqCst);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_acknowledged_after_its_last_record() {
        // (what, records, steps of records done, the step that finishes)
        type Case = (&'static str, usize, Vec<usize>, Option<usize>);
        let cases: [Case; 7] = [
            ("one record", 1, vec![1], Some(0)),
            ("three, one by one", 3, vec![1, 1, 1], Some(2)),
            ("skipped ones first", 4, vec![2, 1, 1], Some(2)),
            ("all skipped at once", 3, vec![3], Some(0)),
            ("not all done", 3, vec![1, 1], None),
            ("nothing done is not done", 2, vec![0, 0], None),
            ("done past the end fires once", 2, vec![1, 1, 1], Some(1)),
        ];
        for (what, records, steps, finishing) in cases {
            let countdown = Countdown::new(records);
            let fired: Vec<usize> = steps
                .iter()
                .enumerate()
                .filter(|(_, n)| countdown.done(**n))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(fired, finishing.into_iter().collect::<Vec<_>>(), "{what}");
        }
    }

    #[test]
    fn a_failed_acknowledgement_can_be_retried() {
        let countdown = Countdown::new(2);
        assert!(!countdown.done(1));
        assert!(countdown.done(1));
        countdown.undo(1);
        assert!(countdown.done(1), "the last record may try again");
    }
}

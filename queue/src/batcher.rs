//! The Redis enqueue: one Lua script for one submission or many, and the
//! stage that batches them per round trip — one script call makes many
//! submissions of a shard durable at once (`appendfsync always` answers it
//! after one write and fsync), as the SQLite inbox group-commits.
//!
//! Batching is natural, never timed: a submission goes out at once when a
//! call slot is free; only while every slot of its shard has a call in
//! flight do newcomers gather, and the next free slot takes them all (up
//! to `max_batch`). A quiet gateway pays no latency for it; a crowd pays
//! one round trip per batch instead of one per submission.

use crate::QueueError;
use crate::record::{FIELD, dedupe_value, encode};
use clickday_core::Submission;
use redis::aio::ConnectionManager;
use redis::{Script, Value};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Dedupe and append, for one submission or many, in one atomic step: per
/// record, the dedupe entry answers a resend (also one earlier in the same
/// batch; two gateways cannot both append), otherwise append, remember,
/// raise the node's highest stamp. Stamps are compared as zero-padded
/// strings: Lua numbers lose precision. ARGV: count, then six per record
/// (see [`script_args`]). The reply holds, per record, the previous dedupe
/// value or nil.
pub(crate) const ENQUEUE_LUA: &str = r"
local out = {}
local at = 2
for r = 1, tonumber(ARGV[1]) do
  local previous = redis.call('HGET', KEYS[2], ARGV[at])
  if previous then
    out[r] = previous
  else
    redis.call('XADD', KEYS[1], '*', ARGV[at + 4], ARGV[at + 5])
    redis.call('HSET', KEYS[2], ARGV[at], ARGV[at + 1])
    local last = redis.call('HGET', KEYS[3], ARGV[at + 2])
    if (not last) or ARGV[at + 3] > last then redis.call('HSET', KEYS[3], ARGV[at + 2], ARGV[at + 3]) end
    out[r] = false
  end
  at = at + 6
end
return out
";

/// One submission's six script arguments: dedupe key, dedupe value, node,
/// zero-padded stamp, stream field, encoded record.
pub(crate) type Args = [Vec<u8>; 6];

pub(crate) fn script_args(record: &Submission) -> Args {
    [
        format!(
            "{}\n{}",
            record.account_id, record.application.application_id
        )
        .into_bytes(),
        dedupe_value(record).into_bytes(),
        record.stamp.node.to_string().into_bytes(),
        format!("{:020}", record.received_at()).into_bytes(),
        FIELD.as_bytes().to_vec(),
        encode(record),
    ]
}

/// One submission's script arguments, and where its answer goes.
struct Entry {
    args: Args,
    answer: oneshot::Sender<Result<Option<String>, QueueError>>,
}

/// The batching stage of one shard.
pub(crate) struct ShardBatcher {
    entries: mpsc::UnboundedSender<Entry>,
}

impl ShardBatcher {
    /// Starts the shard's stage: `slots` calls in flight at most, each on
    /// the next of `connections`, at most `max_batch` submissions each.
    pub fn start(
        script: Arc<Script>,
        keys: Arc<[String; 3]>,
        connections: Vec<ConnectionManager>,
        slots: usize,
        max_batch: usize,
    ) -> ShardBatcher {
        let (entries, inbox) = mpsc::unbounded_channel();
        tokio::spawn(run(
            script,
            keys,
            connections,
            slots.max(1),
            max_batch.max(1),
            inbox,
        ));
        ShardBatcher { entries }
    }

    /// Queues one submission for the next call and waits for its answer.
    pub async fn enqueue(&self, args: Args) -> Result<Option<String>, QueueError> {
        let (answer, answered) = oneshot::channel();
        self.entries
            .send(Entry { args, answer })
            .map_err(|_| QueueError::Stopped)?;
        answered.await.map_err(|_| QueueError::Stopped)?
    }
}

async fn run(
    script: Arc<Script>,
    keys: Arc<[String; 3]>,
    connections: Vec<ConnectionManager>,
    slots: usize,
    max_batch: usize,
    mut inbox: mpsc::UnboundedReceiver<Entry>,
) {
    let slots = Arc::new(Semaphore::new(slots));
    let mut next = 0;
    loop {
        // A free slot first: while there is none, newcomers gather.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = inbox.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match inbox.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let mut connection = connections[next % connections.len()].clone();
        next += 1;
        let (script, keys) = (script.clone(), keys.clone());
        tokio::spawn(async move {
            let answers = call(
                &script,
                &keys,
                &mut connection,
                batch.iter().map(|e| &e.args),
            )
            .await;
            drop(slot);
            match answers {
                Ok(answers) => {
                    for (entry, answer) in batch.into_iter().zip(answers) {
                        let _ = entry.answer.send(Ok(answer));
                    }
                }
                Err(e) => {
                    for entry in batch {
                        let _ = entry.answer.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// One call of [`ENQUEUE_LUA`] for `records` of the shard named by `keys`
/// (stream, dedupe, nodes): per record, the previous dedupe value or `None`.
pub(crate) async fn call<'a>(
    script: &Script,
    keys: &[String; 3],
    connection: &mut ConnectionManager,
    records: impl ExactSizeIterator<Item = &'a Args>,
) -> Result<Vec<Option<String>>, QueueError> {
    let count = records.len();
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    invocation.arg(count);
    for args in records {
        for arg in args {
            invocation.arg(arg.as_slice());
        }
    }
    let reply: Value = invocation
        .invoke_async(connection)
        .await
        .map_err(QueueError::unavailable)?;
    let Value::Array(items) = reply else {
        return Err(QueueError::Protocol(format!(
            "batch enqueue answered {reply:?}"
        )));
    };
    if items.len() != count {
        return Err(QueueError::Protocol(format!(
            "batch enqueue of {count} answered {} items",
            items.len()
        )));
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| QueueError::Protocol("dedupe value is not UTF-8".into())),
            other => Err(QueueError::Protocol(format!(
                "batch enqueue item {other:?}"
            ))),
        })
        .collect()
}

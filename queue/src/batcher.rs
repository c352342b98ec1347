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

use crate::connection::Connection;
use crate::record::{FIELD, dedupe_value, encode};
use crate::{QueueError, ReplicaAcks};
use clickday_core::Submission;
use redis::{ErrorKind, Script, ServerErrorKind, Value};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Dedupe and append, for one submission or many, in one atomic step: per
/// record, the dedupe entry answers a resend (also one earlier in the same
/// batch; two gateways cannot both append), otherwise append, remember,
/// raise the node's highest stamp. Stamps are compared as zero-padded
/// strings: Lua numbers lose precision. ARGV: count, then six per record
/// (see [`script_args`]). The reply holds, per record, the previous dedupe
/// value or nil.
///
/// A call that answers resends also counts them (`resends` in the nodes
/// hash): the call then always writes, so a `WAIT` after it covers the
/// replication offset of every earlier write — the originals' included,
/// which may have come through another connection not yet replicated.
pub(crate) const ENQUEUE_LUA: &str = r"
local out = {}
local at = 2
local resends = 0
for r = 1, tonumber(ARGV[1]) do
  local previous = redis.call('HGET', KEYS[2], ARGV[at])
  if previous then
    out[r] = previous
    resends = resends + 1
  else
    redis.call('XADD', KEYS[1], '*', ARGV[at + 4], ARGV[at + 5])
    redis.call('HSET', KEYS[2], ARGV[at], ARGV[at + 1])
    local last = redis.call('HGET', KEYS[3], ARGV[at + 2])
    if (not last) or ARGV[at + 3] > last then redis.call('HSET', KEYS[3], ARGV[at + 2], ARGV[at + 3]) end
    out[r] = false
  end
  at = at + 6
end
if resends > 0 then redis.call('HINCRBY', KEYS[3], 'resends', resends) end
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
        call: Call,
        connections: Vec<Connection>,
        slots: usize,
        max_batch: usize,
    ) -> ShardBatcher {
        let (entries, inbox) = mpsc::unbounded_channel();
        tokio::spawn(run(
            call,
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
    call: Call,
    connections: Vec<Connection>,
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
        let call = call.clone();
        tokio::spawn(async move {
            let answers = call
                .run(&mut connection, batch.iter().map(|e| &e.args))
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

/// One shard's call of [`ENQUEUE_LUA`], and the replicas that must
/// confirm it before its answers count.
#[derive(Clone)]
pub(crate) struct Call {
    pub script: Arc<Script>,
    /// The shard's stream, dedupe and nodes keys.
    pub keys: Arc<[String; 3]>,
    pub replicas: ReplicaAcks,
}

impl Call {
    /// Runs the script for `records`: per record, the previous dedupe value
    /// or `None`. With replica acks, `WAIT` follows in the same pipeline —
    /// on the same connection to the same node, so it counts this write —
    /// and too few confirmations fail the whole call.
    pub async fn run<'a>(
        &self,
        connection: &mut Connection,
        records: impl ExactSizeIterator<Item = &'a Args>,
    ) -> Result<Vec<Option<String>>, QueueError> {
        let count = records.len();
        let mut pipe = redis::pipe();
        pipe.cmd("EVALSHA")
            .arg(self.script.get_hash())
            .arg(self.keys.len())
            .arg(&self.keys[..])
            .arg(count);
        for args in records {
            for arg in args {
                pipe.arg(arg.as_slice());
            }
        }
        if self.replicas.wanted > 0 {
            pipe.add_command(self.replicas.wait());
        }
        let mut replies: Vec<Value> = match pipe.query_async(connection).await {
            // A node that never ran the script (new, restarted, or a
            // replica just promoted): nothing was written; load it, again.
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script
                    .load_async(connection)
                    .await
                    .map_err(QueueError::unavailable)?;
                pipe.query_async(connection).await
            }
            other => other,
        }
        .map_err(QueueError::unavailable)?;
        if self.replicas.wanted > 0 {
            self.replicas.judge(replies.pop())?;
        }
        let reply = replies
            .pop()
            .ok_or_else(|| QueueError::Protocol("batch enqueue answered nothing".into()))?;
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
}

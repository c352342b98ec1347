//! Many load machines, one instant. `clickday-loadgen agent` runs on each
//! load machine ([`serve`]); `clickday-loadgen run --agents …` ([`control`])
//! measures each agent's clock, hands each its shard of the workload, arms
//! all for the same instant in each agent's own clock, follows them live
//! and merges their reports.
//!
//! The control connection is TLS (TLS 1.3, the agent's certificate made
//! when it starts) authenticated both ways by a shared token: each side
//! proves it knows the token with an HMAC over the TLS session's exported
//! keying material, so the token never crosses the wire and a proof cannot
//! be relayed into another session (a man in the middle has two sessions
//! with two different exporters). No certificate has to be distributed;
//! the token has to be secret and long, and an agent does nothing for a
//! peer that has not proved it.
//!
//! Messages are JSON, one per line.

pub mod control;
pub mod serve;

use crate::report::Report;
use crate::{Mode, Protocol, Shard, Trust};
use hmac::{Hmac, Mac as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _,
};

/// The name the agent's certificate carries and the controller asks for.
const SERVER_NAME: &str = "clickday-loadgen-agent";
/// The TLS exporter label the proofs are bound to.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-clickday-loadgen-control";
/// A controller's message is small (the largest carries a CA bundle).
const MAX_TO_AGENT: usize = 1 << 20;
/// An agent's report lists every acknowledged submission of its shard.
const MAX_FROM_AGENT: usize = 1 << 30;
/// The shortest token accepted: 128 bits as base64.
const MIN_TOKEN_CHARS: usize = 22;

/// The shared secret of a controller and its agents.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Reads a token file (surrounding whitespace ignored).
    pub fn read(path: &Path) -> Result<Token, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
        Token::new(text.trim()).map_err(|e| format!("--token-file {}: {e}", path.display()))
    }

    pub fn new(text: &str) -> Result<Token, String> {
        if text.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!(
                "the token has {} characters, fewer than {MIN_TOKEN_CHARS}: make one with `head -c 32 /dev/urandom | base64`",
                text.chars().count()
            ));
        }
        Ok(Token(text.as_bytes().to_vec()))
    }

    fn mac(&self, role: Role, exporter: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(role.label());
        mac.update(exporter);
        mac
    }

    /// `role`'s proof of the token for the session with `exporter`.
    fn prove(&self, role: Role, exporter: &[u8]) -> String {
        use base64::Engine as _;
        let tag = self.mac(role, exporter).finalize().into_bytes();
        base64::engine::general_purpose::STANDARD.encode(tag)
    }

    /// Checks `proof` in constant time.
    fn verify(&self, role: Role, exporter: &[u8], proof: &str) -> bool {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(proof)
            .is_ok_and(|tag| self.mac(role, exporter).verify_slice(&tag).is_ok())
    }
}

/// Who proves: the two proofs differ so one cannot be echoed as the other.
#[derive(Clone, Copy)]
enum Role {
    Controller,
    Agent,
}

impl Role {
    fn label(self) -> &'static [u8] {
        match self {
            Role::Controller => b"clickday-loadgen controller\0",
            Role::Agent => b"clickday-loadgen agent\0",
        }
    }
}

/// The session's exported keying material, the same on both ends (both
/// ends speak TLS 1.3 only, whose exporter is unique per session).
fn exporter<D>(conn: &rustls::ConnectionCommon<D>) -> Result<[u8; 32], rustls::Error> {
    conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None)
}

/// What a controller sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToAgent {
    /// The controller's proof of the token; the first message.
    Hello { proof: String },
    /// Asks for the agent's wall clock.
    Clock,
    /// Arms the agent.
    Run(Box<Assignment>),
}

/// What an agent sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FromAgent {
    /// The agent's proof of the token, after checking the controller's.
    Welcome { proof: String, version: String },
    /// Why the agent will not go on (then it closes).
    Refused { reason: String },
    /// The agent's wall clock, Unix nanoseconds.
    Clock { unix_nanos: u64 },
    /// Requests finished so far, every half second of a run.
    Progress {
        total: u64,
        done: u64,
        acknowledged: u64,
    },
    /// The run could not be done.
    Failed { reason: String },
    /// The run's report, on the agent's clock.
    Report(Box<Report>),
}

/// One agent's part of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub targets: Vec<String>,
    /// How the agent checks the gateway (a CA as PEM text, not a path).
    pub trust: Option<Trust>,
    pub protocol: Protocol,
    pub connections: usize,
    pub streams: usize,
    pub mode: Mode,
    /// The start instant on the agent's own clock, Unix nanoseconds.
    pub start_unix_nanos: u64,
    pub seed: u64,
    pub accounts: u32,
    pub shard: Shard,
    pub click_day: Option<String>,
    pub provinces: Vec<String>,
    pub timeout_ms: u64,
    pub max_attempts: u32,
}

/// Wire trouble on a control connection.
#[derive(Debug, thiserror::Error)]
enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a message longer than {0} bytes")]
    TooLong(usize),
    #[error("an unreadable message: {0}")]
    Json(#[from] serde_json::Error),
}

/// The next message, or None when the peer closed the connection.
async fn read_message<T: DeserializeOwned>(
    reader: &mut (impl AsyncBufRead + Unpin),
    limit: usize,
) -> Result<Option<T>, WireError> {
    let mut line = Vec::new();
    let n = match reader
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
    {
        // A peer gone between messages without TLS's close_notify is
        // gone all the same.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && line.is_empty() => 0,
        read => read?,
    };
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > limit {
            WireError::TooLong(limit)
        } else {
            WireError::Io(std::io::ErrorKind::UnexpectedEof.into())
        });
    }
    Ok(Some(serde_json::from_slice(&line)?))
}

async fn write_message<T: Serialize>(
    writer: &mut (impl AsyncWrite + Unpin),
    message: &T,
) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    writer.write_all(&line).await?;
    writer.flush().await?;
    Ok(())
}

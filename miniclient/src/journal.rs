//! The local journal: for each application, the exact signed bytes and
//! what the gateway answered. It is written (to a temporary file, synced,
//! then renamed over the old one) before a body is first sent and after
//! every answer, so after a crash or a reboot `send` resends the same
//! bytes where no answer came, and never signs a body twice differently.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    /// Signed; no answer received yet (or the last try got none).
    Pending,
    /// 202, or 200 for a resend the gateway already had.
    Accepted {
        submission_id: String,
        received_at: String,
        duplicate: bool,
    },
    /// Refused for good (a 4xx other than 425 and 429).
    Refused {
        status: u16,
        code: String,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub click_day: String,
    /// The exact bytes signed and sent, as UTF-8.
    pub body: String,
    /// base64url of the Ed25519 signature of `body`.
    pub signature: String,
    pub key_id: String,
    /// The admission ticket of the last `503`, if one came: resends carry
    /// it so the application keeps its first arrival (PROTOCOL v1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Application id → entry.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub entries: BTreeMap<String, Entry>,
}

impl Journal {
    pub fn path(home: &Path) -> PathBuf {
        home.join("journal.json")
    }

    pub fn load(home: &Path) -> anyhow::Result<Journal> {
        let path = Self::path(home);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged; it is left untouched", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Journal::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the whole journal safely: a crash leaves the old or the new
    /// one, never half of either.
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        crate::home::write_private(&Self::path(home), &serde_json::to_vec_pretty(self)?)
    }
}

//! Signed checkpoints (C2SP `tlog-checkpoint` in a `signed-note`) and the
//! log's key.

use crate::{Hash, hash_base64};
use base64::Engine;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use std::path::Path;

/// The checkpoint origin of a click day's log: the log's URL prefix
/// without the scheme, as C2SP recommends (`host/v1/ledger/<click_day>`).
pub fn origin_for(prefix: &str, click_day: &str) -> String {
    format!("{}/{click_day}", prefix.trim_end_matches('/'))
}

/// A verified checkpoint: the log of `origin` had `size` leaves with this
/// `root`, signed by the log key.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The whole signed note, exactly as served and as receipts carry it.
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not a signed-note Ed25519 key (PRIVATE+KEY+name+id+key or name+id+key)")]
    Format(String),
}

/// The log's signing key. Its public half, the verifier key
/// `name+id+base64`, is what applicants and auditors trust.
pub struct LogKey {
    signer: StandardSigner,
    verifier_key: String,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// A new key named `name` (the origin prefix, by convention).
    pub fn generate(name: &str) -> Result<(Self, String), KeyError> {
        let (skey, _) = signed_note::generate_key(&mut rand::rngs::OsRng, name);
        Ok((Self::from_text(&skey)?, skey))
    }

    pub fn from_text(skey: &str) -> Result<Self, KeyError> {
        let skey = skey.trim();
        let bad = || KeyError::Format("log key".into());
        let signer = StandardSigner::new(skey).map_err(|_| bad())?;
        // PRIVATE+KEY+<name>+<id>+<base64(alg || seed)>
        let parts: Vec<&str> = skey.splitn(5, '+').collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(parts.get(4).ok_or_else(bad)?)
            .map_err(|_| bad())?;
        let seed: [u8; 32] = raw
            .get(1..)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let verifier_key = signed_note::new_ed25519_verifier_key(parts[2], &public);
        Ok(LogKey {
            signer,
            verifier_key,
        })
    }

    /// Reads the key file, or makes one (mode 0600) when there is none.
    /// Returns whether it was created. Safe when several persisters start
    /// at once: the key is written whole beside the file and linked into
    /// place, and whoever loses that race reads the winner's key.
    pub fn load_or_create(path: &Path, name: &str) -> Result<(Self, bool), KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let read = || -> Result<Self, KeyError> {
            let text = std::fs::read_to_string(path).map_err(io)?;
            Self::from_text(&text).map_err(|_| KeyError::Format(path.display().to_string()))
        };
        if path.exists() {
            return Ok((read()?, false));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let (key, skey) = Self::generate(name)?;
        let tmp = path.with_extension(format!(
            "tmp-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        write_private(&tmp, &format!("{skey}\n")).map_err(io)?;
        let linked = std::fs::hard_link(&tmp, path);
        std::fs::remove_file(&tmp).map_err(io)?;
        match linked {
            Ok(()) => Ok((key, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((read()?, false)),
            Err(e) => Err(io(e)),
        }
    }

    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    pub fn verifier(&self) -> LogVerifier {
        LogVerifier::new(&self.verifier_key).expect("a key's own verifier key parses")
    }

    /// A signed checkpoint for the tree of `size` leaves with `root`.
    pub fn sign(&self, origin: &str, size: u64, root: &Hash) -> Checkpoint {
        let text = format!("{origin}\n{size}\n{}\n", hash_base64(root));
        let mut note = Note::new(text.as_bytes(), &[]).expect("a checkpoint is a valid note");
        note.add_sigs(&[&self.signer])
            .expect("the key's name was accepted when it was made");
        Checkpoint {
            origin: origin.to_string(),
            size,
            root: *root,
            note: String::from_utf8(note.to_bytes()).expect("notes are UTF-8"),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("not a signed note: {0}")]
    NotANote(String),
    #[error("not signed by the log key {0}")]
    Unsigned(String),
    #[error("the note is not a checkpoint")]
    Malformed,
    #[error("checkpoint of {found:?}, expected {expected:?}")]
    OtherOrigin { expected: String, found: String },
}

impl Checkpoint {
    /// Reads a checkpoint's text without checking its signature: for
    /// tools that check the tree against it and leave the signature to
    /// whoever holds the published key.
    pub fn read_unverified(note: &str) -> Result<Self, CheckpointError> {
        let parsed = Note::from_bytes(note.as_bytes())
            .map_err(|e| CheckpointError::NotANote(e.to_string()))?;
        let body = tlog_tiles::Checkpoint::from_bytes(parsed.text())
            .map_err(|_| CheckpointError::Malformed)?;
        Ok(Checkpoint {
            origin: body.origin().to_string(),
            size: body.size(),
            root: *body.hash(),
            note: note.to_string(),
        })
    }
}

/// Checks checkpoints against the log's public (verifier) key.
pub struct LogVerifier {
    /// Checked when made; parsed again per check (the parsed form is not
    /// `Send`, and parsing costs nothing next to the signature check).
    key: String,
}

impl std::fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LogVerifier").field(&self.key).finish()
    }
}

impl LogVerifier {
    pub fn new(verifier_key: &str) -> Result<Self, KeyError> {
        let key = verifier_key.trim();
        StandardVerifier::new(key).map_err(|_| KeyError::Format(key.into()))?;
        Ok(LogVerifier {
            key: key.to_string(),
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Verifies the signature and reads the checkpoint; `origin` is the
    /// log it must be of.
    pub fn open(&self, note: &str, origin: &str) -> Result<Checkpoint, CheckpointError> {
        let parsed = Note::from_bytes(note.as_bytes())
            .map_err(|e| CheckpointError::NotANote(e.to_string()))?;
        let verifier = StandardVerifier::new(&self.key).expect("checked when made");
        parsed
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .map_err(|_| CheckpointError::Unsigned(self.key.clone()))?;
        let body = tlog_tiles::Checkpoint::from_bytes(parsed.text())
            .map_err(|_| CheckpointError::Malformed)?;
        if body.origin() != origin {
            return Err(CheckpointError::OtherOrigin {
                expected: origin.to_string(),
                found: body.origin().to_string(),
            });
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size: body.size(),
            root: *body.hash(),
            note: note.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_opens_with_the_public_key_only() {
        let (key, skey) = LogKey::generate("ledger.example/v1/ledger").unwrap();
        assert!(skey.starts_with("PRIVATE+KEY+ledger.example/v1/ledger+"));
        let origin = origin_for("ledger.example/v1/ledger/", "2026-flussi");
        let root = crate::leaf_hash(b"x");
        let cp = key.sign(&origin, 7, &root);
        assert!(
            cp.note
                .starts_with("ledger.example/v1/ledger/2026-flussi\n7\n")
        );
        assert!(cp.note.contains("\n\n\u{2014} ledger.example/v1/ledger "));
        let verifier = LogVerifier::new(key.verifier_key()).unwrap();
        assert_eq!(verifier.open(&cp.note, &origin), Ok(cp.clone()));
        assert!(matches!(
            verifier.open(&cp.note, "elsewhere/2026-flussi"),
            Err(CheckpointError::OtherOrigin { .. })
        ));
        // Another key, even under the same name, does not open it.
        let (other, _) = LogKey::generate("ledger.example/v1/ledger").unwrap();
        let resigned = other.sign(&origin, 7, &root);
        assert!(verifier.open(&resigned.note, &origin).is_err());
        // One changed byte of the text breaks the signature.
        let forged = cp.note.replacen("\n7\n", "\n8\n", 1);
        assert!(verifier.open(&forged, &origin).is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("ledger-key-{}", std::process::id()));
        let path = dir.join("log-key");
        let (made, created) = LogKey::load_or_create(&path, "a.example/v1/ledger").unwrap();
        assert!(created);
        let (read, created) = LogKey::load_or_create(&path, "ignored").unwrap();
        assert!(!created);
        assert_eq!(made.verifier_key(), read.verifier_key());
        std::fs::write(&path, "garbage").unwrap();
        assert!(LogKey::load_or_create(&path, "x").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! Authentication: the in-memory registry of mini-client keys and the
//! signature check against it.
//!
//! Keys are loaded from the store at start and refreshed every
//! `key_refresh_interval` by asking for rows changed since the last read
//! (minus an overlap, so a slow writer's late commit is still seen).

use clickday_core::keys::decode_signature;
use clickday_core::{KeyId, Problem, PublicKey};
use clickday_store::{KeyRow, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How far back each refresh looks beyond the previous read: longer than
/// any transaction that writes keys.
const OVERLAP_MICROS: i64 = 10_000_000;

/// A registered, unrevoked key and the account it signs for.
#[derive(Debug)]
pub struct Registered {
    pub account_id: Arc<str>,
    pub key: PublicKey,
}

#[derive(Default)]
pub struct KeyRegistry {
    keys: RwLock<HashMap<KeyId, Arc<Registered>>>,
    /// Set once the first full load succeeded (for `/readyz`).
    loaded: AtomicBool,
}

impl KeyRegistry {
    pub fn lookup(&self, key_id: &KeyId) -> Option<Arc<Registered>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key_id)
            .cloned()
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies stored rows: inserts new keys, drops revoked ones.
    pub fn apply(&self, rows: &[KeyRow]) {
        let mut parsed = Vec::with_capacity(rows.len());
        for row in rows {
            match PublicKey::from_bytes(&row.public_key) {
                Ok(key) if !row.revoked => {
                    parsed.push((key.id(), Some((row.account_id.as_str(), key))))
                }
                Ok(key) => parsed.push((key.id(), None)),
                Err(e) => {
                    tracing::warn!(key.id = %row.key_id, error = %e, "stored key unusable; ignored")
                }
            }
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        for (id, entry) in parsed {
            match entry {
                Some((account, key)) => {
                    keys.insert(
                        id,
                        Arc::new(Registered {
                            account_id: account.into(),
                            key,
                        }),
                    );
                }
                None => {
                    keys.remove(&id);
                }
            }
        }
    }

    /// Loads every key; the gateway is not ready until this succeeded.
    pub async fn load(&self, store: &dyn Store) -> Result<i64, clickday_store::StoreError> {
        let changes = store.key_changes(None).await?;
        self.apply(&changes.rows);
        self.loaded.store(true, Ordering::Release);
        tracing::info!(keys = self.len(), "keys loaded");
        Ok(changes.db_now)
    }

    /// Keeps the registry in step with the store until `shutdown`.
    pub async fn refresh_loop(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut since = match self.load(&*store).await {
            Ok(now) => Some(now),
            Err(e) => {
                tracing::error!(error = %e, "loading keys failed; retrying");
                None
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let result = match since {
                None => self.load(&*store).await.map(Some),
                Some(from) => store
                    .key_changes(Some(from - OVERLAP_MICROS))
                    .await
                    .map(|changes| {
                        if !changes.rows.is_empty() {
                            self.apply(&changes.rows);
                        }
                        Some(changes.db_now)
                    }),
            };
            match result {
                Ok(now) => since = now,
                Err(e) => {
                    tracing::warn!(error = %e, "key refresh failed; keeping the keys already loaded")
                }
            }
        }
    }
}

/// Check 3: the `Clickday-Key` header names a registered, unrevoked key.
pub fn authenticate(
    registry: &KeyRegistry,
    header: Option<&[u8]>,
) -> Result<(KeyId, Arc<Registered>), Problem> {
    let raw = header.ok_or_else(|| Problem::UnknownKey("Clickday-Key header missing".into()))?;
    let key_id: KeyId = std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            Problem::UnknownKey("Clickday-Key is not 32 lowercase hex characters".into())
        })?;
    let registered = registry.lookup(&key_id).ok_or_else(|| {
        Problem::UnknownKey(format!("key {key_id} is not registered or was revoked"))
    })?;
    Ok((key_id, registered))
}

/// Check 5: the `Clickday-Signature` header is a valid signature of `body`.
pub fn verify_signature(
    key: &PublicKey,
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<[u8; 64], Problem> {
    let raw =
        header.ok_or_else(|| Problem::BadSignature("Clickday-Signature header missing".into()))?;
    let signature = decode_signature(raw).map_err(|e| Problem::BadSignature(e.to_string()))?;
    key.verify(body, &signature)
        .map_err(|e| Problem::BadSignature(e.to_string()))?;
    Ok(signature.to_bytes())
}

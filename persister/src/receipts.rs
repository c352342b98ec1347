//! The receipt stage: separate from ingestion so receipts never slow it.
//! Takes stored submissions without a receipt, oldest first, signs their
//! statement with the system's receipt key, renders the PDF, saves both.

mod pdf;

use clickday_core::Submission;
use clickday_core::receipt::{receipt_key_id, sign_statement, statement_text};
use clickday_forms::{ApplicationModel, Lang};
use clickday_store::{Receipt, Store};
use ed25519_dalek::SigningKey;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long to wait when there is nothing to do.
const IDLE: Duration = Duration::from_millis(200);
/// How long a batch of receipt jobs is this persister's: another persister
/// takes them over only if this one has not saved them by then.
const RECEIPT_LEASE: Duration = Duration::from_secs(60);

/// Loads the receipt key (base64url of the 32-byte Ed25519 seed), or
/// generates one there with owner-only permissions on first start. Safe
/// when several persisters start at once on one data directory: the key
/// is written whole to a temporary file and linked into place, and a
/// loser of that race reads the winner's key.
pub fn load_or_create_key(path: &Path) -> std::io::Result<SigningKey> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let tmp = path.with_extension(format!(
            "tmp-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(URL_SAFE_NO_PAD.encode(key.to_bytes()).as_bytes())?;
        file.sync_all()?;
        let linked = std::fs::hard_link(&tmp, path);
        std::fs::remove_file(&tmp)?;
        match linked {
            Ok(()) => {
                tracing::warn!(path = %path.display(), key_id = %receipt_key_id(&key), "generated a new receipt signing key; publish its public key");
                return Ok(key);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    read_key(path)
}

/// Reads the receipt key at `path` (never creates one).
pub fn read_key(path: &Path) -> std::io::Result<SigningKey> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = std::fs::read_to_string(path)?;
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .and_then(|raw| raw.try_into().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!("{}: not base64url of 32 bytes", path.display()))
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// What a receipt says of an application beyond the signed statement:
/// who sent it and the form model that names its fields.
#[derive(Debug, Default, Clone, Copy)]
pub struct About<'a> {
    pub applicant: Option<&'a str>,
    pub model: Option<&'a ApplicationModel>,
}

/// Signs and renders one receipt (pure CPU; no I/O). `ledger_proof` is
/// the submission's place in the arrival ledger (a C2SP tlog-proof),
/// printed after the signed statement.
pub fn make_receipt(
    job: &Submission,
    key: &SigningKey,
    ledger_proof: Option<&str>,
    about: About<'_>,
) -> Receipt {
    use base64::Engine as _;
    let text = statement_text(job);
    let signature = sign_statement(&text, key);
    let key_id = receipt_key_id(key).to_string();
    let public_key =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let pdf = pdf::render(&pdf::ReceiptContent {
        submission: job,
        statement_text: &text,
        signature: &signature,
        key_id: &key_id,
        public_key: &public_key,
        applicant: about.applicant,
        category_title: about.model.map(|m| m.title.get(Lang::It)),
        preview: labelled_preview(&job.body, about.model)
            .unwrap_or_else(|| pdf::raw_preview(&job.body, 24)),
        ledger_proof,
    });
    Receipt {
        submission_id: job.submission_id.clone(),
        statement: text,
        signature,
        key_id,
        pdf,
        ledger_proof: ledger_proof.map(str::to_string),
    }
}

/// The signed body's answers named and shown as on the portal, when the
/// form model knows them (a body made elsewhere may not follow it).
fn labelled_preview(
    body: &[u8],
    model: Option<&ApplicationModel>,
) -> Option<Vec<(String, String)>> {
    let answers = clickday_forms::answers_in_body(body)?;
    let shown = model?.shown_answers(&answers, Lang::It);
    (!shown.is_empty()).then_some(shown)
}

pub(crate) struct ReceiptStage {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) key: Arc<SigningKey>,
    /// Checks the checkpoints the proofs are made against.
    pub(crate) ledger: Arc<clickday_ledger::LogVerifier>,
    /// The arrival ledger's origin prefix (`ledger.origin`).
    pub(crate) origin: String,
    pub(crate) batch: usize,
    /// Set while ingestion has a backlog: receipts wait, so that on two
    /// cores the spike is stored first and receipts follow minutes later.
    pub(crate) ingest_backlog: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// The form models, to name a receipt's fields.
    pub(crate) models: Arc<Vec<ApplicationModel>>,
}

impl ReceiptStage {
    /// Each job's inclusion proof against the newest checkpoint of its
    /// click day (which covers it: `claim_receipt_jobs` says so), from the
    /// few tiles each needs, each read once per round; the proofs of a
    /// round share the hashes recomputed inside those tiles.
    async fn proofs(
        &self,
        jobs: &[Submission],
    ) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
        use clickday_ledger::{HashTiles, InclusionProof, TilePath};
        use std::collections::{HashMap, HashSet};
        let mut checkpoints = HashMap::new();
        let mut tiles: HashMap<String, (HashTiles, HashSet<TilePath>)> = HashMap::new();
        let mut places = Vec::with_capacity(jobs.len());
        for job in jobs {
            let day = job.application.click_day.as_str();
            if !checkpoints.contains_key(day) {
                let (_, note) = self
                    .store
                    .latest_checkpoint(day)
                    .await?
                    .ok_or("no checkpoint yet")?;
                let origin = clickday_ledger::origin_for(&self.origin, day);
                checkpoints.insert(day.to_string(), self.ledger.open(&note, &origin)?);
            }
            let checkpoint = &checkpoints[day];
            let index = self
                .store
                .leaf_index(&job.submission_id)
                .await?
                .ok_or("not in the ledger yet")?;
            let (hashes, fetched) = tiles.entry(day.to_string()).or_default();
            for path in InclusionProof::tiles_needed(index, checkpoint.size) {
                if fetched.insert(path) {
                    let data = self
                        .store
                        .ledger_tile(day, &path.to_string())
                        .await?
                        .ok_or_else(|| format!("ledger tile {path} is missing"))?;
                    hashes.insert(path, data);
                }
            }
            places.push((day, index));
        }
        let memos: HashMap<&str, _> = tiles
            .iter()
            .map(|(day, (hashes, _))| (day.as_str(), hashes.memoized()))
            .collect();
        let mut proofs = Vec::with_capacity(jobs.len());
        for (day, index) in places {
            let proof = InclusionProof::prove(index, &checkpoints[day], &memos[day])?;
            proofs.push(proof.to_text());
        }
        Ok(proofs)
    }

    pub(crate) async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if self
                .ingest_backlog
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(IDLE) => continue,
                }
            }
            let jobs = match self
                .store
                .claim_receipt_jobs(self.batch, RECEIPT_LEASE)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "receipt jobs unavailable; retrying");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(IDLE) => continue,
                }
            }
            let proofs = match self.proofs(&jobs).await {
                Ok(proofs) => proofs,
                Err(e) => {
                    tracing::warn!(error = %e, "ledger proofs unavailable; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(IDLE) => continue,
                    }
                }
            };
            let accounts: Vec<&str> = jobs.iter().map(|j| j.account_id.as_str()).collect();
            let names = match self.store.applicant_names(&accounts).await {
                Ok(names) => names,
                Err(e) => {
                    tracing::warn!(error = %e, "applicant names unavailable; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(IDLE) => continue,
                    }
                }
            };
            let key = self.key.clone();
            let models = self.models.clone();
            let made = tokio::task::spawn_blocking(move || {
                jobs.iter()
                    .zip(&proofs)
                    .map(|(j, proof)| {
                        let about = About {
                            applicant: names.get(&j.account_id).map(String::as_str),
                            model: models.iter().find(|m| m.category == j.application.category),
                        };
                        make_receipt(j, &key, Some(proof), about)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            match made {
                Ok(receipts) => match self.store.save_receipts(&receipts).await {
                    Ok(()) => {
                        self.metrics.receipts.inc_by(receipts.len() as u64);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "saving receipts failed; they will be made again")
                    }
                },
                Err(e) => tracing::error!(error = %e, "receipt rendering panicked"),
            }
        }
    }
}

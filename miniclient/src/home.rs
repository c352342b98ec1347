//! The installation's files, in one folder readable by its owner only:
//! the Ed25519 signing key and the portal session.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const KEY_FILE: &str = "signing-key";
const SESSION_FILE: &str = "session.json";

/// What `activate` leaves for the other commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub portal: String,
    pub email: String,
    pub token: String,
    pub account_id: String,
    pub key_id: String,
    /// The gateway's address, when given at activation.
    #[serde(default)]
    pub gateway: Option<String>,
}

pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `--home`, else `CLICKDAY_CLIENT_HOME`, else the platform's config
    /// folder: `$XDG_CONFIG_HOME` or `~/.config` on Linux and macOS,
    /// `%APPDATA%` on Windows, with `clickday-client` below it.
    pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<Home> {
        let dir = match explicit
            .or_else(|| std::env::var_os("CLICKDAY_CLIENT_HOME").map(PathBuf::from))
        {
            Some(dir) => dir,
            None => {
                let base = std::env::var_os("XDG_CONFIG_HOME")
                    .or_else(|| std::env::var_os("APPDATA"))
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
                    .context("no home folder: give --home DIR")?;
                base.join("clickday-client")
            }
        };
        Ok(Home { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        restrict(&self.dir, 0o700)
    }

    /// A new key pair, kept with owner-only permissions; refuses to
    /// replace an existing key (applications signed with it may be pending).
    pub fn create_key(&self) -> anyhow::Result<SigningKey> {
        self.ensure()?;
        let path = self.dir.join(KEY_FILE);
        if path.exists() {
            bail!(
                "{} already holds this installation's key; it is kept (remove it by hand only if no application signed with it is pending)",
                path.display()
            );
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_private(&path, URL_SAFE_NO_PAD.encode(key.to_bytes()).as_bytes())?;
        Ok(key)
    }

    /// The existing key, or `None` before `activate`.
    pub fn key(&self) -> anyhow::Result<Option<SigningKey>> {
        let path = self.dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{} is not a clickday-client key", path.display()))?;
        Ok(Some(SigningKey::from_bytes(&seed)))
    }

    pub fn save_session(&self, session: &Session) -> anyhow::Result<()> {
        self.ensure()?;
        write_private(
            &self.dir.join(SESSION_FILE),
            &serde_json::to_vec_pretty(session)?,
        )
    }

    pub fn session(&self) -> anyhow::Result<Session> {
        let path = self.dir.join(SESSION_FILE);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{}: run `clickday-client activate` first", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))
    }
}

/// Writes a file only its owner can read: a temporary file first, then a
/// rename, so a crash never leaves half a key.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    // The rename itself is durable only once the folder is synced.
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    restrict(path, 0o600)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {}", path.display()))
}

/// On Windows the user's profile folder is already private to the user.
#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> anyhow::Result<()> {
    Ok(())
}

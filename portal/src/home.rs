//! The pages anyone can read: the home page (click-day calendar with a
//! server-rendered countdown, clock advice, published keys) and the
//! mini-client's download page with its settings file, so that
//! `clickday-client activate --email E` needs nothing else.

use crate::visitor::Visitor;
use crate::{Portal, i18n};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clickday_core::time::{format_rfc3339_nanos, format_rome};
use clickday_forms::Lang;
use clickday_store::PublishedKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// The settings file's name, on the download page and beside the program.
pub const SETTINGS_FILE: &str = "clickday-client.toml";

pub async fn home(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    let lang = visitor.lang;
    let now = (portal.clock)();
    let click_days: Vec<minijinja::Value> = portal
        .calendar
        .days()
        .filter(|day| day.closes_at > now)
        .map(|day| {
            let categories: Vec<&str> = day
                .categories
                .iter()
                .map(|c| portal.model(c).map_or(c.as_str(), |m| m.title.get(lang)))
                .collect();
            let status = if day.opens_at > now {
                format!(
                    "{} {}",
                    i18n::text(lang, "home.opens_in"),
                    i18n::duration_words(lang, (day.opens_at - now) / 1_000_000_000)
                )
            } else {
                i18n::text(lang, "home.open_now").to_string()
            };
            minijinja::context! {
                id => &day.id,
                opens => format_rome(day.opens_at),
                opens_utc => format_rfc3339_nanos(day.opens_at),
                closes => format_rome(day.closes_at),
                closes_utc => format_rfc3339_nanos(day.closes_at),
                categories,
                status,
            }
        })
        .collect();
    let keys = current_keys(&portal).await;
    visitor.page(
        &portal,
        "home.html",
        minijinja::context! {
            click_days,
            now => format_rome(now),
            now_utc => format_rfc3339_nanos(now),
            time_url => format!("{}/v1/time", portal.settings.gateway_url),
            keys => keys.iter().map(|k| minijinja::context! {
                kind => &k.kind, key_id => &k.key_id, public_key => &k.public_key,
            }).collect::<Vec<_>>(),
        },
    )
}

/// The newest published key of each kind (receipt, ledger); none when the
/// store cannot say (the page still shows the rest).
async fn current_keys(portal: &Portal) -> Vec<PublishedKey> {
    let all = match portal.store.published_keys().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "published keys unavailable for the home page");
            return Vec::new();
        }
    };
    let mut newest: Vec<PublishedKey> = Vec::new();
    for key in all {
        match newest.iter_mut().find(|k| k.kind == key.kind) {
            Some(k) if k.published_at < key.published_at => *k = key,
            Some(_) => {}
            None => newest.push(key),
        }
    }
    newest.sort_by(|a, b| b.kind.cmp(&a.kind));
    newest
}

/// One build offered for download.
struct Build {
    name: String,
    size: u64,
    sha256: String,
    signature: Option<String>,
}

/// SHA-256 of the builds, by (name, length, modification time): a build
/// is hashed once, not once per visitor.
#[derive(Default)]
pub struct Digests(std::sync::Mutex<HashMap<(String, u64, SystemTime), String>>);

/// A name the download page offers: `clickday-client…`, one path segment.
fn offered(name: &str) -> bool {
    name.starts_with("clickday-client")
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && name != SETTINGS_FILE
}

/// The builds in `portal.downloads_dir`, by name; none when it is missing.
async fn builds(portal: &Portal) -> Vec<Build> {
    let dir = portal.settings.downloads_dir.clone();
    let digests = portal.digests.clone();
    tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| offered(n) && !n.ends_with(".sig"))
            .collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|name| {
                let path = dir.join(&name);
                let meta = std::fs::metadata(&path).ok()?;
                let key = (name.clone(), meta.len(), meta.modified().ok()?);
                let cached = digests.0.lock().ok()?.get(&key).cloned();
                let sha256 = match cached {
                    Some(hex) => hex,
                    None => {
                        let mut file = std::fs::File::open(&path).ok()?;
                        let mut digest = Sha256::new();
                        std::io::copy(&mut file, &mut digest).ok()?;
                        let hex = hex::encode(digest.finalize());
                        digests.0.lock().ok()?.insert(key, hex.clone());
                        hex
                    }
                };
                let sig = format!("{name}.sig");
                Some(Build {
                    signature: dir.join(&sig).is_file().then_some(sig),
                    name,
                    size: meta.len(),
                    sha256,
                })
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// `GET /scarica`: the builds with their SHA-256 and signatures, the
/// settings file, and how to install.
pub async fn downloads(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    let builds = builds(&portal).await;
    let lang = visitor.lang;
    visitor.page(
        &portal,
        "downloads.html",
        minijinja::context! {
            builds => builds.iter().map(|b| minijinja::context! {
                name => &b.name,
                size => size_words(lang, b.size),
                sha256 => &b.sha256,
                signature => &b.signature,
            }).collect::<Vec<_>>(),
            settings_file => SETTINGS_FILE,
            portal_url => &portal.settings.public_url,
        },
    )
}

fn size_words(lang: Lang, bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    match lang {
        Lang::It => format!("{mib:.1} MB").replace('.', ","),
        Lang::En => format!("{mib:.1} MB"),
    }
}

/// `GET /scarica/{name}`: a build, its signature, or the settings file.
/// Only names the page offers are served, so nothing else under the
/// folder (or outside it) can be asked for.
pub async fn download(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(name): Path<String>,
) -> Response {
    if name == SETTINGS_FILE {
        return settings_file(&portal).await;
    }
    if !offered(&name) {
        return visitor.not_found(&portal);
    }
    let path: PathBuf = portal.settings.downloads_dir.join(&name);
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => return visitor.not_found(&portal),
    };
    let length = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response()
}

/// What the mini-client needs to know of this click day's system.
#[derive(serde::Serialize)]
struct ClientSettings {
    portal: String,
    gateway: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ledger_key: Option<String>,
    /// PEM of the certificate authority to trust for the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<String>,
}

async fn settings_file(portal: &Portal) -> Response {
    let keys = current_keys(portal).await;
    let key = |kind: &str| {
        keys.iter()
            .find(|k| k.kind == kind)
            .map(|k| k.public_key.clone())
    };
    let ca = match &portal.settings.client_ca {
        Some(path) => match tokio::fs::read_to_string(path).await {
            Ok(pem) => Some(pem),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "the CA for the mini-client's settings cannot be read");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        },
        None => None,
    };
    let settings = ClientSettings {
        portal: portal.settings.public_url.clone(),
        gateway: portal.settings.gateway_url.clone(),
        receipt_key: key("receipt"),
        ledger_key: key("ledger"),
        ca,
    };
    let text = match toml::to_string(&settings) {
        Ok(text) => format!(
            "# clickday-client settings from {}: keep this file beside the program.\n{text}",
            portal.settings.public_url
        ),
        Err(e) => {
            tracing::error!(error = %e, "the mini-client's settings cannot be written");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/toml; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"clickday-client.toml\""),
            ),
        ],
        text,
    )
        .into_response()
}

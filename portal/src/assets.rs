//! The static files every page links: the vendored Bootstrap Italia
//! stylesheet and Titillium Web fonts (from the npm package, see
//! `assets/vendor.sh`) and the portal's own stylesheet, compiled into the
//! binary. Their address carries a digest of the contents, so browsers may
//! keep them for a year and still see a new release at once.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// (path under the prefix, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "clickday.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/clickday.css"),
    ),
    (
        "bootstrap-italia/bootstrap-italia.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/bootstrap-italia/bootstrap-italia.min.css"),
    ),
    (
        "bootstrap-italia/fonts/titillium-web-300.woff2",
        "font/woff2",
        include_bytes!("../assets/bootstrap-italia/fonts/titillium-web-300.woff2"),
    ),
    (
        "bootstrap-italia/fonts/titillium-web-regular.woff2",
        "font/woff2",
        include_bytes!("../assets/bootstrap-italia/fonts/titillium-web-regular.woff2"),
    ),
    (
        "bootstrap-italia/fonts/titillium-web-600.woff2",
        "font/woff2",
        include_bytes!("../assets/bootstrap-italia/fonts/titillium-web-600.woff2"),
    ),
    (
        "bootstrap-italia/fonts/titillium-web-700.woff2",
        "font/woff2",
        include_bytes!("../assets/bootstrap-italia/fonts/titillium-web-700.woff2"),
    ),
    (
        "bootstrap-italia/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/bootstrap-italia/LICENSE"),
    ),
    (
        "bootstrap-italia/fonts/OFL.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/bootstrap-italia/fonts/OFL.txt"),
    ),
];

/// The first 12 hex digits of SHA-256 over every file.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut digest = Sha256::new();
        for (name, _, bytes) in FILES {
            digest.update(name.as_bytes());
            digest.update(bytes);
        }
        hex::encode(&digest.finalize()[..6])
    })
}

/// `/static/<version>`: what templates put before a file's path.
pub(crate) fn prefix() -> String {
    format!("/static/{}", version())
}

/// `GET /static/{version}/{*path}`. Another version's address still gets
/// today's file (a page cached across a release), but not for a year.
pub(crate) async fn serve(Path((asked, path)): Path<(String, String)>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if asked == version() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        *bytes,
    )
        .into_response()
}

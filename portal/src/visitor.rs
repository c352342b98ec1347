//! Who is asking: the page language, the signed-in user if any, and the
//! CSRF token every form must carry back.
//!
//! Signed-in forms carry the session's token (kept server-side with the
//! session); forms before sign-in carry a random token that must equal the
//! `clickday_csrf` cookie (double submit), so even the login form cannot be
//! posted from another site. Cookies are `Secure`, `HttpOnly` and
//! `SameSite`; browsers treat `http://localhost` as secure for tests.

use crate::{Portal, i18n, secrets};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clickday_forms::Lang;
use clickday_store::portal::User;
use cookie::{Cookie, SameSite};
use minijinja::Value;
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "clickday_session";
pub const CSRF_COOKIE: &str = "clickday_csrf";
pub const LANG_COOKIE: &str = "clickday_lang";

/// What the cookie middleware found, for the extractor.
#[derive(Clone)]
struct Cookies {
    lang: Lang,
    anonymous_csrf: String,
    session: Option<String>,
}

/// Reads the cookies (and `?lang=`) before the handler, and sets the
/// language and anonymous CSRF cookies after it when they are new.
pub async fn cookies(mut request: Request, next: Next) -> Response {
    let jar: Vec<Cookie<'static>> = request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_string()).filter_map(Result::ok))
        .collect();
    let named = |name: &str| {
        jar.iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_string())
    };
    let asked = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("lang="))
            .and_then(i18n::parse)
    });
    let lang = asked
        .or_else(|| named(LANG_COOKIE).as_deref().and_then(i18n::parse))
        .unwrap_or_else(|| preferred(request.headers()));
    let existing_csrf = named(CSRF_COOKIE).filter(|v| v.len() == 43);
    let anonymous_csrf = existing_csrf.clone().unwrap_or_else(secrets::new_secret);
    request.extensions_mut().insert(Cookies {
        lang,
        anonymous_csrf: anonymous_csrf.clone(),
        session: named(SESSION_COOKIE),
    });
    let mut response = next.run(request).await;
    protect(response.headers_mut());
    if let Some(lang) = asked {
        let cookie = Cookie::build((LANG_COOKIE, i18n::code(lang)))
            .path("/")
            .secure(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::days(365));
        set_cookie(response.headers_mut(), cookie.build());
    }
    if existing_csrf.is_none() {
        let cookie = Cookie::build((CSRF_COOKIE, anonymous_csrf))
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Strict);
        set_cookie(response.headers_mut(), cookie.build());
    }
    response
}

/// Headers every answer carries: pages hold personal data (never cached
/// by shared caches or the back button of a shared computer), may not be
/// framed (clickjacking), load nothing from elsewhere, and never send a
/// `Referer`, which would carry a confirmation or reset link's secret.
fn protect(headers: &mut HeaderMap) {
    // Pages are private to their visitor; the static files say otherwise.
    headers
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            // No script at all; the stylesheets, fonts and their data:
            // images come from the portal itself.
            "default-src 'none'; style-src 'self' 'unsafe-inline'; font-src 'self'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// English when the browser prefers it over Italian; Italian otherwise.
fn preferred(headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match accept.trim_start().get(..2) {
        Some(code) if code.eq_ignore_ascii_case("en") => Lang::En,
        _ => Lang::It,
    }
}

pub fn set_cookie(headers: &mut HeaderMap, cookie: Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        headers.append(SET_COOKIE, value);
    }
}

/// The session cookie for a new sign-in (or its removal with `None`).
pub fn session_cookie(secret: Option<&str>, max_age: std::time::Duration) -> Cookie<'static> {
    let builder = Cookie::build((SESSION_COOKIE, secret.unwrap_or("").to_string()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax);
    let age = match secret {
        Some(_) => cookie::time::Duration::seconds(max_age.as_secs() as i64),
        None => cookie::time::Duration::ZERO,
    };
    builder.max_age(age).build()
}

/// The person behind a request.
pub struct Visitor {
    pub lang: Lang,
    pub user: Option<User>,
    pub session_hash: Option<String>,
    /// The token this visitor's forms must carry.
    pub csrf: String,
}

impl FromRequestParts<Arc<Portal>> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let cookies = parts
            .extensions
            .get::<Cookies>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let mut visitor = Visitor {
            lang: cookies.lang,
            user: None,
            session_hash: None,
            csrf: cookies.anonymous_csrf,
        };
        if let Some(secret) = cookies.session {
            let hash = secrets::secret_hash(&secret);
            match portal.store.session(&hash).await {
                Ok(Some((user, csrf))) => {
                    visitor.user = Some(user);
                    visitor.session_hash = Some(hash);
                    visitor.csrf = csrf;
                }
                Ok(None) => {}
                Err(e) => return Err(visitor.failure(portal, &e)),
            }
        }
        Ok(visitor)
    }
}

impl Visitor {
    /// Renders a page for this visitor: language, user and CSRF token in
    /// the context of every template.
    pub fn page(&self, portal: &Portal, template: &str, context: Value) -> Response {
        self.page_with(portal, StatusCode::OK, template, context)
    }

    pub fn page_with(
        &self,
        portal: &Portal,
        status: StatusCode,
        template: &str,
        context: Value,
    ) -> Response {
        let context = minijinja::context! {
            csrf => &self.csrf,
            user => self.user.as_ref().map(|u| minijinja::context! {
                name => &u.full_name,
                email => &u.email,
                association => u.kind == clickday_store::portal::UserKind::Association,
                operator => u.kind == clickday_store::portal::UserKind::Operator,
                office => u.kind == clickday_store::portal::UserKind::Office,
            }),
            ..context
        };
        portal.views.render(status, self.lang, template, context)
    }

    /// A page with a title and one paragraph (both catalogue keys).
    pub fn message(
        &self,
        portal: &Portal,
        status: StatusCode,
        title: &str,
        body: &str,
    ) -> Response {
        self.page_with(
            portal,
            status,
            "message.html",
            minijinja::context! { title, body },
        )
    }

    /// Refuses a form whose token is not this visitor's.
    pub fn check_csrf(&self, portal: &Portal, sent: Option<&str>) -> Result<(), Response> {
        match sent {
            Some(token) if secrets::same(token, &self.csrf) => Ok(()),
            _ => Err(self.message(portal, StatusCode::FORBIDDEN, "error.title", "error.csrf")),
        }
    }

    /// The signed-in user, or a redirect to the sign-in page.
    pub fn signed_in(&self) -> Result<&User, Response> {
        self.user.as_ref().ok_or_else(|| see_other("/accesso"))
    }

    /// A store failure: logged with its cause, shown without it.
    pub fn failure(&self, portal: &Portal, error: &dyn std::fmt::Display) -> Response {
        tracing::error!(error = %error, "portal request failed");
        self.message(
            portal,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error.title",
            "error.internal",
        )
    }

    pub fn not_found(&self, portal: &Portal) -> Response {
        self.message(
            portal,
            StatusCode::NOT_FOUND,
            "error.title",
            "error.not_found",
        )
    }
}

/// 303: after a successful POST, the browser GETs the next page.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

pub async fn not_found(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    visitor.not_found(&portal)
}

/// The address a client's budgets are kept under, when the server was
/// started with connection info: the peer's, or — only when the peer is one
/// of `portal.trusted_proxies` — the one it forwarded; an IPv6 address
/// counts as its /64 (`clickday_edge::client_key`).
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<Arc<Portal>> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let trusted = &portal.settings.trusted_proxies;
        Ok(ClientAddress(peer.map(|peer| {
            clickday_edge::client_key(client_behind(peer, &parts.headers, trusted))
        })))
    }
}

/// Walks the forwarding chain from the nearest hop back while the hops are
/// trusted proxies; the first hop that is not one is the client. A peer that
/// is not a trusted proxy is the client itself, whatever it claims.
fn client_behind(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[clickday_config::IpBlock],
) -> std::net::IpAddr {
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|b| b.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    for value in headers.get_all("forwarded") {
        for element in value.to_str().unwrap_or("").split(',') {
            for pair in element.split(';') {
                if let Some((name, value)) = pair.trim().split_once('=')
                    && name.eq_ignore_ascii_case("for")
                    && let Some(ip) = forwarded_address(value)
                {
                    hops.push(ip);
                }
            }
        }
    }
    if hops.is_empty() {
        for value in headers.get_all("x-forwarded-for") {
            hops.extend(
                value
                    .to_str()
                    .unwrap_or("")
                    .split(',')
                    .filter_map(forwarded_address),
            );
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// `203.0.113.5`, `"[2001:db8::1]:4711"`, `198.51.100.2:80` → the address.
fn forwarded_address(text: &str) -> Option<std::net::IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod forwarded_tests {
    use super::*;

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted = [clickday_config::IpBlock::parse("10.0.0.0/8").unwrap()];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.9, 203.0.113.5, 10.0.0.2".parse().unwrap(),
        );
        // From the proxy: the nearest untrusted hop is the client.
        assert_eq!(
            client_behind(ip("10.0.0.1"), &h, &trusted),
            ip("203.0.113.5")
        );
        // From anyone else the header is ignored.
        assert_eq!(
            client_behind(ip("192.0.2.1"), &h, &trusted),
            ip("192.0.2.1")
        );
        // Forwarded wins over X-Forwarded-For; ports and brackets are read.
        h.insert(
            "forwarded",
            "for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.3"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            client_behind(ip("10.0.0.1"), &h, &trusted),
            ip("2001:db8::7")
        );
        // Nothing forwarded, or garbage: the proxy itself.
        let empty = axum::http::HeaderMap::new();
        assert_eq!(
            client_behind(ip("10.0.0.1"), &empty, &trusted),
            ip("10.0.0.1")
        );
        let mut junk = axum::http::HeaderMap::new();
        junk.insert("x-forwarded-for", "nonsense, ::::".parse().unwrap());
        assert_eq!(
            client_behind(ip("10.0.0.1"), &junk, &trusted),
            ip("10.0.0.1")
        );
    }
}

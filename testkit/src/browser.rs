//! A person's browser for portal tests: plain HTTP/1.1, cookies kept
//! whatever their `Secure` flag (tests talk to 127.0.0.1), forms posted
//! with the CSRF token of the page they came from.

#![allow(clippy::unwrap_used)] // test helper: a failed unwrap is a failed test

use crate::{Client, Proto, Reply};
use bytes::Bytes;
use std::collections::BTreeMap;

pub fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// A person's browser: cookies kept, forms posted with the CSRF token
/// the page they came from carried.
pub struct Browser {
    pub client: Client,
    pub cookies: BTreeMap<String, String>,
    pub lang: Option<&'static str>,
    /// Sent as `X-Forwarded-For`, as a TLS terminator in front would.
    pub forwarded_for: Option<String>,
}

impl Browser {
    pub async fn open(addr: std::net::SocketAddr) -> anyhow::Result<Browser> {
        Ok(Browser {
            client: Client::connect(addr, Proto::Http1, None).await?,
            cookies: BTreeMap::new(),
            lang: None,
            forwarded_for: None,
        })
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let req = self.request(http::Method::GET, path, None);
        self.send(req).await
    }

    /// POSTs exactly these fields (no token added).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let req = self.request(http::Method::POST, path, Some(body));
        self.send(req).await
    }

    /// Opens `path` first (as a person would) and posts its form back with
    /// the page's CSRF token.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let page = self.get(path).await;
        let token = csrf_of(&text(&page));
        self.post_with_token(path, fields, &token).await
    }

    pub async fn post_with_token(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        token: &str,
    ) -> Reply {
        let mut all = vec![("csrf", token)];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// Opens `path` first and posts its upload form back as
    /// `multipart/form-data`: the page's CSRF token, `fields`, and one file
    /// (`field`, file name, bytes), as a browser's file input sends it.
    pub async fn upload(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Reply {
        let page = self.get(path).await;
        let token = csrf_of(&text(&page));
        let boundary = "----clickday-test-boundary-7e1f";
        let mut body = Vec::new();
        for (name, value) in std::iter::once(("csrf", token.as_str())).chain(fields.iter().copied())
        {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (field, file_name, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let action =
            page_form_action(&text(&page), "multipart/form-data").unwrap_or(path.to_string());
        let mut req = self.request(http::Method::POST, &action, None);
        req.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .unwrap(),
        );
        *req.body_mut() = Bytes::from(body);
        self.send(req).await
    }

    /// The CSRF token the pages show this browser.
    pub async fn token(&mut self) -> String {
        let page = self.get("/domande").await;
        csrf_of(&text(&page))
    }

    fn request(
        &self,
        method: http::Method,
        path: &str,
        form: Option<String>,
    ) -> http::Request<Bytes> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(self.client.uri(path));
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        if let Some(lang) = self.lang {
            req = req.header("accept-language", lang);
        }
        if let Some(client) = &self.forwarded_for {
            req = req.header("x-forwarded-for", client);
        }
        match form {
            Some(body) => req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Bytes::from(body))
                .unwrap(),
            None => req.body(Bytes::new()).unwrap(),
        }
    }

    async fn send(&mut self, req: http::Request<Bytes>) -> Reply {
        let reply = self.client.send(req).await.unwrap();
        for value in reply.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (name, val) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), val.to_string());
            }
        }
        reply
    }
}

/// The `action` of the page's first form with `enctype`.
fn page_form_action(html: &str, enctype: &str) -> Option<String> {
    let form = html.split("<form").find(|f| {
        f.split('>')
            .next()
            .is_some_and(|tag| tag.contains(&format!("enctype=\"{enctype}\"")))
    })?;
    let tag = form.split('>').next()?;
    let action = tag.split("action=\"").nth(1)?.split('"').next()?;
    Some(action.to_string())
}

pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no form on the page: {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

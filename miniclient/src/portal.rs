//! The portal's JSON API (docs/openapi-portal.yaml), as the mini-client
//! uses it: a token, a key, the applications.

use anyhow::{Context, bail};
use bytes::Bytes;
use clickday_transport::{Connection, Gate, Target};
use clickday_transport::{Protocol, Trust};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

pub struct Portal {
    target: Target,
    connection: Connection,
    token: Option<String>,
}

/// A refusal the portal explained (its problem document), or an answer
/// that is not what the API promises.
fn refusal(status: http::StatusCode, body: &[u8]) -> anyhow::Error {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("unexpected answer ({} bytes)", body.len()));
    anyhow::anyhow!("the portal answered {status}: {detail}")
}

impl Portal {
    pub async fn connect(url: &str, trust: Option<&Trust>) -> anyhow::Result<Portal> {
        let url = url.trim_end_matches('/');
        let target = Target::new(url, Protocol::Http1, trust)
            .await
            .with_context(|| format!("portal {url}"))?;
        let connection = target
            .connect(Arc::new(Gate::new(Instant::now())))
            .await
            .with_context(|| format!("cannot reach the portal at {url}"))?;
        Ok(Portal {
            target,
            connection,
            token: None,
        })
    }

    /// The settings file of the portal's download page, as text; `None`
    /// when the portal offers none.
    pub async fn settings_file(&self) -> anyhow::Result<Option<String>> {
        let path = format!("/scarica/{}", crate::settings::FILE_NAME);
        let (status, body) = self.call(http::Method::GET, &path, None).await?;
        if !status.is_success() {
            return Ok(None);
        }
        String::from_utf8(body.to_vec())
            .map(Some)
            .context("the portal's settings file is not text")
    }

    pub fn with_token(mut self, token: String) -> Portal {
        self.token = Some(token);
        self
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(http::StatusCode, Bytes)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(self.target.uri(path));
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                req = req.header("content-type", "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let answer = self.connection.send(req.body(body)?).await?;
        Ok((answer.status, answer.body))
    }

    async fn json(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, body) = self.call(method, path, body).await?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| refusal(status, &body))
    }

    /// Signs in; the token and the account the keys belong to.
    pub async fn sign_in(
        &mut self,
        email: &str,
        password: &str,
    ) -> anyhow::Result<(String, String)> {
        let body = serde_json::json!({ "email": email, "password": password });
        let answer = self
            .json(http::Method::POST, "/api/v1/token", Some(body))
            .await?;
        let (Some(token), Some(account)) =
            (answer["token"].as_str(), answer["account_id"].as_str())
        else {
            bail!("this user does not send applications (an office or operator account?)");
        };
        self.token = Some(token.to_string());
        Ok((token.to_string(), account.to_string()))
    }

    /// Registers a public key (base64url); its `key_id`.
    pub async fn register_key(&self, public_key: &str) -> anyhow::Result<String> {
        let body = serde_json::json!({ "public_key": public_key });
        let answer = self
            .json(http::Method::POST, "/api/v1/keys", Some(body))
            .await?;
        answer["key_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("the portal registered the key but named no key_id"))
    }

    /// The PDF receipt of an application, once the system has made it.
    pub async fn receipt(&self, application_id: &str) -> anyhow::Result<Option<Bytes>> {
        let path = format!("/api/v1/applications/{application_id}/receipt");
        let (status, body) = self.call(http::Method::GET, &path, None).await?;
        match status.as_u16() {
            200 if body.starts_with(b"%PDF") => Ok(Some(body)),
            404 => Ok(None),
            _ => Err(refusal(status, &body)),
        }
    }

    /// The applications ready to send and not yet stored.
    pub async fn ready(&self) -> anyhow::Result<Vec<Ready>> {
        let mut all = Vec::new();
        loop {
            let path = format!(
                "/api/v1/applications?state=ready&limit=1000&offset={}",
                all.len()
            );
            let answer = self.json(http::Method::GET, &path, None).await?;
            let page = answer["applications"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = answer["total"].as_u64().unwrap_or(0) as usize;
            for app in &page {
                all.push(Ready::from_json(app)?);
            }
            if page.is_empty() || all.len() >= total {
                return Ok(all);
            }
        }
    }
}

/// An application ready to send, with the exact bytes to sign.
#[derive(Debug, Clone)]
pub struct Ready {
    pub application_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub worker_name: String,
    pub body: String,
}

impl Ready {
    fn from_json(v: &Value) -> anyhow::Result<Ready> {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let body = v["body"].as_str().with_context(|| {
            format!(
                "application {} came without its body",
                text("application_id")
            )
        })?;
        Ok(Ready {
            application_id: text("application_id"),
            click_day: text("click_day"),
            category: text("category"),
            province: text("province"),
            worker_name: text("worker_name"),
            body: body.to_string(),
        })
    }
}

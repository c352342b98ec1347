//! A real browser for tests: Debian's `chromedriver` on a free port
//! driving headless `chromium`, spoken to in W3C WebDriver (JSON over
//! HTTP/1.1 through the testkit's own client).
//!
//! The few commands the portal's tests need are here; fantoccini, the
//! usual crate, would bring a second `http`, `cookie` and `thiserror` and
//! an ICU segmenter into the tree for them.

use crate::{Client, Proto, free_port};
use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver, stopped on drop (the browsers it started quit
/// with it), and their temporary files removed.
pub struct ChromeDriver {
    child: Child,
    port: u16,
    /// `TMPDIR` for chromedriver and Chromium: the profiles they leave
    /// behind go with it instead of piling up in /tmp.
    _tmp: tempfile::TempDir,
}

impl ChromeDriver {
    /// Starts `chromedriver` (from `PATH`) and waits until it is ready.
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port();
        let tmp = tempfile::tempdir()?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver (Debian package chromium-driver) is not installed")?;
        let driver = ChromeDriver {
            child,
            port,
            _tmp: tmp,
        };
        let start = Instant::now();
        loop {
            if let Ok(mut client) = driver.client().await
                && let Ok(status) =
                    command(&mut client, port, http::Method::GET, "/status", None).await
                && status["ready"] == true
            {
                return Ok(driver);
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not become ready on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(([127, 0, 0, 1], self.port).into(), Proto::Http1, None).await
    }

    /// A new headless browser window.
    pub async fn session(&self) -> anyhow::Result<Session> {
        self.session_with(None).await
    }

    /// A new headless browser window saving downloads into `downloads`
    /// without asking.
    pub async fn session_downloading_to(
        &self,
        downloads: &std::path::Path,
    ) -> anyhow::Result<Session> {
        self.session_with(Some(downloads)).await
    }

    async fn session_with(&self, downloads: Option<&std::path::Path>) -> anyhow::Result<Session> {
        let mut client = self.client().await?;
        let mut prefs = json!({ "intl.accept_languages": "it-IT,it" });
        if let Some(dir) = downloads {
            prefs["download.default_directory"] = json!(dir);
            prefs["download.prompt_for_download"] = json!(false);
        }
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    // CI runs as root, where Chromium's sandbox cannot start.
                    "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                             "--disable-gpu", "--lang=it-IT"],
                    // Pages in Italian, as the portal's users see them.
                    "prefs": prefs
                }
            }}
        });
        let value = command(
            &mut client,
            self.port,
            http::Method::POST,
            "/session",
            Some(capabilities),
        )
        .await?;
        let id = value["sessionId"]
            .as_str()
            .context("no sessionId in the new session")?
            .to_string();
        Ok(Session {
            client,
            port: self.port,
            id,
        })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver command; its `value`, or the driver's error.
/// chromedriver takes only origin-form targets with a local `Host`.
async fn command(
    client: &mut Client,
    port: u16,
    method: http::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"));
    let body = match body {
        Some(json) => {
            req = req.header("content-type", "application/json");
            Bytes::from(json.to_string())
        }
        None => Bytes::new(),
    };
    let reply = client.send(req.body(body)?).await?;
    let json: Value = serde_json::from_slice(&reply.body)
        .with_context(|| format!("{path}: not JSON: {:?}", reply.body))?;
    let value = json["value"].clone();
    if let Some(error) = value.get("error") {
        bail!("{path}: {error}: {}", value["message"]);
    }
    Ok(value)
}

/// A browser window.
pub struct Session {
    client: Client,
    port: u16,
    id: String,
}

impl Session {
    async fn call(
        &mut self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let path = format!("/session/{}{path}", self.id);
        command(&mut self.client, self.port, method, &path, body).await
    }

    pub async fn goto(&mut self, url: &str) -> anyhow::Result<()> {
        self.call(http::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn current_url(&mut self) -> anyhow::Result<String> {
        let value = self.call(http::Method::GET, "/url", None).await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&mut self) -> anyhow::Result<String> {
        let value = self.call(http::Method::GET, "/source", None).await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// The first element matching a CSS selector.
    pub async fn find(&mut self, css: &str) -> anyhow::Result<String> {
        let found = self
            .call(
                http::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .with_context(|| format!("no element {css}"))?;
        Ok(found[ELEMENT]
            .as_str()
            .with_context(|| format!("no element reference in {found}"))?
            .to_string())
    }

    /// Types `text` into the element, as keystrokes.
    pub async fn type_into(&mut self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        let path = format!("/element/{element}/value");
        self.call(http::Method::POST, &path, Some(json!({ "text": text })))
            .await
            .map(drop)
    }

    pub async fn click(&mut self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        let path = format!("/element/{element}/click");
        self.call(http::Method::POST, &path, Some(json!({})))
            .await
            .map(drop)
    }

    /// Runs `script` in the page; its return value.
    pub async fn execute(&mut self, script: &str) -> anyhow::Result<Value> {
        self.call(
            http::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Resizes the window (the page's viewport follows).
    pub async fn set_window_size(&mut self, width: u32, height: u32) -> anyhow::Result<()> {
        self.call(
            http::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await
        .map(drop)
    }

    /// A PNG of the whole page at `width` pixels: the window is made as
    /// tall as the page first, since WebDriver shoots the viewport only.
    pub async fn full_page_png(&mut self, width: u32) -> anyhow::Result<Vec<u8>> {
        use base64::Engine as _;
        self.set_window_size(width, 800).await?;
        let height = self
            .execute("return document.documentElement.scrollHeight;")
            .await?
            .as_u64()
            .context("the page's height is not a number")?;
        // The window's frame is not part of the viewport: measure it.
        let inner = self
            .execute("return window.outerHeight - window.innerHeight;")
            .await?
            .as_u64()
            .unwrap_or(0);
        let total = u32::try_from(height + inner)
            .unwrap_or(u32::MAX)
            .min(12_000);
        self.set_window_size(width, total).await?;
        let value = self.call(http::Method::GET, "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().context("no screenshot data")?)
            .context("the screenshot is not base64")
    }

    /// Closes the window.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        self.call(http::Method::DELETE, "", None).await.map(drop)
    }
}

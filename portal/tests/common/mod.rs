//! A real portal on 127.0.0.1:0 over a temporary SQLite file or a private
//! PostgreSQL, and a browser-like client that keeps cookies, follows what
//! a person would click and reads the emails from the outbox.

#![allow(dead_code, unused_imports, unused_macros, clippy::unwrap_used)] // each test file uses a part

use clickday_config::Config;
use clickday_store::EmailContent;
use clickday_store::PortalStore;
use clickday_testkit::Postgres;
pub use clickday_testkit::browser::{Browser, csrf_of, text};
use std::sync::Arc;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const DAY: &str = "2030-03-27";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One template, two databases: a module per test with `sqlite` and
/// `postgres` tests running the same body.
macro_rules! on_both_stores {
    ($name:ident => $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                ($body)(common::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                ($body)(common::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use on_both_stores;

pub struct TestPortal {
    pub addr: std::net::SocketAddr,
    pub store: Arc<dyn PortalStore>,
    pub cfg: Config,
    shutdown: CancellationToken,
    _dir: TempDir,
    _postgres: Option<Postgres>,
}

impl TestPortal {
    /// `extra`: lines of the `[portal]` section.
    pub async fn start(backend: Backend, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let postgres = (backend == Backend::Postgres).then(Postgres::start);
        let store_url = match &postgres {
            Some(pg) => pg.url(),
            None => format!("sqlite://{}", dir.path().join("store.db").display()),
        };
        let toml = format!(
            r#"
data_dir = "{dir}"
[store]
url = "{store_url}"
[portal]
listen = "127.0.0.1:0"
public_url = "https://portale.example.it/"
{extra}
[[click_days]]
id = "{DAY}"
opens_at = "2030-03-27T09:00:00+01:00"
closes_at = "2030-03-27T21:00:00+01:00"
categories = ["lavoro-subordinato", "lavoro-domestico"]
"#,
            dir = dir.path().display()
        );
        let cfg = Config::from_toml(&toml, std::iter::empty(), 0).unwrap();
        let store = clickday_store::open_portal(&store_url).await.unwrap();
        let shutdown = CancellationToken::new();
        let running = clickday_portal::start(&cfg, store.clone(), shutdown.clone())
            .await
            .unwrap();
        TestPortal {
            addr: running.local_addr,
            store,
            cfg,
            shutdown,
            _dir: dir,
            _postgres: postgres,
        }
    }

    pub async fn browser(&self) -> Browser {
        Browser::open(self.addr).await.unwrap()
    }

    /// The emails queued so far (taken out of the outbox), as
    /// (recipient, subject, body).
    pub async fn emails(&self) -> Vec<(String, String, String)> {
        let jobs = self
            .store
            .claim_emails("test", 100, std::time::Duration::from_secs(60))
            .await
            .unwrap();
        let mut out = Vec::new();
        for job in jobs {
            self.store.email_sent(job.id).await.unwrap();
            if let EmailContent::Written { subject, body } = job.content {
                out.push((job.recipient, subject, body));
            }
        }
        out
    }

    /// The path of the one link in the last email to `recipient`.
    pub async fn link_sent_to(&self, recipient: &str) -> String {
        let emails = self.emails().await;
        let (_, _, body) = emails
            .iter()
            .rev()
            .find(|(to, _, _)| to == recipient)
            .unwrap_or_else(|| panic!("no email to {recipient} in {emails:?}"));
        let start = body.find("https://portale.example.it/").unwrap();
        let link = body[start..].split_whitespace().next().unwrap();
        link.trim_start_matches("https://portale.example.it")
            .to_string()
    }

    /// An operator invited as `clickday staff add` does, signed in.
    pub async fn operator(&self) -> Browser {
        let staff = clickday_portal::staff::StaffInvite {
            kind: clickday_store::portal::UserKind::Operator,
            email: "operatore@example.it".into(),
            full_name: "Operatore Uno".into(),
            province: None,
            office_kind: None,
        };
        clickday_portal::staff::invite(&self.cfg, &*self.store, &staff)
            .await
            .unwrap();
        let link = self.link_sent_to("operatore@example.it").await;
        let mut browser = self.browser().await;
        let password = [
            ("password", "operatore-pw"),
            ("password_again", "operatore-pw"),
        ];
        assert_eq!(browser.submit(&link, &password).await.status, 200);
        let login = browser
            .submit(
                "/accesso",
                &[
                    ("email", "operatore@example.it"),
                    ("password", "operatore-pw"),
                ],
            )
            .await;
        assert_eq!(login.status, 303);
        browser
    }

    /// Registers and confirms an association named "Patronato Uno";
    /// returns a signed-in browser.
    pub async fn association(&self, email: &str, password: &str) -> Browser {
        let mut browser = self.browser().await;
        let mut form = registration(email, password);
        form[0] = ("kind", "association");
        form[1] = ("full_name", "Patronato Uno");
        form[2] = ("codice_fiscale", "80213330584");
        browser.submit("/registrazione", &form).await;
        let link = self.link_sent_to(email).await;
        assert_eq!(browser.get(&link).await.status, 200);
        let login = browser
            .submit("/accesso", &[("email", email), ("password", password)])
            .await;
        assert_eq!(login.status, 303, "{}", text(&login));
        browser
    }

    /// Registers and confirms an employer; returns a signed-in browser.
    pub async fn signed_in(&self, email: &str, password: &str) -> Browser {
        let mut browser = self.browser().await;
        let page = browser
            .submit("/registrazione", &registration(email, password))
            .await;
        assert_eq!(page.status, 200, "{}", text(&page));
        let link = self.link_sent_to(email).await;
        assert_eq!(browser.get(&link).await.status, 200);
        let login = browser
            .submit("/accesso", &[("email", email), ("password", password)])
            .await;
        assert_eq!(login.status, 303, "{}", text(&login));
        browser
    }
}

impl Drop for TestPortal {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn registration<'a>(email: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("kind", "employer"),
        ("full_name", "Mario Rossi"),
        ("codice_fiscale", "RSSMRA85T10A562S"),
        ("email", email),
        ("password", password),
        ("password_again", password),
    ]
}

//! Helpers for tests that run the real `clickday` binary.

#![allow(dead_code)]

use clickday_testkit::{Client, Proto};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `clickday ARGS --config CONFIG`, quiet.
pub fn clickday(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clickday"));
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn");
    cmd
}

/// A `clickday.toml` in `dir` naming only `dir` as the data directory
/// (the embedded default otherwise); its path.
pub fn data_dir_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("clickday.toml");
    std::fs::write(&config, format!("data_dir = \"{}\"\n", dir.display())).expect("write config");
    config
}

/// Waits until the gateway on `port` answers `/readyz` with 200, trusting
/// the certificate at `ca` once it exists; returns that certificate.
pub async fn wait_ready(port: u16, ca: &Path) -> CertificateDer<'static> {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gateway never became ready"
        );
        if let Ok(cert) = CertificateDer::from_pem_file(ca) {
            let addr = ([127, 0, 0, 1], port).into();
            if let Ok(mut c) = Client::connect(addr, Proto::Http1, Some(&cert)).await
                && c.get("/readyz").await.is_ok_and(|r| r.status == 200)
            {
                return cert;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed when the test ends, even by a panic: a failed
/// test must not leave servers running on the machine.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The first link starting with `base` in the first `.eml` of `kind`
/// (e.g. `registration-confirmation`) the persister's mailer writes into
/// `outbox`; waits for it.
pub async fn emailed_link(outbox: &Path, kind: &str, base: &str) -> String {
    let start = Instant::now();
    loop {
        let found = std::fs::read_dir(outbox).ok().and_then(|dir| {
            dir.filter_map(Result::ok).find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-{kind}.eml"))
            })
        });
        if let Some(entry) = found {
            let eml = std::fs::read_to_string(entry.path()).unwrap();
            return eml
                .split_whitespace()
                .find(|w| w.starts_with(base))
                .unwrap_or_else(|| panic!("no link in {eml}"))
                .to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no {kind} email");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Imports applicants `1..=n` (testkit's deterministic keys) into the
/// store of `config` with `clickday accounts import`; its output.
pub fn import_applicants(config: &Path, n: u64) -> String {
    let accounts = config.with_file_name("accounts.jsonl");
    let lines: Vec<String> = (1..=n)
        .map(|n| clickday_testkit::Applicant::new(n).import_line())
        .collect();
    std::fs::write(&accounts, lines.join("\n")).expect("write accounts");
    let import = clickday(config, &["accounts", "import"])
        .arg(&accounts)
        .output()
        .expect("run clickday accounts import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    String::from_utf8_lossy(&import.stdout).into_owned()
}

/// The mini-client's part, as its API calls do it: signs in to the portal
/// as `email`, registers installation `seed`'s key, fetches the ready
/// application of `click_day`, signs it and sends it to the gateway (once
/// the gateway knows the key). The submission id.
pub async fn send_ready_application(
    sys: &clickday_testsystem::System,
    email: &str,
    password: &str,
    click_day: &str,
    seed: u64,
) -> String {
    let portal = sys.portal.as_ref().expect("the portal runs");
    let gateway = sys.gateway.as_ref().expect("the gateway runs");
    let mut client = Client::connect(portal.local_addr, Proto::Http1, None)
        .await
        .unwrap();
    let call = async |client: &mut Client, method, path: &str, token: Option<&str>, body| {
        let mut req = http::Request::builder()
            .method(method)
            .uri(client.uri(path));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                req = req.header("content-type", "application/json");
                bytes::Bytes::from(serde_json::Value::to_string(&json))
            }
            None => bytes::Bytes::new(),
        };
        client.send(req.body(body).unwrap()).await.unwrap()
    };
    let credentials = serde_json::json!({ "email": email, "password": password });
    let token = call(
        &mut client,
        http::Method::POST,
        "/api/v1/token",
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(token.status, 200, "{:?}", token.body);
    let token = token.json()["token"].as_str().unwrap().to_string();
    let installation = clickday_testkit::Applicant::new(seed);
    let key = serde_json::json!({ "public_key": installation.public_key_b64() });
    let registered = call(
        &mut client,
        http::Method::POST,
        "/api/v1/keys",
        Some(&token),
        Some(key),
    )
    .await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let path = format!("/api/v1/applications?click_day={click_day}&state=ready");
    let listed = call(&mut client, http::Method::GET, &path, Some(&token), None).await;
    let listed = listed.json();
    let body = listed["applications"][0]["body"]
        .as_str()
        .expect("a ready application")
        .as_bytes()
        .to_vec();
    let ca = clickday_gateway::tls::read_certificate(gateway.cert_path.as_ref().unwrap()).unwrap();
    let mut sender = Client::connect(gateway.local_addr, Proto::Http2, Some(&ca))
        .await
        .unwrap();
    let accepted = clickday_testkit::eventually(
        "the new key known to the gateway",
        Duration::from_secs(10),
        async || {
            let reply = sender.submit(&installation, &body).await.unwrap();
            (reply.status != 401).then_some(reply)
        },
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    accepted.json()["submission_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The one-time link of the newest `kind` email to `recipient` in the
/// outbox folder (quoted-printable soft breaks undone), starting `base`.
pub async fn link_emailed_to(outbox: &Path, kind: &str, recipient: &str, base: &str) -> String {
    clickday_testkit::eventually(
        "the email with the link",
        Duration::from_secs(30),
        async || {
            std::fs::read_dir(outbox)
                .ok()?
                .filter_map(Result::ok)
                .find_map(|e| {
                    if !e
                        .file_name()
                        .to_string_lossy()
                        .ends_with(&format!("-{kind}.eml"))
                    {
                        return None;
                    }
                    let eml = std::fs::read_to_string(e.path()).ok()?.replace("=\r\n", "");
                    if !eml.contains(&format!("To: {recipient}")) {
                        return None;
                    }
                    let link = eml.split_whitespace().find(|w| w.starts_with(base))?;
                    Some(link.to_string())
                })
        },
    )
    .await
}

/// A Sportello Unico for `province`, made as `clickday staff add` makes it
/// (its invitation waits in the outbox).
pub async fn invite_office(sys: &clickday_testsystem::System, province: &str, email: &str) {
    let invite = clickday_portal::staff::StaffInvite {
        kind: clickday_store::portal::UserKind::Office,
        email: email.into(),
        full_name: format!("Sportello Unico di {province}"),
        province: Some(province.into()),
        office_kind: Some("sportello_unico".into()),
    };
    clickday_portal::staff::invite(&sys.cfg, &*sys.store, &invite)
        .await
        .unwrap();
}

//! `clickday serve` as an operator runs it: one process with gateway,
//! persister and portal; one `/metrics` shows the first two; the portal's
//! emails leave through the persister's outbox; SIGTERM drains and exits
//! cleanly.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_testkit::{Applicant, Client, Proto, free_port};
use common::{KillOnDrop, clickday, wait_ready};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stores_receipts_and_reports_both_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (port, portal_port) = (free_port(), free_port());
    let config = serve_config(dir.path(), port, portal_port, "", "");
    let alice = Applicant::new(1);
    assert_eq!(
        add_account(&config, &alice),
        alice.key_id(),
        "add prints the key_id"
    );

    let mut serve = KillOnDrop(
        clickday(&config, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ca = wait_ready(port, &dir.path().join("tls/cert.pem")).await;
    let mut c = Client::connect(([127, 0, 0, 1], port).into(), Proto::Http2, Some(&ca))
        .await
        .unwrap();
    // Zero configuration: the "demo" click day is open.
    let reply = c
        .submit(&alice, &clickday_testkit::signer::body("domanda-1", "demo"))
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let id = reply.json()["submission_id"].as_str().unwrap().to_string();

    let start = Instant::now();
    loop {
        let metrics = String::from_utf8(c.get("/metrics").await.unwrap().body.to_vec()).unwrap();
        let done = metrics.contains("clickday_persister_stored_total 1")
            && metrics.contains("clickday_persister_receipts_total 1")
            && metrics.contains("clickday_persister_emails_sent_total 1");
        if done {
            assert!(metrics.contains(
                "clickday_gateway_submissions_total{outcome=\"accepted\",protocol=\"h2\"} 1"
            ));
            assert_eq!(
                metrics.matches("# EOF").count(),
                1,
                "one exposition, one end marker"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "persister metrics never showed the submission:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dir.path()
            .join(format!("outbox/{id}-received.eml"))
            .exists()
    );

    register_on_the_portal(
        ([127, 0, 0, 1], portal_port).into(),
        &dir.path().join("outbox"),
    )
    .await;

    // SIGTERM: drain and exit 0.
    let pid = serve.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = serve.0.wait().unwrap();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );

    let out = clickday(&config, &["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 submissions stored")
            && text.contains("every stored submission has its receipt"),
        "{text}"
    );
}

/// A `serve` configuration in `dir`: the gateway on `port`, the portal on
/// `portal_port`, plus `gateway` and `portal` lines for each section.
fn serve_config(
    dir: &std::path::Path,
    port: u16,
    portal_port: u16,
    gateway: &str,
    portal: &str,
) -> std::path::PathBuf {
    let config = dir.join("clickday.toml");
    let text = format!(
        "data_dir = \"{}\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\n{gateway}\n\
         [portal]\nlisten = \"127.0.0.1:{portal_port}\"\n\
         public_url = \"http://127.0.0.1:{portal_port}\"\n{portal}\n",
        dir.display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Registers `who` with `clickday accounts add`; what it printed (the key id).
fn add_account(config: &std::path::Path, who: &Applicant) -> String {
    let key = who.public_key_b64();
    let args = [
        "accounts",
        "add",
        "--account-id",
        &who.account_id,
        "--email",
        &who.email,
        "--public-key",
        &key,
    ];
    let add = clickday(config, &args).output().unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    String::from_utf8_lossy(&add.stdout).trim().to_string()
}

/// Registers on the portal and confirms with the link the emailed `.eml`
/// file carries.
async fn register_on_the_portal(portal: std::net::SocketAddr, outbox: &std::path::Path) {
    let mut c = Client::connect(portal, Proto::Http1, None).await.unwrap();
    let form = c.get("/registrazione").await.unwrap();
    assert_eq!(form.status, 200);
    let html = String::from_utf8_lossy(&form.body).into_owned();
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let token = &html[at..at + 43];
    let cookie = form
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = format!(
        "csrf={token}&kind=employer&full_name=Anna+Bianchi&codice_fiscale=00743110157\
         &email=anna%40example.it&password=password-di-anna&password_again=password-di-anna"
    );
    let req = http::Request::post(c.uri("/registrazione"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bytes::Bytes::from(body))
        .unwrap();
    let sent = c.send(req).await.unwrap();
    assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
    let start = Instant::now();
    let email = loop {
        let written = std::fs::read_dir(outbox)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with("-registration-confirmation.eml")
            });
        if let Some(entry) = written {
            break std::fs::read_to_string(entry.path()).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no confirmation email"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(email.contains("To: anna@example.it"), "{email}");
    let link = email
        .split_whitespace()
        .find(|w| w.starts_with(&format!("http://{portal}/conferma/")))
        .unwrap_or_else(|| panic!("no link in {email}"));
    let confirmed = c
        .get(link.trim_start_matches(&format!("http://{portal}")))
        .await
        .unwrap();
    assert_eq!(confirmed.status, 200);
    assert!(String::from_utf8_lossy(&confirmed.body).contains("Registrazione confermata"));
}

/// F5: `serve` under a 400-descriptor limit, its portal flooded with 400
/// silent connections from ten addresses. Before: the portal took every
/// descriptor and the gateway's accept failed ("Too many open files"
/// ×991). Now each listener has its own share of the limit (logged at
/// start), the portal holds at most its share, and the gateway keeps
/// accepting and storing; the flood is cleared by the portal's
/// first-request deadline and a real visitor is served after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_flood_cannot_take_the_gateways_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let (port, portal_port) = (free_port(), free_port());
    let config = serve_config(
        dir.path(),
        port,
        portal_port,
        "http3 = false",
        "first_request_timeout_ms = 1000",
    );
    let alice = Applicant::new(1);
    add_account(&config, &alice);
    let stderr_path = dir.path().join("serve.stderr");
    let mut serve = KillOnDrop(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 400 && exec \"$0\" serve --config \"$1\"")
            .arg(env!("CARGO_BIN_EXE_clickday"))
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let ca = wait_ready(port, &dir.path().join("tls/cert.pem")).await;
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        stderr.contains("lowered them to fit"),
        "the shares are logged: {stderr}"
    );

    let portal: std::net::SocketAddr = ([127, 0, 0, 1], portal_port).into();
    let mut flood = Vec::new();
    for host in 2..12u8 {
        let from = std::net::IpAddr::from([127, 0, 0, host]);
        flood.extend(clickday_testkit::attack::idle_connections(from, portal, 40).await);
    }
    let mut c = tokio::time::timeout(
        Duration::from_secs(5),
        Client::connect(([127, 0, 0, 1], port).into(), Proto::Http2, Some(&ca)),
    )
    .await
    .expect("the gateway accepted a connection within 5 s of the flood")
    .unwrap();
    let reply = c
        .submit(
            &alice,
            &clickday_testkit::signer::body("during-the-flood", "demo"),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{:?}", reply.body);

    let visitor = clickday_testkit::eventually(
        "a portal visitor served after the flood",
        Duration::from_secs(30),
        async || {
            let mut v = tokio::time::timeout(
                Duration::from_secs(2),
                Client::connect(portal, Proto::Http1, None),
            )
            .await
            .ok()?
            .ok()?;
            tokio::time::timeout(Duration::from_secs(5), v.get("/"))
                .await
                .ok()?
                .ok()
        },
    )
    .await;
    assert_eq!(visitor.status, 200);
    drop(flood);
    let _ = serve.0.kill();
    let _ = serve.0.wait();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        !stderr.contains("Too many open files"),
        "no listener ran out of descriptors: {stderr}"
    );
}

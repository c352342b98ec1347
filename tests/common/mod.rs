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

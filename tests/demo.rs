//! `clickday demo`, small: the whole click day on a throw-away system
//! passes its own audit and ledger check, and its stderr is quiet — no
//! warning a newcomer would have to wonder about on a clean run.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::process::Command;

#[test]
fn a_small_demo_passes_its_audit_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clickday"))
        .args([
            "demo",
            "--accounts",
            "50",
            "--per-account",
            "2",
            "--lead-secs",
            "3",
            "--quiet",
        ])
        .arg("--out")
        .arg(dir.path().join("demo"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("accepted 100 of 100"), "{stdout}");
    assert!(
        stdout.contains("audit: lost = 0, duplicates = 0, mismatched stamps = 0, rank errors = 0"),
        "{stdout}"
    );
    assert!(stdout.contains("ranking = sorted leaves"), "{stdout}");
    let noisy: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        noisy.is_empty(),
        "warnings on a clean run:\n{}",
        noisy.join("\n")
    );
    assert!(!stderr.contains('\x1b'), "no colour codes into a pipe");
    // The report tells the demo's story: titled for it, with what happened
    // after the burst, and charts whose axes read as round numbers.
    let html = std::fs::read_to_string(dir.path().join("demo").join("report.html")).unwrap();
    for section in [
        "<title>clickday demo:",
        "<h2>Audit</h2>",
        "<h2>Fairness</h2>",
        "<h2>Receipts and emails</h2>",
        "<h2>Ranking</h2>",
        "<h2>Arrival ledger</h2>",
    ] {
        assert!(html.contains(section), "{section} missing");
    }
    assert!(
        html.contains(r#"text-anchor="end">0</text>"#),
        "a y axis from 0"
    );
}

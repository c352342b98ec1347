//! `clickday staff add` as an operator runs it: a bad value is named and
//! exits 64 with nothing written; a good one prints the new user's id and
//! queues the invitation email.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::clickday;

#[tokio::test]
async fn staff_add_names_bad_values_and_invites() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::data_dir_config(dir.path());
    let add = |args: &[&str]| {
        let mut all = vec!["staff", "add"];
        all.extend_from_slice(args);
        clickday(&config, &all).output().unwrap()
    };
    for (args, named) in [
        (
            vec![
                "--kind",
                "office",
                "--email",
                "q@example.it",
                "--name",
                "Questura",
                "--province",
                "ZZ",
                "--office",
                "questura",
            ],
            "--province \"ZZ\"",
        ),
        (
            vec![
                "--kind",
                "office",
                "--email",
                "q@example.it",
                "--name",
                "Questura",
                "--province",
                "RM",
                "--office",
                "police",
            ],
            "--office \"police\"",
        ),
        (
            vec![
                "--kind",
                "operator",
                "--email",
                "not-an-address",
                "--name",
                "Op",
            ],
            "--email \"not-an-address\"",
        ),
    ] {
        let out = add(&args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    let ok = add(&[
        "--kind",
        "office",
        "--email",
        "Questura.RM@example.it",
        "--name",
        "Questura di Roma",
        "--province",
        "RM",
        "--office",
        "questura",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let user_id = String::from_utf8_lossy(&ok.stdout).trim().to_string();
    let store = clickday_store::open_portal(&format!(
        "sqlite://{}",
        dir.path().join("store.db").display()
    ))
    .await
    .unwrap();
    let user = store
        .user_by_email("questura.rm@example.it")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_id, user_id);
    assert_eq!(
        (user.province.as_deref(), user.office_kind.as_deref()),
        (Some("RM"), Some("questura"))
    );
    assert_eq!(
        store.unsent_emails().await.unwrap(),
        1,
        "the invitation waits in the outbox"
    );
    let again = add(&[
        "--kind",
        "operator",
        "--email",
        "questura.rm@example.it",
        "--name",
        "Dup",
    ]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "a taken email is not a usage error"
    );
}

/// F10: `clickday status | head` — a reader that closes the pipe early
/// ends the command quietly (exit 0), never with a panic.
#[test]
fn status_into_a_closed_pipe_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::data_dir_config(dir.path());
    let mut child = clickday(&config, &["status"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line.
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(done.status.code(), Some(0), "{stderr}");
}

//! The systemd units of `deploy/` are valid as `systemd-analyze verify`
//! sees them (no error, no warning), with their `ExecStart` pointed at the
//! binaries of this build, and every `clickday` command line they run is
//! one this build accepts.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

const CLICKDAY: &str = "/usr/local/bin/clickday";
const REDIS: &str = "/usr/bin/redis-server";

fn which(program: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        !path.is_empty(),
        "{program} must be installed (.ci/run installs it)"
    );
    path
}

#[test]
fn systemd_units_verify_and_run_commands_this_build_has() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dir = tempfile::tempdir().unwrap();
    let (analyze, redis) = (which("systemd-analyze"), which("redis-server"));
    let mut units = Vec::new();
    for entry in std::fs::read_dir(&deploy).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".service") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.starts_with("ExecStart=")) {
            let command: Vec<&str> = line["ExecStart=".len()..].split_whitespace().collect();
            assert!(
                [CLICKDAY, REDIS].contains(&command[0]),
                "{name}: unexpected program {}",
                command[0]
            );
            if command[0] == CLICKDAY {
                // Everything before --config: the subcommand must exist.
                let args: Vec<&str> = command[1..]
                    .iter()
                    .take_while(|a| **a != "--config")
                    .copied()
                    .collect();
                let help = Command::new(env!("CARGO_BIN_EXE_clickday"))
                    .args(&args)
                    .arg("--help")
                    .output()
                    .unwrap();
                assert!(
                    help.status.success(),
                    "{name}: clickday {args:?} is not a command"
                );
            }
        }
        let local = text
            .replace(CLICKDAY, env!("CARGO_BIN_EXE_clickday"))
            .replace(REDIS, &redis);
        std::fs::write(dir.path().join(&name), local).unwrap();
        // A template is verified through an instance of it.
        units.push(dir.path().join(name.replace("@.", "@1.")));
    }
    assert!(units.len() >= 4, "units found: {units:?}");
    let out = Command::new(&analyze)
        .arg("verify")
        .args(&units)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

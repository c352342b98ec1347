//! Many load machines, one instant: two `clickday-loadgen agent` processes,
//! each in a network namespace of its own (its own "machine"), joined by a
//! veth pair to a hub namespace that holds the gateway + persister (in
//! this process) and the controller (`clickday-loadgen run --agents`). One
//! agent's clock is 300 ms off. The run arms both for one instant, the
//! merged report has every application once and audits clean, and the
//! spread of the two gates is reported; a wrong token and an agent whose
//! clock is past the bound are refused before anything runs; an agent
//! killed mid-run is reported lost and the other's report still merges.
//!
//! Needs root (`ip netns`); CI runs as root.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_loadgen::Report;
use clickday_loadgen::audit::audit;
use clickday_store::NewAccount;
use clickday_testkit::netns::{self, Netns};
use clickday_testkit::process::Logged;
use clickday_testsystem::System;
use std::path::Path;
use std::time::Duration;

const LOADGEN: &str = env!("CARGO_BIN_EXE_clickday-loadgen");
const ACCOUNTS: u32 = 60;
/// The gateway's address inside the hub, routed to from both agents.
const GATEWAY_IP: &str = "10.77.0.1";
const AGENTS: &str = "10.77.1.2:7070,10.77.2.2:7070";
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn agents_in_two_namespaces_start_together_merge_and_survive_a_lost_agent() {
    let hub = Netns::create("cd-hub");
    let one = Netns::create("cd-ag1");
    let two = Netns::create("cd-ag2");
    hub.ip(&["addr", "add", &format!("{GATEWAY_IP}/32"), "dev", "lo"]);
    netns::link("cdl1", &hub, "10.77.1.1/24", &one, "10.77.1.2/24");
    netns::link("cdl2", &hub, "10.77.2.1/24", &two, "10.77.2.2/24");
    one.ip(&["route", "add", GATEWAY_IP, "via", "10.77.1.1"]);
    two.ip(&["route", "add", GATEWAY_IP, "via", "10.77.2.1"]);

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "c2VjcmV0LXRva2VuLWZvci10aGUtYWdlbnRz\n").unwrap();
    let wrong = dir.path().join("wrong-token");
    std::fs::write(&wrong, "YW5vdGhlci10b2tlbi1ub3QtdGhlLWFnZW50cw\n").unwrap();
    let agent = |ns: &Netns, listen: &str, offset_ms: &str| {
        let mut cmd = ns.command(LOADGEN);
        cmd.args(["agent", "--listen", listen, "--token-file"])
            .arg(&token)
            .args(["--clock-offset-ms", offset_ms]);
        let agent = Logged::spawn(listen, cmd);
        agent.wait_for_line(|l| l.contains("agent waiting for its controller"), LIMIT);
        agent
    };
    let first = agent(&one, "10.77.1.2:7070", "0");
    let mut second = agent(&two, "10.77.2.2:7070", "300");

    // This thread, and the runtime's threads it starts, live in the hub.
    hub.enter_this_thread();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sys = system(dir.path()).await;
        let url = sys.gateway_url();
        let port = url.rsplit_once(':').unwrap().1;
        let target = format!("https://{GATEWAY_IP}:{port}");
        let ca = sys.gateway_ca();
        let controller = |token: &Path, extra: &[&str], load: &[&str], out: &str| {
            let mut cmd = hub.command(LOADGEN);
            cmd.args(["run", "--agents", AGENTS, "--token-file"])
                .arg(token)
                .args(extra)
                .args(load)
                .args(["--target", &target, "--ca"])
                .arg(&ca)
                .args(["--accounts", &ACCOUNTS.to_string(), "--quiet", "--out"])
                .arg(dir.path().join(out))
                .stdout(std::process::Stdio::null());
            Logged::spawn("controller", cmd)
        };

        // 1. A burst over both agents, one of them 300 ms off.
        let mut run = controller(
            &token,
            &[],
            &[
                "burst",
                "--seed",
                "11",
                "--per-account",
                "2",
                "--connections",
                "8",
                "--streams",
                "2",
                "--in",
                "3s",
            ],
            "burst.json",
        );
        assert!(run.wait().success(), "{}", run.stderr());
        assert!(
            run.stderr().contains("the agent's clock is off"),
            "the offset is warned about"
        );
        let report = Report::read(&dir.path().join("burst.json")).unwrap();
        assert_eq!(report.totals.acknowledged, u64::from(ACCOUNTS) * 2);
        let mut ids: Vec<&str> = report
            .acknowledged
            .iter()
            .map(|a| a.submission_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len(),
            report.acknowledged.len(),
            "every application once"
        );
        let agents = report.agents.as_ref().unwrap();
        assert!(agents.complete());
        let offset = agents.agents[1].clock_offset_us;
        assert!(
            (270_000..330_000).contains(&offset),
            "measured offset {offset} µs"
        );
        assert!(agents.agents[0].clock_offset_us.abs() < 30_000);
        // Uncorrected, the gates would open 300 ms apart.
        assert!(
            agents.start_spread_us < 150_000,
            "spread {} µs",
            agents.start_spread_us
        );
        assert!(report.summary().contains("gates opened within"));
        let stored = stored_then_audit(&sys, &report, u64::from(ACCOUNTS) * 2).await;
        assert_eq!(stored, u64::from(ACCOUNTS) * 2);

        // 2. A wrong token: refused, nothing runs.
        let mut refused = controller(
            &wrong,
            &[],
            &["burst", "--seed", "12", "--in", "3s"],
            "wrong.json",
        );
        assert!(!refused.wait().success());
        assert!(
            refused.stderr().contains("refused the control connection"),
            "{}",
            refused.stderr()
        );
        // The controller stops at the first refusal; that agent logs it.
        clickday_testkit::wait_until("an agent's refusal", LIMIT, || {
            [&first, &second]
                .iter()
                .any(|a| a.stderr().contains("did not prove the token"))
        });

        // 3. A clock past the bound: refused, naming the agent.
        let mut off = controller(
            &token,
            &["--max-clock-offset", "100ms"],
            &["burst", "--seed", "12", "--in", "3s"],
            "off.json",
        );
        assert!(!off.wait().success());
        assert!(
            off.stderr().contains("10.77.2.2:7070") && off.stderr().contains("--max-clock-offset"),
            "{}",
            off.stderr()
        );
        assert_eq!(
            sys.store.status().await.unwrap().submissions,
            stored,
            "nothing ran"
        );

        // 4. An agent killed mid-run: lost; the other's report merges.
        let mut run = controller(
            &token,
            &[],
            &[
                "rate",
                "--seed",
                "12",
                "--rate",
                "40",
                "--duration",
                "4s",
                "--connections",
                "4",
                "--in",
                "2s",
            ],
            "rate.json",
        );
        run.wait_for_line(
            |l| {
                l.contains("agent progress")
                    && l.contains("agent=10.77.2.2")
                    && !l.contains(" done=0 ")
            },
            LIMIT,
        );
        second.kill();
        let status = run.wait();
        assert_eq!(status.code(), Some(4), "{}", run.stderr());
        let report = Report::read(&dir.path().join("rate.json")).unwrap();
        let agents = report.agents.as_ref().unwrap();
        assert_eq!(agents.agents[0].status, "reported");
        assert_eq!(agents.agents[1].status, "lost", "{:?}", agents.agents[1]);
        assert!(report.summary().contains("LOST"));
        let html = clickday_loadgen::html::render(&report);
        assert!(html.contains("<h2>Agents</h2>") && html.contains("lost: connection closed"));
        assert_eq!(report.run.shards.len(), 1);
        assert_eq!(report.totals.acknowledged, agents.agents[0].acknowledged);
        assert!(report.totals.acknowledged > 0);
        // Everything the surviving agent had acknowledged gets stored.
        let result =
            clickday_testkit::eventually("the survivor's submissions stored", LIMIT, async || {
                let result = audit_now(&sys, &report).await;
                (result.lost == 0).then_some(result)
            })
            .await;
        assert_eq!(
            (result.duplicated, result.mismatched, result.rank_errors),
            (0, 0, 0),
            "{}",
            result.summary()
        );
        drop(first);
    });
}

/// Gateway (on every address of the hub, with a certificate for the one
/// the agents use) and persister in this process; both seeds' accounts.
async fn system(dir: &Path) -> System {
    let generated = rcgen::generate_simple_self_signed(vec![GATEWAY_IP.to_string()]).unwrap();
    let (cert, key) = (dir.join("gateway.pem"), dir.join("gateway.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let data = dir.join("data");
    let text = format!(
        r#"data_dir = "{data}"
[gateway]
listen = "0.0.0.0:0"
tls_cert = "{cert}"
tls_key = "{key}"
[gateway.rate_limit]
per_ip_per_second = 0
[[click_days]]
id = "cd"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico", "lavoro-stagionale"]
"#,
        data = data.display(),
        cert = cert.display(),
        key = key.display(),
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg).await;
    for seed in [11, 12] {
        let accounts: Vec<NewAccount> =
            clickday_loadgen::workload::accounts(seed, ACCOUNTS, clickday_loadgen::Shard::WHOLE)
                .iter()
                .map(|a| NewAccount {
                    account_id: a.account_id.clone(),
                    email: a.email.clone(),
                    public_key: clickday_core::PublicKey::from_bytes(&a.public_key()).unwrap(),
                })
                .collect();
        sys.store.import_accounts(&accounts).await.unwrap();
    }
    sys.with_gateway().await.with_persister()
}

/// Waits until `n` submissions are stored, ranks, audits clean; the count.
async fn stored_then_audit(sys: &System, report: &Report, n: u64) -> u64 {
    let stored = clickday_testkit::eventually("all stored", LIMIT, async || {
        let stored = sys.store.status().await.unwrap().submissions;
        (stored >= n).then_some(stored)
    })
    .await;
    let result = audit_now(sys, report).await;
    assert!(result.clean(), "{}", result.summary());
    stored
}

async fn audit_now(sys: &System, report: &Report) -> clickday_loadgen::audit::AuditResult {
    let day = sys.cfg.calendar.get("cd").unwrap();
    clickday_persister::rank_click_day(sys.store.as_ref(), day)
        .await
        .unwrap();
    audit(report, &sys.cfg.store.to_url()).await.unwrap()
}

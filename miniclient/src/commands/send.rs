//! `send`: every application at the opening instant, with a journal.

use anyhow::Context;
use clickday_client::home::Home;
use clickday_client::journal::{Journal, Outcome};
use clickday_client::portal::Portal;
use clickday_client::send;
use clickday_client::text::{Lang, say, say_count};
use clickday_transport::Protocol;
use clickday_transport::Trust;
use std::process::ExitCode;

use super::calendar;

pub(crate) async fn run(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    click_day: Option<String>,
    gateway: Option<String>,
    protocol: Option<Protocol>,
) -> anyhow::Result<ExitCode> {
    let session = home.session()?;
    let key = home
        .key()?
        .context("this installation has no key: run `clickday-client activate` first")?;
    let gateway = gateway
        .or(session.gateway.clone())
        .context("give --gateway URL (or activate with --gateway)")?;
    let line = send::open(gateway.trim_end_matches('/'), protocol, trust).await?;
    let estimate = line.estimate;
    let days = calendar(&line.connection, &line.target).await?;
    let mut journal = Journal::load(home.dir())?;
    // The portal's list adds what is new; if it cannot be reached the
    // journal alone still holds everything signed before.
    let portal = Portal::connect(&session.portal, trust).await;
    let ready = match portal {
        Ok(portal) => portal.with_token(session.token.clone()).ready().await,
        Err(e) => Err(e),
    };
    let ready = match ready {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("{}", say(lang, "portal_unreachable", &[&format!("{e:#}")]));
            Vec::new()
        }
    };
    let now = estimate.now_nanos();
    let wanted: std::collections::BTreeSet<&str> = ready
        .iter()
        .map(|a| a.click_day.as_str())
        .chain(
            journal
                .entries
                .values()
                .filter(|e| e.outcome == Outcome::Pending)
                .map(|e| e.click_day.as_str()),
        )
        .collect();
    let day = match &click_day {
        Some(id) => days
            .iter()
            .find(|d| &d.id == id)
            .with_context(|| format!("--click-day {id:?} is not in the gateway's calendar"))?,
        None => match days
            .iter()
            .filter(|d| d.closes_at > now && wanted.contains(d.id.as_str()))
            .min_by_key(|d| d.opens_at)
        {
            Some(day) => day,
            None => {
                println!("{}", say(lang, "no_ready", &[]));
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    if day.closes_at <= now {
        anyhow::bail!("click day {} is closed", day.id);
    }
    send::prepare(
        home.dir(),
        &mut journal,
        &key,
        &session.key_id,
        &day.id,
        &ready,
    )?;
    let count = journal
        .entries
        .values()
        .filter(|e| e.click_day == day.id && e.outcome == Outcome::Pending)
        .count();
    eprintln!("{}", say_count(lang, "prepared", count, &[&count, &day.id]));
    let countdown = tokio::spawn(countdown(lang, day.opens_at, estimate));
    let printer = move |id: &str, outcome: &Outcome| println!("{}", describe(lang, id, outcome));
    let journal =
        send::send_all(home.dir(), journal, &line, &day.id, day.opens_at, printer).await?;
    countdown.abort();
    let refused = journal
        .entries
        .values()
        .filter(|e| e.click_day == day.id && matches!(e.outcome, Outcome::Refused { .. }))
        .count();
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// "Invio tra N s" once a second on standard error until the opening: on
/// a terminal one line rewritten in place, elsewhere (a log file) a line
/// each second.
pub(crate) async fn countdown(
    lang: Lang,
    opens_at: i64,
    estimate: clickday_client::clock::Estimate,
) {
    use std::io::Write as _;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    loop {
        let left = (opens_at - estimate.now_nanos()) / 1_000_000_000;
        if left <= 0 {
            if terminal {
                // Leave the line to the answers that follow.
                eprint!("\r\x1b[2K");
                let _ = std::io::stderr().flush();
            }
            return;
        }
        let line = say(lang, "countdown", &[&left]);
        if terminal {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// One line per application, in plain words.
pub(crate) fn describe(lang: Lang, id: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Accepted {
            submission_id,
            received_at,
            ..
        } => say(lang, "sent_ok", &[&id, submission_id, received_at]),
        Outcome::Refused { code, detail, .. } => {
            let reason = say(lang, &format!("refusal.{code}"), &[]);
            let reason = if reason.starts_with("refusal.") {
                detail.clone()
            } else {
                reason
            };
            say(lang, "refused", &[&id, &reason])
        }
        Outcome::Pending => say(lang, "pending", &[&id]),
    }
}

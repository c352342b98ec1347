//! The commands of `clickday-client`, one module each, and what they
//! share: the gateway's calendar and a connection to it.

pub(crate) mod activate;
pub(crate) mod clock;
pub(crate) mod list;
pub(crate) mod receipts;
pub(crate) mod send;

use anyhow::Context;
use clickday_client::text::{Lang, say};
use clickday_transport::Protocol;
use clickday_transport::Trust;
use clickday_transport::{Connection, Gate, Target};
use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _};
use std::sync::Arc;

/// The password without echo on a terminal; the first line of standard
/// input otherwise (scripts, tests).
pub(crate) fn read_password(lang: Lang, email: &str) -> anyhow::Result<String> {
    let prompt = say(lang, "password", &[&email]);
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A warm HTTP/2 connection to the gateway.
pub(crate) async fn gateway(
    url: &str,
    trust: Option<&Trust>,
) -> anyhow::Result<(Target, Connection)> {
    let target = Target::new(url, Protocol::Http2, trust)
        .await
        .with_context(|| format!("gateway {url}"))?;
    let connection = target
        .connect(Arc::new(Gate::new(std::time::Instant::now())))
        .await
        .with_context(|| format!("cannot reach the gateway at {url}"))?;
    Ok((target, connection))
}

/// Click day id → opening instant in Rome time (`31/01/2011 08:00:00.000
/// CET`), from the gateway's calendar.
pub(crate) async fn openings(
    url: &str,
    trust: Option<&Trust>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let (target, connection) = gateway(url, trust).await?;
    let request = http::Request::get(target.uri("/v1/click-days")).body(bytes::Bytes::new())?;
    let answer = connection.send(request).await?;
    let days: Vec<serde_json::Value> = serde_json::from_slice(&answer.body)
        .with_context(|| format!("the gateway's calendar is not a list ({})", answer.status))?;
    Ok(days
        .iter()
        .filter_map(|d| {
            let opens_at = d["opens_at"].as_str()?;
            let shown = clickday_core::time::parse_rfc3339(opens_at)
                .map_or_else(|_| opens_at.to_string(), clickday_core::time::format_rome);
            Some((d["id"].as_str()?.to_string(), shown))
        })
        .collect())
}

/// A click day of the gateway's calendar, in Unix nanoseconds.
pub(crate) struct Day {
    id: String,
    opens_at: i64,
    closes_at: i64,
}

pub(crate) async fn calendar(connection: &Connection, target: &Target) -> anyhow::Result<Vec<Day>> {
    let request = http::Request::get(target.uri("/v1/click-days")).body(bytes::Bytes::new())?;
    let answer = connection.send(request).await?;
    let days: Vec<serde_json::Value> = serde_json::from_slice(&answer.body)
        .with_context(|| format!("the gateway's calendar is not a list ({})", answer.status))?;
    let instant = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| clickday_core::time::parse_rfc3339(t).ok())
            .map(|n| n as i64)
    };
    Ok(days
        .iter()
        .filter_map(|d| {
            Some(Day {
                id: d["id"].as_str()?.to_string(),
                opens_at: instant(&d["opens_at"])?,
                closes_at: instant(&d["closes_at"])?,
            })
        })
        .collect())
}

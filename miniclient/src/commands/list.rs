//! `list`: the ready applications by click day.

use clickday_client::home::Home;
use clickday_client::portal::Portal;
use clickday_client::text::{Lang, say, say_count};
use clickday_transport::Trust;
use std::collections::BTreeMap;

use super::openings;

pub(crate) async fn run(home: &Home, trust: Option<&Trust>, lang: Lang) -> anyhow::Result<()> {
    let session = home.session()?;
    let openings = match &session.gateway {
        Some(gateway) => openings(gateway, trust).await?,
        None => BTreeMap::new(),
    };
    let portal = Portal::connect(&session.portal, trust)
        .await?
        .with_token(session.token);
    let ready = portal.ready().await?;
    if ready.is_empty() {
        println!("{}", say(lang, "no_ready", &[]));
        return Ok(());
    }
    let mut by_day: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for app in &ready {
        by_day.entry(app.click_day.as_str()).or_default().push(app);
    }
    for (day, apps) in by_day {
        let opening = openings
            .get(day)
            .cloned()
            .unwrap_or_else(|| say(lang, "unknown_opening", &[]));
        let count = apps.len();
        println!(
            "{}",
            say_count(lang, "click_day", count, &[&day, &opening, &count])
        );
        for app in apps {
            println!(
                "  {}  {}  {}  {}",
                app.application_id, app.category, app.province, app.worker_name
            );
        }
    }
    Ok(())
}

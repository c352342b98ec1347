//! `clock`: this computer's offset from the gateway's clock.

use clickday_client::clock;
use clickday_client::text::{Lang, say};
use clickday_transport::Trust;

use super::gateway;

pub(crate) async fn run(
    trust: Option<&Trust>,
    lang: Lang,
    url: &str,
    samples: usize,
) -> anyhow::Result<()> {
    let (target, connection) = gateway(url.trim_end_matches('/'), trust).await?;
    let estimate = clock::estimate(&connection, &target.uri("/v1/time"), samples).await?;
    let ms = |n: f64| format!("{n:+.1}");
    println!(
        "{}",
        say(
            lang,
            "clock",
            &[
                &ms(estimate.offset_nanos as f64 / 1e6),
                &format!("{:.1}", estimate.round_trip.as_secs_f64() * 1e3),
                &estimate.samples,
            ]
        )
    );
    if estimate.needs_warning() {
        eprintln!("{}", say(lang, "clock_warning", &[]));
    }
    Ok(())
}

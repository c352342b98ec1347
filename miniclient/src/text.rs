//! What the user reads, in Italian (default) or English (`--lang en`).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    #[default]
    It,
    En,
}

/// key, Italian, English; `{}` placeholders are filled in order.
const CATALOGUE: &[(&str, &str, &str)] = &[
    (
        "password",
        "Password del portale per {}: ",
        "Portal password for {}: ",
    ),
    (
        "activated",
        "Installazione attivata. Chiave {} registrata sull'utenza {}.",
        "Installation activated. Key {} registered to account {}.",
    ),
    (
        "no_ready",
        "Nessuna domanda pronta per l'invio.",
        "No application ready to send.",
    ),
    (
        "click_day",
        "Click day {} — apertura {} ({} domande)",
        "Click day {} — opens {} ({} applications)",
    ),
    (
        "clock",
        "Scarto dall'orologio del sistema: {} ms (andata e ritorno {} ms, {} misure).",
        "Offset from the system's clock: {} ms (round trip {} ms, {} samples).",
    ),
    (
        "clock_warning",
        "ATTENZIONE: l'orologio di questo computer è spostato di più di 100 ms. Gli invii useranno comunque l'ora corretta del sistema.",
        "WARNING: this computer's clock is more than 100 ms off. Sends will use the system's corrected time anyway.",
    ),
    (
        "unknown_opening",
        "orario non pubblicato",
        "time not published",
    ),
];

pub fn say(lang: Lang, key: &str, args: &[&dyn std::fmt::Display]) -> String {
    let template = CATALOGUE
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, it, en)| if lang == Lang::It { it } else { en });
    let mut out = String::new();
    let mut rest = template;
    let mut args = args.iter();
    while let Some(at) = rest.find("{}") {
        out.push_str(&rest[..at]);
        if let Some(arg) = args.next() {
            out.push_str(&arg.to_string());
        }
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

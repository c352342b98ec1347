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
        "click_day_one",
        "Click day {} — apertura {} ({} domanda)",
        "Click day {} — opens {} ({} application)",
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
    (
        "portal_unreachable",
        "Portale non raggiungibile ({}): si inviano le domande già firmate.",
        "Portal unreachable ({}): sending the applications already signed.",
    ),
    (
        "prepared",
        "{} domande firmate per il click day {}.",
        "{} applications signed for click day {}.",
    ),
    (
        "prepared_one",
        "{} domanda firmata per il click day {}.",
        "{} application signed for click day {}.",
    ),
    ("countdown", "Invio tra {} s", "Sending in {} s"),
    (
        "receipt_saved",
        "Ricevuta della domanda {} salvata in {}",
        "Receipt of application {} saved in {}",
    ),
    (
        "receipt_pending",
        "Ricevuta della domanda {} non ancora pronta: riprovare più tardi.",
        "Receipt of application {} not ready yet: try again later.",
    ),
    (
        "receipt_bad_id",
        "Il portale ha indicato una domanda con un numero non valido ({}): ricevuta non salvata.",
        "The portal named an application with an invalid id ({}): receipt not saved.",
    ),
    (
        "receipt_valid",
        "Ricevuta {} valida: firmata dal sistema.",
        "Receipt {} is valid: signed by the system.",
    ),
    (
        "receipt_in_ledger",
        "Posizione nel registro pubblico degli arrivi verificata: voce {} di {} del registro {}.",
        "Place in the public arrival ledger verified: entry {} of {} in the ledger {}.",
    ),
    (
        "receipt_ledger_extended",
        "Il registro pubblicato ora ({} voci) estende quello della ricevuta: nessuna voce tolta o cambiata da allora.",
        "The ledger published now ({} entries) extends the receipt's: no entry removed or changed since.",
    ),
    (
        "receipt_ledger_unchecked",
        "La ricevuta contiene la prova di inclusione nel registro pubblico degli arrivi: per verificarla indicare --ledger-key (chiave pubblica del registro, pubblicata dall'amministrazione).",
        "The receipt carries its proof of inclusion in the public arrival ledger: give --ledger-key (the ledger's public key, published by the administration) to check it.",
    ),
    (
        "sent_ok",
        "Invio corretto: domanda {} — numero {}, arrivata {}",
        "Sent: application {} — number {}, arrived {}",
    ),
    (
        "refused",
        "Domanda {} rifiutata: {}",
        "Application {} refused: {}",
    ),
    (
        "pending",
        "Domanda {}: nessuna risposta; verrà reinviata con lo stesso contenuto.",
        "Application {}: no answer; it will be resent with the same content.",
    ),
    (
        "refusal.unknown_key",
        "la chiave di questa installazione non è registrata o è stata revocata (eseguire activate)",
        "this installation's key is not registered or was revoked (run activate)",
    ),
    (
        "refusal.bad_signature",
        "firma non valida",
        "invalid signature",
    ),
    (
        "refusal.malformed",
        "domanda incompleta o malformata",
        "incomplete or malformed application",
    ),
    (
        "refusal.unknown_click_day",
        "click day inesistente",
        "no such click day",
    ),
    (
        "refusal.unknown_category",
        "tipo di domanda non previsto per questo click day",
        "kind of application not part of this click day",
    ),
    (
        "refusal.unknown_province",
        "provincia sconosciuta",
        "unknown province",
    ),
    (
        "refusal.closed",
        "il click day è chiuso",
        "the click day is closed",
    ),
    (
        "refusal.conflict",
        "una domanda con lo stesso codice è già stata inviata con un contenuto diverso",
        "an application with the same id was already sent with other content",
    ),
    (
        "refusal.too_large",
        "domanda troppo grande",
        "application too large",
    ),
];

/// [`say`] for a message about `count` things: its `<key>_one` form (the
/// singular) when there is exactly one.
pub fn say_count(lang: Lang, key: &str, count: usize, args: &[&dyn std::fmt::Display]) -> String {
    if count == 1 {
        say(lang, &format!("{key}_one"), args)
    } else {
        say(lang, key, args)
    }
}

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

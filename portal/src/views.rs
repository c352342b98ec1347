//! Server-rendered pages: minijinja templates compiled into the binary,
//! HTML-escaped by default, with `t("key")` for the texts of the page's
//! language.

use crate::i18n;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use clickday_config::PortalConfig;
use clickday_forms::Lang;
use minijinja::{AutoEscape, Environment, State, Value};
use std::fmt::Write as _;

/// (name, source) of every template.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("home.html", include_str!("../templates/home.html")),
    (
        "downloads.html",
        include_str!("../templates/downloads.html"),
    ),
    ("register.html", include_str!("../templates/register.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    (
        "applications.html",
        include_str!("../templates/applications.html"),
    ),
    ("page.html", include_str!("../templates/page.html")),
    ("preview.html", include_str!("../templates/preview.html")),
    ("offices.html", include_str!("../templates/offices.html")),
    ("office.html", include_str!("../templates/office.html")),
    (
        "office_application.html",
        include_str!("../templates/office_application.html"),
    ),
    ("helpdesk.html", include_str!("../templates/helpdesk.html")),
    ("ticket.html", include_str!("../templates/ticket.html")),
    (
        "subaccounts.html",
        include_str!("../templates/subaccounts.html"),
    ),
];

pub struct Views {
    env: Environment<'static>,
}

impl Views {
    /// The templates, with what every page shows of `settings` (the
    /// administration, the help desk) and the static files' address.
    pub fn new(settings: &PortalConfig) -> Self {
        let mut env = Environment::new();
        // HTML-escaping as usual, but `/` stays `/`: dates (27/03/2030)
        // and addresses read the same in the page's source.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(text) if !value.is_safe() && state.auto_escape() != AutoEscape::None => {
                for c in text.chars() {
                    match c {
                        '&' => out.write_str("&amp;")?,
                        '<' => out.write_str("&lt;")?,
                        '>' => out.write_str("&gt;")?,
                        '"' => out.write_str("&quot;")?,
                        '\'' => out.write_str("&#x27;")?,
                        c => out.write_char(c)?,
                    }
                }
                Ok(())
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_global("static", crate::assets::prefix());
        env.add_global(
            "site",
            minijinja::context! {
                administration => &settings.administration,
                administration_url => &settings.administration_url,
                helpdesk => Value::from_serialize(&settings.helpdesk),
            },
        );
        // `RM` → `Roma`.
        env.add_filter("province", |code: &str| -> String {
            clickday_config::province_name(code).to_string()
        });
        // `1985-03-14` → `14/03/1985`: dates as Italians write them.
        env.add_filter("date", |iso: &str| -> String {
            iso.parse::<jiff::civil::Date>()
                .map_or_else(|_| iso.to_string(), |d| d.strftime("%d/%m/%Y").to_string())
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env.add_function("t", |state: &State, key: &str| -> String {
            let lang = state
                .lookup("lang")
                .and_then(|v| v.as_str().and_then(i18n::parse))
                .unwrap_or_default();
            i18n::text(lang, key).to_string()
        });
        Views { env }
    }

    /// Renders `template` with `context` plus the page's language.
    pub fn render(
        &self,
        status: StatusCode,
        lang: Lang,
        template: &str,
        context: Value,
    ) -> Response {
        let context = minijinja::context! { lang => i18n::code(lang), ..context };
        match self
            .env
            .get_template(template)
            .and_then(|t| t.render(context))
        {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "page could not be rendered");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    i18n::text(lang, "error.internal"),
                )
                    .into_response()
            }
        }
    }
}

//! An association's sub-accounts ("utenze"): people who compile and send
//! on its behalf with their own sign-in and keys. The association creates
//! them one by one or many at once from a CSV file; each gets an
//! invitation with a link to choose a password, which also proves the
//! address. The association sees their applications.

use crate::account::{LinkEmail, check_identity, link_token, send_link};
use crate::visitor::Visitor;
use crate::{Portal, i18n, secrets};
use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use clickday_forms::Lang;
use clickday_store::StoreError;
use clickday_store::portal::{NewToken, NewUser, TokenPurpose, User, UserKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A CSV file holds at most this many sub-accounts and bytes; it is
/// checked whole before anything is created.
pub const MAX_IMPORT_LINES: usize = 1_000;
pub const MAX_IMPORT_BYTES: usize = 256 * 1024;

/// The signed-in association, or "not found" for anyone else.
fn association<'a>(portal: &Portal, visitor: &'a Visitor) -> Result<&'a User, Response> {
    let user = visitor.signed_in()?;
    if user.kind == UserKind::Association {
        Ok(user)
    } else {
        Err(visitor.not_found(portal))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SubAccountForm {
    csrf: String,
    full_name: String,
    codice_fiscale: String,
    email: String,
}

/// What the page says besides the list.
#[derive(Default)]
struct Outcome<'a> {
    form: Option<&'a SubAccountForm>,
    errors: BTreeMap<&'static str, String>,
    /// Sub-accounts just created (one by one or from a file).
    created: usize,
    /// A refused file: one line per problem, naming its line.
    import_errors: Vec<String>,
}

pub async fn list(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    let user = match association(&portal, &visitor) {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    show(&portal, &visitor, user, StatusCode::OK, Outcome::default()).await
}

async fn show(
    portal: &Portal,
    visitor: &Visitor,
    user: &User,
    status: StatusCode,
    outcome: Outcome<'_>,
) -> Response {
    let accounts = match portal.store.sub_accounts(&user.user_id).await {
        Ok(accounts) => accounts,
        Err(e) => return visitor.failure(portal, &e),
    };
    let accounts: Vec<_> = accounts
        .iter()
        .map(|a| minijinja::context! { name => &a.full_name, email => &a.email, confirmed => a.confirmed })
        .collect();
    let empty = SubAccountForm::default();
    let form = outcome.form.unwrap_or(&empty);
    let form = minijinja::context! {
        full_name => &form.full_name,
        codice_fiscale => &form.codice_fiscale,
        email => &form.email,
    };
    visitor.page_with(
        portal,
        status,
        "subaccounts.html",
        minijinja::context! {
            accounts,
            form,
            errors => outcome.errors,
            created => outcome.created,
            import_errors => outcome.import_errors,
            max_lines => MAX_IMPORT_LINES,
        },
    )
}

/// A sub-account of `parent`, with its invitation link's token; the
/// password is unusable until the person chooses one.
fn new_sub_account(
    portal: &Portal,
    parent: &User,
    full_name: &str,
    codice_fiscale: &str,
    email: &str,
) -> (NewUser, NewToken, String) {
    let user = NewUser {
        user_id: format!("u{}", secrets::readable_id(15)),
        email: email.trim().to_lowercase(),
        password_hash: secrets::UNUSABLE_PASSWORD.to_string(),
        kind: UserKind::SubAccount,
        full_name: full_name.trim().to_string(),
        codice_fiscale: codice_fiscale.trim().to_uppercase(),
        parent_user_id: Some(parent.user_id.clone()),
        province: None,
        office_kind: None,
        approved: false,
    };
    let secret = secrets::new_secret();
    let token = link_token(
        portal.settings.link_validity,
        &user.user_id,
        TokenPurpose::Reset,
        &secret,
    );
    (user, token, secret)
}

/// Queues the invitations of accounts just created by `parent`.
async fn invite(
    portal: &Portal,
    lang: Lang,
    parent: &User,
    created: &[(NewUser, NewToken, String)],
) -> Result<(), StoreError> {
    for (user, _, secret) in created {
        let why = LinkEmail::Invite {
            by: &parent.full_name,
        };
        send_link(portal, lang, &user.email, &user.full_name, why, secret).await?;
    }
    Ok(())
}

pub async fn create(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Form(form): Form<SubAccountForm>,
) -> Response {
    let user = match association(&portal, &visitor) {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let mut errors = check_identity(
        &form.full_name,
        &form.codice_fiscale,
        &form.email,
        visitor.lang,
    );
    let refused = |errors| Outcome {
        form: Some(&form),
        errors,
        ..Outcome::default()
    };
    if !errors.is_empty() {
        let outcome = refused(errors);
        return show(
            &portal,
            &visitor,
            user,
            StatusCode::UNPROCESSABLE_ENTITY,
            outcome,
        )
        .await;
    }
    let created = [new_sub_account(
        &portal,
        user,
        &form.full_name,
        &form.codice_fiscale,
        &form.email,
    )];
    let (sub, token, _) = &created[0];
    match portal.store.create_user(sub, token).await {
        Ok(()) => {}
        Err(StoreError::Taken { .. }) => {
            errors.insert(
                "email",
                i18n::text(visitor.lang, "field.email_taken").into(),
            );
            let outcome = refused(errors);
            return show(&portal, &visitor, user, StatusCode::CONFLICT, outcome).await;
        }
        Err(e) => return visitor.failure(&portal, &e),
    }
    if let Err(e) = invite(&portal, visitor.lang, user, &created).await {
        return visitor.failure(&portal, &e);
    }
    let outcome = Outcome {
        created: 1,
        ..Outcome::default()
    };
    show(&portal, &visitor, user, StatusCode::OK, outcome).await
}

/// A problem of an import file: its line (0 = the file as a whole) and
/// what is wrong.
type LineProblem = (u64, String);

/// One line of an import file.
struct Line {
    number: u64,
    full_name: String,
    codice_fiscale: String,
    email: String,
}

/// The lines of a CSV file of `name, codice fiscale, email` (`;` or `,`
/// between fields, an optional header line, UTF-8 with or without BOM),
/// and the problems of the lines that are not such.
fn read_lines(bytes: &[u8], lang: Lang) -> (Vec<Line>, Vec<LineProblem>) {
    let say = |key: &str| i18n::text(lang, key).to_string();
    let at = |number: u64, what: String| (number, what);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return (Vec::new(), vec![(0, say("import.not_utf8"))]);
    };
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.contains(';') { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let number = e.position().map_or(0, |p| p.line());
                problems.push(at(number, say("import.unreadable")));
                continue;
            }
        };
        let number = record.position().map_or(0, |p| p.line());
        // A header: the first line, with no email in its third column.
        if index == 0 && !record.get(2).unwrap_or_default().contains('@') {
            continue;
        }
        if record.len() != 3 {
            let found = say("import.columns").replace("{n}", &record.len().to_string());
            problems.push(at(number, found));
            continue;
        }
        lines.push(Line {
            number,
            full_name: record[0].to_string(),
            codice_fiscale: record[1].to_string(),
            email: record[2].to_string(),
        });
    }
    if lines.is_empty() && problems.is_empty() {
        problems.push((0, say("import.empty")));
    }
    (lines, problems)
}

/// `POST /utenze/importa`: many sub-accounts from a CSV file, all or none.
/// Every line is checked (identity, an email twice in the file, an email
/// already registered) before anything is created; the accounts are then
/// created in one transaction and invited.
pub async fn import(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let user = match association(&portal, &visitor) {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let lang = visitor.lang;
    let say = |key: &str| i18n::text(lang, key).to_string();
    let refuse = async |status, import_errors| {
        let outcome = Outcome {
            import_errors,
            ..Outcome::default()
        };
        show(&portal, &visitor, user, status, outcome).await
    };
    let (csrf, file) = match read_upload(multipart).await {
        Ok(parts) => parts,
        Err(()) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                vec![say("import.unreadable_upload")],
            )
            .await;
        }
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&csrf)) {
        return refused;
    }
    let (lines, mut problems) = read_lines(&file, lang);
    if lines.len() > MAX_IMPORT_LINES {
        let too_many = say("import.too_many").replace("{max}", &MAX_IMPORT_LINES.to_string());
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, vec![too_many]).await;
    }
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    for line in &lines {
        let at = |what: &str| (line.number, what.to_string());
        for (field, message) in
            check_identity(&line.full_name, &line.codice_fiscale, &line.email, lang)
        {
            problems.push(at(&format!(
                "{}: {message}",
                say(&format!("register.{field}"))
            )));
        }
        let email = line.email.trim().to_lowercase();
        if email.is_empty() {
            continue;
        }
        if let Some(earlier) = first_seen.insert(email.clone(), line.number) {
            problems.push(at(
                &say("import.twice").replace("{line}", &earlier.to_string())
            ));
        } else {
            match portal.store.user_by_email(&email).await {
                Ok(Some(_)) => problems.push(at(&say("field.email_taken"))),
                Ok(None) => {}
                Err(e) => return visitor.failure(&portal, &e),
            }
        }
    }
    if !problems.is_empty() {
        // In file order, each naming its line ("Riga 3: …").
        problems.sort_by_key(|(line, _)| *line);
        let problems = problems
            .into_iter()
            .map(|(line, what)| match line {
                0 => what,
                line => format!("{} {line}: {what}", say("import.line")),
            })
            .collect();
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, problems).await;
    }
    let created: Vec<_> = lines
        .iter()
        .map(|l| new_sub_account(&portal, user, &l.full_name, &l.codice_fiscale, &l.email))
        .collect();
    let rows: Vec<_> = created.iter().map(|(u, t, _)| (u, t)).collect();
    match portal.store.create_users(&rows).await {
        Ok(()) => {}
        // Registered by someone else since the check: still nothing made.
        Err(StoreError::Taken { .. }) => {
            return refuse(StatusCode::CONFLICT, vec![say("import.raced")]).await;
        }
        Err(e) => return visitor.failure(&portal, &e),
    }
    if let Err(e) = invite(&portal, lang, user, &created).await {
        return visitor.failure(&portal, &e);
    }
    let outcome = Outcome {
        created: created.len(),
        ..Outcome::default()
    };
    show(&portal, &visitor, user, StatusCode::OK, outcome).await
}

/// The `csrf` field and the `file` field of an upload.
async fn read_upload(
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(String, Vec<u8>), ()> {
    let mut multipart = multipart.map_err(drop)?;
    let (mut csrf, mut file) = (String::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(drop)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(drop)?,
            Some("file") => file = Some(field.bytes().await.map_err(drop)?.to_vec()),
            _ => {}
        }
    }
    Ok((csrf, file.ok_or(())?))
}

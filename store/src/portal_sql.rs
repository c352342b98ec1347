//! [`PortalStore`] for both backends from one text: the statements use
//! `$n` parameters and plain SQL both databases run; each backend brings
//! its pool and its database clock.

use crate::portal::{
    Applicant, Draft, DraftSearch, Forwarded, NewOutcome, NewSession, NewTicket, NewToken, NewUser,
    OfficeRow, OfficeSearch, OutcomeEvent, PastApplication, PortalStore, Recorded, SearchState,
    Ticket, TicketChange, TicketEvent, TicketState, TokenPurpose, User, contains_pattern,
};
use crate::{PgStore, SqliteStore, StoreError, rows};

/// The columns of a user, for `SELECT`s and `RETURNING`.
const USER: &str = "user_id, email, password_hash, kind, full_name, codice_fiscale, \
                    parent_user_id, province, office_kind, account_id, confirmed_at, \
                    approved_at";
const TICKET: &str =
    "ticket_id, user_id, topic, subject, state, operator_id, created_at, updated_at";
const DRAFT_COLUMNS: &str = "application_id, user_id, click_day, category, answers, province, \
                             worker_name, state, created_at, updated_at";
/// A draft's columns and, once stored, its submission's, from
/// `applications a` joined as in [`DRAFT_JOINS`].
const DRAFT_SELECT: &str = "a.application_id, a.user_id, a.click_day, a.category, a.answers, \
                            a.province, a.worker_name, a.state, a.created_at, a.updated_at, \
                            s.submission_id, s.received_at, s.receipt_state, s.rank, \
                            s.within_quota";
/// The columns of a past application.
const PAST: &str = "application_id, user_id, click_day, category, province, worker_name, \
                    submission_id, received_at, outcome, answers";

/// An office's list: the submissions of its province with who sent them,
/// whether it marked them received, and its latest outcome ($1 office
/// kind, $2 province; then the filters of [`OFFICE_FILTERS`]).
const OFFICE_FROM: &str = "FROM submissions s \
     LEFT JOIN portal_users u ON u.account_id = s.account_id \
     LEFT JOIN applications a ON a.user_id = u.user_id AND a.application_id = s.application_id \
     LEFT JOIN forwarding_deliveries d ON d.submission_id = s.submission_id \
     AND d.office_kind = $1 \
     WHERE s.province = $2";
/// $3 one submission, $4 received or not, $5 and $6 the text as lower-
/// and upper-case patterns; a NULL filter matches all.
const OFFICE_FILTERS: &str = "($3 IS NULL OR s.submission_id = $3) \
     AND ($4 IS NULL OR (d.delivered_at IS NOT NULL) = $4) \
     AND ($5 IS NULL OR lower(a.worker_name) LIKE $5 ESCAPE '\\' \
          OR lower(u.full_name) LIKE $5 ESCAPE '\\' OR s.application_id LIKE $6 ESCAPE '\\')";

const DRAFT_JOINS: &str = "JOIN portal_users u ON u.user_id = a.user_id \
                           LEFT JOIN submissions s ON s.account_id = u.account_id \
                           AND s.application_id = a.application_id";

/// The search's filters over `applications a` and its submission `s`:
/// year prefix, click day, category, province, state, and the free text
/// as lower-case and upper-case patterns ($1 to $7); a NULL filter
/// matches all. The owners' ids follow from $10 on ($8, $9: limit and
/// offset), as a literal list so both planners read each owner's rows
/// from the `applications_user` index.
const SEARCH: &str = "($1 IS NULL OR a.application_id LIKE $1) \
                      AND ($2 IS NULL OR a.click_day = $2) \
                      AND ($3 IS NULL OR a.category = $3) \
                      AND ($4 IS NULL OR a.province = $4) \
                      AND ($5 IS NULL OR ($5 = 'sent' AND s.submission_id IS NOT NULL) \
                           OR (a.state = $5 AND s.submission_id IS NULL)) \
                      AND ($6 IS NULL OR lower(a.worker_name) LIKE $6 ESCAPE '\\' \
                           OR a.application_id LIKE $7 ESCAPE '\\')";

/// `a.user_id IN ($10, $11, …)` for `owners` owners.
fn owners_in(owners: usize) -> String {
    let list: Vec<String> = (0..owners).map(|i| format!("${}", 10 + i)).collect();
    format!("a.user_id IN ({})", list.join(", "))
}

fn taken_or(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Taken { what },
        _ => StoreError::Database(e),
    }
}

macro_rules! portal_store_for {
    ($backend:ident, $store:ty, $db:ty, $now:expr) => {
        mod $backend {
        use super::*;

        /// Adds a one-time link, inside a transaction or not.
        async fn insert_token<'e>(
            executor: impl sqlx::Executor<'e, Database = $db>,
            token: &NewToken,
        ) -> Result<(), StoreError> {
            let now = $now;
            sqlx::query(&format!(
                "INSERT INTO portal_tokens (token_hash, user_id, purpose, expires_at) \
                 VALUES ($1, $2, $3, {now} + $4)"
            ))
            .bind(&token.token_hash)
            .bind(&token.user_id)
            .bind(token.purpose.as_str())
            .bind(token.valid_for_micros)
            .execute(executor)
            .await?;
            Ok(())
        }

        /// Confirms a user (idempotent) and, for users who send, opens
        /// their gateway account, named after the user: one account per
        /// user, whatever the email.
        async fn confirm(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: &str,
        ) -> Result<(), StoreError> {
            let now = $now;
            sqlx::query(&format!(
                "INSERT INTO accounts (account_id, email, created_at) \
                 SELECT user_id, email, {now} FROM portal_users \
                 WHERE user_id = $1 AND kind IN ('employer', 'association', 'sub_account') \
                 ON CONFLICT (account_id) DO NOTHING"
            ))
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
            sqlx::query(&format!(
                "UPDATE portal_users SET confirmed_at = COALESCE(confirmed_at, {now}), \
                 account_id = (SELECT account_id FROM accounts WHERE account_id = $1) \
                 WHERE user_id = $1"
            ))
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Marks a live link of this purpose used; its user, or `None`.
        async fn use_token<'e>(
            executor: impl sqlx::Executor<'e, Database = $db>,
            token_hash: &str,
            purpose: TokenPurpose,
        ) -> Result<Option<String>, StoreError> {
            let now = $now;
            Ok(sqlx::query_scalar(&format!(
                "UPDATE portal_tokens SET used_at = {now} \
                 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL \
                 AND expires_at > {now} RETURNING user_id"
            ))
            .bind(token_hash)
            .bind(purpose.as_str())
            .fetch_optional(executor)
            .await?)
        }

        #[async_trait::async_trait]
        impl PortalStore for $store {
            async fn create_users(
                &self,
                users: &[(&NewUser, &NewToken)],
            ) -> Result<(), StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                for (user, confirm) in users {
                sqlx::query(&format!(
                    "INSERT INTO portal_users (user_id, email, password_hash, kind, full_name, \
                     codice_fiscale, parent_user_id, province, office_kind, approved_at, \
                     created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                     CASE WHEN $10 THEN {now} END, {now})"
                ))
                .bind(&user.user_id)
                .bind(&user.email)
                .bind(&user.password_hash)
                .bind(user.kind.as_str())
                .bind(&user.full_name)
                .bind(&user.codice_fiscale)
                .bind(&user.parent_user_id)
                .bind(&user.province)
                .bind(&user.office_kind)
                .bind(user.approved)
                .execute(&mut *tx)
                .await
                .map_err(|e| taken_or(e, "a user with this email"))?;
                insert_token(&mut *tx, confirm).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
                sqlx::query(&format!("SELECT {USER} FROM portal_users WHERE user_id = $1"))
                    .bind(user_id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(|r| rows::user(&r))
                    .transpose()
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
                sqlx::query(&format!("SELECT {USER} FROM portal_users WHERE email = $1"))
                    .bind(email)
                    .fetch_optional(self.pool())
                    .await?
                    .map(|r| rows::user(&r))
                    .transpose()
            }

            async fn pending_offices(&self) -> Result<Vec<User>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {USER} FROM portal_users WHERE kind = 'office' \
                     AND confirmed_at IS NOT NULL AND approved_at IS NULL \
                     ORDER BY created_at, user_id"
                ))
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::user)
                .collect()
            }

            async fn approve_office(&self, user_id: &str) -> Result<bool, StoreError> {
                let now = $now;
                let done = sqlx::query(&format!(
                    "UPDATE portal_users SET approved_at = {now} WHERE user_id = $1 \
                     AND kind = 'office' AND confirmed_at IS NOT NULL AND approved_at IS NULL"
                ))
                .bind(user_id)
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn sub_accounts(&self, parent_user_id: &str) -> Result<Vec<User>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {USER} FROM portal_users WHERE parent_user_id = $1 \
                     ORDER BY created_at, user_id"
                ))
                .bind(parent_user_id)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::user)
                .collect()
            }

            async fn add_token(&self, token: &NewToken) -> Result<(), StoreError> {
                insert_token(self.pool(), token).await
            }

            async fn confirm_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
                let mut tx = self.pool().begin().await?;
                let Some(user_id) = use_token(&mut *tx, token_hash, TokenPurpose::Confirm).await?
                else {
                    return Ok(None);
                };
                confirm(&mut tx, &user_id).await?;
                let user = sqlx::query(&format!("SELECT {USER} FROM portal_users WHERE user_id = $1"))
                    .bind(&user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows::user(&user).map(Some)
            }

            async fn reset_link_is_live(&self, token_hash: &str) -> Result<bool, StoreError> {
                let now = $now;
                let live: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT CAST(1 AS BIGINT) FROM portal_tokens WHERE token_hash = $1 AND purpose = $2 \
                     AND used_at IS NULL AND expires_at > {now}"
                ))
                .bind(token_hash)
                .bind(TokenPurpose::Reset.as_str())
                .fetch_optional(self.pool())
                .await?;
                Ok(live.is_some())
            }

            async fn reset_password(
                &self,
                token_hash: &str,
                password_hash: &str,
            ) -> Result<Option<User>, StoreError> {
                let mut tx = self.pool().begin().await?;
                let Some(user_id) = use_token(&mut *tx, token_hash, TokenPurpose::Reset).await?
                else {
                    return Ok(None);
                };
                // The link came by email: the address is proven, which is
                // how a sub-account, created with such a link, confirms.
                confirm(&mut tx, &user_id).await?;
                let user = sqlx::query(&format!(
                    "UPDATE portal_users SET password_hash = $2 WHERE user_id = $1 RETURNING {USER}"
                ))
                .bind(&user_id)
                .bind(password_hash)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM portal_sessions WHERE user_id = $1")
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows::user(&user).map(Some)
            }

            async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
                let now = $now;
                sqlx::query(&format!(
                    "INSERT INTO portal_sessions (session_hash, user_id, csrf_token, created_at, \
                     expires_at) VALUES ($1, $2, $3, {now}, {now} + $4)"
                ))
                .bind(&session.session_hash)
                .bind(&session.user_id)
                .bind(&session.csrf_token)
                .bind(session.valid_for_micros)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                session_hash: &str,
            ) -> Result<Option<(User, String)>, StoreError> {
                let now = $now;
                let Some(row) = sqlx::query(&format!(
                    "SELECT {USER}, csrf_token FROM portal_sessions s \
                     JOIN portal_users u USING (user_id) \
                     WHERE s.session_hash = $1 AND s.expires_at > {now}"
                ))
                .bind(session_hash)
                .fetch_optional(self.pool())
                .await?
                else {
                    return Ok(None);
                };
                let csrf: String = sqlx::Row::try_get(&row, "csrf_token")?;
                Ok(Some((rows::user(&row)?, csrf)))
            }

            async fn end_session(&self, session_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM portal_sessions WHERE session_hash = $1")
                    .bind(session_hash)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn create_draft(&self, draft: &Draft) -> Result<(), StoreError> {
                let now = $now;
                sqlx::query(&format!(
                    "INSERT INTO applications ({DRAFT_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {now}, {now})"
                ))
                .bind(&draft.application_id)
                .bind(&draft.user_id)
                .bind(&draft.click_day)
                .bind(&draft.category)
                .bind(&draft.answers)
                .bind(&draft.province)
                .bind(&draft.worker_name)
                .bind(draft.state.as_str())
                .execute(self.pool())
                .await
                .map_err(|e| taken_or(e, "an application with this id"))?;
                Ok(())
            }

            async fn office_applications(
                &self,
                office_kind: &str,
                province: &str,
                search: &OfficeSearch,
            ) -> Result<(Vec<OfficeRow>, u64), StoreError> {
                let text = search.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
                macro_rules! filtered {
                    ($sql:expr) => {
                        sqlx::query($sql)
                            .persistent(false)
                            .bind(office_kind)
                            .bind(province)
                            .bind(search.submission_id.clone())
                            .bind(search.received)
                            .bind(text.map(|t| contains_pattern(&t.to_lowercase())))
                            .bind(text.map(|t| contains_pattern(&t.to_uppercase())))
                            .bind(search.limit.min(i64::MAX as u64) as i64)
                            .bind(search.offset.min(i64::MAX as u64) as i64)
                    };
                }
                let count = format!(
                    "SELECT count(*) AS n, $7 AS l, $8 AS o {OFFICE_FROM} AND {OFFICE_FILTERS}"
                );
                let total: i64 =
                    sqlx::Row::try_get(&filtered!(&count).fetch_one(self.pool()).await?, "n")?;
                let page = format!(
                    "SELECT s.submission_id, s.application_id, s.click_day, s.category, \
                     s.province, s.received_at, s.body, s.rank, s.within_quota, \
                     u.full_name AS applicant, a.worker_name, \
                     d.delivered_at AS received_by_office, \
                     (SELECT o.outcome FROM office_outcomes o \
                      WHERE o.submission_id = s.submission_id AND o.office_kind = $1 \
                      ORDER BY o.id DESC LIMIT 1) AS outcome \
                     {OFFICE_FROM} AND {OFFICE_FILTERS} \
                     ORDER BY s.received_at, s.submission_id LIMIT $7 OFFSET $8"
                );
                let rows = filtered!(&page)
                    .fetch_all(self.pool())
                    .await?
                    .iter()
                    .map(rows::office_row)
                    .collect::<Result<_, _>>()?;
                Ok((rows, total.max(0) as u64))
            }

            async fn record_outcome(
                &self,
                outcome: &NewOutcome<'_>,
            ) -> Result<Recorded, StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                let found = sqlx::query(
                    "SELECT u.email, u.full_name, s.application_id FROM submissions s \
                     LEFT JOIN portal_users u ON u.account_id = s.account_id \
                     WHERE s.submission_id = $1 AND s.province = $2",
                )
                .bind(outcome.submission_id)
                .bind(outcome.province)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(found) = found else {
                    return Ok(Recorded::NotFound);
                };
                sqlx::query(&format!(
                    "INSERT INTO forwarding_deliveries (submission_id, office_kind, delivered_at) \
                     VALUES ($1, $2, {now}) ON CONFLICT (submission_id, office_kind) DO NOTHING"
                ))
                .bind(outcome.submission_id)
                .bind(outcome.office_kind)
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO office_outcomes \
                     (submission_id, office_kind, outcome, note, author_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, {now})"
                ))
                .bind(outcome.submission_id)
                .bind(outcome.office_kind)
                .bind(outcome.outcome)
                .bind(outcome.note)
                .bind(outcome.author_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                use sqlx::Row as _;
                let email: Option<String> = found.try_get("email")?;
                Ok(Recorded::Recorded(match email {
                    Some(email) => Some(Applicant {
                        email,
                        full_name: found.try_get("full_name")?,
                        application_id: found.try_get("application_id")?,
                    }),
                    None => None,
                }))
            }

            async fn outcomes(&self, submission_id: &str) -> Result<Vec<OutcomeEvent>, StoreError> {
                sqlx::query(
                    "SELECT office_kind, outcome, note, created_at FROM office_outcomes \
                     WHERE submission_id = $1 ORDER BY id",
                )
                .bind(submission_id)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::outcome_event)
                .collect()
            }

            async fn past_application(
                &self,
                application_id: &str,
            ) -> Result<Option<PastApplication>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {PAST} FROM application_history WHERE application_id = $1"
                ))
                .bind(application_id)
                .fetch_optional(self.pool())
                .await?
                .map(|r| rows::past_application(&r))
                .transpose()
            }

            async fn add_past_applications(
                &self,
                applications: &[PastApplication],
            ) -> Result<u64, StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                let mut added = 0;
                for a in applications {
                    added += sqlx::query(&format!(
                        "INSERT INTO application_history ({PAST}, imported_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {now}) \
                         ON CONFLICT (application_id) DO NOTHING"
                    ))
                    .bind(&a.application_id)
                    .bind(&a.user_id)
                    .bind(&a.click_day)
                    .bind(&a.category)
                    .bind(&a.province)
                    .bind(&a.worker_name)
                    .bind(&a.submission_id)
                    .bind(a.received_at)
                    .bind(&a.outcome)
                    .bind(&a.answers)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn search_past(
                &self,
                user_id: &str,
                search: &DraftSearch,
            ) -> Result<Vec<PastApplication>, StoreError> {
                // Past applications were all sent: a search for drafts
                // finds none of them.
                if matches!(search.state, Some(SearchState::ToComplete | SearchState::Ready)) {
                    return Ok(Vec::new());
                }
                let text = search.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
                sqlx::query(&format!(
                    "SELECT {PAST} FROM application_history \
                     WHERE (user_id = $1 OR user_id IN (SELECT user_id FROM portal_users \
                            WHERE parent_user_id = $1 AND NOT $2)) \
                     AND ($3 IS NULL OR application_id LIKE $3) \
                     AND ($4 IS NULL OR click_day = $4) \
                     AND ($5 IS NULL OR category = $5) \
                     AND ($6 IS NULL OR province = $6) \
                     AND ($7 IS NULL OR lower(worker_name) LIKE $7 ESCAPE '\\' \
                          OR application_id LIKE $8 ESCAPE '\\') \
                     ORDER BY application_id DESC LIMIT $9"
                ))
                .persistent(false)
                .bind(user_id)
                .bind(search.only_own)
                .bind(search.year.map(|y| format!("{y}-%")))
                .bind(search.click_day.clone())
                .bind(search.category.clone())
                .bind(search.province.clone())
                .bind(text.map(|t| contains_pattern(&t.to_lowercase())))
                .bind(text.map(|t| contains_pattern(&t.to_uppercase())))
                .bind(search.limit.min(i64::MAX as u64) as i64)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::past_application)
                .collect()
            }

            async fn draft(&self, application_id: &str) -> Result<Option<Draft>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {DRAFT_SELECT} FROM applications a {DRAFT_JOINS} \
                     WHERE a.application_id = $1"
                ))
                .bind(application_id)
                .fetch_optional(self.pool())
                .await?
                .map(|r| rows::draft(&r))
                .transpose()
            }

            async fn update_draft(&self, draft: &Draft) -> Result<bool, StoreError> {
                let now = $now;
                let done = sqlx::query(&format!(
                    "UPDATE applications SET answers = $3, province = $4, worker_name = $5, \
                     state = $6, updated_at = {now} \
                     WHERE application_id = $1 AND user_id = $2"
                ))
                .bind(&draft.application_id)
                .bind(&draft.user_id)
                .bind(&draft.answers)
                .bind(&draft.province)
                .bind(&draft.worker_name)
                .bind(draft.state.as_str())
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn open_ticket(&self, ticket: &NewTicket) -> Result<(), StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                sqlx::query(&format!(
                    "INSERT INTO tickets ({TICKET}) VALUES ($1, $2, $3, $4, 'open', NULL, {now}, {now})"
                ))
                .bind(&ticket.ticket_id)
                .bind(&ticket.user_id)
                .bind(&ticket.topic)
                .bind(&ticket.subject)
                .execute(&mut *tx)
                .await
                .map_err(|e| taken_or(e, "a ticket with this id"))?;
                sqlx::query(&format!(
                    "INSERT INTO ticket_events (ticket_id, author_id, kind, body, created_at) \
                     VALUES ($1, $2, 'opened', $3, {now})"
                ))
                .bind(&ticket.ticket_id)
                .bind(&ticket.user_id)
                .bind(&ticket.body)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ticket(&self, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
                sqlx::query(&format!("SELECT {TICKET} FROM tickets WHERE ticket_id = $1"))
                    .bind(ticket_id)
                    .fetch_optional(self.pool())
                    .await?
                    .map(|r| rows::ticket(&r))
                    .transpose()
            }

            async fn ticket_events(&self, ticket_id: &str) -> Result<Vec<TicketEvent>, StoreError> {
                sqlx::query(
                    "SELECT e.author_id, u.full_name AS author_name, e.kind, e.body, e.created_at \
                     FROM ticket_events e JOIN portal_users u ON u.user_id = e.author_id \
                     WHERE e.ticket_id = $1 ORDER BY e.id",
                )
                .bind(ticket_id)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::ticket_event)
                .collect()
            }

            async fn tickets(
                &self,
                user_id: Option<&str>,
                state: Option<TicketState>,
                limit: u64,
            ) -> Result<Vec<Ticket>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {TICKET} FROM tickets \
                     WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR state = $2) \
                     ORDER BY updated_at DESC, ticket_id LIMIT $3"
                ))
                .persistent(false)
                .bind(user_id)
                .bind(state.map(TicketState::as_str))
                .bind(limit.min(i64::MAX as u64) as i64)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::ticket)
                .collect()
            }

            async fn change_ticket(&self, change: &TicketChange<'_>) -> Result<bool, StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                let current: Option<String> =
                    sqlx::query_scalar("SELECT state FROM tickets WHERE ticket_id = $1")
                        .bind(change.ticket_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let allowed = current
                    .as_deref()
                    .and_then(TicketState::parse)
                    .is_some_and(|s| change.from.contains(&s));
                if !allowed {
                    return Ok(false);
                }
                // Only from the state just read: a concurrent change to
                // another state makes this touch nothing.
                let moved = sqlx::query(&format!(
                    "UPDATE tickets SET state = $2, operator_id = COALESCE($3, operator_id), \
                     updated_at = {now} WHERE ticket_id = $1 AND state = $4"
                ))
                .bind(change.ticket_id)
                .bind(change.state.as_str())
                .bind(change.operator_id)
                .bind(current.as_deref())
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(&format!(
                    "INSERT INTO ticket_events (ticket_id, author_id, kind, body, created_at) \
                     VALUES ($1, $2, $3, $4, {now})"
                ))
                .bind(change.ticket_id)
                .bind(change.author_id)
                .bind(change.kind)
                .bind(change.body)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn office_inbox(
                &self,
                office_kind: &str,
                province: &str,
                after: &str,
                limit: u64,
            ) -> Result<Vec<Forwarded>, StoreError> {
                sqlx::query(
                    "SELECT s.submission_id, s.account_id, s.application_id, s.click_day, \
                     s.category, s.province, s.form, s.received_at, s.body, s.rank, \
                     s.within_quota FROM submissions s \
                     WHERE s.province = $2 AND s.submission_id > $3 AND NOT EXISTS \
                     (SELECT 1 FROM forwarding_deliveries d \
                      WHERE d.submission_id = s.submission_id AND d.office_kind = $1) \
                     ORDER BY s.submission_id LIMIT $4",
                )
                .bind(office_kind)
                .bind(province)
                .bind(after)
                .bind(limit.min(i64::MAX as u64) as i64)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(rows::forwarded)
                .collect()
            }

            async fn mark_received(
                &self,
                office_kind: &str,
                province: &str,
                submission_ids: &[String],
            ) -> Result<u64, StoreError> {
                let now = $now;
                let mut tx = self.pool().begin().await?;
                let mut marked = 0;
                for id in submission_ids {
                    let done = sqlx::query(&format!(
                        "INSERT INTO forwarding_deliveries (submission_id, office_kind, delivered_at) \
                         SELECT submission_id, $2, {now} FROM submissions \
                         WHERE submission_id = $1 AND province = $3 \
                         ON CONFLICT (submission_id, office_kind) DO NOTHING"
                    ))
                    .bind(id)
                    .bind(office_kind)
                    .bind(province)
                    .execute(&mut *tx)
                    .await?;
                    marked += done.rows_affected();
                }
                tx.commit().await?;
                Ok(marked)
            }

            async fn search_drafts(
                &self,
                user_id: &str,
                search: &DraftSearch,
            ) -> Result<(Vec<Draft>, u64), StoreError> {
                let state = search.state.map(|s| match s {
                    SearchState::ToComplete => "to_complete",
                    SearchState::Ready => "ready",
                    SearchState::Sent => "sent",
                });
                let text = search.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
                let binds = (
                    search.year.map(|y| format!("{y}-%")),
                    search.click_day.clone(),
                    search.category.clone(),
                    search.province.clone(),
                    state,
                    text.map(|t| contains_pattern(&t.to_lowercase())),
                    text.map(|t| contains_pattern(&t.to_uppercase())),
                );
                // The user, and their sub-accounts unless only their own.
                let owners: Vec<String> = sqlx::query_scalar(
                    "SELECT $1 UNION ALL SELECT user_id FROM portal_users \
                     WHERE parent_user_id = $1 AND NOT $2",
                )
                .bind(user_id)
                .bind(search.only_own)
                .fetch_all(self.pool())
                .await?;
                let owners_in = owners_in(owners.len());
                macro_rules! filtered {
                    ($sql:expr) => {{
                        // Unprepared: PostgreSQL plans for the filters
                        // actually given, not a generic plan for all.
                        let mut query = sqlx::query($sql)
                            .persistent(false)
                            .bind(&binds.0)
                            .bind(&binds.1)
                            .bind(&binds.2)
                            .bind(&binds.3)
                            .bind(binds.4)
                            .bind(&binds.5)
                            .bind(&binds.6)
                            .bind(search.limit.min(i64::MAX as u64) as i64)
                            .bind(search.offset.min(i64::MAX as u64) as i64);
                        for owner in &owners {
                            query = query.bind(owner);
                        }
                        query
                    }};
                }
                // $8 and $9 are named in the count too: every bound
                // parameter must appear in the statement.
                let count = format!(
                    "SELECT count(*) AS n, $8 AS l, $9 AS o FROM applications a {DRAFT_JOINS} \
                     WHERE {owners_in} AND {SEARCH}"
                );
                let total: i64 =
                    sqlx::Row::try_get(&filtered!(&count).fetch_one(self.pool()).await?, "n")?;
                let page = format!(
                    "SELECT {DRAFT_SELECT} FROM applications a {DRAFT_JOINS} \
                     WHERE {owners_in} AND {SEARCH} \
                     ORDER BY a.updated_at DESC, a.application_id LIMIT $8 OFFSET $9"
                );
                let rows = filtered!(&page).fetch_all(self.pool()).await?;
                let drafts = rows.iter().map(rows::draft).collect::<Result<_, _>>()?;
                Ok((drafts, total as u64))
            }
        }
        }
    };
}

portal_store_for!(
    sqlite_backend,
    SqliteStore,
    sqlx::Sqlite,
    crate::sqlite::NOW
);
portal_store_for!(
    postgres_backend,
    PgStore,
    sqlx::Postgres,
    crate::postgres::NOW
);

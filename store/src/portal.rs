//! The portal's tables as values and as a contract: users, one-time links,
//! sessions and the applications compiled online.
//!
//! Both backends run the same SQL (numbered `$n` parameters work on SQLite
//! and PostgreSQL alike), so the queries are written once, in
//! [`portal_sql`](crate::portal_sql), and only the database clock differs.

use crate::StoreError;

/// Who a portal user is; decides what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    /// A private employer sending for themselves.
    Employer,
    /// An association (employers' organisation, patronato): may open
    /// sub-accounts that send on its behalf, and sees their applications.
    Association,
    /// A sub-account ("utenza") of an association.
    SubAccount,
    /// Sportello Unico, Questura or labour office of one province.
    Office,
    /// Help-desk operator.
    Operator,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Employer => "employer",
            UserKind::Association => "association",
            UserKind::SubAccount => "sub_account",
            UserKind::Office => "office",
            UserKind::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "employer" => UserKind::Employer,
            "association" => UserKind::Association,
            "sub_account" => UserKind::SubAccount,
            "office" => UserKind::Office,
            "operator" => UserKind::Operator,
            _ => return None,
        })
    }

    /// Users who send applications own a gateway account.
    pub fn sends(self) -> bool {
        matches!(
            self,
            UserKind::Employer | UserKind::Association | UserKind::SubAccount
        )
    }
}

/// A registration, validated by the portal; the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    /// Lower-cased.
    pub email: String,
    pub password_hash: String,
    pub kind: UserKind,
    pub full_name: String,
    pub codice_fiscale: String,
    pub parent_user_id: Option<String>,
    /// Offices: the province they serve.
    pub province: Option<String>,
    /// Offices: `sportello_unico`, `questura` or `labour_office`.
    pub office_kind: Option<String>,
    /// Offices made by an administrator are approved from the start.
    pub approved: bool,
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub password_hash: String,
    pub kind: UserKind,
    pub full_name: String,
    pub codice_fiscale: String,
    pub parent_user_id: Option<String>,
    pub province: Option<String>,
    pub office_kind: Option<String>,
    /// The gateway account, once the registration is confirmed.
    pub account_id: Option<String>,
    pub confirmed: bool,
    /// Offices: an operator (or the administrator who made it) approved it.
    pub approved: bool,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Confirm,
    Reset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::Reset => "reset",
        }
    }
}

/// A one-time link: only the hash of its secret is stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_hash: String,
    pub user_id: String,
    pub purpose: TokenPurpose,
    /// Valid for this long from the database's now.
    pub valid_for_micros: i64,
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session_hash: String,
    pub user_id: String,
    pub csrf_token: String,
    pub valid_for_micros: i64,
}

/// The state of an application compiled online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftState {
    /// "da completare".
    ToComplete,
    /// "pronta per l'invio".
    Ready,
}

impl DraftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftState::ToComplete => "to_complete",
            DraftState::Ready => "ready",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "to_complete" => Some(DraftState::ToComplete),
            "ready" => Some(DraftState::Ready),
            _ => None,
        }
    }
}

/// An application compiled on the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub application_id: String,
    pub user_id: String,
    pub click_day: String,
    pub category: String,
    /// Field id → text as typed, JSON.
    pub answers: String,
    pub province: Option<String>,
    pub worker_name: Option<String>,
    pub state: DraftState,
    /// Unix microseconds, database clock.
    pub created_at: i64,
    pub updated_at: i64,
    /// What became of it once sent: `None` until the store holds it.
    pub sent: Option<Sent>,
}

/// An application of a past click day (`clickday import-history`):
/// read-only, kept so the search spans the years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastApplication {
    pub application_id: String,
    pub user_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub worker_name: String,
    pub submission_id: Option<String>,
    /// The arrival stamp, Unix nanoseconds, when known.
    pub received_at: Option<i64>,
    /// `within_quota`, `beyond_quota`, `granted`, `rejected`, `withdrawn`
    /// or `unknown`.
    pub outcome: String,
    /// The form's fields as they were, a JSON object.
    pub answers: String,
}

/// The outcomes a past application may have.
pub const PAST_OUTCOMES: [&str; 6] = [
    "within_quota",
    "beyond_quota",
    "granted",
    "rejected",
    "withdrawn",
    "unknown",
];

/// A sent application as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub submission_id: String,
    /// The arrival stamp, Unix nanoseconds.
    pub received_at: u64,
    pub receipt_ready: bool,
    /// Place in its quota's ranking, once ranked.
    pub rank: Option<u64>,
    pub within_quota: Option<bool>,
}

/// Where an application stands, for search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchState {
    ToComplete,
    Ready,
    /// The store holds its submission.
    Sent,
}

/// Filters of the application search; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraftSearch {
    /// Only the user's own, not their sub-accounts'.
    pub only_own: bool,
    /// Year of the click day (application ids start with it).
    pub year: Option<u16>,
    pub click_day: Option<String>,
    pub category: Option<String>,
    pub province: Option<String>,
    pub state: Option<SearchState>,
    /// Part of the worker's name (any case) or of the application id.
    pub text: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// `text` as a `LIKE … ESCAPE '\'` pattern matching it anywhere.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Where a help-desk ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// Waiting for an operator.
    Open,
    /// An operator has taken it.
    InProgress,
    /// The operator asked the user for more information.
    WaitingUser,
    /// Answered and closed.
    Closed,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "open",
            TicketState::InProgress => "in_progress",
            TicketState::WaitingUser => "waiting_user",
            TicketState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => TicketState::Open,
            "in_progress" => TicketState::InProgress,
            "waiting_user" => TicketState::WaitingUser,
            "closed" => TicketState::Closed,
            _ => return None,
        })
    }
}

/// What happened to a ticket: `opened`, `taken`, `question`, `reply`
/// (the user's, after a question) or `answer` (which closes it).
pub const TICKET_EVENTS: [&str; 5] = ["opened", "taken", "question", "reply", "answer"];
/// Ticket topics.
pub const TICKET_TOPICS: [&str; 3] = ["technical", "functional", "legal"];

/// A new ticket with its first message.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub ticket_id: String,
    pub user_id: String,
    pub topic: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub ticket_id: String,
    pub user_id: String,
    pub topic: String,
    pub subject: String,
    pub state: TicketState,
    pub operator_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    pub author_id: String,
    pub author_name: String,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
}

/// A change to a ticket: the event, and the state and operator it leaves.
#[derive(Debug, Clone)]
pub struct TicketChange<'a> {
    pub ticket_id: &'a str,
    pub author_id: &'a str,
    pub kind: &'a str,
    pub body: &'a str,
    pub state: TicketState,
    /// The operator in charge after the change (`None` keeps it).
    pub operator_id: Option<&'a str>,
    /// The change applies only from one of these states.
    pub from: &'a [TicketState],
}

/// A submission forwarded to an office, as the office reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub submission_id: String,
    pub account_id: String,
    pub application_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub form: String,
    /// Unix nanoseconds.
    pub received_at: u64,
    /// The signed body exactly as received.
    pub body: Vec<u8>,
    pub rank: Option<u64>,
    pub within_quota: Option<bool>,
}

/// What an office may decide about an application, in order.
pub const OFFICE_OUTCOMES: [&str; 3] = ["in_review", "granted", "rejected"];

/// A forwarded application as an office's back office lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeRow {
    pub submission_id: String,
    pub application_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    /// Unix nanoseconds.
    pub received_at: u64,
    /// The signed body exactly as received.
    pub body: Vec<u8>,
    pub rank: Option<u64>,
    pub within_quota: Option<bool>,
    /// The portal user who sent it, when it came through the portal.
    pub applicant: Option<String>,
    pub worker_name: Option<String>,
    /// When this office marked it received (Unix microseconds).
    pub received_by_office: Option<i64>,
    /// This office's latest outcome.
    pub outcome: Option<String>,
}

/// Filters of an office's list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficeSearch {
    pub submission_id: Option<String>,
    /// Worker, applicant or application code.
    pub text: Option<String>,
    /// Only those this office marked received (true) or not (false).
    pub received: Option<bool>,
    pub offset: u64,
    pub limit: u64,
}

/// One step of an office's handling of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeEvent {
    pub office_kind: String,
    pub outcome: String,
    pub note: String,
    /// Unix microseconds.
    pub created_at: i64,
}

/// An outcome to record for `submission_id` by an office of `province`.
#[derive(Debug, Clone)]
pub struct NewOutcome<'a> {
    pub office_kind: &'a str,
    pub province: &'a str,
    pub submission_id: &'a str,
    pub outcome: &'a str,
    pub note: &'a str,
    pub author_id: &'a str,
}

/// Who sent an application through the portal, to tell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applicant {
    pub email: String,
    pub full_name: String,
    pub application_id: String,
}

/// What recording an outcome did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No such submission in the office's province.
    NotFound,
    /// Recorded; the applicant when the portal knows them.
    Recorded(Option<Applicant>),
}

/// The store contract of the portal, on top of the store's (the portal
/// queues its emails through the same outbox as the persister).
#[async_trait::async_trait]
pub trait PortalStore: crate::Store {
    /// Creates an unconfirmed user with its confirmation link, all or
    /// nothing; an email already registered is `StoreError::Taken`.
    async fn create_user(&self, user: &NewUser, confirm: &NewToken) -> Result<(), StoreError> {
        self.create_users(&[(user, confirm)]).await
    }

    /// Creates users with their links in one transaction: all of them or,
    /// on any error (an email already registered: `StoreError::Taken`),
    /// none.
    async fn create_users(&self, users: &[(&NewUser, &NewToken)]) -> Result<(), StoreError>;

    async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError>;

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Offices that confirmed their registration and wait for an
    /// operator's approval, oldest first.
    async fn pending_offices(&self) -> Result<Vec<User>, StoreError>;

    /// Approves a pending office; false if there is no such office.
    async fn approve_office(&self, user_id: &str) -> Result<bool, StoreError>;

    /// The sub-accounts of an association, oldest first.
    async fn sub_accounts(&self, parent_user_id: &str) -> Result<Vec<User>, StoreError>;

    /// Adds a one-time link (a password reset, a new confirmation link).
    async fn add_token(&self, token: &NewToken) -> Result<(), StoreError>;

    /// Uses a confirmation link: marks it used, confirms the user and, for
    /// users who send, opens their gateway account. `None` when the link
    /// is unknown, used or expired.
    async fn confirm_user(&self, token_hash: &str) -> Result<Option<User>, StoreError>;

    /// Whether a reset link is known, unused and unexpired, without using
    /// it: the cheap check before a password is hashed.
    async fn reset_link_is_live(&self, token_hash: &str) -> Result<bool, StoreError>;

    /// Uses a reset link: sets the new password, ends every session of
    /// the user and confirms them (the link proves the address: a
    /// sub-account starts this way). `None` when the link is unknown, used
    /// or expired.
    async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError>;

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// The user and CSRF token of a live session.
    async fn session(&self, session_hash: &str) -> Result<Option<(User, String)>, StoreError>;

    async fn end_session(&self, session_hash: &str) -> Result<(), StoreError>;

    async fn create_draft(&self, draft: &Draft) -> Result<(), StoreError>;

    async fn open_ticket(&self, ticket: &NewTicket) -> Result<(), StoreError>;

    async fn ticket(&self, ticket_id: &str) -> Result<Option<Ticket>, StoreError>;

    /// The ticket's history, oldest first.
    async fn ticket_events(&self, ticket_id: &str) -> Result<Vec<TicketEvent>, StoreError>;

    /// A user's tickets (`Some`), or every ticket in `state` for operators;
    /// newest change first, at most `limit`.
    async fn tickets(
        &self,
        user_id: Option<&str>,
        state: Option<TicketState>,
        limit: u64,
    ) -> Result<Vec<Ticket>, StoreError>;

    /// Records an event and moves the ticket, all or nothing; false (and
    /// nothing written) when the ticket is not in one of `change.from`.
    async fn change_ticket(&self, change: &TicketChange<'_>) -> Result<bool, StoreError>;

    /// Submissions of `province` not yet marked received by `office_kind`,
    /// by submission id after `after`, at most `limit`.
    async fn office_inbox(
        &self,
        office_kind: &str,
        province: &str,
        after: &str,
        limit: u64,
    ) -> Result<Vec<Forwarded>, StoreError>;

    /// Marks these submissions received by the office; ids of another
    /// province or unknown are skipped. How many were newly marked.
    async fn mark_received(
        &self,
        office_kind: &str,
        province: &str,
        submission_ids: &[String],
    ) -> Result<u64, StoreError>;

    async fn draft(&self, application_id: &str) -> Result<Option<Draft>, StoreError>;

    /// The applications forwarded to an office (its kind, its province)
    /// that match `search`, in arrival order, one page; and how many match.
    async fn office_applications(
        &self,
        office_kind: &str,
        province: &str,
        search: &OfficeSearch,
    ) -> Result<(Vec<OfficeRow>, u64), StoreError>;

    /// Records an office's outcome (and marks the application received by
    /// it), in one transaction.
    async fn record_outcome(&self, outcome: &NewOutcome<'_>) -> Result<Recorded, StoreError>;

    /// Every office's steps for a submission, oldest first.
    async fn outcomes(&self, submission_id: &str) -> Result<Vec<OutcomeEvent>, StoreError>;

    /// A past click day's application, by id.
    async fn past_application(
        &self,
        application_id: &str,
    ) -> Result<Option<PastApplication>, StoreError>;

    /// Adds past applications in one transaction; ids already there are
    /// left as they are. How many were added.
    async fn add_past_applications(
        &self,
        applications: &[PastApplication],
    ) -> Result<u64, StoreError>;

    /// The past applications a user may see (their own and, for an
    /// association, its sub-accounts') that match `search`'s year, click
    /// day, category, province and text, newest id first, at most
    /// `search.limit`.
    async fn search_past(
        &self,
        user_id: &str,
        search: &DraftSearch,
    ) -> Result<Vec<PastApplication>, StoreError>;

    /// Saves answers and state of a draft of `draft.user_id`; false if there
    /// is no such draft of that user.
    async fn update_draft(&self, draft: &Draft) -> Result<bool, StoreError>;

    /// The drafts a user may see (their own and, for an association, its
    /// sub-accounts') that match `search`, newest change first, one page;
    /// and how many match in all.
    async fn search_drafts(
        &self,
        user_id: &str,
        search: &DraftSearch,
    ) -> Result<(Vec<Draft>, u64), StoreError>;
}

//! `clickday staff add`: help-desk operators and office accounts, which
//! never register themselves. The person gets an email with a link to
//! choose a password.

use super::UsageError;
use clickday_config::Config;
use clickday_portal::staff::{StaffError, StaffInvite, invite};
use clickday_store::portal::UserKind;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// Help-desk operator: sees and answers every ticket.
    Operator,
    /// Sportello Unico, Questura or labour office of one province: reads
    /// that province's applications through the API.
    Office,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Creates a staff user and emails them a link to choose a password.
    Add {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        email: String,
        /// Full name, or the office's name.
        #[arg(long)]
        name: String,
        /// Offices: the province served (two capital letters).
        #[arg(long)]
        province: Option<String>,
        /// Offices: sportello_unico, questura or labour_office.
        #[arg(long)]
        office: Option<String>,
    },
}

pub async fn run(cfg: &Config, action: Action) -> anyhow::Result<()> {
    let Action::Add {
        kind,
        email,
        name,
        province,
        office,
    } = action;
    let store = super::open_portal_store(cfg).await?;
    let staff = StaffInvite {
        kind: match kind {
            Kind::Operator => UserKind::Operator,
            Kind::Office => UserKind::Office,
        },
        email,
        full_name: name,
        province,
        office_kind: office,
    };
    match invite(cfg, &*store, &staff).await {
        Ok(user_id) => {
            println!("{user_id}");
            eprintln!(
                "invitation queued for {}: the persister's mailer sends it",
                staff.email
            );
            Ok(())
        }
        Err(StaffError::Invalid(message)) => Err(UsageError(message).into()),
        Err(StaffError::Store(e)) => Err(e.into()),
    }
}

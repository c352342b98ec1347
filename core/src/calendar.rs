//! The click-day calendar: which click days exist, their windows, their
//! quota categories and the provinces known to the configuration.

use crate::problem::Problem;
use crate::submission::Application;
use crate::time::format_rfc3339_nanos;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One click day: applications are accepted in `[opens_at, closes_at)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickDay {
    pub id: String,
    /// Unix nanoseconds of the opening instant (inclusive).
    pub opens_at: u64,
    /// Unix nanoseconds of the closing instant (exclusive).
    pub closes_at: u64,
    pub categories: BTreeSet<String>,
    /// Places per (category, province); a pair not listed has none.
    pub quotas: BTreeMap<(String, String), u32>,
}

/// The validated calendar and province list, checked on every submission.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    days: HashMap<String, ClickDay>,
    /// Ids in opening order, for listing.
    order: Vec<String>,
    provinces: BTreeSet<String>,
}

impl Calendar {
    pub fn new(days: Vec<ClickDay>, provinces: BTreeSet<String>) -> Self {
        let mut sorted = days;
        sorted.sort_by_key(|d| (d.opens_at, d.id.clone()));
        let order = sorted.iter().map(|d| d.id.clone()).collect();
        Calendar {
            days: sorted.into_iter().map(|d| (d.id.clone(), d)).collect(),
            order,
            provinces,
        }
    }

    pub fn days(&self) -> impl Iterator<Item = &ClickDay> {
        self.order.iter().filter_map(|id| self.days.get(id))
    }

    pub fn get(&self, id: &str) -> Option<&ClickDay> {
        self.days.get(id)
    }

    /// The province codes, in order.
    pub fn provinces(&self) -> impl Iterator<Item = &str> {
        self.provinces.iter().map(String::as_str)
    }

    pub fn knows_province(&self, code: &str) -> bool {
        self.provinces.contains(code)
    }

    /// Checks 7 and 8 of PROTOCOL.md: the click day, category and province
    /// exist, and the arrival stamp falls inside the window.
    pub fn check(&self, app: &Application, received_at: u64) -> Result<(), Problem> {
        let day = self
            .days
            .get(&app.click_day)
            .ok_or_else(|| Problem::UnknownClickDay(app.click_day.clone()))?;
        if !day.categories.contains(&app.category) {
            return Err(Problem::UnknownCategory {
                click_day: day.id.clone(),
                category: app.category.clone(),
            });
        }
        if !self.provinces.contains(&app.province) {
            return Err(Problem::UnknownProvince(app.province.clone()));
        }
        if received_at < day.opens_at {
            return Err(Problem::TooEarly {
                opens_at: format_rfc3339_nanos(day.opens_at),
            });
        }
        if received_at >= day.closes_at {
            return Err(Problem::Closed {
                closes_at: format_rfc3339_nanos(day.closes_at),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar() -> Calendar {
        Calendar::new(
            vec![ClickDay {
                id: "d1".into(),
                opens_at: 100,
                closes_at: 200,
                categories: ["c1".to_string()].into(),
                quotas: BTreeMap::new(),
            }],
            ["RM".to_string()].into(),
        )
    }

    fn app(day: &str, category: &str, province: &str) -> Application {
        Application {
            application_id: "a".into(),
            click_day: day.into(),
            category: category.into(),
            province: province.into(),
            form: "f".into(),
        }
    }

    #[test]
    fn window_is_half_open() {
        let cal = calendar();
        assert_eq!(cal.check(&app("d1", "c1", "RM"), 100), Ok(()));
        assert_eq!(cal.check(&app("d1", "c1", "RM"), 199), Ok(()));
        assert_eq!(
            cal.check(&app("d1", "c1", "RM"), 99).unwrap_err().code(),
            "too_early"
        );
        assert_eq!(
            cal.check(&app("d1", "c1", "RM"), 200).unwrap_err().code(),
            "closed"
        );
    }

    #[test]
    fn unknown_names_are_refused_in_protocol_order() {
        let cal = calendar();
        assert_eq!(
            cal.check(&app("d2", "x", "XX"), 150).unwrap_err().code(),
            "unknown_click_day"
        );
        assert_eq!(
            cal.check(&app("d1", "x", "XX"), 150).unwrap_err().code(),
            "unknown_category"
        );
        assert_eq!(
            cal.check(&app("d1", "c1", "XX"), 150).unwrap_err().code(),
            "unknown_province"
        );
        // A known-bad name wins over a closed window: cheap checks first.
        assert_eq!(
            cal.check(&app("d1", "c1", "XX"), 999).unwrap_err().code(),
            "unknown_province"
        );
    }
}

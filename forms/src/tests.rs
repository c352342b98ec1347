use super::*;
use std::collections::BTreeSet;

/// A two-page domestic-work model, written as configuration would be.
fn model() -> ApplicationModel {
    serde_json::from_value(serde_json::json!({
        "category": "lavoro-domestico",
        "title": {"it": "Lavoro domestico", "en": "Domestic work"},
        "pages": [
            {"id": "datore", "title": {"it": "Datore di lavoro", "en": "Employer"}, "fields": [
                {"id": "datore_cf", "type": "codice_fiscale", "required": true,
                 "label": {"it": "Codice fiscale", "en": "Tax code"}},
                {"id": "datore_email", "type": "email",
                 "label": {"it": "Email", "en": "Email"}},
                {"id": "provincia", "type": "province", "required": true,
                 "label": {"it": "Provincia", "en": "Province"}}
            ]},
            {"id": "lavoratore", "title": {"it": "Lavoratore", "en": "Worker"}, "fields": [
                {"id": "lav_cognome", "type": "text", "max_len": 5, "required": true,
                 "label": {"it": "Cognome", "en": "Surname"}},
                {"id": "lav_cf", "type": "codice_fiscale",
                 "label": {"it": "Codice fiscale", "en": "Tax code"}},
                {"id": "lav_nascita", "type": "date", "not_after_today": true, "required": true,
                 "label": {"it": "Data di nascita", "en": "Date of birth"}},
                {"id": "lav_sesso", "type": "choice", "required": true,
                 "label": {"it": "Sesso", "en": "Sex"},
                 "options": [{"value": "F", "label": {"it": "F", "en": "F"}},
                             {"value": "M", "label": {"it": "M", "en": "M"}}]},
                {"id": "ore", "type": "integer", "min": 20, "max": 54,
                 "label": {"it": "Ore settimanali", "en": "Weekly hours"}}
            ]}
        ],
        "rules": [{"rule": "codice_fiscale_matches_birth", "codice_fiscale": "lav_cf",
                   "birth_date": "lav_nascita", "sex": "lav_sesso"}]
    }))
    .unwrap()
}

fn calendar() -> Calendar {
    Calendar::new(
        Vec::new(),
        BTreeSet::from(["RM".to_string(), "MI".to_string()]),
    )
}

fn answers(pairs: &[(&str, &str)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn complete() -> Answers {
    answers(&[
        ("datore_cf", "80213330584"),
        ("provincia", "rm"),
        ("lav_cognome", "Rossi"),
        ("lav_cf", "RSSMRA85T10A562S"),
        ("lav_nascita", "1985-12-10"),
        ("lav_sesso", "M"),
        ("ore", "40"),
    ])
}

#[test]
fn a_complete_consistent_application_is_ready() {
    let cal = calendar();
    let cx = CheckContext {
        today: Date::constant(2026, 11, 26),
        calendar: &cal,
    };
    let m = model();
    m.validate().unwrap();
    assert_eq!(m.completeness(&complete(), cx), Completeness::Ready);
}

#[test]
fn each_field_type_reports_its_own_problem() {
    let cal = calendar();
    let cx = CheckContext {
        today: Date::constant(2026, 11, 26),
        calendar: &cal,
    };
    let m = model();
    let cases: &[(&str, &str, FieldProblem)] = &[
        ("datore_cf", "", FieldProblem::Required),
        ("datore_email", "mario@", FieldProblem::NotAnEmail),
        ("provincia", "XX", FieldProblem::UnknownProvince),
        ("lav_cognome", "Rossini", FieldProblem::TooLong { max: 5 }),
        ("lav_nascita", "10/12/1985", FieldProblem::NotADate),
        ("lav_nascita", "2027-01-01", FieldProblem::InTheFuture),
        ("lav_sesso", "X", FieldProblem::NotAnOption),
        ("ore", "quaranta", FieldProblem::NotAnInteger),
        ("ore", "60", FieldProblem::OutOfRange { min: 20, max: 54 }),
    ];
    for (field, value, problem) in cases {
        let mut a = complete();
        a.insert(field.to_string(), value.to_string());
        let Completeness::ToComplete(errors) = m.completeness(&a, cx) else {
            panic!("{field}={value:?} passed");
        };
        assert_eq!(
            errors.get(*field),
            Some(problem),
            "{field}={value:?}: {errors:?}"
        );
        assert!(!problem.message(Lang::It).is_empty() && !problem.message(Lang::En).is_empty());
    }
    let mut a = complete();
    a.insert("lav_cf".into(), "RSSMRA85T10A562X".into());
    let Completeness::ToComplete(errors) = m.completeness(&a, cx) else {
        panic!("a bad check character passed");
    };
    let problem = &errors["lav_cf"];
    assert!(matches!(problem, FieldProblem::CodiceFiscale(_)));
    assert!(problem.message(Lang::It).contains("controllo"));
}

#[test]
fn the_worker_code_must_agree_with_birth_date_and_sex() {
    let cal = calendar();
    let cx = CheckContext {
        today: Date::constant(2026, 11, 26),
        calendar: &cal,
    };
    let m = model();
    for (field, value) in [("lav_nascita", "1985-12-11"), ("lav_sesso", "F")] {
        let mut a = complete();
        a.insert(field.into(), value.into());
        let Completeness::ToComplete(errors) = m.completeness(&a, cx) else {
            panic!("{field}={value} agreed with the codice fiscale");
        };
        assert_eq!(
            errors.get("lav_nascita"),
            Some(&FieldProblem::DisagreesWithCodiceFiscale)
        );
    }
    // An optional code left empty: the rule has nothing to compare.
    let mut a = complete();
    a.remove("lav_cf");
    assert_eq!(m.completeness(&a, cx), Completeness::Ready);
}

#[test]
fn a_page_checks_its_own_fields_only() {
    let cal = calendar();
    let cx = CheckContext {
        today: Date::constant(2026, 11, 26),
        calendar: &cal,
    };
    let m = model();
    let first = m.page("datore").unwrap();
    let a = answers(&[("datore_cf", "80213330584"), ("provincia", "MI")]);
    assert!(
        m.check_page(first, &a, cx).is_empty(),
        "page 2 is not page 1's business"
    );
    let second = m.page("lavoratore").unwrap();
    let errors = m.check_page(second, &a, cx);
    assert_eq!(
        errors.keys().map(String::as_str).collect::<Vec<_>>(),
        ["lav_cognome", "lav_nascita", "lav_sesso"]
    );
}

#[test]
fn broken_models_are_refused_with_the_reason() {
    let mut m = model();
    m.rules = vec![Rule::CodiceFiscaleMatchesBirth {
        codice_fiscale: "lav_cf".into(),
        birth_date: "nascita".into(),
        sex: None,
    }];
    assert!(m.validate().unwrap_err().contains("unknown field nascita"));
    let mut m = model();
    let dup = m.pages[0].fields[0].clone();
    m.pages[1].fields.push(dup);
    assert!(m.validate().unwrap_err().contains("datore_cf twice"));
    let mut m = model();
    m.pages[0].fields.retain(|f| f.id != "provincia");
    assert!(m.validate().unwrap_err().contains("`provincia`"));
}

#[test]
fn emails_are_checked_for_shape_only() {
    for good in ["a@b.it", "mario.rossi+cd@example.com"] {
        assert!(looks_like_email(good), "{good}");
    }
    for bad in [
        "", "a", "a@b", "@b.it", "a@@b.it", "a b@c.it", "a@.it", "a@b.it.",
    ] {
        assert!(!looks_like_email(bad), "{bad}");
    }
}

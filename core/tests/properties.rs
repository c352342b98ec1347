//! Property tests of what the gateway decodes from strangers (issue 13):
//! the body parser, the header values (key id, signature) and admission
//! tickets. Arbitrary input never panics, and whatever is accepted
//! round-trips unchanged.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_core::keys::{decode_signature, encode_signature};
use clickday_core::submission::check_sane;
use clickday_core::{Application, ArrivalStamp, KeyId, Ticket, TicketKeys};
use proptest::prelude::*;

/// A body of the application's shape with `data` made of arbitrary JSON
/// (strings, numbers, nesting): the fields must come back as sent.
fn application() -> impl Strategy<Value = (serde_json::Value, Application)> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
    ];
    let data = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    (
        "[A-Za-z0-9_-]{1,64}",
        "\\PC{1,20}",
        "[a-z-]{1,30}",
        "[A-Z]{2}",
        "[a-z0-9-]{1,32}",
        prop::collection::btree_map("[a-z]{1,8}", data, 0..6),
    )
        .prop_map(|(id, day, category, province, form, data)| {
            let body = serde_json::json!({
                "application_id": id, "click_day": day, "category": category,
                "province": province, "form": form,
                "data": serde_json::Value::Object(data.into_iter().collect()),
            });
            let expected = Application {
                application_id: id,
                click_day: day,
                category,
                province,
                form,
            };
            (body, expected)
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_body_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = check_sane(&bytes);
        if let Ok(app) = Application::parse(&bytes) {
            // Accepted: the same fields as any JSON reader finds.
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(value["application_id"].as_str(), Some(app.application_id.as_str()));
            prop_assert_eq!(value["province"].as_str(), Some(app.province.as_str()));
        }
    }

    #[test]
    fn a_well_formed_application_is_accepted_with_its_fields((body, expected) in application()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        prop_assert_eq!(Application::parse(&bytes), Ok(expected));
    }

    #[test]
    fn nesting_past_the_limit_is_refused(depth in 33usize..200) {
        let body = format!(
            r#"{{"application_id":"a","click_day":"d","category":"c","province":"RM","form":"f","data":{}1{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        );
        prop_assert!(Application::parse(body.as_bytes()).is_err());
    }

    #[test]
    fn arbitrary_header_values_never_panic(text in "\\PC{0,100}", bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = text.parse::<KeyId>();
        let _ = decode_signature(text.as_bytes());
        let _ = decode_signature(&bytes);
    }

    #[test]
    fn key_ids_and_signatures_round_trip(raw in any::<[u8; 16]>(), sig in any::<[u8; 32]>(), sig2 in any::<[u8; 32]>()) {
        let id = KeyId::from_raw(raw);
        prop_assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&sig);
        bytes[32..].copy_from_slice(&sig2);
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        let text = encode_signature(&signature);
        prop_assert_eq!(decode_signature(text.as_bytes()).unwrap(), signature);
    }

    #[test]
    fn arbitrary_tickets_never_panic_and_are_never_accepted(text in "\\PC{0,600}") {
        let keys = TicketKeys::new([7; 32], []);
        prop_assert!(keys.open(&text).is_err());
    }

    #[test]
    fn tickets_round_trip_and_any_altered_character_is_refused(
        key_id in any::<[u8; 16]>(), body_sha256 in any::<[u8; 32]>(),
        unix_nanos in any::<u64>(), node in any::<u16>(), seq in any::<u64>(), expires_at in any::<u64>(),
        at in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_-]",
    ) {
        let keys = TicketKeys::new([9; 32], [[8; 32]]);
        let ticket = Ticket {
            key_id: KeyId::from_raw(key_id),
            body_sha256,
            stamp: ArrivalStamp { unix_nanos, node, seq },
            expires_at,
        };
        let text = keys.issue(&ticket);
        prop_assert_eq!(keys.open(&text), Ok(ticket));
        let at = at.index(text.len());
        let mut altered = text.clone().into_bytes();
        prop_assume!(altered[at] != replacement.as_bytes()[0]);
        altered[at] = replacement.as_bytes()[0];
        prop_assert!(keys.open(std::str::from_utf8(&altered).unwrap()).is_err());
    }
}

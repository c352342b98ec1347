//! Admission tickets (PROTOCOL v1.1): a submission whose body was read but
//! could not be made durable gets a `503` with a ticket, and its resend
//! keeps the first arrival — in the answer, the queue and so the ranking.
//! Tickets for other bytes or keys, or not issued by the deployment, are
//! `400 bad_ticket`; an expired one is ignored; the calendar judges the
//! stamp kept.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use bytes::Bytes;
use clickday_core::time::{format_rfc3339_nanos, parse_rfc3339};
use clickday_core::{ArrivalStamp, KeyId, Ticket, TicketKeys, body_digest};
use clickday_testkit::{Applicant, Client, Proto, Reply, eventually};
use common::{Backend, TestGateway, body, over_every_protocol};
use std::time::Duration;

/// Sends `payload` signed by `who`, with `ticket` when given.
async fn send(c: &mut Client, who: &Applicant, payload: &[u8], ticket: Option<&str>) -> Reply {
    let mut request = c.submission(who, payload);
    if let Some(ticket) = ticket {
        request = request.header("clickday-ticket", ticket);
    }
    c.send(request.body(Bytes::copy_from_slice(payload)).unwrap())
        .await
        .unwrap()
}

over_every_protocol!(a_ticket_keeps_the_first_arrival_across_a_redis_outage => a_ticket_keeps_the_first_arrival);

async fn a_ticket_keeps_the_first_arrival(proto: Proto) {
    let mut gw = TestGateway::start(Backend::Redis, "enqueue_timeout_ms = 500").await;
    let mut c = gw.client(proto).await;
    let alice = Applicant::new(1);
    let payload = body("ticketed");
    gw.redis.as_mut().unwrap().kill();
    let refused = send(&mut c, &alice, &payload, None).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (503, "unavailable".into())
    );
    let ticket = refused.header("clickday-ticket").unwrap().to_string();
    let doc = refused.json();
    assert_eq!(doc["ticket"], ticket.as_str());
    assert!(refused.header("retry-after").is_some());
    let kept = doc["received_at"].as_str().unwrap().to_string();
    assert_eq!(parse_rfc3339(&kept).unwrap(), common::open_instant());
    // Expires a quarter of an hour after the click day closes (20:00 CET).
    assert_eq!(doc["ticket_expires_at"], "2011-01-31T19:15:00.000000000Z");

    // An hour and a half later Redis is back; the resend keeps its place.
    gw.set_now("2011-01-31T09:30:00+01:00");
    gw.redis.as_mut().unwrap().restart();
    let accepted = eventually("the resend accepted", Duration::from_secs(20), async || {
        let r = send(&mut c, &alice, &payload, Some(&ticket)).await;
        (r.status == 202).then_some(r)
    })
    .await;
    assert_eq!(accepted.json()["received_at"], kept.as_str(), "{proto:?}");
    let records = gw.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(format_rfc3339_nanos(records[0].received_at()), kept);
    assert_eq!(records[0].submission_id, accepted.json()["submission_id"]);
    // Resent again, with or without the ticket: the original, once.
    for ticket in [Some(ticket.as_str()), None] {
        let again = send(&mut c, &alice, &payload, ticket).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.json()["received_at"], kept.as_str());
    }
    assert_eq!(gw.records().await.len(), 1);
}

/// The deployment's ticket keys, read from the gateway's key file, to mint
/// tickets a real gateway could have issued.
fn keys(gw: &TestGateway) -> TicketKeys {
    TicketKeys::parse(&std::fs::read_to_string(&gw.cfg.gateway.ticket_key_file).unwrap()).unwrap()
}

fn minted(gw: &TestGateway, who: &Applicant, payload: &[u8], at: &str, expires: &str) -> String {
    keys(gw).issue(&Ticket {
        key_id: who.key_id().parse::<KeyId>().unwrap(),
        body_sha256: body_digest(payload),
        stamp: ArrivalStamp {
            unix_nanos: parse_rfc3339(at).unwrap(),
            node: 3,
            seq: 7,
        },
        expires_at: parse_rfc3339(expires).unwrap(),
    })
}

over_every_protocol!(tickets_for_other_bytes_keys_or_deployments_are_refused => bad_tickets_are_refused);

async fn bad_tickets_are_refused(proto: Proto) {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mut c = gw.client(proto).await;
    let (alice, bob) = (Applicant::new(1), Applicant::new(2));
    let payload = body("mine");
    let at = "2011-01-31T08:00:01+01:00";
    let until = "2011-01-31T21:00:00+01:00";
    let other_deployment = TicketKeys::new([42; 32], []).issue(&Ticket {
        key_id: alice.key_id().parse().unwrap(),
        body_sha256: body_digest(&payload),
        stamp: ArrivalStamp {
            unix_nanos: parse_rfc3339(at).unwrap(),
            node: 3,
            seq: 7,
        },
        expires_at: parse_rfc3339(until).unwrap(),
    });
    for (what, ticket) in [
        ("garbage", "not-a-ticket".to_string()),
        ("another deployment's", other_deployment),
        (
            "for other bytes",
            minted(&gw, &alice, &body("other"), at, until),
        ),
        ("for another key", minted(&gw, &bob, &payload, at, until)),
    ] {
        let r = send(&mut c, &alice, &payload, Some(&ticket)).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "bad_ticket".into()),
            "{proto:?}: {what}"
        );
    }
    assert!(gw.records().await.is_empty(), "nothing queued");
    // The bad ticket goes after the signature: a forged signature with a
    // garbage ticket is still bad_signature.
    let mut forged = c.submission(&alice, &payload);
    forged = forged
        .header("clickday-ticket", "not-a-ticket")
        .header("clickday-signature", "A".repeat(86));
    let r = c
        .send(forged.body(Bytes::from(payload.clone())).unwrap())
        .await
        .unwrap();
    assert_eq!(r.code(), "bad_signature");
}

over_every_protocol!(the_calendar_judges_the_stamp_a_ticket_keeps => the_calendar_judges_the_kept_stamp);

async fn the_calendar_judges_the_kept_stamp(proto: Proto) {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mut c = gw.client(proto).await;
    let alice = Applicant::new(1);
    let until = "2011-01-31T20:15:00+01:00";

    // Stamped before the opening: too early, even if resent later.
    let early = body("early");
    let ticket = minted(&gw, &alice, &early, "2011-01-31T07:59:59+01:00", until);
    let r = send(&mut c, &alice, &early, Some(&ticket)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (425, "too_early".into()),
        "{proto:?}"
    );

    // Stamped before the close, resent after it (ticket still valid): in.
    gw.set_now("2011-01-31T20:05:00+01:00");
    let late = body("late");
    let kept = "2011-01-31T19:59:59+01:00";
    let ticket = minted(&gw, &alice, &late, kept, until);
    let r = send(&mut c, &alice, &late, Some(&ticket)).await;
    assert_eq!(r.status, 202, "{proto:?}: {:?}", r.body);
    assert_eq!(
        r.json()["received_at"],
        format_rfc3339_nanos(parse_rfc3339(kept).unwrap()).as_str()
    );

    // Expired: ignored, stamped anew — and now that is after the close.
    gw.set_now("2011-01-31T20:20:00+01:00");
    let expired = body("expired");
    let ticket = minted(&gw, &alice, &expired, kept, until);
    let r = send(&mut c, &alice, &expired, Some(&ticket)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "closed".into()),
        "{proto:?}"
    );
    assert_eq!(gw.records().await.len(), 1);
}

/// An expired ticket during the window is ignored: the resend is stamped
/// at its own arrival.
#[tokio::test]
async fn an_expired_ticket_is_stamped_anew() {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mut c = gw.client(Proto::Http2).await;
    let alice = Applicant::new(1);
    let payload = body("stale");
    let ticket = minted(
        &gw,
        &alice,
        &payload,
        "2011-01-31T08:00:00.01+01:00",
        "2011-01-31T08:00:00.02+01:00",
    );
    let r = send(&mut c, &alice, &payload, Some(&ticket)).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        parse_rfc3339(r.json()["received_at"].as_str().unwrap()).unwrap(),
        common::open_instant(),
        "the gateway's own instant, not the ticket's"
    );
    let metrics = gw.metrics().await;
    assert_eq!(
        clickday_testkit::client::counter(
            &metrics,
            "clickday_gateway_tickets_total",
            "event=\"expired\""
        ),
        1
    );
}

//! PROTOCOL.md end to end: every problem code, in check order, over
//! HTTP/1.1 and HTTP/2 with TLS and HTTP/3 over QUIC, on the SQLite and
//! Redis queues. One test body per behaviour, run for each protocol and
//! backend.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use bytes::Bytes;
use clickday_testkit::{Applicant, Proto};
use common::{Backend, TestGateway, body, over_every_protocol};

async fn every_problem_code(backend: Backend, proto: Proto) {
    let gw = TestGateway::start(backend, "body_limit_bytes = 2048").await;
    let alice = Applicant::new(1);
    let mallory = Applicant::new(999); // never registered
    {
        let tag = format!("{proto:?}");
        let mut c = gw.client(proto).await;
        let good = body(&format!("ok-{tag}"));

        // 8: the window, by the injected clock. Stamps never go back, so
        // time only moves forward here: early, exactly open, then later.
        let early = body(&format!("early-{tag}"));
        gw.set_now("2011-01-31T07:59:59.999999999+01:00");
        let r = c.submit(&alice, &early).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (425, "too_early".into()),
            "{tag}"
        );
        assert_eq!(r.json()["opens_at"], "2011-01-31T07:00:00.000000000Z");
        gw.set_now("2011-01-31T08:00:00+01:00");
        let r = c.submit(&alice, &early).await.unwrap();
        assert_eq!(r.status, 202, "opens_at is inclusive");
        assert_eq!(r.json()["received_at"], "2011-01-31T07:00:00.000000000Z");
        gw.set_now("2011-01-31T08:00:00.051+01:00");

        // Accepted: 202 with id and a 9-digit UTC stamp.
        let r = c.submit(&alice, &good).await.unwrap();
        assert_eq!(r.status, 202, "{tag}: {:?}", r.body);
        let j = r.json();
        assert_eq!(j["status"], "queued");
        assert_eq!(j["duplicate"], false);
        assert_eq!(j["received_at"], "2011-01-31T07:00:00.051000000Z");
        assert!(
            j["submission_id"].as_str().unwrap().ends_with("-00003"),
            "node id in the id"
        );

        // 2: too large, declared and streamed (no Content-Length).
        let big = vec![b' '; 4096];
        let r = c
            .send(
                c.submission(&alice, &big)
                    .body(Bytes::from(big.clone()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (413, "too_large".into()),
            "{tag}"
        );
        let mut c = gw.client(proto).await; // h1: the refused body was not read, the connection is done
        let (tx, reply) = c.send_streaming(c.submission(&alice, &big)).unwrap();
        let pump = tokio::spawn(async move {
            for _ in 0..8 {
                if tx.send(Bytes::from(vec![b' '; 1024])).await.is_err() {
                    break;
                }
            }
        });
        let r = reply.await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (413, "too_large".into()),
            "{tag} streamed"
        );
        pump.abort();
        let mut c = gw.client(proto).await;

        // 2: media type, checked before the key.
        let req = c.raw_submission(Some(&mallory.key_id()), None, "text/plain", &good);
        let r = c.send(req).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (415, "unsupported_media_type".into()),
            "{tag}"
        );
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json()["type"], "about:blank");

        // 3: unknown key: missing, malformed, unregistered.
        let sig = alice.sign(&good);
        let no_key = c.raw_submission(None, Some(&sig), "application/json; charset=utf-8", &good);
        assert_eq!(c.send(no_key).await.unwrap().code(), "unknown_key", "{tag}");
        let bad_key = c.raw_submission(Some("ZZ"), Some(&sig), "application/json", &good);
        assert_eq!(c.send(bad_key).await.unwrap().code(), "unknown_key");
        let upper = c.raw_submission(
            Some(&alice.key_id().to_uppercase()),
            Some(&sig),
            "application/json",
            &good,
        );
        assert_eq!(
            c.send(upper).await.unwrap().code(),
            "unknown_key",
            "one spelling per key id"
        );
        // Two key headers are ambiguous, even if one of them is valid.
        let twice = c
            .submission(&alice, &good)
            .header("clickday-key", mallory.key_id())
            .body(Bytes::from(good.clone()))
            .unwrap();
        assert_eq!(c.send(twice).await.unwrap().code(), "unknown_key");
        let r = c.submit(&mallory, &good).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "unknown_key".into()),
            "{tag}"
        );

        // 5: bad signature: missing, undecodable, another key's, other bytes.
        let unsigned = c.raw_submission(Some(&alice.key_id()), None, "application/json", &good);
        assert_eq!(
            c.send(unsigned).await.unwrap().code(),
            "bad_signature",
            "{tag}"
        );
        let mut padded = alice.sign(&good);
        padded.push('=');
        for signature in [
            "not*base64".to_string(),
            "AAAA".to_string(),
            Applicant::new(2).sign(&good),
            padded,
        ] {
            let req = c.raw_submission(
                Some(&alice.key_id()),
                Some(&signature),
                "application/json",
                &good,
            );
            let r = c.send(req).await.unwrap();
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (401, "bad_signature".into()),
                "{tag}"
            );
        }
        let mut tampered = good.clone();
        tampered.push(b' ');
        let req = c
            .submission(&alice, &good)
            .body(Bytes::from(tampered))
            .unwrap();
        assert_eq!(
            c.send(req).await.unwrap().code(),
            "bad_signature",
            "signature covers exact bytes"
        );

        // 6: malformed, signed correctly so the body rules are what fails.
        for bad in [
            b"not json".to_vec(),
            b"[1,2]".to_vec(),
            br#"{"application_id":"a"}"#.to_vec(),
            String::from_utf8(good.clone())
                .unwrap()
                .replace("\"RM\"", "\"Rome\"")
                .into_bytes(),
            String::from_utf8(good.clone())
                .unwrap()
                .replace(&format!("ok-{tag}"), "bad id!")
                .into_bytes(),
        ] {
            let r = c.submit(&alice, &bad).await.unwrap();
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (400, "malformed".into()),
                "{tag}: {}",
                String::from_utf8_lossy(&bad)
            );
        }

        // 7: names not in the calendar.
        let swap = |from: &str, to: &str| {
            String::from_utf8(good.clone())
                .unwrap()
                .replace(from, to)
                .into_bytes()
        };
        let r = c
            .submit(&alice, &swap(common::DAY, "2099-01-01"))
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (404, "unknown_click_day".into())
        );
        let r = c
            .submit(&alice, &swap("lavoro-domestico", "pesca"))
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "unknown_category".into())
        );
        let r = c.submit(&alice, &swap("\"RM\"", "\"XX\"")).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "unknown_province".into())
        );

        // 9: resend and conflict.
        let r = c.submit(&alice, &good).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["duplicate"], true);
        assert_eq!(r.json()["submission_id"], j["submission_id"]);
        assert_eq!(r.json()["received_at"], j["received_at"]);
        let mut changed = good.clone();
        changed.extend_from_slice(b"\n");
        let r = c.submit(&alice, &changed).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (409, "conflict".into()),
            "{tag}"
        );

        // Other paths and methods.
        let r = c.get("/v1/nothing").await.unwrap();
        assert_eq!((r.status.as_u16(), r.code()), (404, "not_found".into()));
        let r = c.get("/v1/submissions").await.unwrap();
        assert_eq!((r.status.as_u16(), r.header("allow")), (405, Some("POST")));
        assert_eq!(r.code(), "method_not_allowed");

        // At the closing instant the window is shut, even for a resend.
        gw.set_now("2011-01-31T20:00:00+01:00");
        let r = c
            .submit(&alice, &body(&format!("late-{tag}")))
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "closed".into()),
            "{tag}"
        );
    }
    // Nothing was queued for any error: two accepted.
    let records = gw.records().await;
    assert_eq!(records.len(), 2, "{records:#?}");
    assert!(
        records
            .iter()
            .all(|r| r.account_id == "acct-1" && r.stamp.node == 3)
    );
}

over_every_protocol!(every_problem_code_sqlite => |proto| every_problem_code(Backend::Sqlite, proto));
over_every_protocol!(every_problem_code_redis => |proto| every_problem_code(Backend::Redis, proto));

over_every_protocol!(insane_json_is_malformed_and_never_queued => insane_json_is_malformed);

/// F9 / PROTOCOL v1.1: correctly signed bodies that are not sane JSON are
/// `400 malformed`, and nothing of them is queued.
async fn insane_json_is_malformed(proto: Proto) {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mut c = gw.client(proto).await;
    let alice = Applicant::new(1);
    let good = String::from_utf8(body("sane")).unwrap();
    let data = r#""data":{"#;
    assert!(good.contains(data), "{good}");
    let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    for (what, insane) in [
        ("33 levels", format!(r#"{{"a":{}}}"#, nested(31))),
        ("5,000 levels", format!(r#"{{"a":{}}}"#, nested(5_000))),
        ("1e999999", r#"{"n":1e999999}"#.to_string()),
        (
            "a 400-digit integer",
            format!(r#"{{"n":{}}}"#, "9".repeat(400)),
        ),
        ("a lone surrogate", r#"{"s":"\ud800"}"#.to_string()),
        ("a key twice in data", r#"{"a":{"b":1,"b":2}}"#.to_string()),
    ] {
        let r = c
            .submit(
                &alice,
                good.replace(data, &format!(r#""data":{{"insane":{insane},"#))
                    .as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "malformed".into()),
            "{proto:?}: {what}"
        );
    }
    assert!(gw.records().await.is_empty(), "nothing insane was queued");
    assert_eq!(c.submit(&alice, good.as_bytes()).await.unwrap().status, 202);
}

#[tokio::test]
async fn check_order_cheap_first() {
    let gw = TestGateway::start(Backend::Memory, "").await;
    let mallory = Applicant::new(999);
    for proto in Proto::ALL {
        let mut c = gw.client(proto).await;
        // Unknown key beats a bad signature and a malformed body.
        let req = c.raw_submission(
            Some(&mallory.key_id()),
            Some("!!"),
            "application/json",
            b"x",
        );
        assert_eq!(c.send(req).await.unwrap().code(), "unknown_key");
        // A bad signature beats a malformed body.
        let alice = Applicant::new(1);
        let req = c.raw_submission(Some(&alice.key_id()), Some("!!"), "application/json", b"x");
        assert_eq!(c.send(req).await.unwrap().code(), "bad_signature");
        // Malformed beats the closed window.
        gw.set_now("2030-01-01T00:00:00Z");
        assert_eq!(c.submit(&alice, b"{}").await.unwrap().code(), "malformed");
        gw.set_now("2011-01-31T09:00:00+01:00");
    }
}

#[tokio::test]
async fn info_endpoints() {
    let gw = TestGateway::start(Backend::Sqlite, "").await;
    let alt_svc = format!("h3=\":{}\"; ma=86400", gw.addr().port());
    for proto in Proto::ALL {
        let mut c = gw.client(proto).await;
        let r = c.get("/v1/time").await.unwrap();
        assert_eq!(r.header("cache-control"), Some("no-store"));
        // HTTP/3 is advertised where it is not already in use.
        let expected_alt_svc = (proto != Proto::Http3).then_some(alt_svc.as_str());
        assert_eq!(r.header("alt-svc"), expected_alt_svc, "{proto:?}");
        assert_eq!(
            r.json()["unix_nanos"].as_u64(),
            Some(common::open_instant())
        );
        assert_eq!(r.json()["utc"], "2011-01-31T07:00:00.051000000Z");
        let days = c.get("/v1/click-days").await.unwrap().json();
        assert_eq!(days[0]["id"], common::DAY);
        assert_eq!(days[0]["opens_at"], "2011-01-31T07:00:00.000000000Z");
        assert_eq!(days[0]["closes_at"], "2011-01-31T19:00:00.000000000Z");
        assert_eq!(days[0]["categories"][1], "lavoro-subordinato");
        assert_eq!(c.get("/healthz").await.unwrap().status, 200);
        assert_eq!(c.get("/readyz").await.unwrap().json()["ready"], true);
        c.submit(&Applicant::new(1), &body(&format!("m-{proto:?}")))
            .await
            .unwrap();
        c.submit(&Applicant::new(999), &body("x")).await.unwrap();
        let metrics = String::from_utf8(c.get("/metrics").await.unwrap().body.to_vec()).unwrap();
        let proto_label = proto.label();
        assert!(metrics.contains(&format!("clickday_gateway_submissions_total{{outcome=\"accepted\",protocol=\"{proto_label}\"}} 1")), "{metrics}");
        assert!(metrics.contains(&format!("clickday_gateway_submissions_total{{outcome=\"unknown_key\",protocol=\"{proto_label}\"}} 1")), "{metrics}");
        assert!(metrics.contains("clickday_gateway_enqueue_seconds_count"));
        assert!(metrics.contains("clickday_gateway_keys 20"));
        // This client's connection at least (an earlier one may not be
        // noticed closed yet).
        let open: i64 = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "clickday_gateway_connections{{protocol=\"{proto_label}\"}} "
                ))
            })
            .unwrap_or_else(|| panic!("no {proto_label} connections gauge: {metrics}"))
            .parse()
            .unwrap();
        assert!(open >= 1, "{proto_label}: {open}");
        assert!(
            metrics.contains(&format!(
                "clickday_gateway_submission_seconds_count{{protocol=\"{proto_label}\"}} 2"
            )),
            "{metrics}"
        );
    }
}

/// `max_concurrent_streams` caps HTTP/2 and HTTP/3 alike: a second request
/// on a connection whose only stream is busy waits for it, then goes in.
#[tokio::test]
async fn streams_per_connection_are_capped_alike() {
    let gw = TestGateway::start(Backend::Memory, "max_concurrent_streams = 1").await;
    let alice = Applicant::new(1);
    for proto in [Proto::Http2, Proto::Http3] {
        let tag = proto.label();
        let mut held = gw.client(proto).await;
        // The connection is up and its settings known before the test.
        assert_eq!(held.get("/healthz").await.unwrap().status, 200);
        let payload = body(&format!("held-{tag}"));
        let (tx, held_reply) = held
            .send_streaming(held.submission(&alice, &payload))
            .unwrap();
        tx.send(Bytes::copy_from_slice(&payload[..10]))
            .await
            .unwrap();
        let mut second = held.clone_multiplexed();
        let second_body = body(&format!("second-{tag}"));
        let waiting =
            tokio::spawn(async move { second.submit(&Applicant::new(2), &second_body).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "{tag}: a second stream was served past the limit"
        );
        tx.send(Bytes::copy_from_slice(&payload[10..]))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(held_reply.await.unwrap().status, 202, "{tag}");
        assert_eq!(waiting.await.unwrap().unwrap().status, 202, "{tag}");
    }
    assert_eq!(gw.records().await.len(), 4);
}

/// An HTTP/1.1 answer given on the declared length alone (413) must reach
/// a client that is still uploading: the gateway drains what keeps coming
/// instead of resetting the connection under it.
#[tokio::test]
async fn an_early_answer_reaches_a_client_still_uploading() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = TestGateway::start(Backend::Memory, "").await;
    let tls = clickday_testkit::client::tls_config(&gw.ca, Proto::Http1).unwrap();
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let piece = vec![b' '; 64 * 1024];
    let head = format!(
        "POST /v1/submissions HTTP/1.1\r\nhost: localhost\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        16 * piece.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&piece).await.unwrap();
    // Once the answer is out and the gateway is done with the connection,
    // a client that does not read while it uploads goes on sending.
    clickday_testkit::eventually(
        "the 413 answered",
        std::time::Duration::from_secs(30),
        async || {
            let metrics = clickday_testkit::client::metrics(gw.addr(), Some(&gw.ca))
                .await
                .ok()?;
            let label = format!(
                "outcome=\"too_large\",protocol=\"{}\"",
                Proto::Http1.label()
            );
            (clickday_testkit::client::counter(
                &metrics,
                "clickday_gateway_submissions_total",
                &label,
            ) == 1)
                .then_some(())
        },
    )
    .await;
    for n in 1..16 {
        stream
            .write_all(&piece)
            .await
            .unwrap_or_else(|e| panic!("piece {n} of 16 not accepted: {e}"));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

//! The gateway's hot path, piece by piece and whole, in-process (no
//! sockets): signature verification single and batched, body parsing,
//! stamping, and `Gateway::handle` with an in-memory queue. After the
//! criterion runs it prints each cost as a ratio to one single signature
//! verification measured in the same run: the design goal is a request
//! path dominated by the signature check (ratio close to 1).

use bytes::Bytes;
use clickday_config::Config;
use clickday_core::Clock;
use clickday_core::{Application, PublicKey, Stamper};
use clickday_gateway::Gateway;
use clickday_queue::MemoryQueue;
use clickday_store::KeyRow;
use criterion::{BatchSize, Criterion};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use http_body_util::Full;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[gateway]
listen = "127.0.0.1:0"
tls = false
[gateway.rate_limit]
per_ip_per_second = 0
per_key_per_second = 0
[[click_days]]
id = "cd"
opens_at = "2011-01-31T08:00:00+01:00"
closes_at = "2011-01-31T20:00:00+01:00"
categories = ["lavoro-domestico"]
"#;

struct Fixture {
    signers: Vec<SigningKey>,
    bodies: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
}

fn fixture(n: usize) -> Fixture {
    let signers: Vec<SigningKey> = (0..n)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                r#"{{"application_id":"app-{i}","click_day":"cd","category":"lavoro-domestico","province":"RM","form":"LD-2011","data":{{"employer":{{"name":"Rossi Mario","cf":"RSSMRA80A01H501U"}},"worker":{{"name":"Ana","surname":"Pop","born":"1990-02-03"}},"hours":30,"salary":1100}}}}"#
            )
            .into_bytes()
        })
        .collect();
    let signatures = signers
        .iter()
        .zip(&bodies)
        .map(|(k, b)| k.sign(b))
        .collect();
    Fixture {
        signers,
        bodies,
        signatures,
    }
}

fn gateway(fx: &Fixture, rt: &tokio::runtime::Runtime) -> Arc<Gateway> {
    let cfg = Config::from_toml(CONFIG, std::iter::empty(), 0).expect("bench config");
    let open = clickday_core::time::parse_rfc3339("2011-01-31T08:00:01+01:00").expect("instant");
    let clock: Clock = Arc::new(move || open);
    let gw = rt
        .block_on(Gateway::new(&cfg, Arc::new(MemoryQueue::new()), clock))
        .expect("gateway");
    let rows: Vec<KeyRow> = fx
        .signers
        .iter()
        .enumerate()
        .map(|(i, k)| KeyRow {
            key_id: String::new(),
            account_id: format!("acct-{i}"),
            public_key: k.verifying_key().to_bytes(),
            revoked: false,
        })
        .collect();
    gw.keys().apply(&rows);
    Arc::new(gw)
}

fn request(fx: &Fixture, i: usize) -> http::Request<Full<Bytes>> {
    let key_id = clickday_core::KeyId::of(&fx.signers[i].verifying_key().to_bytes());
    http::Request::post("/v1/submissions")
        .header("content-type", "application/json")
        .header("clickday-key", key_id.to_string())
        .header(
            "clickday-signature",
            clickday_core::keys::encode_signature(&fx.signatures[i]),
        )
        .body(Full::new(Bytes::from(fx.bodies[i].clone())))
        .expect("request")
}

fn benches(c: &mut Criterion, fx: &Fixture, bench: &Bench) {
    let keys: Vec<PublicKey> = fx
        .signers
        .iter()
        .map(|k| PublicKey::from_bytes(&k.verifying_key().to_bytes()).expect("key"))
        .collect();
    let mut group = c.benchmark_group("hot_path");
    group.bench_function("verify_single", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % fx.bodies.len();
            keys[i]
                .verify(&fx.bodies[i], &fx.signatures[i])
                .expect("valid")
        })
    });
    let vks: Vec<VerifyingKey> = keys.iter().take(64).map(|k| *k.verifying_key()).collect();
    let refs: Vec<&[u8]> = fx.bodies.iter().take(64).map(Vec::as_slice).collect();
    group.bench_function("verify_batch_64", |b| {
        b.iter(|| {
            clickday_core::keys::verify_batch(&refs, &fx.signatures[..64], &vks).expect("valid")
        })
    });
    group.bench_function("parse_and_validate", |b| {
        b.iter(|| Application::parse(black_box(&fx.bodies[3])).expect("valid"))
    });
    let stamper = Stamper::new(1, 0);
    group.bench_function("stamp_and_id", |b| {
        let mut t = 0u64;
        b.iter(|| {
            t += 1;
            stamper.stamp(t).submission_id()
        })
    });
    let (rt, gw) = (&bench.rt, &bench.gw);
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    group.bench_function("whole_request_in_memory", |b| {
        let mut i = 0;
        b.iter_batched(
            || {
                i = (i + 1) % fx.bodies.len();
                request(fx, i)
            },
            |req| rt.block_on(gw.handle(req, peer)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Mean time per call over `iterations`, best of five rounds.
fn time_per(iterations: u32, mut f: impl FnMut(u32)) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iterations {
                f(i);
            }
            start.elapsed() / iterations
        })
        .min()
        .unwrap_or_default()
}

fn ratios(fx: &Fixture, bench: &Bench) {
    let keys: Vec<PublicKey> = fx
        .signers
        .iter()
        .map(|k| PublicKey::from_bytes(&k.verifying_key().to_bytes()).expect("key"))
        .collect();
    let n = fx.bodies.len() as u32;
    let verify = time_per(2_000, |i| {
        let i = (i % n) as usize;
        keys[i]
            .verify(&fx.bodies[i], &fx.signatures[i])
            .expect("valid")
    });
    let vks: Vec<VerifyingKey> = keys.iter().take(64).map(|k| *k.verifying_key()).collect();
    let refs: Vec<&[u8]> = fx.bodies.iter().take(64).map(Vec::as_slice).collect();
    let batch = time_per(50, |_| {
        clickday_core::keys::verify_batch(&refs, &fx.signatures[..64], &vks).expect("valid")
    }) / 64;
    let parse = time_per(20_000, |_| {
        drop(black_box(Application::parse(&fx.bodies[3])))
    });
    let stamper = Stamper::new(1, 0);
    let stamp = time_per(100_000, |i| {
        drop(black_box(stamper.stamp(u64::from(i)).submission_id()))
    });
    let (rt, gw) = (&bench.rt, &bench.gw);
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    let requests: Vec<_> = (0..fx.bodies.len()).map(|i| request(fx, i)).collect();
    let mut pending = requests.into_iter();
    let whole = time_per(n / 5, |_| {
        if let Some(req) = pending.next() {
            drop(black_box(rt.block_on(gw.handle(req, peer))));
        }
    });
    println!(
        "\nper-call cost relative to one single signature verification ({verify:?}), same run:"
    );
    for (name, t) in [
        ("verify_single", verify),
        ("verify_batch_64 per signature", batch),
        ("parse_and_validate", parse),
        ("stamp_and_id", stamp),
        ("whole_request_in_memory", whole),
    ] {
        println!(
            "  {name:<32} {t:>10.2?}  ratio {:.3}",
            t.as_secs_f64() / verify.as_secs_f64()
        );
    }
    println!(
        "  throughput on one core: {:.0} verifications/s single, {:.0}/s batched, {:.0} requests/s whole path",
        1.0 / verify.as_secs_f64(),
        1.0 / batch.as_secs_f64(),
        1.0 / whole.as_secs_f64()
    );
}

/// One runtime and one gateway (after the first pass over the 5,000 bodies
/// the whole-path runs are resends, answered `200` through the same path), shared by the criterion runs and the ratios.
struct Bench {
    rt: tokio::runtime::Runtime,
    gw: Arc<Gateway>,
}

fn main() {
    let fx = fixture(5_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let gw = gateway(&fx, &rt);
    let bench = Bench { rt, gw };
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &fx, &bench);
    criterion.final_summary();
    ratios(&fx, &bench);
}

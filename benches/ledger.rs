//! Arrival-ledger benchmarks (not tests: `cargo bench --bench ledger`),
//! each printed against its target and, where the issue asks, against a
//! baseline measured in the same run:
//!
//! 1. Integration on one core: 1,000,000 leaves appended to the tree in
//!    memory in the persister's batches of 2,048 (target ≥ 50,000/s); then
//!    100,000 submissions stored into a private PostgreSQL as the persister
//!    stores them (the baseline: the store rate) and appended to the
//!    ledger with their commits (tiles, leaf indexes, state). The ledger
//!    must not be what limits intake: its rate over the store's ≥ 1.
//! 2. Inclusion proof per receipt in the 1,000,000-leaf tree, as the
//!    receipt stage makes it: the tiles it needs named, the proof from the
//!    tiles the stage holds, its text (target ≤ 50 µs). Also with the
//!    tiles copied out per proof, the worst case (no two receipts of a
//!    round sharing a tile).
//! 3. The auditor's check of the 1,000,000-leaf log from memory: every leaf
//!    read and hashed, the tree rebuilt, every tile compared (target
//!    ≤ 60 s; `clickday ledger verify` adds reading the tiles).

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use clickday_core::Submission;
use clickday_ledger::{Audit, HashTiles, InclusionProof, Leaf, LogKey, LogTree, TilePath};
use clickday_store::{Ledger as _, LedgerBatch, PgStore, Submissions as _};
use clickday_testkit::Postgres;
use std::collections::HashMap;
use std::time::Instant;

const LEAVES: u64 = 1_000_000;
const STORED: u64 = 100_000;
const BATCH: usize = 2_048;

fn submission(i: u64) -> Submission {
    let mut s = clickday_testkit::submission(
        &format!("acct-{}", i % 20_000),
        &format!("app-{i}"),
        format!("{{\"application_id\":\"app-{i}\"}}"),
        1_700_000_000_000_000_000 + i * 1_000,
    );
    s.key_id = "0123456789abcdef0123456789abcdef".into();
    s.stamp.seq = i;
    s
}

fn main() {
    // 1a. The tree in memory.
    let leaves: Vec<Vec<u8>> = (0..LEAVES)
        .map(|i| Leaf::of(&submission(i)).to_bytes())
        .collect();
    let mut tree = LogTree::empty();
    let mut served: HashMap<TilePath, Vec<u8>> = HashMap::new();
    let mut hashes = HashTiles::default();
    let started = Instant::now();
    let mut written = Vec::new();
    for chunk in leaves.chunks(BATCH) {
        let (next, appended) = tree.append(chunk.iter().map(Vec::as_slice)).unwrap();
        tree = next;
        written.push(appended.tiles);
    }
    let append_s = started.elapsed().as_secs_f64();
    for tiles in written {
        for (path, data) in tiles {
            hashes.insert(path, data.clone());
            served.insert(path, data);
        }
    }
    let root = tree.root().unwrap();
    let per_s = LEAVES as f64 / append_s;
    println!(
        "1a. append in memory: {LEAVES} leaves in {append_s:.2} s = {per_s:.0} leaves/s on one core \
         (target 50,000/s: ratio {:.1})",
        per_s / 50_000.0
    );

    // 1b. Against the store rate, same database, same run.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pg = Postgres::start();
        let store = PgStore::connect(&pg.url()).await.unwrap();
        let records: Vec<Submission> = (0..STORED).map(submission).collect();
        let started = Instant::now();
        for chunk in records.chunks(1_000) {
            store.persist_batch(chunk, &[]).await.unwrap();
        }
        let store_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut tree = LogTree::empty();
        let (mut reading, mut committing) = (0.0, 0.0);
        loop {
            let t = Instant::now();
            let rows = store.unlogged(BATCH).await.unwrap();
            reading += t.elapsed().as_secs_f64();
            if rows.is_empty() {
                break;
            }
            let bytes: Vec<Vec<u8>> = rows.iter().map(|r| Leaf::of(r).to_bytes()).collect();
            let (next, appended) = tree.append(bytes.iter().map(Vec::as_slice)).unwrap();
            let tiles: Vec<(String, Vec<u8>)> = appended
                .tiles
                .into_iter()
                .map(|(p, d)| (p.to_string(), d))
                .collect();
            let ids: Vec<String> = rows.into_iter().map(|r| r.submission_id).collect();
            let t = Instant::now();
            let committed = store
                .append_ledger(&LedgerBatch {
                    click_day: "cd",
                    old_size: appended.old_size,
                    new_size: appended.size,
                    root: appended.root.0,
                    tiles: &tiles,
                    submission_ids: &ids,
                })
                .await
                .unwrap();
            committing += t.elapsed().as_secs_f64();
            assert!(committed);
            tree = next;
        }
        let ledger_s = started.elapsed().as_secs_f64();
        let (store_rate, ledger_rate) = (STORED as f64 / store_s, STORED as f64 / ledger_s);
        println!(
            "1b. PostgreSQL, {STORED} submissions: stored at {store_rate:.0}/s (the persister's store \
             rate, baseline), appended to the ledger with its commits at {ledger_rate:.0}/s: ratio {:.2} \
             (≥ 1: the ledger keeps up with intake)",
            ledger_rate / store_rate
        );
        println!(
            "    of which reading the unlogged rows {reading:.2} s, committing {committing:.2} s, of {ledger_s:.2} s"
        );
    });

    // 2. Proofs for receipts.
    let (key, _) = LogKey::generate("bench/v1/ledger").unwrap();
    let checkpoint = key.sign("bench/v1/ledger/cd", LEAVES, &root);
    let n = 20_000u64;
    let mut bytes = 0;
    let started = Instant::now();
    let memo = hashes.memoized();
    for k in 0..n {
        let index = (k * 7_919_993) % LEAVES;
        let needed = InclusionProof::tiles_needed(index, LEAVES);
        assert!(!needed.is_empty());
        bytes += InclusionProof::prove(index, &checkpoint, &memo)
            .unwrap()
            .to_text()
            .len();
    }
    let shared = started.elapsed().as_secs_f64() / n as f64 * 1e6;
    let started = Instant::now();
    for k in 0..n {
        let index = (k * 7_919_993) % LEAVES;
        let mut own = HashTiles::default();
        for path in InclusionProof::tiles_needed(index, LEAVES) {
            let TilePath::Hashes {
                level,
                index: t,
                width,
            } = path
            else {
                unreachable!()
            };
            own.insert(
                path,
                hashes.get(level, t).unwrap()[..width as usize * 32].to_vec(),
            );
        }
        InclusionProof::prove(index, &checkpoint, &own)
            .unwrap()
            .to_text();
    }
    let copied = started.elapsed().as_secs_f64() / n as f64 * 1e6;
    println!(
        "2.  inclusion proof per receipt ({} bytes of text): {shared:.1} µs from the stage's tiles and \
         the hashes it already recomputed (target 50 µs: ratio {:.2}); {copied:.1} µs alone, its tiles \
         copied out",
        bytes / n as usize,
        shared / 50.0
    );

    // 3. The auditor.
    let started = Instant::now();
    let audit = Audit::run("cd", &checkpoint, &[], &served).unwrap();
    let audit_s = started.elapsed().as_secs_f64();
    println!(
        "3.  audit of {} leaves ({} tiles compared): {audit_s:.1} s (target 60 s: ratio {:.2})",
        audit.size,
        audit.tiles_checked,
        audit_s / 60.0
    );
}

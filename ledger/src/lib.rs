//! The arrival ledger: a public, append-only record of every stored
//! submission, one Merkle log per click day.
//!
//! Certificate Transparency's answer to "did everyone see the same list,
//! and was nothing slipped in or taken out afterwards", applied to a click
//! day. The persister appends a [`Leaf`] per stored submission — its stamp,
//! where it competes and the SHA-256 of its body, no personal data — and
//! signs a checkpoint (the tree's size and root) at least every second.
//! Anyone holding a checkpoint can be given proofs: that a leaf is in it
//! (every receipt carries one) and that a later checkpoint extends it (the
//! log never forked or shrank).
//!
//! Formats are the C2SP ones, so generic transparency tooling reads them:
//! RFC 6962 hashing, `tlog-tiles` for serving the tree, `tlog-checkpoint`
//! signed notes, `tlog-proof` for inclusion proofs. The Merkle arithmetic
//! is the `tlog_tiles` crate (a port of Go's `sumdb/tlog`, tested against
//! Certificate Transparency's own proofs) and the notes are `signed_note`;
//! this crate adds what is ours: the leaf, the tile store's shape, the keys,
//! and the audit.

mod audit;
mod checkpoint;
mod leaf;
mod proof;
mod tiles;
mod tree;

pub use audit::{Audit, AuditError, LeafSet, TileSource};
pub use checkpoint::{Checkpoint, CheckpointError, KeyError, LogKey, LogVerifier, origin_for};
pub use leaf::{Leaf, LeafError};
pub use proof::{
    InclusionProof, ProofError, consistency_tiles_needed, prove_consistency, verify_consistency,
};
pub use tiles::{TilePath, bundle_entries, entry_bundle};
pub use tlog_tiles::{HASH_SIZE, Hash};
pub use tree::{Appended, HashTiles, LogTree, Memoized, TreeError};

/// Tiles are 2^8 = 256 hashes wide (C2SP tlog-tiles).
pub const TILE_HEIGHT: u8 = 8;
/// A full tile or entry bundle holds this many hashes or leaves.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// A hash as standard base64, as checkpoints and proofs write it.
pub fn hash_base64(hash: &Hash) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hash.0)
}

/// The root of a log with no leaves (RFC 6962: SHA-256 of nothing).
pub fn empty_root() -> Hash {
    tlog_tiles::EMPTY_HASH
}

/// The RFC 6962 leaf hash of a leaf's exact bytes.
pub fn leaf_hash(leaf_bytes: &[u8]) -> Hash {
    tlog_tiles::record_hash(leaf_bytes)
}

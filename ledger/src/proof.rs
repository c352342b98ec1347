//! Proofs: a leaf is in a checkpoint (C2SP `tlog-proof`, the text every
//! receipt carries), and a later checkpoint extends an earlier one.

use crate::checkpoint::{Checkpoint, CheckpointError, LogVerifier};
use crate::{Hash, hash_base64, leaf_hash};
use base64::Engine;
use tlog_tiles::{HashReader, check_record, check_tree, prove_record, prove_tree};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("not a c2sp.org/tlog-proof@v1 text: {0}")]
    Malformed(&'static str),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("the proof does not lead from leaf {index} to the checkpoint's root")]
    NotIncluded { index: u64 },
    #[error("checkpoint of size {new} does not extend the one of size {old}")]
    Inconsistent { old: u64, new: u64 },
    #[error("the tree cannot give that proof: {0}")]
    Unavailable(String),
}

/// A leaf's place in a checkpointed tree, verifiable offline with the
/// log's public key.
#[derive(Debug, Clone, PartialEq)]
pub struct InclusionProof {
    pub index: u64,
    /// From the leaf's sibling up to the root's child (RFC 6962 2.1.1).
    pub path: Vec<Hash>,
    /// The signed checkpoint the path leads to, verbatim.
    pub checkpoint: String,
}

impl InclusionProof {
    pub fn prove(
        index: u64,
        checkpoint: &Checkpoint,
        hashes: &impl HashReader,
    ) -> Result<Self, ProofError> {
        let path = prove_record(checkpoint.size, index, hashes)
            .map_err(|e| ProofError::Unavailable(e.to_string()))?;
        Ok(InclusionProof {
            index,
            path,
            checkpoint: checkpoint.note.clone(),
        })
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\nindex {}\n", self.index);
        for hash in &self.path {
            out.push_str(&hash_base64(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let mut rest = text
            .strip_prefix(HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or(ProofError::Malformed("first line"))?;
        // An `extra` line is allowed by the format; ours carry none, and it
        // is never trusted, so it is skipped.
        if rest.starts_with("extra ") {
            rest = rest
                .split_once('\n')
                .ok_or(ProofError::Malformed("extra"))?
                .1;
        }
        let (index_line, mut rest) = rest
            .split_once('\n')
            .ok_or(ProofError::Malformed("index"))?;
        let index = index_line
            .strip_prefix("index ")
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .and_then(|n| n.parse().ok())
            .ok_or(ProofError::Malformed("index"))?;
        let mut path = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or(ProofError::Malformed("hashes"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(line)
                .map_err(|_| ProofError::Malformed("hash"))?;
            let hash: [u8; 32] = bytes
                .try_into()
                .map_err(|_| ProofError::Malformed("hash"))?;
            path.push(Hash(hash));
            if path.len() > 64 {
                return Err(ProofError::Malformed("too many hashes"));
            }
        }
        Ok(InclusionProof {
            index,
            path,
            checkpoint: rest.to_string(),
        })
    }

    /// Finds a proof in text that went through a PDF: lines trimmed,
    /// blank lines lost or added. The proof's shape is rigid (header, index,
    /// hashes, then the checkpoint's three lines and its signature lines,
    /// which start with an em dash), so it is rebuilt exactly.
    pub fn find_in(text: &str) -> Option<Self> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let start = lines.iter().position(|l| *l == HEADER)?;
        let mut rest = lines[start + 1..].iter().copied().peekable();
        let mut rebuilt = format!("{HEADER}\n");
        if rest.peek()?.starts_with("extra ") {
            rest.next();
        }
        rebuilt.push_str(rest.next()?);
        rebuilt.push('\n');
        while let Some(line) = rest.peek() {
            if line.len() != 44 || !line.ends_with('=') {
                break;
            }
            rebuilt.push_str(line);
            rebuilt.push('\n');
            rest.next();
        }
        rebuilt.push('\n');
        for _ in 0..3 {
            rebuilt.push_str(rest.next()?);
            rebuilt.push('\n');
        }
        rebuilt.push('\n');
        let mut signatures = 0;
        for line in rest.take_while(|l| l.starts_with("\u{2014} ")) {
            rebuilt.push_str(line);
            rebuilt.push('\n');
            signatures += 1;
        }
        if signatures == 0 {
            return None;
        }
        Self::parse(&rebuilt).ok()
    }

    /// The hash tiles, as of a tree of `size` leaves, that proving leaf
    /// `index` reads: fetch these (they exist for every checkpointed
    /// size), then [`InclusionProof::prove`] from them.
    pub fn tiles_needed(index: u64, size: u64) -> Vec<crate::TilePath> {
        tiles_read(size, |reader| {
            let _ = prove_record(size, index, reader);
        })
    }

    /// Checks the checkpoint's signature and origin, then that `leaf` is
    /// at `index` in it. Returns the checkpoint.
    pub fn verify(
        &self,
        leaf: &[u8],
        verifier: &LogVerifier,
        origin: &str,
    ) -> Result<Checkpoint, ProofError> {
        let checkpoint = verifier.open(&self.checkpoint, origin)?;
        if self.index >= checkpoint.size {
            return Err(ProofError::NotIncluded { index: self.index });
        }
        check_record(
            &self.path,
            checkpoint.size,
            checkpoint.root,
            self.index,
            leaf_hash(leaf),
        )
        .map_err(|_| ProofError::NotIncluded { index: self.index })?;
        Ok(checkpoint)
    }
}

/// The hash tiles, as of a tree of `new_size` leaves, that proving it
/// extends the tree of `old_size` reads (see [`prove_consistency`]).
pub fn consistency_tiles_needed(old_size: u64, new_size: u64) -> Vec<crate::TilePath> {
    tiles_read(new_size, |reader| {
        let _ = prove_tree(new_size, old_size, reader);
    })
}

/// The tiles of a tree of `size` leaves holding every hash `run` reads.
fn tiles_read(size: u64, run: impl FnOnce(&Recorder)) -> Vec<crate::TilePath> {
    let recorder = Recorder(Default::default());
    // Only the indexes matter; the hashes computed from zeros do not.
    run(&recorder);
    let mut paths: Vec<crate::TilePath> = recorder
        .0
        .into_inner()
        .into_iter()
        .map(|i| {
            let tile = tlog_tiles::Tile::from_index(crate::TILE_HEIGHT, i);
            let level = tile.level();
            let hashes = size >> (u32::from(crate::TILE_HEIGHT) * u32::from(level));
            let width = (hashes - tile.level_index() * crate::TILE_WIDTH).min(crate::TILE_WIDTH);
            crate::TilePath::Hashes {
                level,
                index: tile.level_index(),
                width: width as u32,
            }
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// Answers every read with a zero hash, noting what was asked.
struct Recorder(std::cell::RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::default(); indexes.len()])
    }
}

/// The hashes showing that the tree of `new_size` extends the tree of
/// `old_size` (RFC 6962 2.1.2).
pub fn prove_consistency(
    old_size: u64,
    new_size: u64,
    hashes: &impl HashReader,
) -> Result<Vec<Hash>, ProofError> {
    prove_tree(new_size, old_size, hashes).map_err(|e| ProofError::Unavailable(e.to_string()))
}

/// Whether `new` extends `old`: same leaves first, nothing removed or
/// changed. Equal sizes must have equal roots (two roots for one size is
/// a fork).
pub fn verify_consistency(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let inconsistent = ProofError::Inconsistent {
        old: old.size,
        new: new.size,
    };
    if old.size > new.size {
        return Err(inconsistent);
    }
    if old.size == new.size || old.size == 0 {
        return if old.size == 0 || old.root == new.root {
            Ok(())
        } else {
            Err(inconsistent)
        };
    }
    check_tree(&proof.to_vec(), new.size, new.root, old.size, old.root).map_err(|_| inconsistent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LogKey;
    use crate::leaf::sample;
    use crate::tree::{HashTiles, LogTree};

    /// A tree of `n` sample leaves with every tile kept.
    fn tree(n: u64) -> (Vec<Vec<u8>>, HashTiles, Vec<crate::Hash>) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| sample(i).to_bytes()).collect();
        let mut tiles = HashTiles::default();
        let mut roots = vec![tlog_tiles::EMPTY_HASH];
        let mut t = LogTree::empty();
        for leaf in &leaves {
            let (next, appended) = t.append([leaf.as_slice()]).unwrap();
            for (path, data) in appended.tiles {
                tiles.insert(path, data);
            }
            roots.push(appended.root);
            t = next;
        }
        (leaves, tiles, roots)
    }

    #[test]
    fn every_leaf_is_proved_in_trees_of_many_sizes() {
        let (key, _) = LogKey::generate("t.example/v1/ledger").unwrap();
        let verifier = key.verifier();
        let origin = "t.example/v1/ledger/d";
        let (leaves, tiles, roots) = tree(600);
        // One memo across every proof and size: what it remembers is
        // never stale (a stored hash never changes).
        let memo = tiles.memoized();
        for size in [1u64, 2, 3, 7, 8, 255, 256, 257, 300, 511, 512, 513, 600] {
            let cp = key.sign(origin, size, &roots[size as usize]);
            for index in (0..size)
                .step_by(((size / 17) as usize).max(1))
                .chain([size - 1])
            {
                let proof = InclusionProof::prove(index, &cp, &tiles).unwrap();
                assert_eq!(InclusionProof::prove(index, &cp, &memo).unwrap(), proof);
                let text = proof.to_text();
                let read = InclusionProof::parse(&text).unwrap();
                assert_eq!(read, proof);
                assert_eq!(
                    read.verify(&leaves[index as usize], &verifier, origin),
                    Ok(cp.clone())
                );
                // Another leaf at that index, or this leaf elsewhere: refused.
                let other = &leaves[((index + 1) % 600) as usize];
                assert!(read.verify(other, &verifier, origin).is_err());
                if size > 1 {
                    let moved = InclusionProof {
                        index: (index + 1) % size,
                        ..read.clone()
                    };
                    assert!(
                        moved
                            .verify(&leaves[index as usize], &verifier, origin)
                            .is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn a_proof_is_rebuilt_from_pdf_text_from_the_tiles_it_names() {
        let (key, _) = LogKey::generate("t.example/v1/ledger").unwrap();
        let origin = "t.example/v1/ledger/d";
        let (leaves, all_tiles, roots) = tree(600);
        for (index, size) in [(0u64, 1u64), (5, 300), (299, 300), (123, 600), (599, 600)] {
            let cp = key.sign(origin, size, &roots[size as usize]);
            // Only the tiles named, at the widths they had at `size`.
            let mut some = HashTiles::default();
            for path in InclusionProof::tiles_needed(index, size) {
                let crate::TilePath::Hashes {
                    level,
                    index: n,
                    width,
                } = path
                else {
                    panic!()
                };
                let data = all_tiles.get(level, n).unwrap()[..width as usize * 32].to_vec();
                some.insert(path, data);
            }
            let proof = InclusionProof::prove(index, &cp, &some).unwrap();
            let text = proof.to_text();
            let mangled = format!(
                "Ricevuta\n  {}\n   footer\n",
                text.replace('\n', "  \n\n    ")
            );
            let found = InclusionProof::find_in(&mangled).unwrap();
            assert_eq!(found, proof);
            assert!(
                found
                    .verify(&leaves[index as usize], &key.verifier(), origin)
                    .is_ok()
            );
        }
        assert_eq!(InclusionProof::find_in("nothing here"), None);
    }

    #[test]
    fn one_changed_byte_of_a_proof_is_refused() {
        let (key, _) = LogKey::generate("t.example/v1/ledger").unwrap();
        let origin = "t.example/v1/ledger/d";
        let (leaves, tiles, roots) = tree(300);
        let cp = key.sign(origin, 300, &roots[300]);
        let text = InclusionProof::prove(123, &cp, &tiles).unwrap().to_text();
        let ok = InclusionProof::parse(&text).unwrap();
        assert!(ok.verify(&leaves[123], &key.verifier(), origin).is_ok());
        let bytes = text.as_bytes();
        for at in (0..bytes.len()).step_by(7) {
            let mut changed = bytes.to_vec();
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            let Ok(changed) = String::from_utf8(changed) else {
                continue;
            };
            if changed == text {
                continue;
            }
            let verdict = InclusionProof::parse(&changed)
                .and_then(|p| p.verify(&leaves[123], &key.verifier(), origin));
            assert!(verdict.is_err(), "byte {at} changed and still verified");
        }
    }

    #[test]
    fn later_checkpoints_extend_earlier_ones_and_forks_are_caught() {
        let (key, _) = LogKey::generate("t.example/v1/ledger").unwrap();
        let origin = "t.example/v1/ledger/d";
        let (_, tiles, roots) = tree(700);
        let sizes = [1u64, 5, 255, 256, 300, 511, 512, 700];
        for &old in &sizes {
            for &new in sizes.iter().filter(|&&n| n >= old) {
                let a = key.sign(origin, old, &roots[old as usize]);
                let b = key.sign(origin, new, &roots[new as usize]);
                let proof = prove_consistency(old, new, &tiles).unwrap();
                assert_eq!(verify_consistency(&a, &b, &proof), Ok(()), "{old} -> {new}");
                // From only the tiles it names, at their widths of `new`.
                let mut some = HashTiles::default();
                for path in consistency_tiles_needed(old, new) {
                    let crate::TilePath::Hashes {
                        level,
                        index,
                        width,
                    } = path
                    else {
                        panic!()
                    };
                    let data = tiles.get(level, index).unwrap()[..width as usize * 32].to_vec();
                    some.insert(path, data);
                }
                assert_eq!(prove_consistency(old, new, &some).unwrap(), proof);
                assert!(verify_consistency(&b, &a, &proof).is_err() || old == new);
                // A root at `old` that is not the tree's: a fork.
                let mut forked = roots[old as usize];
                forked.0[5] ^= 0x40;
                let fork = key.sign(origin, old, &forked);
                assert!(
                    verify_consistency(&fork, &b, &proof).is_err(),
                    "{old} -> {new}"
                );
            }
        }
    }
}

//! The auditor's check of a whole log: every leaf read back from the
//! entry bundles, the tree rebuilt from them, its root compared with the
//! checkpoint's (and with every earlier checkpoint seen, so the log did
//! not fork or shrink), every served hash tile compared with the rebuilt
//! one. What the leaves then say about the ranking is checked by the
//! caller against the published ranking.

use crate::checkpoint::Checkpoint;
use crate::leaf::Leaf;
use crate::tiles::{TilePath, bundle_entries};
use crate::tree::LogTree;
use crate::{TILE_HEIGHT, TILE_WIDTH};
use std::collections::{BTreeMap, HashSet};

/// Where the audit reads the log's resources.
pub trait TileSource {
    fn tile(&self, path: &TilePath) -> Option<Vec<u8>>;
}

impl TileSource for std::collections::HashMap<TilePath, Vec<u8>> {
    fn tile(&self, path: &TilePath) -> Option<Vec<u8>> {
        self.get(path).cloned()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    #[error("{0} is missing")]
    Missing(TilePath),
    #[error("{path} is not a valid entry bundle of width {width}")]
    BadBundle { path: TilePath, width: u32 },
    #[error("leaf {index}: {detail}")]
    BadLeaf { index: u64, detail: String },
    #[error("leaf {index} is of click day {found:?}, not {expected:?}")]
    OtherClickDay {
        index: u64,
        expected: String,
        found: String,
    },
    #[error("submission {id} is in the log twice (leaves {first} and {second})")]
    Duplicate { id: String, first: u64, second: u64 },
    #[error("the leaves hash to another root than checkpoint {size} says: the log was changed")]
    RootMismatch { size: u64 },
    #[error("served {0} differs from the tile rebuilt from the leaves")]
    TileMismatch(TilePath),
    #[error("checkpoint of size {old} is larger than the newest ({new}): the log shrank")]
    Shrank { old: u64, new: u64 },
    #[error("merkle arithmetic: {0}")]
    Tree(String),
}

/// The leaves of a verified log, in log order.
#[derive(Debug, Default)]
pub struct LeafSet {
    pub leaves: Vec<Leaf>,
}

impl LeafSet {
    /// The leaves of each (category, province), in ranking order
    /// (arrival instant, node, seq).
    pub fn ranked_groups(&self) -> BTreeMap<(String, String), Vec<&Leaf>> {
        let mut groups: BTreeMap<(String, String), Vec<&Leaf>> = BTreeMap::new();
        for leaf in &self.leaves {
            groups
                .entry((leaf.category.clone(), leaf.province.clone()))
                .or_default()
                .push(leaf);
        }
        for group in groups.values_mut() {
            group.sort_by_key(|l| l.rank_key());
        }
        groups
    }
}

/// What was checked.
#[derive(Debug)]
pub struct Audit {
    pub size: u64,
    pub checkpoints_checked: usize,
    pub tiles_checked: usize,
    pub leaves: LeafSet,
}

impl Audit {
    /// Every resource a tree of `size` leaves is served as.
    pub fn paths(size: u64) -> Vec<TilePath> {
        let mut paths: Vec<TilePath> = tlog_tiles::Tile::new_tiles(TILE_HEIGHT, 0, size)
            .iter()
            .map(TilePath::of_tile)
            .collect();
        paths.extend(bundle_paths(size));
        paths
    }

    /// Checks the log of `click_day` up to `latest`, and that every
    /// checkpoint in `earlier` (already signature-checked) is a prefix of
    /// it.
    pub fn run(
        click_day: &str,
        latest: &Checkpoint,
        earlier: &[Checkpoint],
        source: &impl TileSource,
    ) -> Result<Audit, AuditError> {
        for cp in earlier {
            if cp.size > latest.size {
                return Err(AuditError::Shrank {
                    old: cp.size,
                    new: latest.size,
                });
            }
        }
        let mut expected_roots: BTreeMap<u64, Vec<&Checkpoint>> = BTreeMap::new();
        for cp in earlier.iter().chain([latest]) {
            expected_roots.entry(cp.size).or_default().push(cp);
        }
        let mut tree = LogTree::empty();
        let mut rebuilt: std::collections::HashMap<(u8, u64), Vec<u8>> = Default::default();
        let mut leaves = Vec::with_capacity(latest.size as usize);
        let mut seen: std::collections::HashMap<String, u64> = Default::default();
        let check_root = |tree: &LogTree| -> Result<(), AuditError> {
            if let Some(cps) = expected_roots.get(&tree.size()) {
                let root = tree.root().map_err(|e| AuditError::Tree(e.to_string()))?;
                if cps.iter().any(|cp| cp.root != root) {
                    return Err(AuditError::RootMismatch { size: tree.size() });
                }
            }
            Ok(())
        };
        check_root(&tree)?;
        for path in bundle_paths(latest.size) {
            let data = source.tile(&path).ok_or(AuditError::Missing(path))?;
            let entries = bundle_entries(&data)
                .filter(|e| e.len() == path.width() as usize)
                .ok_or(AuditError::BadBundle {
                    path,
                    width: path.width(),
                })?;
            let first = tree.size();
            for (offset, entry) in entries.iter().enumerate() {
                let index = first + offset as u64;
                let leaf = Leaf::from_bytes(entry).map_err(|e| AuditError::BadLeaf {
                    index,
                    detail: e.to_string(),
                })?;
                if leaf.click_day != click_day {
                    return Err(AuditError::OtherClickDay {
                        index,
                        expected: click_day.to_string(),
                        found: leaf.click_day,
                    });
                }
                if let Some(first) = seen.insert(leaf.submission_id.clone(), index) {
                    return Err(AuditError::Duplicate {
                        id: leaf.submission_id,
                        first,
                        second: index,
                    });
                }
                leaves.push(leaf);
            }
            // Appended a bundle at a time, split where a checkpoint's size
            // falls inside it so its root can be compared.
            let end = first + entries.len() as u64;
            let mut cuts: Vec<u64> = expected_roots
                .range(first + 1..end)
                .map(|(s, _)| *s)
                .collect();
            cuts.push(end);
            let mut from = first;
            for cut in cuts {
                let chunk = &entries[(from - first) as usize..(cut - first) as usize];
                let (next, appended) = tree
                    .append(chunk.iter().copied())
                    .map_err(|e| AuditError::Tree(e.to_string()))?;
                for (p, data) in appended.tiles {
                    if let TilePath::Hashes { level, index, .. } = p {
                        rebuilt.insert((level, index), data);
                    }
                }
                tree = next;
                check_root(&tree)?;
                from = cut;
            }
        }
        // The served tiles are what the leaves make.
        let mut tiles_checked = 0;
        let mut no_dupes = HashSet::new();
        for path in Audit::paths(latest.size) {
            let TilePath::Hashes {
                level,
                index,
                width,
            } = path
            else {
                continue;
            };
            if !no_dupes.insert(path) {
                continue;
            }
            let served = source.tile(&path).ok_or(AuditError::Missing(path))?;
            let ours = rebuilt
                .get(&(level, index))
                .and_then(|d| d.get(..width as usize * crate::HASH_SIZE));
            if ours != Some(served.as_slice()) {
                return Err(AuditError::TileMismatch(path));
            }
            tiles_checked += 1;
        }
        Ok(Audit {
            size: latest.size,
            checkpoints_checked: earlier.len() + 1,
            tiles_checked,
            leaves: LeafSet { leaves },
        })
    }
}

fn bundle_paths(size: u64) -> impl Iterator<Item = TilePath> {
    (0..size.div_ceil(TILE_WIDTH)).map(move |index| TilePath::Entries {
        index,
        width: (size - index * TILE_WIDTH).min(TILE_WIDTH) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LogKey;
    use crate::leaf::sample;
    use std::collections::HashMap;

    fn log(n: u64, batches: &[usize]) -> (HashMap<TilePath, Vec<u8>>, Vec<crate::Hash>) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| sample(i).to_bytes()).collect();
        let mut served = HashMap::new();
        let mut roots = vec![];
        let mut tree = LogTree::empty();
        let mut at = 0;
        for &b in batches.iter().chain(std::iter::repeat(&97)) {
            if at >= leaves.len() {
                break;
            }
            let end = (at + b).min(leaves.len());
            let (next, appended) = tree
                .append(leaves[at..end].iter().map(Vec::as_slice))
                .unwrap();
            served.extend(appended.tiles);
            roots.push(appended.root);
            tree = next;
            at = end;
        }
        (served, roots)
    }

    #[test]
    fn a_whole_log_is_rebuilt_and_matches() {
        let (key, _) = LogKey::generate("a.example/v1/ledger").unwrap();
        let (served, roots) = log(1000, &[1, 255, 300]);
        let origin = "a.example/v1/ledger/2026-flussi";
        let latest = key.sign(origin, 1000, roots.last().unwrap());
        let early = key.sign(origin, 256, &roots[1]);
        let audit = Audit::run("2026-flussi", &latest, &[early], &served).unwrap();
        assert_eq!(audit.size, 1000);
        assert_eq!(audit.leaves.leaves.len(), 1000);
        assert_eq!(audit.checkpoints_checked, 2);
        assert!(audit.tiles_checked >= 4);
        let groups = audit.leaves.ranked_groups();
        assert_eq!(groups.len(), 3);
        for group in groups.values() {
            assert!(group.windows(2).all(|w| w[0].rank_key() <= w[1].rank_key()));
        }
    }

    #[test]
    fn a_changed_leaf_a_fork_and_a_shrink_are_caught() {
        let (key, _) = LogKey::generate("a.example/v1/ledger").unwrap();
        let origin = "a.example/v1/ledger/2026-flussi";
        let (served, roots) = log(600, &[256, 44]);
        let latest = key.sign(origin, 600, roots.last().unwrap());

        // A stamp moved by 1 ns inside an entry bundle.
        let mut moved = served.clone();
        let path = TilePath::Entries {
            index: 1,
            width: 256,
        };
        let leaves = bundle_entries(&served[&path]).unwrap();
        let mut leaf = Leaf::from_bytes(leaves[3]).unwrap();
        leaf.stamp.unix_nanos += 1;
        let mut changed: Vec<Vec<u8>> = leaves.iter().map(|l| l.to_vec()).collect();
        changed[3] = leaf.to_bytes();
        moved.insert(path, crate::entry_bundle(changed.iter().map(Vec::as_slice)));
        assert_eq!(
            Audit::run("2026-flussi", &latest, &[], &moved).err(),
            Some(AuditError::RootMismatch { size: 600 })
        );

        // Two checkpoints of one size with different roots: a fork.
        let mut other = roots[0];
        other.0[0] ^= 1;
        let fork = key.sign(origin, 256, &other);
        assert_eq!(
            Audit::run("2026-flussi", &latest, &[fork], &served).err(),
            Some(AuditError::RootMismatch { size: 256 })
        );

        // A checkpoint larger than the newest: the log shrank.
        let bigger = key.sign(origin, 601, &roots[0]);
        assert!(matches!(
            Audit::run("2026-flussi", &latest, &[bigger], &served),
            Err(AuditError::Shrank { .. })
        ));

        // A served hash tile that the leaves do not make.
        let mut bad_tile = served.clone();
        let tile = TilePath::Hashes {
            level: 0,
            index: 0,
            width: 256,
        };
        bad_tile.get_mut(&tile).unwrap()[40] ^= 1;
        assert_eq!(
            Audit::run("2026-flussi", &latest, &[], &bad_tile).err(),
            Some(AuditError::TileMismatch(tile))
        );
    }
}

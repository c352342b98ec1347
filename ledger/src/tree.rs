//! The writer's side: the right edge of a click day's tree, kept in memory
//! by the persister's integrator, and the tiles each appended batch writes.

use crate::tiles::{TilePath, entry_bundle};
use crate::{Hash, TILE_HEIGHT, TILE_WIDTH};
use std::collections::BTreeMap;
use tlog_tiles::{HashReader, Tile, split_stored_hash_index, stored_hashes, tree_hash};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The tiles handed to [`LogTree::resume`] do not make the tree they
    /// claim (missing, the wrong width, or another root).
    #[error("stored ledger state is inconsistent: {0}")]
    Inconsistent(String),
    #[error("merkle arithmetic: {0}")]
    Tlog(#[from] tlog_tiles::Error),
}

/// Hash tiles by (level, index), each at the widest width known.
#[derive(Debug, Default, Clone)]
pub struct HashTiles(BTreeMap<(u8, u64), Vec<u8>>);

impl HashTiles {
    pub fn insert(&mut self, path: TilePath, data: Vec<u8>) {
        if let TilePath::Hashes { level, index, .. } = path {
            let slot = self.0.entry((level, index)).or_default();
            if data.len() > slot.len() {
                *slot = data;
            }
        }
    }

    pub fn get(&self, level: u8, index: u64) -> Option<&[u8]> {
        self.0.get(&(level, index)).map(Vec::as_slice)
    }

    /// The hash at a stored-hash index. One inside a tile (not on a tile
    /// level) is recomputed from up to 128 hashes of it.
    fn hash(&self, i: u64) -> Result<Hash, tlog_tiles::Error> {
        let tile = Tile::from_index(TILE_HEIGHT, i);
        let data = self
            .get(tile.level(), tile.level_index())
            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
        let wide = Tile::new(
            TILE_HEIGHT,
            tile.level(),
            tile.level_index(),
            (data.len() / crate::HASH_SIZE) as u32,
            false,
        );
        wide.hash_at_index(data, i)
    }

    /// A reader that remembers the hashes it recomputed, for many proofs
    /// from the same tiles (a round of receipts): their paths share the
    /// upper levels. A stored hash never changes, so nothing goes stale.
    pub fn memoized(&self) -> Memoized<'_> {
        Memoized {
            tiles: self,
            known: Default::default(),
        }
    }
}

impl HashReader for HashTiles {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes.iter().map(|&i| self.hash(i)).collect()
    }
}

/// See [`HashTiles::memoized`].
#[derive(Debug)]
pub struct Memoized<'a> {
    tiles: &'a HashTiles,
    known: std::cell::RefCell<std::collections::HashMap<u64, Hash>>,
}

impl HashReader for Memoized<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                if let Some(hash) = self.known.borrow().get(&i) {
                    return Ok(*hash);
                }
                let hash = self.tiles.hash(i)?;
                self.known.borrow_mut().insert(i, hash);
                Ok(hash)
            })
            .collect()
    }
}

/// The tiles at the right edge of a tree of `size` leaves: the rightmost
/// hash tile of every level and the rightmost entry bundle. Everything an
/// append needs; everything to the left is immutable.
pub fn edge_paths(size: u64) -> Vec<TilePath> {
    let mut paths = Vec::new();
    let mut level = 0u8;
    while size >> (u32::from(TILE_HEIGHT) * u32::from(level)) > 0 {
        let hashes = size >> (u32::from(TILE_HEIGHT) * u32::from(level));
        let index = (hashes - 1) / TILE_WIDTH;
        let width = (hashes - index * TILE_WIDTH) as u32;
        paths.push(TilePath::Hashes {
            level,
            index,
            width,
        });
        if level == 0 {
            paths.push(TilePath::Entries { index, width });
        }
        level += 1;
    }
    paths
}

/// One appended batch: the new size and root, and every tile it wrote
/// (full ones completed by the batch and the new partial ones).
#[derive(Debug, Clone)]
pub struct Appended {
    pub old_size: u64,
    pub size: u64,
    pub root: Hash,
    pub tiles: Vec<(TilePath, Vec<u8>)>,
}

/// The right edge of one click day's log.
#[derive(Debug, Clone, Default)]
pub struct LogTree {
    size: u64,
    hashes: HashTiles,
    /// The leaves of the rightmost entry bundle.
    bundle: Vec<Vec<u8>>,
}

impl LogTree {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Picks the tree up from its stored edge (the tiles named by
    /// [`LogTree::edge_paths`]) and checks it against the stored root.
    pub fn resume(
        size: u64,
        root: Hash,
        tiles: impl IntoIterator<Item = (TilePath, Vec<u8>)>,
    ) -> Result<Self, TreeError> {
        let mut tree = LogTree {
            size,
            ..Self::default()
        };
        let mut found = BTreeMap::new();
        for (path, data) in tiles {
            found.insert(path, data);
        }
        for path in edge_paths(size) {
            let data = found
                .remove(&path)
                .ok_or_else(|| TreeError::Inconsistent(format!("{path} is missing")))?;
            match path {
                TilePath::Entries { width, .. } => {
                    let leaves = crate::bundle_entries(&data)
                        .filter(|l| l.len() == width as usize)
                        .ok_or_else(|| TreeError::Inconsistent(format!("{path} is damaged")))?;
                    tree.bundle = leaves.into_iter().map(<[u8]>::to_vec).collect();
                }
                TilePath::Hashes { width, .. } => {
                    if data.len() != width as usize * crate::HASH_SIZE {
                        return Err(TreeError::Inconsistent(format!("{path} is damaged")));
                    }
                    tree.hashes.insert(path, data);
                }
            }
        }
        if tree.bundle.len() as u64 != size % TILE_WIDTH && !size.is_multiple_of(TILE_WIDTH) {
            return Err(TreeError::Inconsistent("entry bundle width".into()));
        }
        if size.is_multiple_of(TILE_WIDTH) {
            // The rightmost bundle is full: the next leaf starts a new one.
            tree.bundle.clear();
        }
        if tree.root()? != root {
            return Err(TreeError::Inconsistent(format!(
                "the tiles of size {size} do not hash to the stored root"
            )));
        }
        Ok(tree)
    }

    pub fn edge_paths(size: u64) -> Vec<TilePath> {
        edge_paths(size)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Result<Hash, TreeError> {
        Ok(tree_hash(self.size, &self.hashes)?)
    }

    /// Appends leaves in order; the tree in memory moves only if the whole
    /// batch hashed (the caller commits `Appended` with its batch, and
    /// calls [`LogTree::commit`] once that committed).
    pub fn append<'a>(
        &self,
        leaves: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(LogTree, Appended), TreeError> {
        let mut next = self.clone();
        let old_size = self.size;
        let mut touched: BTreeMap<(u8, u64), ()> = BTreeMap::new();
        let mut bundles: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for leaf in leaves {
            let n = next.size;
            let new = stored_hashes(n, leaf, &next.hashes)?;
            let first = tlog_tiles::stored_hash_index(0, n);
            for (i, hash) in new.iter().enumerate() {
                let (level, k) = split_stored_hash_index(first + i as u64);
                if level % TILE_HEIGHT != 0 {
                    continue; // derivable from the tile below
                }
                let tile_level = level / TILE_HEIGHT;
                let key = (tile_level, k / TILE_WIDTH);
                let data = next.hashes.0.entry(key).or_default();
                debug_assert_eq!(
                    data.len() as u64,
                    (k % TILE_WIDTH) * crate::HASH_SIZE as u64
                );
                data.extend_from_slice(&hash.0);
                touched.insert(key, ());
            }
            if n.is_multiple_of(TILE_WIDTH) && !next.bundle.is_empty() {
                // The bundle before this leaf is now full.
                bundles.insert(
                    n / TILE_WIDTH - 1,
                    entry_bundle(next.bundle.iter().map(Vec::as_slice)),
                );
                next.bundle.clear();
            }
            next.bundle.push(leaf.to_vec());
            next.size += 1;
        }
        if next.size > old_size {
            bundles.insert(
                (next.size - 1) / TILE_WIDTH,
                entry_bundle(next.bundle.iter().map(Vec::as_slice)),
            );
            if next.size.is_multiple_of(TILE_WIDTH) {
                next.bundle.clear();
            }
        }
        let mut tiles = Vec::new();
        for (level, index) in touched.into_keys() {
            let data = next.hashes.0[&(level, index)].clone();
            let path = TilePath::Hashes {
                level,
                index,
                width: (data.len() / crate::HASH_SIZE) as u32,
            };
            tiles.push((path, data));
        }
        for (index, data) in bundles {
            let width = if next.size / TILE_WIDTH > index {
                TILE_WIDTH as u32
            } else {
                (next.size % TILE_WIDTH) as u32
            };
            tiles.push((TilePath::Entries { index, width }, data));
        }
        // Only the edge is needed from now on.
        let edge: Vec<(u8, u64)> = edge_paths(next.size)
            .into_iter()
            .filter_map(|p| match p {
                TilePath::Hashes { level, index, .. } => Some((level, index)),
                TilePath::Entries { .. } => None,
            })
            .collect();
        next.hashes.0.retain(|key, _| edge.contains(key));
        let root = next.root()?;
        let appended = Appended {
            old_size,
            size: next.size,
            root,
            tiles,
        };
        Ok((next, appended))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf::sample;

    fn leaves(range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
        range.map(|i| sample(i).to_bytes()).collect()
    }

    /// The RFC 6962 root computed the slow, obvious way.
    fn reference_root(leaves: &[Vec<u8>]) -> Hash {
        fn mth(hashes: &[Hash]) -> Hash {
            match hashes.len() {
                0 => tlog_tiles::EMPTY_HASH,
                1 => hashes[0],
                n => {
                    let k = n.next_power_of_two() / 2;
                    tlog_tiles::node_hash(mth(&hashes[..k]), mth(&hashes[k..]))
                }
            }
        }
        mth(&leaves
            .iter()
            .map(|l| crate::leaf_hash(l))
            .collect::<Vec<_>>())
    }

    #[test]
    fn batches_of_any_size_make_the_rfc6962_root_and_resume_from_their_edge() {
        let all = leaves(0..70_000);
        let mut tree = LogTree::empty();
        let mut stored: BTreeMap<TilePath, Vec<u8>> = BTreeMap::new();
        let mut at = 0usize;
        for batch in [1usize, 2, 253, 1, 256, 511, 3000, 65_000, 976] {
            let (next, appended) = tree
                .append(all[at..at + batch].iter().map(Vec::as_slice))
                .unwrap();
            at += batch;
            assert_eq!(appended.size, at as u64);
            if at < 5000 || at == all.len() {
                assert_eq!(appended.root, reference_root(&all[..at]), "size {at}");
            }
            stored.extend(appended.tiles);
            // A restarted integrator picks up from the stored edge alone.
            let edge = edge_paths(at as u64)
                .into_iter()
                .map(|p| (p, stored[&p].clone()));
            let resumed = LogTree::resume(at as u64, appended.root, edge).unwrap();
            assert_eq!(resumed.root().unwrap(), appended.root);
            tree = next;
        }
        // 70,000 leaves: 273 full level-0 tiles + 1 partial of 112, one full
        // level-1 tile + a partial of 17, a level-2 partial of 1 (C2SP).
        assert!(stored.contains_key(&TilePath::Hashes {
            level: 0,
            index: 273,
            width: 112
        }));
        assert!(stored.contains_key(&TilePath::Hashes {
            level: 1,
            index: 1,
            width: 17
        }));
        assert!(stored.contains_key(&TilePath::Hashes {
            level: 2,
            index: 0,
            width: 1
        }));
        assert!(stored.contains_key(&TilePath::Entries {
            index: 273,
            width: 112
        }));
        let full_level0 = stored
            .keys()
            .filter(|p| {
                matches!(
                    p,
                    TilePath::Hashes {
                        level: 0,
                        width: 256,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(full_level0, 273);
    }

    #[test]
    fn resume_refuses_tiles_that_do_not_make_the_root() {
        let all = leaves(0..300);
        let (_, appended) = LogTree::empty()
            .append(all.iter().map(Vec::as_slice))
            .unwrap();
        let stored: BTreeMap<TilePath, Vec<u8>> = appended.tiles.into_iter().collect();
        let edge = || edge_paths(300).into_iter().map(|p| (p, stored[&p].clone()));
        let mut other = appended.root;
        other.0[0] ^= 1;
        assert!(LogTree::resume(300, other, edge()).is_err());
        let missing = edge().skip(1);
        assert!(LogTree::resume(300, appended.root, missing).is_err());
        assert!(LogTree::resume(300, appended.root, edge()).is_ok());
    }
}

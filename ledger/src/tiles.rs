//! Where the tree is served: C2SP `tlog-tiles` paths and entry bundles.
//!
//! (`tlog_tiles::Tile::path` writes the older Go sumdb layout,
//! `tile/8/0/…`; the C2SP layout has no height and names data tiles
//! `entries`, so the paths are ours.)

use crate::{TILE_HEIGHT, TILE_WIDTH};
use tlog_tiles::Tile;

/// A resource of the tiled log below its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`: hashes at Merkle level 8·L.
    Hashes { level: u8, index: u64, width: u32 },
    /// `tile/entries/<N>[.p/<W>]`: the leaves themselves.
    Entries { index: u64, width: u32 },
}

impl TilePath {
    /// The hash tile the `tlog_tiles` arithmetic calls `tile`.
    pub fn of_tile(tile: &Tile) -> Self {
        TilePath::Hashes {
            level: tile.level(),
            index: tile.level_index(),
            width: tile.width(),
        }
    }

    pub fn tile(&self) -> Option<Tile> {
        match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => Some(Tile::new(TILE_HEIGHT, level, index, width, false)),
            TilePath::Entries { .. } => None,
        }
    }

    pub fn width(&self) -> u32 {
        match *self {
            TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => width,
        }
    }

    pub fn is_full(&self) -> bool {
        u64::from(self.width()) == TILE_WIDTH
    }

    /// The same tile at another width (a partial tile grows into the next).
    pub fn with_width(self, width: u32) -> Self {
        match self {
            TilePath::Hashes { level, index, .. } => TilePath::Hashes {
                level,
                index,
                width,
            },
            TilePath::Entries { index, .. } => TilePath::Entries { index, width },
        }
    }

    /// Parses exactly what [`Display`](std::fmt::Display) writes.
    pub fn parse(path: &str) -> Option<Self> {
        if path.len() > 64 {
            return None;
        }
        let rest = path.strip_prefix("tile/")?;
        let (level, rest) = rest.split_once('/')?;
        let (number, width) = match rest.split_once(".p/") {
            Some((number, width)) => {
                let w: u32 = width.parse().ok()?;
                (number, w)
            }
            None => (rest, TILE_WIDTH as u32),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = number.split('/').collect();
        for (i, group) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                group.strip_prefix('x')?
            } else {
                group
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            index = index.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
        }
        let parsed = if level == "entries" {
            TilePath::Entries { index, width }
        } else {
            TilePath::Hashes {
                level: level.parse().ok().filter(|l| *l < 64)?,
                index,
                width,
            }
        };
        // Canonical only: no leading zero groups, no ".p/256", no "0" width.
        (width >= 1 && u64::from(width) <= TILE_WIDTH && parsed.to_string() == path)
            .then_some(parsed)
    }
}

impl std::fmt::Display for TilePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (level, index) = match *self {
            TilePath::Hashes { level, index, .. } => (level.to_string(), index),
            TilePath::Entries { index, .. } => ("entries".to_string(), index),
        };
        let mut n = index;
        let mut number = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            number = format!("x{:03}/{number}", n % 1000);
        }
        write!(f, "tile/{level}/{number}")?;
        if !self.is_full() {
            write!(f, ".p/{}", self.width())?;
        }
        Ok(())
    }
}

/// An entry bundle: each leaf prefixed by its length as a big-endian u16.
pub fn entry_bundle<'a>(leaves: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for leaf in leaves {
        let len = u16::try_from(leaf.len()).expect("a leaf is far below 64 KiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(leaf);
    }
    out
}

/// The leaves of an entry bundle, or `None` if it is not one.
pub fn bundle_entries(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
        let leaf = data.get(2..2 + len)?;
        out.push(leaf);
        data = &data[2 + len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_c2sp_ones() {
        let cases = [
            (
                TilePath::Hashes {
                    level: 0,
                    index: 1_234_067,
                    width: 256,
                },
                "tile/0/x001/x234/067",
            ),
            (
                TilePath::Hashes {
                    level: 1,
                    index: 5,
                    width: 17,
                },
                "tile/1/005.p/17",
            ),
            (
                TilePath::Entries {
                    index: 0,
                    width: 112,
                },
                "tile/entries/000.p/112",
            ),
            (
                TilePath::Entries {
                    index: 1000,
                    width: 256,
                },
                "tile/entries/x001/000",
            ),
        ];
        for (tile, path) in cases {
            assert_eq!(tile.to_string(), path);
            assert_eq!(TilePath::parse(path), Some(tile));
        }
        for bad in [
            "tile/0/1",
            "tile/0/x000/001",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/64/000",
            "tile/0/001/002",
            "tile/data/000",
            "tile/0/000.p/01",
            "../tile/0/000",
            "tile/0/-01",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bundles_read_back() {
        let leaves: Vec<&[u8]> = vec![b"a\n", b"", b"ccc\n"];
        let bundle = entry_bundle(leaves.iter().copied());
        assert_eq!(bundle_entries(&bundle), Some(leaves));
        assert_eq!(bundle_entries(&bundle[..bundle.len() - 1]), None);
    }
}

//! The process's file descriptors, shared out between its listeners.

/// Raises the soft `RLIMIT_NOFILE` as far as the hard limit allows and
/// returns the limit now in force (`u64::MAX` where there is none).
pub fn raise_nofile_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    }
}

/// Connection caps that fit in a file-descriptor limit together, with a
/// reserve for everything else the process opens (databases, Redis,
/// files, the metrics listener): one listener can then never take the
/// descriptors another needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdShares {
    /// The caps, in the order asked, each at most what was asked.
    pub caps: Vec<usize>,
    /// Whether any cap had to be lowered to fit.
    pub lowered: bool,
}

impl FdShares {
    /// Fits `wanted` caps under `limit` minus `reserve` (the reserve itself
    /// at most a quarter of the limit): unchanged when they fit; else each
    /// is first given an equal floor (at most what it asked), and what is
    /// left is shared in proportion to what each still wants — a small
    /// listener keeps a usable share next to a huge one.
    pub fn fit(limit: u64, reserve: u64, wanted: &[usize]) -> FdShares {
        let reserve = reserve.min(limit / 4);
        let room = limit.saturating_sub(reserve);
        let total: u64 = wanted.iter().map(|&w| w as u64).sum();
        if total <= room {
            return FdShares {
                caps: wanted.to_vec(),
                lowered: false,
            };
        }
        let asking = wanted.iter().filter(|&&w| w > 0).count().max(1) as u64;
        let floor = (room / (2 * asking)).max(1);
        let mut caps: Vec<u64> = wanted.iter().map(|&w| (w as u64).min(floor)).collect();
        let left = room.saturating_sub(caps.iter().sum());
        let excess: Vec<u64> = wanted
            .iter()
            .zip(&caps)
            .map(|(&w, &c)| w as u64 - c)
            .collect();
        let total_excess: u64 = excess.iter().sum();
        if total_excess > 0 {
            for (cap, more) in caps.iter_mut().zip(&excess) {
                *cap += (u128::from(*more) * u128::from(left) / u128::from(total_excess)) as u64;
            }
        }
        FdShares {
            caps: caps.into_iter().map(|c| c as usize).collect(),
            lowered: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_that_fit_are_kept() {
        let shares = FdShares::fit(100_000, 1024, &[50_000, 1024]);
        assert_eq!(shares.caps, vec![50_000, 1024]);
        assert!(!shares.lowered);
    }

    #[test]
    fn caps_that_do_not_fit_are_lowered_in_proportion_and_sum_within_the_limit() {
        let shares = FdShares::fit(20_000, 1024, &[50_000, 1024]);
        assert!(shares.lowered);
        assert!(shares.caps.iter().sum::<usize>() <= 20_000 - 1024);
        assert!(shares.caps[0] > shares.caps[1]);
        assert!(
            shares.caps[1] >= 300,
            "the smaller listener keeps its share"
        );
    }

    #[test]
    fn a_tiny_limit_still_gives_every_listener_a_usable_share() {
        let shares = FdShares::fit(400, 1024, &[50_000, 1024]);
        assert!(
            shares.caps.iter().sum::<usize>() <= 300,
            "{:?}",
            shares.caps
        );
        assert!(shares.caps[1] >= 75, "{:?}", shares.caps);
        assert!(shares.caps[0] >= 75, "{:?}", shares.caps);
    }

    #[test]
    fn a_listener_not_running_gets_nothing() {
        let shares = FdShares::fit(1000, 100, &[0, 5000]);
        assert_eq!(shares.caps[0], 0);
        assert!(shares.caps[1] <= 900);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let (before, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
        assert!(raise_nofile_limit() >= before);
    }
}

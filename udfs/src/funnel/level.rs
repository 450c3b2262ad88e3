//! The funnel level of one group's events.
//!
//! Events are (time, condition mask) pairs. They are processed in a total order: by time, then
//! as entries (condition index, row) within the same time, where a row matching several
//! conditions gives one entry per condition. Rows are ranked by (time, mask), and rows equal in
//! both are interchangeable, so the result never depends on the order rows arrived in.
//!
//! For each step the state keeps the chain that reached it with the latest start (the latest
//! start leaves the most of the window), as ClickHouse's `windowFunnel` does, with two fixes:
//! under `strict_increase`, entries read the state as it was before their timestamp, so a chain
//! is never lost to a later chain's same-time step; under `strict_once`, each level also keeps
//! the best chain ending on another row, so one row never fills two steps of a chain.

use super::mode::FunnelMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chain {
    start: i64,
    /// Rank of the row that filled this chain's last step.
    row: u32,
}

/// The best chain at a level, and the best one whose last row differs from it.
#[derive(Debug, Clone, Copy, Default)]
struct Level {
    best: Option<Chain>,
    other_row: Option<Chain>,
}

impl Level {
    fn offer(&mut self, chain: Chain) {
        match self.best {
            None => self.best = Some(chain),
            Some(best) if chain.start > best.start => {
                if best.row != chain.row {
                    self.other_row = Some(best);
                }
                self.best = Some(chain);
            }
            Some(best) => {
                if chain.row != best.row && self.other_row.is_none_or(|o| chain.start > o.start) {
                    self.other_row = Some(chain);
                }
            }
        }
    }

    /// The chain to extend with a step on `row`.
    fn extendable(&self, row: u32, strict_once: bool) -> Option<Chain> {
        match self.best {
            Some(best) if strict_once && best.row == row => self.other_row,
            best => best,
        }
    }
}

/// An entry of the processing order: the 0-based step a row matches, or `None` for a row
/// matching no condition (kept only under `strict_order`).
type Entry = (Option<u8>, u32);

/// Sorts `events` into the total order, then returns the level reached (0 ..= `steps`).
pub fn funnel_level(
    events: &mut [(i64, u64)],
    steps: usize,
    window: i64,
    mode: FunnelMode,
) -> usize {
    events.sort_unstable();
    let mut levels = vec![Level::default(); steps];
    let mut snapshot = vec![Level::default(); steps];
    let mut entries: Vec<Entry> = Vec::new();
    let mut max_level = 0usize;
    let mut started = false;

    let mut group_start = 0;
    while group_start < events.len() {
        let time = events[group_start].0;
        let mut group_end = group_start;
        entries.clear();
        while group_end < events.len() && events[group_end].0 == time {
            let mask = events[group_end].1;
            let row = group_end as u32;
            if mask == 0 {
                entries.push((None, row));
            }
            let mut bits = mask;
            while bits != 0 {
                let step = bits.trailing_zeros() as u8;
                if (step as usize) < steps {
                    entries.push((Some(step), row));
                }
                bits &= bits - 1;
            }
            group_end += 1;
        }
        // `None` (an unmatched row) sorts first, as ClickHouse's condition 0 does.
        entries.sort_unstable();
        if mode.strict_increase {
            snapshot.copy_from_slice(&levels);
        }

        for &(step, row) in &entries {
            let Some(step) = step else {
                if mode.strict_order && started {
                    return max_level;
                }
                continue;
            };
            let step = step as usize;
            if step == 0 {
                levels[0].offer(Chain { start: time, row });
                started = true;
                max_level = max_level.max(1);
                continue;
            }
            if mode.strict_deduplication && levels[step].best.is_some() {
                return max_level;
            }
            let previous = if mode.strict_increase {
                &snapshot[step - 1]
            } else {
                &levels[step - 1]
            };
            if mode.strict_order && started && previous.best.is_none() {
                if mode.allow_reentry {
                    continue;
                }
                return max_level;
            }
            if let Some(chain) = previous.extendable(row, mode.strict_once)
                && time <= chain.start.saturating_add(window)
            {
                levels[step].offer(Chain {
                    start: chain.start,
                    row,
                });
                max_level = max_level.max(step + 1);
                if max_level == steps {
                    return steps;
                }
            }
        }
        group_start = group_end;
    }
    max_level
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u64 = 1;
    const B: u64 = 2;
    const C: u64 = 4;
    const D: u64 = 8;

    fn level(events: &[(i64, u64)], steps: usize, window: i64, mode: &str) -> usize {
        let mode = FunnelMode::parse("test", mode).unwrap();
        let mut events = events.to_vec();
        let forward = funnel_level(&mut events, steps, window, mode);
        // the same answer in reverse arrival order
        let mut reversed: Vec<_> = events.iter().rev().copied().collect();
        assert_eq!(forward, funnel_level(&mut reversed, steps, window, mode));
        forward
    }

    #[test]
    fn default_mode_examples() {
        assert_eq!(level(&[(0, A), (10, B)], 2, 10, ""), 2);
        assert_eq!(level(&[(0, A), (11, B)], 2, 10, ""), 1);
        assert_eq!(level(&[(0, A), (6, B), (12, C)], 3, 10, ""), 2);
        assert_eq!(level(&[(1, A), (1, B), (1, C)], 3, 10, ""), 3);
        assert_eq!(level(&[(1, A | B)], 2, 10, ""), 2);
        assert_eq!(level(&[(0, A), (5, B), (9, A), (10, C)], 3, 10, ""), 3);
        assert_eq!(level(&[], 3, 10, ""), 0);
        assert_eq!(level(&[(0, B), (1, C)], 3, 10, ""), 0);
    }

    #[test]
    fn a_later_start_keeps_an_older_chains_progress() {
        // A@0 B@5 then a new A@20: the old chain (level 2) stays, and the new one reaches C.
        assert_eq!(level(&[(0, A), (5, B), (20, A), (25, C)], 3, 10, ""), 2);
        assert_eq!(level(&[(0, A), (20, A), (22, B), (25, C)], 3, 10, ""), 3);
    }

    #[test]
    fn strict_deduplication() {
        let m = "strict_deduplication";
        assert_eq!(level(&[(0, A), (1, B), (2, B), (3, C)], 3, 100, m), 2);
        assert_eq!(
            level(&[(0, A), (1, B), (2, C), (3, B), (4, D)], 4, 100, m),
            3
        );
        // login, visit, login, order, payment: a repeat of step 1 is not a duplicate
        assert_eq!(
            level(&[(0, A), (1, B), (2, A), (3, C), (4, D)], 4, 100, m),
            4
        );
    }

    #[test]
    fn strict_order() {
        let m = "strict_order";
        assert_eq!(level(&[(0, A), (1, 0), (2, B), (3, C)], 3, 100, m), 1);
        assert_eq!(level(&[(0, A), (1, C), (2, B)], 3, 100, m), 1);
        assert_eq!(level(&[(0, A), (1, B), (2, B), (3, C)], 3, 100, m), 3);
        assert_eq!(level(&[(0, 0), (1, A), (2, B), (3, C)], 3, 100, m), 3);
        let m = "strict_order,allow_reentry";
        assert_eq!(level(&[(0, A), (1, C), (2, B), (3, C)], 3, 100, m), 3);
    }

    #[test]
    fn strict_increase_loses_no_chain() {
        let m = "strict_increase";
        assert_eq!(level(&[(1, A), (1, B), (1, C)], 3, 10, m), 1);
        assert_eq!(level(&[(0, A), (1, A), (1, B)], 2, 10, m), 2);
        // x=1@0, x=1@50, x=2@50, x=3@60 with conditions x=1, x=2, x=3
        assert_eq!(level(&[(0, A), (50, A), (50, B), (60, C)], 3, 100, m), 3);
    }

    #[test]
    fn strict_once() {
        let m = "strict_once";
        assert_eq!(level(&[(1, A | B)], 2, 10, m), 1);
        assert_eq!(level(&[(1, A), (1, B), (1, C)], 3, 10, m), 3);
        // the other row at the same time still extends the chain
        assert_eq!(level(&[(1, A), (1, A | B), (2, C)], 3, 10, m), 3);
    }

    #[test]
    fn sixty_four_steps() {
        let events: Vec<(i64, u64)> = (0..64).map(|i| (i as i64, 1u64 << i)).collect();
        assert_eq!(level(&events, 64, 100, ""), 64);
        assert_eq!(level(&events, 64, 62, ""), 63);
    }
}

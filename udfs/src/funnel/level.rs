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
//! is never lost to a later chain's same-time step; under `strict_once`, a row fills one step of
//! a chain at most. A row has one time, so only rows at the chain's last time can come again:
//! each level keeps, besides the latest start, every chain ending at the current time that no
//! other beats (starting no earlier with a subset of its rows at that time). Two identical rows
//! matching three steps therefore reach level 2, never 3.

use super::mode::FunnelMode;

/// A chain under `strict_once`: its start, the time of its last step, and the rows that filled
/// its steps at that time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chain {
    start: i64,
    time: i64,
    rows: Vec<u32>,
}

impl Chain {
    /// The rows this chain used at `time` (none when its last step was earlier).
    fn rows_at(&self, time: i64) -> &[u32] {
        if self.time == time { &self.rows } else { &[] }
    }
}

fn is_subset(small: &[u32], large: &[u32]) -> bool {
    small.iter().all(|row| large.contains(row))
}

/// The chains that reached one step.
#[derive(Debug, Default)]
struct Level {
    /// The latest start of a chain at this level (every mode but `strict_once`).
    latest_start: Option<i64>,
    /// Under `strict_once`: the chains no other beats.
    chains: Vec<Chain>,
}

impl Clone for Level {
    fn clone(&self) -> Self {
        Level {
            latest_start: self.latest_start,
            chains: self.chains.clone(),
        }
    }

    // snapshots are taken once per timestamp: reuse their allocations
    fn clone_from(&mut self, source: &Self) {
        self.latest_start = source.latest_start;
        self.chains.clone_from(&source.chains);
    }
}

impl Level {
    fn is_reached(&self) -> bool {
        self.latest_start.is_some() || !self.chains.is_empty()
    }

    fn offer(&mut self, start: i64, chain: Option<Chain>) {
        let Some(chain) = chain else {
            if self.latest_start.is_none_or(|latest| start > latest) {
                self.latest_start = Some(start);
            }
            return;
        };
        let time = chain.time;
        // chains that ended before `time` used none of its rows: the latest-starting one
        // beats the others
        let latest_earlier = self
            .chains
            .iter()
            .filter(|c| c.time < time)
            .map(|c| c.start)
            .max();
        if let Some(latest) = latest_earlier {
            let mut kept = false;
            self.chains.retain(|c| {
                let keep = c.time == time || (!kept && c.start == latest);
                kept |= c.time < time && keep;
                keep
            });
        }
        if self
            .chains
            .iter()
            .any(|c| c.start >= chain.start && is_subset(c.rows_at(time), &chain.rows))
        {
            return;
        }
        self.chains
            .retain(|c| !(chain.start >= c.start && is_subset(&chain.rows, c.rows_at(time))));
        self.chains.push(chain);
    }

    /// The chains a step on `row` at `time` makes from this level's chains, within `window`
    /// of their start; for `strict_once`, pushed to `out` (none when the level has none).
    fn extend(
        &self,
        row: u32,
        time: i64,
        window: i64,
        once: bool,
        out: &mut Vec<(i64, Option<Chain>)>,
    ) {
        out.clear();
        if !once {
            if let Some(start) = self.latest_start
                && time <= start.saturating_add(window)
            {
                out.push((start, None));
            }
            return;
        }
        for chain in &self.chains {
            let used = chain.rows_at(time);
            if used.contains(&row) || time > chain.start.saturating_add(window) {
                continue;
            }
            let mut rows = Vec::with_capacity(used.len() + 1);
            rows.extend_from_slice(used);
            rows.push(row);
            out.push((
                chain.start,
                Some(Chain {
                    start: chain.start,
                    time,
                    rows,
                }),
            ));
        }
    }
}

/// One step of the processing order: a row's time, the 0-based step it matches (`None` for a
/// row matching no condition, kept only under `strict_order`), and the row's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub time: i64,
    pub step: Option<u8>,
    pub row: u32,
}

/// Sorts `events` and lays them out as entries in the total processing order: by time, then
/// (step, row), with unmatched rows first within a time.
pub fn ordered_entries(events: &mut [(i64, u64)], steps: usize, out: &mut Vec<Entry>) {
    // A stable sort: it is adaptive to the time-ordered runs that events mostly arrive in.
    events.sort();
    out.clear();
    let mut group_start = 0;
    while group_start < events.len() {
        let time = events[group_start].0;
        let first_entry = out.len();
        let mut group_end = group_start;
        while group_end < events.len() && events[group_end].0 == time {
            let mask = events[group_end].1;
            let row = group_end as u32;
            if mask == 0 {
                out.push(Entry {
                    time,
                    step: None,
                    row,
                });
            }
            let mut bits = mask;
            while bits != 0 {
                let step = bits.trailing_zeros() as u8;
                if (step as usize) < steps {
                    out.push(Entry {
                        time,
                        step: Some(step),
                        row,
                    });
                }
                bits &= bits - 1;
            }
            group_end += 1;
        }
        out[first_entry..].sort_unstable();
        group_start = group_end;
    }
}

/// The level reached over `entries`, and how many entries were read before the search ended
/// (a strict mode may stop it early).
pub fn entries_level(
    entries: &[Entry],
    steps: usize,
    window: i64,
    mode: FunnelMode,
) -> (usize, usize) {
    // strictly increasing times never put one row (one time) on two steps
    let once = mode.strict_once && !mode.strict_increase;
    let mut levels = vec![Level::default(); steps];
    let mut snapshot = vec![Level::default(); steps];
    let mut extensions = Vec::new();
    let mut max_level = 0usize;
    let mut started = false;
    let mut current_time = None;

    for (index, entry) in entries.iter().enumerate() {
        if mode.strict_increase && current_time != Some(entry.time) {
            // entries read the state as it was before their time
            snapshot.clone_from_slice(&levels);
            current_time = Some(entry.time);
        }
        let (time, row) = (entry.time, entry.row);
        let Some(step) = entry.step else {
            if mode.strict_order && started {
                return (max_level, index);
            }
            continue;
        };
        let step = step as usize;
        if step == 0 {
            let chain = once.then(|| Chain {
                start: time,
                time,
                rows: vec![row],
            });
            levels[0].offer(time, chain);
            started = true;
            max_level = max_level.max(1);
            continue;
        }
        if mode.strict_deduplication && levels[step].is_reached() {
            return (max_level, index);
        }
        let previous = if mode.strict_increase {
            &snapshot[step - 1]
        } else {
            &levels[step - 1]
        };
        if mode.strict_order && started && !previous.is_reached() {
            if mode.allow_reentry {
                continue;
            }
            return (max_level, index);
        }
        previous.extend(row, time, window, once, &mut extensions);
        if !extensions.is_empty() {
            for (start, chain) in extensions.drain(..) {
                levels[step].offer(start, chain);
            }
            max_level = max_level.max(step + 1);
            if max_level == steps {
                return (steps, index + 1);
            }
        }
    }
    (max_level, entries.len())
}

/// Sorts `events` into the total order, then returns the level reached (0 ..= `steps`).
pub fn funnel_level(
    events: &mut [(i64, u64)],
    steps: usize,
    window: i64,
    mode: FunnelMode,
) -> usize {
    let mut entries = Vec::with_capacity(events.len());
    ordered_entries(events, steps, &mut entries);
    entries_level(&entries, steps, window, mode).0
}

/// The reported chain of a group: among the chains reaching the group's level, the one that
/// starts earliest, with each step at its earliest possible time. Returns the level and the
/// time of each step.
pub fn funnel_chain(
    entries: &[Entry],
    steps: usize,
    window: i64,
    mode: FunnelMode,
) -> (usize, Vec<i64>) {
    let (level, end) = entries_level(entries, steps, window, mode);
    if level == 0 {
        return (0, Vec::new());
    }
    let read = &entries[..end];
    let mut times = Vec::with_capacity(level);
    let mut rows = Vec::with_capacity(level);
    for (index, entry) in read.iter().enumerate() {
        if entry.step != Some(0) {
            continue;
        }
        times.clear();
        rows.clear();
        times.push(entry.time);
        rows.push(entry.row);
        if level == 1
            || extend_chain(
                read,
                index + 1,
                1,
                level,
                entry.time,
                window,
                mode,
                &mut times,
                &mut rows,
            )
        {
            return (level, times);
        }
    }
    // The level was reached, so some chain exists; this is not reached.
    (level, times)
}

/// Fills steps `step..level` with the earliest entries that keep the chain valid. Only ties
/// at the earliest time are worth trying in turn (a row may be needed by a later step under
/// `strict_once`); a later time never helps.
#[allow(clippy::too_many_arguments)]
fn extend_chain(
    entries: &[Entry],
    from: usize,
    step: usize,
    level: usize,
    start: i64,
    window: i64,
    mode: FunnelMode,
    times: &mut Vec<i64>,
    rows: &mut Vec<u32>,
) -> bool {
    if step == level {
        return true;
    }
    let previous_time = times[times.len() - 1];
    let deadline = start.saturating_add(window);
    let mut earliest = None;
    for index in from..entries.len() {
        let entry = entries[index];
        if entry.time > deadline || earliest.is_some_and(|t| entry.time > t) {
            break;
        }
        if entry.step != Some(step as u8)
            || (mode.strict_increase && entry.time <= previous_time)
            || (mode.strict_once && rows.contains(&entry.row))
        {
            continue;
        }
        earliest = Some(entry.time);
        times.push(entry.time);
        rows.push(entry.row);
        if extend_chain(
            entries,
            index + 1,
            step + 1,
            level,
            start,
            window,
            mode,
            times,
            rows,
        ) {
            return true;
        }
        times.pop();
        rows.pop();
    }
    false
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
        // two identical rows matching every step fill two steps, not three (ClickHouse: 2)
        let all = A | B | C;
        assert_eq!(level(&[(0, all), (0, all)], 3, 50, m), 2);
        assert_eq!(level(&[(0, all), (1, all)], 3, 50, m), 2);
        assert_eq!(level(&[(0, all), (0, all), (0, all)], 3, 50, m), 3);
        // a row used for step 1 is free again only for another chain
        assert_eq!(level(&[(0, A | C), (0, B)], 3, 50, m), 2);
        assert_eq!(level(&[(0, A | C), (0, B), (0, A)], 3, 50, m), 3);
        // rows at an earlier time never come again
        assert_eq!(level(&[(0, all), (1, all), (1, all)], 3, 50, m), 3);
        // the chain with the later start may be the one whose rows are used up
        assert_eq!(level(&[(0, A), (5, A | B), (5, C)], 3, 10, m), 3);
    }

    /// Every assignment of distinct rows to steps, tried: the level strict_once must give.
    fn brute_force_once(events: &[(i64, u64)], steps: usize, window: i64) -> usize {
        fn extend(
            sorted: &[(i64, u64)],
            used: &mut Vec<usize>,
            step: usize,
            steps: usize,
            start: i64,
            last: i64,
            window: i64,
        ) -> usize {
            if step == steps {
                return steps;
            }
            let mut best = step;
            for (i, &(t, mask)) in sorted.iter().enumerate() {
                if t < last || t > start + window || used.contains(&i) || mask & (1 << step) == 0 {
                    continue;
                }
                used.push(i);
                best = best.max(extend(sorted, used, step + 1, steps, start, t, window));
                used.pop();
                if best == steps {
                    break;
                }
            }
            best
        }
        let mut sorted = events.to_vec();
        sorted.sort();
        let mut best = 0;
        for (i, &(t, mask)) in sorted.iter().enumerate() {
            if mask & 1 != 0 {
                best = best.max(extend(&sorted, &mut vec![i], 1, steps, t, t, window));
            }
        }
        best
    }

    #[test]
    fn strict_once_equals_the_exhaustive_search_on_random_ties() {
        // a small xorshift: the cases are the same in every run
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..3000 {
            let rows = 1 + next(7) as usize;
            let events: Vec<(i64, u64)> = (0..rows)
                .map(|_| (next(4) as i64 * 3, 1 + next(15)))
                .collect();
            let expected = brute_force_once(&events, 4, 4);
            assert_eq!(level(&events, 4, 4, "strict_once"), expected, "{events:?}");
        }
    }

    #[test]
    fn sixty_four_steps() {
        let events: Vec<(i64, u64)> = (0..64).map(|i| (i as i64, 1u64 << i)).collect();
        assert_eq!(level(&events, 64, 100, ""), 64);
        assert_eq!(level(&events, 64, 62, ""), 63);
    }

    fn chain(events: &[(i64, u64)], steps: usize, window: i64, mode: &str) -> (usize, Vec<i64>) {
        let mode = FunnelMode::parse("test", mode).unwrap();
        let mut events = events.to_vec();
        let mut entries = Vec::new();
        ordered_entries(&mut events, steps, &mut entries);
        funnel_chain(&entries, steps, window, mode)
    }

    #[test]
    fn the_reported_chain_starts_earliest_with_earliest_steps() {
        // Two chains reach 3; the one starting at 0 is reported, each step at its earliest.
        let events = [(0, A), (2, B), (3, B), (5, A), (7, C), (8, C)];
        assert_eq!(chain(&events, 3, 10, ""), (3, vec![0, 2, 7]));
        // The earliest start cannot reach the level within the window; the next one can.
        let events = [(0, A), (5, A), (12, B), (14, C)];
        assert_eq!(chain(&events, 3, 10, ""), (3, vec![5, 12, 14]));
        assert_eq!(chain(&[(1, A | B)], 2, 10, ""), (2, vec![1, 1]));
        assert_eq!(chain(&[], 2, 10, ""), (0, vec![]));
        assert_eq!(chain(&[(4, B)], 2, 10, ""), (0, vec![]));
        assert_eq!(chain(&[(4, A)], 2, 10, ""), (1, vec![4]));
    }

    #[test]
    fn the_reported_chain_respects_the_mode() {
        assert_eq!(
            chain(&[(0, A), (1, A), (1, B)], 2, 10, "strict_increase"),
            (2, vec![0, 1])
        );
        // strict_once: row {B,C} must not fill both; the tie on another row is tried
        let events = [(0, A), (1, B | C), (1, B)];
        assert_eq!(chain(&events, 3, 10, "strict_once"), (3, vec![0, 1, 1]));
        // strict_deduplication stops at the repeat: the chain is the one before it
        let events = [(0, A), (1, B), (2, B), (3, C)];
        assert_eq!(
            chain(&events, 3, 10, "strict_deduplication"),
            (2, vec![0, 1])
        );
    }
}

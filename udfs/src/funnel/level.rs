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

use std::collections::{HashMap, HashSet};

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

/// What a row is to the funnel, in the order rows of the same time are processed: rows that
/// match no condition first (as in ClickHouse), then excluded events (an exclusion at the time
/// of a step counts as coming before it), then steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A row matching no condition, kept only under `strict_order`.
    Other,
    /// A row matching an excluded condition (its 0-based condition number).
    Excluded(u8),
    /// A row matching a step (0-based).
    Step(u8),
}

/// One step of the processing order: a row's time, what it is, and the row's rank. A row
/// matching several conditions gives one entry per condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub time: i64,
    pub kind: Kind,
    pub row: u32,
}

/// Sorts `events` and lays them out as entries in the total processing order: by time, then
/// (kind, row). Conditions from `steps` on are exclusions.
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
                    kind: Kind::Other,
                    row,
                });
            }
            let mut bits = mask;
            while bits != 0 {
                let condition = bits.trailing_zeros() as u8;
                let kind = if (condition as usize) < steps {
                    Kind::Step(condition)
                } else {
                    Kind::Excluded(condition)
                };
                out.push(Entry { time, kind, row });
                bits &= bits - 1;
            }
            group_end += 1;
        }
        out[first_entry..].sort_unstable();
        group_start = group_end;
    }
}

/// A chain an exclusion dropped: the level it had reached and the exclusion (0-based, in the
/// order the mode names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub level: usize,
    pub exclusion: usize,
}

/// What the search over a group's entries found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// The funnel level (0 ..= steps).
    pub level: usize,
    /// How many entries were read before the search ended (a strict mode may stop it early).
    pub read: usize,
    /// The highest-level chain an exclusion dropped, if any.
    pub dropped: Option<Dropped>,
}

/// The level reached over `entries`.
///
/// With exclusions (a chain whose last step is I or later is exposed until it reaches J) or
/// step windows (the best chain may need a later step to leave room for the next), chains are
/// searched (see [`ChainSearch`]); otherwise one greedy pass finds the level.
pub fn entries_level(entries: &[Entry], steps: usize, window: i64, mode: &FunnelMode) -> Reached {
    if mode.unordered {
        Reached {
            level: unordered_level(entries, steps, window),
            read: entries.len(),
            dropped: None,
        }
    } else if mode.searched() {
        searched_level(entries, steps, window, mode, &[])
    } else {
        greedy_level(entries, steps, window, mode)
    }
}

/// The most distinct steps with an event in one window `[t, t + window]`. Every such window
/// can start at its earliest event, so the windows starting at each event are enough: one
/// sweep with a second pointer at the window's end and a count of events per step inside.
fn unordered_level(entries: &[Entry], steps: usize, window: i64) -> usize {
    let events: Vec<(i64, usize)> = entries
        .iter()
        .filter_map(|e| match e.kind {
            Kind::Step(step) => Some((e.time, step as usize)),
            _ => None,
        })
        .collect();
    let mut inside = vec![0u32; steps];
    let (mut distinct, mut best, mut end) = (0usize, 0usize, 0usize);
    for (first, &(start, _)) in events.iter().enumerate() {
        let last = start.saturating_add(window);
        while end < events.len() && events[end].0 <= last {
            let step = events[end].1;
            if inside[step] == 0 {
                distinct += 1;
            }
            inside[step] += 1;
            end += 1;
        }
        best = best.max(distinct);
        if best == steps {
            break;
        }
        // the window of the next event no longer holds this one
        let step = events[first].1;
        inside[step] -= 1;
        if inside[step] == 0 {
            distinct -= 1;
        }
    }
    best
}

/// For each step the state keeps the chain that reached it with the latest start; excluded
/// events are not read.
fn greedy_level(entries: &[Entry], steps: usize, window: i64, mode: &FunnelMode) -> Reached {
    // strictly increasing times never put one row (one time) on two steps
    let once = mode.strict_once && !mode.strict_increase;
    let mut levels = vec![Level::default(); steps];
    let mut snapshot = vec![Level::default(); steps];
    let mut extensions = Vec::new();
    let mut max_level = 0usize;
    let mut started = false;
    let mut current_time = None;
    let stopped = |level: usize, read: usize| Reached {
        level,
        read,
        dropped: None,
    };

    for (index, entry) in entries.iter().enumerate() {
        if mode.strict_increase && current_time != Some(entry.time) {
            // entries read the state as it was before their time
            snapshot.clone_from_slice(&levels);
            current_time = Some(entry.time);
        }
        let (time, row) = (entry.time, entry.row);
        let step = match entry.kind {
            Kind::Other => {
                if mode.strict_order && started {
                    return stopped(max_level, index);
                }
                continue;
            }
            Kind::Excluded(_) => continue,
            Kind::Step(step) => step as usize,
        };
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
            return stopped(max_level, index);
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
            return stopped(max_level, index);
        }
        previous.extend(row, time, window, once, &mut extensions);
        if !extensions.is_empty() {
            for (start, chain) in extensions.drain(..) {
                levels[step].offer(start, chain);
            }
            max_level = max_level.max(step + 1);
            if max_level == steps {
                return stopped(steps, index + 1);
            }
        }
    }
    stopped(max_level, entries.len())
}

/// The level when chains are searched: the best valid chain of each start, found by
/// [`ChainSearch`], bounded by the level of the greedy pass (which reads neither exclusions nor
/// step windows). When a chain without the exclusions gets further, the earliest such chain
/// tells which exclusion dropped it.
fn searched_level(
    entries: &[Entry],
    steps: usize,
    window: i64,
    mode: &FunnelMode,
    classes: &[u32],
) -> Reached {
    let bound = if mode.optional.is_empty() {
        greedy_level(entries, steps, window, mode).level
    } else {
        // the greedy pass takes every step: a chain that skips one may get further
        steps
    };
    let mut search = ChainSearch::new(entries, window, mode).with_classes(classes);
    let level = search.best_level(bound);
    let dropped = if mode.exclusions.is_empty() || level == bound {
        None
    } else {
        let plain = FunnelMode {
            exclusions: Vec::new(),
            ..mode.clone()
        };
        let mut unchecked = ChainSearch::new(entries, window, &plain).with_classes(classes);
        let unexcluded = if plain.searched() {
            unchecked.best_level(bound)
        } else {
            bound
        };
        if unexcluded > level {
            // every chain of that level breaks some exclusion; the earliest names it
            // without optional steps every step of the chain has a time
            let times: Vec<i64> = unchecked
                .first_chain(unexcluded)
                .into_iter()
                .flatten()
                .map(|(time, _)| time)
                .collect();
            search.first_broken(&times).map(|exclusion| Dropped {
                level: unexcluded,
                exclusion,
            })
        } else {
            None
        }
    };
    Reached {
        level,
        read: entries.len(),
        dropped,
    }
}

/// Sorts `events` into the total order, then returns the level reached (0 ..= `steps`).
pub fn funnel_level(
    events: &mut [(i64, u64)],
    steps: usize,
    window: i64,
    mode: &FunnelMode,
) -> usize {
    let mut entries = Vec::with_capacity(events.len());
    ordered_entries(events, steps, &mut entries);
    entries_level(&entries, steps, window, mode).level
}

/// The reported chain of a group: among the chains reaching the group's level, the one that
/// starts earliest, with each step at its earliest possible time (the earliest such chain,
/// compared step by step; an optional step taken at any time counts as earlier than the step
/// skipped). Returns what the search found and the time of each step up to the level, `None`
/// for a skipped optional step.
pub fn funnel_chain(
    entries: &[Entry],
    steps: usize,
    window: i64,
    mode: &FunnelMode,
) -> (Reached, Vec<Option<i64>>) {
    let reached = entries_level(entries, steps, window, mode);
    if reached.level == 0 {
        return (reached, Vec::new());
    }
    let mut search = ChainSearch::new(&entries[..reached.read], window, mode);
    let times = search.first_chain(reached.level);
    (
        reached,
        times.into_iter().map(|s| s.map(|(time, _)| time)).collect(),
    )
}

/// `funnel_chain` for a group whose rows carry values (window_funnel_values): `classes` gives
/// each row's value class (rows with equal values share one; [`NO_VALUE`] for NULL), which
/// linked steps (`same value`) must share. Returns each step's (time, row).
pub fn valued_chain(
    entries: &[Entry],
    steps: usize,
    window: i64,
    mode: &FunnelMode,
    classes: &[u32],
) -> (Reached, Vec<ChainStep>) {
    let reached = if mode.searched() && !mode.unordered {
        searched_level(entries, steps, window, mode, classes)
    } else {
        entries_level(entries, steps, window, mode)
    };
    if reached.level == 0 {
        return (reached, Vec::new());
    }
    let mut search = ChainSearch::new(&entries[..reached.read], window, mode).with_classes(classes);
    let chain = search.first_chain(reached.level);
    (reached, chain)
}

/// The value class of a row whose value is NULL: equal to no other.
pub const NO_VALUE: u32 = u32::MAX;

/// One step of a reported chain: its (time, row), or `None` for a skipped optional step.
pub type ChainStep = Option<(i64, u32)>;

/// Mixpanel's Totals counting: the levels of a group's attempts, one after another. The first
/// attempt starts on the group's first step 1 entry and reaches the best level of the chains
/// starting there. It ends when it first completes the funnel (the earliest last step of the
/// complete chains from its start), else when its window ends; the next attempt starts on the
/// first step 1 entry strictly later, so attempts never overlap and a converted person may
/// re-enter.
pub fn attempt_levels(
    entries: &[Entry],
    steps: usize,
    window: i64,
    mode: &FunnelMode,
) -> Vec<usize> {
    let mut search = ChainSearch::new(entries, window, mode);
    let mut levels = Vec::new();
    let mut ended_at: Option<i64> = None;
    for (index, entry) in entries.iter().enumerate() {
        if entry.kind != Kind::Step(0) || ended_at.is_some_and(|end| entry.time <= end) {
            continue;
        }
        let level = search.best_from(index);
        levels.push(level);
        let end = if level == steps {
            earliest_completion(entries, index, steps, window, mode)
        } else {
            entry.time.saturating_add(window)
        };
        ended_at = Some(end);
    }
    levels
}

/// The earliest time at which a chain starting on the step 1 entry at `index` completes the
/// funnel, when one does. A chain with every step by time T is a chain within the window
/// `T - start` (exclusions of a complete chain all end at one of its steps, not at the
/// window's end), so the earliest T among the last step's times is found by bisection.
fn earliest_completion(
    entries: &[Entry],
    index: usize,
    steps: usize,
    window: i64,
    mode: &FunnelMode,
) -> i64 {
    let start = entries[index].time;
    let end = start.saturating_add(window);
    let last_step = Kind::Step((steps - 1) as u8);
    let mut ends: Vec<i64> = entries[index..]
        .iter()
        .filter(|e| e.kind == last_step && e.time <= end)
        .map(|e| e.time)
        .collect();
    ends.dedup();
    let completes_by =
        |time: i64| ChainSearch::new(entries, time - start, mode).best_from(index) == steps;
    let first = ends.partition_point(|&time| !completes_by(time));
    // the whole window completes it (the caller found the level), so `first` is in range
    ends.get(first).copied().unwrap_or(end)
}

/// The times of the events of each exclusion's condition, sorted.
fn excluded_times(entries: &[Entry], mode: &FunnelMode) -> Vec<Vec<i64>> {
    mode.exclusions
        .iter()
        .map(|exclusion| {
            entries
                .iter()
                .filter(|e| e.kind == Kind::Excluded(exclusion.condition as u8))
                .map(|e| e.time)
                .collect()
        })
        .collect()
}

/// Whether some time in sorted `times` lies in (`after`, `until`].
fn any_between(times: &[i64], after: i64, until: i64) -> bool {
    let first_later = times.partition_point(|&t| t <= after);
    times.get(first_later).is_some_and(|&t| t <= until)
}

/// (entry index, steps reached, the times of the chain's steps that open an exclusion it is
/// still exposed to, its rows at its last time): all the rest of a search depends on, for a
/// given start.
/// The last element: the value class each link has taken, for linked steps.
type SearchKey = (usize, usize, Vec<i64>, Vec<u32>, Vec<u32>);

/// A depth-first search over the chains of one group: steps are tried at increasing times,
/// so the first chain found is the earliest. Without exclusions only ties at the earliest time
/// are worth trying (a row may be needed by a later step under `strict_once`); with them a
/// later step may be what avoids an excluded event, so later times are tried too, and what
/// each position leads to is remembered.
///
/// A chain of L steps is valid when, for every exclusion `exclude C from I to J` with I <= L,
/// no event of condition C lies after its step I and no later than its step J (when L >= J)
/// or the end of its window (when L < J).
///
/// With optional steps a chain may skip them: after step S it takes any of the steps up to
/// and including the first required one after S, and each step it takes is checked (order,
/// step window) against the step it took before, which is the last required step when the
/// optional steps between were skipped. A chain's level is its last step.
struct ChainSearch<'a> {
    entries: &'a [Entry],
    window: i64,
    mode: &'a FunnelMode,
    /// Per exclusion, the times of its events.
    excluded: Vec<Vec<i64>>,
    /// Per step, the positions of its entries, in order.
    by_step: Vec<Vec<usize>>,
    /// For the current start: positions from which no chain of the wanted level is valid.
    failed: HashSet<SearchKey>,
    /// For the current start: the best valid level reachable from a position.
    best: HashMap<SearchKey, usize>,
    times: Vec<i64>,
    rows: Vec<u32>,
    /// The 0-based step of each entry the chain took.
    taken: Vec<usize>,
    /// Per row, its value class (see [`valued_chain`]); empty without values.
    classes: &'a [u32],
}

/// Chain times compared step by step: earlier first, and a step taken before a step skipped.
fn time_order(times: impl Iterator<Item = Option<i64>>) -> Vec<(bool, i64)> {
    times.map(|t| (t.is_none(), t.unwrap_or(0))).collect()
}

/// Chains compared by their times (see [`time_order`]).
fn chain_order(chain: &[ChainStep]) -> Vec<(bool, i64)> {
    time_order(chain.iter().map(|s| s.map(|(time, _)| time)))
}

impl<'a> ChainSearch<'a> {
    fn new(entries: &'a [Entry], window: i64, mode: &'a FunnelMode) -> Self {
        let mut by_step: Vec<Vec<usize>> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            if let Kind::Step(step) = entry.kind {
                let step = step as usize;
                if by_step.len() <= step {
                    by_step.resize_with(step + 1, Vec::new);
                }
                by_step[step].push(index);
            }
        }
        ChainSearch {
            entries,
            window,
            mode,
            excluded: excluded_times(entries, mode),
            by_step,
            failed: HashSet::new(),
            best: HashMap::new(),
            times: Vec::new(),
            rows: Vec::new(),
            taken: Vec::new(),
            classes: &[],
        }
    }

    /// Linked steps (`same value`) compare the rows' value classes.
    fn with_classes(mut self, classes: &'a [u32]) -> Self {
        self.classes = classes;
        self
    }

    fn class_of(&self, row: u32) -> u32 {
        self.classes.get(row as usize).copied().unwrap_or(NO_VALUE)
    }

    /// The value class that step `next` (0-based) must have: that of the steps linked to it
    /// which the chain took, if any.
    fn linked_class(&self, next: usize) -> Option<u32> {
        let link = self.mode.link_of(next + 1)?;
        self.taken
            .iter()
            .zip(&self.rows)
            .find(|(step, _)| link.contains(&(**step + 1)))
            .map(|(_, row)| self.class_of(*row))
    }

    /// The steps reached by the chain so far (its last step, 1-based).
    fn reached(&self) -> usize {
        self.taken.last().map_or(0, |step| step + 1)
    }

    /// The 0-based steps the chain can take next: the step after its last one, and past it
    /// while that step is optional.
    fn next_steps(&self) -> std::ops::Range<usize> {
        let first = self.reached();
        let mut last = first;
        while self.mode.is_optional(last + 1) && last + 1 < self.by_step.len() {
            last += 1;
        }
        first..(last + 1).min(self.by_step.len().max(first))
    }

    /// Whether a later time for a step may be what makes a chain valid (exclusions, step
    /// windows), so that later times are tried and positions remembered.
    fn searching(&self) -> bool {
        self.mode.searched()
    }

    /// Starts a chain on the step 1 entry at `index`.
    fn start(&mut self, index: usize) {
        self.failed.clear();
        self.best.clear();
        self.times.clear();
        self.rows.clear();
        self.taken.clear();
        self.push(index);
    }

    /// Takes the entry at `index` as the chain's next step. The candidates already keep the
    /// steps up to an exclusion's J before its next excluded event, so no step closes one
    /// badly.
    fn push(&mut self, index: usize) {
        let entry = self.entries[index];
        self.times.push(entry.time);
        self.rows.push(entry.row);
        if let Kind::Step(step) = entry.kind {
            self.taken.push(step as usize);
        }
    }

    fn pop(&mut self) {
        self.times.pop();
        self.rows.pop();
        self.taken.pop();
    }

    /// The first exclusion (0-based) that a chain with these step times breaks.
    fn first_broken(&self, times: &[i64]) -> Option<usize> {
        let (start, level) = (*times.first()?, times.len());
        let end = start.saturating_add(self.window);
        self.mode
            .exclusions
            .iter()
            .zip(&self.excluded)
            .position(|(e, excluded)| {
                e.from <= level
                    && any_between(
                        excluded,
                        times[e.from - 1],
                        if level >= e.to { times[e.to - 1] } else { end },
                    )
            })
    }

    /// Whether the chain, ending at its current step, breaks an exclusion it is still exposed
    /// to (an excluded event after its step I and within its window).
    fn ends_badly(&self) -> bool {
        let level = self.times.len();
        let end = self.times[0].saturating_add(self.window);
        self.mode
            .exclusions
            .iter()
            .zip(&self.excluded)
            .any(|(e, excluded)| {
                e.covers(level) && any_between(excluded, self.times[e.from - 1], end)
            })
    }

    fn key(&self, from: usize) -> SearchKey {
        let step = self.times.len();
        let last = self.times[step - 1];
        let reached = self.reached();
        let open: Vec<i64> = self
            .mode
            .exclusions
            .iter()
            .filter(|e| e.from <= step && e.to > step)
            .map(|e| self.times[e.from - 1])
            .collect();
        let rows_now: Vec<u32> = self
            .rows
            .iter()
            .zip(&self.times)
            .filter(|(_, t)| **t == last)
            .map(|(r, _)| *r)
            .collect();
        let linked: Vec<u32> = self
            .mode
            .links
            .iter()
            .map(|link| self.linked_class(link[0] - 1).unwrap_or(NO_VALUE - 1))
            .collect();
        (from, reached, open, rows_now, linked)
    }

    /// The entries of step `next` (0-based) from `from` on that can be the chain's next step,
    /// in order: within the window, the step window, and before the next excluded event of
    /// every exclusion the chain is exposed to (the steps up to J must all come before it).
    fn candidates(&self, from: usize, next: usize) -> impl Iterator<Item = usize> + '_ {
        let step = self.times.len();
        let previous_time = self.times[step - 1];
        let (least, most) = self.mode.gap(next + 1);
        let mut deadline = self.times[0]
            .saturating_add(self.window)
            .min(previous_time.saturating_add(most));
        for (exclusion, excluded) in self.mode.exclusions.iter().zip(&self.excluded) {
            if exclusion.from <= step && step < exclusion.to {
                let after = self.times[exclusion.from - 1];
                let next = excluded.partition_point(|&t| t <= after);
                if let Some(&time) = excluded.get(next) {
                    deadline = deadline.min(time - 1);
                }
            }
        }
        let earliest = previous_time.saturating_add(least);
        let linked = self.linked_class(next);
        let positions: &[usize] = self.by_step.get(next).map_or(&[], |p| p.as_slice());
        // positions are in entry order, so in time order too
        let first = positions
            .partition_point(|&i| i < from)
            .max(positions.partition_point(|&i| self.entries[i].time < earliest));
        positions[first..]
            .iter()
            .copied()
            .take_while(move |&i| self.entries[i].time <= deadline)
            .filter(move |&i| {
                let entry = self.entries[i];
                let too_soon = self.mode.strict_increase && entry.time <= previous_time;
                let row_used = self.mode.strict_once && self.rows.contains(&entry.row);
                let unlinked = linked
                    .is_some_and(|class| class == NO_VALUE || self.class_of(entry.row) != class);
                !too_soon && !row_used && !unlinked
            })
    }

    /// The earliest valid chain of `level` steps (empty when there is none): each step's
    /// (time, row), `None` for a skipped optional step.
    fn first_chain(&mut self, level: usize) -> Vec<ChainStep> {
        let mut found: Option<Vec<ChainStep>> = None;
        for index in 0..self.entries.len() {
            let entry = self.entries[index];
            if found
                .as_ref()
                .is_some_and(|f| f[0].is_some_and(|(time, _)| entry.time > time))
            {
                // every start at the earliest time that works has been tried
                break;
            }
            if entry.kind != Kind::Step(0) {
                continue;
            }
            self.start(index);
            if let Some(rest) = self.extend(index + 1, level) {
                let mut times = vec![Some((entry.time, entry.row))];
                times.extend(rest);
                if found
                    .as_ref()
                    .is_none_or(|f| chain_order(&times) < chain_order(f))
                {
                    found = Some(times);
                }
            }
        }
        found.unwrap_or_default()
    }

    /// The earliest times of the steps that complete the chain so far to a valid one of
    /// `level` steps from entry `from` on, compared step by step; `None` when none does.
    /// Candidates of one time are all tried, since the rows they leave free may differ; a
    /// later time is tried only when no candidate of an earlier one leads anywhere.
    fn extend(&mut self, from: usize, level: usize) -> Option<Vec<ChainStep>> {
        let reached = self.reached();
        if reached == level {
            return (!self.ends_badly()).then(Vec::new);
        }
        let excluding = self.searching();
        let key = excluding.then(|| self.key(from));
        if key.as_ref().is_some_and(|k| self.failed.contains(k)) {
            return None;
        }
        let mut found: Option<Vec<ChainStep>> = None;
        // the next step itself before the steps that skip it: a step taken comes first
        for next in self.next_steps().filter(|&step| step < level) {
            let candidates: Vec<usize> = self.candidates(from, next).collect();
            let mut group_time = None;
            for index in candidates {
                let entry = self.entries[index];
                if group_time.is_some_and(|t| entry.time > t) {
                    // the candidates of the earlier time decided it, or without exclusions a
                    // later time never helps (every step after it could have been taken anyway)
                    if found.is_some() || !excluding {
                        break;
                    }
                }
                group_time = Some(entry.time);
                self.push(index);
                if let Some(rest) = self.extend(index + 1, level) {
                    let mut times = vec![None; next - reached];
                    times.push(Some((entry.time, entry.row)));
                    times.extend(rest);
                    if found
                        .as_ref()
                        .is_none_or(|f| chain_order(&times) < chain_order(f))
                    {
                        found = Some(times);
                    }
                }
                self.pop();
            }
            if found.is_some() {
                break;
            }
        }
        if found.is_none()
            && let Some(key) = key
        {
            self.failed.insert(key);
        }
        found
    }

    /// The most steps of a valid chain, over every start; `bound` (no chain has more) ends
    /// the search early.
    fn best_level(&mut self, bound: usize) -> usize {
        let mut level = 0;
        for index in 0..self.entries.len() {
            if level == bound {
                break;
            }
            if self.entries[index].kind == Kind::Step(0) {
                level = level.max(self.best_from(index));
            }
        }
        level
    }

    /// The most steps of a valid chain starting on the step 1 entry at `index`.
    fn best_from(&mut self, index: usize) -> usize {
        self.start(index);
        self.best_here(index + 1)
    }

    fn best_here(&mut self, from: usize) -> usize {
        let key = self.key(from);
        if let Some(&known) = self.best.get(&key) {
            return known;
        }
        let mut best = if self.ends_badly() { 0 } else { self.reached() };
        let candidates: Vec<usize> = self
            .next_steps()
            .flat_map(|next| self.candidates(from, next))
            .collect();
        for index in candidates {
            self.push(index);
            best = best.max(self.best_here(index + 1));
            self.pop();
            if best == self.by_step.len() {
                // no chain has more steps than there are steps with entries
                break;
            }
        }
        self.best.insert(key, best);
        best
    }
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
        let forward = funnel_level(&mut events, steps, window, &mode);
        // the same answer in reverse arrival order
        let mut reversed: Vec<_> = events.iter().rev().copied().collect();
        assert_eq!(forward, funnel_level(&mut reversed, steps, window, &mode));
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
        let (reached, times) = funnel_chain(&entries, steps, window, &mode);
        (reached.level, times.into_iter().flatten().collect())
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

    /// The level, the reported chain and the dropped chain (level, exclusion number from 1)
    /// of `events` under `mode`; steps are the conditions before the excluded ones.
    fn excluded(
        events: &[(i64, u64)],
        conditions: usize,
        window: i64,
        mode: &str,
    ) -> (usize, Vec<i64>, Option<(usize, usize)>) {
        let mode = FunnelMode::parse("test", mode).unwrap();
        let steps = mode.steps("test", conditions).unwrap();
        let mut events = events.to_vec();
        let mut entries = Vec::new();
        ordered_entries(&mut events, steps, &mut entries);
        let (reached, times) = funnel_chain(&entries, steps, window, &mode);
        // the same answer in reverse arrival order
        let mut reversed: Vec<_> = events.iter().rev().copied().collect();
        assert_eq!(
            reached.level,
            funnel_level(&mut reversed, steps, window, &mode)
        );
        let dropped = reached.dropped.map(|d| (d.level, d.exclusion + 1));
        (
            reached.level,
            times.into_iter().flatten().collect(),
            dropped,
        )
    }

    #[test]
    fn exclusions_drop_the_chains_they_fall_in() {
        const X: u64 = 8;
        let m = "exclude 4 from 1 to 3";
        // view@0 cart@5 refund@6 pay@7: the only chain has a refund between steps 1 and 3
        assert_eq!(
            excluded(&[(0, A), (5, B), (6, X), (7, C)], 4, 10, m),
            (0, vec![], Some((3, 1)))
        );
        // the refund after the payment, or after the window, drops nothing
        assert_eq!(
            excluded(&[(0, A), (5, B), (7, C), (8, X)], 4, 10, m),
            (3, vec![0, 5, 7], None)
        );
        assert_eq!(
            excluded(&[(0, A), (5, B), (11, X)], 4, 10, m),
            (2, vec![0, 5], None)
        );
        // a chain that stops at step 2 is dropped by a refund within its window
        assert_eq!(
            excluded(&[(0, A), (5, B), (9, X)], 4, 10, m),
            (0, vec![], Some((2, 1)))
        );
        // a new chain after the refund counts
        assert_eq!(
            excluded(&[(0, A), (2, X), (3, A), (5, B), (7, C)], 4, 10, m),
            (3, vec![3, 5, 7], None)
        );
        // a step I taken again after the excluded event avoids it
        let m2 = "exclude 4 from 2 to 3";
        assert_eq!(
            excluded(&[(0, A), (2, B), (3, X), (4, B), (6, C)], 4, 10, m2),
            (3, vec![0, 4, 6], None)
        );
        // before step I the excluded event does not matter
        assert_eq!(
            excluded(&[(0, A), (1, X), (2, B), (6, C)], 4, 10, m2),
            (3, vec![0, 2, 6], None)
        );
        // at the time of step I it comes before it; at the time of step J too
        assert_eq!(
            excluded(&[(0, A), (2, B | X), (6, C)], 4, 10, m2),
            (3, vec![0, 2, 6], None)
        );
        assert_eq!(
            excluded(&[(0, A), (2, B), (6, C | X)], 4, 10, m2),
            (1, vec![0], Some((3, 1)))
        );
        // two exclusions: the second one fires
        let m3 = "exclude 4 from 1 to 2, exclude 5 from 2 to 3";
        assert_eq!(
            excluded(&[(0, A), (1, B), (2, 16), (3, C)], 5, 10, m3),
            (1, vec![0], Some((3, 2)))
        );
    }

    #[test]
    fn unordered_counts_distinct_steps_in_one_window() {
        let m = "unordered";
        assert_eq!(level(&[(0, C), (1, B), (2, A)], 3, 10, m), 3);
        assert_eq!(level(&[(0, C), (11, B), (12, A)], 3, 10, m), 2);
        assert_eq!(level(&[(0, B), (5, B)], 3, 10, m), 1);
        assert_eq!(level(&[(0, A | B | C)], 3, 10, m), 3);
        assert_eq!(level(&[], 3, 10, m), 0);
        // against every window, on random groups
        let mut random = crate::TestRandom::new(0x00c0_ffee_1234_5678);
        let mode = FunnelMode::parse("test", m).unwrap();
        for _ in 0..3000 {
            let rows = random.below(10) as usize;
            let events: Vec<(i64, u64)> = (0..rows)
                .map(|_| (random.below(30) as i64, random.below(16)))
                .collect();
            let window = random.below(12) as i64;
            let expected = events
                .iter()
                .filter(|e| e.1 & 7 != 0)
                .map(|&(t, _)| {
                    let mask = events
                        .iter()
                        .filter(|e| e.0 >= t && e.0 <= t + window)
                        .fold(0u64, |m, e| m | e.1);
                    (mask & 7).count_ones() as usize
                })
                .max()
                .unwrap_or(0);
            let mut copy = events.clone();
            assert_eq!(
                funnel_level(&mut copy, 3, window, &mode),
                expected,
                "{events:?} {window}"
            );
        }
    }

    #[test]
    fn step_windows_bound_the_time_between_steps() {
        // view@0 cart@3 pay@20: pay is within the window but 17 after the cart
        let events = [(0, A), (3, B), (20, C)];
        assert_eq!(excluded(&events, 3, 30, ""), (3, vec![0, 3, 20], None));
        assert_eq!(
            excluded(&events, 3, 30, "step 3 within 10"),
            (2, vec![0, 3], None)
        );
        // a later cart leaves room for the payment: the greedy choice would not find it
        let events = [(0, A), (3, B), (15, B), (20, C)];
        assert_eq!(
            excluded(&events, 3, 30, "step 3 within 10"),
            (3, vec![0, 15, 20], None)
        );
        // at least: a cart right after the view does not count
        let events = [(0, A), (1, B), (8, B)];
        assert_eq!(
            excluded(&events, 2, 30, "step 2 after 5"),
            (2, vec![0, 8], None)
        );
        assert_eq!(
            excluded(&events, 2, 30, "step 2 after 9"),
            (1, vec![0], None)
        );
        // bounds are inclusive
        assert_eq!(
            excluded(&[(0, A), (5, B)], 2, 30, "step 2 after 5, step 2 within 5").0,
            2
        );
    }

    /// Every chain, tried: the level under exclusions and step windows, and the dropped chain,
    /// by definition.
    fn brute_force_excluded(
        events: &[(i64, u64)],
        steps: usize,
        window: i64,
        mode: &FunnelMode,
    ) -> (usize, Vec<i64>, Option<(usize, usize)>) {
        let mut sorted = events.to_vec();
        sorted.sort();
        // without optional steps a chain takes steps 1, 2, ... in turn: its rows are enough
        let chains: Vec<Vec<usize>> = (0..sorted.len())
            .filter(|&i| sorted[i].1 & 1 != 0)
            .flat_map(|i| chains_from(&sorted, i, steps, window, mode))
            .map(|chain| chain.into_iter().map(|(_, row)| row).collect())
            .collect();
        let times = |chain: &Vec<usize>| chain.iter().map(|&i| sorted[i].0).collect::<Vec<i64>>();
        let broken = |chain: &Vec<usize>| -> Option<usize> {
            let t = times(chain);
            let level = t.len();
            mode.exclusions.iter().position(|e| {
                if e.from > level {
                    return false;
                }
                let until = if level >= e.to {
                    t[e.to - 1]
                } else {
                    t[0] + window
                };
                sorted.iter().any(|&(x, mask)| {
                    mask & (1 << e.condition) != 0 && x > t[e.from - 1] && x <= until
                })
            })
        };
        let valid: Vec<&Vec<usize>> = chains.iter().filter(|c| broken(c).is_none()).collect();
        let level = valid.iter().map(|c| c.len()).max().unwrap_or(0);
        let reported = valid
            .iter()
            .filter(|c| c.len() == level)
            .map(|c| times(c))
            .min()
            .unwrap_or_default();
        let unexcluded = chains.iter().map(|c| c.len()).max().unwrap_or(0);
        let dropped = (unexcluded > level).then(|| {
            let first = chains
                .iter()
                .filter(|c| c.len() == unexcluded)
                .min_by_key(|c| times(c))
                .unwrap();
            (unexcluded, broken(first).unwrap() + 1)
        });
        (level, reported, dropped)
    }

    /// The level, the reported chain (the earliest, step by step) and the dropped chain, against
    /// every chain tried, with and without exclusions, on small groups full of ties.
    #[test]
    fn exclusions_equal_the_exhaustive_search_on_random_groups() {
        let mut random = crate::TestRandom::new(0x5151_7e57_c0de_0001);
        let modes = [
            "exclude 4 from 1 to 3",
            "exclude 4 from 2 to 3, strict_increase",
            "exclude 4 from 1 to 2, exclude 5 from 2 to 3, strict_once",
            "exclude 4 from 1 to 3, exclude 4 from 2 to 3",
            "exclude 5 from 1 to 2, exclude 4 from 1 to 3",
            // step windows, alone and with exclusions
            "step 2 within 2",
            "step 3 after 2, exclude 4 from 1 to 3",
            "step 2 within 4, step 3 within 2, strict_once",
            "step 3 after 1, step 2 within 6, strict_increase",
            // without exclusions the search and the greedy pass must agree as well
            "",
            "strict_once",
            "strict_increase",
        ];
        for case in 0..12000 {
            let text = modes[case % modes.len()];
            let mode = FunnelMode::parse("test", text).unwrap();
            let conditions = 3 + mode
                .exclusions
                .iter()
                .map(|e| e.condition)
                .collect::<HashSet<_>>()
                .len();
            let rows = 1 + random.below(9) as usize;
            let events: Vec<(i64, u64)> = (0..rows)
                .map(|_| {
                    (
                        random.below(6) as i64 * 2,
                        1 + random.below((1 << conditions) - 1),
                    )
                })
                .collect();
            let expected = brute_force_excluded(&events, 3, 5, &mode);
            assert_eq!(
                excluded(&events, conditions, 5, text),
                expected,
                "{text}: {events:?}"
            );
        }
    }

    /// The level and reported chain under optional steps, checked in both arrival orders.
    fn with_optional(
        events: &[(i64, u64)],
        steps: usize,
        window: i64,
        mode: &str,
    ) -> (usize, Vec<Option<i64>>) {
        let mode = FunnelMode::parse("test", mode).unwrap();
        let mut events = events.to_vec();
        let mut entries = Vec::new();
        ordered_entries(&mut events, steps, &mut entries);
        let (reached, times) = funnel_chain(&entries, steps, window, &mode);
        let mut reversed: Vec<_> = events.iter().rev().copied().collect();
        assert_eq!(
            reached.level,
            funnel_level(&mut reversed, steps, window, &mode)
        );
        (reached.level, times)
    }

    #[test]
    fn optional_steps_may_be_skipped() {
        let m = "optional 2";
        // view then pay, no coupon: level 3, step 2 skipped
        assert_eq!(
            with_optional(&[(0, A), (5, C)], 3, 10, m),
            (3, vec![Some(0), None, Some(5)])
        );
        // the coupon is taken when it comes between them
        assert_eq!(
            with_optional(&[(0, A), (3, B), (5, C)], 3, 10, m),
            (3, vec![Some(0), Some(3), Some(5)])
        );
        // a coupon after the payment is not part of the chain
        assert_eq!(
            with_optional(&[(0, A), (5, C), (7, B)], 3, 10, m),
            (3, vec![Some(0), None, Some(5)])
        );
        // the coupon alone reaches level 2; without the option the payment counts for nothing
        assert_eq!(with_optional(&[(0, A), (3, B)], 3, 10, m).0, 2);
        assert_eq!(level(&[(0, A), (5, C)], 3, 10, ""), 1);
        // the window still holds: the payment is too late
        assert_eq!(with_optional(&[(0, A), (11, C)], 3, 10, m).0, 1);
        // a required step is not skipped
        assert_eq!(with_optional(&[(0, A), (5, C)], 3, 10, "optional 3").0, 1);
        // two optional steps in a row
        assert_eq!(
            with_optional(&[(0, A), (4, D)], 4, 10, "optional 2, optional 3"),
            (4, vec![Some(0), None, None, Some(4)])
        );
        // a step window is measured from the step taken before: from step 1 when 2 is skipped
        let windowed = "optional 2, step 3 within 4";
        assert_eq!(with_optional(&[(0, A), (5, C)], 3, 10, windowed).0, 1);
        assert_eq!(
            with_optional(&[(0, A), (3, B), (5, C)], 3, 10, windowed).0,
            3
        );
        assert_eq!(with_optional(&[(0, A), (4, C)], 3, 10, windowed).0, 3);
    }

    /// Every chain starting on row `first` of `sorted` that skips only optional steps, as
    /// (step, row) pairs, by definition.
    fn chains_from(
        sorted: &[(i64, u64)],
        first: usize,
        steps: usize,
        window: i64,
        mode: &FunnelMode,
    ) -> Vec<Vec<(usize, usize)>> {
        fn grow(
            sorted: &[(i64, u64)],
            chain: &mut Vec<(usize, usize)>,
            steps: usize,
            window: i64,
            mode: &FunnelMode,
            out: &mut Vec<Vec<(usize, usize)>>,
        ) {
            out.push(chain.clone());
            let (last_step, last_row) = chain[chain.len() - 1];
            let (start, last) = (sorted[chain[0].1].0, sorted[last_row].0);
            for step in last_step + 1..steps {
                let (least, most) = mode.gap(step + 1);
                for (i, &(t, mask)) in sorted.iter().enumerate() {
                    let later = if mode.strict_increase {
                        t > last
                    } else {
                        t >= last
                    };
                    if mask & (1 << step) != 0
                        && later
                        && t - last >= least
                        && t - last <= most
                        && t <= start + window
                        && !(mode.strict_once && chain.iter().any(|&(_, r)| r == i))
                    {
                        chain.push((step, i));
                        grow(sorted, chain, steps, window, mode, out);
                        chain.pop();
                    }
                }
                if !mode.is_optional(step + 1) {
                    break;
                }
            }
        }
        let mut chains = Vec::new();
        grow(
            sorted,
            &mut vec![(0, first)],
            steps,
            window,
            mode,
            &mut chains,
        );
        chains
    }

    /// A chain's times by step, `None` for a skipped step, up to its last step.
    fn chain_times(sorted: &[(i64, u64)], chain: &[(usize, usize)]) -> Vec<Option<i64>> {
        let mut times = vec![None; chain[chain.len() - 1].0 + 1];
        for &(step, row) in chain {
            times[step] = Some(sorted[row].0);
        }
        times
    }

    /// The level and the reported chain by definition (earliest start, then step by step, a
    /// step taken before a step skipped), over every chain.
    fn brute_force_optional(
        events: &[(i64, u64)],
        steps: usize,
        window: i64,
        mode: &FunnelMode,
    ) -> (usize, Vec<Option<i64>>) {
        let mut sorted = events.to_vec();
        sorted.sort();
        let chains: Vec<Vec<(usize, usize)>> = (0..sorted.len())
            .filter(|&i| sorted[i].1 & 1 != 0)
            .flat_map(|i| chains_from(&sorted, i, steps, window, mode))
            .collect();
        let level = chains
            .iter()
            .map(|c| c[c.len() - 1].0 + 1)
            .max()
            .unwrap_or(0);
        let reported = chains
            .iter()
            .filter(|c| c[c.len() - 1].0 + 1 == level)
            .map(|c| chain_times(&sorted, c))
            .min_by_key(|times| time_order(times.iter().copied()))
            .unwrap_or_default();
        (level, reported)
    }

    /// Random groups full of ties, cycling through `modes`: 1 to `max_rows` rows at even times
    /// below `2 * times`, each matching a non-empty random set of `steps` conditions; `check`
    /// gets each group with its mode.
    fn random_groups(
        seed: u64,
        modes: &[&str],
        cases: usize,
        (max_rows, times, steps): (u64, u64, u32),
        mut check: impl FnMut(&str, &FunnelMode, &[(i64, u64)]),
    ) {
        let mut random = crate::TestRandom::new(seed);
        for case in 0..cases {
            let text = modes[case % modes.len()];
            let mode = FunnelMode::parse("test", text).unwrap();
            let rows = 1 + random.below(max_rows) as usize;
            let events: Vec<(i64, u64)> = (0..rows)
                .map(|_| {
                    (
                        random.below(times) as i64 * 2,
                        1 + random.below((1 << steps) - 1),
                    )
                })
                .collect();
            check(text, &mode, &events);
        }
    }

    #[test]
    fn optional_steps_equal_the_exhaustive_search_on_random_groups() {
        let modes = [
            "optional 2",
            "optional 3",
            "optional 2, optional 3",
            "optional 2, strict_increase",
            "optional 3, strict_once",
            "optional 2, step 3 within 4",
            "optional 2, optional 4, step 4 after 2, strict_once",
            "optional 4, step 2 within 6, step 4 within 3",
        ];
        random_groups(
            0x0971_0a11_5ee5_0002,
            &modes,
            8000,
            (9, 6, 4),
            |text, mode, events| {
                assert_eq!(
                    with_optional(events, 4, 7, text),
                    brute_force_optional(events, 4, 7, mode),
                    "{text}: {events:?}"
                );
            },
        );
    }

    /// The attempts' levels, in both arrival orders.
    fn attempts(events: &[(i64, u64)], steps: usize, window: i64, mode: &str) -> Vec<usize> {
        let mode = FunnelMode::parse("test", mode).unwrap();
        let mut entries = Vec::new();
        let mut forward = events.to_vec();
        ordered_entries(&mut forward, steps, &mut entries);
        let levels = attempt_levels(&entries, steps, window, &mode);
        let mut reversed: Vec<_> = events.iter().rev().copied().collect();
        ordered_entries(&mut reversed, steps, &mut entries);
        assert_eq!(levels, attempt_levels(&entries, steps, window, &mode));
        levels
    }

    #[test]
    fn totals_count_every_attempt() {
        // view, cart, pay; view, pay: two attempts, the second re-enters after the payment
        assert_eq!(
            attempts(&[(0, A), (1, B), (2, C), (5, A), (6, C)], 3, 10, ""),
            vec![3, 1]
        );
        // a view inside an unfinished attempt's window starts nothing; the next one after it does
        assert_eq!(
            attempts(&[(0, A), (4, A), (6, B), (11, A)], 3, 10, ""),
            vec![2, 1]
        );
        // an attempt that converts ends at its payment: a view at the same time does not
        // re-enter, a later one does
        assert_eq!(
            attempts(&[(0, A), (2, B | C), (2, A), (3, A | B)], 3, 10, ""),
            vec![3, 2]
        );
        // with optional steps, each attempt may skip them
        assert_eq!(
            attempts(
                &[(0, A), (2, C), (3, A), (4, B), (5, C)],
                3,
                10,
                "optional 2"
            ),
            vec![3, 3]
        );
        // the first completion ends an attempt, not the reported chain's: view, cart@1,
        // cart@5, pay@6 with the payment within 2 of the cart completes at 6
        assert_eq!(
            attempts(
                &[(0, A), (1, B), (5, B), (6, C), (7, A)],
                3,
                10,
                "step 3 within 2"
            ),
            vec![3, 1]
        );
        assert_eq!(attempts(&[], 3, 10, ""), Vec::<usize>::new());
    }

    /// Attempts by definition: each starts on the first step 1 row after the last one ended,
    /// takes the best of the chains from that row, and ends at the earliest last step of its
    /// complete chains or with its window.
    fn brute_force_attempts(
        events: &[(i64, u64)],
        steps: usize,
        window: i64,
        mode: &FunnelMode,
    ) -> Vec<usize> {
        let mut sorted = events.to_vec();
        sorted.sort();
        let mut levels = Vec::new();
        let mut ended_at: Option<i64> = None;
        for first in 0..sorted.len() {
            let (time, mask) = sorted[first];
            if mask & 1 == 0 || ended_at.is_some_and(|end| time <= end) {
                continue;
            }
            let chains = chains_from(&sorted, first, steps, window, mode);
            let level = chains
                .iter()
                .map(|c| c[c.len() - 1].0 + 1)
                .max()
                .unwrap_or(0);
            levels.push(level);
            ended_at = Some(if level == steps {
                chains
                    .iter()
                    .filter(|c| c[c.len() - 1].0 + 1 == steps)
                    .map(|c| sorted[c[c.len() - 1].1].0)
                    .min()
                    .unwrap()
            } else {
                time + window
            });
        }
        levels
    }

    #[test]
    fn totals_equal_the_exhaustive_search_on_random_groups() {
        let modes = [
            "",
            "strict_increase",
            "strict_once",
            "optional 2",
            "step 3 within 3",
            "optional 2, step 3 after 2, strict_once",
        ];
        random_groups(
            0x7074_a150_0000_0003,
            &modes,
            6000,
            (12, 10, 3),
            |text, mode, events| {
                assert_eq!(
                    attempts(events, 3, 5, text),
                    brute_force_attempts(events, 3, 5, mode),
                    "{text}: {events:?}"
                );
            },
        );
    }

    /// Linked steps against every chain: random groups whose rows carry values (some NULL),
    /// the level and the reported chain's (time, row) by definition.
    #[test]
    fn linked_steps_equal_the_exhaustive_search_on_random_groups() {
        let mut random = crate::TestRandom::new(0x5a3e_0a1e_0000_0004);
        let modes = [
            "same value 2 3",
            "same value 1 3",
            "same value 1 2 3",
            "same value 1 3, optional 2",
            "same value 2 3, strict_once",
            "same value 1 2, step 3 within 3, strict_increase",
        ];
        for case in 0..6000 {
            let text = modes[case % modes.len()];
            let mode = FunnelMode::parse("test", text).unwrap();
            let rows = 1 + random.below(9) as usize;
            // (time, mask, value): None is NULL
            let mut events: Vec<(i64, u64, Option<u64>)> = (0..rows)
                .map(|_| {
                    let value = random.below(4);
                    (
                        random.below(5) as i64 * 2,
                        1 + random.below(7),
                        (value < 3).then_some(value),
                    )
                })
                .collect();
            events.sort();
            let sorted: Vec<(i64, u64)> = events.iter().map(|e| (e.0, e.1)).collect();
            let classes: Vec<u32> = events
                .iter()
                .map(|e| e.2.map_or(NO_VALUE, |v| v as u32))
                .collect();
            let mut pairs = sorted.clone();
            let mut entries = Vec::new();
            ordered_entries(&mut pairs, 3, &mut entries);
            let (reached, chain) = valued_chain(&entries, 3, 5, &mode, &classes);

            let linked_ok = |c: &Vec<(usize, usize)>| {
                mode.links.iter().all(|link| {
                    let values: Vec<Option<u64>> = c
                        .iter()
                        .filter(|(step, _)| link.contains(&(step + 1)))
                        .map(|&(_, row)| events[row].2)
                        .collect();
                    // one linked step alone is unconstrained; two must match, and NULL
                    // matches nothing
                    values.len() < 2 || values.iter().all(|v| v.is_some() && *v == values[0])
                })
            };
            let chains: Vec<Vec<(usize, usize)>> = (0..sorted.len())
                .filter(|&i| sorted[i].1 & 1 != 0)
                .flat_map(|i| chains_from(&sorted, i, 3, 5, &mode))
                .filter(|c| linked_ok(c))
                .collect();
            let level = chains
                .iter()
                .map(|c| c[c.len() - 1].0 + 1)
                .max()
                .unwrap_or(0);
            let expected: Vec<ChainStep> = chains
                .iter()
                .filter(|c| c[c.len() - 1].0 + 1 == level)
                .map(|c| {
                    let mut steps: Vec<ChainStep> = vec![None; level];
                    for &(step, row) in c {
                        steps[step] = Some((sorted[row].0, row as u32));
                    }
                    steps
                })
                .min_by_key(|steps| {
                    let rows: Vec<Option<u32>> = steps.iter().map(|s| s.map(|(_, r)| r)).collect();
                    (chain_order(steps), rows)
                })
                .unwrap_or_default();
            assert_eq!(
                (reached.level, chain),
                (level, expected),
                "{text}: {events:?}"
            );
        }
    }
}

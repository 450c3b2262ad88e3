//! Matching a pattern over a group's events without backtracking: a Thompson-style simulation
//! that keeps, for each step, the threads waiting to match it. A thread's only memory is the
//! time of the event its previous step matched, and only steps with time constraints need
//! it, so each step keeps a set of such times, pruned as time moves on. The cost is
//! O(events x steps x log events), whatever the pattern: no exponential cases, no iteration cap.
//!
//! Events are ordered by (time, condition mask): ties are broken the same way whatever the
//! order rows arrive in.

use std::collections::BTreeSet;

use super::pattern::{Atom, Pattern, Step, TimeConstraint, TimeOp};

/// Threads waiting for one step.
#[derive(Debug, Clone, Default)]
struct Waiting {
    alive: bool,
    /// Times of the previous step's events, for steps with time constraints.
    times: BTreeSet<i64>,
}

impl Waiting {
    fn clear(&mut self) {
        self.alive = false;
        self.times.clear();
    }
}

/// The range of previous-event times that satisfy all of `constraints` for an event at `t`,
/// and the single times `!=` excludes.
fn admissible(constraints: &[TimeConstraint], t: i64) -> (i64, i64, Vec<i64>) {
    let (mut low, mut high, mut excluded) = (i64::MIN, t, Vec::new());
    for c in constraints {
        let edge = t.saturating_sub(c.amount);
        match c.op {
            TimeOp::Less => low = low.max(edge.saturating_add(1)),
            TimeOp::LessOrEqual => low = low.max(edge),
            TimeOp::Greater => high = high.min(edge.saturating_sub(1)),
            TimeOp::GreaterOrEqual => high = high.min(edge),
            TimeOp::Equal => {
                low = low.max(edge);
                high = high.min(edge);
            }
            TimeOp::NotEqual => excluded.push(edge),
        }
    }
    (low, high, excluded)
}

fn can_take(step: &Step, waiting: &Waiting, t: i64, mask: u64) -> bool {
    let atom_matches = match step.atom {
        Atom::Condition(c) => mask >> c & 1 == 1,
        Atom::Any => true,
    };
    if !atom_matches || !waiting.alive {
        return false;
    }
    if step.constraints.is_empty() {
        return true;
    }
    let (low, high, excluded) = admissible(&step.constraints, t);
    if low > high {
        return false;
    }
    waiting
        .times
        .range(low..=high)
        .take(excluded.len() + 1)
        .any(|time| !excluded.contains(time))
}

/// Whether a step's constraints bound the previous time from below: older times can then be
/// dropped for good, since later events only raise the bound.
fn lower_bound(step: &Step, t: i64) -> Option<i64> {
    let has_lower = step
        .constraints
        .iter()
        .any(|c| matches!(c.op, TimeOp::Less | TimeOp::LessOrEqual | TimeOp::Equal));
    has_lower.then(|| admissible(&step.constraints, t).0)
}

pub struct Simulation<'p> {
    pattern: &'p Pattern,
    waiting: Vec<Waiting>,
}

impl<'p> Simulation<'p> {
    pub fn new(pattern: &'p Pattern) -> Self {
        let mut simulation = Simulation {
            pattern,
            waiting: vec![Waiting::default(); pattern.steps.len()],
        };
        simulation.reset();
        simulation
    }

    /// Forgets every thread: the search starts afresh after the next event.
    pub fn reset(&mut self) {
        for waiting in &mut self.waiting {
            waiting.clear();
        }
        // the search is not anchored: a match may start at any event
        self.waiting[0].alive = true;
    }

    /// Feeds one event; `on_step(j)` is told each step `j` that some thread matched with it.
    /// Returns true when the last step was matched.
    pub fn feed(&mut self, t: i64, mask: u64, mut on_step: impl FnMut(usize)) -> bool {
        let steps = &self.pattern.steps;
        let last = steps.len() - 1;
        let mut completed = false;
        for j in (0..steps.len()).rev() {
            if can_take(&steps[j], &self.waiting[j], t, mask) {
                on_step(j);
                if j == last {
                    completed = true;
                } else {
                    let next = &mut self.waiting[j + 1];
                    next.alive = true;
                    if !steps[j + 1].constraints.is_empty() {
                        next.times.insert(t);
                    }
                }
            }
            if j > 0 {
                if !steps[j].skip_before {
                    // without `.*` before it, a step must take the very next event
                    self.waiting[j].clear();
                } else if let Some(low) = lower_bound(&steps[j], t) {
                    let waiting = &mut self.waiting[j];
                    waiting.times = waiting.times.split_off(&low);
                }
            }
        }
        completed
    }
}

/// Sorts `events` into the total order used by every sequence function.
pub fn sort_events(events: &mut [(i64, u64)]) {
    // A stable sort: it is adaptive to the time-ordered runs that events mostly arrive in.
    events.sort();
}

/// Whether the pattern matches somewhere in the (sorted) events.
pub fn sequence_match(pattern: &Pattern, events: &[(i64, u64)]) -> bool {
    let mut simulation = Simulation::new(pattern);
    events
        .iter()
        .any(|&(t, mask)| simulation.feed(t, mask, |_| {}))
}

/// Non-overlapping matches, left to right: each is the earliest-ending match after the
/// previous one's last event.
pub fn sequence_count(pattern: &Pattern, events: &[(i64, u64)]) -> u64 {
    let mut simulation = Simulation::new(pattern);
    let mut count = 0;
    for &(t, mask) in events {
        if simulation.feed(t, mask, |_| {}) {
            count += 1;
            simulation.reset();
        }
    }
    count
}

/// The events of the first match to complete: for each step, the index of its event. Each
/// earlier step takes the latest event that still completes the match.
pub fn first_match(pattern: &Pattern, events: &[(i64, u64)]) -> Option<Vec<usize>> {
    let steps = pattern.steps.len();
    let mut simulation = Simulation::new(pattern);
    // reached[i * steps + j]: some valid chain of steps 0..=j ends at event i
    let mut reached = Vec::new();
    let mut end = None;
    for (i, &(t, mask)) in events.iter().enumerate() {
        reached.resize((i + 1) * steps, false);
        let row = &mut reached[i * steps..];
        if simulation.feed(t, mask, |j| row[j] = true) {
            end = Some(i);
            break;
        }
    }
    let end = end?;
    let mut chain = vec![end; steps];
    for j in (0..steps - 1).rev() {
        let next = chain[j + 1];
        let step = &pattern.steps[j + 1];
        let candidates: Box<dyn Iterator<Item = usize>> = if step.skip_before {
            Box::new((0..next).rev())
        } else {
            Box::new(next.checked_sub(1).into_iter())
        };
        let found = candidates.into_iter().find(|&i| {
            reached[i * steps + j]
                && step
                    .constraints
                    .iter()
                    .all(|c| c.holds(events[i].0, events[next].0))
        })?;
        chain[j] = found;
    }
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u64 = 1;
    const B: u64 = 2;
    const C: u64 = 4;

    fn parse(p: &str) -> Pattern {
        Pattern::parse("test", p, 3).unwrap()
    }

    fn matches(p: &str, events: &[(i64, u64)]) -> bool {
        let mut events = events.to_vec();
        sort_events(&mut events);
        sequence_match(&parse(p), &events)
    }

    fn count(p: &str, events: &[(i64, u64)]) -> u64 {
        let mut events = events.to_vec();
        sort_events(&mut events);
        sequence_count(&parse(p), &events)
    }

    #[test]
    fn consecutive_and_skipping() {
        assert!(matches("(?1)(?2)", &[(0, B), (1, A), (2, B)]));
        assert!(!matches("(?1)(?2)", &[(0, A), (1, C), (2, B)]));
        assert!(matches("(?1).*(?2)", &[(0, A), (1, C), (2, B)]));
        assert!(matches("(?1).(?2)", &[(0, A), (1, C), (2, B)]));
        assert!(!matches("(?1).(?2)", &[(0, A), (2, B)]));
        assert!(!matches("(?2)(?1)", &[(0, A), (1, B)]));
        assert!(!matches("(?1)", &[]));
    }

    #[test]
    fn time_constraints() {
        assert!(matches("(?1)(?t<=3)(?2)", &[(0, A), (3, B)]));
        // as in ClickHouse, other events may lie between the two a constraint relates
        assert!(matches("(?1)(?t<=4)(?2)", &[(16, A), (19, C), (20, B)]));
        assert!(!matches("(?1)(?t<=3)(?2)", &[(16, A), (19, C), (20, B)]));
        assert!(!matches("(?1)(?t<3)(?2)", &[(0, A), (3, B)]));
        assert!(matches("(?1).*(?t>0)(?2)", &[(1, A), (5, B)]));
        assert!(!matches("(?1).*(?t>10)(?2)", &[(1, A), (5, B)]));
        assert!(matches("(?1).*(?t>=4)(?2)", &[(1, A), (2, A), (5, B)]));
        assert!(!matches("(?1).*(?t>=4)(?2)", &[(2, A), (3, A), (5, B)]));
        assert!(matches("(?1).*(?t==2)(?2)", &[(0, A), (1, A), (3, B)]));
        assert!(matches("(?1).*(?t!=0)(?2)", &[(1, A), (1, B), (2, B)]));
        assert!(!matches("(?1).*(?t!=0)(?2)", &[(1, A), (1, B)]));
        // both bounds on the same gap
        assert!(matches("(?1).*(?t>2)(?t<5)(?2)", &[(0, A), (3, A), (6, B)]));
        assert!(!matches(
            "(?1).*(?t>2)(?t<5)(?2)",
            &[(0, A), (5, A), (6, B)]
        ));
    }

    #[test]
    fn non_overlapping_counts() {
        assert_eq!(count("(?1)(?2)", &[(0, A), (1, B), (2, A), (3, B)]), 2);
        assert_eq!(
            count("(?1)(?2)", &[(0, B), (1, A), (2, B), (3, A), (4, B)]),
            2
        );
        assert_eq!(count("(?1).*(?2)", &[(0, A), (1, A), (2, B)]), 1);
        assert_eq!(count("(?1).*(?2)", &[(0, A), (1, B), (2, B)]), 1);
        assert_eq!(count("(?1)", &[(0, A), (1, A), (2, A)]), 3);
    }

    #[test]
    fn ties_do_not_depend_on_arrival_order() {
        assert!(matches("(?1)(?2)", &[(1, B), (1, A)]));
        assert!(matches("(?1)(?2)", &[(1, A), (1, B)]));
    }

    #[test]
    fn millions_of_events_in_linear_time() {
        let mut events: Vec<(i64, u64)> = (0..2_000_000)
            .map(|i| (i, if i % 3 == 0 { A } else { C }))
            .collect();
        events.push((3_000_000, B));
        let pattern = parse("(?1).*(?t<=1000000)(?3).*(?3).*(?2)");
        assert!(sequence_match(&pattern, &events));
        assert_eq!(sequence_count(&parse("(?1).*(?2)"), &events), 1);
    }

    #[test]
    fn the_first_match_and_its_events() {
        let events = [(0, A), (1, A), (2, C), (5, B), (6, B)];
        assert_eq!(first_match(&parse("(?1).*(?2)"), &events), Some(vec![1, 3]));
        assert_eq!(
            first_match(&parse("(?1).*(?t>=5)(?2)"), &events),
            Some(vec![0, 3])
        );
        assert_eq!(first_match(&parse("(?1)(?3)"), &events), Some(vec![1, 2]));
        assert_eq!(first_match(&parse("(?2)(?1)"), &events), None);
    }
}

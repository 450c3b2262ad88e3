//! Per-person entries of an aggregate's group, looked up once per row: the one way the
//! cohort and activity aggregates (`retention_matrix`, `activity_lifecycle`, `stickiness`)
//! keep a person's state.
//!
//! Person ids are usually dense numbers from 0 (`person_id`), so ids below a bound live in a
//! vector indexed by id (one memory access per row, no hashing); the bound grows with the
//! people seen, to at most 4 slots per person, and other ids live in a hash map.

use hashbrown::HashMap;

/// A person's entry: `EMPTY` until something is recorded.
pub trait PersonEntry: Clone {
    const EMPTY: Self;
    fn is_empty(&self) -> bool;
}

#[derive(Debug, Clone)]
pub struct People<P> {
    dense: Vec<P>,
    sparse: HashMap<i64, P>,
    /// People with something recorded.
    count: usize,
}

impl<P> Default for People<P> {
    fn default() -> Self {
        Self {
            dense: Vec::new(),
            sparse: HashMap::new(),
            count: 0,
        }
    }
}

impl<P: PersonEntry> People<P> {
    /// The entry of `id`, made if absent (the caller records something in it).
    pub fn entry(&mut self, id: i64) -> &mut P {
        if let Ok(slot) = usize::try_from(id) {
            if slot >= self.dense.len() {
                self.grow(slot);
            }
            if slot < self.dense.len() {
                if self.dense[slot].is_empty() {
                    self.count += 1;
                }
                return &mut self.dense[slot];
            }
        }
        let count = &mut self.count;
        self.sparse.entry(id).or_insert_with(|| {
            *count += 1;
            P::EMPTY
        })
    }

    /// Widens the vector to hold `slot` when that keeps it within 4 slots per person, and
    /// moves the map's people it now covers into it.
    fn grow(&mut self, slot: usize) {
        let bound = 4 * (self.count + 1024);
        if slot >= bound {
            return;
        }
        let len = (slot + 1).max(2 * self.dense.len()).min(bound);
        self.dense.resize_with(len, || P::EMPTY);
        let covered: Vec<i64> = self
            .sparse
            .keys()
            .copied()
            .filter(|&id| usize::try_from(id).is_ok_and(|i| i < len))
            .collect();
        for id in covered {
            if let Some(person) = self.sparse.remove(&id) {
                self.dense[id as usize] = person;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Every person with something recorded, with their id.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &P)> {
        self.dense
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(id, p)| (id as i64, p))
            .chain(self.sparse.iter().map(|(&id, p)| (id, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Start(i64);

    impl PersonEntry for Start {
        const EMPTY: Self = Start(i64::MAX);
        fn is_empty(&self) -> bool {
            self.0 == i64::MAX
        }
    }

    #[test]
    fn people_are_the_same_in_the_vector_and_the_map() {
        let mut people = People::<Start>::default();
        // far ids first go to the map, and move into the vector as it grows
        for id in [100_000_i64, 5, -3, 99_999, 4_000_000_000, 0] {
            people.entry(id).0 = id;
        }
        for id in 1..3000 {
            people.entry(id).0 = id;
        }
        let mut seen: Vec<(i64, i64)> = people.iter().map(|(id, p)| (id, p.0)).collect();
        seen.sort();
        assert_eq!(people.len(), seen.len());
        assert_eq!(seen.len(), 3000 + 4);
        assert!(seen.iter().all(|(id, start)| id == start));
        assert!(people.dense.len() > 3000 && people.dense.len() <= 4 * (3004 + 1024));
        assert!(people.sparse.contains_key(&4_000_000_000) && people.sparse.contains_key(&-3));
    }
}

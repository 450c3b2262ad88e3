//! Rows of many groups kept flat: (group, time, payload) in three vectors, with no per-group
//! allocation, and bucketed by group with one counting sort when results are emitted. The
//! shared state of the aggregates that must see each group's rows in time order (funnels,
//! sequences, attribution).

use datafusion::common::{Result, exec_err};

/// Flat (group, time, payload) rows.
#[derive(Debug, Default, Clone)]
pub struct GroupedRows<P> {
    groups: Vec<u32>,
    times: Vec<i64>,
    payloads: Vec<P>,
}

/// Taken groups' rows: group g's are `rows[starts[g]..starts[g + 1]]`.
pub struct Buckets<P> {
    pub starts: Vec<usize>,
    pub rows: Vec<(i64, P)>,
}

impl<P: Copy + Default> GroupedRows<P> {
    pub fn new() -> Self {
        Self {
            groups: Vec::new(),
            times: Vec::new(),
            payloads: Vec::new(),
        }
    }

    /// Adds a row; groups beyond u32 are refused by the callers' group counts long before.
    pub fn push(&mut self, group: usize, time: i64, payload: P) {
        self.groups.push(group as u32);
        self.times.push(time);
        self.payloads.push(payload);
    }

    /// Removes the rows of groups `0..emitted` and returns them bucketed by group; the rows of
    /// the groups that stay are renumbered from 0.
    pub fn take(&mut self, emitted: usize) -> Result<Buckets<P>> {
        self.take_until(emitted, None)
    }

    /// As `take`, dropping the emitted rows of group g later than `last_times[g]` (when given:
    /// one entry per emitted group).
    pub fn take_until(&mut self, emitted: usize, last_times: Option<&[i64]>) -> Result<Buckets<P>> {
        if self.groups.len() >= u32::MAX as usize {
            return exec_err!(
                "an aggregate's state holds {} rows, more than the {} one partition can sort; \
                 raise target_partitions",
                self.groups.len(),
                u32::MAX - 1
            );
        }
        let wanted =
            |i: usize, group: usize| last_times.is_none_or(|last| self.times[i] <= last[group]);
        let sorted = counting_sort(
            self.groups.len(),
            emitted,
            |i| {
                let group = self.groups[i] as usize;
                (group < emitted && wanted(i, group)).then_some(group)
            },
            |i| (self.times[i], self.payloads[i]),
        );
        let (mut kept_groups, mut kept_times, mut kept_payloads) =
            (Vec::new(), Vec::new(), Vec::new());
        for i in 0..self.groups.len() {
            let group = self.groups[i] as usize;
            if group >= emitted {
                kept_groups.push((group - emitted) as u32);
                kept_times.push(self.times[i]);
                kept_payloads.push(self.payloads[i]);
            }
        }
        self.groups = kept_groups;
        self.times = kept_times;
        self.payloads = kept_payloads;
        Ok(Buckets {
            starts: sorted.starts.into_iter().map(|s| s as usize).collect(),
            rows: sorted.items,
        })
    }

    /// Heap bytes held.
    pub fn size(&self) -> usize {
        self.groups.capacity() * 4
            + self.times.capacity() * 8
            + self.payloads.capacity() * size_of::<P>()
    }
}

/// Items in bucket order: bucket b's are `items[starts[b]..starts[b + 1]]`.
pub struct Sorted<T> {
    pub starts: Vec<u32>,
    pub items: Vec<T>,
}

/// A stable counting sort of items `0..len` by a dense bucket number in `0..buckets`:
/// `bucket_of(i)` is item i's bucket (`None` leaves it out), `item(i)` what is kept of it.
/// Positions are u32, which halves the counters' cache footprint: callers hold fewer than
/// 2^32 items (`GroupedRows` refuses more, `clv_summary` compacts long before).
pub fn counting_sort<T: Copy + Default>(
    len: usize,
    buckets: usize,
    bucket_of: impl Fn(usize) -> Option<usize>,
    item: impl Fn(usize) -> T,
) -> Sorted<T> {
    let mut starts = vec![0u32; buckets + 1];
    for i in 0..len {
        if let Some(bucket) = bucket_of(i) {
            starts[bucket + 1] += 1;
        }
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    let mut next = starts.clone();
    let mut items = vec![T::default(); starts[buckets] as usize];
    for i in 0..len {
        if let Some(bucket) = bucket_of(i) {
            let slot = &mut next[bucket];
            items[*slot as usize] = item(i);
            *slot += 1;
        }
    }
    Sorted { starts, items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_first_groups_and_renumbers_the_rest() {
        let mut rows = GroupedRows::<u64>::new();
        for (group, time) in [(2, 20), (0, 1), (1, 10), (0, 2), (3, 30), (1, 11)] {
            rows.push(group, time, time as u64 * 100);
        }
        let first = rows.take(2).unwrap();
        assert_eq!(first.starts, vec![0, 2, 4]);
        assert_eq!(first.rows, vec![(1, 100), (2, 200), (10, 1000), (11, 1100)]);
        let rest = rows.take(2).unwrap();
        assert_eq!(rest.starts, vec![0, 1, 2]);
        assert_eq!(rest.rows, vec![(20, 2000), (30, 3000)]);
        assert_eq!(rows.take(0).unwrap().rows, vec![]);
    }

    #[test]
    fn drops_emitted_rows_later_than_their_groups_last_time() {
        let mut rows = GroupedRows::<u64>::new();
        for (group, time) in [(0, 5), (1, 7), (0, 3), (2, 9), (1, 8), (0, 4)] {
            rows.push(group, time, 0);
        }
        let first = rows.take_until(2, Some(&[4, i64::MAX])).unwrap();
        assert_eq!(first.starts, vec![0, 2, 4]);
        assert_eq!(first.rows, vec![(3, 0), (4, 0), (7, 0), (8, 0)]);
        assert_eq!(rows.take(1).unwrap().rows, vec![(9, 0)]);
    }
}

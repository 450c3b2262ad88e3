//! Sorting large vectors on every core: the stitcher's big sorts (identifier keys, edges,
//! processing order) would otherwise leave all but one core idle.

use std::thread;

/// Below this many elements one core sorts alone.
const PARALLEL_THRESHOLD: usize = 1 << 20;

/// Sorts `values` (unstable, so equal elements must be indistinguishable, as they are for the
/// tuples sorted here): each core sorts a slice, then the sorted runs are merged pairwise.
pub fn sort_unstable<T: Ord + Copy + Send>(values: &mut Vec<T>) {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || values.len() < PARALLEL_THRESHOLD {
        values.sort_unstable();
        return;
    }
    let run = values.len().div_ceil(cores);
    thread::scope(|scope| {
        for slice in values.chunks_mut(run) {
            scope.spawn(move || slice.sort_unstable());
        }
    });
    let mut runs: Vec<Vec<T>> = values.chunks(run).map(<[T]>::to_vec).collect();
    while runs.len() > 1 {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pairs = runs.into_iter();
        thread::scope(|scope| {
            let mut handles = Vec::new();
            while let Some(left) = pairs.next() {
                match pairs.next() {
                    Some(right) => handles.push(scope.spawn(move || merge(&left, &right))),
                    None => handles.push(scope.spawn(move || left)),
                }
            }
            merged.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("merging two sorted runs cannot fail")),
            );
        });
        runs = merged;
    }
    *values = runs.pop().unwrap_or_default();
}

fn merge<T: Ord + Copy>(left: &[T], right: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if right[j] < left[i] {
            out.push(right[j]);
            j += 1;
        } else {
            out.push(left[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_sort() {
        let mut state = 12345u64;
        for len in [0, 1, 7, PARALLEL_THRESHOLD + 3, 3 * PARALLEL_THRESHOLD + 1] {
            let mut values: Vec<(u32, u64)> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((state >> 40) as u32 % 1000, state)
                })
                .collect();
            let mut expected = values.clone();
            expected.sort_unstable();
            sort_unstable(&mut values);
            assert_eq!(values, expected, "{len}");
        }
    }
}

//! The customer summaries a repeat-buying fit runs on, deduplicated into weighted patterns:
//! customers with the same (frequency, recency, t) are one row with a count. This is also the
//! aggregate's state, so partial states merge by adding counts, and the fit sees the same rows in
//! the same order at any partitioning.

use hashbrown::HashMap;

/// Counts of distinct tuples of `N` floats. Rows are counted in a hash map; partial states
/// merged in are kept as the sorted runs they arrive as, and `sorted` merges everything once.
#[derive(Debug, Default, Clone)]
pub struct PatternCounts<const N: usize> {
    counts: HashMap<[u64; N], u64>,
    runs: Vec<([u64; N], u64)>,
}

/// An integer that compares as `f64::total_cmp` compares the float, with -0.0 folded into 0.0:
/// sorting patterns is then a plain integer sort.
fn ordered_key(value: f64) -> u64 {
    let bits = if value == 0.0 { 0 } else { value.to_bits() };
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn from_ordered_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

impl<const N: usize> PatternCounts<N> {
    pub fn add(&mut self, values: [f64; N], count: u64) {
        *self.counts.entry(values.map(ordered_key)).or_insert(0) += count;
    }

    /// Room for `additional` more patterns without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        self.counts.reserve(additional);
    }

    /// Adds counted patterns, best in ascending order (as `sorted` gives them): a sorted run
    /// costs the final sort one merge pass.
    pub fn add_run(&mut self, patterns: impl IntoIterator<Item = ([f64; N], u64)>) {
        self.runs.extend(
            patterns
                .into_iter()
                .map(|(values, count)| (values.map(ordered_key), count)),
        );
    }

    /// The distinct patterns in ascending order (`f64::total_cmp`, column by column), with
    /// their counts: a fixed order keeps the fit's sums, and so its result, the same however
    /// the input was partitioned.
    pub fn sorted(&self) -> Vec<([f64; N], u64)> {
        let mut rows = self.runs.clone();
        let runs_end = rows.len();
        rows.extend(self.counts.iter().map(|(key, &count)| (*key, count)));
        // the hash map's part is unordered: sort it alone, then merge it with the runs
        rows[runs_end..].sort_unstable_by_key(|row| row.0);
        // the stable sort finds the already sorted runs and only merges them
        rows.sort_by_key(|row| row.0);
        let mut distinct: Vec<([u64; N], u64)> = Vec::with_capacity(rows.len());
        for (key, count) in rows {
            match distinct.last_mut() {
                Some(last) if last.0 == key => last.1 += count,
                _ => distinct.push((key, count)),
            }
        }
        distinct
            .into_iter()
            .map(|(key, count)| (key.map(from_ordered_key), count))
            .collect()
    }

    pub fn heap_size(&self) -> usize {
        self.counts.capacity() * (N * 8 + 8 + 8) + self.runs.capacity() * (N * 8 + 8)
    }
}

/// Rows grouped by frequency (rows sorted by frequency first), so that the terms that depend on
/// the frequency alone (log-gamma and digamma) are computed once per distinct frequency.
#[derive(Debug)]
pub struct FrequencyGroups {
    /// (frequency, first row, one past the last row, total weight)
    pub groups: Vec<(f64, usize, usize, f64)>,
}

impl FrequencyGroups {
    pub fn new(frequencies: &[f64], weights: &[f64]) -> Self {
        let mut groups: Vec<(f64, usize, usize, f64)> = Vec::new();
        for (i, (&x, &w)) in frequencies.iter().zip(weights).enumerate() {
            match groups.last_mut() {
                Some(last) if last.0 == x => {
                    last.2 = i + 1;
                    last.3 += w;
                }
                _ => groups.push((x, i, i + 1, w)),
            }
        }
        Self { groups }
    }
}

/// (frequency, recency, t) patterns in time units scaled so that the largest t is 1, as
/// `lifetimes` does: it keeps the optimiser's parameters near 1 and gives `penalizer` the same
/// meaning as there.
#[derive(Debug)]
pub struct RepeatBuyingData {
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub age: Vec<f64>,
    pub weight: Vec<f64>,
    pub groups: FrequencyGroups,
    pub chunks: Vec<std::ops::Range<usize>>,
    /// One table for recency and t together: row i's recency is `times.values[times.index[i]]`
    /// and its t is `times.values[times.index[rows + i]]`.
    pub times: TimeTable,
    pub customers: f64,
    /// Sum of frequency over customers: the log-likelihood changes by this times ln(scale)
    /// when time is rescaled.
    pub total_frequency: f64,
    pub scale: f64,
}

impl RepeatBuyingData {
    /// From sorted (frequency, recency, t) patterns.
    pub fn new(patterns: &[([f64; 3], u64)]) -> Self {
        let max_age = patterns.iter().map(|(p, _)| p[2]).fold(0.0f64, f64::max);
        let scale = if max_age > 0.0 { 1.0 / max_age } else { 1.0 };
        let frequency: Vec<f64> = patterns.iter().map(|(p, _)| p[0]).collect();
        let weight: Vec<f64> = patterns.iter().map(|(_, c)| *c as f64).collect();
        let groups = FrequencyGroups::new(&frequency, &weight);
        let recency: Vec<f64> = patterns.iter().map(|(p, _)| p[1] * scale).collect();
        let age: Vec<f64> = patterns.iter().map(|(p, _)| p[2] * scale).collect();
        let times = TimeTable::new(&[recency.as_slice(), age.as_slice()].concat());
        Self {
            chunks: balanced_chunks(&groups),
            times,
            recency,
            age,
            customers: weight.iter().sum(),
            total_frequency: frequency.iter().zip(&weight).map(|(x, w)| x * w).sum(),
            frequency,
            weight,
            groups,
            scale,
        }
    }
}

impl RepeatBuyingData {
    /// The sum over the patterns of their weight times `f(frequency, recency, t)` (scaled
    /// time): the plain sum the models' faster likelihood sums are tested against.
    #[cfg(test)]
    pub fn weighted_sum(&self, f: impl Fn(f64, f64, f64) -> f64 + Sync) -> f64 {
        let [total] = sum_over_chunks::<1>(&self.chunks, |chunk| {
            let mut total = 0.0;
            for &(x, start, end, _) in &self.groups.groups[chunk] {
                for i in start..end {
                    total += self.weight[i] * f(x, self.recency[i], self.age[i]);
                }
            }
            [total]
        });
        total
    }
}

/// (frequency, mean spend) patterns of customers with at least one repeat purchase.
#[derive(Debug)]
pub struct SpendData {
    pub frequency: Vec<f64>,
    pub ln_spend: Vec<f64>,
    pub spend: Vec<f64>,
    pub weight: Vec<f64>,
    pub groups: FrequencyGroups,
    pub chunks: Vec<std::ops::Range<usize>>,
    pub customers: f64,
}

impl SpendData {
    pub fn new(patterns: &[([f64; 2], u64)]) -> Self {
        let frequency: Vec<f64> = patterns.iter().map(|(p, _)| p[0]).collect();
        let weight: Vec<f64> = patterns.iter().map(|(_, c)| *c as f64).collect();
        let groups = FrequencyGroups::new(&frequency, &weight);
        Self {
            ln_spend: patterns.iter().map(|(p, _)| p[1].ln()).collect(),
            spend: patterns.iter().map(|(p, _)| p[1]).collect(),
            chunks: balanced_chunks(&groups),
            customers: weight.iter().sum(),
            frequency,
            weight,
            groups,
        }
    }
}

/// Rows fall into this many chunks, whatever the number of cores, so that partial sums are
/// always added in the same order and a fit gives the same bits on any machine.
const CHUNKS: usize = 8;

/// Contiguous ranges of frequency groups with about the same number of rows each.
pub fn balanced_chunks(groups: &FrequencyGroups) -> Vec<std::ops::Range<usize>> {
    let rows = groups.groups.last().map_or(0, |g| g.2);
    let target = rows.div_ceil(CHUNKS).max(1);
    let mut chunks = Vec::with_capacity(CHUNKS);
    let mut start = 0;
    for (i, group) in groups.groups.iter().enumerate() {
        if group.2 >= target * (chunks.len() + 1) || i + 1 == groups.groups.len() {
            chunks.push(start..i + 1);
            start = i + 1;
        }
    }
    chunks
}

/// Sums `f` over the chunks on up to as many threads as there are cores, adding the chunks'
/// results in chunk order.
pub fn sum_over_chunks<const K: usize>(
    chunks: &[std::ops::Range<usize>],
    f: impl Fn(std::ops::Range<usize>) -> [f64; K] + Sync,
) -> [f64; K] {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chunks.len());
    let mut partials = vec![[0.0; K]; chunks.len()];
    if threads <= 1 || chunks.len() <= 1 {
        for (partial, chunk) in partials.iter_mut().zip(chunks) {
            *partial = f(chunk.clone());
        }
    } else {
        let per_thread = chunks.len().div_ceil(threads);
        std::thread::scope(|scope| {
            for (outs, ins) in partials
                .chunks_mut(per_thread)
                .zip(chunks.chunks(per_thread))
            {
                let f = &f;
                scope.spawn(move || {
                    for (partial, chunk) in outs.iter_mut().zip(ins) {
                        *partial = f(chunk.clone());
                    }
                });
            }
        });
    }
    let mut total = [0.0; K];
    for partial in partials {
        for (t, p) in total.iter_mut().zip(partial) {
            *t += p;
        }
    }
    total
}

/// The distinct values of a time column and each row's index into them, so that an
/// objective takes one logarithm per distinct time, not per row.
#[derive(Debug)]
pub struct TimeTable {
    pub values: Vec<f64>,
    pub index: Vec<u32>,
}

impl TimeTable {
    pub fn new(times: &[f64]) -> Self {
        let mut values = times.to_vec();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let index = times
            .iter()
            .map(|t| values.partition_point(|v| v < t) as u32)
            .collect();
        Self { values, index }
    }
}

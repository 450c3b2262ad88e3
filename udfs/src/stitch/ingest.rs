//! From edge rows to a graph on dense integers: normalise and vet each identifier, key it by a
//! 128-bit hash, and keep its first and last sighting.
//!
//! Each input partition is read into its own [`EdgeChunk`] (in parallel); the chunks are then
//! absorbed, in any order, into one [`GraphBuilder`], whose result does not depend on that order.

use hashbrown::HashTable;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result, exec_err};
use twox_hash::XxHash3_128;

use super::rules::StitchRules;
use crate::identity::{is_placeholder, normalize_typed};
use crate::strings::StrColumn;

/// The columns an edge table must have.
pub const EDGE_COLUMNS: [&str; 6] = [
    "a_type", "a_value", "b_type", "b_value", "seen_at", "source",
];

/// The 128-bit key of an identifier: its type and normalised value.
pub fn identifier_key(id_type: &str, value: &str) -> u128 {
    identifier_key_in(&mut Vec::new(), id_type, value)
}

/// [`identifier_key`] hashing in one go through a reusable buffer (xxh3's one-shot form is
/// much faster than its streaming one on short inputs).
pub fn identifier_key_in(buffer: &mut Vec<u8>, id_type: &str, value: &str) -> u128 {
    buffer.clear();
    buffer.extend_from_slice(id_type.as_bytes());
    // 0xff never occurs in UTF-8, so no (type, value) pair can imitate another
    buffer.push(0xff);
    buffer.extend_from_slice(value.as_bytes());
    XxHash3_128::oneshot(buffer)
}

/// Identifier strings stored end to end, addressed by number.
#[derive(Debug, Default, Clone)]
pub struct Arena {
    bytes: String,
    ends: Vec<usize>,
}

impl Arena {
    pub fn push(&mut self, value: &str) -> u32 {
        self.bytes.push_str(value);
        self.ends.push(self.bytes.len());
        (self.ends.len() - 1) as u32
    }

    /// Every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }

    /// Adds every value of `other` after this one's.
    pub fn append(&mut self, other: &Arena) {
        let base = self.bytes.len();
        self.bytes.push_str(&other.bytes);
        self.ends.extend(other.ends.iter().map(|end| base + end));
    }

    pub fn get(&self, index: u32) -> &str {
        let index = index as usize;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        &self.bytes[start..self.ends[index]]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Small string tables (types, sources) interned to numbers.
#[derive(Debug, Default, Clone)]
pub struct Names {
    names: Vec<String>,
    index: HashMap<String, u16>,
}

impl Names {
    pub fn intern(&mut self, name: &str) -> Result<u16> {
        // a handful of types and sources: a scan beats hashing the name
        if self.names.len() <= 16 {
            if let Some(i) = self.names.iter().position(|n| n == name) {
                return Ok(i as u16);
            }
        } else if let Some(&i) = self.index.get(name) {
            return Ok(i);
        }
        let i = u16::try_from(self.names.len()).map_err(|_| {
            DataFusionError::Execution(format!(
                "stitch: more than 65535 distinct identifier types or sources (at {name:?})"
            ))
        })?;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        Ok(i)
    }

    pub fn get(&self, i: u16) -> &str {
        &self.names[i as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Every identifier of the graph, numbered densely, with its type, value and when it was
/// first and last seen (microseconds). The table holds numbers only; keys live in `keys`.
#[derive(Debug, Default)]
pub struct Identifiers {
    table: HashTable<u32>,
    pub keys: Vec<u128>,
    pub types: Vec<u16>,
    pub first: Vec<i64>,
    pub last: Vec<i64>,
    pub values: Arena,
}

impl Identifiers {
    fn see(&mut self, key: u128, id_type: u16, value: &str, first: i64, last: i64) -> u32 {
        let keys = &self.keys;
        let found = self
            .table
            .find(key as u64, |&i| keys[i as usize] == key)
            .copied();
        match found {
            Some(i) => {
                let i = i as usize;
                self.first[i] = self.first[i].min(first);
                self.last[i] = self.last[i].max(last);
                i as u32
            }
            None => {
                let i = self.values.push(value);
                self.keys.push(key);
                self.types.push(id_type);
                self.first.push(first);
                self.last.push(last);
                let keys = &self.keys;
                self.table
                    .insert_unique(key as u64, i, |&j| keys[j as usize] as u64);
                i
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// An edge between two identifiers (numbers of one chunk, or of the whole graph).
#[derive(Debug, Clone, Copy)]
pub struct RawEdge {
    pub a: u32,
    pub b: u32,
    pub seen: i64,
    pub source: u16,
}

/// An edge turned away before it reached the graph: a placeholder or missing identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IngestRejection {
    pub a_type: String,
    pub a_value: String,
    pub b_type: String,
    pub b_value: String,
    pub source: String,
    pub rule: &'static str,
    pub reason: String,
}

/// How often one rejected edge occurred, and when.
#[derive(Debug, Clone, Copy)]
pub struct Occurrences {
    pub count: u64,
    pub first: i64,
    pub last: i64,
}

impl Occurrences {
    fn add(&mut self, at: i64) {
        self.count += 1;
        self.first = self.first.min(at);
        self.last = self.last.max(at);
    }
    fn absorb(&mut self, other: Occurrences) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// One batch of edges, normalised and keyed (done in parallel, one batch per task), ready to
/// be absorbed into the graph. Identifiers are occurrences here, not yet deduplicated.
#[derive(Debug, Default)]
pub struct EdgeChunk {
    types: Names,
    sources: Names,
    keys: Vec<u128>,
    id_types: Vec<u16>,
    seen: Vec<i64>,
    values: Arena,
    /// Pairs of occurrence numbers, with the edge's source.
    edges: Vec<(u32, u32, u16)>,
    key_buffer: Vec<u8>,
    rejected: HashMap<IngestRejection, Occurrences>,
    rows: u64,
}

/// Why an identifier cannot link anything, or its normalised value.
enum Vetted<'a> {
    Usable(Cow<'a, str>),
    Rejected(&'static str, String),
}

/// `id_type` is trimmed and lower-cased.
fn vet<'a>(rules: &StitchRules, id_type: &str, value: Option<&'a str>, side: &str) -> Vetted<'a> {
    let Some(value) = value else {
        return Vetted::Rejected("missing", format!("{side}_value is NULL"));
    };
    let Some(normalized) = normalize_typed(id_type, value) else {
        if is_placeholder(value) {
            return Vetted::Rejected(
                "placeholder",
                format!("{side}_value {value:?} is a placeholder"),
            );
        }
        return Vetted::Rejected(
            "invalid",
            format!("{side}_value {value:?} is not a valid {id_type}"),
        );
    };
    if rules.is_listed_placeholder(id_type, &normalized) {
        return Vetted::Rejected(
            "placeholder",
            format!("{side}_value {normalized:?} is a listed placeholder for {id_type}"),
        );
    }
    Vetted::Usable(normalized)
}

/// The column `name` of an edge batch, or an error naming what is missing.
fn column<'a>(batch: &'a RecordBatch, name: &str, table: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "stitch: {table} has no column {name}; an edge table needs {}",
            EDGE_COLUMNS.join(", ")
        ))
    })
}

/// A string column of an edge batch; dictionary-encoded strings are decoded.
fn string_column(batch: &RecordBatch, name: &str, table: &str) -> Result<ArrayRef> {
    let array = column(batch, name, table)?;
    match array.data_type() {
        DataType::Dictionary(_, value) if value.is_string() => Ok(cast(array, value)?),
        _ => Ok(std::sync::Arc::clone(array)),
    }
}

/// Timestamps of any unit or time zone, dates, as microseconds since the epoch (UTC).
pub fn micros_column(array: &ArrayRef, name: &str) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => Ok(cast(
            array,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?),
        other => exec_err!("stitch: column {name} must be a timestamp, got {other}"),
    }
}

impl EdgeChunk {
    fn occurrence(&mut self, id_type: &str, value: &str, at: i64) -> Result<u32> {
        let type_number = self.types.intern(id_type)?;
        self.keys
            .push(identifier_key_in(&mut self.key_buffer, id_type, value));
        self.id_types.push(type_number);
        self.seen.push(at);
        Ok(self.values.push(value))
    }

    /// Reads one batch of edges. `table` names the input in errors.
    pub fn from_batch(rules: &StitchRules, batch: &RecordBatch, table: &str) -> Result<Self> {
        let mut chunk = Self::default();
        let names = ["a_type", "a_value", "b_type", "b_value", "source"];
        let arrays = names
            .iter()
            .map(|name| string_column(batch, name, table))
            .collect::<Result<Vec<_>>>()?;
        let [a_type, a_value, b_type, b_value, source] =
            [0, 1, 2, 3, 4].map(|i| StrColumn::new(&arrays[i], names[i]));
        let (a_type, a_value, b_type, b_value, source) =
            (a_type?, a_value?, b_type?, b_value?, source?);
        let seen_at = micros_column(column(batch, "seen_at", table)?, "seen_at")?;
        let seen_at = seen_at.as_primitive::<TimestampMicrosecondType>();
        let mut types = [String::new(), String::new()];
        for row in 0..batch.num_rows() {
            let raw = [a_value.get(row), b_value.get(row)];
            let Some(at) = seen_at.is_valid(row).then(|| seen_at.value(row)) else {
                return exec_err!(
                    "stitch: {table} has an edge with a NULL seen_at ({} {:?} - {} {:?}); every \
                     edge needs the time it was seen",
                    a_type.get(row).unwrap_or("NULL"),
                    raw[0].unwrap_or("NULL"),
                    b_type.get(row).unwrap_or("NULL"),
                    raw[1].unwrap_or("NULL")
                );
            };
            let (Some(first_type), Some(second_type)) = (a_type.get(row), b_type.get(row)) else {
                return exec_err!(
                    "stitch: {table} has an edge with a NULL a_type or b_type ({:?} - {:?}); \
                     every identifier needs a type",
                    raw[0].unwrap_or("NULL"),
                    raw[1].unwrap_or("NULL")
                );
            };
            for (buf, t) in types.iter_mut().zip([first_type, second_type]) {
                buf.clear();
                buf.push_str(t.trim());
                buf.make_ascii_lowercase();
            }
            let source_name = source.get(row).unwrap_or("");
            let vetted = [
                vet(rules, &types[0], raw[0], "a"),
                vet(rules, &types[1], raw[1], "b"),
            ];
            let mut ends = [None, None];
            for side in 0..2 {
                if let Vetted::Usable(value) = &vetted[side] {
                    ends[side] = Some(chunk.occurrence(&types[side], value, at)?);
                }
            }
            if let [Some(a), Some(b)] = ends {
                let source = chunk.sources.intern(source_name)?;
                chunk.edges.push((a, b, source));
                continue;
            }
            let (rule, reason) = match &vetted {
                [Vetted::Rejected(rule, reason), _] | [_, Vetted::Rejected(rule, reason)] => {
                    (*rule, reason.clone())
                }
                _ => unreachable!("an edge with two usable ends is linked above"),
            };
            let shown = |side: usize| match &vetted[side] {
                Vetted::Usable(value) => value.to_string(),
                Vetted::Rejected(..) => raw[side].unwrap_or("").to_string(),
            };
            let rejection = IngestRejection {
                a_type: types[0].clone(),
                a_value: shown(0),
                b_type: types[1].clone(),
                b_value: shown(1),
                source: source_name.to_string(),
                rule,
                reason,
            };
            chunk
                .rejected
                .entry(rejection)
                .or_insert(Occurrences {
                    count: 0,
                    first: at,
                    last: at,
                })
                .add(at);
        }
        chunk.rows = batch.num_rows() as u64;
        Ok(chunk)
    }
}

/// Every chunk absorbed: the graph on dense numbers, before any rule but the placeholder one.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    pub types: Names,
    pub sources: Names,
    pub identifiers: Identifiers,
    pub edges: Vec<RawEdge>,
    pub rejected: HashMap<IngestRejection, Occurrences>,
    pub rows: u64,
}

/// Identifiers are spread over this many independently locked tables by the top bits of their
/// key, so that readers of different partitions absorb their batches at the same time.
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Identifier numbers during reading: the shard in the top bits, the number within it below.
const LOCAL_BITS: u32 = 32 - SHARD_BITS;

/// The graph while it is being read by several tasks at once.
#[derive(Debug)]
pub struct SharedBuilder {
    shards: Vec<Mutex<Identifiers>>,
    rest: Mutex<GraphBuilder>,
}

impl Default for SharedBuilder {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            rest: Mutex::default(),
        }
    }
}

fn poisoned<T>(_: T) -> DataFusionError {
    DataFusionError::Execution("stitch: a reader failed".into())
}

impl SharedBuilder {
    /// Adds a chunk. `reader` spreads concurrent readers over different shards first.
    pub fn absorb(&self, chunk: EdgeChunk, reader: usize) -> Result<()> {
        let (type_map, source_map) = {
            let mut rest = self.rest.lock().map_err(poisoned)?;
            let types = (0..chunk.types.len() as u16)
                .map(|i| rest.types.intern(chunk.types.get(i)))
                .collect::<Result<Vec<_>>>()?;
            let sources = (0..chunk.sources.len() as u16)
                .map(|i| rest.sources.intern(chunk.sources.get(i)))
                .collect::<Result<Vec<_>>>()?;
            (types, sources)
        };
        let values: Vec<&str> = chunk.values.iter().collect();
        let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); SHARDS];
        for (i, key) in chunk.keys.iter().enumerate() {
            by_shard[(key >> (128 - SHARD_BITS)) as usize].push(i as u32);
        }
        let mut numbers = vec![0u32; values.len()];
        for step in 0..SHARDS {
            let shard = (reader * SHARDS / 2 + step) % SHARDS;
            if by_shard[shard].is_empty() {
                continue;
            }
            let mut identifiers = self.shards[shard].lock().map_err(poisoned)?;
            for &i in &by_shard[shard] {
                let i = i as usize;
                let at = chunk.seen[i];
                let local = identifiers.see(
                    chunk.keys[i],
                    type_map[chunk.id_types[i] as usize],
                    values[i],
                    at,
                    at,
                );
                if local >> LOCAL_BITS != 0 {
                    return exec_err!(
                        "stitch: more than {} identifiers",
                        (1u64 << LOCAL_BITS) * SHARDS as u64
                    );
                }
                numbers[i] = ((shard as u32) << LOCAL_BITS) | local;
            }
        }
        let mut rest = self.rest.lock().map_err(poisoned)?;
        rest.edges
            .extend(chunk.edges.iter().filter_map(|&(first, second, source)| {
                let (a, b) = (numbers[first as usize], numbers[second as usize]);
                // an identifier linked to itself (after normalisation) links nothing
                (a != b).then(|| RawEdge {
                    a,
                    b,
                    seen: chunk.seen[first as usize],
                    source: source_map[source as usize],
                })
            }));
        for (rejection, occurrences) in chunk.rejected {
            match rest.rejected.get_mut(&rejection) {
                Some(existing) => existing.absorb(occurrences),
                None => {
                    rest.rejected.insert(rejection, occurrences);
                }
            }
        }
        rest.rows += chunk.rows;
        Ok(())
    }

    /// The whole graph, numbered densely (shard by shard).
    pub fn finish(self) -> Result<GraphBuilder> {
        let mut graph = self.rest.into_inner().map_err(poisoned)?;
        let mut offsets = Vec::with_capacity(SHARDS);
        let mut all = Identifiers::default();
        for shard in self.shards {
            let shard = shard.into_inner().map_err(poisoned)?;
            offsets.push(all.keys.len() as u32);
            all.keys.extend_from_slice(&shard.keys);
            all.types.extend_from_slice(&shard.types);
            all.first.extend_from_slice(&shard.first);
            all.last.extend_from_slice(&shard.last);
            all.values.append(&shard.values);
        }
        let decode = |n: u32| offsets[(n >> LOCAL_BITS) as usize] + (n & ((1 << LOCAL_BITS) - 1));
        for edge in &mut graph.edges {
            edge.a = decode(edge.a);
            edge.b = decode(edge.b);
        }
        graph.identifiers = all;
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_type_and_value() {
        assert_ne!(identifier_key("ab", "c"), identifier_key("a", "bc"));
        assert_eq!(
            identifier_key("phone", "86138"),
            identifier_key("phone", "86138")
        );
    }

    #[test]
    fn arena_round_trips() {
        let mut arena = Arena::default();
        let a = arena.push("hello");
        let b = arena.push("");
        let c = arena.push("world");
        assert_eq!(
            (arena.get(a), arena.get(b), arena.get(c)),
            ("hello", "", "world")
        );
        assert_eq!(arena.len(), 3);
    }
}

//! The stitching itself: deduplicated edges, hubs, union-find under per-type limits, anchors
//! and unified ids.
//!
//! Everything here is ordered by values (identifier keys, ranks, times), never by the order rows
//! arrived in, so the same edges give the same graph however they are read.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use twox_hash::XxHash3_128;

use super::ingest::{Arena, GraphBuilder, Identifiers, IngestRejection, Names, Occurrences};
use super::parallel;
use super::previous::PreviousGraph;
use super::rules::StitchRules;

/// No component: the identifier is a hub.
pub const NO_COMPONENT: u32 = u32::MAX;
const NONE: u32 = u32::MAX;

/// Two identifiers seen together, however many times.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub u: u32,
    pub v: u32,
    pub first: i64,
    pub last: i64,
    pub count: u64,
    /// The source of the first sighting.
    pub source: u16,
}

/// What became of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It joined two groups.
    Linked,
    /// Its ends were already joined by earlier edges.
    AlreadyLinked,
    /// One end is a hub.
    Hub { hub: u32 },
    /// Joining would give one person more identifiers of a type than its limit allows:
    /// `held` and `other` are such identifiers on each side.
    Limit { id_type: u16, held: u32, other: u32 },
}

impl Outcome {
    pub fn accepted(self) -> bool {
        matches!(self, Outcome::Linked | Outcome::AlreadyLinked)
    }

    /// The rule that refused the edge, if one did.
    pub fn rule(self) -> Option<&'static str> {
        match self {
            Outcome::Linked | Outcome::AlreadyLinked => None,
            Outcome::Hub { .. } => Some("hub"),
            Outcome::Limit { .. } => Some("limit"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Component {
    pub anchor: u32,
    pub size: u32,
    pub unified_id: String,
    /// The dense person number: carried with the unified id from the previous graph, or the
    /// next unused number for a new unified id.
    pub person_id: i64,
}

/// One line of the merge log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `created`, `merged`, `absorbed`, `split` or `retired`.
    pub event: &'static str,
    pub unified_id: String,
    /// The other unified id involved (the survivor of an absorption, the id split from, the
    /// ids a merge absorbed).
    pub other_ids: Option<String>,
    pub component_size: u32,
    /// The edges that caused it, as `type:value -[source seen_at]- type:value`, or why.
    pub cause: Cow<'static, str>,
}

/// The result of one stitching run.
#[derive(Debug)]
pub struct Stitched {
    pub types: Names,
    pub sources: Names,
    /// Identifiers in key order.
    pub keys: Vec<u128>,
    pub id_type: Vec<u16>,
    pub first: Vec<i64>,
    pub last: Vec<i64>,
    pub value_index: Vec<u32>,
    pub values: Arena,
    pub degree: Vec<u32>,
    pub hub: Vec<bool>,
    /// Deduplicated edges in processing order, and what became of each.
    pub edges: Vec<Edge>,
    pub outcomes: Vec<Outcome>,
    pub component: Vec<u32>,
    pub components: Vec<Component>,
    pub log: Vec<LogEntry>,
    pub ingest_rejected: Vec<(IngestRejection, Occurrences)>,
    pub input_rows: u64,
    pub type_rank: Vec<u32>,
    pub hub_threshold: Vec<u32>,
    /// How long each step took, for `run_stats`.
    pub phases: Phases,
    /// No previous graph: every component's id was created by this run.
    pub first_run: bool,
    /// The largest person number given out so far (this run's and earlier runs').
    pub person_id_high_water: i64,
    /// Identifiers of the previous graph that are no longer with their person or the person
    /// it merged into: split off, now a hub or a placeholder, or gone. While this is 0, every
    /// row keyed by the previous graph keeps its person up to merges.
    pub moved_identifiers: u64,
}

/// Wall-clock time of each step of a run.
#[derive(Debug, Clone)]
pub struct Phases {
    last: Instant,
    pub seconds: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn start() -> Self {
        Self {
            last: Instant::now(),
            seconds: Vec::new(),
        }
    }

    /// Records the time since the previous lap under `name`.
    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.seconds.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

/// Union-find with union by size and path halving, on dense numbers.
struct DisjointSets {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grandparent = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grandparent;
            x = grandparent;
        }
        x
    }

    /// Joins two roots; returns (new root, absorbed root).
    fn union_roots(&mut self, a: u32, b: u32) -> (u32, u32) {
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        (big, small)
    }
}

/// A per-type limit being enforced: how many identifiers of the type each set holds, and one
/// of them (for the refusal message).
struct LimitTracker {
    id_type: u16,
    limit: u32,
    count: Vec<u32>,
    holder: Vec<u32>,
}

/// `u` and the 32 lower-case hex digits of an id's hash.
fn unified_id_text(hash: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(33);
    text.push('u');
    for shift in (0..32).rev() {
        text.push(HEX[((hash >> (shift * 4)) & 0xf) as usize] as char);
    }
    text
}

/// A hasher for values that are already uniform hashes: their low 64 bits.
#[derive(Default)]
pub struct UniformHash(u64);

impl Hasher for UniformHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, byte) in bytes.iter().enumerate() {
            self.0 ^= u64::from(*byte) << ((i % 8) * 8);
        }
    }
    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

/// The hash a component's id (`u` + 32 hex digits) is derived from, from its anchor's key;
/// `attempt` > 0 only to step around an id already in use.
fn derived_hash(anchor_key: u128, attempt: u64) -> u128 {
    // (a seeded xxh3 derives a new secret on every call: hashing the attempt is far cheaper)
    let mut input = [0u8; 24];
    input[..16].copy_from_slice(&anchor_key.to_le_bytes());
    input[16..].copy_from_slice(&(0x0e1d_5717 + attempt).to_le_bytes());
    XxHash3_128::oneshot(&input)
}

/// The identifiers in their canonical numbering (by key), with their attributes in that order.
struct Numbering {
    keys: Vec<u128>,
    /// For each number, the identifier's position as it was read (where its value is stored).
    value_index: Vec<u32>,
    /// For each position as read, the identifier's number.
    number_of: Vec<u32>,
    id_type: Vec<u16>,
    first: Vec<i64>,
    last: Vec<i64>,
}

/// Numbers the identifiers by key, so that the same edges give the same numbers however they
/// were read.
fn number(identifiers: &Identifiers) -> Numbering {
    // sorting the keys themselves, not indices into them, keeps the sort in cache
    let mut keyed: Vec<(u128, u32)> = identifiers
        .keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u32))
        .collect();
    parallel::sort_unstable(&mut keyed);
    let keys: Vec<u128> = keyed.iter().map(|&(k, _)| k).collect();
    let order: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
    let mut number_of = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        number_of[old as usize] = new as u32;
    }
    let pick = |v: &Vec<i64>| order.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
    Numbering {
        id_type: order
            .iter()
            .map(|&i| identifiers.types[i as usize])
            .collect(),
        first: pick(&identifiers.first),
        last: pick(&identifiers.last),
        keys,
        number_of,
        // identifiers keep their values where they were first stored
        value_index: order,
    }
}

/// Each identifier's number of distinct neighbours, and whether that makes it a hub (more
/// than its type's threshold).
fn find_hubs(edges: &[Edge], id_type: &[u16], hub_threshold: &[u32]) -> (Vec<u32>, Vec<bool>) {
    let mut degree = vec![0u32; id_type.len()];
    for e in edges {
        degree[e.u as usize] += 1;
        degree[e.v as usize] += 1;
    }
    let hub = degree
        .iter()
        .zip(id_type)
        .map(|(&d, &t)| d > hub_threshold[t as usize])
        .collect();
    (degree, hub)
}

/// The edges in the order they are applied: trusted pairs first, then the earliest, then by
/// key. The sort keys are computed once (ranks are lookups): (ranks, first, u) packed in 112
/// bits, then the position in the deduplicated order, which is by (u, v).
fn processing_order(edges: Vec<Edge>, id_type: &[u16], type_rank: &[u32]) -> Vec<Edge> {
    let rank_of = |i: u32| type_rank[id_type[i as usize] as usize].min(0xff) as u128;
    let mut order_keys: Vec<(u128, u32)> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (ru, rv) = (rank_of(e.u), rank_of(e.v));
            let first = (e.first as u64 ^ (1 << 63)) as u128;
            let key = (ru.min(rv) << 120) | (ru.max(rv) << 112) | (first << 32) | e.u as u128;
            (key, i as u32)
        })
        .collect();
    parallel::sort_unstable(&mut order_keys);
    order_keys.iter().map(|&(_, i)| edges[i as usize]).collect()
}

/// Applies the edges in order with union-find: an edge touching a hub links nothing, nor one
/// whose union would give a set more identifiers of a limited type than its limit. Returns the
/// sets and each edge's outcome.
fn link(
    edges: &[Edge],
    hub: &[bool],
    id_type: &[u16],
    types: &Names,
    rules: &StitchRules,
) -> (DisjointSets, Vec<Outcome>) {
    let n = id_type.len();
    let mut sets = DisjointSets::new(n);
    let mut limits: Vec<LimitTracker> = rules
        .limited_types()
        .filter_map(|(name, limit)| {
            let t = (0..types.len() as u16).find(|&t| types.get(t) == name)?;
            let count = id_type.iter().map(|&x| u32::from(x == t)).collect();
            let holder = (0..n as u32)
                .map(|i| if id_type[i as usize] == t { i } else { NONE })
                .collect();
            Some(LimitTracker {
                id_type: t,
                limit,
                count,
                holder,
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(edges.len());
    for e in edges {
        let outcome = if hub[e.u as usize] || hub[e.v as usize] {
            Outcome::Hub {
                hub: if hub[e.u as usize] { e.u } else { e.v },
            }
        } else {
            let (ru, rv) = (sets.find(e.u), sets.find(e.v));
            if ru == rv {
                Outcome::AlreadyLinked
            } else if let Some(t) = limits
                .iter()
                .find(|t| t.count[ru as usize] + t.count[rv as usize] > t.limit)
            {
                Outcome::Limit {
                    id_type: t.id_type,
                    held: t.holder[ru as usize],
                    other: t.holder[rv as usize],
                }
            } else {
                let (root, absorbed) = sets.union_roots(ru, rv);
                for t in &mut limits {
                    t.count[root as usize] += t.count[absorbed as usize];
                    if t.holder[root as usize] == NONE {
                        t.holder[root as usize] = t.holder[absorbed as usize];
                    }
                }
                Outcome::Linked
            }
        };
        outcomes.push(outcome);
    }
    (sets, outcomes)
}

/// Each identifier's component (numbered by their smallest identifier; hubs have none), and
/// the components, each with its anchor: the most trusted identifier, then the earliest seen,
/// then the smallest value.
fn components(
    sets: &mut DisjointSets,
    hub: &[bool],
    numbering: &Numbering,
    type_rank: &[u32],
    values: &Arena,
) -> (Vec<u32>, Vec<Component>) {
    let Numbering {
        id_type,
        first,
        value_index,
        ..
    } = numbering;
    let n = id_type.len();
    let mut component = vec![NO_COMPONENT; n];
    let mut component_of_root = vec![NONE; n];
    let mut components: Vec<Component> = Vec::new();
    for i in 0..n as u32 {
        if hub[i as usize] {
            continue;
        }
        let root = sets.find(i);
        let c = match component_of_root[root as usize] {
            NONE => {
                let c = components.len() as u32;
                component_of_root[root as usize] = c;
                components.push(Component {
                    anchor: i,
                    size: 0,
                    unified_id: String::new(),
                    person_id: 0,
                });
                c
            }
            c => c,
        };
        component[i as usize] = c;
        let comp = &mut components[c as usize];
        comp.size += 1;
        let better = {
            let a = comp.anchor as usize;
            let ii = i as usize;
            let (ra, ri) = (
                type_rank[id_type[a] as usize],
                type_rank[id_type[ii] as usize],
            );
            (ri, first[ii]) < (ra, first[a])
                || ((ri, first[ii]) == (ra, first[a])
                    && values.get(value_index[ii]) < values.get(value_index[a]))
        };
        if better {
            comp.anchor = i;
        }
    }
    (component, components)
}

impl Stitched {
    /// Stitches the edges `builder` read under `rules`, carrying ids forward from `previous`;
    /// new people are numbered above `person_id_floor`. Each phase is timed in `phases`.
    pub fn compute(
        builder: GraphBuilder,
        rules: &StitchRules,
        previous: Option<&PreviousGraph>,
        person_id_floor: i64,
    ) -> Self {
        let GraphBuilder {
            types,
            sources,
            identifiers,
            edges: raw_edges,
            rejected,
            rows,
        } = builder;
        let mut phases = Phases::start();
        let mut numbering = number(&identifiers);
        let type_rank: Vec<u32> = (0..types.len() as u16)
            .map(|t| rules.rank(types.get(t)))
            .collect();
        let hub_threshold: Vec<u32> = (0..types.len() as u16)
            .map(|t| rules.hub_threshold(types.get(t)))
            .collect();
        phases.lap("number");
        let edges = deduplicate(raw_edges, &numbering.number_of);
        numbering.number_of = Vec::new();
        phases.lap("deduplicate");
        let (degree, hub) = find_hubs(&edges, &numbering.id_type, &hub_threshold);
        phases.lap("hubs");
        let edges = processing_order(edges, &numbering.id_type, &type_rank);
        phases.lap("order");
        let (mut sets, outcomes) = link(&edges, &hub, &numbering.id_type, &types, rules);
        phases.lap("link");
        let (component, components) =
            components(&mut sets, &hub, &numbering, &type_rank, &identifiers.values);
        drop(sets);

        let mut ingest_rejected: Vec<_> = rejected.into_iter().collect();
        ingest_rejected.sort_by(|a, b| a.0.cmp(&b.0));
        let Numbering {
            keys,
            value_index,
            id_type,
            first,
            last,
            ..
        } = numbering;
        let mut stitched = Stitched {
            types,
            sources,
            keys,
            id_type,
            first,
            last,
            value_index,
            values: identifiers.values,
            degree,
            hub,
            edges,
            outcomes,
            component,
            components,
            log: Vec::new(),
            ingest_rejected,
            input_rows: rows,
            type_rank,
            hub_threshold,
            phases,
            first_run: false,
            person_id_high_water: 0,
            moved_identifiers: 0,
        };
        stitched.phases.lap("components");
        stitched.assign_ids(previous);
        stitched.number_people(previous, person_id_floor);
        stitched.phases.lap("ids");
        stitched
    }

    /// The number of an identifier, if it is in the graph.
    pub fn find(&self, key: u128) -> Option<u32> {
        self.keys.binary_search(&key).ok().map(|i| i as u32)
    }

    pub fn value(&self, node: u32) -> &str {
        self.values.get(self.value_index[node as usize])
    }

    pub fn type_name(&self, node: u32) -> &str {
        self.types.get(self.id_type[node as usize])
    }

    /// `type:value` of an identifier.
    pub fn label(&self, node: u32) -> String {
        format!("{}:{}", self.type_name(node), self.value(node))
    }

    /// Gives every component its person number: the one its unified id had in `previous`, or
    /// else, in the order of the new unified ids, the next number above `floor` and above
    /// every number `previous` holds, so a number is never given to two people.
    fn number_people(&mut self, previous: Option<&PreviousGraph>, floor: i64) {
        let mut known: HashMap<&str, i64> = HashMap::new();
        let mut next = floor.max(0);
        if let Some(previous) = previous {
            next = next.max(previous.max_person_id());
            for (number, id) in previous.ids().iter().enumerate() {
                if let Some(person) = previous.person_id(number as u32) {
                    known.insert(id.as_str(), person);
                }
            }
        }
        let mut new_people: Vec<usize> = Vec::new();
        let mut numbers = vec![0i64; self.components.len()];
        for (c, component) in self.components.iter().enumerate() {
            match known.get(component.unified_id.as_str()) {
                Some(&person) => numbers[c] = person,
                None => new_people.push(c),
            }
        }
        new_people.sort_unstable_by(|&a, &b| {
            self.components[a]
                .unified_id
                .cmp(&self.components[b].unified_id)
        });
        for c in new_people {
            next += 1;
            numbers[c] = next;
        }
        self.person_id_high_water = next;
        for (component, number) in self.components.iter_mut().zip(numbers) {
            component.person_id = number;
        }
    }

    /// Gives every component its unified id: carried forward from `previous` where it holds
    /// the component's identifiers, derived from the anchor otherwise.
    fn assign_ids(&mut self, previous: Option<&PreviousGraph>) {
        // ids in use, as the hashes they are made of (an id not of that form cannot collide)
        let mut used: HashSet<u128, BuildHasherDefault<UniformHash>> = HashSet::default();
        let fresh =
            |anchor_key: u128, used: &mut HashSet<u128, BuildHasherDefault<UniformHash>>| {
                let mut attempt = 0;
                loop {
                    let hash = derived_hash(anchor_key, attempt);
                    if used.insert(hash) {
                        return unified_id_text(hash);
                    }
                    attempt += 1;
                }
            };
        let Some(previous) = previous else {
            // every id is new: the merge log lists them from the components (see merge_log)
            self.first_run = true;
            // two anchors whose ids collide would need a 128-bit hash collision: check by
            // sorting, and only then step the later ones aside
            let mut hashes: Vec<(u128, u32)> = (0..self.components.len() as u32)
                .map(|c| {
                    let anchor = self.components[c as usize].anchor;
                    (derived_hash(self.keys[anchor as usize], 0), c)
                })
                .collect();
            hashes.sort_unstable();
            let collided: Vec<u32> = hashes
                .windows(2)
                .filter(|w| w[0].0 == w[1].0)
                .map(|w| w[1].1)
                .collect();
            for &(hash, c) in &hashes {
                self.components[c as usize].unified_id = unified_id_text(hash);
            }
            if !collided.is_empty() {
                used.extend(hashes.iter().map(|&(hash, _)| hash));
                for c in collided {
                    let anchor = self.components[c as usize].anchor;
                    self.components[c as usize].unified_id =
                        fresh(self.keys[anchor as usize], &mut used);
                }
            }
            return;
        };

        let ids = previous.ids();
        used.extend(ids.iter().filter_map(|id| {
            let hex = id.strip_prefix('u').filter(|h| h.len() == 32)?;
            u128::from_str_radix(hex, 16).ok()
        }));
        let id_count = ids.len();
        // where each previous id's identifiers are now
        let mut members: HashMap<(u32, u32), u32> = HashMap::new();
        let mut anchor_component = vec![NONE; id_count];
        let mut age = vec![i64::MAX; id_count];
        let mut sample_member: HashMap<(u32, u32), u32> = HashMap::new();
        // previous identifiers no longer in any component
        let mut outside = 0u64;
        for row in previous.rows() {
            age[row.id as usize] = age[row.id as usize].min(row.first_seen);
            let Some(node) = self.find(row.key) else {
                outside += 1;
                continue;
            };
            let c = self.component[node as usize];
            if c == NO_COMPONENT {
                outside += 1;
                continue;
            }
            *members.entry((row.id, c)).or_insert(0) += 1;
            // the lowest-numbered member, whatever order the previous graph's rows came in, so
            // the merge log explains a merge by the same path every run
            sample_member
                .entry((row.id, c))
                .and_modify(|member| *member = (*member).min(node))
                .or_insert(node);
            if row.is_anchor {
                anchor_component[row.id as usize] = c;
            }
        }
        // the owner of a previous id: the component holding its anchor, or else most of it
        let mut owner = anchor_component.clone();
        let mut best = vec![0u32; id_count];
        let mut spread: Vec<((u32, u32), u32)> = members.iter().map(|(k, v)| (*k, *v)).collect();
        spread.sort_unstable();
        for &((id, c), count) in &spread {
            if anchor_component[id as usize] == NONE && count > best[id as usize] {
                best[id as usize] = count;
                owner[id as usize] = c;
            }
        }
        let mut owned: Vec<(u32, u32)> = (0..id_count as u32)
            .filter(|&id| owner[id as usize] != NONE)
            .map(|id| (owner[id as usize], id))
            .collect();
        owned.sort_unstable_by_key(|&(c, id)| (c, age[id as usize], ids[id as usize].as_str()));
        self.moved_identifiers = outside
            + spread
                .iter()
                .filter(|&&((id, c), _)| owner[id as usize] != c)
                .map(|&(_, count)| u64::from(count))
                .sum::<u64>();
        let mut split_from: HashMap<u32, u32> = HashMap::new();
        for &((id, c), _) in &spread {
            if owner[id as usize] != c {
                split_from
                    .entry(c)
                    .and_modify(|p| {
                        if (age[id as usize], &ids[id as usize])
                            < (age[*p as usize], &ids[*p as usize])
                        {
                            *p = id;
                        }
                    })
                    .or_insert(id);
            }
        }

        let mut adjacency = None;
        let mut next_owned = 0;
        for c in 0..self.components.len() as u32 {
            let start = next_owned;
            while next_owned < owned.len() && owned[next_owned].0 == c {
                next_owned += 1;
            }
            let size = self.components[c as usize].size;
            let mine = &owned[start..next_owned];
            if let Some(&(_, survivor)) = mine.first() {
                let survivor_id = ids[survivor as usize].clone();
                if mine.len() > 1 {
                    let absorbed: Vec<&str> = mine[1..]
                        .iter()
                        .map(|&(_, id)| ids[id as usize].as_str())
                        .collect();
                    self.log.push(LogEntry {
                        event: "merged",
                        unified_id: survivor_id.clone(),
                        other_ids: Some(absorbed.join(",")),
                        component_size: size,
                        cause: Cow::Owned(format!(
                            "{} older id kept",
                            if absorbed.len() == 1 {
                                "the"
                            } else {
                                "the oldest"
                            }
                        )),
                    });
                    let adjacency = adjacency.get_or_insert_with(|| self.accepted_adjacency());
                    for &(_, id) in &mine[1..] {
                        let from = sample_member[&(id, c)];
                        let to = sample_member[&(survivor, c)];
                        let path = adjacency.path(from, to);
                        self.log.push(LogEntry {
                            event: "absorbed",
                            unified_id: ids[id as usize].clone(),
                            other_ids: Some(survivor_id.clone()),
                            component_size: size,
                            cause: Cow::Owned(self.describe_path(&path)),
                        });
                    }
                }
                self.components[c as usize].unified_id = survivor_id;
            } else {
                let anchor_key = self.keys[self.components[c as usize].anchor as usize];
                let id = fresh(anchor_key, &mut used);
                let entry = match split_from.get(&c) {
                    Some(&from) => LogEntry {
                        event: "split",
                        unified_id: id.clone(),
                        other_ids: Some(ids[from as usize].clone()),
                        component_size: size,
                        cause: Cow::Owned(format!(
                            "no longer linked to the identifiers that keep {}",
                            ids[from as usize]
                        )),
                    },
                    None => LogEntry {
                        event: "created",
                        unified_id: id.clone(),
                        other_ids: None,
                        component_size: size,
                        cause: Cow::Owned(format!(
                            "new identifiers, anchor {}",
                            self.label(self.components[c as usize].anchor)
                        )),
                    },
                };
                self.log.push(entry);
                self.components[c as usize].unified_id = id;
            }
        }
        for id in 0..id_count {
            if owner[id] == NONE {
                self.log.push(LogEntry {
                    event: "retired",
                    unified_id: ids[id].clone(),
                    other_ids: None,
                    component_size: 0,
                    cause: Cow::Borrowed(
                        "none of its identifiers is in this run's graph (removed, now a \
                         placeholder, or a hub)",
                    ),
                });
            }
        }
    }

    /// Adjacency over the accepted edges.
    pub fn accepted_adjacency(&self) -> Adjacency {
        Adjacency::new(self.keys.len(), &self.edges, |i| {
            self.outcomes[i].accepted()
        })
    }

    /// Adjacency over every edge, whatever became of it.
    pub fn full_adjacency(&self) -> Adjacency {
        Adjacency::new(self.keys.len(), &self.edges, |_| true)
    }

    /// One edge as `type:value -[source first_seen]- type:value`.
    pub fn describe_edge(&self, edge: usize) -> String {
        let e = &self.edges[edge];
        format!(
            "{} -[{} {}]- {}",
            self.label(e.u),
            self.sources.get(e.source),
            format_micros(e.first),
            self.label(e.v)
        )
    }

    fn describe_path(&self, path: &Option<Vec<u32>>) -> String {
        match path {
            Some(edges) => edges
                .iter()
                .map(|&e| self.describe_edge(e as usize))
                .collect::<Vec<_>>()
                .join("; "),
            None => "no path found".to_string(),
        }
    }
}

/// Sorts raw edges by their ends (smaller number first) and folds repeats into one edge.
fn deduplicate(raw: Vec<super::ingest::RawEdge>, number_of: &[u32]) -> Vec<Edge> {
    let mut keyed: Vec<(u32, u32, i64, u16)> = raw
        .into_iter()
        .map(|e| {
            let (a, b) = (number_of[e.a as usize], number_of[e.b as usize]);
            (a.min(b), a.max(b), e.seen, e.source)
        })
        .collect();
    parallel::sort_unstable(&mut keyed);
    let mut edges: Vec<Edge> = Vec::with_capacity(keyed.len() / 2);
    for (u, v, seen, source) in keyed {
        match edges.last_mut() {
            Some(last) if last.u == u && last.v == v => {
                last.last = last.last.max(seen);
                last.count += 1;
            }
            _ => edges.push(Edge {
                u,
                v,
                first: seen,
                last: seen,
                count: 1,
                source,
            }),
        }
    }
    edges
}

/// Neighbours of every identifier (compressed rows), with the edge that links them.
pub struct Adjacency {
    offsets: Vec<usize>,
    neighbours: Vec<(u32, u32)>,
}

impl Adjacency {
    fn new(n: usize, edges: &[Edge], keep: impl Fn(usize) -> bool) -> Self {
        let mut offsets = vec![0usize; n + 1];
        for (i, e) in edges.iter().enumerate() {
            if keep(i) {
                offsets[e.u as usize + 1] += 1;
                offsets[e.v as usize + 1] += 1;
            }
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut neighbours = vec![(0u32, 0u32); offsets[n]];
        for (i, e) in edges.iter().enumerate() {
            if keep(i) {
                neighbours[fill[e.u as usize]] = (e.v, i as u32);
                fill[e.u as usize] += 1;
                neighbours[fill[e.v as usize]] = (e.u, i as u32);
                fill[e.v as usize] += 1;
            }
        }
        Self {
            offsets,
            neighbours,
        }
    }

    pub fn neighbours(&self, node: u32) -> &[(u32, u32)] {
        &self.neighbours[self.offsets[node as usize]..self.offsets[node as usize + 1]]
    }

    /// The edges of a shortest path from `from` to `to`, if any (breadth-first; neighbours in
    /// edge order, so the path is deterministic).
    pub fn path(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        if from == to {
            return Some(Vec::new());
        }
        let mut came_by: HashMap<u32, (u32, u32)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        came_by.insert(from, (from, u32::MAX));
        while let Some(node) = queue.pop_front() {
            for &(next, edge) in self.neighbours(node) {
                if came_by.contains_key(&next) {
                    continue;
                }
                came_by.insert(next, (node, edge));
                if next == to {
                    let mut path = Vec::new();
                    let mut at = to;
                    while at != from {
                        let (prev, edge) = came_by[&at];
                        path.push(edge);
                        at = prev;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(next);
            }
        }
        None
    }
}

/// Microseconds since the epoch as an ISO timestamp (UTC).
pub fn format_micros(micros: i64) -> String {
    use datafusion::arrow::temporal_conversions::timestamp_us_to_datetime;
    match timestamp_us_to_datetime(micros) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        None => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_id_text_is_the_hex_of_the_hash() {
        let hash = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        assert_eq!(unified_id_text(hash), format!("u{hash:032x}"));
        assert_eq!(unified_id_text(1), format!("u{:032x}", 1));
    }
}

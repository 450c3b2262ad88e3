//! The tables a stitching run produces: `id_graph`, `rejected_edges`, `merge_log`, `run_stats`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::Result;

use super::graph::{NO_COMPONENT, Outcome, Stitched};

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub static ID_GRAPH_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("id_type", DataType::Utf8, false),
        Field::new("id_value", DataType::Utf8, false),
        Field::new("unified_id", DataType::Utf8, false),
        Field::new("person_id", DataType::Int64, false),
        Field::new("component_size", DataType::Int64, false),
        Field::new("first_seen", timestamp(), false),
        Field::new("last_seen", timestamp(), false),
        Field::new("is_anchor", DataType::Boolean, false),
    ]))
});

pub static REJECTED_EDGES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("a_type", DataType::Utf8, false),
        Field::new("a_value", DataType::Utf8, false),
        Field::new("b_type", DataType::Utf8, false),
        Field::new("b_value", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("first_seen", timestamp(), false),
        Field::new("last_seen", timestamp(), false),
        Field::new("occurrences", DataType::Int64, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
});

pub static MERGE_LOG_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("event", DataType::Utf8, false),
        Field::new("unified_id", DataType::Utf8, false),
        Field::new("other_ids", DataType::Utf8, true),
        Field::new("component_size", DataType::Int64, false),
        Field::new("cause", DataType::Utf8, false),
    ]))
});

pub static RUN_STATS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("stat", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Int64, false),
    ]))
});

/// Component sizes are reported in these buckets (upper bounds, inclusive).
const SIZE_BUCKETS: [(u32, &str); 8] = [
    (1, "1"),
    (2, "2"),
    (5, "3-5"),
    (10, "6-10"),
    (20, "11-20"),
    (50, "21-50"),
    (100, "51-100"),
    (u32::MAX, "101+"),
];

/// How many of the largest components `run_stats` lists.
const LARGEST_LISTED: usize = 10;

impl Stitched {
    /// `id_graph`: one row per identifier that is not a hub, in batches of `batch_size` rows.
    pub fn id_graph(&self, batch_size: usize) -> Result<Vec<RecordBatch>> {
        let nodes = self.graph_identifiers();
        nodes
            .chunks(batch_size.max(1))
            .map(|chunk| self.id_graph_batch(chunk))
            .collect()
    }

    /// The identifiers `id_graph` lists (every one but the hubs), in key order.
    pub fn graph_identifiers(&self) -> Vec<u32> {
        (0..self.keys.len() as u32)
            .filter(|&i| self.component[i as usize] != NO_COMPONENT)
            .collect()
    }

    /// The `id_graph` rows of some identifiers, built when asked for, so that a large graph
    /// is never held twice.
    pub fn id_graph_batch(&self, chunk: &[u32]) -> Result<RecordBatch> {
        let mut id_type = StringBuilder::new();
        let mut id_value = StringBuilder::with_capacity(chunk.len(), chunk.len() * 24);
        let mut unified_id = StringBuilder::with_capacity(chunk.len(), chunk.len() * 33);
        let mut person = Int64Builder::with_capacity(chunk.len());
        let mut size = Int64Builder::with_capacity(chunk.len());
        let mut first = TimestampMicrosecondBuilder::with_capacity(chunk.len());
        let mut last = TimestampMicrosecondBuilder::with_capacity(chunk.len());
        let mut anchor = BooleanBuilder::with_capacity(chunk.len());
        for &i in chunk {
            let c = &self.components[self.component[i as usize] as usize];
            id_type.append_value(self.type_name(i));
            id_value.append_value(self.value(i));
            unified_id.append_value(&c.unified_id);
            person.append_value(c.person_id);
            size.append_value(i64::from(c.size));
            first.append_value(self.first[i as usize]);
            last.append_value(self.last[i as usize]);
            anchor.append_value(c.anchor == i);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id_type.finish()),
            Arc::new(id_value.finish()),
            Arc::new(unified_id.finish()),
            Arc::new(person.finish()),
            Arc::new(size.finish()),
            Arc::new(first.finish().with_timezone("UTC")),
            Arc::new(last.finish().with_timezone("UTC")),
            Arc::new(anchor.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::clone(&ID_GRAPH_SCHEMA), columns)?)
    }

    /// Why a refused edge was refused.
    pub fn refusal(&self, outcome: Outcome) -> Option<(&'static str, String)> {
        match outcome {
            Outcome::Linked | Outcome::AlreadyLinked => None,
            Outcome::Hub { hub } => Some((
                "hub",
                format!(
                    "{} is linked to {} distinct identifiers (hub threshold for {}: {})",
                    self.label(hub),
                    self.degree[hub as usize],
                    self.type_name(hub),
                    self.hub_threshold[self.id_type[hub as usize] as usize]
                ),
            )),
            Outcome::Limit {
                id_type,
                held,
                other,
            } => {
                let name = self.types.get(id_type);
                let side = |node: u32| {
                    if node == u32::MAX {
                        format!("other {name}s")
                    } else {
                        self.label(node)
                    }
                };
                Some((
                    "limit",
                    format!(
                        "would put {} and {} in one person, over the limit on {name}",
                        side(held),
                        side(other)
                    ),
                ))
            }
        }
    }

    /// `rejected_edges`: every edge that linked nothing, with the rule and the reason.
    pub fn rejected_edges(&self) -> Result<RecordBatch> {
        let schema = Arc::clone(&REJECTED_EDGES_SCHEMA);
        let mut cols: [StringBuilder; 5] = Default::default();
        let mut first = TimestampMicrosecondBuilder::new();
        let mut last = TimestampMicrosecondBuilder::new();
        let mut occurrences = Int64Builder::new();
        let mut rule = StringBuilder::new();
        let mut reason = StringBuilder::new();
        for (r, o) in &self.ingest_rejected {
            for (col, v) in cols
                .iter_mut()
                .zip([&r.a_type, &r.a_value, &r.b_type, &r.b_value, &r.source])
            {
                col.append_value(v);
            }
            first.append_value(o.first);
            last.append_value(o.last);
            occurrences.append_value(o.count as i64);
            rule.append_value(r.rule);
            reason.append_value(&r.reason);
        }
        for (e, &outcome) in self.edges.iter().zip(&self.outcomes) {
            let Some((name, why)) = self.refusal(outcome) else {
                continue;
            };
            let values = [
                self.type_name(e.u),
                self.value(e.u),
                self.type_name(e.v),
                self.value(e.v),
                self.sources.get(e.source),
            ];
            for (col, v) in cols.iter_mut().zip(values) {
                col.append_value(v);
            }
            first.append_value(e.first);
            last.append_value(e.last);
            occurrences.append_value(e.count as i64);
            rule.append_value(name);
            reason.append_value(why);
        }
        let mut columns: Vec<ArrayRef> = cols
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        columns.push(Arc::new(first.finish().with_timezone("UTC")));
        columns.push(Arc::new(last.finish().with_timezone("UTC")));
        columns.push(Arc::new(occurrences.finish()));
        columns.push(Arc::new(rule.finish()));
        columns.push(Arc::new(reason.finish()));
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// `merge_log`: what happened to unified ids in this run.
    pub fn merge_log(&self) -> Result<RecordBatch> {
        let mut event = StringBuilder::new();
        let mut unified_id = StringBuilder::new();
        let mut other = StringBuilder::new();
        let mut size = Int64Builder::new();
        let mut cause = StringBuilder::new();
        if self.first_run {
            for c in &self.components {
                event.append_value("created");
                unified_id.append_value(&c.unified_id);
                other.append_null();
                size.append_value(i64::from(c.size));
                cause.append_value("first run");
            }
        }
        for entry in &self.log {
            event.append_value(entry.event);
            unified_id.append_value(&entry.unified_id);
            other.append_option(entry.other_ids.as_deref());
            size.append_value(i64::from(entry.component_size));
            cause.append_value(&entry.cause);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(event.finish()),
            Arc::new(unified_id.finish()),
            Arc::new(other.finish()),
            Arc::new(size.finish()),
            Arc::new(cause.finish()),
        ];
        Ok(RecordBatch::try_new(
            Arc::clone(&MERGE_LOG_SCHEMA),
            columns,
        )?)
    }

    /// The figures of `run_stats`, as (stat, key, value).
    pub fn stats(&self) -> Vec<(String, String, i64)> {
        let mut rows: Vec<(String, String, i64)> = Vec::new();
        let mut push = |stat: &str, key: &str, value: i64| {
            rows.push((stat.to_string(), key.to_string(), value))
        };
        push("input", "edge_rows", self.input_rows as i64);
        push("input", "distinct_edges", self.edges.len() as i64);
        let identifiers = self
            .component
            .iter()
            .filter(|&&c| c != NO_COMPONENT)
            .count();
        push("identifiers", "", identifiers as i64);
        push("components", "", self.components.len() as i64);
        let mut buckets = [0i64; SIZE_BUCKETS.len()];
        for c in &self.components {
            let b = SIZE_BUCKETS
                .iter()
                .position(|&(upper, _)| c.size <= upper)
                .unwrap_or(SIZE_BUCKETS.len() - 1);
            buckets[b] += 1;
        }
        for ((_, label), count) in SIZE_BUCKETS.iter().zip(buckets) {
            push("component_size", label, count);
        }
        // the largest, ties by id: only the components as large as the 10th need their ids compared
        let mut sizes: Vec<u32> = self.components.iter().map(|c| c.size).collect();
        let cutoff = if sizes.len() > LARGEST_LISTED {
            *sizes
                .select_nth_unstable_by(LARGEST_LISTED - 1, |a, b| b.cmp(a))
                .1
        } else {
            0
        };
        drop(sizes);
        let mut largest: Vec<usize> = (0..self.components.len())
            .filter(|&c| self.components[c].size >= cutoff)
            .collect();
        largest.sort_unstable_by(|&a, &b| {
            let (ca, cb) = (&self.components[a], &self.components[b]);
            cb.size
                .cmp(&ca.size)
                .then(ca.unified_id.cmp(&cb.unified_id))
        });
        for &c in largest.iter().take(LARGEST_LISTED) {
            let comp = &self.components[c];
            push("largest_component", &comp.unified_id, i64::from(comp.size));
        }
        let mut hubs: Vec<u32> = (0..self.keys.len() as u32)
            .filter(|&i| self.hub[i as usize])
            .collect();
        hubs.sort_unstable_by_key(|&i| (std::cmp::Reverse(self.degree[i as usize]), i));
        push("hubs", "", hubs.len() as i64);
        for &h in &hubs {
            push("hub", &self.label(h), i64::from(self.degree[h as usize]));
        }
        let mut by_rule: std::collections::BTreeMap<&str, i64> = Default::default();
        for (r, o) in &self.ingest_rejected {
            *by_rule.entry(r.rule).or_default() += o.count as i64;
        }
        let mut linked = 0i64;
        for (e, &outcome) in self.edges.iter().zip(&self.outcomes) {
            match outcome.rule() {
                Some(rule) => *by_rule.entry(rule).or_default() += e.count as i64,
                None => linked += e.count as i64,
            }
        }
        push("edges", "accepted", linked);
        for (rule, count) in by_rule {
            push("rejected_edges", rule, count);
        }
        let mut events: std::collections::BTreeMap<&str, i64> = Default::default();
        if self.first_run {
            events.insert("created", self.components.len() as i64);
        }
        for entry in &self.log {
            *events.entry(entry.event).or_default() += 1;
        }
        for (event, count) in events {
            push("merge_log", event, count);
        }
        push("person_id", "high_water", self.person_id_high_water);
        push(
            "person_id",
            "moved_identifiers",
            self.moved_identifiers as i64,
        );
        for (phase, seconds) in &self.phases.seconds {
            push("milliseconds", phase, (seconds * 1000.0).round() as i64);
        }
        rows
    }

    /// `run_stats`: sizes, hubs, refusals and id changes of this run.
    pub fn run_stats(&self) -> Result<RecordBatch> {
        let rows = self.stats();
        let mut stat = StringBuilder::new();
        let mut key = StringBuilder::new();
        let mut value = Int64Builder::new();
        for (s, k, v) in rows {
            stat.append_value(s);
            key.append_value(k);
            value.append_value(v);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(stat.finish()),
            Arc::new(key.finish()),
            Arc::new(value.finish()),
        ];
        Ok(RecordBatch::try_new(
            Arc::clone(&RUN_STATS_SCHEMA),
            columns,
        )?)
    }
}

//! Stitching on hand-made and random graphs, without a query engine in between.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::graph::{NO_COMPONENT, Stitched};
use super::ingest::{EdgeChunk, SharedBuilder};
use super::previous::PreviousGraph;
use super::rules::StitchRules;

type Row = (String, String, String, String, i64, String);

fn row(a: &str, b: &str, at: i64) -> Row {
    let (at_, av) = a.split_once(':').unwrap();
    let (bt, bv) = b.split_once(':').unwrap();
    (
        at_.into(),
        av.into(),
        bt.into(),
        bv.into(),
        at,
        "test".into(),
    )
}

fn edge_batch(rows: &[Row]) -> RecordBatch {
    let strings = |f: &dyn Fn(&Row) -> &str| {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let schema = Schema::new(vec![
        Field::new("a_type", DataType::Utf8, true),
        Field::new("a_value", DataType::Utf8, true),
        Field::new("b_type", DataType::Utf8, true),
        Field::new("b_value", DataType::Utf8, true),
        Field::new(
            "seen_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("source", DataType::Utf8, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            strings(&|r| &r.0),
            strings(&|r| &r.1),
            strings(&|r| &r.2),
            strings(&|r| &r.3),
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
            strings(&|r| &r.5),
        ],
    )
    .unwrap()
}

/// Stitches `rows` read as `chunks` batches.
fn stitch_in(
    rows: &[Row],
    chunks: usize,
    rules: &StitchRules,
    previous: Option<&PreviousGraph>,
) -> Stitched {
    let builder = SharedBuilder::default();
    let per = rows.len().div_ceil(chunks.max(1)).max(1);
    for (reader, part) in rows.chunks(per).enumerate() {
        let chunk = EdgeChunk::from_batch(rules, &edge_batch(part), "edges").unwrap();
        builder.absorb(chunk, reader).unwrap();
    }
    Stitched::compute(builder.finish().unwrap(), rules, previous, 0)
}

fn stitch(rows: &[Row]) -> Stitched {
    stitch_in(rows, 1, &StitchRules::default(), None)
}

/// `type:value` -> (unified_id, is_anchor, component_size), for every identifier.
fn graph(s: &Stitched) -> BTreeMap<String, (String, bool, u32)> {
    (0..s.keys.len() as u32)
        .filter(|&i| s.component[i as usize] != NO_COMPONENT)
        .map(|i| {
            let c = &s.components[s.component[i as usize] as usize];
            (s.label(i), (c.unified_id.clone(), c.anchor == i, c.size))
        })
        .collect()
}

fn same_person(s: &Stitched, a: &str, b: &str) -> bool {
    let g = graph(s);
    g[a].0 == g[b].0
}

/// The previous graph a run's id_graph makes.
fn as_previous(s: &Stitched) -> PreviousGraph {
    let mut previous = PreviousGraph::default();
    for batch in s.id_graph(3).unwrap() {
        previous.add_batch(&batch, "previous").unwrap();
    }
    previous
}

#[test]
fn links_normalised_identifiers() {
    let s = stitch(&[
        row("phone:+86 138-1234-5678", "member_id:M1", 10),
        row("phone:13812345678", "email:Li@QQ.com", 20),
        row("email: li@qq.com ", "cookie_id:c1", 30),
    ]);
    let g = graph(&s);
    assert_eq!(g.len(), 4, "{g:?}");
    assert!(same_person(&s, "member_id:M1", "cookie_id:c1"));
    assert!(g["member_id:M1"].1, "member_id is the anchor");
    assert_eq!(g["phone:8613812345678"].2, 4);
    assert_eq!(
        s.first[s
            .find(super::ingest::identifier_key("phone", "8613812345678"))
            .unwrap() as usize],
        10
    );
}

#[test]
fn placeholders_link_nothing_and_are_reported() {
    let s = stitch(&[
        row("member_id:M1", "phone:0", 1),
        row("member_id:M2", "phone:0", 2),
        row(
            "member_id:M1",
            "device_id:00000000-0000-0000-0000-000000000000",
            3,
        ),
        row(
            "member_id:M2",
            "device_id:00000000-0000-0000-0000-000000000000",
            4,
        ),
        row("member_id:M1", "cookie_id:\"null\"", 5),
        row("member_id:M2", "cookie_id:\"null\"", 6),
        row("member_id:M2", "email:not-an-email", 7),
    ]);
    assert!(!same_person(&s, "member_id:M1", "member_id:M2"));
    assert_eq!(graph(&s).len(), 2);
    let rules: BTreeSet<&str> = s.ingest_rejected.iter().map(|(r, _)| r.rule).collect();
    assert_eq!(rules, BTreeSet::from(["invalid", "placeholder"]));
    let phone: Vec<_> = s
        .ingest_rejected
        .iter()
        .filter(|(r, _)| r.b_value == "0")
        .collect();
    assert_eq!(phone.len(), 2);
    assert!(
        phone[0].0.reason.contains("\"0\" is a placeholder"),
        "{:?}",
        phone[0]
    );
}

#[test]
fn listed_placeholders_per_type() {
    let rules = StitchRules::from_toml(
        "[placeholders]\nvalues = ['TEST']\n[placeholders.types.phone]\nvalues = ['8613800138000']",
    )
    .unwrap();
    let s = stitch_in(
        &[
            row("member_id:M1", "phone:13800138000", 1),
            row("member_id:M2", "phone:13800138000", 2),
            row("member_id:M3", "cookie_id:test", 3),
            row("member_id:M4", "cookie_id:test", 4),
        ],
        1,
        &rules,
        None,
    );
    assert_eq!(graph(&s).len(), 4);
}

#[test]
fn openids_are_keyed_by_app() {
    let s = stitch(&[
        row("unionid:U1", "openid:appA:o1", 1),
        row("unionid:U2", "openid:appB:o1", 2),
    ]);
    assert!(!same_person(&s, "unionid:U1", "unionid:U2"));
}

#[test]
fn hubs_are_excluded_and_reported() {
    // a store iPad that 12 members check in on
    let mut rows: Vec<Row> = (0..12)
        .map(|i| row(&format!("member_id:M{i}"), "device_id:IPAD", i))
        .collect();
    rows.push(row("member_id:M0", "phone:13812345678", 100));
    let s = stitch(&rows);
    let g = graph(&s);
    assert!(!g.contains_key("device_id:ipad"));
    assert!(!same_person(&s, "member_id:M0", "member_id:M1"));
    assert!(same_person(&s, "member_id:M0", "phone:8613812345678"));
    let hub = s
        .find(super::ingest::identifier_key("device_id", "ipad"))
        .unwrap();
    assert!(s.hub[hub as usize]);
    assert_eq!(s.degree[hub as usize], 12);
    let stats = s.stats();
    assert!(stats.contains(&("hub".into(), "device_id:ipad".into(), 12)));
    assert!(stats.contains(&("rejected_edges".into(), "hub".into(), 12)));
    // a raised threshold makes it an ordinary identifier again: it joins its first member,
    // and the one-member_id limit keeps the others apart
    let rules = StitchRules::from_toml("[hubs]\ndevice_id = 12").unwrap();
    let s = stitch_in(&rows, 1, &rules, None);
    assert!(same_person(&s, "member_id:M0", "device_id:ipad"));
    assert!(!same_person(&s, "member_id:M1", "device_id:ipad"));
    assert_eq!(
        s.stats()
            .iter()
            .find(|r| r.0 == "rejected_edges")
            .unwrap()
            .1,
        "limit"
    );
}

#[test]
fn limits_refuse_merges_by_priority_and_time() {
    // two members share a cookie: the earlier link wins, the later is refused
    let s = stitch(&[
        row("member_id:M1", "phone:13812345678", 1),
        row("member_id:M2", "phone:13912345678", 2),
        row("member_id:M2", "cookie_id:shared", 20),
        row("member_id:M1", "cookie_id:shared", 10),
        row("phone:13812345678", "phone:13912345678", 30),
    ]);
    assert!(same_person(&s, "member_id:M1", "cookie_id:shared"));
    assert!(!same_person(&s, "member_id:M2", "cookie_id:shared"));
    assert!(!same_person(&s, "member_id:M1", "member_id:M2"));
    let refusals: Vec<String> = s
        .outcomes
        .iter()
        .filter_map(|&o| s.refusal(o))
        .map(|(rule, why)| format!("{rule}: {why}"))
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| r.starts_with("limit: would put member_id:M")),
        "{refusals:?}"
    );
    // the phone-phone edge is processed before the member-cookie edges (phone outranks
    // cookie_id), so it is the cookie link of M2 that ends up refused... and the phones'
    // link too, since it would join M1 and M2
    let rejected = s.rejected_edges().unwrap();
    assert_eq!(rejected.num_rows(), 2);
    // with two member ids allowed, everything is one person
    let rules = StitchRules::from_toml("[limits]\nmember_id = 2").unwrap();
    let s = stitch_in(
        &[
            row("member_id:M1", "cookie_id:shared", 10),
            row("member_id:M2", "cookie_id:shared", 20),
        ],
        1,
        &rules,
        None,
    );
    assert!(same_person(&s, "member_id:M1", "member_id:M2"));
}

#[test]
fn anchor_is_highest_priority_then_earliest() {
    let s = stitch(&[
        row("cookie_id:c1", "phone:13812345678", 1),
        row("phone:13812345678", "unionid:U2", 5),
        row("unionid:U1", "cookie_id:c1", 3),
    ]);
    let g = graph(&s);
    assert!(g["unionid:U1"].1, "{g:?}");
    assert!(!g["unionid:U2"].1);
}

/// A small deterministic generator, so the tests need no random crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_rows(seed: u64, nodes: u64, edges: usize) -> Vec<Row> {
    let mut rng = Lcg(seed);
    let types = ["unionid", "openid", "cookie_id", "email"];
    let label = |i: u64| match types[(i % 4) as usize] {
        "email" => format!("email:user{i}@example.com"),
        t => format!("{t}:v{i}"),
    };
    (0..edges)
        .map(|_| {
            let (a, b) = (rng.below(nodes), rng.below(nodes));
            row(&label(a), &label(b), rng.below(1000) as i64)
        })
        .collect()
}

/// Connected components by repeated min-label propagation: slow, obviously right.
fn reference_components(rows: &[Row]) -> BTreeSet<BTreeSet<String>> {
    let mut label: HashMap<String, String> = HashMap::new();
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let norm =
                |t: &str, v: &str| format!("{t}:{}", crate::identity::normalize(t, v).unwrap());
            (norm(&r.0, &r.1), norm(&r.2, &r.3))
        })
        .collect();
    for (a, b) in &pairs {
        label.insert(a.clone(), a.clone());
        label.insert(b.clone(), b.clone());
    }
    loop {
        let mut changed = false;
        for (a, b) in &pairs {
            let min = label[a].clone().min(label[b].clone());
            for x in [a, b] {
                if label[x] != min {
                    label.insert(x.clone(), min.clone());
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (node, l) in label {
        groups.entry(l).or_default().insert(node);
    }
    groups.into_values().collect()
}

fn components_of(s: &Stitched) -> BTreeSet<BTreeSet<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (node, (id, _, _)) in graph(s) {
        groups.entry(id).or_default().insert(node);
    }
    groups.into_values().collect()
}

#[test]
fn components_match_a_reference_on_random_graphs() {
    let no_guards = StitchRules::from_toml("[limits]\n[hubs]\ndefault = 1000000").unwrap();
    for seed in 0..20 {
        let nodes = 20 + seed * 15;
        let rows = random_rows(seed, nodes, (nodes as usize * 7) / 10);
        let s = stitch_in(&rows, 1, &no_guards, None);
        assert_eq!(
            components_of(&s),
            reference_components(&rows),
            "seed {seed}"
        );
        for c in &s.components {
            assert!(c.unified_id.starts_with('u') && c.unified_id.len() == 33);
        }
    }
}

#[test]
fn result_does_not_depend_on_row_order_or_chunking() {
    let mut rows = random_rows(7, 300, 260);
    // add hubs and limits to the mix
    for i in 0..30 {
        rows.push(row(
            &format!("member_id:M{}", i % 3),
            &format!("openid:v{}", i * 4 + 1),
            500 + i,
        ));
        rows.push(row(
            "device_id:HUB",
            &format!("cookie_id:v{}", i * 4 + 2),
            600 + i,
        ));
    }
    let reference = stitch_in(&rows, 1, &StitchRules::default(), None);
    let expected = graph(&reference);
    let expected_rejected = reference.rejected_edges().unwrap();
    let mut rng = Lcg(99);
    for chunks in [1, 2, 3, 8] {
        let mut shuffled = rows.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let s = stitch_in(&shuffled, chunks, &StitchRules::default(), None);
        assert_eq!(graph(&s), expected, "{chunks} chunks");
        assert_eq!(s.rejected_edges().unwrap(), expected_rejected);
    }
}

#[test]
fn unified_ids_carry_forward_through_merges_and_splits() {
    let rules = StitchRules::default();
    let day1 = vec![
        row("unionid:U1", "phone:13800000001", 1),
        row("unionid:U2", "phone:13800000002", 2),
    ];
    let run1 = stitch_in(&day1, 1, &rules, None);
    let g1 = graph(&run1);
    let (id_a, id_b) = (g1["unionid:U1"].0.clone(), g1["unionid:U2"].0.clone());
    assert_ne!(id_a, id_b);
    assert!(run1.first_run && run1.log.is_empty());
    let created = run1.merge_log().unwrap();
    assert_eq!(created.num_rows(), 2);

    // the same data again: the same ids, nothing logged
    let again = stitch_in(&day1, 1, &rules, Some(&as_previous(&run1)));
    assert_eq!(graph(&again), g1);
    assert!(again.log.is_empty(), "{:?}", again.log);
    assert_eq!(again.moved_identifiers, 0);

    // day 2: a cookie links the two; the older id survives, the merge is logged with its edges
    let mut day2 = day1.clone();
    day2.push(row("phone:13800000001", "cookie_id:ck-42", 10));
    day2.push(row("cookie_id:ck-42", "phone:13800000002", 11));
    day2.push(row("unionid:U3", "email:new@example.com", 12));
    let run2 = stitch_in(&day2, 2, &rules, Some(&as_previous(&run1)));
    let g2 = graph(&run2);
    for id in ["unionid:U1", "unionid:U2", "cookie_id:ck-42"] {
        assert_eq!(g2[id].0, id_a, "{id}");
    }
    let absorbed = run2.log.iter().find(|e| e.event == "absorbed").unwrap();
    assert_eq!(absorbed.unified_id, id_b);
    assert_eq!(absorbed.other_ids.as_deref(), Some(id_a.as_str()));
    assert!(
        absorbed.cause.contains("cookie_id:ck-42"),
        "{}",
        absorbed.cause
    );
    let merged = run2.log.iter().find(|e| e.event == "merged").unwrap();
    assert_eq!(
        (merged.unified_id.as_str(), merged.component_size),
        (id_a.as_str(), 5)
    );
    assert_eq!(run2.log.iter().filter(|e| e.event == "created").count(), 1);
    // a merge moves no identifier away from its person (or the one it merged into)
    assert_eq!(run2.moved_identifiers, 0);

    // day 3: the cookie's second link is gone: the part holding the anchor keeps the id
    let mut day3 = day1.clone();
    day3.push(row("phone:13800000001", "cookie_id:ck-42", 10));
    day3.push(row("unionid:U3", "email:new@example.com", 12));
    let run3 = stitch_in(&day3, 3, &rules, Some(&as_previous(&run2)));
    let g3 = graph(&run3);
    assert_eq!(g3["unionid:U1"].0, id_a);
    assert_eq!(g3["cookie_id:ck-42"].0, id_a);
    assert_ne!(g3["unionid:U2"].0, id_a);
    assert_eq!(g3["unionid:U3"].0, g2["unionid:U3"].0);
    let split = run3.log.iter().find(|e| e.event == "split").unwrap();
    assert_eq!(split.unified_id, g3["unionid:U2"].0);
    assert_eq!(split.other_ids.as_deref(), Some(id_a.as_str()));
    let ids: BTreeSet<&String> = g3.values().map(|v| &v.0).collect();
    assert_eq!(ids.len(), 3);
    // a split does: unionid:U2 and its phone left the person they were with
    assert_eq!(run3.moved_identifiers, 2);
}

/// `type:value` -> person_id, for every identifier.
fn person_ids(s: &Stitched) -> BTreeMap<String, i64> {
    (0..s.keys.len() as u32)
        .filter(|&i| s.component[i as usize] != NO_COMPONENT)
        .map(|i| {
            (
                s.label(i),
                s.components[s.component[i as usize] as usize].person_id,
            )
        })
        .collect()
}

#[test]
fn person_ids_are_dense_and_follow_the_unified_ids() {
    let rules = StitchRules::default();
    let day1 = vec![
        row("unionid:U1", "phone:13800000001", 1),
        row("unionid:U2", "phone:13800000002", 2),
        row("unionid:U3", "phone:13800000003", 3),
    ];
    let run1 = stitch_in(&day1, 1, &rules, None);
    let p1 = person_ids(&run1);
    let mut numbers: Vec<i64> = p1.values().copied().collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(run1.person_id_high_water, 3);
    // new people are numbered in the order of their unified ids, so a run is reproducible
    let by_id: BTreeMap<String, i64> = run1
        .components
        .iter()
        .map(|c| (c.unified_id.clone(), c.person_id))
        .collect();
    assert_eq!(by_id.values().copied().collect::<Vec<_>>(), vec![1, 2, 3]);

    // U2 and U3 merge, and U4 is new: the survivor keeps its number, the new person gets the
    // next one, and the number of the absorbed person is not given again
    let mut day2 = day1.clone();
    day2.push(row("phone:13800000002", "cookie_id:ck", 10));
    day2.push(row("cookie_id:ck", "phone:13800000003", 11));
    day2.push(row("unionid:U4", "phone:13800000004", 12));
    let run2 = stitch_in(&day2, 2, &rules, Some(&as_previous(&run1)));
    let p2 = person_ids(&run2);
    assert_eq!(p2["unionid:U1"], p1["unionid:U1"]);
    let survivor = p2["unionid:U2"];
    assert_eq!(p2["unionid:U3"], survivor);
    assert!([p1["unionid:U2"], p1["unionid:U3"]].contains(&survivor));
    assert_eq!(p2["unionid:U4"], 4);

    // the next night a new person arrives: above the high-water mark even when the largest
    // number left the graph (a floor from the run before, as the jobs pass it)
    let mut day3 = day2.clone();
    day3.push(row("unionid:U5", "phone:13800000005", 20));
    let builder = SharedBuilder::default();
    let chunk = EdgeChunk::from_batch(&rules, &edge_batch(&day3), "edges").unwrap();
    builder.absorb(chunk, 0).unwrap();
    let run3 = Stitched::compute(
        builder.finish().unwrap(),
        &rules,
        Some(&as_previous(&run2)),
        10,
    );
    let p3 = person_ids(&run3);
    assert_eq!(p3["unionid:U5"], 11);
    assert_eq!(p3["unionid:U4"], 4);
    assert_eq!(run3.person_id_high_water, 11);
}

#[test]
fn explains_links_and_refusals() {
    let mut rows: Vec<Row> = (0..12)
        .map(|i| row(&format!("member_id:M{i}"), "device_id:IPAD", i))
        .collect();
    rows.push(row("member_id:M0", "phone:13812345678", 100));
    let s = stitch(&rows);
    let together = s.explain(("phone", "138 1234 5678"), ("member_id", "M0"));
    assert!(together.verdict.starts_with("together"), "{together}");
    assert_eq!(together.steps.len(), 1);
    let apart = s.explain(("member_id", "M1"), ("member_id", "M2"));
    assert!(apart.verdict.starts_with("apart"), "{apart}");
    assert!(
        apart.steps.iter().all(|s| s.starts_with("refused (hub")),
        "{apart}"
    );
    let nobody = s.explain(("phone", "0"), ("member_id", "M2"));
    assert!(nobody.verdict.contains("identifies nobody"), "{nobody}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut batch = edge_batch(&[row("member_id:M1", "phone:13812345678", 1)]);
    let rules = StitchRules::default();
    let without_source = batch.project(&[0, 1, 2, 3, 4]).unwrap();
    let err = EdgeChunk::from_batch(&rules, &without_source, "my_edges")
        .unwrap_err()
        .to_string();
    assert!(err.contains("my_edges has no column source"), "{err}");

    let nulls = Arc::new(TimestampMicrosecondArray::from(vec![None::<i64>])) as ArrayRef;
    let mut columns = batch.columns().to_vec();
    columns[4] = nulls;
    batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
    let err = EdgeChunk::from_batch(&rules, &batch, "my_edges")
        .unwrap_err()
        .to_string();
    assert!(err.contains("NULL seen_at"), "{err}");

    let anchors = Arc::new(BooleanArray::from(vec![true])) as ArrayRef;
    let bad_previous = RecordBatch::try_from_iter(vec![("is_anchor", anchors)]).unwrap();
    let err = PreviousGraph::default()
        .add_batch(&bad_previous, "old_graph")
        .unwrap_err()
        .to_string();
    assert!(err.contains("old_graph has no column id_type"), "{err}");
}

#[test]
fn the_merge_log_does_not_depend_on_the_order_of_the_previous_graph() {
    let rules = StitchRules::default();
    let mut day1 = random_rows(3, 120, 90);
    day1.push(row("unionid:U1", "phone:13800000001", 1));
    day1.push(row("unionid:U2", "phone:13800000002", 2));
    let run1 = stitch_in(&day1, 1, &rules, None);
    let mut day2 = day1.clone();
    day2.push(row("phone:13800000001", "cookie_id:ck-1", 500));
    day2.push(row("cookie_id:ck-1", "phone:13800000002", 501));
    day2.extend(random_rows(4, 120, 40));
    let in_order = as_previous(&run1);
    let mut reversed = PreviousGraph::default();
    let batches = run1.id_graph(3).unwrap();
    for batch in batches.iter().rev() {
        let rows = batch.num_rows() as u32;
        let backwards = datafusion::arrow::array::UInt32Array::from_iter_values((0..rows).rev());
        let columns = batch
            .columns()
            .iter()
            .map(|c| datafusion::arrow::compute::take(c, &backwards, None).unwrap())
            .collect();
        let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        reversed.add_batch(&batch, "previous").unwrap();
    }
    let a = stitch_in(&day2, 2, &rules, Some(&in_order));
    let b = stitch_in(&day2, 2, &rules, Some(&reversed));
    assert!(a.log.iter().any(|e| e.event == "absorbed"), "{:?}", a.log);
    assert_eq!(a.log, b.log);
}

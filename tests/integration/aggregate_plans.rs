//! The one-phase plan for row-keeping aggregates (`userlake_udfs::single_phase`): which
//! queries the session's optimizer rewrites, which it leaves alone, and that the rewritten
//! plans give exactly the answers of DataFusion's two-phase plans. Also which `coalesce`
//! calls stay one-pass function calls (`userlake_udfs::coalesce`).

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext, col};
use userlake::{SessionOptions, build_session};

/// Orders of 40 customers in 6 partitions, several orders per customer per day, so that
/// every customer is in every partition and periods must be merged across them.
fn orders() -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Utf8, false),
        Field::new(
            "order_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("amount", DataType::Float64, true),
        Field::new("channel", DataType::Utf8, false),
    ]));
    let day = 86_400_000_000i64;
    let partitions = (0..6)
        .map(|p| {
            let rows: Vec<(String, Option<i64>, Option<f64>, &str)> = (0..400)
                .map(|i| {
                    let customer = (i * 7 + p) % 40;
                    let time = (p as i64 * 13 + i as i64 * 5) % 30 * day + i as i64 * 1_000;
                    let amount = ((i * 31 + p * 17) % 97) as f64 / 4.0;
                    (
                        format!("c{customer}"),
                        (i % 53 != 0).then_some(time),
                        (i % 41 != 0).then_some(amount),
                        ["ad", "search", "referral"][(i + p) % 3],
                    )
                })
                .collect();
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
                    Arc::new(TimestampMicrosecondArray::from(
                        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                    )),
                    Arc::new(Float64Array::from(
                        rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
                ],
            )
            .expect("a valid batch");
            vec![batch]
        })
        .collect();
    MemTable::try_new(schema, partitions).expect("a valid table")
}

/// Orders of 40 customers by number in 4 partitions, each sorted by the number and declared
/// so: input ordered by the group key.
fn sorted_by_number() -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("number", DataType::Int64, false),
        Field::new(
            "order_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("amount", DataType::Float64, false),
    ]));
    let day = 86_400_000_000i64;
    let partitions = (0..4)
        .map(|p| {
            let mut rows: Vec<(i64, i64, f64)> = (0..300)
                .map(|i| {
                    let number = ((i * 11 + p * 3) % 40) as i64;
                    let time = (p as i64 * 7 + i as i64 * 3) % 20 * day + i as i64 * 1_000;
                    (number, time, ((i * 29 + p * 13) % 83) as f64 / 3.0)
                })
                .collect();
            rows.sort_by_key(|r| r.0);
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(TimestampMicrosecondArray::from_iter_values(
                        rows.iter().map(|r| r.1),
                    )),
                    Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
                ],
            )
            .expect("a valid batch");
            vec![batch]
        })
        .collect();
    MemTable::try_new(schema, partitions)
        .expect("a valid table")
        .with_sort_order(vec![vec![col("number").sort(true, false)]])
}

async fn userlake_session(partitions: usize) -> SessionContext {
    let session = build_session(&SessionOptions {
        target_partitions: Some(partitions),
        ..Default::default()
    })
    .await
    .expect("a session");
    session
        .ctx
        .register_table("orders", Arc::new(orders()))
        .expect("registered");
    session
        .ctx
        .register_table("sorted_orders", Arc::new(sorted_by_number()))
        .expect("registered");
    session.ctx
}

/// DataFusion's own planning: the functions, without userlake's optimizer rule.
fn stock_session(partitions: usize) -> SessionContext {
    let mut ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    userlake_udfs::register_all(&mut ctx).expect("registered");
    ctx.register_table("orders", Arc::new(orders()))
        .expect("registered");
    ctx.register_table("sorted_orders", Arc::new(sorted_by_number()))
        .expect("registered");
    ctx
}

async fn plan_of(ctx: &SessionContext, sql: &str) -> String {
    let plan = ctx
        .sql(sql)
        .await
        .expect("planned")
        .create_physical_plan()
        .await
        .expect("a physical plan");
    displayable(plan.as_ref()).indent(true).to_string()
}

async fn answer(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(sql)
        .await
        .expect("planned")
        .collect()
        .await
        .expect("ran");
    pretty_format_batches(&batches)
        .expect("printable")
        .to_string()
}

const CLV_SUMMARY: &str = "SELECT customer, clv_summary(order_time, amount, TIMESTAMP '1970-02-01 00:00:00') AS s \
     FROM orders GROUP BY customer ORDER BY customer";

const ATTRIBUTION: &str = "SELECT customer, attribution('linear', order_time, channel, TIMESTAMP '1970-01-20 00:00:00') AS credit \
     FROM orders GROUP BY customer ORDER BY customer";

#[tokio::test]
async fn row_keeping_aggregates_run_in_one_phase() {
    let ctx = userlake_session(4).await;
    for sql in [CLV_SUMMARY, ATTRIBUTION] {
        let plan = plan_of(&ctx, sql).await;
        assert!(
            plan.contains("mode=SinglePartitioned") && !plan.contains("mode=Partial"),
            "{sql}\n{plan}"
        );
        assert!(
            plan.contains("RepartitionExec: partitioning=Hash([customer@"),
            "{plan}"
        );
    }
}

/// A funnel per customer number: an integer column below the aggregate.
const FUNNEL_BY_NUMBER: &str = "SELECT number, window_funnel(86400, '', order_time, amount > 5, amount > 10, amount > 20) AS level \
     FROM (SELECT CAST(substr(customer, 2) AS BIGINT) AS number, order_time, amount FROM orders) \
     GROUP BY number ORDER BY number";

#[tokio::test]
async fn funnels_by_an_integer_column_run_in_one_phase() {
    let ctx = userlake_session(4).await;
    let plan = plan_of(&ctx, FUNNEL_BY_NUMBER).await;
    assert!(
        plan.contains("mode=SinglePartitioned") && !plan.contains("mode=Partial"),
        "{plan}"
    );
    assert!(
        plan.contains("RepartitionExec: partitioning=Hash([number@"),
        "{plan}"
    );
}

const SORTED_FUNNEL: &str = "SELECT number, window_funnel(86400, '', order_time, amount > 5, amount > 10, amount > 20) AS level \
     FROM sorted_orders GROUP BY number";

#[tokio::test]
async fn funnels_over_input_sorted_by_the_key_run_in_one_phase_unless_the_order_is_needed() {
    let ctx = userlake_session(4).await;
    let stock = plan_of(&stock_session(4), SORTED_FUNNEL).await;
    assert!(
        stock.contains("ordering_mode=Sorted"),
        "the input is ordered: {stock}"
    );
    let plan = plan_of(&ctx, SORTED_FUNNEL).await;
    assert!(
        plan.contains("mode=SinglePartitioned") && !plan.contains("mode=Partial"),
        "{plan}"
    );
    // ORDER BY the key: the streaming plan's order is what makes the sort unnecessary
    let ordered = format!("{SORTED_FUNNEL} ORDER BY number");
    let plan = plan_of(&ctx, &ordered).await;
    assert!(plan.contains("mode=Partial"), "{plan}");
    let expected = answer(&stock_session(4), &ordered).await;
    assert_eq!(expected.lines().count(), 40 + 4, "{expected}");
    assert_eq!(answer(&ctx, &ordered).await, expected);
    let unordered_answer = answer(
        &ctx,
        &format!("SELECT * FROM ({SORTED_FUNNEL}) ORDER BY number"),
    )
    .await;
    assert_eq!(unordered_answer, expected);
    // a row-keeping aggregate over sorted input keeps its streaming plan (not measured there)
    let summary = plan_of(
        &ctx,
        "SELECT number, clv_summary(order_time, amount, TIMESTAMP '1970-02-01 00:00:00') \
         FROM sorted_orders GROUP BY number",
    )
    .await;
    assert!(summary.contains("ordering_mode=Sorted"), "{summary}");
}

#[tokio::test]
async fn other_aggregates_keep_their_two_phases() {
    let ctx = userlake_session(4).await;
    for sql in [
        // a funnel by a string key: hashing it twice costs more than the list states
        "SELECT customer, window_funnel(86400, '', order_time, amount > 5, amount > 10) \
         FROM orders GROUP BY customer",
        // a funnel by a computed key: the repartition would compute it once more
        "SELECT window_funnel(86400, '', order_time, amount > 5, amount > 10) \
         FROM orders GROUP BY CAST(substr(customer, 2) AS BIGINT)",
        // sequences keep fewer rows: their partial phase shrinks them
        "SELECT number, sequence_match('(?1)(?2)', order_time, amount > 5, amount > 10) \
         FROM (SELECT CAST(substr(customer, 2) AS BIGINT) AS number, order_time, amount FROM orders) \
         GROUP BY number",
        // mixed with an aggregate the rule does not know
        "SELECT customer, clv_summary(order_time, amount, TIMESTAMP '1970-02-01 00:00:00'), count(*) \
         FROM orders GROUP BY customer",
        // grouping sets
        "SELECT customer, channel, clv_summary(order_time, amount, TIMESTAMP '1970-02-01 00:00:00') \
         FROM orders GROUP BY ROLLUP (customer, channel)",
    ] {
        let plan = plan_of(&ctx, sql).await;
        assert!(plan.contains("mode=Partial"), "{sql}\n{plan}");
        assert!(!plan.contains("mode=SinglePartitioned"), "{sql}\n{plan}");
    }
    // no GROUP BY: nothing to repartition by
    let global = plan_of(
        &ctx,
        "SELECT clv_summary(order_time, amount, TIMESTAMP '1970-02-01 00:00:00') FROM orders",
    )
    .await;
    assert!(global.contains("mode=Partial"), "{global}");
}

#[tokio::test]
async fn one_phase_answers_are_the_two_phase_answers() {
    for sql in [
        CLV_SUMMARY,
        ATTRIBUTION,
        "SELECT customer, clv_summary(order_time, amount, TIMESTAMP '1970-02-01 00:00:00', 'week', 'day') AS s \
         FROM orders WHERE channel <> 'ad' GROUP BY customer ORDER BY customer",
        FUNNEL_BY_NUMBER,
    ] {
        let expected = answer(&stock_session(4), sql).await;
        // one line per customer between the table's three rules and header
        assert_eq!(expected.lines().count(), 40 + 4, "{expected}");
        assert!(
            plan_of(&stock_session(4), sql)
                .await
                .contains("mode=Partial"),
            "the reference runs in two phases"
        );
        for partitions in [1, 2, 3, 8] {
            let ours = answer(&userlake_session(partitions).await, sql).await;
            assert_eq!(ours, expected, "{sql} at target_partitions {partitions}");
        }
    }
}

#[tokio::test]
async fn coalesce_stays_a_call_only_when_every_argument_cannot_fail() {
    let ctx = userlake_session(2).await;
    let person = plan_of(
        &ctx,
        "SELECT coalesce(customer, channel, 'anonymous') FROM orders",
    )
    .await;
    assert!(
        person.contains("coalesce(customer@0, channel@1, anonymous)"),
        "{person}"
    );
    // a division can fail, so it is only evaluated where the amount is NULL, in a CASE
    let ratio = plan_of(&ctx, "SELECT coalesce(amount, 10 / amount) FROM orders").await;
    assert!(
        ratio.contains("CASE WHEN amount@0 IS NOT NULL THEN amount@0 ELSE 10 / amount@0 END"),
        "{ratio}"
    );
}

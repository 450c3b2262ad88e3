//! `userlake_udfs::expr_fn`: each function built as an `Expr` through the DataFrame API gives
//! the answers of the same call written in SQL, on one table of events with ties, NULLs and
//! rows matching several conditions.

use arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{ExprFunctionExt, SortExpr};
use datafusion::prelude::{Expr, SessionContext, col, lit};
use userlake_udfs::expr_fn::*;

const EVENTS: &str = "CREATE TABLE ev (u INT, t TIMESTAMP, e VARCHAR, amount DOUBLE) AS VALUES
  (1, TIMESTAMP '2026-01-01 10:00:00', 'view', 1.0),
  (1, TIMESTAMP '2026-01-01 10:00:00', 'cart', 2.0),
  (1, TIMESTAMP '2026-01-01 11:00:00', 'pay', 3.0),
  (1, TIMESTAMP '2026-01-03 09:00:00', 'view', NULL),
  (2, TIMESTAMP '2026-01-02 08:00:00', 'cart', 5.0),
  (2, TIMESTAMP '2026-01-02 09:00:00', 'view', 5.0),
  (2, TIMESTAMP '2026-01-02 09:00:00', 'view', 5.0),
  (2, NULL, 'pay', 1.0),
  (3, TIMESTAMP '2026-01-05 00:00:00', NULL, 0.5),
  (3, TIMESTAMP '2026-01-06 00:00:00', 'pay', 7.0)";

async fn session() -> SessionContext {
    let ctx = userlake::build_session(&userlake::SessionOptions::default())
        .await
        .expect("a session")
        .ctx;
    ctx.sql(EVENTS)
        .await
        .expect("the events")
        .collect()
        .await
        .expect("created");
    ctx
}

async fn text(frame: DataFrame) -> String {
    let batches = frame.collect().await.expect("the query runs");
    pretty_format_batches(&batches)
        .expect("printable")
        .to_string()
}

fn step(name: &str) -> Expr {
    col("e").eq(lit(name))
}

/// `select` as a DataFrame equals `sql` (both give one column `r`, sorted by `u`).
async fn assert_same(ctx: &SessionContext, grouped: bool, expr: Expr, sql_call: &str) {
    let events = ctx.table("ev").await.expect("ev");
    let frame = if grouped {
        events
            .aggregate(vec![col("u")], vec![expr.alias("r")])
            .expect("an aggregate")
    } else {
        events
            .select(vec![col("u"), col("t"), col("e"), expr.alias("r")])
            .expect("a projection")
    };
    let keys: Vec<SortExpr> = if grouped {
        vec![col("u").sort(true, true)]
    } else {
        ["u", "t", "e"]
            .iter()
            .map(|c| col(*c).sort(true, true))
            .collect()
    };
    let from_expr = text(frame.sort(keys).expect("sorted")).await;
    let sql = if grouped {
        format!("SELECT u, {sql_call} AS r FROM ev GROUP BY u ORDER BY u NULLS FIRST")
    } else {
        format!(
            "SELECT u, t, e, {sql_call} AS r FROM ev ORDER BY u NULLS FIRST, t NULLS FIRST, e NULLS FIRST"
        )
    };
    let from_sql = text(ctx.sql(&sql).await.expect("planned")).await;
    assert_eq!(from_expr, from_sql, "{sql_call}");
    assert!(from_sql.lines().count() > 4, "no rows for {sql_call}");
}

#[tokio::test]
async fn expressions_give_the_answers_of_sql() {
    let ctx = session().await;
    let steps = || vec![step("view"), step("cart"), step("pay")];
    let grouped = [
        (
            window_funnel(lit(3600), lit("strict_order"), col("t"), steps()),
            "window_funnel(3600, 'strict_order', t, e = 'view', e = 'cart', e = 'pay')",
        ),
        (
            window_funnel_detail(lit(86_400), lit(""), col("t"), steps()),
            "window_funnel_detail(86400, '', t, e = 'view', e = 'cart', e = 'pay')",
        ),
        (
            window_funnel_totals(lit(86_400), lit(""), col("t"), steps()),
            "window_funnel_totals(86400, '', t, e = 'view', e = 'cart', e = 'pay')",
        ),
        (
            window_funnel_values(lit(86_400), lit(""), col("t"), col("amount"), steps()),
            "window_funnel_values(86400, '', t, amount, e = 'view', e = 'cart', e = 'pay')",
        ),
        (
            retention(steps()),
            "retention(e = 'view', e = 'cart', e = 'pay')",
        ),
        (
            sequence_match(lit("(?1).*(?2)"), col("t"), vec![step("view"), step("pay")]),
            "sequence_match('(?1).*(?2)', t, e = 'view', e = 'pay')",
        ),
        (
            sequence_count(lit("(?1)"), col("t"), vec![step("view")]),
            "sequence_count('(?1)', t, e = 'view')",
        ),
        (
            sequence_match_events(lit("(?1)(?2)"), col("t"), vec![step("view"), step("cart")]),
            "sequence_match_events('(?1)(?2)', t, e = 'view', e = 'cart')",
        ),
        (
            sequence_next_node(
                lit("forward"),
                lit("first_match"),
                col("t"),
                col("e"),
                lit(true),
                vec![step("view")],
            ),
            "sequence_next_node('forward', 'first_match', t, e, true, e = 'view')",
        ),
        (
            attribution(
                lit("linear"),
                col("t"),
                col("e"),
                lit("2026-01-04T00:00:00").cast_to_timestamp(),
                None,
            ),
            "attribution('linear', t, e, TIMESTAMP '2026-01-04 00:00:00')",
        ),
        (
            clv_summary(
                col("t"),
                col("amount"),
                lit("2026-01-10T00:00:00").cast_to_timestamp(),
                vec![lit("day"), lit("day")],
            ),
            "clv_summary(t, amount, TIMESTAMP '2026-01-10 00:00:00', 'day', 'day')",
        ),
        (
            retention_matrix(
                col("u"),
                col("t"),
                lit(true),
                step("pay"),
                lit("day"),
                lit(3),
                lit("on"),
                vec![col("amount")],
            ),
            "retention_matrix(u, t, true, e = 'pay', 'day', 3, 'on', amount)",
        ),
        (
            path_edges(
                col("u"),
                col("t"),
                col("e"),
                lit(true),
                lit("after"),
                lit(2),
                lit(86_400),
                vec![lit(true)],
            ),
            "path_edges(u, t, e, true, 'after', 2, 86400, true)",
        ),
        (
            activity_lifecycle(col("u"), col("t"), lit("day"), vec![]),
            "activity_lifecycle(u, t, 'day')",
        ),
        (
            stickiness(col("u"), col("t"), lit("week"), None),
            "stickiness(u, t, 'week')",
        ),
        (
            funnel_correlation(col("u"), col("u").gt(lit(1)), col("e")),
            "funnel_correlation(u, u > 1, e)",
        ),
        (
            bitmap_to_string(bitmap_agg(col("u"))),
            "bitmap_to_string(bitmap_agg(u))",
        ),
        (
            bitmap_expr_count(col("u"), col("e"), lit("view & (pay | cart)")),
            "bitmap_expr_count(u, e, 'view & (pay | cart)')",
        ),
        (
            intersect_count(col("u"), col("e"), vec![lit("view"), lit("cart")]),
            "intersect_count(u, e, 'view', 'cart')",
        ),
    ];
    for (expr, sql) in grouped {
        assert_same(&ctx, true, expr, sql).await;
    }

    let per_row = [
        (
            normalize_id(lit("phone"), lit(" +86 138-0013-8000 ")),
            "normalize_id('phone', ' +86 138-0013-8000 ')",
        ),
        (mask_phone(lit("13800138000")), "mask_phone('13800138000')"),
        (
            pareto_nbd_p_alive(
                datafusion::functions::expr_fn::named_struct(vec![
                    lit("r"),
                    lit(0.55),
                    lit("alpha"),
                    lit(10.6),
                    lit("s"),
                    lit(0.61),
                    lit("beta"),
                    lit(11.7),
                ]),
                col("u"),
                lit(30.0),
                lit(38.0),
            ),
            "pareto_nbd_p_alive(named_struct('r', 0.55, 'alpha', 10.6, 's', 0.61, 'beta', 11.7), u, 30.0, 38.0)",
        ),
        (
            bitmap_or_count(vec![to_bitmap(col("u")), bitmap_from_string(lit("1,9"))]),
            "bitmap_or_count(to_bitmap(u), bitmap_from_string('1,9'))",
        ),
        (
            ab_test_proportions(col("u") * lit(10), lit(100), lit(20), lit(100), None),
            "ab_test_proportions(u * 10, 100, 20, 100)",
        ),
        (
            sessionize(col("t"), lit(3600))
                .partition_by(vec![col("u")])
                .order_by(vec![col("t").sort(true, false)])
                .build()
                .expect("a window"),
            "sessionize(t, 3600) OVER (PARTITION BY u ORDER BY t)",
        ),
    ];
    for (expr, sql) in per_row {
        assert_same(&ctx, false, expr, sql).await;
    }
}

/// Timestamps written as text, cast as SQL's `TIMESTAMP '...'` is.
trait CastToTimestamp {
    fn cast_to_timestamp(self) -> Expr;
}

impl CastToTimestamp for Expr {
    fn cast_to_timestamp(self) -> Expr {
        use arrow::datatypes::{DataType, TimeUnit};
        datafusion::logical_expr::cast(self, DataType::Timestamp(TimeUnit::Nanosecond, None))
    }
}

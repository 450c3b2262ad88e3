//! `attribution`'s first-touch, last-touch and linear models against ChannelAttribution's
//! heuristic_models (PyPI `channelattribution` 2.2.5) on 3,000 random conversion paths: the
//! conversions credited to each channel, to 1e-9. Set USERLAKE_SKIP_PEERS=1 to skip on a machine
//! without the Python peers.

use crate::common::{peer_reference, peers_skipped, session_with_parquet};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Float64Type;

#[tokio::test(flavor = "multi_thread")]
async fn rule_based_models_agree_with_channelattribution() {
    if peers_skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reference = peer_reference("attribution_reference.py", &[dir.path().as_os_str()]);
    for partitions in [1, 4] {
        let ctx = session_with_parquet(dir.path(), &["journeys"], partitions).await;
        for model in ["first_touch", "last_touch", "linear"] {
            let sql = format!(
                "SELECT c['channel'] AS channel, sum(c['credit']) AS credited FROM (
                   SELECT unnest(attribution('{model}', touch_time, channel, converted_at)) AS c
                   FROM journeys GROUP BY conversion)
                 GROUP BY channel"
            );
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let mut seen = 0;
            for batch in batches {
                let channels =
                    arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
                        .unwrap();
                let channels = channels.as_string::<i32>();
                let credited = batch.column(1).as_primitive::<Float64Type>();
                for row in 0..batch.num_rows() {
                    let channel = channels.value(row);
                    let theirs = reference[channel][model].as_f64().unwrap();
                    let ours = credited.value(row);
                    assert!(
                        (ours - theirs).abs() <= 1e-9 * theirs.max(1.0),
                        "{model} {channel}: userlake {ours} vs channelattribution {theirs}"
                    );
                    seen += 1;
                }
            }
            assert_eq!(
                seen,
                reference.as_object().unwrap().len(),
                "{model}: channels"
            );
        }
    }
}

//! What userlake sends to workers beyond DataFusion's own plans: the `stitch` and
//! `referral_tree` plans. Functions travel by name (every worker registers userlake's), and
//! no function with state of its own may run on a worker: datafusion-distributed 4.0 puts its
//! own codec first, which takes every scalar function's encoding as "by name" before a user
//! codec is asked (so the nightly job's kept rows follow merged people by joins there, see
//! `PersonKeys::view`).

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use userlake_udfs::referral::ReferralTreeExec;
use userlake_udfs::stitch::{StitchExec, StitchInput, StitchRules};

/// userlake's `PhysicalExtensionCodec`, registered on the coordinator and on every worker.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserlakeCodec;

/// A userlake plan as it travels; its inputs travel as the plan's children.
#[derive(Debug, Serialize, Deserialize)]
enum EncodedPlan {
    Stitch {
        edges_name: String,
        previous_name: Option<String>,
        /// The rules' TOML text: the worker reads the same rules from it, with no file.
        rules: String,
        person_id_floor: i64,
        projection: Option<Vec<usize>>,
    },
    ReferralTree {
        referrals_name: String,
        projection: Option<Vec<usize>>,
    },
}

fn codec_error(what: &str, error: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("userlake codec: {what}: {error}"))
}

impl PhysicalExtensionCodec for UserlakeCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let encoded: EncodedPlan =
            serde_json::from_slice(buf).map_err(|e| codec_error("reading a plan", e))?;
        let (first, second) = match inputs {
            [first] => (Arc::clone(first), None),
            [first, second] => (Arc::clone(first), Some(Arc::clone(second))),
            _ => {
                return internal_err!(
                    "userlake codec: a plan with {} inputs (1 or 2 expected)",
                    inputs.len()
                );
            }
        };
        Ok(match encoded {
            EncodedPlan::Stitch {
                edges_name,
                previous_name,
                rules,
                person_id_floor,
                projection,
            } => {
                let rules = if rules.is_empty() {
                    StitchRules::default()
                } else {
                    StitchRules::from_toml(&rules)?
                };
                let input = StitchInput {
                    edges: first,
                    edges_name,
                    previous: second,
                    previous_name,
                    rules: Arc::new(rules),
                    person_id_floor,
                };
                Arc::new(StitchExec::new(input, projection))
            }
            EncodedPlan::ReferralTree {
                referrals_name,
                projection,
            } => Arc::new(ReferralTreeExec::new(
                referrals_name,
                first,
                second,
                projection,
            )),
        })
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let encoded = if let Some(stitch) = node.downcast_ref::<StitchExec>() {
            let input = stitch.input();
            EncodedPlan::Stitch {
                edges_name: input.edges_name.clone(),
                previous_name: input.previous_name.clone(),
                rules: input.rules.toml().to_string(),
                person_id_floor: input.person_id_floor,
                projection: stitch.projection().map(<[usize]>::to_vec),
            }
        } else if let Some(tree) = node.downcast_ref::<ReferralTreeExec>() {
            EncodedPlan::ReferralTree {
                referrals_name: tree.referrals_name().to_string(),
                projection: tree.projection().map(<[usize]>::to_vec),
            }
        } else {
            return internal_err!(
                "userlake codec: {} cannot be sent to a worker (no codec knows it)",
                node.name()
            );
        };
        serde_json::to_writer(buf, &encoded).map_err(|e| codec_error("writing a plan", e))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion_proto::bytes::{
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };

    use super::*;
    use crate::lake::LakeLocation;
    use crate::session::{SessionOptions, build_session};

    /// Each plan, sent and read back, shows and answers the same: its inputs, names and
    /// rules (given as text, so a worker needs no rules file) travel with it.
    #[tokio::test]
    async fn userlake_plans_read_back_the_same() {
        let session = build_session(&SessionOptions {
            lake: Some(LakeLocation::parse("data/sample").unwrap()),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let ctx = session.ctx;
        for query in [
            "SELECT unified_id, person_id FROM stitch('identity_edges', \
             '[limits]\nmember_id = 2\n[hubs]\ndefault = 40')",
            "SELECT person_value, generation FROM referral_tree('referrals')",
        ] {
            let plan = ctx
                .sql(query)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            let bytes =
                physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), &UserlakeCodec)
                    .unwrap();
            let read = physical_plan_from_bytes_with_extension_codec(
                &bytes,
                &ctx.task_ctx(),
                &UserlakeCodec,
            )
            .unwrap();
            let shown =
                |p: &Arc<dyn ExecutionPlan>| displayable(p.as_ref()).indent(true).to_string();
            assert_eq!(shown(&plan), shown(&read), "{query}");
            let rows = |batches: Vec<RecordBatch>| {
                let mut lines: Vec<String> = pretty_format_batches(&batches)
                    .unwrap()
                    .to_string()
                    .lines()
                    .map(str::to_string)
                    .collect();
                lines.sort();
                lines
            };
            let (sent, read) = (
                rows(collect(plan, ctx.task_ctx()).await.unwrap()),
                rows(collect(read, ctx.task_ctx()).await.unwrap()),
            );
            assert!(sent.len() > 10, "{query}: {sent:?}");
            assert_eq!(sent, read, "{query}");
        }
    }

    #[test]
    fn stitch_rules_travel_as_their_text() {
        let text = "[limits]\nmember_id = 2\n[placeholders]\nvalues = [\"guest\"]";
        let rules = StitchRules::from_toml(text).unwrap();
        assert_eq!(rules.toml(), text);
        let again = StitchRules::from_toml(rules.toml()).unwrap();
        assert_eq!(format!("{rules:?}"), format!("{again:?}"));
        assert_eq!(StitchRules::default().toml(), "");
    }
}

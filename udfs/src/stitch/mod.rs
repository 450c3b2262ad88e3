//! OneID identity stitching: connected components over an identity graph, with guard rails
//! (placeholders, hubs, per-type limits), deterministic processing, unified ids derived from
//! each person's anchor identifier and carried forward from the previous run.
//!
//! The pipeline: [`ingest`] normalises, vets and keys each edge (128-bit keys, dense numbers);
//! [`graph`] deduplicates edges, finds hubs, links under limits with union-find and assigns
//! unified ids; [`outputs`] builds the four result tables; [`explain`] answers "why";
//! [`udtf`] is the `stitch(...)` table function; `parallel` sorts on every core.

//!
//! Outside this module, stitching is what is exported here: the rules, the input (planned from
//! the session's tables), the run, its result with its four output tables and their schemas,
//! and the explanations; the phases stay private.

mod explain;
mod graph;
pub(crate) mod ingest;
mod outputs;
mod parallel;
mod previous;
mod rules;
mod udtf;

pub use explain::{Explanation, parse_identifier};
pub use graph::Stitched;
pub use ingest::EDGE_COLUMNS;
pub use outputs::{ID_GRAPH_SCHEMA, MERGE_LOG_SCHEMA, REJECTED_EDGES_SCHEMA, RUN_STATS_SCHEMA};
pub use previous::{PERSON_ID_COLUMN, PREVIOUS_COLUMNS};
pub use rules::StitchRules;
pub use udtf::{STITCH_DOC, StitchExec, StitchFunction, StitchInput, run_stitch};

#[cfg(test)]
mod tests;

//! OneID identity stitching: connected components over an identity graph, with guard rails
//! (placeholders, hubs, per-type limits), deterministic processing, unified ids derived from
//! each person's anchor identifier and carried forward from the previous run.
//!
//! The pipeline: [`ingest`] normalises, vets and keys each edge (128-bit keys, dense numbers);
//! [`graph`] deduplicates edges, finds hubs, links under limits with union-find and assigns
//! unified ids; [`outputs`] builds the four result tables; [`explain`] answers "why";
//! [`udtf`] is the `stitch(...)` table function; `parallel` sorts on every core.

pub mod explain;
pub mod graph;
pub mod ingest;
pub mod outputs;
mod parallel;
pub mod previous;
pub mod rules;
pub mod udtf;

pub use explain::{Explanation, parse_identifier};
pub use graph::Stitched;
pub use rules::StitchRules;
pub use udtf::{StitchFunction, StitchInput, run_stitch};

#[cfg(test)]
mod tests;

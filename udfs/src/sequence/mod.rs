//! `sequence_match`, `sequence_count`, `sequence_match_events`: patterns over a group's events.

mod matcher;
mod pattern;
mod udaf;

pub use udaf::{SequenceFunction, SequenceKind};

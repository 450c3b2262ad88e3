//! `sequence_match`, `sequence_count`, `sequence_match_events`: patterns over a group's events;
//! `sequence_next_node`: what comes right after (or before) a chain.

mod matcher;
mod next_node;
mod pattern;
mod udaf;

pub use next_node::SequenceNextNode;
pub use udaf::{SequenceFunction, SequenceKind};

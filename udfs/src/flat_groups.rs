//! The one way userlake writes an aggregate whose state is kept per group: implement
//! [`FlatGroups`] once (the state of all groups in flat vectors, no allocation per group), and
//! [`GroupsOf`] and [`OneGroup`] turn it into DataFusion's `GroupsAccumulator` (GROUP BY) and
//! per-group `Accumulator` (no GROUP BY, and window frames), with the same partial state so
//! either merges the other's. The FILTER clause reaches the state as `keep`, handled here once.
//!
//! Every per-group aggregate uses it: the event lists of the funnels and sequences
//! (`event_list.rs`, `funnel/values.rs`), `retention`, `sequence_next_node`, `clv_summary` and
//! `attribution`. `retention.rs` is the smallest example to follow. The aggregates that are
//! only ever run over a whole table (`markov_attribution`, `active_people`, the model fits)
//! implement DataFusion's `Accumulator` alone.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use crate::conditions::passes;

/// An aggregate's state over many groups, kept flat. `Clone` lets a window frame evaluate a
/// copy, since it evaluates again as rows are added.
pub trait FlatGroups: Clone + Debug + Send + Sync + 'static {
    /// Makes room for groups `0..groups`.
    fn resize(&mut self, groups: usize);
    /// Adds the input rows `keep` accepts, row `r` to group `group_of(r)`.
    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()>;
    /// Adds partial states, state row `r` to group `group_of(r)`.
    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()>;
    /// The results of the groups `emit_to` names, which are removed.
    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef>;
    /// The partial states of the groups `emit_to` names, which are removed.
    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>>;
    /// Each input row as its own group's partial state (see
    /// `GroupsAccumulator::convert_to_state`).
    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>>;
    /// Heap bytes held.
    fn heap_size(&self) -> usize;
}

/// A [`FlatGroups`] as DataFusion's `GroupsAccumulator`.
#[derive(Debug)]
pub struct GroupsOf<T>(pub T);

impl<T: FlatGroups> GroupsAccumulator for GroupsOf<T> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.0.resize(total_num_groups);
        self.0.update_rows(
            values,
            |row| group_indices[row],
            |row| passes(opt_filter, row),
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.0.results(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.0.states(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.0.resize(total_num_groups);
        self.0.merge_rows(values, |row| group_indices[row])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.0.rows_as_states(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.0.heap_size()
    }
}

/// A [`FlatGroups`] holding one group, as DataFusion's per-group `Accumulator`.
#[derive(Debug)]
pub struct OneGroup<T>(pub T);

impl<T: FlatGroups> Accumulator for OneGroup<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0.resize(1);
        self.0.update_rows(values, |_| 0, |_| true)
    }

    /// Evaluates a copy: `results` removes the groups it emits, and in a window frame the
    /// accumulator is evaluated again after more rows are added.
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.resize(1);
        let mut copy = self.0.clone();
        ScalarValue::try_from_array(&copy.results(EmitTo::All)?, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.0.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.resize(1);
        self.0
            .states(EmitTo::All)?
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0.resize(1);
        self.0.merge_rows(states, |_| 0)
    }
}

/// A list column over `values` cut by `offsets` (every list valid).
pub fn list_array(offsets: &OffsetBuffer<i32>, values: ArrayRef) -> Result<ArrayRef> {
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(values.data_type().clone(), true)),
        offsets.clone(),
        values,
        None,
    )?))
}

/// The item field of a list of structs with `fields` (the return type of the aggregates that
/// return a table per group: `DataType::List(struct_list_item(...))`).
pub fn struct_list_item(fields: Fields) -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Struct(fields), false))
}

/// A list-of-structs column: the struct rows `columns` (one array per field of `fields`) cut
/// into lists of `lengths`, one per group.
pub fn struct_lists(
    fields: Fields,
    columns: Vec<ArrayRef>,
    lengths: impl IntoIterator<Item = usize>,
) -> Result<ArrayRef> {
    let values = StructArray::try_new(fields.clone(), columns, None)?;
    Ok(Arc::new(ListArray::try_new(
        struct_list_item(fields),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(values),
        None,
    )?))
}

/// A nullable partial-state field of the aggregate `name`: `what` of type `item`, as a list
/// when `list` is true (one list per group).
pub fn state_field(name: &str, what: &str, item: DataType, list: bool) -> FieldRef {
    let data_type = if list {
        DataType::List(Arc::new(Field::new_list_field(item, true)))
    } else {
        item
    };
    Arc::new(Field::new(format_state_name(name, what), data_type, true))
}

//! `retention(cond1, ..., condN)`: which of the conditions a group ever met, relative to the
//! first (ClickHouse's `retention`). The state is one 64-bit mask per group, OR-ed together.
//! The smallest aggregate on `flat_groups`: read it to write a new one.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, UInt8Array, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::conditions::{coerce_conditions, condition_masks, passes};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup};

const NAME: &str = "retention";
const MAX_CONDITIONS: usize = 64;

fn item_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::UInt8, false))
}

/// The output for each mask: element 1 is cond1; element i is cond1 AND cond i.
fn retention_lists(masks: &[u64], conditions: usize) -> Result<ArrayRef> {
    let mut values = Vec::with_capacity(masks.len() * conditions);
    for &mask in masks {
        let first = mask & 1;
        values.push(first as u8);
        for i in 1..conditions {
            values.push((first & (mask >> i) & 1) as u8);
        }
    }
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(conditions, masks.len()));
    Ok(Arc::new(ListArray::try_new(
        item_field(),
        offsets,
        Arc::new(UInt8Array::from(values)),
        None,
    )?))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    signature: Signature,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "Retention flags of a group, as ClickHouse's retention: a list of N 0/1 integers whose \
         element 1 is whether cond1 was ever true in the group, and element i (i > 1) whether \
         cond1 and cond i were both ever true (not necessarily on the same row). A NULL \
         condition is false. 1 to 64 conditions; an empty group gives all zeros.",
        "retention(cond1, ..., condN)",
    )
    .with_argument("cond1, ..., condN", "Boolean conditions: cond1 is the cohort condition (e.g. joined on day 0), the others the returns (active on day N).")
    .with_sql_example(
        "```sql\nSELECT user_id,\n       retention(day = DATE '2026-01-01', day = DATE '2026-01-02', day = DATE '2026-01-08') AS r\nFROM activity GROUP BY user_id;\n-- then sum(r[1]), sum(r[2]), sum(r[3]) are the cohort, day-1 and day-7 retained users\n```",
    )
    .build()
});

impl AggregateUDFImpl for Retention {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() || arg_types.len() > MAX_CONDITIONS {
            return plan_err!(
                "{NAME} takes 1 to {MAX_CONDITIONS} boolean conditions, got {}",
                arg_types.len()
            );
        }
        coerce_conditions(NAME, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(item_field()))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        // Only reached for an aggregate over no rows without a known condition count.
        ScalarValue::try_from(data_type)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "mask"),
            DataType::UInt64,
            false,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(RetentionGroups {
            conditions: args.exprs.len(),
            masks: Vec::new(),
        })))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(RetentionGroups {
            conditions: args.exprs.len(),
            masks: Vec::new(),
        })))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

fn state_masks(values: &[ArrayRef]) -> Result<&UInt64Array> {
    match values
        .first()
        .and_then(|a| a.as_primitive_opt::<UInt64Type>())
    {
        Some(masks) => Ok(masks),
        None => exec_err!("{NAME}: unexpected partial state"),
    }
}

/// One 64-bit mask per group: the conditions its rows met.
#[derive(Debug, Clone)]
struct RetentionGroups {
    conditions: usize,
    masks: Vec<u64>,
}

impl FlatGroups for RetentionGroups {
    fn resize(&mut self, groups: usize) {
        if self.masks.len() < groups {
            self.masks.resize(groups, 0);
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let rows = values.first().map_or(0, |a| a.len());
        for (row, mask) in condition_masks(values, rows, NAME)?.into_iter().enumerate() {
            if keep(row) {
                self.masks[group_of(row)] |= mask;
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let states = state_masks(states)?;
        for row in 0..states.len() {
            if states.is_valid(row) {
                self.masks[group_of(row)] |= states.value(row);
            }
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        retention_lists(&emit_to.take_needed(&mut self.masks), self.conditions)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let masks = emit_to.take_needed(&mut self.masks);
        Ok(vec![Arc::new(UInt64Array::from(masks))])
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |a| a.len());
        let masks = condition_masks(values, rows, NAME)?;
        let masks: UInt64Array = masks
            .into_iter()
            .enumerate()
            .map(|(row, mask)| if passes(opt_filter, row) { mask } else { 0 })
            .collect();
        Ok(vec![Arc::new(masks)])
    }

    fn heap_size(&self) -> usize {
        self.masks.capacity() * size_of::<u64>()
    }
}

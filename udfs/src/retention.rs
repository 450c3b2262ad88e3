//! `retention(cond1, ..., condN)`: which of the conditions a group ever met, relative to the
//! first (ClickHouse's `retention`). The state is one 64-bit mask per group, OR-ed together.

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
        Ok(Box::new(RetentionAccumulator {
            conditions: args.exprs.len(),
            mask: 0,
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroups {
            conditions: args.exprs.len(),
            masks: Vec::new(),
        }))
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

#[derive(Debug)]
struct RetentionAccumulator {
    conditions: usize,
    mask: u64,
}

impl Accumulator for RetentionAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |a| a.len());
        for mask in condition_masks(values, rows, NAME)? {
            self.mask |= mask;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&retention_lists(&[self.mask], self.conditions)?, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::UInt64(Some(self.mask))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for mask in state_masks(states)?.iter().flatten() {
            self.mask |= mask;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct RetentionGroups {
    conditions: usize,
    masks: Vec<u64>,
}

impl RetentionGroups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<u64> {
        emit_to.take_needed(&mut self.masks)
    }
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups.max(self.masks.len()), 0);
        let masks = condition_masks(values, group_indices.len(), NAME)?;
        for (row, (&group, mask)) in group_indices.iter().zip(masks).enumerate() {
            if passes(opt_filter, row) {
                self.masks[group] |= mask;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let masks = self.take(emit_to);
        retention_lists(&masks, self.conditions)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(UInt64Array::from(self.take(emit_to)))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups.max(self.masks.len()), 0);
        let states = state_masks(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if states.is_valid(row) {
                self.masks[group] |= states.value(row);
            }
        }
        Ok(())
    }

    fn convert_to_state(
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

    fn size(&self) -> usize {
        self.masks.capacity() * 8
    }
}

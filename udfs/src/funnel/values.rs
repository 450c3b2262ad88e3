//! `window_funnel_values(window, mode, timestamp, value, cond1, ..., condN)`: the reported
//! chain with a value of each step's row (an event id to drill down to, a property to break
//! down by), and steps linked by equal values (`same value I J`, Amplitude's "hold property
//! constant").
//!
//! The events keep their value beside (time, condition mask): each batch's values of the rows
//! that match a condition are kept as one array (a chunk), and each event points into it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::make_comparator;
use datafusion::arrow::array::new_empty_array;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StructArray,
    UInt32Array, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{SortOptions, cast, interleave, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type, UInt64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::detail::{chain_fields, native_time, push_step_seconds};
use super::level::{Entry, NO_VALUE, ordered_entries, valued_chain};
use super::mode::FunnelMode;
use super::udaf::{FunnelParams, VALUES_NAME, check_funnel_arguments, planning_check};
use crate::arguments::check_argument_count;
use crate::conditions::{condition_masks, passes};
use crate::doc_sections::BEHAVIOUR_SECTION;
use crate::event_list::one_state_per_row;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup};
use crate::grouped_rows::GroupedRows;
use crate::time::{for_each_tick, ticks_per_second};

const NAME: &str = VALUES_NAME;
const TIME: usize = 2;
const VALUE: usize = 3;
const FIRST_CONDITION: usize = 4;

fn result_fields(time_type: &DataType, value_type: &DataType) -> Fields {
    let mut fields = chain_fields(time_type);
    fields.push(Field::new(
        "step_values",
        DataType::List(Arc::new(Field::new_list_field(value_type.clone(), true))),
        false,
    ));
    Fields::from(fields)
}

/// Where an event's value is: chunk and index in it, packed in one u64.
fn value_ref(chunk: usize, index: usize) -> u64 {
    ((chunk as u64) << 32) | index as u64
}

fn unpack(reference: u64) -> (usize, usize) {
    (
        (reference >> 32) as usize,
        (reference & 0xffff_ffff) as usize,
    )
}

/// A batch's events that match a condition, as (row, time, mask), and their values in order.
type BatchEvents = (Vec<(usize, i64, u64)>, ArrayRef);

/// Groups' events bucketed by group: group g's are `times[starts[g]..starts[g + 1]]`, with
/// the same positions in `masks` and `values` (where each event's value is: chunk, index).
struct Buckets {
    starts: Vec<usize>,
    times: Vec<i64>,
    masks: Vec<u64>,
    values: Vec<(usize, usize)>,
    chunks: Vec<ArrayRef>,
}

impl Buckets {
    /// The values at `refs`, as one array.
    fn gather(&self, refs: &[(usize, usize)], value_type: &DataType) -> Result<ArrayRef> {
        if refs.is_empty() {
            return Ok(new_empty_array(value_type));
        }
        // only the chunks the values are in: interleave checks every array it is given
        let mut local: HashMap<usize, usize> = HashMap::new();
        let mut arrays: Vec<&dyn Array> = Vec::new();
        let mut mapped = Vec::with_capacity(refs.len());
        for &(chunk, index) in refs {
            let position = *local.entry(chunk).or_insert_with(|| {
                arrays.push(self.chunks[chunk].as_ref());
                arrays.len() - 1
            });
            mapped.push((position, index));
        }
        Ok(interleave(&arrays, &mapped)?)
    }
}

/// A copy of `array` that holds only its own bytes: a `take` of string views keeps the whole
/// batch's buffers alive, which the events would hold until the end of the aggregation.
fn compact(array: ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        DataType::Struct(fields) => {
            let parts = array.as_struct();
            let columns = parts
                .columns()
                .iter()
                .map(|c| compact(Arc::clone(c)))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                parts.nulls().cloned(),
            )?)
        }
        _ => array,
    })
}

/// What the evaluation needs from the call.
#[derive(Debug, Clone)]
struct ValuesParams {
    funnel: Arc<(usize, i64, FunnelMode)>,
    time_type: DataType,
    value_type: DataType,
}

impl ValuesParams {
    fn from_args(args: &AccumulatorArgs) -> Result<Self> {
        let params = FunnelParams::from_args(NAME, args, FIRST_CONDITION)?;
        let value_type = args
            .expr_fields
            .get(VALUE)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        Ok(Self {
            funnel: Arc::new((params.steps, params.window, params.mode)),
            time_type: params.time_type,
            value_type,
        })
    }

    /// The events of a batch that match a condition (of the rows `keep` accepts: the FILTER
    /// clause), as (row, time, mask), and their values in that order.
    fn read_batch(&self, values: &[ArrayRef], keep: impl Fn(usize) -> bool) -> Result<BatchEvents> {
        let rows = values.get(TIME).map_or(0, |a| a.len());
        let masks = condition_masks(&values[FIRST_CONDITION..], rows, NAME)?;
        let mut events = Vec::new();
        for_each_tick(&values[TIME], NAME, |row, time| {
            if let Some(time) = time
                && masks[row] != 0
                && keep(row)
            {
                events.push((row, time, masks[row]));
            }
        })?;
        let indices = UInt32Array::from_iter_values(events.iter().map(|e| e.0 as u32));
        let kept = compact(take(&values[VALUE], &indices, None)?)?;
        Ok((events, kept))
    }

    /// One result per group.
    fn evaluate(&self, buckets: &Buckets) -> Result<ArrayRef> {
        let Buckets {
            starts,
            times,
            masks,
            values,
            ..
        } = buckets;
        let (steps, window, mode) = &*self.funnel;
        let converter = RowConverter::new(vec![SortField::new(self.value_type.clone())])?;
        let groups = starts.len().saturating_sub(1);
        let mut levels = Vec::with_capacity(groups);
        let mut step_times: Vec<Option<i64>> = Vec::new();
        let mut step_values: Vec<Option<(usize, usize)>> = Vec::new();
        let mut seconds: Vec<Option<f64>> = Vec::new();
        let mut lengths = Vec::with_capacity(groups);
        let mut second_lengths = Vec::with_capacity(groups);
        let mut chain_times: Vec<Option<i64>> = Vec::new();
        let per_second = ticks_per_second(&self.time_type) as f64;
        let mut order: Vec<usize> = Vec::new();
        let mut events: Vec<(i64, u64)> = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        let mut classes: Vec<u32> = Vec::new();
        for group in 0..groups {
            // a total order on (time, mask, value): the row a step reports never depends on
            // the order rows arrived in
            order.clear();
            order.extend(starts[group]..starts[group + 1]);
            order.sort_unstable_by_key(|&i| (times[i], masks[i], i));
            self.order_ties_by_value(&mut order, times, masks, buckets)?;
            events.clear();
            events.extend(order.iter().map(|&i| (times[i], masks[i])));
            // `events` is sorted already, so the stable sort inside keeps rows as `order` has them
            ordered_entries(&mut events, *steps, &mut entries);
            classes.clear();
            if !mode.links.is_empty() {
                let refs: Vec<(usize, usize)> = order.iter().map(|&i| values[i]).collect();
                let group_values = buckets.gather(&refs, &self.value_type)?;
                let rows = converter.convert_columns(&[Arc::clone(&group_values)])?;
                let mut first_of: HashMap<_, u32> = HashMap::new();
                for row in 0..order.len() {
                    let class = if group_values.is_null(row) {
                        NO_VALUE
                    } else {
                        *first_of.entry(rows.row(row)).or_insert(row as u32)
                    };
                    classes.push(class);
                }
            }
            let (reached, chain) = valued_chain(&entries, *steps, *window, mode, &classes);
            levels.push(reached.level as i64);
            lengths.push(chain.len());
            second_lengths.push(chain.len().saturating_sub(1));
            chain_times.clear();
            chain_times.extend(chain.iter().map(|step| step.map(|(time, _)| time)));
            push_step_seconds(&chain_times, per_second, &mut seconds);
            step_times.extend(&chain_times);
            step_values.extend(
                chain
                    .iter()
                    .map(|step| step.map(|(_, row)| values[order[row as usize]])),
            );
        }
        let step_times = cast(
            &Int64Array::from_iter(
                step_times
                    .into_iter()
                    .map(|t| t.map(|t| native_time(&self.time_type, t))),
            ),
            &self.time_type,
        )?;
        // the values of the chains' rows only, then NULL where a step was skipped
        let present: Vec<(usize, usize)> = step_values.iter().flatten().copied().collect();
        let gathered = buckets.gather(&present, &self.value_type)?;
        let mut next = 0u32;
        let positions: UInt32Array = step_values
            .iter()
            .map(|step| {
                step.map(|_| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let step_values = take(&gathered, &positions, None)?;
        let fields = result_fields(&self.time_type, &self.value_type);
        let list = |field: &FieldRef, lengths: &[usize], items: ArrayRef| -> Result<ArrayRef> {
            let DataType::List(item) = field.data_type() else {
                return exec_err!("{NAME}: unexpected result type");
            };
            Ok(Arc::new(ListArray::try_new(
                Arc::clone(item),
                OffsetBuffer::from_lengths(lengths.iter().copied()),
                items,
                None,
            )?))
        };
        let columns = vec![
            Arc::new(Int64Array::from(levels)) as ArrayRef,
            list(&fields[1], &lengths, step_times)?,
            list(
                &fields[2],
                &second_lengths,
                Arc::new(Float64Array::from(seconds)),
            )?,
            list(&fields[3], &lengths, step_values)?,
        ];
        Ok(Arc::new(StructArray::try_new(fields, columns, None)?))
    }

    /// Orders each run of events of the same (time, mask) in `order` by their values, so that
    /// the row a step reports never depends on the order rows arrived in. Such ties are rare;
    /// each run's values are compared in a small array of their own.
    fn order_ties_by_value(
        &self,
        order: &mut [usize],
        times: &[i64],
        masks: &[u64],
        buckets: &Buckets,
    ) -> Result<()> {
        let mut start = 0;
        while start < order.len() {
            let key = (times[order[start]], masks[order[start]]);
            let mut end = start + 1;
            while end < order.len() && (times[order[end]], masks[order[end]]) == key {
                end += 1;
            }
            if end - start > 1 {
                let run = &mut order[start..end];
                let refs: Vec<(usize, usize)> = run.iter().map(|&i| buckets.values[i]).collect();
                let run_values = buckets.gather(&refs, &self.value_type)?;
                let compare = make_comparator(&run_values, &run_values, SortOptions::default())?;
                let mut positions: Vec<usize> = (0..run.len()).collect();
                positions.sort_by(|&a, &b| compare(a, b));
                let sorted: Vec<usize> = positions.iter().map(|&p| run[p]).collect();
                run.copy_from_slice(&sorted);
            }
            start = end;
        }
        Ok(())
    }

    /// The three state columns of the groups in `buckets`.
    fn state_columns(&self, buckets: Buckets) -> Result<Vec<ArrayRef>> {
        let values = buckets.gather(&buckets.values, &self.value_type)?;
        let Buckets {
            starts,
            times,
            masks,
            ..
        } = buckets;
        let offsets = OffsetBuffer::from_lengths(starts.windows(2).map(|w| w[1] - w[0]));
        let list = |data_type: DataType, nullable: bool, items: ArrayRef| -> Result<ArrayRef> {
            Ok(Arc::new(ListArray::try_new(
                Arc::new(Field::new_list_field(data_type, nullable)),
                offsets.clone(),
                items,
                None,
            )?))
        };
        Ok(vec![
            list(DataType::Int64, false, Arc::new(Int64Array::from(times)))?,
            list(DataType::UInt64, false, Arc::new(UInt64Array::from(masks)))?,
            list(self.value_type.clone(), true, values)?,
        ])
    }
}

/// The three state lists of a partial state, checked.
fn state_lists(states: &[ArrayRef]) -> Result<(&ListArray, &ListArray, &ListArray)> {
    match (
        states.first().and_then(|a| a.as_list_opt::<i32>()),
        states.get(1).and_then(|a| a.as_list_opt::<i32>()),
        states.get(2).and_then(|a| a.as_list_opt::<i32>()),
    ) {
        (Some(times), Some(masks), Some(values)) => Ok((times, masks, values)),
        _ => exec_err!("{NAME}: unexpected partial state"),
    }
}

/// Events with values: rows of (group, time, (mask, value reference)) and the value chunks.
#[derive(Debug, Clone)]
struct ValuedEventGroups {
    params: ValuesParams,
    rows: GroupedRows<(u64, u64)>,
    chunks: Vec<ArrayRef>,
    num_groups: usize,
}

impl ValuedEventGroups {
    fn new(params: ValuesParams) -> Self {
        Self {
            params,
            rows: GroupedRows::new(),
            chunks: Vec::new(),
            num_groups: 0,
        }
    }

    /// Removes the groups `emit_to` asks for: their bucket starts, times, masks and values.
    fn take(&mut self, emit_to: EmitTo) -> Result<Buckets> {
        let emitted = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        let buckets = self.rows.take(emitted)?;
        self.num_groups -= emitted;
        let chunks = if self.num_groups == 0 {
            // nothing else points into the chunks
            std::mem::take(&mut self.chunks)
        } else {
            self.chunks.clone()
        };
        Ok(Buckets {
            times: buckets.rows.iter().map(|(t, _)| *t).collect(),
            masks: buckets.rows.iter().map(|(_, (m, _))| *m).collect(),
            values: buckets.rows.iter().map(|(_, (_, r))| unpack(*r)).collect(),
            starts: buckets.starts,
            chunks,
        })
    }
}

impl FlatGroups for ValuedEventGroups {
    fn resize(&mut self, groups: usize) {
        self.num_groups = self.num_groups.max(groups);
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let (events, kept) = self.params.read_batch(values, keep)?;
        let chunk = self.chunks.len();
        for (index, (row, time, mask)) in events.into_iter().enumerate() {
            self.rows
                .push(group_of(row), time, (mask, value_ref(chunk, index)));
        }
        self.chunks.push(kept);
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let (times, masks, value_lists) = state_lists(states)?;
        let time_values = times.values().as_primitive::<Int64Type>();
        let mask_values = masks.values().as_primitive::<UInt64Type>();
        let chunk = self.chunks.len();
        let offsets = times.value_offsets();
        let value_offsets = value_lists.value_offsets();
        for row in 0..times.len() {
            if times.is_null(row) {
                continue;
            }
            let group = group_of(row);
            let start = offsets[row] as usize;
            let value_start = value_offsets[row] as usize;
            let events = offsets[row + 1] as usize - start;
            if value_offsets[row + 1] as usize - value_start != events {
                return exec_err!(
                    "{NAME}: a partial state has {events} events but not as many values"
                );
            }
            for i in 0..events {
                self.rows.push(
                    group,
                    time_values.value(start + i),
                    (
                        mask_values.value(start + i),
                        value_ref(chunk, value_start + i),
                    ),
                );
            }
        }
        self.chunks.push(Arc::clone(value_lists.values()));
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let buckets = self.take(emit_to)?;
        self.params.evaluate(&buckets)
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let buckets = self.take(emit_to)?;
        self.params.state_columns(buckets)
    }

    /// Each input row as a state of its own: a list of its one event, or an empty list.
    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.get(TIME).map_or(0, |a| a.len());
        let (events, kept) = self
            .params
            .read_batch(values, |row| passes(opt_filter, row))?;
        self.params.state_columns(Buckets {
            starts: one_state_per_row(rows, events.iter().map(|e| e.0)),
            times: events.iter().map(|e| e.1).collect(),
            masks: events.iter().map(|e| e.2).collect(),
            values: (0..events.len()).map(|i| (0, i)).collect(),
            chunks: vec![kept],
        })
    }

    fn heap_size(&self) -> usize {
        self.rows.size()
            + self
                .chunks
                .iter()
                .map(|c| c.get_array_memory_size())
                .sum::<usize>()
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnelValues {
    signature: Signature,
}

impl Default for WindowFunnelValues {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        BEHAVIOUR_SECTION,
        "window_funnel's level with the reported chain and a value of each step's row: a \
         struct {level, step_times, step_seconds, step_values}; step_times and step_seconds \
         as in window_funnel_detail. step_values lists, for steps 1..level, the \
         `value` of the row the chain took for the step (NULL for an optional step it \
         skipped): an event id to list who converted or dropped off at each step, or a \
         property to break the funnel down by its first touch (step_values[1]), its last touch \
         (step_values[level]) or a chosen step. The reported chain is window_funnel_detail's \
         (the earliest, step by step); among rows of the same time and conditions the one with \
         the smallest value is reported, so results never depend on row order. Mode option \
         `same value I J ...` (Amplitude's hold property constant, on chosen steps): the rows \
         of steps I, J, ... must carry equal, non-NULL values, e.g. the cart and the payment of \
         the same SKU; several such options link disjoint sets of steps. Otherwise the same \
         arguments, modes and errors as window_funnel; chains are searched when steps are \
         linked (quadratic at worst in a group's events). Every event that matches a step \
         keeps its value until the end, so memory grows with the value's size (a struct of \
         three short strings: about 80 bytes an event, 720 MB on 10M events against 290 MB \
         for window_funnel_detail); over a whole lake, joining window_funnel_detail's step \
         times back to the events costs less, as sql/funnel_report.sql does. With \
         `same value 2 3`, for view(sku-a)@0, view(sku-b)@1, cart(sku-b)@2, pay(sku-a)@3, \
         cart(sku-a)@4, pay(sku-a)@5 the chain is view@0, cart@4, pay@5.",
        "window_funnel_values(window, mode, timestamp, value, cond1, ..., condN)",
    )
    .with_argument("window", "As for window_funnel.")
    .with_argument("mode", "As for window_funnel, plus `same value I J ...`.")
    .with_argument("timestamp", "As for window_funnel.")
    .with_argument("value", "Any column or expression: what each step reports, and what linked steps compare.")
    .with_argument("cond1, ..., condN", "As for window_funnel.")
    .with_sql_example(
        "```sql\n-- the event of each step, and the SKU of the cart and the payment, which must match\nSELECT user_id, f['level'], f['step_values']\nFROM (SELECT user_id,\n             window_funnel_values(INTERVAL '1 day', 'same value 2 3', event_time, sku,\n                 event_name = 'view', event_name = 'cart', event_name = 'pay') AS f\n      FROM events GROUP BY user_id);\n```",
    )
    .with_related_udf("window_funnel_detail")
    .build()
});

impl AggregateUDFImpl for WindowFunnelValues {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            NAME,
            "(window, mode, timestamp, value, cond1, ..., condN) with at least one condition",
            arg_types.len(),
            FIRST_CONDITION + 1..,
        )?;
        // the value takes any type; the rest are window_funnel's arguments
        let mut funnel_types = arg_types.to_vec();
        let value = funnel_types.remove(VALUE);
        let mut coerced = check_funnel_arguments(NAME, &funnel_types)?;
        coerced.insert(VALUE, value);
        Ok(coerced)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let time_type = arg_types.get(TIME).cloned().unwrap_or(DataType::Null);
        let value_type = arg_types.get(VALUE).cloned().unwrap_or(DataType::Null);
        Ok(DataType::Struct(result_fields(&time_type, &value_type)))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value_type = args
            .input_fields
            .get(VALUE)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        let list = |name: &str, data_type: DataType, nullable: bool| {
            Arc::new(Field::new(
                format_state_name(args.name, name),
                DataType::List(Arc::new(Field::new_list_field(data_type, nullable))),
                true,
            ))
        };
        Ok(vec![
            list("times", DataType::Int64, false),
            list("masks", DataType::UInt64, false),
            list("values", value_type, true),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(ValuedEventGroups::new(
            ValuesParams::from_args(&args)?,
        ))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(ValuedEventGroups::new(
            ValuesParams::from_args(&args)?,
        ))))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(planning_check(NAME, FIRST_CONDITION))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

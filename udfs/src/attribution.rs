//! `attribution(model, touch_time, channel, conversion_time [, parameter])`: rule-based credit
//! of one conversion to the channels that touched it before it, as a list of
//! `{channel, credit}` whose credits sum to 1.
//!
//! The `GroupsAccumulator` keeps every touch of every group in flat vectors (group, time,
//! channel id) with channel names interned once per accumulator; evaluation buckets them by
//! group with a counting sort. Partial states carry channel names, so they merge anywhere.

use hashbrown::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Builder, Int64Array, ListBuilder, StringBuilder,
    StructBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::arguments::{check_argument_count, check_time_argument};
use crate::conditions::passes;
use crate::doc_sections::ATTRIBUTION_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup, list_array, state_field};
use crate::grouped_rows::GroupedRows;
use crate::literals::literal_argument;
use crate::literals::literal_text;
use crate::strings::{StrColumn, for_each_str, is_string_type};
use crate::time::{for_each_tick, ticks_per_second, window_ticks};

const NAME: &str = "attribution";

/// The attribution model and its parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    FirstTouch,
    LastTouch,
    Linear,
    /// half-life in ticks of the time type
    TimeDecay(f64),
    /// share of the first and of the last touch each
    PositionBased(f64),
}

const DEFAULT_HALF_LIFE_SECONDS: i64 = 7 * 86_400;
const DEFAULT_ENDS_SHARE: f64 = 0.4;

impl Model {
    fn parse(name: &str, parameter: Option<&ScalarValue>, time_type: &DataType) -> Result<Self> {
        let model = match name.trim().to_ascii_lowercase().as_str() {
            "first_touch" => Model::FirstTouch,
            "last_touch" => Model::LastTouch,
            "linear" => Model::Linear,
            "time_decay" => {
                let ticks = match parameter {
                    None => DEFAULT_HALF_LIFE_SECONDS * ticks_per_second(time_type),
                    Some(value) => window_ticks(NAME, value, time_type).map_err(|e| {
                        datafusion::error::DataFusionError::Plan(
                            e.to_string()
                                .replace("Error during planning: ", "")
                                .replace("the window", "the half-life"),
                        )
                    })?,
                };
                if ticks <= 0 {
                    return plan_err!("{NAME}: the half-life must be positive");
                }
                Model::TimeDecay(ticks as f64)
            }
            "position_based" => {
                let share = match parameter {
                    None => DEFAULT_ENDS_SHARE,
                    Some(value) => match value.cast_to(&DataType::Float64) {
                        Ok(ScalarValue::Float64(Some(v))) => v,
                        _ => {
                            return plan_err!(
                                "{NAME}: position_based takes the share of the first and last touch, a number such as 0.4, got {value}"
                            );
                        }
                    },
                };
                if !(0.0..=0.5).contains(&share) {
                    return plan_err!(
                        "{NAME}: the share of the first and last touch must be between 0 and 0.5, got {share}"
                    );
                }
                Model::PositionBased(share)
            }
            other => {
                return plan_err!(
                    "{NAME}: unknown model '{other}': use first_touch, last_touch, linear, time_decay or position_based"
                );
            }
        };
        if parameter.is_some()
            && matches!(model, Model::FirstTouch | Model::LastTouch | Model::Linear)
        {
            return plan_err!("{NAME}: the {name} model takes no parameter");
        }
        Ok(model)
    }

    /// Credit of each touch, for touches sorted by (time, channel). Sums to 1.
    pub fn credits(&self, times: &[i64]) -> Vec<f64> {
        let n = times.len();
        let mut credits = vec![0.0; n];
        if n == 0 {
            return credits;
        }
        match *self {
            Model::FirstTouch => credits[0] = 1.0,
            Model::LastTouch => credits[n - 1] = 1.0,
            Model::Linear => credits.iter_mut().for_each(|c| *c = 1.0 / n as f64),
            Model::TimeDecay(half_life) => {
                // relative to the latest touch, so that old touches cannot underflow to 0 / 0
                let latest = times[n - 1];
                for (credit, &t) in credits.iter_mut().zip(times) {
                    *credit = (-((latest - t) as f64) / half_life * std::f64::consts::LN_2).exp();
                }
                let total: f64 = credits.iter().sum();
                credits.iter_mut().for_each(|c| *c /= total);
            }
            Model::PositionBased(share) => match n {
                1 => credits[0] = 1.0,
                2 => {
                    credits[0] = 0.5;
                    credits[1] = 0.5;
                }
                _ => {
                    credits[0] = share;
                    credits[n - 1] = share;
                    let middle = (1.0 - 2.0 * share) / (n - 2) as f64;
                    credits[1..n - 1].iter_mut().for_each(|c| *c = middle);
                }
            },
        }
        credits
    }
}

fn credit_fields() -> Fields {
    Fields::from(vec![
        Field::new("channel", DataType::Utf8, false),
        Field::new("credit", DataType::Float64, false),
    ])
}

fn result_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(credit_fields()),
        true,
    )))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Attribution {
    signature: Signature,
}

impl Default for Attribution {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        ATTRIBUTION_SECTION,
        "Credit of one conversion (the group) to the channels that touched it, as a list of \
         {channel, credit} with one entry per channel (credits of its touches summed), in order of \
         each channel's first touch; the credits sum to 1. Touches after conversion_time are \
         ignored (a lookback window is a WHERE clause), as are touches with a NULL time or \
         channel. Touches are ordered by (time, channel), so ties are broken by channel name. \
         Models: 'first_touch' (all to the earliest touch), 'last_touch' (all to the latest), \
         'linear' (equal shares), 'time_decay' (weights halve every `parameter` before the latest \
         touch: an integer of seconds or an INTERVAL, 7 days by default), 'position_based' \
         (`parameter` = 0.4 by default to the first and to the last touch, the rest shared by \
         the touches between; two touches get half each). No touch before the conversion gives an \
         empty list. conversion_time must be the same on every row of a group.",
        "attribution(model, touch_time, channel, conversion_time [, parameter])",
    )
    .with_argument("model", "A string literal: first_touch, last_touch, linear, time_decay or position_based.")
    .with_argument("touch_time", "Time of the touch: a timestamp, date or integer.")
    .with_argument("channel", "The touch's channel (a string).")
    .with_argument("conversion_time", "Time of the conversion, of the same type.")
    .with_argument("parameter", "time_decay: the half-life; position_based: the first and last touch's share.")
    .with_sql_example(
        "```sql\nSELECT o.order_id, unnest(attribution('position_based', t.touch_time, t.channel, o.order_time)) AS c\nFROM orders o JOIN touches t ON t.person = o.person\n  AND t.touch_time > o.order_time - INTERVAL '30 days'\nGROUP BY o.order_id;\n-- then c['channel'], c['credit'] * amount is the revenue credited to each channel\n```",
    )
    .build()
});

impl Attribution {
    fn model(&self, args: &AccumulatorArgs) -> Result<Model> {
        let Some(name) = literal_text(args, 0) else {
            return plan_err!("{NAME}: the model must be a string literal such as 'linear'");
        };
        let parameter = if args.exprs.len() > 4 {
            match literal_argument(args, 4) {
                Some(value) if !value.is_null() => Some(value),
                _ => return plan_err!("{NAME}: the parameter must be a non-NULL literal"),
            }
        } else {
            None
        };
        let time_type = args.exprs[1].data_type(args.schema)?;
        Model::parse(&name, parameter.as_ref(), &time_type)
    }
}

impl AggregateUDFImpl for Attribution {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            NAME,
            "(model, touch_time, channel, conversion_time [, parameter])",
            arg_types.len(),
            4..=5,
        )?;
        if !is_string_type(&arg_types[0]) {
            return plan_err!(
                "{NAME}: the model must be a string such as 'linear', got {}",
                arg_types[0]
            );
        }
        check_time_argument(NAME, "touch_time", &arg_types[1])?;
        if !(is_string_type(&arg_types[2]) || arg_types[2].is_null()) {
            return plan_err!("{NAME}: channel must be a string, got {}", arg_types[2]);
        }
        if !arg_types[3].is_null() {
            check_time_argument(NAME, "conversion_time", &arg_types[3])?;
        }
        let mut types = arg_types.to_vec();
        // the conversion time is read in the touch time's own ticks
        types[3] = arg_types[1].clone();
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(result_type())
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            state_field(args.name, "conversion", DataType::Int64, false),
            state_field(args.name, "times", DataType::Int64, true),
            state_field(args.name, "channels", DataType::Utf8, true),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(TouchGroups::new(self.model(&args)?))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(TouchGroups::new(self.model(&args)?))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// Taken groups' touches, bucketed by group: group g's are `touches[starts[g]..starts[g + 1]]`.
struct Bucketed {
    conversion: Vec<Option<i64>>,
    starts: Vec<usize>,
    touches: Vec<(i64, u32)>,
}

/// Every touch of every group, flat, with channel names interned.
#[derive(Debug, Clone)]
struct TouchGroups {
    model: Model,
    channel_ids: HashMap<String, u32>,
    channel_names: Vec<String>,
    conversion: Vec<Option<i64>>,
    /// (group, touch time, channel id)
    touches: GroupedRows<u32>,
}

impl TouchGroups {
    fn new(model: Model) -> Self {
        Self {
            model,
            channel_ids: HashMap::new(),
            channel_names: Vec::new(),
            conversion: Vec::new(),
            touches: GroupedRows::new(),
        }
    }

    fn channel_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.channel_ids.get(name) {
            return id;
        }
        let id = self.channel_names.len() as u32;
        self.channel_names.push(name.to_string());
        self.channel_ids.insert(name.to_string(), id);
        id
    }

    fn set_conversion(&mut self, group: usize, conversion: i64) -> Result<()> {
        match self.conversion[group] {
            None => self.conversion[group] = Some(conversion),
            Some(existing) if existing == conversion => {}
            Some(_) => {
                return exec_err!(
                    "{NAME}: conversion_time must be the same for every row of a group (group by the conversion)"
                );
            }
        }
        Ok(())
    }

    fn push(&mut self, group: usize, time: i64, channel: u32) -> Result<()> {
        if u32::try_from(group).is_err() {
            return exec_err!("{NAME}: too many groups");
        }
        self.touches.push(group, time, channel);
        Ok(())
    }

    /// The touches of the groups `emit_to` names, bucketed by group, and their conversions;
    /// the groups that stay are renumbered.
    fn take(&mut self, emit_to: EmitTo) -> Result<Bucketed> {
        let conversion = emit_to.take_needed(&mut self.conversion);
        let buckets = self.touches.take(conversion.len())?;
        Ok(Bucketed {
            conversion,
            starts: buckets.starts,
            touches: buckets.rows,
        })
    }
}

impl FlatGroups for TouchGroups {
    fn resize(&mut self, groups: usize) {
        if self.conversion.len() < groups {
            self.conversion.resize(groups, None);
        }
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let Bucketed {
            conversion,
            starts,
            mut touches,
        } = self.take(emit_to)?;
        let names = &self.channel_names;
        // channel ids in name order, so touches sort by (time, name) on integers
        let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
        by_name.sort_unstable_by(|a, b| names[*a as usize].cmp(&names[*b as usize]));
        let mut rank = vec![0u32; names.len()];
        for (position, id) in by_name.iter().enumerate() {
            rank[*id as usize] = position as u32;
        }
        let mut times: Vec<i64> = Vec::new();
        let mut order: Vec<(u32, f64)> = Vec::new();
        let mut builder =
            ListBuilder::new(StructBuilder::from_fields(credit_fields(), 0)).with_field(Arc::new(
                Field::new_list_field(DataType::Struct(credit_fields()), true),
            ));
        for g in 0..conversion.len() {
            let slice = &mut touches[starts[g]..starts[g + 1]];
            slice.sort_unstable_by_key(|t| (t.0, rank[t.1 as usize]));
            times.clear();
            times.extend(slice.iter().map(|t| t.0));
            let credits = self.model.credits(&times);
            // one entry per channel, in order of first touch (a journey has few channels, so a
            // linear scan beats a map)
            order.clear();
            for (touch, credit) in slice.iter().zip(credits) {
                match order.iter_mut().find(|(c, _)| *c == touch.1) {
                    Some((_, total)) => *total += credit,
                    None => order.push((touch.1, credit)),
                }
            }
            let values = builder.values();
            for &(channel, credit) in &order {
                values
                    .field_builder::<StringBuilder>(0)
                    .expect("channel field")
                    .append_value(&names[channel as usize]);
                values
                    .field_builder::<Float64Builder>(1)
                    .expect("credit field")
                    .append_value(credit);
                values.append(true);
            }
            builder.append(true);
        }
        Ok(Arc::new(builder.finish()))
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let Bucketed {
            conversion,
            starts,
            touches,
        } = self.take(emit_to)?;
        let offsets = OffsetBuffer::from_lengths(starts.windows(2).map(|w| w[1] - w[0]));
        let times = Int64Array::from_iter_values(touches.iter().map(|t| t.0));
        let mut channels = StringBuilder::new();
        for touch in &touches {
            channels.append_value(&self.channel_names[touch.1 as usize]);
        }
        Ok(vec![
            Arc::new(Int64Array::from(conversion)),
            list_array(&offsets, Arc::new(times))?,
            list_array(&offsets, Arc::new(channels.finish()))?,
        ])
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let rows = values[1].len();
        let mut touch_times = vec![None; rows];
        for_each_tick(&values[1], NAME, |row, t| touch_times[row] = t)?;
        let mut conversions = vec![None; rows];
        for_each_tick(&values[3], NAME, |row, t| conversions[row] = t)?;
        let mut channels: Vec<Option<u32>> = vec![None; rows];
        // interned straight from the column: no string is copied but a channel's first
        for_each_str(&values[2], "attribution's channel", |row, name| {
            channels[row] = name.map(|name| self.channel_id(name));
        })?;
        for row in 0..rows {
            if !keep(row) {
                continue;
            }
            let group = group_of(row);
            let Some(conversion) = conversions[row] else {
                continue;
            };
            self.set_conversion(group, conversion)?;
            if let (Some(time), Some(channel)) = (touch_times[row], channels[row])
                && time <= conversion
            {
                self.push(group, time, channel)?;
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let (Some(conversions), Some(times), Some(channels)) = (
            states[0].as_primitive_opt::<Int64Type>(),
            states[1].as_list_opt::<i32>(),
            states[2].as_list_opt::<i32>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        // through the lists' offsets, without slicing (and allocating) per row
        let Some(time_values) = times.values().as_primitive_opt::<Int64Type>() else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        let time_values = time_values.values();
        let channel_values = StrColumn::new(channels.values(), "attribution's state")?;
        let (time_offsets, channel_offsets) = (times.value_offsets(), channels.value_offsets());
        for row in 0..conversions.len() {
            if conversions.is_null(row) {
                continue;
            }
            let group = group_of(row);
            self.set_conversion(group, conversions.value(row))?;
            let (start, end) = (time_offsets[row] as usize, time_offsets[row + 1] as usize);
            let channel_start = channel_offsets[row] as usize;
            if channel_offsets[row + 1] as usize - channel_start != end - start {
                return exec_err!("{NAME}: unexpected partial state");
            }
            for i in 0..end - start {
                let Some(name) = channel_values.get(channel_start + i) else {
                    return exec_err!("{NAME}: unexpected partial state");
                };
                let id = self.channel_id(name);
                self.push(group, time_values[start + i], id)?;
            }
        }
        Ok(())
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values[1].len();
        let mut single = TouchGroups::new(self.model);
        single.resize(rows);
        single.update_rows(values, |row| row, |row| passes(opt_filter, row))?;
        single.states(EmitTo::All)
    }

    fn heap_size(&self) -> usize {
        self.touches.size()
            + self.conversion.capacity() * 16
            + self
                .channel_names
                .iter()
                .map(|n| n.len() + 48)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_one(credits: &[f64]) -> bool {
        (credits.iter().sum::<f64>() - 1.0).abs() < 1e-12
    }

    #[test]
    fn models_share_credit_as_documented() {
        let times = [0, 10, 20, 30];
        assert_eq!(Model::FirstTouch.credits(&times), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(Model::LastTouch.credits(&times), vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(Model::Linear.credits(&times), vec![0.25; 4]);
        let decay = Model::TimeDecay(10.0).credits(&times);
        assert!(sums_to_one(&decay));
        // each touch is worth twice the one 10 ticks before it
        for w in decay.windows(2) {
            assert!((w[1] / w[0] - 2.0).abs() < 1e-12);
        }
        let position = Model::PositionBased(0.4).credits(&times);
        let expected = [0.4, 0.1, 0.1, 0.4];
        assert!(
            position
                .iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() < 1e-15),
            "{position:?}"
        );
        assert_eq!(Model::PositionBased(0.4).credits(&[1, 2]), vec![0.5, 0.5]);
        assert_eq!(Model::PositionBased(0.4).credits(&[1]), vec![1.0]);
        assert!(Model::Linear.credits(&[]).is_empty());
        // a touch a year before the latest does not underflow to 0 / 0
        let far = Model::TimeDecay(1.0).credits(&[0, 1_000_000]);
        assert!(sums_to_one(&far) && far[1] == 1.0);
    }
}

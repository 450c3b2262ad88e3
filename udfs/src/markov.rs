//! `markov_attribution(path, conversions [, non_conversions])`: the data-driven first-order
//! Markov chain attribution over all customer paths, with removal effects computed exactly
//! (absorption probabilities from linear systems, not simulation).
//!
//! The state is the count of each transition (start -> channel, channel -> channel, channel ->
//! conversion or null), keyed by channel names, so partial states merge by adding counts.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, ListBuilder, StringBuilder,
    StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use crate::arguments::check_argument_count;
use crate::doc_sections::ATTRIBUTION_SECTION;
use crate::flat_groups::state_field;
use crate::strings::{StrColumn, for_each_str, is_string_type};

const NAME: &str = "markov_attribution";
/// The chain's three special states, in the partial state's from/to columns. Channel names
/// cannot start with a NUL, so these never clash with one.
const START: &str = "\u{0}start";
const CONVERSION: &str = "\u{0}conversion";
const NULL: &str = "\u{0}null";

/// One channel's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelCredit {
    pub channel: String,
    pub removal_effect: f64,
    pub share: f64,
    pub conversions: f64,
}

/// Transition counts between states, with state names interned once.
#[derive(Debug, Default, Clone)]
pub struct Transitions {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    counts: HashMap<(u32, u32), f64>,
}

impl Transitions {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    pub fn add(&mut self, from: &str, to: &str, count: f64) {
        if count > 0.0 {
            let key = (self.id(from), self.id(to));
            *self.counts.entry(key).or_insert(0.0) += count;
        }
    }

    /// Adds one path (channels in order) seen `conversions` times converting and
    /// `non_conversions` times not.
    pub fn add_path(&mut self, path: &[&str], conversions: f64, non_conversions: f64) {
        let total = conversions + non_conversions;
        if path.is_empty() || total <= 0.0 {
            return;
        }
        self.add(START, path[0], total);
        for pair in path.windows(2) {
            self.add(pair[0], pair[1], total);
        }
        let last = path[path.len() - 1];
        self.add(last, CONVERSION, conversions);
        self.add(last, NULL, non_conversions);
    }

    /// The counts by (from, to) name, in name order.
    fn named(&self) -> BTreeMap<(&str, &str), f64> {
        self.counts
            .iter()
            .map(|((from, to), c)| {
                (
                    (
                        self.names[*from as usize].as_str(),
                        self.names[*to as usize].as_str(),
                    ),
                    *c,
                )
            })
            .collect()
    }

    /// Removal effects and shares, channels in name order. Empty when nothing converted.
    pub fn attribute(&self) -> Result<Vec<ChannelCredit>> {
        // transitions in a fixed (name) order, so that sums, and so the result, do not depend on
        // hashing or on the order paths arrived in
        let ordered = self.named();
        let channels: Vec<&str> = {
            let mut names: Vec<&str> = self
                .names
                .iter()
                .map(String::as_str)
                .filter(|n| !n.starts_with('\u{0}'))
                .collect();
            names.sort_unstable();
            names
        };
        let total_conversions: f64 = ordered
            .iter()
            .filter(|((_, to), _)| *to == CONVERSION)
            .map(|(_, c)| c)
            .sum();
        if channels.is_empty() || total_conversions <= 0.0 {
            return Ok(Vec::new());
        }
        // transient states: 0 = start, 1..=k = channels
        let index: HashMap<&str, usize> = std::iter::once(START)
            .chain(channels.iter().copied())
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect();
        let n = channels.len() + 1;
        let mut outgoing = vec![0.0; n];
        for ((from, _), count) in &ordered {
            if let Some(&i) = index.get(from) {
                outgoing[i] += count;
            }
        }
        let mut q = vec![vec![0.0; n]; n];
        let mut to_conversion = vec![0.0; n];
        for ((from, to), count) in &ordered {
            let Some(&i) = index.get(from) else { continue };
            let p = count / outgoing[i];
            if *to == CONVERSION {
                to_conversion[i] += p;
            } else if let Some(&j) = index.get(to) {
                q[i][j] += p;
            }
        }
        let full = conversion_probability(&q, &to_conversion, None)?;
        let mut effects = Vec::with_capacity(channels.len());
        for (c, _) in channels.iter().enumerate() {
            let without = conversion_probability(&q, &to_conversion, Some(c + 1))?;
            effects.push((1.0 - without / full).max(0.0));
        }
        let total_effect: f64 = effects.iter().sum();
        Ok(channels
            .iter()
            .zip(&effects)
            .map(|(channel, &effect)| {
                let share = if total_effect > 0.0 {
                    effect / total_effect
                } else {
                    0.0
                };
                ChannelCredit {
                    channel: channel.to_string(),
                    removal_effect: effect,
                    share,
                    conversions: share * total_conversions,
                }
            })
            .collect())
    }
}

/// P(absorbed in conversion | start) for the transient chain `q` with one-step conversion
/// probabilities `r`; with `removed`, that state leads to null instead (its row and the
/// transitions into it vanish). Solves (I - Q) x = r by Gaussian elimination with partial
/// pivoting.
fn conversion_probability(q: &[Vec<f64>], r: &[f64], removed: Option<usize>) -> Result<f64> {
    let n = q.len();
    let mut a: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut row: Vec<f64> = (0..n)
                .map(|j| {
                    let qij = if Some(i) == removed || Some(j) == removed {
                        0.0
                    } else {
                        q[i][j]
                    };
                    if i == j { 1.0 - qij } else { -qij }
                })
                .collect();
            row.push(if Some(i) == removed { 0.0 } else { r[i] });
            row
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        if a[pivot][col].abs() < 1e-300 {
            return exec_err!("{NAME}: the transition matrix is singular (a loop that never ends)");
        }
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let factor = values[col] / pivot_row[col];
                if factor != 0.0 {
                    for (value, p) in values[col..].iter_mut().zip(&pivot_row[col..]) {
                        *value -= factor * p;
                    }
                }
            }
        }
    }
    Ok(a[0][n] / a[0][0])
}

fn credit_fields() -> Fields {
    Fields::from(vec![
        Field::new("channel", DataType::Utf8, false),
        Field::new("removal_effect", DataType::Float64, false),
        Field::new("share", DataType::Float64, false),
        Field::new("conversions", DataType::Float64, false),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MarkovAttribution {
    signature: Signature,
}

impl Default for MarkovAttribution {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        ATTRIBUTION_SECTION,
        "Data-driven attribution by a first-order Markov chain over all customer paths, \
         converting and not (as ChannelAttribution's markov_model with order 1). Each row is a \
         path: a list of channels in time order (e.g. array_agg(channel ORDER BY touch_time)) \
         or a string 'a > b > c'. `conversions` is a boolean (the path converted once, or not) or \
         a count of conversions on that path, and `non_conversions` an optional count of paths \
         that did not convert (0 by default with a count, the negation with a boolean). The chain \
         goes start -> channels -> conversion or null; a channel's removal effect is 1 - P(convert \
         without it) / P(convert), computed exactly by solving the chain's linear systems (no \
         simulation). Returns a list of {channel, removal_effect, share, conversions} in channel \
         order: share is the removal effect over their sum, conversions the share of all \
         conversions. Empty when nothing converted. NULL paths and NULL channels are skipped.",
        "markov_attribution(path, conversions [, non_conversions])",
    )
    .with_argument("path", "A list of channel names in time order, or a string of names separated by '>'.")
    .with_argument("conversions", "Boolean, or the number of conversions of the path.")
    .with_argument("non_conversions", "Optional number of times the path did not convert.")
    .with_sql_example(
        "```sql\nSELECT unnest(markov_attribution(path, converted)) FROM (\n  SELECT person, array_agg(channel ORDER BY touch_time) AS path, bool_or(converted) AS converted\n  FROM journeys GROUP BY person);\n```",
    )
    .build()
});

impl AggregateUDFImpl for MarkovAttribution {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            NAME,
            "(path, conversions [, non_conversions])",
            arg_types.len(),
            2..=3,
        )?;
        let string_or_null = |t: &DataType| is_string_type(t) || t.is_null();
        let path_ok = match &arg_types[0] {
            DataType::List(f) | DataType::LargeList(f) => string_or_null(f.data_type()),
            other => string_or_null(other),
        };
        if !path_ok {
            return plan_err!(
                "{NAME}: path must be a list of channel names or a string 'a > b', got {}",
                arg_types[0]
            );
        }
        let mut types = vec![arg_types[0].clone()];
        match &arg_types[1] {
            DataType::Boolean if arg_types.len() == 2 => types.push(DataType::Boolean),
            DataType::Boolean => {
                return plan_err!(
                    "{NAME}: with non_conversions, conversions must be a count, not a boolean"
                );
            }
            t if t.is_numeric() || t.is_null() => types.push(DataType::Float64),
            t => return plan_err!("{NAME}: conversions must be a boolean or a count, got {t}"),
        }
        if let Some(t) = arg_types.get(2) {
            if !(t.is_numeric() || t.is_null()) {
                return plan_err!("{NAME}: non_conversions must be a count, got {t}");
            }
            types.push(DataType::Float64);
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(credit_fields()),
            true,
        ))))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            state_field(args.name, "from", DataType::Utf8, true),
            state_field(args.name, "to", DataType::Utf8, true),
            state_field(args.name, "count", DataType::Float64, true),
        ])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MarkovAccumulator::default()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[derive(Debug, Default)]
struct MarkovAccumulator {
    transitions: Transitions,
}

/// Calls `f(row, path)` for every row of the path column with its channel names (`None` for a
/// NULL path), borrowing them from the column: no name is copied.
fn for_each_path(
    array: &ArrayRef,
    mut f: impl FnMut(usize, Option<&[&str]>) -> Result<()>,
) -> Result<()> {
    let mut names: Vec<&str> = Vec::new();
    match array.data_type() {
        DataType::List(_) | DataType::LargeList(_) => {
            let rows: Vec<Option<ArrayRef>> = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().iter().collect(),
                _ => array.as_list::<i64>().iter().collect(),
            };
            for (row, values) in rows.iter().enumerate() {
                let Some(values) = values else {
                    f(row, None)?;
                    continue;
                };
                let column = StrColumn::new(values, "markov_attribution's path")?;
                let mut path: Vec<&str> = Vec::with_capacity(values.len());
                path.extend((0..values.len()).filter_map(|i| column.get(i)));
                f(row, Some(&path))?;
            }
        }
        _ => {
            let column = StrColumn::new(array, "markov_attribution's path")?;
            for row in 0..array.len() {
                match column.get(row) {
                    None => f(row, None)?,
                    Some(text) => {
                        names.clear();
                        names.extend(text.split('>').map(str::trim).filter(|s| !s.is_empty()));
                        f(row, Some(&names))?;
                    }
                }
            }
        }
    }
    Ok(())
}

impl Accumulator for MarkovAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let counts: Vec<Option<(f64, f64)>> = match values[1].data_type() {
            DataType::Boolean => values[1]
                .as_boolean()
                .iter()
                .map(|c| c.map(|c| if c { (1.0, 0.0) } else { (0.0, 1.0) }))
                .collect(),
            _ => {
                let conversions = values[1].as_primitive::<Float64Type>();
                let nulls: Option<&Float64Array> =
                    values.get(2).map(|a| a.as_primitive::<Float64Type>());
                (0..conversions.len())
                    .map(|row| {
                        if conversions.is_null(row) {
                            return None;
                        }
                        let non = match nulls {
                            Some(n) if n.is_null(row) => 0.0,
                            Some(n) => n.value(row),
                            None => 0.0,
                        };
                        Some((conversions.value(row), non))
                    })
                    .collect()
            }
        };
        let transitions = &mut self.transitions;
        for_each_path(&values[0], |row, path| {
            let (Some(path), Some((conversions, non_conversions))) = (path, counts[row]) else {
                return Ok(());
            };
            for value in [conversions, non_conversions] {
                if !(value.is_finite() && value >= 0.0) {
                    return exec_err!(
                        "{NAME}: conversion counts must be non-negative numbers, got {value}"
                    );
                }
            }
            if let Some(bad) = path.iter().find(|c| c.starts_with('\u{0}')) {
                return exec_err!(
                    "{NAME}: a channel name cannot start with a NUL character: {bad:?}"
                );
            }
            transitions.add_path(path, conversions, non_conversions);
            Ok(())
        })?;
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let credits = self.transitions.attribute()?;
        let mut builder =
            ListBuilder::new(StructBuilder::from_fields(credit_fields(), credits.len()))
                .with_field(Arc::new(Field::new_list_field(
                    DataType::Struct(credit_fields()),
                    true,
                )));
        let values = builder.values();
        for credit in &credits {
            values
                .field_builder::<StringBuilder>(0)
                .expect("channel field")
                .append_value(&credit.channel);
            for (i, v) in [credit.removal_effect, credit.share, credit.conversions]
                .iter()
                .enumerate()
            {
                values
                    .field_builder::<Float64Builder>(i + 1)
                    .expect("float field")
                    .append_value(*v);
            }
            values.append(true);
        }
        builder.append(true);
        ScalarValue::try_from_array(&builder.finish(), 0)
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.transitions.counts.capacity() * 24
            + self
                .transitions
                .names
                .iter()
                .map(|n| 2 * n.len() + 64)
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let entries: Vec<((&str, &str), f64)> = self.transitions.named().into_iter().collect();
        let strings = |pick: for<'a> fn(&'a (&'a str, &'a str)) -> &'a str| {
            ScalarValue::List(ScalarValue::new_list_nullable(
                &entries
                    .iter()
                    .map(|(k, _)| ScalarValue::Utf8(Some(pick(k).to_string())))
                    .collect::<Vec<_>>(),
                &DataType::Utf8,
            ))
        };
        let counts: Vec<ScalarValue> = entries
            .iter()
            .map(|(_, c)| ScalarValue::Float64(Some(*c)))
            .collect();
        Ok(vec![
            strings(|k| k.0),
            strings(|k| k.1),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Float64)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(from), Some(to), Some(counts)) = (
            states[0].as_list_opt::<i32>(),
            states[1].as_list_opt::<i32>(),
            states[2].as_list_opt::<i32>(),
        ) else {
            return exec_err!("{NAME}: unexpected partial state");
        };
        for row in 0..from.len() {
            if from.is_null(row) {
                continue;
            }
            let (mut froms, mut tos) = (Vec::new(), Vec::new());
            for_each_str(&from.value(row), "state", |_, v| {
                froms.push(v.unwrap_or_default().to_string())
            })?;
            for_each_str(&to.value(row), "state", |_, v| {
                tos.push(v.unwrap_or_default().to_string())
            })?;
            let row_counts = counts.value(row);
            let Some(row_counts) = row_counts.as_primitive_opt::<Float64Type>() else {
                return exec_err!("{NAME}: unexpected partial state");
            };
            for ((f, t), c) in froms.iter().zip(&tos).zip(row_counts.values()) {
                self.transitions.add(f, t, *c);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_effects_match_a_hand_computed_chain() {
        // paths: a > b converts, a converts, b does not
        let mut t = Transitions::default();
        t.add_path(&["a", "b"], 1.0, 0.0);
        t.add_path(&["a"], 1.0, 0.0);
        t.add_path(&["b"], 0.0, 1.0);
        // start -> a 2/3, -> b 1/3; a -> b 1/2, -> conv 1/2; b -> conv 1/2, -> null 1/2
        // P(b) = 1/2; P(a) = 1/2 + 1/2 * 1/2 = 3/4; P = 2/3 * 3/4 + 1/3 * 1/2 = 2/3
        // without a: P = 1/3 * 1/2 = 1/6, effect 1 - (1/6)/(2/3) = 3/4
        // without b: P(a) = 1/2, P = 2/3 * 1/2 = 1/3, effect 1/2
        let credits = t.attribute().unwrap();
        assert_eq!(credits.len(), 2);
        assert!((credits[0].removal_effect - 0.75).abs() < 1e-12);
        assert!((credits[1].removal_effect - 0.5).abs() < 1e-12);
        assert!((credits[0].share - 0.6).abs() < 1e-12);
        assert!((credits[0].conversions - 1.2).abs() < 1e-12);
        assert!((credits[1].conversions - 0.8).abs() < 1e-12);
    }

    #[test]
    fn self_loops_do_not_change_removal_effects() {
        let mut once = Transitions::default();
        once.add_path(&["a", "b"], 3.0, 1.0);
        once.add_path(&["b"], 1.0, 2.0);
        let mut repeated = Transitions::default();
        repeated.add_path(&["a", "b"], 3.0, 1.0);
        repeated.add_path(&["b", "b", "b"], 1.0, 2.0);
        let (x, y) = (once.attribute().unwrap(), repeated.attribute().unwrap());
        for (a, b) in x.iter().zip(&y) {
            assert!((a.share - b.share).abs() < 1e-12, "{x:?} {y:?}");
        }
    }

    #[test]
    fn nothing_converted_gives_nothing() {
        let mut t = Transitions::default();
        t.add_path(&["a"], 0.0, 4.0);
        assert!(t.attribute().unwrap().is_empty());
    }
}

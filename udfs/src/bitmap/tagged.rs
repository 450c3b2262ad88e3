//! Audience questions over tagged rows, in one pass (Doris's and StarRocks's
//! `intersect_count` and `orthogonal_bitmap_expr_calculate`):
//!
//! - `intersect_count(people, tag, v1, ..., vN)`: how many people are in every one of the
//!   tags v1..vN (a person is in a tag when a row of the tag names them);
//! - `bitmap_expr(people, tag, 'expression')` and `bitmap_expr_count(...)`: the set, or its
//!   size, of an expression over tags such as `(vip | new) & clicked_ad - refunded`.
//!
//! The state is one bitmap per group and tag named; rows of other tags are skipped.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use hashbrown::HashMap;
use roaring::RoaringTreemap;

use super::expression::{ParsedExpression, SetExpression, parse};
use super::{binary_array, bitmap_array, coerce_bitmap, decode, id_column, member, members_of};
use crate::arguments::check_argument_count;
use crate::conditions::passes;
use crate::doc_sections::AUDIENCE_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup, list_array, state_field};
use crate::literals::literal_argument;
use crate::strings::{for_each_str, is_string_type};

/// The most tag values `intersect_count` takes.
const MAX_TAGS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaggedKind {
    /// `intersect_count(people, tag, v1, ..., vN)`
    IntersectCount,
    /// `bitmap_expr(people, tag, expression)`
    Expression,
    /// `bitmap_expr_count(people, tag, expression)`
    ExpressionCount,
}

impl TaggedKind {
    fn name(self) -> &'static str {
        match self {
            Self::IntersectCount => "intersect_count",
            Self::Expression => "bitmap_expr",
            Self::ExpressionCount => "bitmap_expr_count",
        }
    }

    fn syntax(self) -> &'static str {
        match self {
            Self::IntersectCount => "(people, tag, value1, ..., valueN)",
            _ => "(people, tag, 'expression')",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TaggedBitmap {
    kind: TaggedKind,
    signature: Signature,
}

impl TaggedBitmap {
    pub fn new(kind: TaggedKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The tags and the expression over them, from the call's literal arguments.
    fn expression(&self, args: &AccumulatorArgs) -> Result<ParsedExpression> {
        let name = self.kind.name();
        let text_at = |index: usize, what: &str| -> Result<String> {
            match literal_argument(args, index) {
                Some(value) if value.is_null() => {
                    plan_err!(
                        "{name}: the {what} is NULL; usage: {name}{}",
                        self.kind.syntax()
                    )
                }
                Some(value) => match value.try_as_str().flatten() {
                    Some(text) => Ok(text.to_string()),
                    None => Ok(value.to_string()),
                },
                None => plan_err!(
                    "{name}: the {what} must be a literal; usage: {name}{}",
                    self.kind.syntax()
                ),
            }
        };
        match self.kind {
            TaggedKind::IntersectCount => {
                let mut tags: Vec<String> = Vec::new();
                for index in 2..args.exprs.len() {
                    let tag = text_at(index, &format!("value {}", index - 1))?;
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                Ok(ParsedExpression {
                    root: SetExpression::all_of(tags.len()),
                    tags,
                })
            }
            TaggedKind::Expression | TaggedKind::ExpressionCount => {
                let text = text_at(2, "expression")?;
                parse(&text).or_else(|problem| {
                    plan_err!("{name}: the expression '{text}' is not valid: {problem}")
                })
            }
        }
    }

    fn groups(&self, args: &AccumulatorArgs) -> Result<TaggedGroups> {
        let expression = self.expression(args)?;
        let tag_numbers = expression
            .tags
            .iter()
            .enumerate()
            .map(|(n, tag)| (tag.clone(), n))
            .collect();
        Ok(TaggedGroups {
            kind: self.kind,
            ids: args.expr_fields[0].data_type() == &DataType::Int64,
            tag_numbers,
            expression: Arc::new(expression),
            sets: Vec::new(),
            groups: 0,
            members: 0,
        })
    }
}

static INTERSECT_COUNT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "How many people are in every one of the given tags (BIGINT), as Doris's and \
         StarRocks's intersect_count. The rows whose tag equals value i give tag i's people \
         (the union of their bitmaps, or their ids), and the result is the size of the \
         intersection of the N sets. A value no row has gives 0. The tag and the values are compared as \
         text (a DATE tag matches '2026-01-01'). Rows whose tag is none of the values are \
         skipped, so filtering them out first only saves reading them. 1 to 64 values.",
        "intersect_count(people, tag, value1, ..., valueN)",
    )
    .with_argument("people", "An integer person id (0 or more), or a bitmap (BINARY) of people.")
    .with_argument("tag", "The column whose values name the sets: a tag name, a day, an event name.")
    .with_argument("value1, ..., valueN", "Literals: the tags whose people must all be present.")
    .with_sql_example(
        "```sql\n-- people active on both of two days, and people who viewed and bought\n\
         SELECT intersect_count(person_id, day, '2026-02-01', '2026-02-02') FROM event_persons;\n\
         SELECT intersect_count(person_id, event_name, 'view_content', 'pay_order') FROM event_persons;\n```",
    )
    .with_related_udf("bitmap_expr_count")
    .with_related_udf("bitmap_intersect")
    .build()
});

static EXPRESSION_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "The people an expression over tags selects, as a bitmap (BINARY), as Doris's \
         orthogonal_bitmap_expr_calculate. Each tag named in the expression stands for the \
         people of the rows whose tag column equals it (compared as text); `&` intersects, \
         `|` unites, `-` removes, `^` keeps those in exactly one side, and parentheses group. \
         `&` binds tighter than `|`, `-` and `^`, which go left to right. A tag is a bare word, \
         or double-quoted when it holds an operator, a space or a quote (\"2026-02-01\", \
         backslash escapes a quote). A tag no row has is the empty set. An expression that does \
         not parse is an error naming the character.",
        "bitmap_expr(people, tag, 'expression')",
    )
    .with_argument("people", "An integer person id (0 or more), or a bitmap (BINARY) of people.")
    .with_argument("tag", "The column whose values name the sets.")
    .with_argument("expression", "A string literal: tags with & | - ^ and parentheses.")
    .with_sql_example(
        "```sql\n-- a campaign audience: high-value or new, reached by an ad, without a refund\n\
         SELECT bitmap_expr(person_id, tag, '(rfm_important | new_customer) & ad_click - refunded')\n\
         FROM person_tags;\n```",
    )
    .with_related_udf("bitmap_expr_count")
    .with_related_udf("intersect_count")
    .build()
});

static EXPRESSION_COUNT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "The number of people an expression over tags selects (BIGINT): \
         bitmap_count(bitmap_expr(people, tag, expression)). See bitmap_expr for the \
         expression.",
        "bitmap_expr_count(people, tag, 'expression')",
    )
    .with_argument("people", "An integer person id (0 or more), or a bitmap (BINARY) of people.")
    .with_argument("tag", "The column whose values name the sets.")
    .with_argument("expression", "A string literal: tags with & | - ^ and parentheses.")
    .with_sql_example(
        "```sql\n-- viewed, but neither added to cart nor paid, per channel\n\
         SELECT channel, bitmap_expr_count(person_id, event_name, 'view_content - (add_to_cart | pay_order)')\n\
         FROM event_persons GROUP BY channel;\n```",
    )
    .with_related_udf("bitmap_expr")
    .build()
});

/// True for the tag column types compared as text.
fn is_tag_type(data_type: &DataType) -> bool {
    is_string_type(data_type)
        || data_type.is_integer()
        || data_type.is_null()
        || matches!(data_type, DataType::Date32 | DataType::Boolean)
}

impl AggregateUDFImpl for TaggedBitmap {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.kind.name();
        let syntax = self.kind.syntax();
        match self.kind {
            TaggedKind::IntersectCount => {
                check_argument_count(name, syntax, arg_types.len(), 3..=MAX_TAGS + 2)?
            }
            _ => check_argument_count(name, syntax, arg_types.len(), 3..=3)?,
        }
        let people = if arg_types[0].is_integer() {
            DataType::Int64
        } else {
            coerce_bitmap(name, "people (an integer id or a bitmap)", &arg_types[0])?
        };
        let mut coerced = vec![people];
        for (index, data_type) in arg_types.iter().enumerate().skip(1) {
            let what = match (index, self.kind) {
                (1, _) => "the tag".to_string(),
                (_, TaggedKind::IntersectCount) => format!("value {}", index - 1),
                _ => "the expression".to_string(),
            };
            let accepted = if index == 2 && self.kind != TaggedKind::IntersectCount {
                is_string_type(data_type)
            } else {
                is_tag_type(data_type)
            };
            if !accepted {
                return plan_err!(
                    "{name}: {what} must be a string, an integer, a date or a boolean, got \
                     {data_type}; usage: {name}{syntax}"
                );
            }
            coerced.push(DataType::Utf8);
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            TaggedKind::Expression => DataType::Binary,
            _ => DataType::Int64,
        })
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // one bitmap per tag the call names, NULL for a tag without rows
        Ok(vec![state_field(
            args.name,
            "tag_bitmaps",
            DataType::Binary,
            true,
        )])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(self.groups(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(GroupsOf(self.groups(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            TaggedKind::IntersectCount => &INTERSECT_COUNT_DOC,
            TaggedKind::Expression => &EXPRESSION_DOC,
            TaggedKind::ExpressionCount => &EXPRESSION_COUNT_DOC,
        })
    }
}

/// Per group, one bitmap per tag the expression names: `sets[group * tags + tag]`.
#[derive(Debug, Clone)]
struct TaggedGroups {
    kind: TaggedKind,
    /// The people argument is ids (`Int64`), not bitmaps.
    ids: bool,
    tag_numbers: HashMap<String, usize>,
    expression: Arc<ParsedExpression>,
    sets: Vec<Option<RoaringTreemap>>,
    groups: usize,
    /// The members of all sets, for the memory estimate.
    members: u64,
}

impl TaggedGroups {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn tags(&self) -> usize {
        self.expression.tags.len()
    }

    /// The tag number of each row (`None`: a tag the expression does not name, or NULL).
    fn row_tags(&self, tags: &ArrayRef) -> Result<Vec<Option<usize>>> {
        let mut numbers = Vec::with_capacity(tags.len());
        for_each_str(tags, "the tag", |_, tag| {
            numbers.push(tag.and_then(|t| self.tag_numbers.get(t).copied()))
        })?;
        Ok(numbers)
    }

    fn add(&mut self, slot: usize, bitmap: RoaringTreemap) {
        let set = &mut self.sets[slot];
        self.members -= members_of(set);
        match set {
            Some(set) => *set |= bitmap,
            None => *set = Some(bitmap),
        }
        self.members += members_of(&self.sets[slot]);
    }

    /// Removes the groups `emit_to` names: their tag sets, group by group.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Option<RoaringTreemap>>> {
        let tags = self.tags();
        let count = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let rest = self.sets.split_off(count * tags);
        let taken = std::mem::replace(&mut self.sets, rest);
        self.groups -= count;
        self.members -= taken.iter().map(members_of).sum::<u64>();
        let mut groups = Vec::with_capacity(count);
        let mut taken = taken.into_iter();
        for _ in 0..count {
            groups.push(taken.by_ref().take(tags).collect());
        }
        groups
    }

    fn ids<'a>(&self, values: &'a [ArrayRef]) -> Result<&'a Int64Array> {
        id_column(self.name(), values)
    }
}

impl FlatGroups for TaggedGroups {
    fn resize(&mut self, groups: usize) {
        if self.groups < groups {
            self.sets.resize(groups * self.tags(), None);
            self.groups = groups;
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let name = self.name();
        let Some(tag_column) = values.get(1) else {
            return exec_err!("{name}: no tag argument");
        };
        let row_tags = self.row_tags(tag_column)?;
        let tags = self.tags();
        if self.ids {
            let ids = self.ids(values)?;
            for (row, tag) in row_tags.into_iter().enumerate() {
                if let Some(tag) = tag
                    && ids.is_valid(row)
                    && keep(row)
                {
                    let id = member(name, ids.value(row))?;
                    let added = self.sets[group_of(row) * tags + tag]
                        .get_or_insert_with(RoaringTreemap::new)
                        .insert(id);
                    self.members += u64::from(added);
                }
            }
            return Ok(());
        }
        let bitmaps = binary_array(name, &values[0])?;
        for (row, tag) in row_tags.into_iter().enumerate() {
            if let Some(tag) = tag
                && bitmaps.is_valid(row)
                && keep(row)
            {
                let bitmap = decode(name, bitmaps.value(row))?;
                self.add(group_of(row) * tags + tag, bitmap);
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let name = self.name();
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return exec_err!("{name}: unexpected partial state");
        };
        let tags = self.tags();
        let bitmaps = binary_array(name, lists.values())?;
        let offsets = lists.value_offsets();
        for row in 0..lists.len() {
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            if end - start != tags {
                return exec_err!(
                    "{name}: a partial state has {} tags, not {tags}",
                    end - start
                );
            }
            for tag in 0..tags {
                if bitmaps.is_valid(start + tag) {
                    let bitmap = decode(name, bitmaps.value(start + tag))?;
                    self.add(group_of(row) * tags + tag, bitmap);
                }
            }
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let root = &self.expression.root;
        Ok(match self.kind {
            TaggedKind::Expression => {
                bitmap_array(groups.iter().map(|sets| Some(root.evaluate(sets))))
            }
            TaggedKind::IntersectCount | TaggedKind::ExpressionCount => {
                Arc::new(Int64Array::from_iter_values(
                    groups.iter().map(|sets| root.evaluate(sets).len() as i64),
                ))
            }
        })
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let tags = self.tags();
        let groups = self.take(emit_to);
        let count = groups.len();
        let values = bitmap_array(groups.into_iter().flatten());
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(tags, count));
        Ok(vec![list_array(&offsets, values)?])
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let name = self.name();
        let Some(tag_column) = values.get(1) else {
            return exec_err!("{name}: no tag argument");
        };
        let row_tags = self.row_tags(tag_column)?;
        let tags = self.tags();
        let mut sets: Vec<Option<RoaringTreemap>> = vec![None; row_tags.len() * tags];
        for (row, tag) in row_tags.into_iter().enumerate() {
            let Some(tag) = tag.filter(|_| passes(opt_filter, row)) else {
                continue;
            };
            let set = if self.ids {
                let ids = self.ids(values)?;
                ids.is_valid(row)
                    .then(|| member(name, ids.value(row)))
                    .transpose()?
                    .map(|id| std::iter::once(id).collect())
            } else {
                let bitmaps = binary_array(name, &values[0])?;
                bitmaps
                    .is_valid(row)
                    .then(|| decode(name, bitmaps.value(row)))
                    .transpose()?
            };
            sets[row * tags + tag] = set;
        }
        let rows = sets.len() / tags.max(1);
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(tags, rows));
        Ok(vec![list_array(&offsets, bitmap_array(sets))?])
    }

    fn heap_size(&self) -> usize {
        self.sets.capacity() * size_of::<Option<RoaringTreemap>>()
            + self.members as usize * 2
            + self.groups * self.tags() * 96
    }
}

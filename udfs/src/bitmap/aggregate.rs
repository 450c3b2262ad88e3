//! The bitmap aggregates of a group's people: `bitmap_agg(id)` (the set of the ids),
//! `bitmap_union(bitmap)` and `bitmap_intersect(bitmap)` (of the bitmaps), and
//! `bitmap_union_count(ids or bitmaps)` (the number of distinct people). The state is one
//! bitmap per group; partial states merge by OR (AND for the intersection).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use roaring::RoaringTreemap;

use super::{
    binary_array, bitmap_array, coerce_bitmap, coerce_member, decode, id_column, member, members_of,
};
use crate::arguments::check_argument_count;
use crate::conditions::passes;
use crate::doc_sections::AUDIENCE_SECTION;
use crate::flat_groups::{FlatGroups, GroupsOf, OneGroup, state_field};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitmapAggregateKind {
    /// `bitmap_agg(id)`: the bitmap of the ids.
    Agg,
    /// `bitmap_union(bitmap)`: the union of the bitmaps.
    Union,
    /// `bitmap_union_count(id or bitmap)`: the number of distinct ids.
    UnionCount,
    /// `bitmap_intersect(bitmap)`: the ids in every bitmap.
    Intersect,
}

impl BitmapAggregateKind {
    fn name(self) -> &'static str {
        match self {
            Self::Agg => "bitmap_agg",
            Self::Union => "bitmap_union",
            Self::UnionCount => "bitmap_union_count",
            Self::Intersect => "bitmap_intersect",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Self::Agg => "bitmap_agg(id)",
            Self::Union => "bitmap_union(bitmap)",
            Self::UnionCount => "bitmap_union_count(bitmap or id)",
            Self::Intersect => "bitmap_intersect(bitmap)",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BitmapAggregate {
    kind: BitmapAggregateKind,
    signature: Signature,
}

impl BitmapAggregate {
    pub fn new(kind: BitmapAggregateKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn groups(&self, input: &DataType) -> BitmapGroups {
        BitmapGroups {
            kind: self.kind,
            ids: input == &DataType::Int64,
            sets: Vec::new(),
            members: 0,
        }
    }
}

static AGG_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "The set of a group's people as a bitmap (BINARY): every distinct non-NULL id of the \
         group, compressed (roaring). An empty group, or one of NULLs only, gives the empty \
         bitmap. A negative id is an error. Store the result in a table to combine it later \
         with bitmap_and, bitmap_or, bitmap_andnot; read it with bitmap_count, bitmap_contains \
         or bitmap_to_array. Doris's and StarRocks's bitmap_agg (to_bitmap + bitmap_union in \
         one step).",
        "bitmap_agg(id)",
    )
    .with_argument("id", "Integer person id (person_id), 0 or more. NULLs are skipped.")
    .with_sql_example(
        "```sql\nCREATE TABLE daily_people AS\nSELECT day, bitmap_agg(person_id) AS people FROM event_persons GROUP BY day;\n\
         -- DAU, and the people active on both of two days\n\
         SELECT day, bitmap_count(people) FROM daily_people;\n\
         SELECT bitmap_and_count(a.people, b.people) FROM daily_people a, daily_people b\n\
         WHERE a.day = DATE '2026-02-01' AND b.day = DATE '2026-02-02';\n```",
    )
    .with_related_udf("bitmap_union")
    .with_related_udf("bitmap_count")
    .build()
});

static UNION_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "The union of a group's bitmaps: everyone in any of them. NULL bitmaps are skipped; a \
         group without a bitmap gives the empty bitmap. Rolls stored daily bitmaps up to weeks \
         or months, or a rolling window (with a join on the days in range).",
        "bitmap_union(bitmap)",
    )
    .with_argument(
        "bitmap",
        "A bitmap (BINARY made by bitmap_agg, to_bitmap, bitmap_from_string or a bitmap function).",
    )
    .with_sql_example(
        "```sql\n-- monthly active people from stored daily bitmaps\n\
         SELECT date_trunc('month', day) AS month, bitmap_count(bitmap_union(people)) AS mau\n\
         FROM daily_people GROUP BY 1;\n```",
    )
    .with_related_udf("bitmap_union_count")
    .with_related_udf("bitmap_intersect")
    .build()
});

static UNION_COUNT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "The number of distinct people in a group: of the union of its bitmaps, or of its ids \
         (then the same as count(DISTINCT id)). 0 for a group without any (BIGINT). \
         bitmap_count(bitmap_union(b)) without building the result value.",
        "bitmap_union_count(bitmap or id)",
    )
    .with_argument(
        "bitmap or id",
        "A bitmap (BINARY), or an integer person id (0 or more).",
    )
    .with_sql_example(
        "```sql\n-- rolling 30-day active people from stored daily bitmaps\n\
         SELECT d.day, bitmap_union_count(p.people) AS mau\n\
         FROM daily_people d JOIN daily_people p ON p.day BETWEEN d.day - 29 AND d.day\n\
         GROUP BY d.day;\n```",
    )
    .with_related_udf("bitmap_union")
    .build()
});

static INTERSECT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        AUDIENCE_SECTION,
        "The intersection of a group's bitmaps: the people in every one of them. NULL bitmaps \
         are skipped; a group without a bitmap gives NULL (the intersection of no sets is not a \
         set of people). For example, the people active on every day of a week.",
        "bitmap_intersect(bitmap)",
    )
    .with_argument("bitmap", "A bitmap (BINARY).")
    .with_sql_example(
        "```sql\n-- people active on each of the 7 days of each week\n\
         SELECT date_trunc('week', day) AS week, bitmap_count(bitmap_intersect(people))\n\
         FROM daily_people GROUP BY 1;\n```",
    )
    .with_related_udf("intersect_count")
    .with_related_udf("bitmap_union")
    .build()
});

impl AggregateUDFImpl for BitmapAggregate {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.kind.name();
        let usage = self.kind.usage();
        check_argument_count(name, &usage[name.len()..], arg_types.len(), 1..=1)?;
        let input = &arg_types[0];
        let coerced = match self.kind {
            BitmapAggregateKind::Agg => coerce_member(name, "its argument", input)?,
            BitmapAggregateKind::Union | BitmapAggregateKind::Intersect => {
                coerce_bitmap(name, "its argument", input)?
            }
            BitmapAggregateKind::UnionCount => {
                if input.is_integer() {
                    DataType::Int64
                } else {
                    coerce_bitmap(name, "its argument (a bitmap or an integer id)", input)?
                }
            }
        };
        Ok(vec![coerced])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            BitmapAggregateKind::UnionCount => DataType::Int64,
            _ => DataType::Binary,
        })
    }

    fn is_nullable(&self) -> bool {
        self.kind == BitmapAggregateKind::Intersect
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![state_field(
            args.name,
            "bitmap",
            DataType::Binary,
            false,
        )])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let input = args.expr_fields[0].data_type().clone();
        Ok(Box::new(OneGroup(self.groups(&input))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let input = args.expr_fields[0].data_type().clone();
        Ok(Box::new(GroupsOf(self.groups(&input))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            BitmapAggregateKind::Agg => &AGG_DOC,
            BitmapAggregateKind::Union => &UNION_DOC,
            BitmapAggregateKind::UnionCount => &UNION_COUNT_DOC,
            BitmapAggregateKind::Intersect => &INTERSECT_DOC,
        })
    }
}

/// One bitmap per group; `None` until the group has a non-NULL input (for the intersection,
/// "no bitmap yet" is not the empty set).
#[derive(Debug, Clone)]
struct BitmapGroups {
    kind: BitmapAggregateKind,
    /// The input is ids (`Int64`), not bitmaps.
    ids: bool,
    sets: Vec<Option<RoaringTreemap>>,
    /// The members of all sets, for the memory estimate (`heap_size` is asked after every
    /// batch, so it must not walk the groups).
    members: u64,
}

/// Bytes a roaring bitmap takes per member at most (array containers; bitmap containers take
/// less once a range is dense), and per bitmap.
const BYTES_PER_MEMBER: usize = 2;
const BYTES_PER_BITMAP: usize = 96;

impl BitmapGroups {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Adds `bitmap` to the set of `group`.
    fn combine(&mut self, group: usize, bitmap: RoaringTreemap) {
        let slot = &mut self.sets[group];
        self.members -= members_of(slot);
        match slot {
            None => *slot = Some(bitmap),
            Some(set) if self.kind == BitmapAggregateKind::Intersect => *set &= bitmap,
            Some(set) => *set |= bitmap,
        }
        self.members += members_of(slot);
    }

    /// Removes the groups `emit_to` names.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Option<RoaringTreemap>> {
        let sets = emit_to.take_needed(&mut self.sets);
        self.members -= sets.iter().map(members_of).sum::<u64>();
        sets
    }

    fn ids<'a>(&self, values: &'a [ArrayRef]) -> Result<&'a Int64Array> {
        id_column(self.name(), values)
    }
}

impl FlatGroups for BitmapGroups {
    fn resize(&mut self, groups: usize) {
        if self.sets.len() < groups {
            self.sets.resize(groups, None);
        }
    }

    fn update_rows(
        &mut self,
        values: &[ArrayRef],
        group_of: impl Fn(usize) -> usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let name = self.name();
        if self.ids {
            let ids = self.ids(values)?;
            for row in 0..ids.len() {
                if ids.is_valid(row) && keep(row) {
                    let id = member(name, ids.value(row))?;
                    let added = self.sets[group_of(row)]
                        .get_or_insert_with(RoaringTreemap::new)
                        .insert(id);
                    self.members += u64::from(added);
                }
            }
            return Ok(());
        }
        let Some(first) = values.first() else {
            return exec_err!("{name}: no argument");
        };
        let bitmaps = binary_array(name, first)?;
        for row in 0..bitmaps.len() {
            if bitmaps.is_valid(row) && keep(row) {
                let bitmap = decode(name, bitmaps.value(row))?;
                self.combine(group_of(row), bitmap);
            }
        }
        Ok(())
    }

    fn merge_rows(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let name = self.name();
        let Some(first) = states.first() else {
            return exec_err!("{name}: no partial state");
        };
        let bitmaps = binary_array(name, first)?;
        for row in 0..bitmaps.len() {
            if bitmaps.is_valid(row) {
                let bitmap = decode(name, bitmaps.value(row))?;
                self.combine(group_of(row), bitmap);
            }
        }
        Ok(())
    }

    fn results(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sets = self.take(emit_to);
        Ok(match self.kind {
            BitmapAggregateKind::UnionCount => Arc::new(Int64Array::from_iter_values(
                sets.iter()
                    .map(|s| s.as_ref().map_or(0, |s| s.len() as i64)),
            )),
            BitmapAggregateKind::Intersect => bitmap_array(sets),
            BitmapAggregateKind::Agg | BitmapAggregateKind::Union => {
                bitmap_array(sets.into_iter().map(|s| Some(s.unwrap_or_default())))
            }
        })
    }

    fn states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![bitmap_array(self.take(emit_to))])
    }

    fn rows_as_states(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let name = self.name();
        if self.ids {
            let ids = self.ids(values)?;
            let mut sets = Vec::with_capacity(ids.len());
            for row in 0..ids.len() {
                sets.push(if ids.is_valid(row) && passes(opt_filter, row) {
                    Some(std::iter::once(member(name, ids.value(row))?).collect())
                } else {
                    None
                });
            }
            return Ok(vec![bitmap_array(sets)]);
        }
        let Some(first) = values.first() else {
            return exec_err!("{name}: no argument");
        };
        let bitmaps = binary_array(name, first)?;
        let kept: datafusion::arrow::array::BinaryArray = (0..bitmaps.len())
            .map(|row| {
                (bitmaps.is_valid(row) && passes(opt_filter, row)).then(|| bitmaps.value(row))
            })
            .collect();
        Ok(vec![Arc::new(kept)])
    }

    fn heap_size(&self) -> usize {
        self.sets.capacity() * (size_of::<Option<RoaringTreemap>>() + BYTES_PER_BITMAP)
            + self.members as usize * BYTES_PER_MEMBER
    }
}

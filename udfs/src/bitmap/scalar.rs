//! The bitmap scalars: making a bitmap of one id or a list of them, reading one (count, members,
//! membership), and combining several row by row (`bitmap_and`, `bitmap_or`, `bitmap_xor`,
//! `bitmap_andnot` and their `_count` forms, which give the size without building the value).
//! A NULL argument gives NULL, as SQL's operators do.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Array, Int64Builder, ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use roaring::RoaringTreemap;

use super::{BitmapArgument, bitmap_array, coerce_bitmap, coerce_member, id_of, member};
use crate::arguments::check_argument_count;
use crate::doc_sections::AUDIENCE_SECTION;
use crate::strings::{for_each_str, is_string_type};

/// The most bitmaps `bitmap_and`, `bitmap_or` and `bitmap_xor` take.
const MAX_OPERANDS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitmapScalarKind {
    /// `to_bitmap(id)`
    ToBitmap,
    /// `bitmap_from_string('1,2,3')`
    FromString,
    /// `bitmap_to_string(bitmap)`
    ToString,
    /// `bitmap_to_array(bitmap)`
    ToArray,
    /// `bitmap_count(bitmap)`
    Count,
    /// `bitmap_contains(bitmap, id)`
    Contains,
    /// `bitmap_has_any(bitmap, bitmap)`
    HasAny,
}

impl BitmapScalarKind {
    fn name(self) -> &'static str {
        match self {
            Self::ToBitmap => "to_bitmap",
            Self::FromString => "bitmap_from_string",
            Self::ToString => "bitmap_to_string",
            Self::ToArray => "bitmap_to_array",
            Self::Count => "bitmap_count",
            Self::Contains => "bitmap_contains",
            Self::HasAny => "bitmap_has_any",
        }
    }

    fn syntax(self) -> &'static str {
        match self {
            Self::ToBitmap => "(id)",
            Self::FromString => "(text)",
            Self::Contains => "(bitmap, id)",
            Self::HasAny => "(bitmap1, bitmap2)",
            _ => "(bitmap)",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BitmapScalar {
    kind: BitmapScalarKind,
    signature: Signature,
}

impl BitmapScalar {
    pub fn new(kind: BitmapScalarKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn doc(description: &str, syntax: &str) -> datafusion::logical_expr::DocumentationBuilder {
    Documentation::builder(
        AUDIENCE_SECTION,
        description.to_string(),
        syntax.to_string(),
    )
}

static TO_BITMAP_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "A bitmap holding one id. NULL for NULL; a negative id is an error. To build the set \
         of a group's ids, bitmap_agg does it in one step.",
        "to_bitmap(id)",
    )
    .with_argument("id", "Integer person id, 0 or more.")
    .with_sql_example("```sql\n> SELECT bitmap_to_string(to_bitmap(42));\n42\n```")
    .with_related_udf("bitmap_agg")
    .build()
});

static FROM_STRING_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "A bitmap of the comma-separated ids in a text ('1,2,3'; spaces allowed; '' is the \
         empty bitmap). NULL for NULL; anything that is not a list of ids from 0 is an error \
         naming the item.",
        "bitmap_from_string(text)",
    )
    .with_argument("text", "Comma-separated non-negative integers.")
    .with_sql_example("```sql\n> SELECT bitmap_count(bitmap_from_string('1, 2, 3, 3'));\n3\n```")
    .with_related_udf("bitmap_to_string")
    .build()
});

static TO_STRING_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The ids of a bitmap as comma-separated text in ascending order ('' for the empty \
         bitmap). NULL for NULL. For reading small bitmaps; bitmap_to_array gives a list.",
        "bitmap_to_string(bitmap)",
    )
    .with_argument("bitmap", "A bitmap (BINARY).")
    .with_sql_example(
        "```sql\n> SELECT bitmap_to_string(bitmap_or(to_bitmap(3), to_bitmap(1)));\n1,3\n```",
    )
    .with_related_udf("bitmap_from_string")
    .build()
});

static TO_ARRAY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The ids of a bitmap as a list of BIGINT in ascending order; unnest it to get a row per \
         person (to join a stored segment back to people). NULL for NULL.",
        "bitmap_to_array(bitmap)",
    )
    .with_argument("bitmap", "A bitmap (BINARY).")
    .with_sql_example(
        "```sql\nSELECT unnest(bitmap_to_array(people)) AS person_id FROM audience_segments WHERE segment = 'lifecycle: silent';\n```",
    )
    .build()
});

static COUNT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The number of people in a bitmap (BIGINT). NULL for NULL.",
        "bitmap_count(bitmap)",
    )
    .with_argument("bitmap", "A bitmap (BINARY).")
    .with_sql_example("```sql\nSELECT day, bitmap_count(people) AS dau FROM daily_people;\n```")
    .with_related_udf("bitmap_union_count")
    .build()
});

static CONTAINS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Whether a bitmap holds an id. NULL if either is NULL.",
        "bitmap_contains(bitmap, id)",
    )
    .with_argument("bitmap", "A bitmap (BINARY).")
    .with_argument("id", "Integer person id.")
    .with_sql_example("```sql\n> SELECT bitmap_contains(bitmap_from_string('1,5'), 5);\ntrue\n```")
    .build()
});

static HAS_ANY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Whether two bitmaps share at least one id. NULL if either is NULL.",
        "bitmap_has_any(bitmap1, bitmap2)",
    )
    .with_argument("bitmap1, bitmap2", "Bitmaps (BINARY).")
    .with_sql_example(
        "```sql\n> SELECT bitmap_has_any(bitmap_from_string('1,2'), bitmap_from_string('2,3'));\ntrue\n```",
    )
    .with_related_udf("bitmap_and_count")
    .build()
});

impl ScalarUDFImpl for BitmapScalar {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.kind.name();
        let syntax = self.kind.syntax();
        let arguments = match self.kind {
            BitmapScalarKind::Contains | BitmapScalarKind::HasAny => 2,
            _ => 1,
        };
        check_argument_count(name, syntax, arg_types.len(), arguments..=arguments)?;
        match self.kind {
            BitmapScalarKind::ToBitmap => Ok(vec![coerce_member(name, "id", &arg_types[0])?]),
            BitmapScalarKind::FromString => {
                if is_string_type(&arg_types[0]) || arg_types[0].is_null() {
                    Ok(vec![DataType::Utf8])
                } else {
                    datafusion::common::plan_err!(
                        "{name}: its argument must be a string such as '1,2,3', got {}",
                        arg_types[0]
                    )
                }
            }
            BitmapScalarKind::Contains => Ok(vec![
                coerce_bitmap(name, "argument 1", &arg_types[0])?,
                coerce_member(name, "argument 2", &arg_types[1])?,
            ]),
            _ => arg_types
                .iter()
                .enumerate()
                .map(|(i, t)| coerce_bitmap(name, &format!("argument {}", i + 1), t))
                .collect(),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            BitmapScalarKind::ToBitmap | BitmapScalarKind::FromString => DataType::Binary,
            BitmapScalarKind::ToString => DataType::Utf8,
            BitmapScalarKind::ToArray => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false)))
            }
            BitmapScalarKind::Count => DataType::Int64,
            BitmapScalarKind::Contains | BitmapScalarKind::HasAny => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.kind.name();
        let rows = args.number_rows;
        let result: ArrayRef = match self.kind {
            BitmapScalarKind::ToBitmap => {
                let ids = ColumnarValue::values_to_arrays(&args.args)?;
                let Some(ids) = ids[0].as_primitive_opt::<Int64Type>() else {
                    return exec_err!("{name}: expected integer ids");
                };
                let mut sets = Vec::with_capacity(rows);
                for id in ids.iter() {
                    sets.push(match id {
                        Some(id) => Some(std::iter::once(member(name, id)?).collect()),
                        None => None,
                    });
                }
                bitmap_array(sets)
            }
            BitmapScalarKind::FromString => {
                let texts = ColumnarValue::values_to_arrays(&args.args)?;
                let mut sets = Vec::with_capacity(rows);
                let mut problem = None;
                for_each_str(&texts[0], "the text", |_, text| {
                    if problem.is_some() {
                        return;
                    }
                    match text.map(parse_ids).transpose() {
                        Ok(set) => sets.push(set),
                        Err(error) => problem = Some(error),
                    }
                })?;
                if let Some(problem) = problem {
                    return exec_err!("{name}: {problem}");
                }
                bitmap_array(sets)
            }
            BitmapScalarKind::ToString => {
                let bitmap = BitmapArgument::new(name, &args.args[0])?;
                let mut out = StringBuilder::new();
                for row in 0..rows {
                    match bitmap.get(name, row)? {
                        Some(set) => out.append_value(
                            set.iter()
                                .map(|m| id_of(m).to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                        None => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            BitmapScalarKind::ToArray => {
                let bitmap = BitmapArgument::new(name, &args.args[0])?;
                let mut out = ListBuilder::new(Int64Builder::new())
                    .with_field(Arc::new(Field::new_list_field(DataType::Int64, false)));
                for row in 0..rows {
                    match bitmap.get(name, row)? {
                        Some(set) => {
                            out.values().extend(set.iter().map(|m| Some(id_of(m))));
                            out.append(true);
                        }
                        None => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            BitmapScalarKind::Count => {
                let bitmap = BitmapArgument::new(name, &args.args[0])?;
                let mut out = Int64Builder::with_capacity(rows);
                for row in 0..rows {
                    out.append_option(bitmap.get(name, row)?.map(|s| s.len() as i64));
                }
                Arc::new(out.finish())
            }
            BitmapScalarKind::Contains => {
                let bitmap = BitmapArgument::new(name, &args.args[0])?;
                let ids = args.args[1].to_array(rows)?;
                let Some(ids) = ids.as_primitive_opt::<Int64Type>() else {
                    return exec_err!("{name}: expected integer ids");
                };
                let mut out = BooleanBuilder::with_capacity(rows);
                for row in 0..rows {
                    let set = bitmap.get(name, row)?;
                    out.append_option(match (set, ids.is_valid(row)) {
                        // a negative id is in no bitmap
                        (Some(set), true) => {
                            Some(u64::try_from(ids.value(row)).is_ok_and(|id| set.contains(id)))
                        }
                        _ => None,
                    });
                }
                Arc::new(out.finish())
            }
            BitmapScalarKind::HasAny => {
                let left = BitmapArgument::new(name, &args.args[0])?;
                let right = BitmapArgument::new(name, &args.args[1])?;
                let mut out = BooleanBuilder::with_capacity(rows);
                for row in 0..rows {
                    out.append_option(match (left.get(name, row)?, right.get(name, row)?) {
                        (Some(a), Some(b)) => Some(!a.is_disjoint(&b)),
                        _ => None,
                    });
                }
                Arc::new(out.finish())
            }
        };
        Ok(ColumnarValue::Array(result))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            BitmapScalarKind::ToBitmap => &TO_BITMAP_DOC,
            BitmapScalarKind::FromString => &FROM_STRING_DOC,
            BitmapScalarKind::ToString => &TO_STRING_DOC,
            BitmapScalarKind::ToArray => &TO_ARRAY_DOC,
            BitmapScalarKind::Count => &COUNT_DOC,
            BitmapScalarKind::Contains => &CONTAINS_DOC,
            BitmapScalarKind::HasAny => &HAS_ANY_DOC,
        })
    }
}

/// The ids of '1, 2,3'; an item that is not an id from 0 is an error naming it.
fn parse_ids(text: &str) -> std::result::Result<RoaringTreemap, String> {
    let mut set = RoaringTreemap::new();
    if text.trim().is_empty() {
        return Ok(set);
    }
    for (n, item) in text.split(',').enumerate() {
        let item = item.trim();
        match item.parse::<i64>() {
            Ok(id) if id >= 0 => {
                set.insert(id as u64);
            }
            _ => {
                return Err(format!(
                    "item {} of '{text}' is '{item}', not an id from 0 to {}",
                    n + 1,
                    i64::MAX
                ));
            }
        }
    }
    Ok(set)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetOperation {
    And,
    Or,
    Xor,
    AndNot,
}

/// `bitmap_and`, `bitmap_or`, `bitmap_xor`, `bitmap_andnot`, and with `count` their `_count`
/// forms.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BitmapOperation {
    operation: SetOperation,
    count: bool,
    signature: Signature,
}

impl BitmapOperation {
    pub fn new(operation: SetOperation, count: bool) -> Self {
        Self {
            operation,
            count,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn name(&self) -> &'static str {
        match (self.operation, self.count) {
            (SetOperation::And, false) => "bitmap_and",
            (SetOperation::Or, false) => "bitmap_or",
            (SetOperation::Xor, false) => "bitmap_xor",
            (SetOperation::AndNot, false) => "bitmap_andnot",
            (SetOperation::And, true) => "bitmap_and_count",
            (SetOperation::Or, true) => "bitmap_or_count",
            (SetOperation::Xor, true) => "bitmap_xor_count",
            (SetOperation::AndNot, true) => "bitmap_andnot_count",
        }
    }

    fn operands(&self) -> std::ops::RangeInclusive<usize> {
        match self.operation {
            SetOperation::AndNot => 2..=2,
            _ => 2..=MAX_OPERANDS,
        }
    }

    /// `left` combined with `right`.
    fn apply(&self, left: &mut RoaringTreemap, right: &RoaringTreemap) {
        match self.operation {
            SetOperation::And => *left &= right,
            SetOperation::Or => *left |= right,
            SetOperation::Xor => *left ^= right,
            SetOperation::AndNot => *left -= right,
        }
    }

    /// The size of `left` combined with `right`, without building it.
    fn size(&self, left: &RoaringTreemap, right: &RoaringTreemap) -> u64 {
        match self.operation {
            SetOperation::And => left.intersection_len(right),
            SetOperation::Or => left.union_len(right),
            SetOperation::Xor => left.symmetric_difference_len(right),
            SetOperation::AndNot => left.difference_len(right),
        }
    }
}

macro_rules! operation_doc {
    ($name:ident, $description:expr, $syntax:expr, $example:expr) => {
        static $name: LazyLock<Documentation> = LazyLock::new(|| {
            doc($description, $syntax)
                .with_argument("bitmap1, bitmap2, ...", "Bitmaps (BINARY).")
                .with_sql_example($example)
                .build()
        });
    };
}

operation_doc!(
    AND_DOC,
    "The people in all of the bitmaps (their intersection), row by row. 2 to 64 bitmaps; NULL \
     if any is NULL.",
    "bitmap_and(bitmap1, bitmap2, ...)",
    "```sql\n> SELECT bitmap_to_string(bitmap_and(bitmap_from_string('1,2,3'), bitmap_from_string('2,3,4')));\n2,3\n```"
);
operation_doc!(
    OR_DOC,
    "The people in any of the bitmaps (their union), row by row. 2 to 64 bitmaps; NULL if any \
     is NULL (coalesce(b, bitmap_from_string('')) treats a NULL as nobody).",
    "bitmap_or(bitmap1, bitmap2, ...)",
    "```sql\n> SELECT bitmap_to_string(bitmap_or(bitmap_from_string('1,2'), bitmap_from_string('2,5')));\n1,2,5\n```"
);
operation_doc!(
    XOR_DOC,
    "The people in an odd number of the bitmaps (for two, in exactly one), row by row. 2 to 64 \
     bitmaps, combined left to right; NULL if any is NULL.",
    "bitmap_xor(bitmap1, bitmap2, ...)",
    "```sql\n> SELECT bitmap_to_string(bitmap_xor(bitmap_from_string('1,2'), bitmap_from_string('2,5')));\n1,5\n```"
);
operation_doc!(
    ANDNOT_DOC,
    "The people of the first bitmap who are not in the second (Doris's bitmap_and_not), row \
     by row: last month's buyers who did not come back this month. NULL if either is NULL.",
    "bitmap_andnot(bitmap1, bitmap2)",
    "```sql\n> SELECT bitmap_to_string(bitmap_andnot(bitmap_from_string('1,2,3'), bitmap_from_string('2')));\n1,3\n```"
);
operation_doc!(
    AND_COUNT_DOC,
    "bitmap_count(bitmap_and(...)) without building the intersection (BIGINT).",
    "bitmap_and_count(bitmap1, bitmap2, ...)",
    "```sql\n-- people active on both days\nSELECT bitmap_and_count(a.people, b.people) FROM daily_people a JOIN daily_people b ON b.day = a.day + 1;\n```"
);
operation_doc!(
    OR_COUNT_DOC,
    "bitmap_count(bitmap_or(...)) without building the union (BIGINT).",
    "bitmap_or_count(bitmap1, bitmap2, ...)",
    "```sql\n> SELECT bitmap_or_count(bitmap_from_string('1,2'), bitmap_from_string('2,5'));\n3\n```"
);
operation_doc!(
    XOR_COUNT_DOC,
    "bitmap_count(bitmap_xor(...)) without building the result (BIGINT).",
    "bitmap_xor_count(bitmap1, bitmap2, ...)",
    "```sql\n> SELECT bitmap_xor_count(bitmap_from_string('1,2'), bitmap_from_string('2,5'));\n2\n```"
);
operation_doc!(
    ANDNOT_COUNT_DOC,
    "bitmap_count(bitmap_andnot(a, b)) without building the difference (BIGINT).",
    "bitmap_andnot_count(bitmap1, bitmap2)",
    "```sql\n> SELECT bitmap_andnot_count(bitmap_from_string('1,2,3'), bitmap_from_string('2'));\n2\n```"
);

impl ScalarUDFImpl for BitmapOperation {
    fn name(&self) -> &str {
        BitmapOperation::name(self)
    }

    fn aliases(&self) -> &[String] {
        // Doris's names
        static AND_NOT: LazyLock<Vec<String>> = LazyLock::new(|| vec!["bitmap_and_not".into()]);
        static AND_NOT_COUNT: LazyLock<Vec<String>> =
            LazyLock::new(|| vec!["bitmap_and_not_count".into()]);
        match (self.operation, self.count) {
            (SetOperation::AndNot, false) => &AND_NOT,
            (SetOperation::AndNot, true) => &AND_NOT_COUNT,
            _ => &[],
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = BitmapOperation::name(self);
        let syntax = if self.operation == SetOperation::AndNot {
            "(bitmap1, bitmap2)"
        } else {
            "2 to 64 bitmaps"
        };
        check_argument_count(name, syntax, arg_types.len(), self.operands())?;
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| coerce_bitmap(name, &format!("argument {}", i + 1), t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.count {
            DataType::Int64
        } else {
            DataType::Binary
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = BitmapOperation::name(self);
        let operands = args
            .args
            .iter()
            .map(|a| BitmapArgument::new(name, a))
            .collect::<Result<Vec<_>>>()?;
        let rows = args.number_rows;
        let mut sets: Vec<Option<RoaringTreemap>> = Vec::with_capacity(rows);
        let mut counts: Vec<Option<i64>> = Vec::with_capacity(rows);
        'rows: for row in 0..rows {
            let mut row_sets: Vec<Cow<'_, RoaringTreemap>> = Vec::with_capacity(operands.len());
            for operand in &operands {
                match operand.get(name, row)? {
                    Some(set) => row_sets.push(set),
                    None => {
                        sets.push(None);
                        counts.push(None);
                        continue 'rows;
                    }
                }
            }
            let mut sets_of_row = row_sets.into_iter();
            let (Some(first), Some(last)) = (sets_of_row.next(), operands.len().checked_sub(1))
            else {
                return exec_err!("{name}: no bitmaps");
            };
            let mut combined = first.into_owned();
            for (n, set) in sets_of_row.enumerate() {
                if self.count && n + 1 == last {
                    counts.push(Some(self.size(&combined, &set) as i64));
                    continue 'rows;
                }
                self.apply(&mut combined, &set);
            }
            sets.push(Some(combined));
        }
        Ok(ColumnarValue::Array(if self.count {
            Arc::new(Int64Array::from(counts))
        } else {
            bitmap_array(sets)
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match (self.operation, self.count) {
            (SetOperation::And, false) => &AND_DOC,
            (SetOperation::Or, false) => &OR_DOC,
            (SetOperation::Xor, false) => &XOR_DOC,
            (SetOperation::AndNot, false) => &ANDNOT_DOC,
            (SetOperation::And, true) => &AND_COUNT_DOC,
            (SetOperation::Or, true) => &OR_COUNT_DOC,
            (SetOperation::Xor, true) => &XOR_COUNT_DOC,
            (SetOperation::AndNot, true) => &ANDNOT_COUNT_DOC,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_parse_or_name_the_bad_item() {
        let set = parse_ids(" 3, 1,1 ,2").unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
        assert!(parse_ids("").unwrap().is_empty());
        assert_eq!(
            parse_ids("1,-2").unwrap_err(),
            format!("item 2 of '1,-2' is '-2', not an id from 0 to {}", i64::MAX)
        );
        assert!(parse_ids("1,,2").unwrap_err().contains("item 2"));
        assert!(parse_ids("x").is_err());
    }
}

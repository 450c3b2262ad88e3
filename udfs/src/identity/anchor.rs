//! `anchor_identifier(type, value, ...)`: a row's most trusted valid identifier, by the same
//! priority the stitcher ranks identifier types with. The one rule that says which identifier
//! a row (an event, an order, a set of identifiers seen together) belongs to.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, StringBuilder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::normalize::normalize_typed;
use crate::doc_sections::IDENTITY_SECTION;
use crate::stitch::StitchRules;
use crate::strings::{StrColumn, is_string_type};

/// The most (type, value) pairs one call takes.
const MAX_PAIRS: usize = 64;

static DEFAULT_RULES: LazyLock<StitchRules> = LazyLock::new(StitchRules::default);

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("id_type", DataType::Utf8, false),
        Field::new("id_value", DataType::Utf8, false),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AnchorIdentifier {
    signature: Signature,
}

impl Default for AnchorIdentifier {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

static ANCHOR_IDENTIFIER_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        IDENTITY_SECTION,
        "A row's most trusted valid identifier, as {id_type, id_value} (the value normalised as \
         normalize_id does), or NULL when the row has none. Types are ranked by the OneID \
         stitcher's default priority: member_id, unionid, phone, email, *_buyer_id, openid, \
         device_id, cookie_id, then any other type; among equal ranks the earlier argument \
         wins. A value that is NULL or a placeholder is skipped. The argument order does not \
         matter otherwise, so every query that keys rows by person uses the same rule. Pass an \
         openid qualified by its app (app_id || ':' || openid), and leave out values that \
         identify no person (a store's shared device) by passing NULL for them. Up to 64 \
         pairs.",
        "anchor_identifier(id_type, value [, id_type, value ...])",
    )
    .with_argument(
        "id_type",
        "The identifier's type, usually a literal ('phone'); a column for types that vary by \
         row (shop || '_buyer_id').",
    )
    .with_argument("value", "The identifier as it arrived.")
    .with_sql_example(
        "```sql\n> SELECT anchor_identifier('device_id', 'IDFA-1', 'phone', '138 1234 5678', 'member_id', '0');\n{id_type: phone, id_value: 8613812345678}\n```",
    )
    .with_related_udf("normalize_id")
    .build()
});

/// One argument pair, its type fixed when it is a literal.
enum PairType<'a> {
    Fixed { name: String, rank: u32 },
    PerRow(StrColumn<'a>),
    Null,
}

impl ScalarUDFImpl for AnchorIdentifier {
    fn name(&self) -> &str {
        "anchor_identifier"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.is_empty() || !arg_types.len().is_multiple_of(2) {
            return plan_err!(
                "anchor_identifier takes (type, value) pairs, got {} arguments",
                arg_types.len()
            );
        }
        if arg_types.len() / 2 > MAX_PAIRS {
            return plan_err!(
                "anchor_identifier takes at most {MAX_PAIRS} (type, value) pairs, got {}",
                arg_types.len() / 2
            );
        }
        for (index, data_type) in arg_types.iter().enumerate() {
            if !is_string_type(data_type) && *data_type != DataType::Null {
                return plan_err!(
                    "anchor_identifier: argument {} ({}) must be a string, got {data_type}",
                    index + 1,
                    if index % 2 == 0 { "a type" } else { "a value" }
                );
            }
        }
        Ok(DataType::Struct(result_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let rules: &StitchRules = &DEFAULT_RULES;
        // values as arrays; literal types ranked once
        let values: Vec<ArrayRef> = args
            .args
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| v.to_array(rows))
            .collect::<Result<_>>()?;
        let type_arrays: Vec<Option<ArrayRef>> = args
            .args
            .iter()
            .step_by(2)
            .map(|t| match t {
                ColumnarValue::Array(array) => Ok(Some(Arc::clone(array))),
                ColumnarValue::Scalar(_) => Ok(None),
            })
            .collect::<Result<_>>()?;
        let mut types = Vec::with_capacity(values.len());
        for (pair, argument) in args.args.iter().step_by(2).enumerate() {
            types.push(match (argument, &type_arrays[pair]) {
                (ColumnarValue::Scalar(scalar), _) => match scalar_text(scalar)? {
                    Some(name) => {
                        let name = name.trim().to_ascii_lowercase();
                        let rank = rules.rank(&name);
                        PairType::Fixed { name, rank }
                    }
                    None => PairType::Null,
                },
                (ColumnarValue::Array(_), Some(array)) => {
                    PairType::PerRow(StrColumn::new(array, "anchor_identifier's id_type")?)
                }
                (ColumnarValue::Array(_), None) => PairType::Null,
            });
        }
        let values: Vec<StrColumn> = values
            .iter()
            .map(|v| StrColumn::new(v, "anchor_identifier's value"))
            .collect::<Result<_>>()?;

        let mut out_type = StringBuilder::with_capacity(rows, rows * 8);
        let mut out_value = StringBuilder::with_capacity(rows, rows * 24);
        let mut valid = Vec::with_capacity(rows);
        // ranks of the types that vary by row, by lower-cased name
        let mut row_ranks: HashMap<String, u32> = HashMap::new();
        let mut lowered = String::new();
        for row in 0..rows {
            let mut best: Option<(u32, String, String)> = None;
            for (pair_type, value) in types.iter().zip(&values) {
                let Some(value) = value.get(row) else {
                    continue;
                };
                let (name, rank) = match pair_type {
                    PairType::Fixed { name, rank } => (name.as_str(), *rank),
                    PairType::Null => continue,
                    PairType::PerRow(column) => {
                        let Some(name) = column.get(row) else {
                            continue;
                        };
                        lowered.clear();
                        lowered.push_str(name.trim());
                        lowered.make_ascii_lowercase();
                        let rank = match row_ranks.get(&lowered) {
                            Some(&rank) => rank,
                            None => {
                                let rank = rules.rank(&lowered);
                                row_ranks.insert(lowered.clone(), rank);
                                rank
                            }
                        };
                        (lowered.as_str(), rank)
                    }
                };
                if best.as_ref().is_some_and(|(r, _, _)| *r <= rank) {
                    continue;
                }
                if let Some(normalised) = normalize_typed(name, value) {
                    best = Some((rank, name.to_string(), normalised.into_owned()));
                }
            }
            match best {
                Some((_, name, value)) => {
                    out_type.append_value(name);
                    out_value.append_value(value);
                    valid.push(true);
                }
                None => {
                    out_type.append_value("");
                    out_value.append_value("");
                    valid.push(false);
                }
            }
        }
        let array = StructArray::try_new(
            result_fields(),
            vec![
                Arc::new(out_type.finish()) as ArrayRef,
                Arc::new(out_value.finish()) as ArrayRef,
            ],
            Some(NullBuffer::from(valid)),
        )?;
        Ok(ColumnarValue::Array(Arc::new(array)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&ANCHOR_IDENTIFIER_DOC)
    }
}

fn scalar_text(scalar: &ScalarValue) -> Result<Option<String>> {
    match scalar.try_as_str() {
        Some(text) => Ok(text.map(str::to_string)),
        None if scalar.is_null() => Ok(None),
        None => exec_err!(
            "anchor_identifier: a type must be a string, got {}",
            scalar.data_type()
        ),
    }
}

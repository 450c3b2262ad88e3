//! RFM layering: `rfm_segment` (named segments from 1-5 scores, by a rule table) and
//! `rfm_8class` (the Chinese 8-class layering against the means).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, StringBuilder, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde::Deserialize;

use crate::arguments::check_argument_count;
use crate::doc_sections::VALUE_SECTION;
use crate::literals::text_of;
use crate::numeric::coerce_numeric;
use crate::strings::is_string_type;

/// One rule of a segment table: inclusive score ranges; a missing range matches any score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    pub name: String,
    #[serde(default = "any_score")]
    pub r: [u8; 2],
    #[serde(default = "any_score")]
    pub f: [u8; 2],
    #[serde(default = "any_score")]
    pub m: [u8; 2],
}

fn any_score() -> [u8; 2] {
    [1, 5]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentTable {
    segment: Vec<SegmentRule>,
}

/// The default table; first match wins, and every one of the 125 score triples matches.
pub const DEFAULT_SEGMENTS: &str = r#"
[[segment]]
name = "Champions"
r = [4, 5]
f = [4, 5]
m = [4, 5]

[[segment]]
name = "Loyal Customers"
r = [3, 5]
f = [4, 5]

[[segment]]
name = "Potential Loyalist"
r = [4, 5]
f = [2, 3]

[[segment]]
name = "New Customers"
r = [5, 5]
f = [1, 1]

[[segment]]
name = "Promising"
r = [4, 4]
f = [1, 1]

[[segment]]
name = "Need Attention"
r = [3, 3]
f = [3, 3]

[[segment]]
name = "About To Sleep"
r = [3, 3]
f = [1, 2]

[[segment]]
name = "Can't Lose Them"
r = [1, 2]
f = [4, 5]
m = [4, 5]

[[segment]]
name = "At Risk"
r = [1, 2]
f = [3, 5]

[[segment]]
name = "Hibernating"
r = [1, 2]
f = [1, 2]
m = [3, 5]

[[segment]]
name = "Lost"
r = [1, 2]
f = [1, 2]
m = [1, 2]
"#;

/// Parses a segment table: TOML with one `[[segment]]` per rule (`name`, and optional
/// inclusive ranges `r`, `f`, `m` such as `[4, 5]`).
pub fn parse_segments(text: &str) -> Result<Vec<SegmentRule>> {
    let table: SegmentTable = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            return exec_err!(
                "rfm_segment: the segment map is not valid: {e}expected [[segment]] tables with name and optional r/f/m = [low, high]"
            );
        }
    };
    for rule in &table.segment {
        for (letter, [low, high]) in [('r', rule.r), ('f', rule.f), ('m', rule.m)] {
            if !(1..=5).contains(&low) || !(1..=5).contains(&high) || low > high {
                return exec_err!(
                    "rfm_segment: segment '{}' has {letter} = [{low}, {high}]: ranges are [low, high] within 1..5",
                    rule.name
                );
            }
        }
    }
    Ok(table.segment)
}

static DEFAULT_RULES: LazyLock<Vec<SegmentRule>> =
    LazyLock::new(|| parse_segments(DEFAULT_SEGMENTS).expect("the default segment table parses"));

pub fn segment_of(rules: &[SegmentRule], r: u8, f: u8, m: u8) -> Option<&str> {
    let within = |[low, high]: [u8; 2], v: u8| (low..=high).contains(&v);
    rules
        .iter()
        .find(|rule| within(rule.r, r) && within(rule.f, f) && within(rule.m, m))
        .map(|rule| rule.name.as_str())
}

fn score(name: &str, letter: &str, value: f64) -> Result<u8> {
    if value.fract() != 0.0 || !(1.0..=5.0).contains(&value) {
        return exec_err!("{name}: {letter} must be an integer score from 1 to 5, got {value}");
    }
    Ok(value as u8)
}

fn float_columns(name: &str, arrays: &[ArrayRef]) -> Result<Vec<Float64Array>> {
    arrays
        .iter()
        .map(|a| match a.as_primitive_opt::<Float64Type>() {
            Some(values) => Ok(values.clone()),
            None => exec_err!("{name}: expected numeric arguments, got {}", a.data_type()),
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmSegment {
    signature: Signature,
}

impl Default for RfmSegment {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static SEGMENT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The named RFM segment of 1-5 recency, frequency and monetary scores (5 = best: most \
         recent, most frequent, most money), by a rule table where the first matching rule wins. \
         Default table (r, f, m ranges; a missing range is any): Champions r 4-5 f 4-5 m 4-5; \
         Loyal Customers r 3-5 f 4-5; Potential Loyalist r 4-5 f 2-3; New Customers r 5 f 1; \
         Promising r 4 f 1; Need Attention r 3 f 3; About To Sleep r 3 f 1-2; Can't Lose Them \
         r 1-2 f 4-5 m 4-5; At Risk r 1-2 f 3-5; Hibernating r 1-2 f 1-2 m 3-5; Lost r 1-2 \
         f 1-2 m 1-2. Every score triple has a segment under it. A custom map is TOML text with \
         one [[segment]] per rule (name, optional r/f/m = [low, high]); a triple no rule matches \
         gives NULL. A NULL score gives NULL; a score outside 1-5 is an error.",
        "rfm_segment(r_score, f_score, m_score [, map])",
    )
    .with_argument("r_score, f_score, m_score", "Integer scores 1-5, e.g. from ntile(5) (see sql/rfm_layers.sql).")
    .with_argument("map", "Optional segment table, a TOML string literal.")
    .with_sql_example("```sql\n> SELECT rfm_segment(5, 5, 4), rfm_segment(1, 5, 5), rfm_segment(2, 1, 1);\nChampions | Can't Lose Them | Lost\n> SELECT rfm_segment(r, f, m, '[[segment]]\nname = \"VIP\"\nf = [5, 5]\n');\n```")
    .build()
});

impl ScalarUDFImpl for RfmSegment {
    fn name(&self) -> &str {
        "rfm_segment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            "rfm_segment",
            "(r_score, f_score, m_score [, map])",
            arg_types.len(),
            3..=4,
        )?;
        if let Some(t) = arg_types.get(3)
            && !is_string_type(t)
        {
            return plan_err!("rfm_segment: map must be a TOML string, got {t}");
        }
        coerce_numeric(self.name(), arg_types, 3)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let custom = match args.args.get(3) {
            None => None,
            Some(ColumnarValue::Scalar(value)) => match text_of(Some(value)) {
                Some(text) => Some(parse_segments(text)?),
                None => return exec_err!("rfm_segment: map must be a string literal"),
            },
            Some(_) => return exec_err!("rfm_segment: map must be a string literal"),
        };
        let rules: &[SegmentRule] = custom.as_deref().unwrap_or(&DEFAULT_RULES);
        let arrays = ColumnarValue::values_to_arrays(&args.args[..3])?;
        let columns = float_columns(self.name(), &arrays)?;
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            if columns.iter().any(|c| c.is_null(row)) {
                out.append_null();
                continue;
            }
            let r = score(self.name(), "r_score", columns[0].value(row))?;
            let f = score(self.name(), "f_score", columns[1].value(row))?;
            let m = score(self.name(), "m_score", columns[2].value(row))?;
            out.append_option(segment_of(rules, r, f, m));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&SEGMENT_DOC)
    }
}

/// The eight classes by code (R, F, M; 1 = high), Chinese and English labels.
pub const EIGHT_CLASSES: [(&str, &str, &str); 8] = [
    ("111", "重要价值客户", "important value"),
    ("011", "重要保持客户", "important keep"),
    ("101", "重要发展客户", "important develop"),
    ("001", "重要挽留客户", "important win-back"),
    ("110", "一般价值客户", "general value"),
    ("010", "一般保持客户", "general keep"),
    ("100", "一般发展客户", "general develop"),
    ("000", "一般挽留客户", "general win-back"),
];

/// The 8-class code: each of R, F, M is high when at least as good as its mean (recency at
/// most the mean, frequency and monetary at least the mean).
pub fn eight_class_code(values: [f64; 6]) -> String {
    let [r, f, m, avg_r, avg_f, avg_m] = values;
    let bit = |high: bool| if high { '1' } else { '0' };
    [bit(r <= avg_r), bit(f >= avg_f), bit(m >= avg_m)]
        .iter()
        .collect()
}

fn eight_class_fields() -> Fields {
    Fields::from(vec![
        Field::new("code", DataType::Utf8, true),
        Field::new("label_cn", DataType::Utf8, true),
        Field::new("label_en", DataType::Utf8, true),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rfm8Class {
    signature: Signature,
}

impl Default for Rfm8Class {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static EIGHT_CLASS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        VALUE_SECTION,
        "The Chinese 8-class RFM layer: each of R, F and M is high (1) or low (0) against its mean, \
         giving a code such as '111' and its label: 111 重要价值客户 important value, 011 \
         重要保持客户 important keep, 101 重要发展客户 important develop, 001 重要挽留客户 \
         important win-back, 110 一般价值客户 general value, 010 一般保持客户 general keep, 100 \
         一般发展客户 general develop, 000 一般挽留客户 general win-back. R is high when recency \
         (days since the last purchase) is at most its mean; F and M are high when at least their \
         means: a value equal to the mean counts as high. Returns {code, label_cn, label_en}; NULL \
         when an input is NULL; NaN is an error.",
        "rfm_8class(recency, frequency, monetary, avg_recency, avg_frequency, avg_monetary)",
    )
    .with_argument("recency, frequency, monetary", "The customer's days since last purchase, purchases and money.")
    .with_argument("avg_recency, avg_frequency, avg_monetary", "The means to compare with, e.g. avg(...) OVER ().")
    .with_sql_example("```sql\n> SELECT rfm_8class(3, 5, 900, 10, 2, 300)['label_en'];\nimportant value\n```")
    .build()
});

impl ScalarUDFImpl for Rfm8Class {
    fn name(&self) -> &str {
        "rfm_8class"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_argument_count(
            "rfm_8class",
            "(recency, frequency, monetary, avg_recency, avg_frequency, avg_monetary)",
            arg_types.len(),
            6..=6,
        )?;
        coerce_numeric(self.name(), arg_types, 6)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(eight_class_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let columns = float_columns(self.name(), &arrays)?;
        let rows = args.number_rows;
        let mut builders: [StringBuilder; 3] = std::array::from_fn(|_| StringBuilder::new());
        let mut valid = Vec::with_capacity(rows);
        for row in 0..rows {
            if columns.iter().any(|c| c.is_null(row)) {
                builders.iter_mut().for_each(|b| b.append_null());
                valid.push(false);
                continue;
            }
            let values: [f64; 6] = std::array::from_fn(|i| columns[i].value(row));
            if values.iter().any(|v| v.is_nan()) {
                return exec_err!("rfm_8class: NaN in {values:?}");
            }
            let code = eight_class_code(values);
            let (_, cn, en) = EIGHT_CLASSES
                .iter()
                .find(|(c, _, _)| *c == code)
                .expect("every code has a class");
            builders[0].append_value(&code);
            builders[1].append_value(cn);
            builders[2].append_value(en);
            valid.push(true);
        }
        let columns: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
            eight_class_fields(),
            columns,
            Some(NullBuffer::from(valid)),
        )?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&EIGHT_CLASS_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_score_triple_has_a_default_segment() {
        let mut seen = std::collections::BTreeMap::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let segment = segment_of(&DEFAULT_RULES, r, f, m)
                        .unwrap_or_else(|| panic!("no segment for {r}{f}{m}"));
                    *seen.entry(segment).or_insert(0) += 1;
                }
            }
        }
        assert_eq!(seen.len(), 11, "{seen:?}");
        assert_eq!(segment_of(&DEFAULT_RULES, 5, 5, 5), Some("Champions"));
        assert_eq!(segment_of(&DEFAULT_RULES, 5, 5, 1), Some("Loyal Customers"));
        assert_eq!(segment_of(&DEFAULT_RULES, 1, 5, 5), Some("Can't Lose Them"));
        assert_eq!(segment_of(&DEFAULT_RULES, 1, 5, 1), Some("At Risk"));
        assert_eq!(segment_of(&DEFAULT_RULES, 5, 1, 3), Some("New Customers"));
        assert_eq!(segment_of(&DEFAULT_RULES, 2, 2, 4), Some("Hibernating"));
        assert_eq!(segment_of(&DEFAULT_RULES, 1, 1, 1), Some("Lost"));
    }

    #[test]
    fn custom_maps_are_checked() {
        let rules = parse_segments("[[segment]]\nname = \"VIP\"\nf = [5, 5]\n").unwrap();
        assert_eq!(segment_of(&rules, 1, 5, 1), Some("VIP"));
        assert_eq!(segment_of(&rules, 1, 4, 1), None);
        let error = parse_segments("[[segment]]\nname = \"x\"\nr = [4, 9]\n").unwrap_err();
        assert!(error.to_string().contains("r = [4, 9]"), "{error}");
        let error = parse_segments("[[segment]]\nname = \"x\"\nrecency = [1, 2]\n").unwrap_err();
        assert!(error.to_string().contains("recency"), "{error}");
    }

    #[test]
    fn eight_classes_count_the_mean_as_high() {
        assert_eq!(
            eight_class_code([10.0, 2.0, 300.0, 10.0, 2.0, 300.0]),
            "111"
        );
        assert_eq!(
            eight_class_code([11.0, 1.0, 299.0, 10.0, 2.0, 300.0]),
            "000"
        );
        assert_eq!(
            eight_class_code([30.0, 5.0, 900.0, 10.0, 2.0, 300.0]),
            "011"
        );
    }
}

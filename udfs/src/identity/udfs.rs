//! `normalize_id(type, value)` and `is_placeholder_id(type, value)` as SQL scalar functions.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::normalize::{is_placeholder, normalize};
use crate::doc_sections::IDENTITY_SECTION;
use crate::strings::for_each_str;

fn rows_of(args: &ScalarFunctionArgs) -> Result<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(&args.args)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NormalizeId {
    signature: Signature,
}

impl Default for NormalizeId {
    fn default() -> Self {
        Self {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

static NORMALIZE_ID_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        IDENTITY_SECTION,
        "The comparable form of an identifier, as the OneID stitcher keys it, or NULL when the \
         value identifies nobody (a placeholder such as '', '0', 'null', 'unknown', one \
         repeated character, or any of those quoted). Phones become digits with the country \
         code (mainland 11-digit numbers get 86; '+' and '00' prefixes are dropped; fewer than \
         7 digits is NULL); emails are trimmed and lower-cased (NULL without '@'); device ids \
         (device_id, idfa, oaid, android_id, imei) are lower-cased; other types are trimmed. \
         Openids are unique only within their app: pass app_id || ':' || openid.",
        "normalize_id(id_type, value)",
    )
    .with_argument("id_type", "The identifier's type: 'phone', 'email', 'device_id', 'openid', 'unionid', 'member_id', 'cookie_id', ... (case-insensitive).")
    .with_argument("value", "The identifier as it arrived.")
    .with_sql_example(
        "```sql\n> SELECT normalize_id('phone', '+86 138 1234 5678');\n8613812345678\n> SELECT normalize_id('email', ' Li.Wei@QQ.com ');\nli.wei@qq.com\n> SELECT normalize_id('device_id', '00000000-0000-0000-0000-000000000000');\nNULL\n```",
    )
    .with_related_udf("is_placeholder_id")
    .build()
});

impl ScalarUDFImpl for NormalizeId {
    fn name(&self) -> &str {
        "normalize_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = rows_of(&args)?;
        let mut types: Vec<Option<String>> = Vec::with_capacity(args.number_rows);
        for_each_str(&arrays[0], "normalize_id's id_type", |_, t| {
            types.push(t.map(str::to_string))
        })?;
        let mut out = StringBuilder::with_capacity(args.number_rows, args.number_rows * 16);
        for_each_str(&arrays[1], "normalize_id's value", |row, value| {
            let normalized = match (types.get(row).and_then(Option::as_deref), value) {
                (Some(id_type), Some(value)) => normalize(id_type, value),
                _ => None,
            };
            out.append_option(normalized);
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&NORMALIZE_ID_DOC)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IsPlaceholderId {
    signature: Signature,
}

impl Default for IsPlaceholderId {
    fn default() -> Self {
        Self {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

static IS_PLACEHOLDER_ID_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        IDENTITY_SECTION,
        "True when a non-NULL identifier value identifies nobody and must never link two \
         identifiers: blank; '0', '-1', 'null', 'none', 'nil', 'nan', 'n/a', 'undefined', \
         'unknown', 'anonymous', 'guest', '(null)' in any case; one character repeated, \
         ignoring separators (the all-zero IDFA, '-----', '00000000'); any of those in quotes; \
         and values that are not valid for their type (a phone of fewer than 7 digits or of \
         one repeated digit, an email without '@'). NULL for a NULL value.",
        "is_placeholder_id(id_type, value)",
    )
    .with_argument("id_type", "The identifier's type, as for normalize_id.")
    .with_argument("value", "The identifier as it arrived.")
    .with_sql_example(
        "```sql\n> SELECT is_placeholder_id('device_id', '00000000-0000-0000-0000-000000000000');\ntrue\n> SELECT is_placeholder_id('phone', '13812345678');\nfalse\n```",
    )
    .with_related_udf("normalize_id")
    .build()
});

impl ScalarUDFImpl for IsPlaceholderId {
    fn name(&self) -> &str {
        "is_placeholder_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = rows_of(&args)?;
        let mut types: Vec<Option<String>> = Vec::with_capacity(args.number_rows);
        for_each_str(&arrays[0], "is_placeholder_id's id_type", |_, t| {
            types.push(t.map(str::to_string))
        })?;
        let mut out = BooleanBuilder::with_capacity(args.number_rows);
        for_each_str(&arrays[1], "is_placeholder_id's value", |row, value| {
            let id_type = types.get(row).and_then(Option::as_deref).unwrap_or("");
            out.append_option(value.map(|v| is_placeholder(v) || normalize(id_type, v).is_none()));
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&IS_PLACEHOLDER_ID_DOC)
    }
}

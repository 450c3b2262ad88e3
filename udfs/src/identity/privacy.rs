//! `hash_id(value, salt)` and `mask_phone(value)`: identifiers in outputs that must not carry
//! personal data in the clear (PIPL).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::StringBuilder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::normalize::normalize;
use crate::doc_sections::IDENTITY_SECTION;
use crate::strings::for_each_str;

/// HMAC-SHA-256 of `value` keyed by `salt`, in lower-case hex.
pub fn salted_hash(value: &str, salt: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// A phone with its middle digits hidden: mainland numbers as `138****5678`, others keep their
/// first 3 and last 4 digits. `None` when the value is not a phone.
pub fn masked_phone(value: &str) -> Option<String> {
    let digits = normalize("phone", value)?;
    let national = match digits.strip_prefix("86") {
        Some(n) if n.len() == 11 => n,
        _ => digits.as_str(),
    };
    let hidden = national.len().saturating_sub(7);
    Some(format!(
        "{}{}{}",
        &national[..3],
        "*".repeat(hidden),
        &national[national.len() - 4..]
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HashId {
    signature: Signature,
}

impl Default for HashId {
    fn default() -> Self {
        Self {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

static HASH_ID_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        IDENTITY_SECTION,
        "A salted one-way hash of an identifier (HMAC-SHA-256 keyed by the salt, 64 lower-case \
         hex digits), for outputs that must not carry personal data in the clear. The same \
         value and salt always give the same hash, so hashed tables still join; without the \
         salt, a hash cannot be matched against a list of phone numbers. Normalise first \
         (normalize_id) so that variants of one identifier hash alike. NULL if either argument \
         is NULL.",
        "hash_id(value, salt)",
    )
    .with_argument("value", "The identifier (normalised).")
    .with_argument(
        "salt",
        "A secret kept outside the data, the same for every run.",
    )
    .with_sql_example(
        "```sql\n> SELECT hash_id(normalize_id('phone', '138 1234 5678'), 'our-secret');\n\
         -- 64 hex digits\n```",
    )
    .with_related_udf("mask_phone")
    .build()
});

impl ScalarUDFImpl for HashId {
    fn name(&self) -> &str {
        "hash_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut salts: Vec<Option<String>> = Vec::with_capacity(args.number_rows);
        for_each_str(&arrays[1], "hash_id's salt", |_, s| {
            salts.push(s.map(str::to_string))
        })?;
        let mut out = StringBuilder::with_capacity(args.number_rows, args.number_rows * 64);
        for_each_str(&arrays[0], "hash_id's value", |row, value| {
            let salt = salts.get(row).and_then(Option::as_deref);
            out.append_option(value.zip(salt).map(|(v, s)| salted_hash(v, s)));
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&HASH_ID_DOC)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MaskPhone {
    signature: Signature,
}

impl Default for MaskPhone {
    fn default() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

static MASK_PHONE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        IDENTITY_SECTION,
        "A phone number with its middle digits hidden, for reports people read: mainland \
         numbers (in any format normalize_id accepts) become '138****5678'; other numbers keep \
         their first 3 and last 4 digits. NULL when the value is not a phone (a placeholder, \
         fewer than 7 digits) or NULL.",
        "mask_phone(value)",
    )
    .with_argument("value", "A phone number as it arrived.")
    .with_sql_example("```sql\n> SELECT mask_phone('+86 138-1234-5678');\n138****5678\n```")
    .with_related_udf("hash_id")
    .build()
});

impl ScalarUDFImpl for MaskPhone {
    fn name(&self) -> &str {
        "mask_phone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = StringBuilder::with_capacity(args.number_rows, args.number_rows * 11);
        for_each_str(&arrays[0], "mask_phone's value", |_, value| {
            out.append_option(value.and_then(masked_phone));
        })?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&MASK_PHONE_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            salted_hash("what do ya want for nothing?", "Jefe"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn masks() {
        assert_eq!(
            masked_phone("+86 138-1234-5678").as_deref(),
            Some("138****5678")
        );
        assert_eq!(masked_phone("13812345678").as_deref(), Some("138****5678"));
        assert_eq!(
            masked_phone("+1 415 555 0100").as_deref(),
            Some("141****0100")
        );
        assert_eq!(masked_phone("1234567").as_deref(), Some("1234567"));
        assert_eq!(masked_phone("0"), None);
        assert_eq!(masked_phone("12345"), None);
    }
}

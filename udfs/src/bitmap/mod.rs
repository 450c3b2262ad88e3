//! Audiences as bitmaps: sets of people (non-negative integer ids, `person_id`) kept as
//! compressed roaring bitmaps in `BINARY` values, after Doris's and StarRocks's bitmap
//! functions. Aggregates build them (`bitmap_agg`, `bitmap_union`, `bitmap_intersect`,
//! `intersect_count`, `bitmap_expr`), scalars combine and read them (`bitmap_and`,
//! `bitmap_count`, `bitmap_contains`, ...), and a table can store them: a nightly job keeps a
//! segment's people in one value that a later query combines with others.
//!
//! A value is the 64-bit roaring "portable" serialisation (what CRoaring's
//! `roaring64_bitmap_portable_serialize`, Java's `Roaring64NavigableMap` in portable mode and
//! pyroaring's `BitMap64` read and write), so bitmaps written here open elsewhere.

pub mod aggregate;
mod expression;
pub mod scalar;
pub mod tagged;

use std::borrow::Cow;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;
use roaring::RoaringTreemap;

pub use aggregate::{BitmapAggregate, BitmapAggregateKind};
pub use scalar::{BitmapOperation, BitmapScalar, BitmapScalarKind, SetOperation};
pub use tagged::{TaggedBitmap, TaggedKind};

/// True for the types a bitmap argument accepts (they are cast to `Binary`).
pub(crate) fn is_bitmap_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
    )
}

/// `coerce_types` of a bitmap argument: `Binary`, or a planning error naming it.
pub(crate) fn coerce_bitmap(function: &str, what: &str, data_type: &DataType) -> Result<DataType> {
    if is_bitmap_type(data_type) {
        return Ok(DataType::Binary);
    }
    plan_err!(
        "{function}: {what} must be a bitmap (a BINARY value made by bitmap_agg, to_bitmap or \
         bitmap_from_string), got {data_type}"
    )
}

/// `coerce_types` of a person argument: `Int64`, or a planning error naming it.
pub(crate) fn coerce_member(function: &str, what: &str, data_type: &DataType) -> Result<DataType> {
    if data_type.is_integer() || data_type.is_null() {
        return Ok(DataType::Int64);
    }
    plan_err!("{function}: {what} must be an integer person id, got {data_type}")
}

/// A person id as a bitmap member: ids are non-negative (person_id is a dense number from 0).
pub(crate) fn member(function: &str, id: i64) -> Result<u64> {
    match u64::try_from(id) {
        Ok(member) => Ok(member),
        Err(_) => exec_err!(
            "{function}: {id} is negative; bitmaps hold ids from 0 to {} (person_id)",
            i64::MAX
        ),
    }
}

/// The members of a set that may not exist yet (the aggregates' per-group slots).
pub(crate) fn members_of(set: &Option<RoaringTreemap>) -> u64 {
    set.as_ref().map_or(0, RoaringTreemap::len)
}

/// The (coerced) integer id column of an aggregate's first argument.
pub(crate) fn id_column<'a>(
    function: &str,
    values: &'a [ArrayRef],
) -> Result<&'a datafusion::arrow::array::Int64Array> {
    match values
        .first()
        .and_then(|a| a.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>())
    {
        Some(ids) => Ok(ids),
        None => exec_err!("{function}: expected integer ids"),
    }
}

/// A bitmap member as the `BIGINT` it came from.
pub(crate) fn id_of(member: u64) -> i64 {
    // every member came in through `member` or `bitmap_from_string`, both within i64
    i64::try_from(member).unwrap_or(i64::MAX)
}

/// Reads one bitmap value; anything that is not a whole serialised bitmap is an error.
pub(crate) fn decode(function: &str, bytes: &[u8]) -> Result<RoaringTreemap> {
    let mut reader = bytes;
    match RoaringTreemap::deserialize_from(&mut reader) {
        Ok(bitmap) if reader.is_empty() => match bitmap.max() {
            Some(max) if max > i64::MAX as u64 => exec_err!(
                "{function}: a bitmap holds {max}, above the largest id {}",
                i64::MAX
            ),
            _ => Ok(bitmap),
        },
        Ok(_) => exec_err!(
            "{function}: a value of {} bytes is not a bitmap: {} bytes follow the bitmap it \
             starts with (bitmaps are made by bitmap_agg, to_bitmap or bitmap_from_string)",
            bytes.len(),
            reader.len()
        ),
        Err(error) => exec_err!(
            "{function}: a value of {} bytes is not a bitmap ({error}); bitmaps are made by \
             bitmap_agg, to_bitmap or bitmap_from_string",
            bytes.len()
        ),
    }
}

/// Serialises a bitmap, with runs of consecutive ids stored as runs (dense ids compress well).
pub(crate) fn encode(bitmap: &mut RoaringTreemap) -> Vec<u8> {
    bitmap.optimize();
    let mut bytes = Vec::with_capacity(bitmap.serialized_size());
    // writing to a Vec cannot fail
    let _ = bitmap.serialize_into(&mut bytes);
    bytes
}

/// A `Binary` array of the given bitmaps, `None` as NULL.
pub(crate) fn bitmap_array(bitmaps: impl IntoIterator<Item = Option<RoaringTreemap>>) -> ArrayRef {
    let mut builder = BinaryBuilder::new();
    for bitmap in bitmaps {
        match bitmap {
            Some(mut bitmap) => builder.append_value(encode(&mut bitmap)),
            None => builder.append_null(),
        }
    }
    std::sync::Arc::new(builder.finish())
}

/// The `Binary` array of a (coerced) bitmap argument.
pub(crate) fn binary_array<'a>(function: &str, array: &'a ArrayRef) -> Result<&'a BinaryArray> {
    match array.as_binary_opt::<i32>() {
        Some(binary) => Ok(binary),
        None if array.data_type().is_null() => exec_err!("{function}: unexpected untyped NULLs"),
        None => exec_err!(
            "{function}: expected a bitmap (BINARY), got {}",
            array.data_type()
        ),
    }
}

/// A bitmap argument of a scalar function: one value for all rows (a literal or a scalar
/// subquery, read once) or a column read row by row.
pub(crate) enum BitmapArgument {
    One(Option<RoaringTreemap>),
    Column(ArrayRef),
}

impl BitmapArgument {
    pub(crate) fn new(function: &str, value: &ColumnarValue) -> Result<Self> {
        match value {
            ColumnarValue::Scalar(scalar) => Ok(Self::One(match scalar {
                ScalarValue::Binary(Some(bytes))
                | ScalarValue::LargeBinary(Some(bytes))
                | ScalarValue::BinaryView(Some(bytes)) => Some(decode(function, bytes)?),
                _ => None,
            })),
            ColumnarValue::Array(array) => {
                binary_array(function, array)?;
                Ok(Self::Column(array.clone()))
            }
        }
    }

    /// The bitmap of `row`, `None` for NULL.
    pub(crate) fn get(
        &self,
        function: &str,
        row: usize,
    ) -> Result<Option<Cow<'_, RoaringTreemap>>> {
        match self {
            Self::One(bitmap) => Ok(bitmap.as_ref().map(Cow::Borrowed)),
            Self::Column(array) => {
                let binary = binary_array(function, array)?;
                if binary.is_null(row) {
                    return Ok(None);
                }
                Ok(Some(Cow::Owned(decode(function, binary.value(row))?)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_round_trip_and_foreign_bytes_are_refused() {
        let mut people: RoaringTreemap = [0u64, 1, 2, 3, 70_000, 1 << 40].into_iter().collect();
        let bytes = encode(&mut people);
        assert_eq!(decode("t", &bytes).unwrap(), people);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            decode("t", &longer)
                .unwrap_err()
                .to_string()
                .contains("1 bytes follow")
        );
        assert!(decode("t", b"not a bitmap").is_err());
        assert!(decode("t", &[]).is_err());
        let mut too_big: RoaringTreemap = [u64::MAX].into_iter().collect();
        let bytes = encode(&mut too_big);
        assert!(
            decode("t", &bytes)
                .unwrap_err()
                .to_string()
                .contains("above")
        );
    }

    #[test]
    fn negative_ids_are_refused() {
        assert_eq!(member("f", 5).unwrap(), 5);
        assert!(
            member("f", -1)
                .unwrap_err()
                .to_string()
                .contains("-1 is negative")
        );
    }
}

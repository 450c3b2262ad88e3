//! `date_trunc`, with DataFusion's semantics, computed with integer arithmetic on timestamps of
//! a fixed-offset time zone.
//!
//! DataFusion truncates a time-zone-aware timestamp to an hour or coarser by converting every
//! value to a chrono `DateTime` in its zone, clearing fields and converting back: about 50 ns a
//! value, most of "events per day" over a lake whose times are stored as UTC (as Parquet
//! writers store them). In a zone with one offset for all time (`UTC`, `+08:00`) an hour or a
//! day is a fixed number of units, and a week, month, quarter or year starts on a civil date
//! found from the day number; this `date_trunc` computes those directly. Zones with daylight
//! saving or a history of offsets (`Asia/Shanghai`, `Europe/Berlin`), finer granularities,
//! timestamps without a zone (which DataFusion already computes directly), times of day, and
//! values whose arithmetic would overflow go to DataFusion's own implementation. Types, return
//! field, ordering and documentation are DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, FieldRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// DataFusion's `date_trunc`, computed directly for fixed-offset zones.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTrunc {
    builtin: Arc<ScalarUDF>,
}

impl Default for DateTrunc {
    fn default() -> Self {
        Self {
            builtin: datafusion::functions::datetime::date_trunc(),
        }
    }
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn aliases(&self) -> &[String] {
        self.builtin.aliases()
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.builtin.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(truncated) = truncate_fixed_offset(&args.args) {
            return Ok(ColumnarValue::Array(truncated));
        }
        self.builtin.invoke_with_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.builtin.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.builtin.documentation()
    }
}

/// The granularities computed here: those DataFusion computes per value in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granularity {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Granularity {
    /// As DataFusion reads the granularity: case-insensitive.
    fn parse(value: &ScalarValue) -> Option<Self> {
        let text = match value {
            ScalarValue::Utf8(Some(v))
            | ScalarValue::Utf8View(Some(v))
            | ScalarValue::LargeUtf8(Some(v)) => v.to_lowercase(),
            _ => return None,
        };
        Some(match text.as_str() {
            "hour" => Granularity::Hour,
            "day" => Granularity::Day,
            "week" => Granularity::Week,
            "month" => Granularity::Month,
            "quarter" => Granularity::Quarter,
            "year" => Granularity::Year,
            _ => return None,
        })
    }
}

/// The offset from UTC, in seconds, of a zone that has had one offset for all time; `None`
/// for named zones with a history of offsets (or a name this does not recognise).
fn fixed_offset_seconds(zone: &str) -> Option<i64> {
    if matches!(
        zone,
        "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z" | "Zulu" | "Etc/Zulu"
    ) {
        return Some(0);
    }
    // `+HH:MM`, `-HH:MM`, `+HHMM`, `+HH`, as arrow parses them
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    (hours < 24 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

/// The truncated array, when the arguments are a granularity of [`Granularity`] and an array
/// of timestamps in a fixed-offset zone whose values all truncate without overflow.
fn truncate_fixed_offset(args: &[ColumnarValue]) -> Option<ArrayRef> {
    let [
        ColumnarValue::Scalar(granularity),
        ColumnarValue::Array(array),
    ] = args
    else {
        return None;
    };
    let granularity = Granularity::parse(granularity)?;
    let DataType::Timestamp(unit, Some(zone)) = array.data_type() else {
        return None;
    };
    let offset = fixed_offset_seconds(zone)?;
    match unit {
        TimeUnit::Second => truncate::<TimestampSecondType>(array, granularity, offset, 1),
        TimeUnit::Millisecond => {
            truncate::<TimestampMillisecondType>(array, granularity, offset, 1_000)
        }
        TimeUnit::Microsecond => {
            truncate::<TimestampMicrosecondType>(array, granularity, offset, 1_000_000)
        }
        TimeUnit::Nanosecond => {
            truncate::<TimestampNanosecondType>(array, granularity, offset, 1_000_000_000)
        }
    }
}

fn truncate<T: ArrowTimestampType>(
    array: &ArrayRef,
    granularity: Granularity,
    offset_seconds: i64,
    units_per_second: i64,
) -> Option<ArrayRef> {
    let timestamps = array.as_primitive_opt::<T>()?;
    let offset = offset_seconds.checked_mul(units_per_second)?;
    let hour = 3_600 * units_per_second;
    let day = 86_400 * units_per_second;
    let truncate_one = |value: i64| -> Option<i64> {
        let local = value.checked_add(offset)?;
        let local_start = match granularity {
            Granularity::Hour => local - local.rem_euclid(hour),
            Granularity::Day => local - local.rem_euclid(day),
            Granularity::Week => {
                let days = local.div_euclid(day);
                // 1970-01-01 was a Thursday; weeks start on Monday
                (days - (days + 3).rem_euclid(7)).checked_mul(day)?
            }
            Granularity::Month | Granularity::Quarter | Granularity::Year => {
                let (year, month, _) = civil_from_days(local.div_euclid(day));
                let first_month = match granularity {
                    Granularity::Month => month,
                    Granularity::Quarter => 1 + 3 * ((month - 1) / 3),
                    _ => 1,
                };
                days_from_civil(year, first_month, 1).checked_mul(day)?
            }
        };
        local_start.checked_sub(offset)
    };
    // Slots under NULLs hold arbitrary values: they are computed (and may overflow) too, so a
    // NULL slot's overflow sends the batch to DataFusion, which gives the same answer.
    let mut values = Vec::with_capacity(timestamps.len());
    for value in timestamps.values().iter() {
        values.push(truncate_one(*value)?);
    }
    let truncated = PrimitiveArray::<T>::new(values.into(), timestamps.nulls().cloned())
        .with_timezone_opt(timestamps.timezone());
    Some(Arc::new(truncated))
}

/// The proleptic Gregorian (year, month 1–12, day 1–31) of a day number from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number from 1970-01-01 of a proleptic Gregorian date (Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestRandom;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    #[test]
    fn civil_dates_round_trip() {
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn fixed_offsets_are_recognised() {
        assert_eq!(fixed_offset_seconds("UTC"), Some(0));
        assert_eq!(fixed_offset_seconds("+08:00"), Some(28_800));
        assert_eq!(fixed_offset_seconds("-05:30"), Some(-19_800));
        assert_eq!(fixed_offset_seconds("+0545"), Some(20_700));
        assert_eq!(fixed_offset_seconds("+08"), Some(28_800));
        assert_eq!(fixed_offset_seconds("Asia/Shanghai"), None);
        assert_eq!(fixed_offset_seconds("+8:00"), None);
        assert_eq!(fixed_offset_seconds("+25:00"), None);
    }

    /// `function(granularity, array)`.
    fn invoke(function: &ScalarUDF, granularity: &str, array: ArrayRef) -> Result<ArrayRef> {
        let rows = array.len();
        let arg_fields: Vec<FieldRef> = vec![
            Arc::new(Field::new("g", DataType::Utf8, false)),
            Arc::new(Field::new("t", array.data_type().clone(), true)),
        ];
        let return_field = Arc::new(Field::new("r", array.data_type().clone(), true));
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.to_string()))),
                ColumnarValue::Array(array),
            ],
            arg_fields,
            number_rows: rows,
            return_field,
            config_options: Arc::new(ConfigOptions::default()),
        };
        function.invoke_with_args(args)?.into_array(rows)
    }

    fn both() -> (ScalarUDF, Arc<ScalarUDF>) {
        (
            ScalarUDF::new_from_impl(DateTrunc::default()),
            datafusion::functions::datetime::date_trunc(),
        )
    }

    /// Random microsecond timestamps between 1900 and 2200 (DataFusion's own path converts to
    /// nanoseconds and fails outside 1677–2262), every tenth NULL, with exact boundaries
    /// (midnights, month starts) mixed in.
    fn random_times(random: &mut TestRandom, zone: &str) -> ArrayRef {
        const DAY: i64 = 86_400_000_000;
        let first_day = days_from_civil(1900, 1, 1);
        let days = (days_from_civil(2200, 1, 1) - first_day) as u64;
        let values: Vec<Option<i64>> = (0..4_000)
            .map(|i| match i % 10 {
                0 => None,
                1 => Some((first_day + random.below(days) as i64) * DAY),
                2 => {
                    let year = 1900 + random.below(300) as i64;
                    let month = 1 + random.below(12) as i64;
                    Some(days_from_civil(year, month, 1) * DAY + random.below(3) as i64 - 1)
                }
                _ => Some(first_day * DAY + random.below(days * DAY as u64) as i64),
            })
            .collect();
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone(zone))
    }

    /// Every granularity, in fixed-offset zones and in zones that go to DataFusion, gives
    /// DataFusion's answer.
    #[test]
    fn answers_equal_datafusions() {
        let (ours, builtin) = both();
        let mut random = TestRandom::new(7);
        for zone in [
            "UTC",
            "+00:00",
            "+08:00",
            "-05:30",
            "+0545",
            "-11",
            "Asia/Shanghai",
            "America/New_York",
        ] {
            for granularity in [
                "hour", "day", "WEEK", "month", "quarter", "year", "minute", "second",
            ] {
                let array = random_times(&mut random, zone);
                // the zones and granularities meant for the direct path take it
                let direct = truncate_fixed_offset(&[
                    ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.into()))),
                    ColumnarValue::Array(Arc::clone(&array)),
                ]);
                let coarse = !matches!(granularity, "minute" | "second");
                assert_eq!(
                    direct.is_some(),
                    coarse && !zone.contains('/'),
                    "{granularity} in {zone}"
                );
                let expected = invoke(&builtin, granularity, Arc::clone(&array)).unwrap();
                let got = invoke(&ours, granularity, array).unwrap();
                assert_eq!(got.as_ref(), expected.as_ref(), "{granularity} in {zone}");
            }
        }
    }

    #[test]
    fn other_units_equal_datafusions() {
        let (ours, builtin) = both();
        let mut random = TestRandom::new(8);
        let micros = random_times(&mut random, "+08:00");
        for unit in [
            TimeUnit::Second,
            TimeUnit::Millisecond,
            TimeUnit::Nanosecond,
        ] {
            let zoned = DataType::Timestamp(unit, Some("+08:00".into()));
            // through seconds, so nanoseconds stay within their range
            let array = datafusion::arrow::compute::cast(
                &micros,
                &DataType::Timestamp(TimeUnit::Second, Some("+08:00".into())),
            )
            .unwrap();
            let array = datafusion::arrow::compute::cast(&array, &zoned).unwrap();
            for granularity in ["day", "month", "year"] {
                let expected = invoke(&builtin, granularity, Arc::clone(&array)).unwrap();
                let got = invoke(&ours, granularity, Arc::clone(&array)).unwrap();
                assert_eq!(got.as_ref(), expected.as_ref(), "{granularity} in {unit:?}");
            }
        }
    }

    #[test]
    fn overflow_goes_to_datafusion() {
        let (ours, builtin) = both();
        let array: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(i64::MAX - 5)]).with_timezone("+08:00"),
        );
        assert!(
            truncate_fixed_offset(&[
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("day".into()))),
                ColumnarValue::Array(Arc::clone(&array)),
            ])
            .is_none()
        );
        // DataFusion's own answer (an error naming the value) is what users get
        let expected = invoke(&builtin, "day", Arc::clone(&array)).map_err(|e| e.to_string());
        let got = invoke(&ours, "day", array).map_err(|e| e.to_string());
        assert_eq!(got, expected);
    }
}

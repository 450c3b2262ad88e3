//! Event times for the behavioural functions: any Arrow timestamp unit (with or without time
//! zone), `Date32`/`Date64`, or integers, read as `i64` ticks of the input's own unit, and
//! windows (integer seconds, raw units for integers, or an `INTERVAL`) converted to ticks; and
//! the calendar periods (hour, day, week, month) purchases are counted in.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Int8Type, Int16Type, Int32Type, Int64Type, IntervalUnit,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};

const SECONDS_PER_DAY: i64 = 86_400;

/// True for the types a time argument may have.
pub fn is_time_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    ) || data_type.is_integer()
}

/// Ticks of `data_type` in one second; integers count in raw units (one tick is one unit).
pub fn ticks_per_second(data_type: &DataType) -> i64 {
    match data_type {
        DataType::Timestamp(TimeUnit::Second, _) => 1,
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => 1_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1_000_000_000,
        // dates are read as seconds since the epoch
        _ => 1,
    }
}

/// Calls `f(row, ticks)` for every row of a time column (ticks `None` for NULL), without
/// materialising the column: the hot path of every behavioural aggregate.
pub fn for_each_tick(
    array: &ArrayRef,
    function: &str,
    mut f: impl FnMut(usize, Option<i64>),
) -> Result<()> {
    macro_rules! primitive {
        ($t:ty, $scale:expr) => {{
            let values = array.as_primitive::<$t>();
            if values.null_count() == 0 {
                for (row, v) in values.values().iter().enumerate() {
                    f(row, Some(*v as i64 * $scale));
                }
            } else {
                for (row, v) in values.iter().enumerate() {
                    f(row, v.map(|v| v as i64 * $scale));
                }
            }
        }};
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => primitive!(TimestampSecondType, 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => primitive!(TimestampMillisecondType, 1),
        DataType::Timestamp(TimeUnit::Microsecond, _) => primitive!(TimestampMicrosecondType, 1),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => primitive!(TimestampNanosecondType, 1),
        DataType::Date32 => primitive!(Date32Type, SECONDS_PER_DAY),
        DataType::Date64 => primitive!(Date64Type, 1),
        DataType::Int8 => primitive!(Int8Type, 1),
        DataType::Int16 => primitive!(Int16Type, 1),
        DataType::Int32 => primitive!(Int32Type, 1),
        DataType::Int64 => primitive!(Int64Type, 1),
        DataType::UInt8 => primitive!(UInt8Type, 1),
        DataType::UInt16 => primitive!(UInt16Type, 1),
        DataType::UInt32 => primitive!(UInt32Type, 1),
        _ => {
            // UInt64 (range-checked) and NULL columns take the general path.
            for (row, ticks) in time_ticks(array, function)?.into_iter().enumerate() {
                f(row, ticks);
            }
        }
    }
    Ok(())
}

/// Reads a time column as ticks; NULL rows are `None`.
pub fn time_ticks(array: &ArrayRef, function: &str) -> Result<Vec<Option<i64>>> {
    macro_rules! primitive {
        ($t:ty) => {
            array
                .as_primitive::<$t>()
                .iter()
                .map(|v| v.map(|v| v as i64))
                .collect()
        };
    }
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => primitive!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => primitive!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => primitive!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => primitive!(TimestampNanosecondType),
        DataType::Date32 => array
            .as_primitive::<Date32Type>()
            .iter()
            .map(|v| v.map(|d| d as i64 * SECONDS_PER_DAY))
            .collect(),
        DataType::Date64 => primitive!(Date64Type),
        DataType::Int8 => primitive!(Int8Type),
        DataType::Int16 => primitive!(Int16Type),
        DataType::Int32 => primitive!(Int32Type),
        DataType::Int64 => primitive!(Int64Type),
        DataType::UInt8 => primitive!(UInt8Type),
        DataType::UInt16 => primitive!(UInt16Type),
        DataType::UInt32 => primitive!(UInt32Type),
        DataType::UInt64 => {
            let values = array.as_primitive::<UInt64Type>();
            let mut out = Vec::with_capacity(values.len());
            for value in values.iter() {
                match value {
                    Some(v) if v > i64::MAX as u64 => {
                        return exec_err!("{function}: timestamp {v} is larger than {}", i64::MAX);
                    }
                    other => out.push(other.map(|v| v as i64)),
                }
            }
            out
        }
        DataType::Null => vec![None; array.len()],
        other => {
            return exec_err!(
                "{function}: the timestamp must be a timestamp, a date or an integer, got {other}"
            );
        }
    })
}

/// A window literal in ticks of `time_type`: an integer (seconds for timestamps and dates,
/// raw units for integer times) or an INTERVAL of days, hours, minutes and seconds.
pub fn window_ticks(function: &str, window: &ScalarValue, time_type: &DataType) -> Result<i64> {
    let per_second = ticks_per_second(time_type) as i128;
    let ticks: i128 = match window {
        value if value.data_type().is_integer() => {
            let text = value.to_string();
            let seconds: i128 = text.parse().map_err(|_| {
                datafusion::error::DataFusionError::Plan(format!(
                    "{function}: the window must be a non-NULL integer or INTERVAL, got {value}"
                ))
            })?;
            seconds * per_second
        }
        ScalarValue::IntervalMonthDayNano(Some(v)) => interval_ticks(
            function,
            v.months as i64,
            v.days as i64,
            v.nanoseconds as i128,
            time_type,
        )?,
        ScalarValue::IntervalDayTime(Some(v)) => interval_ticks(
            function,
            0,
            v.days as i64,
            v.milliseconds as i128 * 1_000_000,
            time_type,
        )?,
        ScalarValue::IntervalYearMonth(Some(v)) => {
            interval_ticks(function, *v as i64, 0, 0, time_type)?
        }
        other => {
            return plan_err!(
                "{function}: the window must be a non-NULL integer or INTERVAL literal, got {other}"
            );
        }
    };
    if ticks < 0 {
        return plan_err!("{function}: the window must not be negative, got {window}");
    }
    Ok(ticks.min(i64::MAX as i128) as i64)
}

fn interval_ticks(
    function: &str,
    months: i64,
    days: i64,
    nanoseconds: i128,
    time_type: &DataType,
) -> Result<i128> {
    if time_type.is_integer() {
        return plan_err!(
            "{function}: an INTERVAL window needs a timestamp or date, not integer times \
             (give the window in the integers' own units)"
        );
    }
    if months != 0 {
        return plan_err!("{function}: a window in months or years has no fixed length; use days");
    }
    let per_second = ticks_per_second(time_type) as i128;
    Ok(days as i128 * SECONDS_PER_DAY as i128 * per_second
        + nanoseconds * per_second / 1_000_000_000)
}

/// Seconds between two tick values of `time_type`, as a float (sub-second kept).
pub fn ticks_to_seconds(ticks: i64, time_type: &DataType) -> f64 {
    ticks as f64 / ticks_per_second(time_type) as f64
}

/// Microseconds since the epoch of `ticks` of a TIMESTAMP or DATE `data_type`.
pub fn to_micros(ticks: i64, data_type: &DataType) -> i64 {
    let per_second = ticks_per_second(data_type);
    if per_second >= 1_000_000 {
        ticks / (per_second / 1_000_000)
    } else {
        ticks.saturating_mul(1_000_000 / per_second)
    }
}

/// The end (exclusive, microseconds) of the moment `ticks` of `data_type` stands for: a DATE
/// covers its whole day, a timestamp one microsecond.
pub fn end_micros(ticks: i64, data_type: &DataType) -> i64 {
    let micros = to_micros(ticks, data_type);
    if data_type == &DataType::Date32 {
        micros.saturating_add(MICROS_PER_DAY)
    } else {
        micros.saturating_add(1)
    }
}

/// Whether `data_type` is an interval (for signatures).
pub fn is_interval(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Interval(IntervalUnit::MonthDayNano)
            | DataType::Interval(IntervalUnit::DayTime)
            | DataType::Interval(IntervalUnit::YearMonth)
    )
}

// ---- calendar periods ----------------------------------------------------------------

pub const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// A UTC instant in microseconds as text for error messages ('2026-03-01 00:00:00').
pub fn format_micros(micros: i64) -> String {
    match datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(micros) {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        None => format!("{micros} microseconds"),
    }
}
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// A calendar period purchases are counted in, and the unit times are measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Period {
    Hour,
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hour" | "h" => Some(Self::Hour),
            "day" | "d" => Some(Self::Day),
            "week" | "w" => Some(Self::Week),
            "month" | "m" => Some(Self::Month),
            _ => None,
        }
    }

    /// The start of the period holding `micros` (UTC): weeks start on Monday, as pandas' `W`.
    pub fn start(self, micros: i64) -> i64 {
        match self {
            Self::Hour => micros.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR,
            Self::Day => micros.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY,
            Self::Week => {
                // 1970-01-05, day 4, was a Monday
                let days = micros.div_euclid(MICROS_PER_DAY);
                ((days - 4).div_euclid(7) * 7 + 4) * MICROS_PER_DAY
            }
            Self::Month => {
                let days = micros.div_euclid(MICROS_PER_DAY);
                let (year, month, _) = civil_from_days(days);
                days_from_civil(year, month, 1) * MICROS_PER_DAY
            }
        }
    }

    /// The period holding `micros` as a small integer: its first hour (hour periods) or first day
    /// (the others) since the epoch. Entries keep ticks, not microseconds, to stay 16 bytes.
    pub fn tick(self, micros: i64) -> i64 {
        match self {
            // one division where the period is the tick
            Self::Hour => micros.div_euclid(MICROS_PER_HOUR),
            Self::Day => micros.div_euclid(MICROS_PER_DAY),
            _ => self.start(micros) / self.tick_micros(),
        }
    }

    /// The period holding `micros` as a count of periods since the epoch's (consecutive
    /// periods have consecutive indices).
    pub fn index(self, micros: i64) -> i64 {
        match self {
            Self::Hour => micros.div_euclid(MICROS_PER_HOUR),
            Self::Day => micros.div_euclid(MICROS_PER_DAY),
            Self::Week => (micros.div_euclid(MICROS_PER_DAY) - 4).div_euclid(7),
            Self::Month => {
                let (year, month, _) = civil_from_days(micros.div_euclid(MICROS_PER_DAY));
                year * 12 + i64::from(month) - 1
            }
        }
    }

    /// [`Period::index`] of `micros` and its day within the period (0 for its first day; 0
    /// for hours), with one calendar conversion.
    pub fn index_and_day(self, micros: i64) -> (i64, u32) {
        let days = micros.div_euclid(MICROS_PER_DAY);
        match self {
            Self::Hour => (micros.div_euclid(MICROS_PER_HOUR), 0),
            Self::Day => (days, 0),
            Self::Week => ((days - 4).div_euclid(7), (days - 4).rem_euclid(7) as u32),
            Self::Month => {
                let (year, month, day) = civil_from_days(days);
                (year * 12 + i64::from(month) - 1, day - 1)
            }
        }
    }

    /// The first microsecond of the period with `index` (the inverse of [`Period::index`]).
    pub fn index_start(self, index: i64) -> i64 {
        match self {
            Self::Hour => index * MICROS_PER_HOUR,
            Self::Day => index * MICROS_PER_DAY,
            Self::Week => (index * 7 + 4) * MICROS_PER_DAY,
            Self::Month => {
                let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
                days_from_civil(year, month, 1) * MICROS_PER_DAY
            }
        }
    }

    pub fn tick_micros(self) -> i64 {
        match self {
            Self::Hour => MICROS_PER_HOUR,
            _ => MICROS_PER_DAY,
        }
    }

    /// Length of the unit in microseconds; a month is the mean Gregorian month (30.436875
    /// days), as numpy's `timedelta64(1, 'M')` that lifetimes divides by.
    pub fn unit_micros(self) -> f64 {
        match self {
            Self::Hour => MICROS_PER_HOUR as f64,
            Self::Day => MICROS_PER_DAY as f64,
            Self::Week => 7.0 * MICROS_PER_DAY as f64,
            Self::Month => 30.436_875 * MICROS_PER_DAY as f64,
        }
    }
}

/// Howard Hinnant's algorithm: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_starts() {
        let day = |y, m, d| days_from_civil(y, m, d) * MICROS_PER_DAY;
        // 2026-03-04 is a Wednesday: its week starts on Monday 2026-03-02
        let wednesday = day(2026, 3, 4) + 5 * MICROS_PER_HOUR;
        assert_eq!(Period::Week.start(wednesday), day(2026, 3, 2));
        assert_eq!(Period::Week.start(day(2026, 3, 2)), day(2026, 3, 2));
        assert_eq!(Period::Week.start(day(2026, 3, 1)), day(2026, 2, 23));
        assert_eq!(Period::Month.start(wednesday), day(2026, 3, 1));
        assert_eq!(Period::Day.start(wednesday), day(2026, 3, 4));
        assert_eq!(Period::Day.start(-1), day(1969, 12, 31));
        for days in [-800_000, -1, 0, 59, 11_000, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        for period in [Period::Hour, Period::Day, Period::Week, Period::Month] {
            for micros in [
                wednesday,
                day(1969, 12, 31),
                day(2024, 2, 29),
                day(2026, 12, 31),
            ] {
                let index = period.index(micros);
                assert_eq!(
                    period.index_start(index),
                    period.start(micros),
                    "{period:?}"
                );
                assert_eq!(period.index(period.index_start(index + 1)), index + 1);
                let (same_index, day) = period.index_and_day(micros);
                assert_eq!(same_index, index, "{period:?}");
                if period != Period::Hour {
                    let first_day = period.start(micros).div_euclid(MICROS_PER_DAY);
                    assert_eq!(
                        i64::from(day),
                        micros.div_euclid(MICROS_PER_DAY) - first_day
                    );
                }
            }
        }
        assert_eq!(
            Period::Month.index(day(2026, 1, 31)) + 1,
            Period::Month.index(day(2026, 2, 1))
        );
    }
}

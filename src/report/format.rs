//! How the report prints numbers in its tables and cards: thousands separators, percentages as
//! percentages, durations in the unit a person reads. The charts format on the page
//! (`assets/report.js`) with the same rules; a missing value prints as an en dash.

/// The value's kind, which decides how it prints (here and, by name, on the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// People, orders, events: a whole number with thousands separators.
    Count,
    /// Yuan: two decimals with thousands separators.
    Money,
    /// A share in [0, 1] printed as a percentage with one decimal.
    Percent,
    /// A multiple, e.g. LTV/CAC: two decimals and "×".
    Ratio,
    /// Seconds, printed in minutes, hours or days.
    Seconds,
    /// A model parameter: four significant decimals.
    Decimal,
}

impl Kind {
    /// The name the page's script formats by (`data-format`, `format` in chart options).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Count => "count",
            Kind::Money => "money",
            Kind::Percent => "percent",
            Kind::Ratio => "ratio",
            Kind::Seconds => "seconds",
            Kind::Decimal => "decimal",
        }
    }

    pub fn print(self, value: Option<f64>) -> String {
        let Some(value) = value.filter(|v| v.is_finite()) else {
            return MISSING.to_string();
        };
        match self {
            Kind::Count => grouped(value, 0),
            Kind::Money => grouped(value, 2),
            Kind::Percent => format!("{}%", grouped(value * 100.0, 1)),
            Kind::Ratio => format!("{}×", grouped(value, 2)),
            Kind::Seconds => duration(value),
            Kind::Decimal => decimal(value),
        }
    }

    /// The change from `before` to `now`: relative for amounts ("+12.3%"), in percentage
    /// points for shares ("−1.2 pp"). `None` when either is missing or `before` is 0.
    pub fn change(self, now: Option<f64>, before: Option<f64>) -> Option<String> {
        let (now, before) = (now?, before?);
        match self {
            Kind::Percent => Some(signed(format!("{:.1} pp", (now - before) * 100.0))),
            _ if before == 0.0 => None,
            _ => Some(signed(format!(
                "{:.1}%",
                (now - before) / before.abs() * 100.0
            ))),
        }
    }
}

/// What a missing value prints as.
pub const MISSING: &str = "–";

/// `value` rounded to `decimals`, with a comma between each group of three integer digits.
pub fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text.as_str(), None),
    };
    let mut out = String::with_capacity(text.len() + integer.len() / 3 + 1);
    // "-0" after rounding is printed as "0"
    if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    for (i, digit) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A duration in the largest unit that keeps it at or above 1: "45 s", "3.2 min", "5.0 h",
/// "2.1 days".
pub fn duration(seconds: f64) -> String {
    let units = [(86_400.0, "days"), (3_600.0, "h"), (60.0, "min")];
    for (size, unit) in units {
        if seconds.abs() >= size {
            return format!("{} {unit}", grouped(seconds / size, 1));
        }
    }
    format!("{} s", grouped(seconds, 0))
}

fn decimal(value: f64) -> String {
    if value != 0.0 && (value.abs() >= 1e6 || value.abs() < 1e-3) {
        format!("{value:.3e}")
    } else {
        grouped(value, 4)
    }
}

fn signed(text: String) -> String {
    if text.starts_with('-') {
        // a true minus sign reads better than a hyphen beside a number
        text.replacen('-', "−", 1)
    } else if text
        .trim_start_matches(['0', '.', ' ', '%', 'p'])
        .is_empty()
    {
        text
    } else {
        format!("+{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_with_separators_and_units() {
        assert_eq!(grouped(0.0, 0), "0");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(1000.0, 0), "1,000");
        assert_eq!(grouped(1234567.891, 2), "1,234,567.89");
        assert_eq!(grouped(-1234.5, 1), "-1,234.5");
        assert_eq!(grouped(-0.04, 1), "0.0");
        assert_eq!(Kind::Count.print(Some(10038051.0)), "10,038,051");
        assert_eq!(Kind::Percent.print(Some(0.4103)), "41.0%");
        assert_eq!(Kind::Ratio.print(Some(1.516)), "1.52×");
        assert_eq!(Kind::Money.print(None), MISSING);
        assert_eq!(Kind::Count.print(Some(f64::NAN)), MISSING);
        assert_eq!(Kind::Seconds.print(Some(42.0)), "42 s");
        assert_eq!(Kind::Seconds.print(Some(194.2)), "3.2 min");
        assert_eq!(Kind::Seconds.print(Some(166_879.5)), "1.9 days");
        assert_eq!(Kind::Decimal.print(Some(0.621_688_98)), "0.6217");
    }

    #[test]
    fn changes_are_relative_for_amounts_and_points_for_shares() {
        assert_eq!(
            Kind::Count.change(Some(110.0), Some(100.0)).as_deref(),
            Some("+10.0%")
        );
        assert_eq!(
            Kind::Money.change(Some(90.0), Some(100.0)).as_deref(),
            Some("−10.0%")
        );
        assert_eq!(Kind::Count.change(Some(5.0), Some(0.0)), None);
        assert_eq!(Kind::Count.change(Some(5.0), None), None);
        assert_eq!(
            Kind::Percent.change(Some(0.25), Some(0.2)).as_deref(),
            Some("+5.0 pp")
        );
        assert_eq!(
            Kind::Percent.change(Some(0.2), Some(0.2)).as_deref(),
            Some("0.0 pp")
        );
    }
}

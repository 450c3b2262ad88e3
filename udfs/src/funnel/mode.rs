//! The `mode` argument of `window_funnel`: a comma-separated set of strictness options.

use datafusion::common::{Result, plan_err};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FunnelMode {
    /// A repeat of a step already reached (step 2 or later) stops the search.
    pub strict_deduplication: bool,
    /// Once a chain has started, another event or a step out of order stops the search.
    pub strict_order: bool,
    /// Each step must be strictly later than the one before.
    pub strict_increase: bool,
    /// Each row fills at most one step.
    pub strict_once: bool,
    /// With `strict_order`: a step that arrives before its predecessor is skipped.
    pub allow_reentry: bool,
}

impl FunnelMode {
    pub fn parse(function: &str, text: &str) -> Result<Self> {
        let mut mode = FunnelMode::default();
        for option in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match option.to_ascii_lowercase().as_str() {
                "strict_deduplication" => mode.strict_deduplication = true,
                "strict_order" => mode.strict_order = true,
                "strict_increase" => mode.strict_increase = true,
                "strict_once" => mode.strict_once = true,
                "allow_reentry" => mode.allow_reentry = true,
                // ClickHouse's older name for strict_deduplication
                "strict" => mode.strict_deduplication = true,
                other => {
                    return plan_err!(
                        "{function}: unknown mode '{other}' (use a comma-separated combination \
                         of strict_deduplication, strict_order, strict_increase, strict_once, \
                         allow_reentry)"
                    );
                }
            }
        }
        if mode.allow_reentry && !mode.strict_order {
            return plan_err!("{function}: mode allow_reentry needs strict_order");
        }
        Ok(mode)
    }
}

#[cfg(test)]
mod tests {
    use super::FunnelMode;

    #[test]
    fn parses_combinations() {
        let mode = FunnelMode::parse("f", " strict_order, allow_reentry ").unwrap();
        assert!(mode.strict_order && mode.allow_reentry && !mode.strict_once);
        assert_eq!(FunnelMode::parse("f", "").unwrap(), FunnelMode::default());
    }

    #[test]
    fn rejects_unknown_and_invalid() {
        let err = FunnelMode::parse("f", "strict_orders")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown mode 'strict_orders'"), "{err}");
        let err = FunnelMode::parse("f", "allow_reentry")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs strict_order"), "{err}");
    }
}

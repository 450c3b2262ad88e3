//! The `mode` argument of `window_funnel`: a comma-separated set of strictness options and
//! exclusions.

use datafusion::common::{Result, plan_err};

/// `exclude C from I to J`: a chain in which an event matching condition `C` comes after the
/// chain's step `I` and before its step `J` (or, when the chain never reaches `J`, before its
/// window ends) is dropped. Numbers are 1-based; `C` is one of the last conditions, which are
/// not steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exclusion {
    /// The 0-based condition (bit of the condition mask).
    pub condition: usize,
    /// The 1-based steps between which the condition must not occur.
    pub from: usize,
    pub to: usize,
}

impl Exclusion {
    /// Whether a chain that has reached `level` steps (and not more) is exposed to it.
    pub fn covers(&self, level: usize) -> bool {
        self.from <= level && level < self.to
    }
}

/// `step J within S` / `step J after S`: step J must come at most (at least) S seconds after
/// step J - 1 (raw units for integer timestamps), besides the window from step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepGap {
    /// The 1-based step (2 or later).
    pub step: usize,
    /// The least and most time from the step before, in seconds until the time type is known
    /// and in its ticks after ([`FunnelMode::in_ticks`]).
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
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
    /// Steps in any order: the level is the most distinct steps with events in one window.
    pub unordered: bool,
    /// Exclusion conditions, in the order the mode names them.
    pub exclusions: Vec<Exclusion>,
    /// Per-step windows, one per step that has any, by step.
    pub gaps: Vec<StepGap>,
    /// Optional steps (1-based, 2 or later, sorted): a chain may skip them, and each later
    /// step is checked against the last required step before it.
    pub optional: Vec<usize>,
    /// Linked steps (`same value I J ...`, 1-based, sorted, disjoint): the rows a chain takes
    /// for them must carry the same value (window_funnel_values' value argument).
    pub links: Vec<Vec<usize>>,
}

const MODE_OPTIONS: &str = "a comma-separated combination of strict_deduplication, \
     strict_order, strict_increase, strict_once, allow_reentry, unordered, exclude C from I \
     to J, step J within S, step J after S, optional J and same value I J";

/// `step J within S` or `step J after S`, with the words already split, into `gaps`.
fn parse_gap(function: &str, option: &str, words: &[&str], gaps: &mut Vec<StepGap>) -> Result<()> {
    let (step, bound, seconds) = match words {
        [_, step, bound, seconds] => (step, bound.to_ascii_lowercase(), seconds),
        _ => {
            return plan_err!(
                "{function}: '{option}' is not a step window; write step J within S (at most S \
                 seconds after step J - 1) or step J after S (at least S seconds after it)"
            );
        }
    };
    let Some(step) = step.parse::<usize>().ok().filter(|s| *s >= 2) else {
        return plan_err!("{function}: in '{option}', the step must be a number from 2");
    };
    let Some(seconds) = seconds.parse::<i64>().ok().filter(|s| *s >= 0) else {
        return plan_err!(
            "{function}: in '{option}', the time must be a whole number of seconds, 0 or more"
        );
    };
    let gap = match gaps.iter_mut().find(|g| g.step == step) {
        Some(gap) => gap,
        None => {
            gaps.push(StepGap {
                step,
                min: 0,
                max: i64::MAX,
            });
            gaps.last_mut().expect("just pushed")
        }
    };
    match bound.as_str() {
        "within" => gap.max = gap.max.min(seconds),
        "after" => gap.min = gap.min.max(seconds),
        _ => {
            return plan_err!(
                "{function}: in '{option}', write within (at most) or after (at least)"
            );
        }
    }
    if gap.min > gap.max {
        return plan_err!(
            "{function}: step {step} cannot be at least {} and at most {} seconds after step {}",
            gap.min,
            gap.max,
            step - 1
        );
    }
    Ok(())
}

/// `optional J`, with the words already split: the 1-based step.
fn parse_optional(function: &str, option: &str, words: &[&str]) -> Result<usize> {
    match words {
        [_, step] => match step.parse::<usize>() {
            Ok(step) if step >= 2 => Ok(step),
            _ => plan_err!(
                "{function}: in '{option}', the step must be a number from 2 (every chain \
                 starts with step 1)"
            ),
        },
        _ => plan_err!("{function}: '{option}' is not an optional step; write optional J"),
    }
}

/// `same value I J ...`, with the words already split: the 1-based steps, sorted.
fn parse_link(function: &str, option: &str, words: &[&str]) -> Result<Vec<usize>> {
    let usage = "write same value I J ... (the rows of steps I, J, ... must carry the same value)";
    match words {
        [_, value, steps @ ..] if value.eq_ignore_ascii_case("value") => {
            let mut linked = Vec::with_capacity(steps.len());
            for step in steps {
                match step.parse::<usize>() {
                    Ok(step) if step >= 1 => linked.push(step),
                    _ => {
                        return plan_err!(
                            "{function}: in '{option}', '{step}' is not a step number; {usage}"
                        );
                    }
                }
            }
            linked.sort_unstable();
            linked.dedup();
            if linked.len() < 2 {
                return plan_err!("{function}: '{option}' links fewer than two steps; {usage}");
            }
            Ok(linked)
        }
        _ => plan_err!("{function}: '{option}' is not an option; {usage}"),
    }
}

/// `exclude C from I to J`, with the words already split.
fn parse_exclusion(function: &str, option: &str, words: &[&str]) -> Result<Exclusion> {
    let number = |word: &str| word.parse::<usize>().ok().filter(|n| *n >= 1);
    match words {
        [_, condition, from_word, from, to_word, to]
            if from_word.eq_ignore_ascii_case("from") && to_word.eq_ignore_ascii_case("to") =>
        {
            match (number(condition), number(from), number(to)) {
                (Some(condition), Some(from), Some(to)) if from < to => Ok(Exclusion {
                    condition: condition - 1,
                    from,
                    to,
                }),
                (Some(_), Some(from), Some(to)) => {
                    plan_err!("{function}: in '{option}', step {from} must come before step {to}")
                }
                _ => plan_err!(
                    "{function}: in '{option}', the condition and steps must be numbers from 1"
                ),
            }
        }
        _ => plan_err!(
            "{function}: '{option}' is not an exclusion; write exclude C from I to J (condition \
             C, one of the last conditions, must not occur between steps I and J)"
        ),
    }
}

impl FunnelMode {
    pub fn parse(function: &str, text: &str) -> Result<Self> {
        let mut mode = FunnelMode::default();
        for option in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let words: Vec<&str> = option.split_whitespace().collect();
            if words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("exclude"))
            {
                mode.exclusions
                    .push(parse_exclusion(function, option, &words)?);
                continue;
            }
            if words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("step"))
            {
                parse_gap(function, option, &words, &mut mode.gaps)?;
                continue;
            }
            if words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("optional"))
            {
                mode.optional
                    .push(parse_optional(function, option, &words)?);
                continue;
            }
            if words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("same"))
            {
                let link = parse_link(function, option, &words)?;
                if let Some(step) = link
                    .iter()
                    .find(|s| mode.links.iter().any(|l| l.contains(s)))
                {
                    return plan_err!(
                        "{function}: step {step} is in two 'same value' options; list its linked \
                         steps in one"
                    );
                }
                mode.links.push(link);
                continue;
            }
            match option.to_ascii_lowercase().as_str() {
                "strict_deduplication" => mode.strict_deduplication = true,
                "strict_order" => mode.strict_order = true,
                "strict_increase" => mode.strict_increase = true,
                "strict_once" => mode.strict_once = true,
                "allow_reentry" => mode.allow_reentry = true,
                "unordered" => mode.unordered = true,
                // ClickHouse's older name for strict_deduplication
                "strict" => mode.strict_deduplication = true,
                other => {
                    return plan_err!("{function}: unknown mode '{other}' (use {MODE_OPTIONS})");
                }
            }
        }
        if mode.allow_reentry && !mode.strict_order {
            return plan_err!("{function}: mode allow_reentry needs strict_order");
        }
        let ordered_only = mode.strict_order
            || mode.strict_deduplication
            || mode.strict_increase
            || mode.strict_once
            || mode.searched();
        if mode.unordered && ordered_only {
            // each of these is a rule about the order of a chain's steps
            return plan_err!(
                "{function}: unordered cannot be combined with strict modes, exclusions, step \
                 windows or optional steps, which are rules about the order of the steps"
            );
        }
        mode.optional.sort_unstable();
        mode.optional.dedup();
        if !mode.optional.is_empty()
            && (mode.strict_order
                || mode.strict_deduplication
                || mode.unordered
                || !mode.exclusions.is_empty())
        {
            // strict_order and strict_deduplication stop at events a skipped step would
            // explain; an exclusion between steps that may be skipped has no clear span
            return plan_err!(
                "{function}: optional steps cannot be combined with strict_order, \
                 strict_deduplication, unordered or exclusions"
            );
        }
        if !mode.links.is_empty()
            && (mode.strict_order || mode.strict_deduplication || mode.unordered)
        {
            return plan_err!(
                "{function}: same value cannot be combined with strict_order, \
                 strict_deduplication or unordered"
            );
        }
        if mode.searched() && (mode.strict_order || mode.strict_deduplication) {
            // both end the search at an event that breaks the chain; exclusions and step
            // windows judge whole chains, a rule that conflicts with stopping at a row
            return plan_err!(
                "{function}: exclusions and step windows cannot be combined with strict_order \
                 or strict_deduplication (they end the search at other events already)"
            );
        }
        Ok(mode)
    }

    /// Whether chains are searched one by one (exclusions or step windows) rather than
    /// followed in one pass.
    pub fn searched(&self) -> bool {
        !self.exclusions.is_empty()
            || !self.gaps.is_empty()
            || !self.optional.is_empty()
            || !self.links.is_empty()
    }

    /// The steps linked to step `step` (1-based), itself included, when it is linked.
    pub fn link_of(&self, step: usize) -> Option<&[usize]> {
        self.links
            .iter()
            .find(|l| l.contains(&step))
            .map(Vec::as_slice)
    }

    /// Whether step `step` (1-based) may be skipped.
    pub fn is_optional(&self, step: usize) -> bool {
        self.optional.binary_search(&step).is_ok()
    }

    /// The step windows in ticks of a time type with `per_second` ticks a second.
    pub fn in_ticks(mut self, per_second: i64) -> Self {
        for gap in &mut self.gaps {
            gap.min = gap.min.saturating_mul(per_second);
            gap.max = gap.max.saturating_mul(per_second);
        }
        self
    }

    /// The least and most time between step `step` (1-based) and the step before.
    pub fn gap(&self, step: usize) -> (i64, i64) {
        self.gaps
            .iter()
            .find(|g| g.step == step)
            .map_or((0, i64::MAX), |g| (g.min, g.max))
    }

    /// The number of steps among `conditions` conditions: the conditions that exclusions name
    /// are not steps, and must be the last ones, after every step, so that step numbers are
    /// condition numbers. Every exclusion's steps must exist.
    pub fn steps(&self, function: &str, conditions: usize) -> Result<usize> {
        let mut excluded: Vec<usize> = self.exclusions.iter().map(|e| e.condition).collect();
        excluded.sort_unstable();
        excluded.dedup();
        let steps = conditions.saturating_sub(excluded.len());
        for exclusion in &self.exclusions {
            let condition = exclusion.condition + 1;
            if condition > conditions {
                return plan_err!(
                    "{function}: exclude {condition}: there are only {conditions} conditions"
                );
            }
            if condition <= steps {
                return plan_err!(
                    "{function}: exclude {condition}: excluded conditions must come after every \
                     step, as the last {} conditions",
                    excluded.len()
                );
            }
            if exclusion.to > steps {
                return plan_err!(
                    "{function}: exclude {condition} from {} to {}: there are only {steps} steps",
                    exclusion.from,
                    exclusion.to
                );
            }
        }
        if let Some(step) = self.links.iter().flatten().find(|&&s| s > steps) {
            return plan_err!(
                "{function}: same value on step {step}: there are only {steps} steps"
            );
        }
        if let Some(step) = self.optional.iter().find(|&&s| s > steps) {
            return plan_err!("{function}: optional {step}: there are only {steps} steps");
        }
        if let Some(gap) = self.gaps.iter().find(|g| g.step > steps) {
            return plan_err!(
                "{function}: step {} has a window, but there are only {steps} steps",
                gap.step
            );
        }
        Ok(steps)
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

    /// The error for mode `text` on a call with `conditions` conditions.
    fn err(text: &str, conditions: usize) -> String {
        FunnelMode::parse("f", text)
            .and_then(|m| m.steps("f", conditions))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_exclusions() {
        let mode = FunnelMode::parse(
            "f",
            "strict_once, exclude 5 from 1 to 3, EXCLUDE 4 FROM 2 TO 3",
        )
        .unwrap();
        assert!(mode.strict_once);
        assert_eq!(mode.exclusions.len(), 2);
        assert_eq!(
            mode.exclusions[0],
            super::Exclusion {
                condition: 4,
                from: 1,
                to: 3
            }
        );
        assert_eq!(mode.steps("f", 5).unwrap(), 3);
        let covered = |level| mode.exclusions.iter().any(|e| e.covers(level));
        assert!(covered(1) && covered(2) && !covered(3));
        assert!(err("exclude 4 from 3 to 1", 4).contains("must come before"));
        assert!(err("exclude 4 from 1", 4).contains("write exclude C from I to J"));
        assert!(err("exclude x from 1 to 2", 4).contains("numbers from 1"));
        assert!(err("exclude 2 from 1 to 2", 4).contains("after every step"));
        assert!(err("exclude 5 from 1 to 2", 4).contains("only 4 conditions"));
        assert!(err("exclude 4 from 1 to 4", 4).contains("only 3 steps"));
        assert!(err("strict_order, exclude 4 from 1 to 2", 4).contains("cannot be combined"));
    }

    #[test]
    fn unordered_stands_alone() {
        assert!(FunnelMode::parse("f", "unordered").unwrap().unordered);
        for other in [
            "strict_once",
            "strict_increase",
            "exclude 3 from 1 to 2",
            "step 2 within 5",
        ] {
            let message = err(&format!("unordered, {other}"), 3);
            assert!(
                message.contains("unordered cannot be combined"),
                "{other}: {message}"
            );
        }
    }

    #[test]
    fn parses_step_windows() {
        let mode =
            FunnelMode::parse("f", "step 2 within 60, step 3 after 5, step 3 within 10").unwrap();
        assert!(mode.searched());
        assert_eq!(mode.gap(2), (0, 60));
        assert_eq!(mode.gap(3), (5, 10));
        assert_eq!(mode.gap(4), (0, i64::MAX));
        assert_eq!(mode.clone().in_ticks(1000).gap(3), (5000, 10000));
        assert_eq!(mode.steps("f", 3).unwrap(), 3);
        assert!(err("step 1 within 5", 3).contains("number from 2"));
        assert!(err("step 2 within -5", 3).contains("whole number of seconds"));
        assert!(err("step 2 before 5", 3).contains("within (at most) or after"));
        assert!(err("step 2 after 10, step 2 within 5", 3).contains("cannot be at least 10"));
        assert!(err("step 4 within 5", 3).contains("only 3 steps"));
        assert!(err("step 2", 3).contains("is not a step window"));
        assert!(err("strict_deduplication, step 2 within 5", 3).contains("cannot be combined"));
    }

    #[test]
    fn parses_optional_steps() {
        let mode =
            FunnelMode::parse("f", "optional 3, optional 2, step 4 within 9, optional 3").unwrap();
        assert_eq!(mode.optional, vec![2, 3]);
        assert!(mode.searched() && mode.is_optional(2) && !mode.is_optional(4));
        assert_eq!(mode.steps("f", 4).unwrap(), 4);
        assert!(err("optional 1", 3).contains("number from 2"));
        assert!(err("optional", 3).contains("write optional J"));
        assert!(err("optional 4", 3).contains("only 3 steps"));
        assert!(err("optional 2, unordered", 3).contains("unordered cannot be combined"));
        for other in [
            "strict_order",
            "strict_deduplication",
            "exclude 4 from 1 to 3",
        ] {
            let message = err(&format!("optional 2, {other}"), 4);
            assert!(
                message.contains("optional steps cannot be combined"),
                "{other}: {message}"
            );
        }
    }

    #[test]
    fn parses_linked_steps() {
        let mode = FunnelMode::parse("f", "same value 4 2, same value 1 3").unwrap();
        assert_eq!(mode.links, vec![vec![2, 4], vec![1, 3]]);
        assert!(mode.searched());
        assert_eq!(mode.link_of(4), Some(&[2, 4][..]));
        assert_eq!(mode.link_of(5), None);
        assert!(err("same value 2", 4).contains("fewer than two steps"));
        assert!(err("same value 2 x", 4).contains("'x' is not a step number"));
        assert!(err("same 2 3", 4).contains("write same value I J"));
        assert!(err("same value 2 5", 4).contains("only 4 steps"));
        assert!(err("same value 1 2, same value 2 3", 4).contains("in two 'same value' options"));
        assert!(err("same value 1 2, strict_order", 4).contains("cannot be combined"));
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

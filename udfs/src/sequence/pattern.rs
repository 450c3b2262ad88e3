//! ClickHouse's sequence pattern language, parsed into steps.
//!
//! `(?N)` an event matching condition N; `.` any one event; `.*` any number of events;
//! `(?t op S)` with op in `<`, `<=`, `>`, `>=`, `==`, `!=`: the time between the events
//! matched just before and just after it (by `(?N)` or `.`; `.*` is transparent), in seconds
//! (raw units for integer timestamps). As in ClickHouse, any number of events may lie between
//! the two events a time constraint relates. A pattern of no steps (`''`, `'.*'`) matches at
//! every event, as ClickHouse's tests expect (00222_sequence_aggregate_function_family).

use datafusion::common::{Result, plan_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOp {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeConstraint {
    pub op: TimeOp,
    /// In ticks of the timestamp's type (set by `Pattern::in_ticks`).
    pub amount: i64,
}

impl TimeConstraint {
    /// Whether `after - before` satisfies the constraint.
    pub fn holds(&self, before: i64, after: i64) -> bool {
        let gap = after.saturating_sub(before);
        match self.op {
            TimeOp::Less => gap < self.amount,
            TimeOp::LessOrEqual => gap <= self.amount,
            TimeOp::Greater => gap > self.amount,
            TimeOp::GreaterOrEqual => gap >= self.amount,
            TimeOp::Equal => gap == self.amount,
            TimeOp::NotEqual => gap != self.amount,
        }
    }
}

/// What one step consumes: an event matching a condition (0-based), or any event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atom {
    Condition(u8),
    Any,
}

/// A step: optionally skip events (`.*` or a time constraint before it), check the time
/// constraints against the previous step's event, then consume one event matching `atom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub skip_before: bool,
    pub constraints: Vec<TimeConstraint>,
    pub atom: Atom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub steps: Vec<Step>,
    /// Conditions (0-based) the pattern names: a group that never met one cannot match.
    pub conditions_used: u64,
}

impl Pattern {
    pub fn parse(function: &str, text: &str, conditions: usize) -> Result<Self> {
        let error = |position: usize, what: &str| -> Result<Self> {
            plan_err!(
                "{function}: invalid pattern '{text}' at character {}: {what}",
                position + 1
            )
        };
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut steps = Vec::new();
        let mut skip = false;
        let mut constraints: Vec<TimeConstraint> = Vec::new();
        let mut conditions_used = 0u64;
        while i < bytes.len() {
            match bytes[i] {
                b' ' | b'\t' | b'\n' => i += 1,
                b'.' if bytes.get(i + 1) == Some(&b'*') => {
                    skip = true;
                    i += 2;
                }
                b'.' => {
                    steps.push(Step {
                        skip_before: std::mem::take(&mut skip) || !constraints.is_empty(),
                        constraints: std::mem::take(&mut constraints),
                        atom: Atom::Any,
                    });
                    i += 1;
                }
                b'(' if bytes.get(i + 1) == Some(&b'?') => {
                    let Some(close) = text[i..].find(')').map(|c| c + i) else {
                        return error(i, "'(' without ')'");
                    };
                    let inner = text[i + 2..close].trim();
                    if let Some(rest) = inner.strip_prefix('t') {
                        if steps.is_empty() {
                            return error(i, "a time constraint needs an event before it");
                        }
                        constraints.push(parse_constraint(function, text, i, rest.trim())?);
                    } else {
                        let Ok(number) = inner.parse::<usize>() else {
                            return error(
                                i,
                                "expected (?N) with a condition number or (?t op seconds)",
                            );
                        };
                        if number == 0 || number > conditions {
                            return plan_err!(
                                "{function}: pattern '{text}' names condition {number}, but there are {conditions} conditions"
                            );
                        }
                        conditions_used |= 1 << (number - 1);
                        steps.push(Step {
                            skip_before: std::mem::take(&mut skip) || !constraints.is_empty(),
                            constraints: std::mem::take(&mut constraints),
                            atom: Atom::Condition((number - 1) as u8),
                        });
                    }
                    i = close + 1;
                }
                _ => return error(i, "expected (?N), (?t op S), '.' or '.*'"),
            }
        }
        if !constraints.is_empty() {
            return plan_err!(
                "{function}: pattern '{text}' ends with a time constraint; it needs an event after it"
            );
        }
        Ok(Pattern {
            steps,
            conditions_used,
        })
    }

    /// Converts the constraints' seconds into ticks of the timestamp type.
    pub fn in_ticks(mut self, ticks_per_second: i64) -> Self {
        for step in &mut self.steps {
            for constraint in &mut step.constraints {
                constraint.amount = constraint.amount.saturating_mul(ticks_per_second);
            }
        }
        self
    }
}

fn parse_constraint(function: &str, text: &str, at: usize, rest: &str) -> Result<TimeConstraint> {
    let (op, amount) = if let Some(a) = rest.strip_prefix("<=") {
        (TimeOp::LessOrEqual, a)
    } else if let Some(a) = rest.strip_prefix(">=") {
        (TimeOp::GreaterOrEqual, a)
    } else if let Some(a) = rest.strip_prefix("==") {
        (TimeOp::Equal, a)
    } else if let Some(a) = rest.strip_prefix("!=") {
        (TimeOp::NotEqual, a)
    } else if let Some(a) = rest.strip_prefix('<') {
        (TimeOp::Less, a)
    } else if let Some(a) = rest.strip_prefix('>') {
        (TimeOp::Greater, a)
    } else {
        return plan_err!(
            "{function}: invalid pattern '{text}' at character {}: a time constraint is (?t op S) with op one of <, <=, >, >=, ==, !=",
            at + 1
        );
    };
    match amount.trim().parse::<i64>() {
        Ok(amount) if amount >= 0 => Ok(TimeConstraint { op, amount }),
        _ => plan_err!(
            "{function}: invalid pattern '{text}' at character {}: the time in (?t op S) must be a non-negative integer",
            at + 1
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps() {
        let p = Pattern::parse("f", "(?1).*(?t<=3600)(?2).(?3)", 3).unwrap();
        assert_eq!(p.steps.len(), 4);
        assert!(p.steps[1].skip_before);
        assert_eq!(
            p.steps[1].constraints,
            vec![TimeConstraint {
                op: TimeOp::LessOrEqual,
                amount: 3600
            }]
        );
        assert_eq!(p.steps[2].atom, Atom::Any);
        assert_eq!(p.conditions_used, 0b101 | 0b10);
    }

    #[test]
    fn rejects_bad_patterns() {
        for (pattern, message) in [
            ("(?4)", "names condition 4"),
            ("(?0)", "names condition 0"),
            ("(?1", "without ')'"),
            ("(?x)", "expected (?N)"),
            ("(?t<5)(?1)", "needs an event before it"),
            ("(?1)(?t<5)", "ends with a time constraint"),
            ("(?1)(?t~5)(?2)", "op one of"),
            ("(?1)(?t<-5)(?2)", "non-negative integer"),
            ("(?1)x", "expected (?N), (?t op S)"),
        ] {
            let err = Pattern::parse("f", pattern, 3).unwrap_err().to_string();
            assert!(err.contains(message), "{pattern}: {err}");
        }
    }
}

//! The set expressions of `bitmap_expr` and `bitmap_expr_count`: tags combined with `&`
//! (intersection), `|` (union), `-` (difference) and `^` (symmetric difference), and
//! parentheses. `&` binds tighter than the other three, which go left to right, as
//! multiplication and addition do. A tag is a bare word or a double-quoted string (needed when
//! it holds an operator, a space or a quote: `"2026-01-01"`, `"a \"b\""`).

use roaring::RoaringTreemap;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetExpression {
    /// The set of tag number `n` (of [`ParsedExpression::tags`]).
    Tag(usize),
    And(Box<SetExpression>, Box<SetExpression>),
    Or(Box<SetExpression>, Box<SetExpression>),
    AndNot(Box<SetExpression>, Box<SetExpression>),
    Xor(Box<SetExpression>, Box<SetExpression>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedExpression {
    /// The distinct tags the expression names, in order of first appearance.
    pub tags: Vec<String>,
    pub root: SetExpression,
}

impl SetExpression {
    /// The set this expression makes of the tags' sets (`None`: a tag without rows, empty).
    pub(crate) fn evaluate(&self, sets: &[Option<RoaringTreemap>]) -> RoaringTreemap {
        match self {
            Self::Tag(n) => sets.get(*n).cloned().flatten().unwrap_or_default(),
            Self::And(a, b) => a.evaluate(sets) & b.evaluate(sets),
            Self::Or(a, b) => a.evaluate(sets) | b.evaluate(sets),
            Self::AndNot(a, b) => a.evaluate(sets) - b.evaluate(sets),
            Self::Xor(a, b) => a.evaluate(sets) ^ b.evaluate(sets),
        }
    }

    /// The intersection of tags `0..count`.
    pub(crate) fn all_of(count: usize) -> Self {
        (1..count).fold(Self::Tag(0), |all, n| {
            Self::And(Box::new(all), Box::new(Self::Tag(n)))
        })
    }
}

/// Parses `text`; an error says what was expected at which character.
pub(crate) fn parse(text: &str) -> Result<ParsedExpression, String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
        tags: Vec::new(),
    };
    let root = parser.union()?;
    parser.skip_spaces();
    if parser.at < parser.chars.len() {
        return Err(parser.expected("an operator (& | - ^) or the end"));
    }
    Ok(ParsedExpression {
        tags: parser.tags,
        root,
    })
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    tags: Vec<String>,
}

const OPERATORS: &[char] = &['&', '|', '-', '^', '(', ')', '"'];

impl Parser {
    fn skip_spaces(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_spaces();
        self.chars.get(self.at).copied()
    }

    fn expected(&self, what: &str) -> String {
        match self.chars.get(self.at) {
            Some(found) => format!(
                "expected {what} at character {}, found '{found}'",
                self.at + 1
            ),
            None => format!(
                "expected {what} at character {}, found the end",
                self.at + 1
            ),
        }
    }

    fn union(&mut self) -> Result<SetExpression, String> {
        let mut left = self.intersection()?;
        while let Some(op @ ('|' | '-' | '^')) = self.peek() {
            self.at += 1;
            let right = Box::new(self.intersection()?);
            let left_box = Box::new(left);
            left = match op {
                '|' => SetExpression::Or(left_box, right),
                '-' => SetExpression::AndNot(left_box, right),
                _ => SetExpression::Xor(left_box, right),
            };
        }
        Ok(left)
    }

    fn intersection(&mut self) -> Result<SetExpression, String> {
        let mut left = self.atom()?;
        while self.peek() == Some('&') {
            self.at += 1;
            left = SetExpression::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<SetExpression, String> {
        match self.peek() {
            Some('(') => {
                self.at += 1;
                let inner = self.union()?;
                if self.peek() != Some(')') {
                    return Err(self.expected("')'"));
                }
                self.at += 1;
                Ok(inner)
            }
            Some('"') => {
                self.at += 1;
                let mut tag = String::new();
                loop {
                    match self.chars.get(self.at) {
                        None => return Err(self.expected("the closing '\"' of a tag")),
                        Some('"') => break,
                        Some('\\') if self.chars.get(self.at + 1).is_some() => {
                            tag.push(self.chars[self.at + 1]);
                            self.at += 2;
                        }
                        Some(c) => {
                            tag.push(*c);
                            self.at += 1;
                        }
                    }
                }
                self.at += 1;
                Ok(self.tag(tag))
            }
            Some(c) if !OPERATORS.contains(&c) => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|c| !c.is_whitespace() && !OPERATORS.contains(c))
                {
                    self.at += 1;
                }
                let tag = self.chars[start..self.at].iter().collect();
                Ok(self.tag(tag))
            }
            _ => Err(self.expected("a tag or '('")),
        }
    }

    fn tag(&mut self, tag: String) -> SetExpression {
        let n = match self.tags.iter().position(|t| *t == tag) {
            Some(n) => n,
            None => {
                self.tags.push(tag);
                self.tags.len() - 1
            }
        };
        SetExpression::Tag(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(members: &[&[u64]]) -> Vec<Option<RoaringTreemap>> {
        members
            .iter()
            .map(|m| Some(m.iter().copied().collect()))
            .collect()
    }

    fn evaluate(text: &str, tag_sets: &[(&str, &[u64])]) -> Vec<u64> {
        let parsed = parse(text).unwrap();
        let by_tag: Vec<Option<RoaringTreemap>> = parsed
            .tags
            .iter()
            .map(|t| {
                tag_sets
                    .iter()
                    .find(|(name, _)| name == t)
                    .map(|(_, m)| m.iter().copied().collect())
            })
            .collect();
        parsed.root.evaluate(&by_tag).into_iter().collect()
    }

    #[test]
    fn and_binds_tighter_and_the_rest_go_left_to_right() {
        let tags: &[(&str, &[u64])] = &[("a", &[1, 2, 3]), ("b", &[2, 3, 4]), ("c", &[3, 5])];
        assert_eq!(evaluate("a & b", tags), [2, 3]);
        assert_eq!(evaluate("a | b & c", tags), [1, 2, 3]);
        assert_eq!(evaluate("(a | b) & c", tags), [3]);
        assert_eq!(evaluate("a - b | c", tags), [1, 3, 5]);
        assert_eq!(evaluate("a - (b | c)", tags), [1]);
        assert_eq!(evaluate("a ^ b", tags), [1, 4]);
        assert_eq!(evaluate("a&b&c", tags), [3]);
        // a tag without rows is the empty set
        assert_eq!(evaluate("a | missing", tags), [1, 2, 3]);
        assert_eq!(evaluate("a & missing", tags), Vec::<u64>::new());
    }

    #[test]
    fn quoted_tags_hold_operators_and_repeated_tags_are_one() {
        let parsed =
            parse(r#""2026-01-01" & ("2026-01-02" | "2026-01-01") & "say \"hi\"""#).unwrap();
        assert_eq!(parsed.tags, ["2026-01-01", "2026-01-02", "say \"hi\""]);
        let s = sets(&[&[1, 2], &[2, 9], &[1, 2, 3]]);
        assert_eq!(
            parsed.root.evaluate(&s).into_iter().collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(parse("会员 & 新客").unwrap().tags, ["会员", "新客"]);
    }

    #[test]
    fn errors_name_the_character() {
        assert_eq!(
            parse("(a | b").unwrap_err(),
            "expected ')' at character 7, found the end"
        );
        assert_eq!(
            parse("a & | b").unwrap_err(),
            "expected a tag or '(' at character 5, found '|'"
        );
        assert_eq!(
            parse("a b").unwrap_err(),
            "expected an operator (& | - ^) or the end at character 3, found 'b'"
        );
        assert!(parse("").is_err());
        assert!(parse("\"open").unwrap_err().contains("closing"));
    }

    #[test]
    fn all_of_is_the_intersection() {
        let s = sets(&[&[1, 2, 3], &[2, 3], &[3, 2, 7]]);
        let all = SetExpression::all_of(3).evaluate(&s);
        assert_eq!(all.into_iter().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(SetExpression::all_of(1).evaluate(&s).len(), 3);
    }
}

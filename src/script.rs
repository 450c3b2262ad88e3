//! Splits SQL text into statements, keeping the line each one starts on, and substitutes
//! `${NAME}` variables. The splitter understands quotes and comments (a `;` inside either does
//! not end a statement); variables are replaced in code and string literals, never in comments,
//! so a commented-out line cannot fail a job.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 1-based position in the script.
    pub number: usize,
    /// 1-based line of the statement's first character.
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Code,
    Quoted,
    Comment,
}

/// One statement's pieces, so substitution can skip comments.
#[derive(Debug, Default)]
struct RawStatement {
    line: usize,
    pieces: Vec<(Segment, String)>,
    has_code: bool,
}

struct Splitter {
    statements: Vec<RawStatement>,
    current: RawStatement,
    /// Whether the text ended inside a quote or block comment.
    unterminated: bool,
}

fn split_raw(sql: &str) -> Splitter {
    let chars: Vec<char> = sql.chars().collect();
    let mut splitter = Splitter {
        statements: Vec::new(),
        current: RawStatement::default(),
        unterminated: false,
    };
    let mut line = 1usize;
    let mut i = 0;
    let push = |stmt: &mut RawStatement, kind: Segment, text: String, line: usize| {
        if !stmt.has_code && (kind == Segment::Comment || text.trim().is_empty()) {
            // what precedes the first token (blank lines, a header comment) is not part of
            // the statement, so its line is its first token's and its summary is its SQL
            return;
        }
        if kind != Segment::Comment && !stmt.has_code {
            stmt.has_code = true;
            stmt.line = line;
        }
        stmt.pieces.push((kind, text));
    };
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\'' || c == '"' || c == '`' {
            let quote = c;
            let mut text = String::from(c);
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                let d = chars[i];
                text.push(d);
                i += 1;
                if d == '\n' {
                    line += 1;
                }
                if d == quote {
                    // a doubled quote is an escaped quote
                    if i < chars.len() && chars[i] == quote {
                        text.push(quote);
                        i += 1;
                        continue;
                    }
                    closed = true;
                    break;
                }
            }
            splitter.unterminated |= !closed;
            push(&mut splitter.current, Segment::Quoted, text, start_line);
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            let mut text = String::new();
            while i < chars.len() && chars[i] != '\n' {
                text.push(chars[i]);
                i += 1;
            }
            push(&mut splitter.current, Segment::Comment, text, start_line);
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut text = String::from("/*");
            i += 2;
            let mut closed = false;
            while i < chars.len() {
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    text.push_str("*/");
                    i += 2;
                    closed = true;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                text.push(chars[i]);
                i += 1;
            }
            splitter.unterminated |= !closed;
            push(&mut splitter.current, Segment::Comment, text, start_line);
        } else if c == ';' {
            i += 1;
            let finished = std::mem::take(&mut splitter.current);
            if finished.has_code {
                splitter.statements.push(finished);
            }
        } else {
            let mut text = String::new();
            while i < chars.len() {
                let d = chars[i];
                let starts_other = d == '\''
                    || d == '"'
                    || d == '`'
                    || d == ';'
                    || (d == '-' && chars.get(i + 1) == Some(&'-'))
                    || (d == '/' && chars.get(i + 1) == Some(&'*'));
                if starts_other {
                    break;
                }
                if d == '\n' {
                    line += 1;
                }
                text.push(d);
                i += 1;
            }
            // the statement starts at its first non-blank character
            let leading_newlines = text
                .chars()
                .take_while(|ch| ch.is_whitespace())
                .filter(|ch| *ch == '\n')
                .count();
            push(
                &mut splitter.current,
                Segment::Code,
                text,
                start_line + leading_newlines,
            );
        }
    }
    splitter
}

/// The statements of `sql`, without variables substituted.
pub fn split_statements(sql: &str) -> Vec<Statement> {
    let splitter = split_raw(sql);
    let mut raw = splitter.statements;
    if splitter.current.has_code {
        raw.push(splitter.current);
    }
    raw.into_iter()
        .enumerate()
        .map(|(index, stmt)| Statement {
            number: index + 1,
            line: stmt.line,
            text: stmt
                .pieces
                .into_iter()
                .map(|(_, text)| text)
                .collect::<String>()
                .trim()
                .to_string(),
        })
        .collect()
}

/// True when `sql` ends with a `;` outside quotes and comments: the shell's cue to run it.
pub fn is_complete(sql: &str) -> bool {
    let splitter = split_raw(sql);
    !splitter.unterminated && !splitter.statements.is_empty() && !splitter.current.has_code
}

pub fn is_valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `sql` and substitutes `${NAME}` in every statement. Any unknown variable is an
/// error before anything runs, naming the variable, the statement and its line.
pub fn prepare_script(sql: &str, variables: &BTreeMap<String, String>) -> Result<Vec<Statement>> {
    let splitter = split_raw(sql);
    let mut raw = splitter.statements;
    if splitter.current.has_code {
        raw.push(splitter.current);
    }
    let mut statements = Vec::with_capacity(raw.len());
    for (index, stmt) in raw.into_iter().enumerate() {
        let number = index + 1;
        // Substitution runs over the whole statement (a default may hold quotes), skipping
        // references that start inside a comment.
        let mut raw_text = String::new();
        let mut comments = Vec::new();
        for (kind, piece) in &stmt.pieces {
            if *kind == Segment::Comment {
                comments.push(raw_text.len()..raw_text.len() + piece.len());
            }
            raw_text.push_str(piece);
        }
        let mut text = String::new();
        substitute(&raw_text, &comments, variables, &mut text).map_err(|message| {
            Error::Statement {
                number,
                line: stmt.line,
                source: Box::new(Error::usage(message)),
            }
        })?;
        statements.push(Statement {
            number,
            line: stmt.line,
            text: text.trim().to_string(),
        });
    }
    Ok(statements)
}

/// The names of the variables `sql` refers to outside comments, each once, in order of first
/// use (`${NAME}` and `${NAME:-default}` alike).
pub fn referenced_variables(sql: &str) -> Vec<String> {
    let splitter = split_raw(sql);
    let mut raw = splitter.statements;
    if splitter.current.has_code {
        raw.push(splitter.current);
    }
    let mut names: Vec<String> = Vec::new();
    for stmt in raw {
        for (kind, piece) in &stmt.pieces {
            if *kind == Segment::Comment {
                continue;
            }
            let mut rest = piece.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let name = &after[..end];
                if is_valid_variable_name(name) && !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
                rest = &after[end..];
            }
        }
    }
    names
}

fn substitute(
    text: &str,
    comments: &[std::ops::Range<usize>],
    variables: &BTreeMap<String, String>,
    out: &mut String,
) -> std::result::Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let absolute = text.len() - rest.len() + start;
        if comments.iter().any(|c| c.contains(&absolute)) {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated variable reference '{}'", &rest[start..]))?;
        let reference = &after[..end];
        // `${NAME:-default}` falls back to its default when NAME is not given.
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if !is_valid_variable_name(name) {
            return Err(format!(
                "'${{{reference}}}' is not a valid variable reference"
            ));
        }
        match variables.get(name).map(String::as_str).or(default) {
            Some(value) => out.push_str(value),
            None => {
                let known: Vec<&str> = variables.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown variable ${{{name}}} (defined: {}); pass it with --var {name}=VALUE",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_lines_and_ignores_semicolons_in_quotes_and_comments() {
        let sql = "-- header; not a statement\nSELECT 1;\n\n  SELECT ';' AS x, \"a;b\" -- c;\n  FROM t;\n/* x; */ SELECT 3";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0].line, 2);
        assert_eq!(statements[0].text, "SELECT 1");
        assert_eq!(statements[1].line, 4);
        assert!(statements[1].text.starts_with("SELECT ';' AS x, \"a;b\""));
        assert_eq!(statements[2].line, 6);
        assert_eq!(statements[2].number, 3);
    }

    #[test]
    fn doubled_quotes_are_escapes() {
        let statements = split_statements("SELECT 'it''s; fine'; SELECT 2;");
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].text, "SELECT 'it''s; fine'");
    }

    #[test]
    fn completeness_for_the_shell() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- trailing comment"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1; SELECT"));
        assert!(!is_complete("/* ; "));
    }

    #[test]
    fn substitutes_variables_but_not_in_comments() {
        let vars = BTreeMap::from([("out".to_string(), "/tmp/o".to_string())]);
        let statements = prepare_script(
            "-- ${unknown} is fine here\nCOPY t TO '${out}/x.parquet';",
            &vars,
        )
        .unwrap();
        assert!(statements[0].text.ends_with("COPY t TO '/tmp/o/x.parquet'"));
    }

    #[test]
    fn unknown_variable_names_statement_and_line() {
        let vars = BTreeMap::new();
        let err = prepare_script("SELECT 1;\n\nSELECT ${missing};", &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("statement 2 (line 3)"), "{err}");
        assert!(err.contains("${missing}"), "{err}");
    }

    #[test]
    fn defaults_apply_when_a_variable_is_not_given() {
        let vars = BTreeMap::from([("days".to_string(), "14".to_string())]);
        let statements =
            prepare_script("SELECT ${days:-7}, '${mode:-}', ${steps:-'a','b'};", &vars).unwrap();
        assert_eq!(statements[0].text, "SELECT 14, '', 'a','b'");
        let err = prepare_script("SELECT ${bad name};", &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid variable reference"), "{err}");
    }

    #[test]
    fn referenced_variables_skip_comments_and_repeat_once() {
        let names = referenced_variables(
            "-- ${in_comment}\nSELECT ${a}, '${b:-x}', ${a}\n/* ${c} */ FROM t WHERE d = ${tz:-'UTC'};",
        );
        assert_eq!(names, vec!["a", "b", "tz"]);
    }

    #[test]
    fn variable_names() {
        assert!(is_valid_variable_name("start_date"));
        assert!(!is_valid_variable_name("1x"));
        assert!(!is_valid_variable_name("a-b"));
        assert!(!is_valid_variable_name(""));
    }
}

//! JDBC and ADBC send parameters as `?` (the DB-API "qmark" style); DataFusion numbers them
//! `$1`, `$2`, ... This numbers the `?` of a statement in the order they appear, using the SQL
//! tokenizer so that a `?` inside a string literal, a quoted identifier or a comment is left alone.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// The statement with each bare `?` replaced by `$1`, `$2`, ...; unchanged when it has none.
/// Mixing `?` with numbered placeholders is refused: which number would a `?` take?
pub fn number_question_marks(sql: &str) -> Result<String, String> {
    if !sql.contains('?') {
        return Ok(sql.to_string());
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| format!("cannot read the statement: {e}"))?;
    let mut question_marks = Vec::new();
    let mut numbered = false;
    for token in &tokens {
        if let Token::Placeholder(name) = &token.token {
            if name == "?" {
                question_marks.push(token.span.start);
            } else {
                numbered = true;
            }
        }
    }
    if question_marks.is_empty() {
        return Ok(sql.to_string());
    }
    if numbered {
        return Err(
            "the statement mixes `?` and numbered placeholders ($1, ...): use one style".into(),
        );
    }
    let line_starts = line_starts(sql);
    let mut rewritten = String::with_capacity(sql.len() + question_marks.len() * 2);
    let mut copied_up_to = 0;
    for (index, location) in question_marks.iter().enumerate() {
        let offset = byte_offset(sql, &line_starts, *location)
            .ok_or_else(|| format!("cannot locate the placeholder at {location}"))?;
        rewritten.push_str(&sql[copied_up_to..offset]);
        rewritten.push_str(&format!("${}", index + 1));
        copied_up_to = offset + 1;
    }
    rewritten.push_str(&sql[copied_up_to..]);
    Ok(rewritten)
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The tokenizer counts lines and columns (in characters) from 1.
fn byte_offset(sql: &str, line_starts: &[usize], location: Location) -> Option<usize> {
    let line_start = *line_starts.get(usize::try_from(location.line).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
    let offset = sql[line_start..]
        .char_indices()
        .nth(column)
        .map(|(i, _)| line_start + i)?;
    (sql.as_bytes().get(offset) == Some(&b'?')).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::number_question_marks;

    #[test]
    fn numbers_question_marks_in_order() {
        let sql = "SELECT * FROM events WHERE event_name = ? AND amount > ?";
        assert_eq!(
            number_question_marks(sql).expect("valid"),
            "SELECT * FROM events WHERE event_name = $1 AND amount > $2"
        );
    }

    #[test]
    fn leaves_literals_identifiers_and_comments_alone() {
        let sql = "SELECT 'why?', \"q?\" -- really?\n, x FROM t /* ? */ WHERE y = ? AND z = 'é?'";
        assert_eq!(
            number_question_marks(sql).expect("valid"),
            "SELECT 'why?', \"q?\" -- really?\n, x FROM t /* ? */ WHERE y = $1 AND z = 'é?'"
        );
        assert_eq!(
            number_question_marks("SELECT 'a?'").expect("valid"),
            "SELECT 'a?'"
        );
    }

    #[test]
    fn handles_multibyte_text_before_the_placeholder() {
        let sql = "SELECT '渠道', ?\nFROM t WHERE c = '微信' AND d = ?";
        assert_eq!(
            number_question_marks(sql).expect("valid"),
            "SELECT '渠道', $1\nFROM t WHERE c = '微信' AND d = $2"
        );
    }

    #[test]
    fn refuses_mixed_styles() {
        let error = number_question_marks("SELECT $1, ?").expect_err("mixed");
        assert!(error.contains("mixes"), "{error}");
        assert_eq!(
            number_question_marks("SELECT $1").expect("valid"),
            "SELECT $1"
        );
    }
}

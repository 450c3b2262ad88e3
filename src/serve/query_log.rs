//! One line per query on standard error: when, who, what kind, outcome, rows, duration and the
//! statement (whitespace collapsed, shortened). Tokens never reach it: only the user name does.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{SecondsFormat, Utc};

/// How a query ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error(String),
    TimedOut,
    /// The client went away before the last batch.
    Cancelled,
}

/// Statement text longer than this is cut in the log.
const LOGGED_SQL_CHARS: usize = 300;

/// A query in flight. It writes its line exactly once: when `finish` is called, or when it is
/// dropped unfinished (the response stream was dropped because the client disconnected).
#[derive(Debug)]
pub struct QueryRecord {
    user: String,
    kind: &'static str,
    sql: String,
    started: Instant,
    rows: u64,
    logged: bool,
}

impl QueryRecord {
    pub fn start(user: &str, kind: &'static str, sql: &str) -> Self {
        QueryRecord {
            user: user.to_string(),
            kind,
            sql: one_line(sql),
            started: Instant::now(),
            rows: 0,
            logged: false,
        }
    }

    pub fn add_rows(&mut self, rows: usize) {
        self.rows += rows as u64;
    }

    pub fn finish(&mut self, outcome: Outcome) {
        if self.logged {
            return;
        }
        self.logged = true;
        log::info!("{}", self.line(&outcome));
    }

    fn line(&self, outcome: &Outcome) -> String {
        let mut line = format!(
            "{} query user={} kind={} outcome=",
            now(),
            self.user,
            self.kind
        );
        match outcome {
            Outcome::Ok => line.push_str("ok"),
            Outcome::TimedOut => line.push_str("timeout"),
            Outcome::Cancelled => line.push_str("cancelled"),
            Outcome::Error(_) => line.push_str("error"),
        }
        let _ = write!(
            line,
            " rows={} duration_ms={:.1}",
            self.rows,
            self.started.elapsed().as_secs_f64() * 1e3
        );
        if let Outcome::Error(message) = outcome {
            let _ = write!(line, " error={:?}", one_line(message));
        }
        let _ = write!(line, " sql={:?}", self.sql);
        line
    }
}

impl Drop for QueryRecord {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A refused call (a bad token, a failed handshake): from where, and why; never what was sent.
pub fn log_refusal(call: &str, peer: Option<std::net::SocketAddr>, reason: &str) {
    let peer = peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
    log::info!(
        "{} refused call={call} peer={peer} reason={reason:?}",
        now()
    );
}

fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(LOGGED_SQL_CHARS) {
        Some((cut, _)) => format!("{}...", &collapsed[..cut]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_user_outcome_rows_and_statement() {
        let mut record = QueryRecord::start("alice", "statement", "SELECT 1\n  FROM t");
        record.add_rows(3);
        let line = record.line(&Outcome::Error("bad\ncolumn".into()));
        assert!(
            line.contains(" query user=alice kind=statement outcome=error rows=3 "),
            "{line}"
        );
        assert!(
            line.ends_with(r#"error="bad column" sql="SELECT 1 FROM t""#),
            "{line}"
        );
        record.finish(Outcome::Ok);
        assert!(record.logged);
    }

    #[test]
    fn long_statements_are_shortened() {
        let sql = format!("SELECT '{}'", "é".repeat(1000));
        let shortened = one_line(&sql);
        assert_eq!(shortened.chars().count(), LOGGED_SQL_CHARS + 3);
    }
}

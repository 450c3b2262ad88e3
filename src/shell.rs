//! The interactive shell: multi-line statements (a statement runs when a line ends it with
//! `;`), history in `~/.userlake_history`, and backslash commands for browsing the lake.

use std::path::PathBuf;

use datafusion::prelude::SessionContext;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::error::{Error, Result};
use crate::output::{OutputFormat, write_batches};
use crate::query::execute;
use crate::script::{Statement, is_complete, split_statements};

const HELP: &str = "\
Statements end with ';' and may span lines. Commands:
  \\d            list tables
  \\d TABLE      columns of TABLE
  \\f [PATTERN]  userlake's functions (SHOW FUNCTIONS lists every function)
  \\?            this help
  \\q            quit (or Ctrl-D)";

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".userlake_history"))
}

pub async fn run_shell(ctx: &SessionContext) -> Result<()> {
    let mut editor =
        DefaultEditor::new().map_err(|e| Error::context("cannot start the shell", e))?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!("userlake shell: statements end with ';', \\? for help, \\q to quit");

    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "userlake> "
        } else {
            "      ... "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && line.trim_start().starts_with('\\') {
                    let _ = editor.add_history_entry(line.as_str());
                    if !run_command(ctx, line.trim()).await {
                        break;
                    }
                    continue;
                }
                if !buffer.is_empty() {
                    buffer.push('\n');
                }
                buffer.push_str(&line);
                if buffer.trim().is_empty() {
                    buffer.clear();
                    continue;
                }
                if is_complete(&buffer) {
                    let _ = editor.add_history_entry(buffer.as_str());
                    for statement in split_statements(&buffer) {
                        run_and_print(ctx, &statement).await;
                    }
                    buffer.clear();
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::context("shell input", e)),
        }
    }
    // A statement typed without its ';' before Ctrl-D still runs.
    for statement in split_statements(&buffer) {
        run_and_print(ctx, &statement).await;
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

async fn run_and_print(ctx: &SessionContext, statement: &Statement) {
    match execute(ctx, statement).await {
        Ok(result) => {
            if result.schema.fields().is_empty() {
                println!("OK ({:.3}s)", result.elapsed.as_secs_f64());
                return;
            }
            let stdout = std::io::stdout();
            if let Err(e) = write_batches(
                stdout.lock(),
                OutputFormat::Table,
                &result.schema,
                &result.batches,
            ) {
                eprintln!("error: {e}");
            }
            let rows = result.row_count();
            println!(
                "{rows} row{} in {:.3}s",
                if rows == 1 { "" } else { "s" },
                result.elapsed.as_secs_f64()
            );
        }
        Err(e) => eprintln!("error: {e}"),
    }
}

/// Runs a backslash command; false means quit.
async fn run_command(ctx: &SessionContext, line: &str) -> bool {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    let sql = match (command, argument) {
        ("\\q", _) => return false,
        ("\\?" | "\\h", _) => {
            println!("{HELP}");
            return true;
        }
        ("\\d", None) => "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
            .to_string(),
        ("\\d", Some(table)) => {
            let exists = ctx.table_exist(table).unwrap_or(false);
            if !exists {
                eprintln!("error: no table named '{table}' (\\d lists them)");
                return true;
            }
            format!(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position",
                table.replace('\'', "''")
            )
        }
        ("\\f", pattern) => {
            // table functions are not in information_schema.routines: print their docs here
            for (name, _) in userlake_udfs::table_functions() {
                if let Some(doc) = userlake_udfs::table_function_documentation(name)
                    .filter(|_| pattern.is_none_or(|p| name.contains(p)))
                {
                    println!(
                        "{name} (table function): {}\n  {}\n",
                        doc.syntax_example, doc.description
                    );
                }
            }
            let names = userlake_udfs::function_names();
            let list = names
                .iter()
                .filter(|name| pattern.is_none_or(|p| name.contains(p)))
                .map(|name| format!("'{name}'"))
                .collect::<Vec<_>>();
            if list.is_empty() {
                println!("no userlake function matches");
                return true;
            }
            format!(
                "SELECT DISTINCT routine_name AS function, function_type, description, syntax_example \
                 FROM information_schema.routines WHERE routine_name IN ({}) \
                 ORDER BY routine_name",
                list.join(", ")
            )
        }
        _ => {
            eprintln!("error: unknown command '{line}' (\\? for help)");
            return true;
        }
    };
    let statement = Statement {
        number: 1,
        line: 1,
        text: sql,
    };
    run_and_print(ctx, &statement).await;
    true
}

//! Diagnostics through the `log` facade: userlake's own progress (a job's statements and steps,
//! a server's query log) and what DataFusion, the object store and the server's libraries
//! report, filtered by `RUST_LOG` when it is set, else by `--verbose`.
//!
//! userlake's own information lines print as plain lines on stderr, as the CLI always printed
//! them; its warnings start with `warning:`; lines from other crates, and debug lines, say
//! their level and where they come from.

use std::io::Write;

/// The filter without `RUST_LOG`: userlake's progress and everyone's warnings; each
/// `--verbose` shows one level more.
fn default_filter(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "warn,userlake=info,userlake_udfs=info",
        1 => "info,userlake=debug,userlake_udfs=debug",
        _ => "debug,userlake=trace,userlake_udfs=trace",
    }
}

/// Installs the logger for this process; a second call changes nothing.
pub fn init(verbosity: u8) {
    let env = env_logger::Env::default().default_filter_or(default_filter(verbosity));
    let _ = env_logger::Builder::from_env(env)
        .format(|out, record| {
            let ours = record.target().starts_with("userlake");
            match record.level() {
                log::Level::Info if ours => writeln!(out, "{}", record.args()),
                log::Level::Warn if ours => writeln!(out, "warning: {}", record.args()),
                level => writeln!(out, "[{level} {}] {}", record.target(), record.args()),
            }
        })
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::default_filter;

    #[test]
    fn each_verbose_flag_shows_one_level_more() {
        assert!(default_filter(0).contains("userlake=info"));
        assert!(default_filter(1).starts_with("info,"));
        assert!(default_filter(3).contains("userlake=trace"));
    }
}

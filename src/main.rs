use std::process::ExitCode;

use clap::Parser;
use userlake::cli::{Cli, run};

fn main() -> ExitCode {
    // A panic is a bug in userlake; say so in one line instead of a backtrace.
    // A backtrace only when asked for, with RUST_BACKTRACE.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("internal error (please report): {info}");
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
    let cli = Cli::parse();
    userlake::logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

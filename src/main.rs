use credverify::cli::{self, Command};

#[tokio::main]
async fn main() {
    let (cli, database_given) = cli::parse();
    let long_running = matches!(cli.command, Command::Worker(_) | Command::Sandbox(_));
    if !long_running {
        // `credverify list | head`: a closed pipe ends a one-shot command
        // quietly, as it does any Unix tool, instead of a panic on println!.
        // Long-running commands keep Rust's default (EPIPE as an error) for
        // their sockets.
        // SAFETY: setting a signal disposition before any thread writes.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    cli::logging::init(&cli);
    if let Err(e) = cli::execute(cli, database_given).await {
        // The message can quote outside text (a name, a page, a path).
        eprintln!("{}", cli::terminal::safe(&e.to_string()));
        std::process::exit(e.code);
    }
}

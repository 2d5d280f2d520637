use clap::Parser;
use credverify::cli::{self, Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn init_tracing(cli: &Cli) {
    // Long-running commands narrate at info; one-shot commands keep stderr
    // for warnings so their output stays readable and scriptable.
    let default = match cli.command {
        Command::Worker(_) | Command::Sandbox(_) => "info",
        _ => "warn",
    };
    let mut filter = EnvFilter::try_from_env("CREDVERIFY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            EnvFilter::new(format!("{default},sqlx=warn,apalis=warn,apalis_core=warn"))
        });
    // At debug level these echo the pages and requests they handle, which
    // carry 在线验证码 and names: capped whatever the filter asks for.
    for quiet in [
        "html5ever=warn",
        "selectors=warn",
        "reqwest=info",
        "hyper=info",
        "hyper_util=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour codes only for a person at a terminal, never into a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Human => builder.init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
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
    init_tracing(&cli);
    if !matches!(cli.command, Command::Sandbox(_) | Command::Demo(_)) {
        // Which database answered: a forgotten --database-url otherwise
        // creates and answers from a file in the home directory unnoticed.
        tracing::info!(database = %credverify::redact::url(&cli.database_url), "database");
        if std::env::var_os("CREDVERIFY_DATABASE_URL").is_none()
            && !std::env::args().any(|a| a.starts_with("--database-url"))
        {
            eprintln!(
                "credverify: no --database-url given; using {}",
                credverify::redact::url(&cli.database_url)
            );
        }
    }
    if let Err(e) = cli::execute(cli).await {
        eprintln!("{e}");
        std::process::exit(e.code);
    }
}

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    init_tracing(&cli);
    if let Err(e) = cli::execute(cli).await {
        eprintln!("{e}");
        std::process::exit(e.code);
    }
}

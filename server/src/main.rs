use clap::Parser;
use server::config::Command;
use server::Config;
use std::io::Write;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::parse();
    if let Some(Command::User(cmd)) = config.command.take() {
        let done =
            server::cli::user::run(&config, &cmd, std::io::stdin().lock(), std::io::stdout()).await;
        if let Err(e) = done {
            eprintln!("server user: {e}");
            std::process::exit(1);
        }
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    // Bound before anything is printed: a scraper's address that is taken stops the start.
    let metrics = match config.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {at}: {e}"))?,
        ),
        None => None,
    };
    println!("listening on http://{addr}");
    if let Some(m) = &metrics {
        println!("metrics on http://{}/metrics", m.local_addr()?);
    }
    std::io::stdout().flush()?;
    server::run(listener, metrics, config, server::shutdown::signal()).await?;
    Ok(())
}

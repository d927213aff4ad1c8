use clap::Parser;
use server::config::{Command, LogFormat};
use server::Config;
use std::io::Write;

/// The fan-out frees one buffer per message, and a pass's concatenated frames, as fast as it
/// makes them: glibc's malloc spent about 10% of the runtime thread on that (`malloc_consolidate`
/// on every free of 64 KiB or more, heap trims), mimalloc a fraction of it. Measured with
/// `bench/ab.sh throughput`: see bench/README.md. The library's own tests keep the system
/// allocator; this is the binary's choice.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::parse();
    match config.command.take() {
        Some(Command::User(cmd)) => {
            let done =
                server::cli::user::run(&config, &cmd, std::io::stdin().lock(), std::io::stdout())
                    .await;
            if let Err(e) = done {
                eprintln!("server user: {e}");
                std::process::exit(1);
            }
            return Ok(());
        }
        Some(Command::Backup { path }) => {
            if let Err(e) = server::cli::backup::run(&config, &path, std::io::stdout()) {
                eprintln!("server backup: {e}");
                std::process::exit(1);
            }
            return Ok(());
        }
        None => {}
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        // Each line carries the fields of the span it is in (a connection's id, peer, user…),
        // recorded ones included.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let listener = server::listen::bind(config.listen)
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
    // Opened before the address is printed: a data directory in use stops the start, and
    // whoever waits for the line below finds the store open.
    let hub = server::open(config).await?;
    println!("listening on http://{addr}");
    if let Some(m) = &metrics {
        println!("metrics on http://{}/metrics", m.local_addr()?);
    }
    std::io::stdout().flush()?;
    server::run(listener, metrics, hub, server::shutdown::signal()).await?;
    Ok(())
}

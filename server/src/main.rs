use std::path::PathBuf;

use clap::{Parser, Subcommand};
use yunqiao::config::Config;

#[derive(Parser)]
#[command(
    name = "yunqiao",
    version,
    about = "Backend-as-a-service for WeChat mini-programs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every API on one port with the embedded store.
    Serve {
        /// Address to listen on [env: YUNQIAO_ADDR] (default 127.0.0.1:8787).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
        /// Where data lives; created on first start [env: YUNQIAO_DATA_DIR] (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML config file [env: YUNQIAO_CONFIG] (default ./yunqiao.toml when present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("YUNQIAO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log redirected to a file stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Serve {
        addr,
        data_dir,
        config,
    } = cli.command;
    let mut cfg = match Config::load(config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yunqiao: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(a) = addr {
        cfg.addr = a;
    }
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    init_logs(&cfg.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yunqiao: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(yunqiao::serve::run(cfg)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yunqiao: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

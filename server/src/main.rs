use std::path::PathBuf;

use clap::{Parser, Subcommand};
use yunqiao::config::{Config, Env};

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
    /// Cloud functions on a running server.
    Functions {
        #[command(subcommand)]
        command: FunctionsCommand,
    },
    /// Apply a project file (tables, KV namespaces, topic rules, function modules) to a
    /// running server; idempotent. Reads everything first and changes nothing when an
    /// item would be refused.
    Apply {
        /// The project file (JSON).
        file: PathBuf,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Allow table changes that drop fields (their values are lost).
        #[arg(long)]
        drop: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Write everything the app owns (tables and records, users and groups, KV, topic
    /// rules, function modules, files and their bytes) to one archive
    /// (docs/export-format.md). Stop `yunqiao serve` on an embedded store first.
    Export {
        /// The archive to write (a gzip'd tar).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Import an archive of `yunqiao export`: every item upserted by its id (importing
    /// twice changes nothing more); the whole archive is checked first, and nothing is
    /// written when any of it is refused. Or move in from another backend:
    /// `--from leancloud DIR` or `--from cloudbase DIR` converts its export (tables with
    /// inferred schemas, users by openid, owners, files) and imports that.
    Import {
        /// The archive; with --from, the other backend's export directory.
        file: PathBuf,
        /// Check and print what would be created or changed (and, with --from, what
        /// cannot be mapped); write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        moving_in: yunqiao::moving_in::MovingInArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the store is: the options `serve` takes for it.
#[derive(clap::Args)]
struct StoreArgs {
    /// The embedded store's directory [env: YUNQIAO_DATA_DIR] (default ./data); with
    /// `store.kind = "dynamodb"` (YUNQIAO_STORE=dynamodb) the DynamoDB table and S3 bucket
    /// of the configuration instead.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A TOML config file [env: YUNQIAO_CONFIG] (default ./yunqiao.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum FunctionsCommand {
    /// Deploy every DIR/<module>.js (settings from DIR/<module>.json when present).
    Deploy {
        dir: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(clap::Args)]
struct Target {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// Where admin.key is, when YUNQIAO_ADMIN_KEY is not set.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
}

/// Runs an admin-client command; exit status 1 with the reason on failure.
fn run_client(
    target: Target,
    job: impl AsyncFnOnce(yunqiao::client::Admin) -> Result<(), yunqiao::client::BoxError>,
) -> std::process::ExitCode {
    let r = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| -> yunqiao::client::BoxError { e.into() })
        .and_then(|rt| {
            rt.block_on(async {
                let key = yunqiao::client::admin_key(&target.data_dir)?;
                let admin = yunqiao::client::Admin::new(&target.url, key)?;
                job(admin).await
            })
        });
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yunqiao: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a tool on the store of the configuration (`serve`'s options); exit status 1 with
/// the reason on failure, 2 for a configuration it cannot read.
fn run_tool(
    store: StoreArgs,
    job: impl AsyncFnOnce(Config) -> Result<(), yunqiao::serve::BoxError>,
) -> std::process::ExitCode {
    let mut cfg = match Config::load(store.config.as_deref(), &Env::process()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yunqiao: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(d) = store.data_dir {
        cfg.data_dir = d;
    }
    init_logs(&cfg.log, &cfg.log_format);
    let r = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| -> yunqiao::serve::BoxError { e.into() })
        .and_then(|rt| rt.block_on(job(cfg)));
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yunqiao: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logs(filter: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
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
    // This executable is also the cloud-function sandbox's worker process.
    yunqiao_quickjs::enter_if_worker();
    let cli = Cli::parse();
    let (addr, data_dir, config) = match cli.command {
        Command::Serve {
            addr,
            data_dir,
            config,
        } => (addr, data_dir, config),
        Command::Export { out, store } => {
            return run_tool(store, async |cfg| yunqiao::dump::export(&cfg, &out).await);
        }
        Command::Import {
            file,
            dry_run,
            moving_in,
            store,
        } => {
            if moving_in.from.is_none() {
                return run_tool(store, async |cfg| {
                    yunqiao::dump::import(&cfg, &file, dry_run).await
                });
            }
            // Moving in: convert first (its report printed), then import the archive.
            let converted = match yunqiao::moving_in::run(&file, dry_run, &moving_in) {
                Ok(None) => return std::process::ExitCode::SUCCESS,
                Ok(Some(c)) => c,
                Err(e) => {
                    eprintln!("yunqiao: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            return run_tool(store, async |cfg| {
                yunqiao::dump::import(&cfg, converted.archive.path(), false).await
            });
        }
        Command::Functions {
            command: FunctionsCommand::Deploy { dir, target },
        } => {
            return run_client(target, async |a| {
                yunqiao::client::deploy_dir(&a, &dir).await
            });
        }
        Command::Apply {
            file,
            dry_run,
            drop,
            target,
        } => {
            let opts = yunqiao::client::ApplyOptions { dry_run, drop };
            return run_client(target, async |a| {
                yunqiao::client::apply(&a, &file, opts).await
            });
        }
    };
    // The environment is read here, once; nothing downstream reads it again.
    let mut cfg = match Config::load(config.as_deref(), &Env::process()) {
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
    init_logs(&cfg.log, &cfg.log_format);
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

//! The `m365-operator` binary: the controller, its CRDs, and the Graph simulator.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use m365_operator::{api, reconcile};

#[derive(Parser)]
#[command(
    version,
    about = "Runs the Microsoft 365 / Entra ID user lifecycle from Kubernetes resources"
)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "M365_LOG_FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers against the cluster in KUBECONFIG or the pod's service account.
    Run {
        /// Reconcile Users in this namespace only (Tenants are cluster-scoped and always watched).
        #[arg(long, env = "M365_WATCH_NAMESPACE")]
        namespace: Option<String>,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Serve the Microsoft Graph simulator on a loopback address, for tests and demos.
    Sim {
        /// Address to listen on; port 0 picks a free one. Loopback only.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The simulated tenant (clients, SKUs, seed users) as YAML or JSON.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Crd => {
            print!("{}", api::crds_yaml());
            Ok(())
        }
        Command::Run { namespace } => run(namespace).await,
        Command::Sim { listen, config } => simulate(listen, config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(namespace: Option<String>) -> Result<(), String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    reconcile::run(client, reconcile::Scope { namespace })
        .await
        .map_err(|e| format!("controller stopped: {e}"))
}

async fn simulate(listen: SocketAddr, config: Option<PathBuf>) -> Result<(), String> {
    // The simulator accepts any caller and holds test credentials: never expose it.
    if !listen.ip().is_loopback() {
        return Err(format!(
            "the simulator listens on loopback addresses only, not {listen}"
        ));
    }
    let config: graph_sim::Config = match &config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => graph_sim::Config::default(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let handle = graph_sim::serve(config, listener)
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    // Scripts read the address from this line.
    println!("Graph simulator listening on {}", handle.base_url());
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("M365_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,kube_runtime=warn,kube_client=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes are noise in a file or a log collector.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

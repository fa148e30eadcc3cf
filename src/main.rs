//! The `m365-operator` binary: the controller, its CRDs, and the Graph simulator.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use m365_operator::http::{self, Health};
use m365_operator::leader::{self, Elector, LeaseSettings};
use m365_operator::tokens::SigningKeys;
use m365_operator::{admission, api, metrics, reconcile, roles};

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
    Run(RunArgs),
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
    /// Check a CSV file of new hires and write their User manifests or apply them.
    Import(m365_operator::import::ImportArgs),
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
        Command::Run(args) => run(args).await,
        Command::Sim { listen, config } => simulate(listen, config).await,
        Command::Import(args) => m365_operator::import::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Reconcile Users in this namespace only (Tenants are cluster-scoped and always watched).
    #[arg(long, env = "M365_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Reconcile only the Tenants matching this label selector (all Tenants by default).
    #[arg(long, env = "M365_TENANT_SELECTOR")]
    tenant_selector: Option<String>,
    /// Address of the HTTP server: /healthz, /readyz, /metrics, the JWKS and discovery
    /// documents, and /introspect.
    #[arg(long, env = "M365_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    http_listen: SocketAddr,
    /// Reconcile only while holding the leader Lease, so that replicas can stand by.
    /// Default: on inside a pod, off elsewhere (e.g. `--leader-election=false`).
    #[arg(
        long,
        env = "M365_LEADER_ELECTION",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    leader_election: Option<bool>,
    /// The operator's own namespace: the leader Lease and the token signing keys live here.
    #[arg(
        long = "operator-namespace",
        alias = "lease-namespace",
        env = "POD_NAMESPACE",
        default_value = "m365-operator"
    )]
    lease_namespace: String,
    /// Issuer (`iss`) of the first-session tokens: the URL where this operator's
    /// /.well-known/openid-configuration is reachable.
    #[arg(
        long,
        env = "M365_TOKEN_ISSUER",
        default_value = "http://m365-operator.m365-operator.svc:8080"
    )]
    issuer: String,
    /// Name of the leader Lease.
    #[arg(long, env = "M365_LEASE_NAME", default_value = leader::DEFAULT_LEASE_NAME)]
    lease_name: String,
    /// Seconds a leader lease holds without renewal; a standby takes over after that.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    lease_duration: u64,
    /// Seconds between renewals by the leader (and looks by a standby).
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    lease_renew: u64,
    /// HTTPS address of the admission webhooks, e.g. `0.0.0.0:8443`. Without it none is
    /// served, and a webhook configuration with `failurePolicy: Fail` refuses what it covers.
    #[arg(long, env = "M365_WEBHOOK_LISTEN")]
    webhook_listen: Option<SocketAddr>,
    /// Folder with the webhook's `tls.crt` and `tls.key` (a mounted cert-manager Secret),
    /// re-read when they change. Without it the operator makes and renews its own
    /// certificate and sets the webhook configuration's caBundle.
    #[arg(long, value_name = "DIR")]
    webhook_cert_dir: Option<PathBuf>,
    /// The ValidatingWebhookConfiguration whose caBundle the operator keeps (own
    /// certificate only); no other is touched.
    #[arg(long, default_value = "m365-operator")]
    webhook_configuration: String,
    /// The Service in front of the webhook, in the operator's namespace: its DNS names go
    /// into the operator's own certificate.
    #[arg(long, default_value = "m365-operator")]
    webhook_service: String,
    /// Another DNS name or IP address for the operator's own certificate; repeatable.
    #[arg(long = "webhook-san", value_name = "NAME_OR_IP")]
    webhook_sans: Vec<String>,
}

impl RunArgs {
    /// The Lease to campaign for, or `None` without leader election.
    fn election(&self) -> Result<Option<LeaseSettings>, String> {
        // A pod has this variable; a developer's shell or a test harness does not.
        let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
        if !self.leader_election.unwrap_or(in_pod) {
            return Ok(None);
        }
        let settings = LeaseSettings {
            namespace: self.lease_namespace.clone(),
            name: self.lease_name.clone(),
            identity: leader::default_identity(),
            lease_duration: Duration::from_secs(self.lease_duration),
            renew_every: Duration::from_secs(self.lease_renew),
        };
        settings.validate()?;
        Ok(Some(settings))
    }
}

/// The admission webhooks this operator serves. Every route is added here, and only here.
async fn webhooks(client: &kube::Client, args: &RunArgs) -> admission::Webhooks {
    let role_changes = roles::admission::start(
        client.clone(),
        args.namespace.as_deref(),
        roles::admission::own_identity(client).await,
        reconcile::recorder(client.clone()),
    );
    admission::Webhooks::new().route(roles::admission::PATH, Arc::new(role_changes))
}

/// Starts the admission webhook server when `--webhook-listen` is given: on every replica,
/// leader or not, since the API server calls whichever one its Service picks.
async fn start_webhooks(
    client: &kube::Client,
    args: &RunArgs,
) -> Result<Option<admission::Running>, String> {
    let Some(listen) = args.webhook_listen else {
        return Ok(None);
    };
    let certificate = match &args.webhook_cert_dir {
        Some(dir) => admission::CertificateSource::Directory(dir.clone()),
        None => admission::CertificateSource::Managed(admission::ManagedCertificate {
            namespace: args.lease_namespace.clone(),
            secret: admission::managed::DEFAULT_SECRET_NAME.into(),
            names: admission::certificate::service_names(
                &args.webhook_service,
                &args.lease_namespace,
                &args.webhook_sans,
            ),
            configuration: args.webhook_configuration.clone(),
            resync: admission::managed::DEFAULT_RESYNC,
        }),
    };
    let settings = admission::Settings {
        listen,
        certificate,
    };
    admission::start(client.clone(), settings, webhooks(client, args).await)
        .await
        .map(Some)
        .map_err(|e| format!("admission webhooks: {e}"))
}

/// Runs the operator: the HTTP server all along, the controllers while leading, until a
/// signal (graceful) or a second signal (forced).
async fn run(args: RunArgs) -> Result<(), String> {
    let election = args.election()?;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let webhooks = start_webhooks(&client, &args).await?;
    let health = Health::new();
    let listener = http::bind(args.http_listen).await?;
    if let Some(address) = http::local_address(&listener) {
        tracing::info!(%address, "serving /healthz, /readyz and /metrics");
    }
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let introspection = m365_operator::revocation::Introspection::start(
        client.clone(),
        args.namespace.as_deref(),
        &args.lease_namespace,
    );
    let keys = Arc::new(SigningKeys::new(
        client.clone(),
        args.lease_namespace.clone(),
    ));
    let server = http::Server::new(health.clone())
        .merge(introspection.routes())
        .merge(http::discovery::routes(&args.issuer, keys.clone()));
    let server = tokio::spawn(server.serve(listener, async {
        let _ = server_stopped.await;
    }));
    let scope = reconcile::Scope {
        namespace: args.namespace.clone(),
        tenant_selector: args.tenant_selector.clone(),
        signing_keys: Some(keys),
        settings: Some(reconcile::Settings {
            operator_namespace: args.lease_namespace.clone(),
            issuer: args.issuer.clone(),
        }),
    };
    let result = tokio::select! {
        result = operate(client, scope, election, &health) => result,
        () = on_signals(health.clone()) => Err("forced shutdown: reconciles were cut short".into()),
    };
    // Probes answer until the very end, so a drain shows as not ready rather than gone.
    let _ = stop_server.send(());
    let _ = server.await;
    if let Some(webhooks) = webhooks {
        webhooks.shutdown().await;
    }
    result
}

/// Runs the controllers, only while holding the lease when `election` says so.
async fn operate(
    client: kube::Client,
    scope: reconcile::Scope,
    election: Option<LeaseSettings>,
    health: &Health,
) -> Result<(), String> {
    let controllers = reconcile::run(client.clone(), scope, health.clone());
    let stopped = match election {
        None => {
            metrics::set_leader(true);
            controllers.await
        }
        Some(settings) => match Elector::new(lease_client().await?, settings)
            .lead(controllers, health)
            .await
        {
            Ok(Some(stopped)) => stopped,
            Ok(None) => Ok(()),
            Err(lost) => {
                return Err(format!(
                    "{lost}; exiting so that the restarted process campaigns again"
                ));
            }
        },
    };
    stopped.map_err(|e| format!("controller stopped: {e}"))
}

/// A client for the leader Lease alone: its own connections, so that a renewal never
/// queues behind the controllers' requests.
async fn lease_client() -> Result<kube::Client, String> {
    kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))
}

/// Begins a graceful shutdown on the first SIGTERM or Ctrl-C; resolves on a second one.
async fn on_signals(health: Health) {
    shutdown_signal().await;
    tracing::info!("shutdown requested: finishing in-flight reconciles (signal again to force)");
    health.begin_shutdown();
    shutdown_signal().await;
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

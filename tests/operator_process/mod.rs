//! The operator binary as a child process with the flags the packaging and leader-election
//! tests need: an identity's kubeconfig, a free loopback port for its HTTP server, and
//! SIGTERM as well as SIGKILL.
#![allow(dead_code, reason = "each test crate uses only part of this module")]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `m365-operator run`; killed when dropped.
pub struct OperatorProcess {
    child: Child,
    log: PathBuf,
    /// Where its `/healthz`, `/readyz` and `/metrics` answer.
    pub http: SocketAddr,
    _dir: tempfile::TempDir,
}

/// The flag that keeps an operator to the Tenant of the scenario in `namespace`: Tenants are
/// cluster-scoped, and operators of tests side by side must not report on each other's.
pub fn own_tenant(namespace: &str) -> String {
    format!("--tenant-selector=m365-operator.io/test={namespace}")
}

impl OperatorProcess {
    /// Starts the operator with `kubeconfig`, `args` after `run`, and `env`.
    pub fn start(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the operator log");
        let log = dir.path().join("operator.log");
        let out = File::create(&log).expect("create the log");
        let err = out.try_clone().expect("clone the log handle");
        let http = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_m365-operator"));
        command
            .arg("run")
            .args(args)
            .arg(format!("--http-listen={http}"))
            .env("KUBECONFIG", kubeconfig)
            .env(
                "M365_LOG",
                "debug,hyper=info,h2=info,rustls=info,tower=info",
            )
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the operator binary");
        OperatorProcess {
            child,
            log,
            http,
            _dir: dir,
        }
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Status and body of a GET on its HTTP server, or `None` while nothing answers.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", self.http))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// Polls `path` until `done` holds for its answer; panics after `timeout` with the last
    /// answer and the log.
    pub async fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(u16, &str) -> bool,
    ) -> (u16, String) {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some((status, body)) = self.get(path).await {
                if done(status, &body) {
                    return (status, body);
                }
                last = Some((status, body));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting on {path}; last answer {last:?}; log:\n{}",
            self.logs()
        );
    }

    /// The value of one metric sample, e.g. `m365_reconciles_total{kind="User"}`; `None`
    /// when the series is not there (nothing counted yet).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (status, text) = self.get("/metrics").await?;
        assert_eq!(status, 200, "/metrics answered {status}: {text}");
        sample(&text, series)
    }

    /// Sends SIGTERM: a graceful shutdown.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Kills it at once (SIGKILL): no shutdown, no lease release.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for it to exit; `None` if it still runs.
    pub async fn exited(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("check the child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `series` in Prometheus text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a sample value"))
}

/// A loopback port nothing listens on right now.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address")
}

//! The operator binary, run as a child process the way a Deployment runs it, so that a test
//! can kill it at any moment and start it again.
#![allow(dead_code, reason = "each test crate uses only part of this module")]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::cluster::{self, Identity};

/// The label that ties a test's Tenant to the operator of that test.
pub const TEST_LABEL: &str = "m365-operator.io/test";

/// A running operator; killed when dropped.
pub struct Operator {
    child: Child,
    log: PathBuf,
    /// Flags beyond the ones every test needs, kept for restarts.
    extra: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Operator {
    /// Starts `m365-operator run` for one namespace, logging at debug level to a file.
    pub fn start(namespace: &str) -> Self {
        Self::start_with(namespace, Vec::new())
    }

    /// Starts it with more flags, such as the admission webhook's.
    pub fn start_with(namespace: &str, extra: Vec<String>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the operator log");
        let log = dir.path().join("operator.log");
        let child = Self::spawn(namespace, &log, &extra);
        Operator {
            child,
            log,
            extra,
            _dir: dir,
        }
    }

    fn spawn(namespace: &str, log: &PathBuf, extra: &[String]) -> Child {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the log");
        let err = out.try_clone().expect("clone the log handle");
        let own_tenants = format!("{TEST_LABEL}={namespace}");
        Command::new(env!("CARGO_BIN_EXE_m365-operator"))
            // The test namespace doubles as the operator's own (signing keys, lease), and
            // Tenants are cluster-scoped: each operator looks after its own test's Tenant
            // only, or operators of tests running side by side report on each other's.
            .args([
                "run",
                "--namespace",
                namespace,
                "--operator-namespace",
                namespace,
                "--tenant-selector",
                &own_tenants,
            ])
            .args(extra)
            .env("KUBECONFIG", cluster::kubeconfig_path(Identity::Admin))
            // Tests run side by side: each operator takes a free loopback port for its probes.
            .env("M365_HTTP_LISTEN", "127.0.0.1:0")
            // Debug shows every Graph round trip: the widest net for a leaked secret.
            .env(
                "M365_LOG",
                "debug,hyper=info,h2=info,rustls=info,tower=info",
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start the operator binary")
    }

    /// Kills the process at once (SIGKILL): no shutdown, no last status write.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, appending to the same log.
    pub fn restart(&mut self, namespace: &str) {
        self.kill();
        self.child = Self::spawn(namespace, &self.log, &self.extra);
    }

    /// Where its HTTP server listens, from the line it logs at start.
    pub async fn http_address(&self) -> String {
        for _ in 0..100 {
            let logs = self.logs();
            let found = logs
                .lines()
                .filter(|line| line.contains("serving /healthz"))
                .find_map(|line| {
                    let at = line.find("address=")? + "address=".len();
                    let rest = &line[at..];
                    Some(
                        rest.split_whitespace()
                            .next()?
                            .trim_matches('"')
                            .to_string(),
                    )
                });
            if let Some(address) = found {
                return address;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the operator never logged its HTTP address:\n{}",
            self.logs()
        );
    }

    /// Everything the operator logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

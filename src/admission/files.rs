//! The serving certificate from files: `tls.crt` and `tls.key` in a folder, as a
//! `kubernetes.io/tls` Secret (cert-manager's, say) is mounted. The kubelet replaces the
//! files when the Secret changes; the webhook serves the new pair without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::AdmissionError;
use super::serving::ServingCertificate;

/// The certificate chain's file name, as in a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
/// The private key's file name.
pub const KEY_FILE: &str = "tls.key";

/// How often the files' modification times are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// How often the files are read whatever their times say (a copy may keep the time).
const READ_EVERY: Duration = Duration::from_secs(30);

/// The folder holding the pair.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    dir: PathBuf,
}

impl CertificateFiles {
    /// The pair in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CertificateFiles { dir: dir.into() }
    }

    /// Reads the pair as it is now.
    pub fn load(&self) -> Result<ServingCertificate, AdmissionError> {
        let (chain, key) = self.read()?;
        ServingCertificate::from_pem(&chain, &key)
    }

    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), AdmissionError> {
        let read = |name: &str| {
            let path = self.dir.join(name);
            std::fs::read(&path).map_err(|source| AdmissionError::Read { path, source })
        };
        Ok((read(CERT_FILE)?, read(KEY_FILE)?))
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let time = |name: &str| modified(&self.dir.join(name));
        Some((time(CERT_FILE)?, time(KEY_FILE)?))
    }

    /// Keeps `serving` equal to the files until `stop` turns true. A pair that cannot be used
    /// (one file renewed before the other, say) leaves the old one served and is tried again.
    pub async fn follow(self, serving: Arc<ServingCertificate>, mut stop: watch::Receiver<bool>) {
        let mut seen = self.modified();
        let mut last_read = Instant::now();
        let mut last_problem = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(LOOK_EVERY) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let now_seen = self.modified();
            if now_seen == seen && last_read.elapsed() < READ_EVERY {
                continue;
            }
            seen = now_seen;
            last_read = Instant::now();
            let outcome = self
                .read()
                .and_then(|(chain, key)| serving.replace(&chain, &key));
            last_problem = self.report(outcome, last_problem);
        }
    }

    /// Logs a change once and a problem once per kind; returns the problem to remember.
    fn report(
        &self,
        outcome: Result<bool, AdmissionError>,
        last_problem: Option<String>,
    ) -> Option<String> {
        match outcome {
            Ok(changed) => {
                if changed {
                    tracing::info!(dir = %self.dir.display(), "webhook serving certificate reloaded");
                }
                None
            }
            Err(error) => {
                let problem = error.to_string();
                if last_problem.as_ref() != Some(&problem) {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        %error,
                        "webhook serving certificate not reloaded; still serving the previous one"
                    );
                }
                Some(problem)
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    // Follows the kubelet's symbolic links to the file it last wrote.
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::certificate::issue;

    fn write_pair(dir: &Path) -> String {
        let issued = issue(&["127.0.0.1".into()], jiff::Timestamp::now()).unwrap();
        std::fs::write(dir.join(CERT_FILE), &issued.cert_pem).unwrap();
        std::fs::write(dir.join(KEY_FILE), &issued.key_pem).unwrap();
        issued.cert_pem
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = CertificateFiles::new(dir.path()).load().unwrap_err();
        assert!(error.to_string().contains("tls.crt"), "{error}");
    }

    #[tokio::test]
    async fn a_new_pair_is_served_once_both_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_pair(dir.path());
        let files = CertificateFiles::new(dir.path());
        let serving = Arc::new(files.load().unwrap());
        let (stop, stopped) = watch::channel(false);
        let follower = tokio::spawn(files.follow(serving.clone(), stopped));

        // Half a renewal: a new certificate next to the old key is not served.
        let second = issue(&["127.0.0.1".into()], jiff::Timestamp::now()).unwrap();
        std::fs::write(dir.path().join(CERT_FILE), &second.cert_pem).unwrap();
        tokio::time::sleep(LOOK_EVERY * 2).await;
        assert_eq!(serving.chain_pem(), first.as_bytes());

        std::fs::write(dir.path().join(KEY_FILE), &second.key_pem).unwrap();
        let deadline = Instant::now() + LOOK_EVERY * 4;
        while serving.chain_pem() != second.cert_pem.as_bytes() {
            assert!(Instant::now() < deadline, "the new pair was not picked up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.send(true).unwrap();
        follower.await.unwrap();
    }
}

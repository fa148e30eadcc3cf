//! Writing manifests for a GitOps pull request: `DIR/<namespace>/<name>.yaml`, one User each.

use std::io::Write;
use std::path::{Path, PathBuf};

use kube::ResourceExt;

use super::PlannedUser;
use crate::api::User;

/// Where a User's manifest goes below `dir`.
pub fn manifest_path(dir: &Path, user: &User) -> PathBuf {
    dir.join(user.namespace().unwrap_or_default())
        .join(format!("{}.yaml", user.name_any()))
}

/// The manifest as it goes into the repository: no status, no server-set fields.
pub fn manifest_yaml(user: &User) -> String {
    serde_yaml_ng::to_string(user).expect("a User always serialises")
}

/// Rows whose manifest file already exists: an import never overwrites a reviewed manifest.
pub fn taken(users: &[PlannedUser], dir: &Path) -> Vec<(usize, PathBuf)> {
    users
        .iter()
        .map(|planned| (planned.row, manifest_path(dir, &planned.user)))
        .filter(|(_, path)| path.exists())
        .collect()
}

/// Writes every manifest and returns the paths written. A file that appeared since
/// [`taken`] was asked is not overwritten either.
pub fn write_manifests(users: &[PlannedUser], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::with_capacity(users.len());
    for planned in users {
        let path = manifest_path(dir, &planned.user);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create_new(&path)?;
        file.write_all(manifest_yaml(&planned.user).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{Defaults, plan};

    const CSV: &str = "givenName,surname,usageLocation,license,approver,approvalReference,approvedAt,namespace\n\
        Zoë,Müller,DE,E3,hr@contoso.example,HR-2041,2026-12-01T09:30:00Z,people\n";

    #[test]
    fn manifests_read_back_as_the_same_users() {
        let dir = tempfile::tempdir().unwrap();
        let users = plan(
            CSV.as_bytes(),
            &Defaults::default(),
            "2026-12-10T00:00:00Z".parse().unwrap(),
        )
        .users();
        let written = write_manifests(&users, dir.path()).unwrap();
        assert_eq!(written, [dir.path().join("people/zoe-muller.yaml")]);
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert!(
            text.starts_with("apiVersion: m365-operator.io/v1alpha1\nkind: User\n"),
            "{text}"
        );
        assert!(!text.contains("status"), "{text}");
        let back: User = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back.spec, users[0].user.spec);
        assert_eq!(back.metadata.namespace.as_deref(), Some("people"));
        assert_eq!(taken(&users, dir.path()), [(2, written[0].clone())]);
        assert!(
            write_manifests(&users, dir.path()).is_err(),
            "never overwrites"
        );
    }
}

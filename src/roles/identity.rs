//! Who sent a request, as the API server authenticated them, in Entra's terms.
//!
//! The API server tells the admission webhook the Kubernetes user name and groups of every
//! request. A Tenant's [`IdentityMapping`] turns the name into a user principal name, so that
//! a declared requester or approver can be compared with the person who actually sent it.

use crate::api::role::{IdentityMapping, UsernameForm};

/// The authenticated sender of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sender {
    pub username: String,
    pub groups: Vec<String>,
}

/// What the sender of a request is, for role changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// A GitOps identity: it applies what a reviewed pull request declares, so the declared
    /// requester and approvers stand as written.
    Gitops,
    /// A person, known by this user principal name.
    Person(String),
    /// A user name that maps to no user principal name under the mapping.
    Unmapped,
}

/// Classifies `sender` under `mapping`, for accounts in `domain`.
pub fn standing(sender: &Sender, mapping: &IdentityMapping, domain: &str) -> Standing {
    let trusted_user = mapping.gitops_users.contains(&sender.username);
    let trusted_group = sender
        .groups
        .iter()
        .any(|g| mapping.gitops_groups.contains(g));
    if trusted_user || trusted_group {
        return Standing::Gitops;
    }
    let Some(name) = sender.username.strip_prefix(&mapping.username_prefix) else {
        return Standing::Unmapped;
    };
    let upn = match mapping.username {
        UsernameForm::UserPrincipalName if is_address(name) => name.to_string(),
        UsernameForm::LocalPart if is_local_part(name) => format!("{name}@{domain}"),
        _ => return Standing::Unmapped,
    };
    Standing::Person(upn.to_lowercase())
}

fn is_address(name: &str) -> bool {
    matches!(name.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
}

/// Service accounts (`system:serviceaccount:…`) and other `system:` users are not people.
fn is_local_part(name: &str) -> bool {
    !name.is_empty() && !name.contains(['@', ':', '/']) && !name.starts_with("system")
}

/// Whether a declared address names `upn`, ignoring case as Entra does.
pub fn names(declared: &str, upn: &str) -> bool {
    declared.trim().eq_ignore_ascii_case(upn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(username: &str, groups: &[&str]) -> Sender {
        Sender {
            username: username.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn oidc_names_map_to_the_whole_principal_name_after_the_prefix() {
        let mapping = IdentityMapping {
            username_prefix: "oidc:".into(),
            ..Default::default()
        };
        assert_eq!(
            standing(
                &sender("oidc:Ada.Admin@Contoso.example", &[]),
                &mapping,
                "contoso.example"
            ),
            Standing::Person("ada.admin@contoso.example".into())
        );
        // Without the prefix the name came from another authenticator: not a person we know.
        assert_eq!(
            standing(
                &sender("ada.admin@contoso.example", &[]),
                &mapping,
                "contoso.example"
            ),
            Standing::Unmapped
        );
        assert_eq!(
            standing(&sender("oidc:ada", &[]), &mapping, "contoso.example"),
            Standing::Unmapped
        );
    }

    #[test]
    fn local_part_names_get_the_tenant_domain_and_system_users_are_not_people() {
        let mapping = IdentityMapping {
            username: UsernameForm::LocalPart,
            ..Default::default()
        };
        assert_eq!(
            standing(&sender("it-admin", &[]), &mapping, "contoso.example"),
            Standing::Person("it-admin@contoso.example".into())
        );
        for name in [
            "system:admin",
            "system:serviceaccount:flux:kustomize",
            "a@b",
        ] {
            assert_eq!(
                standing(&sender(name, &[]), &mapping, "contoso.example"),
                Standing::Unmapped,
                "{name}"
            );
        }
    }

    #[test]
    fn gitops_identities_are_recognised_by_user_or_group() {
        let mapping = IdentityMapping {
            gitops_users: vec!["system:serviceaccount:flux:kustomize".into()],
            gitops_groups: vec!["m365:gitops".into()],
            ..Default::default()
        };
        let domain = "contoso.example";
        assert_eq!(
            standing(
                &sender("system:serviceaccount:flux:kustomize", &[]),
                &mapping,
                domain
            ),
            Standing::Gitops
        );
        assert_eq!(
            standing(&sender("gitops", &["m365:gitops"]), &mapping, domain),
            Standing::Gitops
        );
        assert_eq!(
            standing(&sender("gitops", &["m365:other"]), &mapping, domain),
            Standing::Unmapped
        );
    }
}

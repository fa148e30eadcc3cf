//! The durable archive of a deactivation: what the account was and what was taken from it,
//! so that a leave can be undone and an auditor can see what happened.
//!
//! One immutable ConfigMap per Deactivation, in the namespace the Tenant's policy names. It
//! holds no credentials (the operator never reads a password or token back), only directory
//! facts and the step log, so a ConfigMap is enough; restrict read access to its namespace,
//! since it is personal data. `immutable: true` means nobody, the operator included, can edit
//! it after it is written: it can only be deleted. Every list is bounded, so the object stays
//! far below the API server's 1 MiB limit.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, ResourceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::deactivation::{
    Deactivation, DeactivationReason, GroupRecord, LicenseRecord, StepRecord,
};
use crate::credentials::MANAGED_BY;

/// The kind the archive is kept in, as status names it.
pub const KIND: &str = "ConfigMap";

/// Label with the Deactivation's uid: finds the archive, and tells it from another one.
pub const UID_LABEL: &str = "m365-operator.io/deactivation-uid";

/// Label with the Deactivation's name, when it fits a label value.
pub const NAME_LABEL: &str = "m365-operator.io/deactivation";

/// Most app role assignments archived.
pub const MAX_APP_ROLES: usize = 200;

/// Most directory roles archived.
pub const MAX_DIRECTORY_ROLES: usize = 100;

/// The archive may not grow beyond this; a ConfigMap may hold 1 MiB.
pub const MAX_BYTES: usize = 512 * 1024;

/// The entries of the ConfigMap.
mod key {
    pub const REQUEST: &str = "request.json";
    pub const PROFILE: &str = "profile.json";
    pub const GROUPS: &str = "groups.json";
    pub const LICENSES: &str = "licenses.json";
    pub const ROLES: &str = "roles.json";
    pub const AUDIT: &str = "audit.json";
}

/// Everything archived about one deactivation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveRecord {
    /// Who asked for what.
    pub request: Request,
    /// The account as the manifest and Entra described it.
    pub profile: Profile,
    /// Direct group memberships when the deactivation began, and what became of each.
    pub groups: Vec<GroupRecord>,
    /// Licences the account held when the deactivation began.
    pub licenses: Vec<LicenseRecord>,
    /// Roles the account held.
    pub roles: Roles,
    /// The step log up to the archive, and the provisioning approval.
    pub audit: Audit,
}

/// Who asked for what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The Deactivation's namespace.
    pub namespace: String,
    /// The Deactivation's name.
    pub deactivation: String,
    /// The Deactivation's uid.
    pub uid: String,
    /// The User manifest it named.
    pub user: String,
    /// Why access ended.
    pub reason: DeactivationReason,
    /// Mail address of whoever asked.
    pub requester: String,
    /// The HR ticket or case id.
    pub reference: String,
    /// The note, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When it was to take effect, if scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_at: Option<Time>,
    /// When the archive was written.
    pub archived_at: Time,
}

/// The account as the manifest and Entra described it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Entra object id.
    pub object_id: String,
    /// The UPN.
    pub user_principal_name: String,
    /// The display name.
    pub display_name: String,
    /// First name.
    pub given_name: String,
    /// Last name.
    pub surname: String,
    /// Department, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// ISO 3166 country of use.
    pub usage_location: String,
    /// The licence tier of the manifest.
    pub license_tier: String,
}

/// Roles the account held.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// App role assignments.
    pub app_roles: Vec<AppRole>,
    /// Directory roles (direct membership).
    pub directory_roles: Vec<DirectoryRole>,
    /// More roles existed than the archive keeps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One app role assignment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    /// The assignment id.
    pub id: String,
    /// The service principal's object id.
    pub resource_id: String,
    /// The role's id.
    pub app_role_id: String,
}

/// One directory role the account was a member of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRole {
    /// The role's object id.
    pub id: String,
    /// The role's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The record of what was approved and done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    /// Who in HR approved the account.
    pub approved_by: String,
    /// The approval's HR reference.
    pub approval_reference: String,
    /// When HR approved.
    pub approved_at: Time,
    /// The deactivation's steps, with their times.
    pub steps: Vec<StepRecord>,
}

/// Why the archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("archive {0} holds another deactivation's record")]
    Foreign(String),
    #[error("archive {name} is unreadable: {problem}")]
    Unreadable { name: String, problem: String },
    #[error("the archive would take {0} bytes, more than {MAX_BYTES}")]
    TooLarge(usize),
}

impl ArchiveError {
    /// A CamelCase label for conditions and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            ArchiveError::Kube(_) => "KubernetesApiError",
            ArchiveError::Foreign(_) => "ArchiveConflict",
            ArchiveError::Unreadable { .. } => "ArchiveUnreadable",
            ArchiveError::TooLarge(_) => "ArchiveTooLarge",
        }
    }
}

/// The archive's name: namespace, name and the start of the uid, so that a Deactivation
/// created again under the same name gets an archive of its own.
pub fn name_for(deactivation: &Deactivation) -> String {
    let uid = deactivation.uid().unwrap_or_default();
    let short_uid: String = uid.chars().take(8).collect();
    let namespace = deactivation.namespace().unwrap_or_default();
    let name = format!(
        "deactivation.{namespace}.{}.{short_uid}",
        deactivation.name_any()
    );
    if name.len() <= 253 {
        name
    } else {
        format!("deactivation.{uid}")
    }
}

/// Writes the archive once. Finding it written already (a retry after a crash) is success,
/// as long as it belongs to the same Deactivation.
pub async fn write(
    client: &Client,
    namespace: &str,
    name: &str,
    record: &ArchiveRecord,
) -> Result<(), ArchiveError> {
    let config_map = to_config_map(name, record)?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.create(&PostParams::default(), &config_map).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api.get(name).await?;
            if existing.labels().get(UID_LABEL) == Some(&record.request.uid) {
                Ok(())
            } else {
                Err(ArchiveError::Foreign(format!("{namespace}/{name}")))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads an archive back.
pub async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<ArchiveRecord, ArchiveError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    from_config_map(&api.get(name).await?)
}

/// The ConfigMap holding `record`, one JSON document per part.
pub fn to_config_map(name: &str, record: &ArchiveRecord) -> Result<ConfigMap, ArchiveError> {
    let data = BTreeMap::from([
        (key::REQUEST.to_string(), json(&record.request)),
        (key::PROFILE.to_string(), json(&record.profile)),
        (key::GROUPS.to_string(), json(&record.groups)),
        (key::LICENSES.to_string(), json(&record.licenses)),
        (key::ROLES.to_string(), json(&record.roles)),
        (key::AUDIT.to_string(), json(&record.audit)),
    ]);
    let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_BYTES {
        return Err(ArchiveError::TooLarge(size));
    }
    let mut labels = BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (UID_LABEL.to_string(), record.request.uid.clone()),
    ]);
    if record.request.deactivation.len() <= 63 {
        labels.insert(NAME_LABEL.into(), record.request.deactivation.clone());
    }
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                NAME_LABEL.to_string(),
                format!(
                    "{}/{}",
                    record.request.namespace, record.request.deactivation
                ),
            )])),
            ..Default::default()
        },
        immutable: Some(true),
        data: Some(data),
        ..Default::default()
    })
}

/// Reads the record from its ConfigMap.
pub fn from_config_map(config_map: &ConfigMap) -> Result<ArchiveRecord, ArchiveError> {
    let name = config_map.name_any();
    let empty = BTreeMap::new();
    let data = config_map.data.as_ref().unwrap_or(&empty);
    Ok(ArchiveRecord {
        request: part(&name, data, key::REQUEST)?,
        profile: part(&name, data, key::PROFILE)?,
        groups: part(&name, data, key::GROUPS)?,
        licenses: part(&name, data, key::LICENSES)?,
        roles: part(&name, data, key::ROLES)?,
        audit: part(&name, data, key::AUDIT)?,
    })
}

fn part<T: DeserializeOwned>(
    name: &str,
    data: &BTreeMap<String, String>,
    key: &str,
) -> Result<T, ArchiveError> {
    let unreadable = |problem: String| ArchiveError::Unreadable {
        name: name.to_string(),
        problem,
    };
    let text = data
        .get(key)
        .ok_or_else(|| unreadable(format!("{key} is missing")))?;
    serde_json::from_str(text).map_err(|e| unreadable(format!("{key}: {e}")))
}

fn json<T: Serialize>(part: &T) -> String {
    serde_json::to_string_pretty(part).expect("archived parts always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deactivation::{
        DeactivationSpec, GroupRefusal, MembershipState, Requester, Step,
    };

    fn time(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    fn record() -> ArchiveRecord {
        ArchiveRecord {
            request: Request {
                namespace: "people".into(),
                deactivation: "zoe-leaves".into(),
                uid: "0b7c6d2e-0000-0000-0000-000000000001".into(),
                user: "zoe".into(),
                reason: DeactivationReason::ExtendedLeave,
                requester: "hr@contoso.example".into(),
                reference: "HR-7".into(),
                note: None,
                effective_at: None,
                archived_at: time(100),
            },
            profile: Profile {
                object_id: "id-1".into(),
                user_principal_name: "zoe.muller@contoso.example".into(),
                ..Default::default()
            },
            groups: vec![
                GroupRecord {
                    id: "g1".into(),
                    display_name: Some("Finance".into()),
                    state: MembershipState::Left,
                    refusal: None,
                },
                GroupRecord {
                    id: "g2".into(),
                    display_name: Some("All staff".into()),
                    state: MembershipState::Kept,
                    refusal: Some(GroupRefusal::Dynamic),
                },
            ],
            licenses: vec![LicenseRecord {
                sku_id: "6fd2c87f-b296-42f0-b197-1e91e994b900".into(),
                sku_part_number: Some("ENTERPRISEPACK".into()),
            }],
            roles: Roles::default(),
            audit: Audit {
                approved_by: "hr@contoso.example".into(),
                approval_reference: "HR-1".into(),
                approved_at: time(1),
                steps: vec![StepRecord {
                    name: Step::SignInBlocked,
                    completed_at: time(50),
                    message: "sign-in blocked".into(),
                }],
            },
        }
    }

    #[test]
    fn the_record_reads_back_from_its_config_map() {
        let config_map =
            to_config_map("deactivation.people.zoe-leaves.0b7c6d2e", &record()).unwrap();
        assert_eq!(config_map.immutable, Some(true));
        assert_eq!(
            config_map.labels()[UID_LABEL],
            "0b7c6d2e-0000-0000-0000-000000000001"
        );
        assert_eq!(config_map.labels()[NAME_LABEL], "zoe-leaves");
        assert_eq!(from_config_map(&config_map).unwrap(), record());
    }

    #[test]
    fn a_damaged_archive_says_which_part() {
        let mut config_map = to_config_map("a", &record()).unwrap();
        config_map
            .data
            .as_mut()
            .unwrap()
            .insert(key::GROUPS.into(), "[{".into());
        let error = from_config_map(&config_map).unwrap_err();
        assert!(error.to_string().contains("groups.json"), "{error}");
        assert_eq!(error.category(), "ArchiveUnreadable");
    }

    #[test]
    fn names_are_unique_per_object_and_bounded() {
        let mut d = Deactivation::new(
            "zoe-leaves",
            DeactivationSpec {
                user: "zoe".into(),
                reason: DeactivationReason::Termination,
                requester: Requester {
                    email: "hr@contoso.example".into(),
                    reference: "HR-1".into(),
                },
                effective_at: None,
                leave: None,
                note: None,
                reactivate: false,
                license_decision: None,
            },
        );
        d.metadata.namespace = Some("people".into());
        d.metadata.uid = Some("0b7c6d2e-1111-2222-3333-444455556666".into());
        assert_eq!(name_for(&d), "deactivation.people.zoe-leaves.0b7c6d2e");
        d.metadata.name = Some("x".repeat(253));
        assert_eq!(
            name_for(&d),
            "deactivation.0b7c6d2e-1111-2222-3333-444455556666"
        );
    }
}

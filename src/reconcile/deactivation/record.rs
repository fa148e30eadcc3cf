//! What goes into the archive: the request, the profile, the memberships and licences taken
//! away, the roles held, and the step log, each bounded.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::api::User;
use crate::api::deactivation::{Deactivation, DeactivationStatus};
use crate::archive::{
    AppRole, ArchiveRecord, Audit, DirectoryRole, MAX_APP_ROLES, MAX_DIRECTORY_ROLES, Profile,
    Request, Roles,
};
use crate::graph::groups::{AppRoleAssignment, Membership};

/// The record of one deactivation as it stands after its licence step. The User may be gone
/// (its manifest deleted); the profile then holds what status recorded.
pub(super) fn build(
    deactivation: &Deactivation,
    status: &DeactivationStatus,
    user: Option<&User>,
    memberships: &[Membership],
    app_roles: &[AppRoleAssignment],
    archived_at: Time,
) -> ArchiveRecord {
    let spec = &deactivation.spec;
    ArchiveRecord {
        request: Request {
            namespace: deactivation.namespace().unwrap_or_default(),
            deactivation: deactivation.name_any(),
            uid: deactivation.uid().unwrap_or_default(),
            user: spec.user.clone(),
            reason: spec.reason,
            requester: spec.requester.email.clone(),
            reference: spec.requester.reference.clone(),
            note: spec.note.clone(),
            effective_at: spec.effective_at.clone(),
            archived_at,
        },
        profile: profile(status, user),
        groups: status.groups.clone(),
        licenses: status.licenses.clone(),
        roles: roles(memberships, app_roles),
        audit: audit(status, user),
    }
}

fn profile(status: &DeactivationStatus, user: Option<&User>) -> Profile {
    let mut profile = Profile {
        object_id: status.object_id.clone().unwrap_or_default(),
        user_principal_name: status.user_principal_name.clone().unwrap_or_default(),
        ..Default::default()
    };
    if let Some(user) = user {
        let spec = &user.spec;
        profile.display_name = user.display_name();
        profile.given_name = spec.given_name.clone();
        profile.surname = spec.surname.clone();
        profile.department = spec.department.clone();
        profile.job_title = spec.job_title.clone();
        profile.usage_location = spec.usage_location.clone();
        profile.license_tier = spec.license.to_string();
    }
    profile
}

fn roles(memberships: &[Membership], app_roles: &[AppRoleAssignment]) -> Roles {
    let directory_roles: Vec<&Membership> = memberships
        .iter()
        .filter(|m| m.odata_type == "#microsoft.graph.directoryRole")
        .collect();
    Roles {
        truncated: app_roles.len() > MAX_APP_ROLES || directory_roles.len() > MAX_DIRECTORY_ROLES,
        app_roles: app_roles
            .iter()
            .take(MAX_APP_ROLES)
            .map(|a| AppRole {
                id: a.id.clone(),
                resource_id: a.resource_id.clone(),
                app_role_id: a.app_role_id.clone(),
            })
            .collect(),
        directory_roles: directory_roles
            .into_iter()
            .take(MAX_DIRECTORY_ROLES)
            .map(|m| DirectoryRole {
                id: m.id.clone(),
                display_name: m.display_name.clone(),
            })
            .collect(),
    }
}

fn audit(status: &DeactivationStatus, user: Option<&User>) -> Audit {
    let approval = user.map(|u| &u.spec.approval);
    Audit {
        approved_by: approval.map(|a| a.approver.clone()).unwrap_or_default(),
        approval_reference: approval.map(|a| a.reference.clone()).unwrap_or_default(),
        approved_at: approval
            .map(|a| a.approved_at.clone())
            .unwrap_or_else(|| Time(jiff::Timestamp::UNIX_EPOCH)),
        steps: status.steps.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deactivation::{
        DeactivationReason, DeactivationSpec, GroupRecord, MembershipState, Requester, Step,
    };
    use serde_json::json;

    fn deactivation() -> Deactivation {
        let mut d = Deactivation::new(
            "zoe-leaves",
            DeactivationSpec {
                user: "zoe".into(),
                reason: DeactivationReason::Termination,
                requester: Requester {
                    email: "hr@contoso.example".into(),
                    reference: "HR-9".into(),
                },
                effective_at: None,
                leave: None,
                note: Some("last day Friday".into()),
                reactivate: false,
                license_decision: None,
            },
        );
        d.metadata.namespace = Some("people".into());
        d.metadata.uid = Some("uid-1".into());
        d
    }

    fn membership(kind: &str, id: &str) -> Membership {
        serde_json::from_value(json!({"id": id, "@odata.type": kind, "displayName": id})).unwrap()
    }

    #[test]
    fn the_record_holds_request_groups_roles_and_steps_without_the_user() {
        let at = Time(jiff::Timestamp::from_second(100).unwrap());
        let mut status = DeactivationStatus {
            object_id: Some("id-1".into()),
            user_principal_name: Some("zoe@contoso.example".into()),
            groups: vec![GroupRecord {
                id: "g1".into(),
                display_name: None,
                state: MembershipState::Left,
                refusal: None,
            }],
            ..Default::default()
        };
        status.complete(Step::SignInBlocked, at.clone(), "blocked");
        let memberships = [
            membership("#microsoft.graph.group", "g1"),
            membership("#microsoft.graph.directoryRole", "Helpdesk Administrator"),
        ];
        let record = build(
            &deactivation(),
            &status,
            None,
            &memberships,
            &[],
            at.clone(),
        );
        assert_eq!(record.request.requester, "hr@contoso.example");
        assert_eq!(record.request.note.as_deref(), Some("last day Friday"));
        assert_eq!(record.profile.object_id, "id-1");
        assert_eq!(record.groups, status.groups);
        assert_eq!(record.roles.directory_roles.len(), 1);
        assert_eq!(record.roles.directory_roles[0].id, "Helpdesk Administrator");
        assert_eq!(record.audit.steps.len(), 1);
    }
}

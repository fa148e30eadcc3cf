//! Attempts to break role changes and the welcome mail's Temporary Access Pass: what a hostile
//! or careless user can do with the rights the personas give them, and what a race, a Graph
//! fault or a leave does to a role. Each test states the behaviour that must hold.
//!
//! The role tests run in the world of `support::roles` (identities mapped by local part:
//! `it-admin` is `it-admin@contoso.example`, `vp` is `vp@…`; the group `m365:gitops` is
//! trusted as GitOps), with a role policy each test may choose.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use m365_operator::api::deactivation::{
    Deactivation, DeactivationPhase, DeactivationReason, DeactivationSpec, Leave, Requester,
};
use m365_operator::api::role::{Role, RoleApproval, RolePhase};
use m365_operator::api::user::WelcomeMail;
use serde_json::{Value, json};
use support::cluster::{self, Identity};
use support::roles::{
    ADMINS_GROUP, APPROVERS_GROUP, BOOTSTRAP_ADMIN, STAFF_GROUP, VP_GROUP, World, assignment,
    phase_of, upn,
};
use support::scenario::{Scenario, condition, wait};

/// What only these tests do: touch a request, send its holder on leave, look for secrets.
impl World {
    /// Adds a label: an edit of metadata only, which any reconcile reacts to, as the periodic
    /// resync of an applied role would.
    async fn touch(&self, name: &str, value: &str) {
        let patch = json!({"metadata": {"labels": {"attacks-test/touched": value}}});
        self.admin_assignments()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("label the RoleAssignment");
    }

    /// The Deactivations of this namespace, as the cluster admin sees them.
    fn deactivations(&self) -> Api<Deactivation> {
        Api::namespaced(self.scenario.client.clone(), self.namespace())
    }

    /// Sends `user` on an extended leave and waits until the account is deactivated.
    async fn send_on_leave(&self, user: &str) -> String {
        let name = format!("{user}-leave");
        let leave = Deactivation::new(
            &name,
            DeactivationSpec {
                user: user.into(),
                reason: DeactivationReason::ExtendedLeave,
                requester: Requester {
                    email: "hr.partner@contoso.example".into(),
                    reference: "HR-3301".into(),
                },
                effective_at: None,
                leave: Some(Leave {
                    start: "2027-01-04".into(),
                    end: "2027-07-30".into(),
                }),
                note: Some("parental leave".into()),
                reactivate: false,
                license_decision: None,
            },
        );
        self.deactivations()
            .create(&PostParams::default(), &leave)
            .await
            .expect("create the Deactivation");
        self.wait_deactivation(&name, DeactivationPhase::Deactivated)
            .await;
        name
    }

    /// Polls the Deactivation `name` until it is in `phase`.
    async fn wait_deactivation(&self, name: &str, phase: DeactivationPhase) -> Deactivation {
        let api = self.deactivations();
        wait(
            &format!("{name} to be {phase:?}"),
            || async { api.get(name).await.ok() },
            |d| d.status.as_ref().and_then(|s| s.phase) == Some(phase),
        )
        .await
    }

    /// No client secret, password or first-session token in the operator's debug log, the
    /// Events of the namespace or the RoleAssignments' status.
    async fn assert_no_secret_shows(&self) {
        let secrets: Api<Secret> = Api::namespaced(self.scenario.client.clone(), self.namespace());
        let mut sensitive = vec!["sim-client-secret".to_string()];
        for secret in secrets
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
        {
            if !secret.name_any().ends_with("-credentials") {
                continue;
            }
            for (key, value) in secret.data.unwrap_or_default() {
                if key == "password" || key == "firstSessionToken" {
                    sensitive.push(String::from_utf8(value.0).expect("UTF-8"));
                }
            }
        }
        assert!(sensitive.len() > 4, "passwords and tokens to look for");
        let logs = self.scenario.operator.as_ref().expect("running").logs();
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.scenario.client.clone(), self.namespace());
        let events =
            serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items)
                .unwrap();
        let assignments = serde_json::to_string(
            &self
                .admin_assignments()
                .list(&ListParams::default())
                .await
                .unwrap()
                .items,
        )
        .unwrap();
        for value in sensitive.iter().filter(|v| v.len() >= 12) {
            assert!(
                !logs.contains(value.as_str()),
                "a secret in the log: {}",
                &value[..4]
            );
            assert!(!events.contains(value.as_str()), "a secret in an Event");
            assert!(
                !assignments.contains(value.as_str()),
                "a secret in a RoleAssignment"
            );
        }
    }
}

/// Groups only: Admin is the most, Approver has one group of its own, User the least. Joining
/// `APPROVERS_GROUP` is the one call a downgrade from Admin to Approver makes and a downgrade to
/// User does not.
fn groups_only_policy() -> Value {
    json!({
        "vpGroup": VP_GROUP,
        "bootstrapAdmins": [BOOTSTRAP_ADMIN],
        "identities": {"username": "LocalPart", "gitopsGroups": ["m365:gitops"]},
        "grants": {
            "Admin": {"groups": [ADMINS_GROUP, STAFF_GROUP]},
            "Approver": {"groups": [STAFF_GROUP, APPROVERS_GROUP]},
            "User": {"groups": [STAFF_GROUP]},
        },
    })
}

/// `kubectl patch --type=json` as `identity`; the API server's refusal as text.
fn json_patch_as(
    identity: Identity,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<(), String> {
    let output = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster::kubeconfig_path(identity))
        .args([
            "-n",
            namespace,
            "patch",
            "roleassignments.m365-operator.io",
            name,
        ])
        .args(["--type=json", "-p", &patch.to_string()])
        .output()
        .expect("run kubectl");
    match output.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// Polls `fetch` for `window` and returns the first value that breaks `holds`, if any.
async fn breaks_within<T, F, Fut>(
    window: Duration,
    fetch: F,
    holds: impl Fn(&T) -> bool,
) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        if let Some(value) = fetch().await
            && !holds(&value)
        {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

// ---------------------------------------------------------------------------------------
// Role changes

/// A downgrade that fails half-way keeps the role it started from in status. If another
/// request lowers the role further meanwhile, finishing the first one raises the role again,
/// and that raise is an escalation: it needs a VP like any other.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_stalled_downgrade_finished_after_a_lower_one_still_needs_a_vp() {
    let world = World::start("atk-stale-from", groups_only_policy()).await;
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    world
        .gitops_grants("alice-admin", "alice", Role::Admin)
        .await;
    let alice = world.object_id("alice").await;

    // Graph refuses, for now, the one call the step down to Approver needs.
    world.scenario.sim.set_faults(graph_sim::Faults {
        server_error_rate: 1.0,
        only: vec![format!("POST /groups/{APPROVERS_GROUP}/members/$ref")],
        ..Default::default()
    });
    let to_approver = assignment(
        "alice-approver",
        "alice",
        Role::Approver,
        &upn("it-admin"),
        &[],
    );
    world
        .request(Identity::ItAdmin, &to_approver)
        .await
        .expect("an Admin may ask for a downgrade");
    wait(
        "alice-approver to be Applying from Admin",
        || async { world.admin_assignments().get("alice-approver").await.ok() },
        |a| {
            phase_of(a) == Some(RolePhase::Applying)
                && a.status.as_ref().and_then(|s| s.from_role) == Some(Role::Admin)
        },
    )
    .await;

    // Meanwhile the Admin takes alice down to User; that one needs no call Graph refuses.
    let to_user = assignment("alice-user", "alice", Role::User, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &to_user)
        .await
        .expect("an Admin may ask for a downgrade");
    world.wait_phase("alice-user", RolePhase::Applied).await;
    world.wait_role("alice", Role::User).await;

    // Graph recovers. User → Approver is a raise nobody approved.
    world.scenario.sim.set_faults(graph_sim::Faults::default());
    world.touch("alice-approver", "retry").await;
    let settled = wait(
        "alice-approver to leave Applying",
        || async { world.admin_assignments().get("alice-approver").await.ok() },
        |a| phase_of(a) != Some(RolePhase::Applying),
    )
    .await;
    assert_eq!(
        phase_of(&settled),
        Some(RolePhase::AwaitingApproval),
        "User → Approver without a VP's approval: {:#?}",
        settled.status
    );
    assert!(
        !world
            .groups_of(&alice)
            .contains(&APPROVERS_GROUP.to_string()),
        "alice joined the Approver group without a VP's approval"
    );
}

/// The ways a patch can try to slip someone else's approval in: changing an approval in
/// place with a JSON patch, the VP's address in other letters, server-side apply, and the
/// status subresource. Each is refused, and nothing reaches Entra.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn approval_tricks_are_refused() {
    let world = World::start("atk-tricks", groups_only_policy()).await;
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    let alice = world.object_id("alice").await;
    let escalate = assignment("alice-admin", "alice", Role::Admin, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &escalate)
        .await
        .expect("an Admin may ask");
    world
        .wait_phase("alice-admin", RolePhase::AwaitingApproval)
        .await;
    let employee = world.assignments(Identity::Employee).await;
    let own = RoleApproval {
        approver: upn("employee"),
        reference: None,
    };
    world
        .set_approvals(Identity::Employee, "alice-admin", &[own])
        .await
        .expect("anyone may add their own approval");

    // Turning one's own approval into the VP's, in place.
    let replace = json!([
        {"op": "replace", "path": "/spec/approvals/0/approver", "value": upn("vp")}
    ]);
    let refused = json_patch_as(
        Identity::Employee,
        world.namespace(),
        "alice-admin",
        &replace,
    )
    .expect_err("an approval changed in place");
    assert!(
        refused.contains("approvals can be added, not changed or removed"),
        "{refused}"
    );

    // The VP's address in capitals, with a label change in the same request.
    let shouted = json!({
        "metadata": {"labels": {"reviewed": "yes"}},
        "spec": {"approvals": [
            {"approver": upn("employee")},
            {"approver": upn("vp").to_uppercase()},
        ]},
    });
    let refused = employee
        .patch(
            "alice-admin",
            &PatchParams::default(),
            &Patch::Merge(&shouted),
        )
        .await
        .expect_err("the VP's approval added by the employee");
    assert!(
        refused.to_string().contains("can only be added by"),
        "{refused}"
    );

    // Server-side apply of the whole spec with the VP's approval in it.
    let mut applied = escalate.clone();
    applied.spec.approvals = vec![
        RoleApproval {
            approver: upn("employee"),
            reference: None,
        },
        RoleApproval {
            approver: upn("vp"),
            reference: None,
        },
    ];
    let refused = employee
        .patch(
            "alice-admin",
            &PatchParams::apply("employee-tools").force(),
            &Patch::Apply(&applied),
        )
        .await
        .expect_err("the VP's approval applied by the employee");
    assert!(
        refused.to_string().contains("can only be added by"),
        "{refused}"
    );

    // The status subresource: phase Applied, as if the operator had written it.
    let forged =
        json!({"status": {"phase": "Applied", "appliedAt": "2030-01-01T00:00:00.000000Z"}});
    let refused = employee
        .patch_status(
            "alice-admin",
            &PatchParams::default(),
            &Patch::Merge(&forged),
        )
        .await
        .expect_err("status written by the employee");
    assert!(refused.to_string().contains("forbidden"), "{refused}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = world.admin_assignments().get("alice-admin").await.unwrap();
    assert_eq!(phase_of(&now), Some(RolePhase::AwaitingApproval));
    assert!(world.groups_of(&alice).is_empty(), "Entra is untouched");
    world.assert_no_secret_shows().await;
}

/// A request deleted half-way through its change leaves no memberships behind that the
/// User's effective role does not grant: either the deletion waits until Entra is put back,
/// or it is refused while the change is under way.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_request_deleted_half_way_leaves_no_grants_behind() {
    let world = World::start("atk-delete-applying", groups_only_policy()).await;
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    let alice = world.object_id("alice").await;

    // The Admins group is joined first; Graph refuses the Staff group for now.
    world.scenario.sim.set_faults(graph_sim::Faults {
        server_error_rate: 1.0,
        only: vec![format!("POST /groups/{STAFF_GROUP}/members/$ref")],
        ..Default::default()
    });
    let escalate = assignment("alice-admin", "alice", Role::Admin, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &escalate)
        .await
        .expect("an Admin may ask");
    let vp = RoleApproval {
        approver: upn("vp"),
        reference: Some("CAB-9".into()),
    };
    world
        .set_approvals(Identity::Vp, "alice-admin", &[vp])
        .await
        .expect("the VP approves");
    wait(
        "alice in the Admins group",
        || async { Some(world.groups_of(&alice)) },
        |groups| groups.contains(&ADMINS_GROUP.to_string()),
    )
    .await;
    world.wait_phase("alice-admin", RolePhase::Applying).await;

    let deleted = world
        .assignments(Identity::ItAdmin)
        .await
        .delete("alice-admin", &DeleteParams::default())
        .await;
    world.scenario.sim.set_faults(graph_sim::Faults::default());
    if let Err(refused) = deleted {
        assert!(refused.to_string().contains("Applying"), "{refused}");
        return;
    }
    world.wait_role("alice", Role::Pending).await;
    wait(
        "alice to hold no group of a role she does not have",
        || async { Some(world.groups_of(&alice)) },
        |groups| groups.is_empty(),
    )
    .await;
}

/// While a Deactivation is in effect an applied role is left alone (README: "except while a
/// Deactivation is in effect"): it stays the User's role, and the record of it stays
/// protected from deletion.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn an_applied_role_stays_applied_while_its_holder_is_on_leave() {
    let world = World::start("atk-leave", groups_only_policy()).await;
    world.gitops_grants("alice-user", "alice", Role::User).await;
    world.send_on_leave("alice").await;

    // The periodic check of an applied role comes by during the leave.
    world.touch("alice-user", "resync").await;
    let changed = breaks_within(
        Duration::from_secs(15),
        || async { world.admin_assignments().get("alice-user").await.ok() },
        |a| phase_of(a) == Some(RolePhase::Applied),
    )
    .await;
    assert!(
        changed.is_none(),
        "the applied role was rewritten during the leave: {:#?}",
        changed.and_then(|a| a.status)
    );
}

/// The first Admin, made through a bootstrap admin who was removed afterwards as the README
/// advises, goes on leave and comes back: they are still an Admin.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn an_admin_back_from_leave_is_still_an_admin() {
    let world = World::start("atk-return", groups_only_policy()).await;
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    world
        .scenario
        .patch_tenant(json!({"roles": {"bootstrapAdmins": null}}))
        .await;
    let leave = world.send_on_leave("ida").await;
    world.touch("ida-admin", "during-leave").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let back = json!({"spec": {"reactivate": true}});
    world
        .deactivations()
        .patch(&leave, &PatchParams::default(), &Patch::Merge(&back))
        .await
        .expect("end the leave");
    world
        .wait_deactivation(&leave, DeactivationPhase::Reactivated)
        .await;
    world.touch("ida-admin", "after-leave").await;
    let settled = wait(
        "ida-admin to settle",
        || async { world.admin_assignments().get("ida-admin").await.ok() },
        |a| matches!(phase_of(a), Some(RolePhase::Applied | RolePhase::Denied)),
    )
    .await;
    assert_eq!(
        phase_of(&settled),
        Some(RolePhase::Applied),
        "the returning Admin lost the role: {:#?}",
        settled.status
    );
    world.wait_role("ida", Role::Admin).await;
}

/// Approvals are a list of at most 8. Anyone who may patch a RoleAssignment (every VP, every
/// it-admin) can fill it with copies of their own approval, which the webhook lets through
/// as "their own": the VP whose approval counts can then no longer add it.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn copies_of_one_approval_cannot_crowd_out_the_vp() {
    let world = World::start("atk-crowd", groups_only_policy()).await;
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    let escalate = assignment("alice-user", "alice", Role::User, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &escalate)
        .await
        .expect("an Admin may ask");
    world
        .wait_phase("alice-user", RolePhase::AwaitingApproval)
        .await;

    let own = RoleApproval {
        approver: upn("employee"),
        reference: Some("CAB-1".into()),
    };
    let crowd = vec![own; 8];
    let crowded = world
        .set_approvals(Identity::Employee, "alice-user", &crowd)
        .await;
    let vp = RoleApproval {
        approver: upn("vp"),
        reference: Some("CAB-2".into()),
    };
    let approvals = match &crowded {
        Ok(()) => [crowd.clone(), vec![vp]].concat(),
        Err(_) => vec![vp],
    };
    let approved = world
        .set_approvals(Identity::Vp, "alice-user", &approvals)
        .await;
    assert!(
        approved.is_ok(),
        "the VP could not approve after the employee's patch ({crowded:?}): {approved:?}"
    );
}

/// Trusting a group as GitOps trusts every member to declare any requester and approver.
/// Groups every user or every service account is in would trust everyone: the API server
/// refuses them on the Tenant.
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_tenant_cannot_trust_everyone_as_gitops() {
    let scenario = Scenario::without_operator("atk-gitops-all").await;
    for group in [
        "system:authenticated",
        "system:serviceaccounts",
        "system:unauthenticated",
    ] {
        let patch = json!({"spec": {"roles": {"identities": {"gitopsGroups": [group]}}}});
        let outcome = scenario
            .tenants()
            .patch(
                scenario.tenant_name(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
        assert!(
            outcome.is_err(),
            "a Tenant trusting {group} as GitOps was accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The welcome mail's Temporary Access Pass

fn access_pass_welcome() -> Value {
    json!({"mail": {"welcome": {
        "credential": "TemporaryAccessPass",
        "temporaryAccessPass": {"lifetimeMinutes": 240, "usableOnce": true},
    }}})
}

fn passes_of(scenario: &Scenario, object_id: &str) -> Vec<Value> {
    scenario
        .sim
        .temporary_access_passes()
        .into_iter()
        .filter(|p| p["userId"] == object_id)
        .collect()
}

fn mails_to(scenario: &Scenario, address: &str) -> Vec<Value> {
    scenario
        .sim
        .outbox()
        .into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == address))
        })
        .collect()
}

/// Deleting a User orphans its account; re-creating the manifest adopts it. Whoever may
/// delete and create Users must not get a fresh pass to an account that is in use, mailed
/// to an address of their choosing: the mailed pass is never replaced (README).
#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_recreated_user_gets_no_new_pass_for_an_account_in_use() {
    let scenario = Scenario::without_operator("atk-tap-adopt").await;
    scenario.patch_tenant(access_pass_welcome()).await;
    let scenario = scenario.with_operator();
    let original = scenario.user("tess", "Tess", "Adler");
    scenario.create(&original).await;
    let user = scenario.wait_ready("tess").await;
    let object_id = user.status.unwrap().object_id.unwrap();
    let mailed = passes_of(&scenario, &object_id);
    assert_eq!(mailed.len(), 1, "{mailed:#?}");

    // As `kubectl delete user tess --cascade=orphan`, then the manifest again with another
    // recipient. (The test control plane runs no garbage collector, so a plain delete leaves
    // the credentials Secret just as the orphaning delete does in a full cluster.)
    scenario
        .users()
        .delete("tess", &DeleteParams::default())
        .await
        .expect("delete the User");
    wait(
        "the User to be gone",
        || async { Some(scenario.users().get_opt("tess").await.expect("read")) },
        |u| u.is_none(),
    )
    .await;
    let mut again = scenario.user("tess", "Tess", "Adler");
    again.spec.welcome_mail = Some(WelcomeMail {
        recipient: "mallory@example.net".into(),
    });
    scenario.create(&again).await;
    scenario
        .wait_user("tess", "the account adopted", |u| {
            condition(u, "Provisioned").is_some_and(|c| c.0 == "True")
                && u.uid() != user.metadata.uid
        })
        .await;

    let leaked = breaks_within(
        Duration::from_secs(20),
        || async {
            Some((
                mails_to(&scenario, "mallory@example.net").len(),
                passes_of(&scenario, &object_id),
            ))
        },
        |(mails, passes)| *mails == 0 && passes.len() == 1 && passes[0]["id"] == mailed[0]["id"],
    )
    .await;
    assert!(
        leaked.is_none(),
        "a new pass for tess's account was issued or mailed to the new recipient: {leaked:#?}"
    );
}

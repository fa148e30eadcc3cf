//! Role changes end to end: the real API server calling the operator's admission webhook
//! with each test identity, the RoleAssignment controller, and the Graph simulator.
//!
//! The world is the one of `support::roles`: the Tenant maps Kubernetes user names to user
//! principal names by local part, so the identity `it-admin` is the account
//! `it-admin@contoso.example`, `employee` is `employee@…` and `vp` is `vp@…`; the group
//! `m365:gitops` is trusted as GitOps.

mod support;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use m365_operator::api::User;
use m365_operator::api::role::{AuditAction, Role, RoleAssignment, RolePhase};
use serde_json::{Value, json};
use support::cluster::{FIELD_MANAGER, Identity};
use support::roles::{
    ADMINS_GROUP, BOOTSTRAP_ADMIN, PORTAL_ADMIN, PORTAL_READER, STAFF_GROUP, World, assignment,
    role_policy, upn,
};
use support::scenario::{SENDER, Scenario, wait};

/// The shared secret the test introspects with.
const CALLER_SECRET: &str = "roles-test-caller";

/// What only these tests look at: mails, the groups and app roles the policy grants, tokens.
impl World {
    /// The role-change mails in the simulator's outbox to `local`@contoso.example.
    fn role_mails_to(&self, local: &str) -> Vec<Value> {
        self.scenario
            .sim
            .outbox()
            .into_iter()
            .filter(|m| {
                m["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Your access changed"))
            })
            .filter(|m| m["to"].to_string().contains(&upn(local)))
            .collect()
    }

    /// The ids of the groups `role_policy` grants that the account is in, as the simulator
    /// holds them.
    fn managed_groups_of(&self, object_id: &str) -> Vec<String> {
        self.groups_of(object_id)
            .into_iter()
            .filter(|id| id == ADMINS_GROUP || id == STAFF_GROUP)
            .collect()
    }

    /// The ids of the portal's app roles the account holds, as Graph lists them.
    async fn app_roles_of(&self, object_id: &str) -> Vec<String> {
        let mut roles: Vec<String> = self
            .graph()
            .app_role_assignments(object_id)
            .await
            .expect("list app roles")
            .into_iter()
            .map(|a| a.app_role_id)
            .collect();
        roles.sort();
        roles
    }

    /// The first-session token in the credentials Secret of the User named `user`.
    async fn credentials_token(&self, user: &str) -> String {
        let secrets: Api<Secret> = Api::namespaced(self.scenario.client.clone(), self.namespace());
        let user: User = self.scenario.users().get(user).await.expect("the User");
        let name = user
            .status
            .and_then(|s| s.credentials_secret)
            .expect("a credentials Secret");
        let secret = secrets.get(&name).await.expect("the Secret");
        let bytes = secret.data.unwrap_or_default()["firstSessionToken"]
            .0
            .clone();
        String::from_utf8(bytes).expect("a UTF-8 token")
    }
}

fn actions(assignment: &RoleAssignment) -> Vec<(AuditAction, String)> {
    assignment
        .status
        .as_ref()
        .map(|s| {
            s.history
                .iter()
                .map(|h| (h.action, h.actor.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Lets `identity` write RoleAssignment status in the world's namespace, as a careless RBAC
/// grant would.
async fn grant_status_writes(world: &World, identity: Identity) {
    let rbac = json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "status-writers"},
         "rules": [{"apiGroups": ["m365-operator.io"], "resources": ["roleassignments/status"],
                    "verbs": ["patch", "update"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "status-writers"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "status-writers"},
         "subjects": [{"kind": "User", "name": identity.user_name()}]},
    ]);
    let client = world.scenario.client.clone();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let role: k8s_openapi::api::rbac::v1::Role = serde_json::from_value(rbac[0].clone()).unwrap();
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(client.clone(), world.namespace())
        .patch("status-writers", &params, &Patch::Apply(&role))
        .await
        .expect("the Role");
    let binding: k8s_openapi::api::rbac::v1::RoleBinding =
        serde_json::from_value(rbac[1].clone()).unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(client, world.namespace())
        .patch("status-writers", &params, &Patch::Apply(&binding))
        .await
        .expect("the RoleBinding");
}

/// Introspects `token` at the operator; true when active.
async fn is_active(operator: &str, token: &str) -> bool {
    let response = reqwest::Client::new()
        .post(format!("{operator}/introspect"))
        .bearer_auth(CALLER_SECRET)
        .form(&[("token", token)])
        .send()
        .await
        .expect("reach the operator");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("JSON");
    answer["active"] == true
}

async fn store_introspection_caller(scenario: &Scenario) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": m365_operator::revocation::CALLERS_SECRET},
        "stringData": {"tests": CALLER_SECRET},
    }))
    .unwrap();
    Api::<Secret>::namespaced(scenario.client.clone(), &scenario.namespace)
        .patch(
            m365_operator::revocation::CALLERS_SECRET,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("store the introspection caller");
}

/// How often an Event with `reason` happened: the recorder folds repeats into a series.
fn occurrences(events: &[k8s_openapi::api::events::v1::Event], reason: &str) -> i32 {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn admins_change_roles_vps_approve_escalations_and_every_step_is_recorded() {
    let world = World::start("roles", role_policy()).await;
    store_introspection_caller(&world.scenario).await;
    let alice = world.object_id("alice").await;
    let ida = world.object_id("ida").await;

    // GitOps applies the first Admin, with the requester and approver of the merged PR.
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    assert_eq!(
        world.managed_groups_of(&ida),
        vec![ADMINS_GROUP, STAFF_GROUP]
    );

    // The IT admin, now an Admin, gives alice the User role: an escalation from Pending.
    let to_user = assignment("alice-user", "alice", Role::User, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &to_user)
        .await
        .expect("an Admin may ask");
    let waiting = world
        .wait_phase("alice-user", RolePhase::AwaitingApproval)
        .await;
    let approved = waiting
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Approved")
        .cloned()
        .unwrap();
    assert_eq!(
        (approved.status.as_str(), approved.reason.as_str()),
        ("False", "VpApprovalMissing")
    );
    assert!(
        approved.message.contains("needs a VP's approval"),
        "{}",
        approved.message
    );
    assert!(
        world.managed_groups_of(&alice).is_empty(),
        "nothing changes without the approval"
    );

    world
        .approve(Identity::Vp, "alice-user", &upn("vp"))
        .await
        .expect("the VP approves as herself");
    world.wait_phase("alice-user", RolePhase::Applied).await;
    world.wait_role("alice", Role::User).await;
    assert_eq!(world.managed_groups_of(&alice), vec![STAFF_GROUP]);
    assert_eq!(world.app_roles_of(&alice).await, vec![PORTAL_READER]);

    // Up to Admin, approved by the VP from the start; the session token carries the role.
    let to_admin = assignment("alice-admin", "alice", Role::Admin, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &to_admin)
        .await
        .expect("an Admin may ask");
    world
        .approve(Identity::Vp, "alice-admin", &upn("vp"))
        .await
        .expect("approved");
    world.wait_phase("alice-admin", RolePhase::Applied).await;
    world.wait_role("alice", Role::Admin).await;
    assert_eq!(
        world.managed_groups_of(&alice),
        vec![ADMINS_GROUP, STAFF_GROUP]
    );
    assert_eq!(world.app_roles_of(&alice).await, vec![PORTAL_ADMIN]);
    let admin_token = world.credentials_token("alice").await;
    assert_eq!(claims_of(&admin_token)["role"], "Admin");
    let operator = format!(
        "http://{}",
        world
            .scenario
            .operator
            .as_ref()
            .unwrap()
            .http_address()
            .await
    );
    assert!(
        is_active(&operator, &admin_token).await,
        "the Admin token is active before the downgrade"
    );

    // Down to User: no approval needed; the Admin-era token stops working.
    let back = assignment("alice-back", "alice", Role::User, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &back)
        .await
        .expect("an Admin may ask");
    let applied = world.wait_phase("alice-back", RolePhase::Applied).await;
    world.wait_role("alice", Role::User).await;
    assert_eq!(world.managed_groups_of(&alice), vec![STAFF_GROUP]);
    assert_eq!(world.app_roles_of(&alice).await, vec![PORTAL_READER]);
    assert!(
        applied
            .status
            .as_ref()
            .unwrap()
            .tokens_valid_after
            .is_some()
    );
    assert!(
        !is_active(&operator, &admin_token).await,
        "the token issued under Admin is refused"
    );
    let user_token = world.credentials_token("alice").await;
    assert_eq!(claims_of(&user_token)["role"], "User");
    assert!(
        is_active(&operator, &user_token).await,
        "the new token, issued after, is active"
    );

    // The audit record of each request, and the older ones superseded.
    let audited = world.wait_phase("alice-admin", RolePhase::Superseded).await;
    let steps = actions(&audited);
    for expected in [
        (AuditAction::Requested, upn("it-admin")),
        (AuditAction::Approved, upn("vp")),
        (AuditAction::Applied, "m365-operator".to_string()),
        (AuditAction::Notified, "m365-operator".to_string()),
        (AuditAction::Superseded, "m365-operator".to_string()),
    ] {
        assert!(
            steps.contains(&expected),
            "{expected:?} missing from {steps:?}"
        );
    }
    let downgrade = actions(&world.wait_phase("alice-back", RolePhase::Applied).await);
    assert!(
        downgrade
            .iter()
            .any(|(a, _)| *a == AuditAction::TokensRevoked),
        "{downgrade:?}"
    );
    assert!(
        !downgrade.iter().any(|(a, _)| *a == AuditAction::Approved),
        "a downgrade needs no approval"
    );
    world.wait_phase("alice-user", RolePhase::Superseded).await;
    let logs = world.scenario.operator.as_ref().unwrap().logs();
    assert!(
        logs.matches("role change audit").count() >= 12,
        "audit lines in the log"
    );

    // One mail per applied change, to alice's own address, from the sender mailbox.
    let mails = world.role_mails_to("alice");
    let subjects: Vec<&str> = mails.iter().filter_map(|m| m["subject"].as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "Your access changed: Pending → User",
            "Your access changed: User → Admin",
            "Your access changed: Admin → User",
        ]
    );
    assert!(mails.iter().all(|m| m["from"].to_string().contains(SENDER)));
    let changes = wait(
        "three RoleChanged Events on alice",
        || async {
            Some(occurrences(
                &world.scenario.events_for("alice").await,
                "RoleChanged",
            ))
        },
        |count| *count >= 3,
    )
    .await;
    assert_eq!(changes, 3);
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn refusals_name_the_reason_and_leave_entra_alone() {
    let world = World::start("role-refusals", role_policy()).await;
    world.gitops_grants("ida-admin", "ida", Role::Admin).await;
    let alice = world.object_id("alice").await;

    // A plain employee, asking in her own name.
    let by_employee = assignment("by-eve", "alice", Role::User, &upn("employee"), &[]);
    let refused = world
        .request(Identity::Employee, &by_employee)
        .await
        .unwrap_err();
    assert!(
        refused.contains("has role Pending; only an Admin may change roles"),
        "{refused}"
    );

    // Someone claiming to be the Admin.
    let impostor = assignment("impostor", "alice", Role::Admin, &upn("it-admin"), &[]);
    let refused = world
        .request(Identity::Employee, &impostor)
        .await
        .unwrap_err();
    assert!(
        refused.contains(
            "the declared requester it-admin@contoso.example is not who sent this request"
        ) && refused.contains("Kubernetes user employee is employee@contoso.example"),
        "{refused}"
    );

    // A service account: not a person the Tenant can name, and not GitOps.
    let stranger = assignment("stranger", "alice", Role::User, &upn("it-admin"), &[]);
    let refused = world
        .request(Identity::Operator, &stranger)
        .await
        .unwrap_err();
    assert!(refused.contains("is neither a person"), "{refused}");

    // Approving on someone else's behalf, or one's own request.
    let forged = assignment(
        "forged",
        "alice",
        Role::Admin,
        &upn("it-admin"),
        &[&upn("vp")],
    );
    let refused = world.request(Identity::ItAdmin, &forged).await.unwrap_err();
    assert!(
        refused.contains("can only be added by vp@contoso.example"),
        "{refused}"
    );
    let escalate = assignment("escalate", "alice", Role::Admin, &upn("it-admin"), &[]);
    world
        .request(Identity::ItAdmin, &escalate)
        .await
        .expect("an Admin may ask");
    let refused = world
        .approve(Identity::ItAdmin, "escalate", &upn("it-admin"))
        .await
        .unwrap_err();
    assert!(refused.contains("cannot also approve it"), "{refused}");
    let refused = world
        .approve(Identity::Employee, "escalate", &upn("vp"))
        .await
        .unwrap_err();
    assert!(
        refused.contains("can only be added by vp@contoso.example"),
        "{refused}"
    );

    // An approval by someone who is not a VP does not count.
    world
        .approve(Identity::Employee, "escalate", &upn("employee"))
        .await
        .expect("anyone may add their own approval");
    world
        .wait_phase("escalate", RolePhase::AwaitingApproval)
        .await;
    let waiting = wait(
        "the employee's approval to be judged",
        || async {
            world
                .assignments(Identity::Admin)
                .await
                .get("escalate")
                .await
                .ok()
        },
        |a| {
            actions(a)
                .iter()
                .any(|(action, _)| *action == AuditAction::ApprovalRejected)
        },
    )
    .await;
    assert_eq!(
        waiting.status.as_ref().unwrap().phase,
        Some(RolePhase::AwaitingApproval)
    );
    let message = &waiting
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Approved")
        .unwrap()
        .message;
    assert!(
        message.contains("employee@contoso.example: not a VP"),
        "{message}"
    );
    assert!(
        world.managed_groups_of(&alice).is_empty(),
        "Entra is untouched"
    );

    // The record of a current role cannot be deleted; a superseded one can.
    let refused = world
        .assignments(Identity::ItAdmin)
        .await
        .delete("ida-admin", &DeleteParams::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("holds the current role (Admin) of User ida"),
        "{refused}"
    );

    // Status is the operator's record, whatever RBAC grants: GitOps allowed to write it by
    // mistake still cannot mark a request Applied.
    grant_status_writes(&world, Identity::Gitops).await;
    let forged = json!({"status": {"phase": "Applied"}});
    let gitops = world.assignments(Identity::Gitops).await;
    // Polled: the new RoleBinding takes a moment to reach the API server's authorizer.
    let refused = wait(
        "the webhook to refuse GitOps' status write",
        || async {
            let written = gitops
                .patch_status("escalate", &PatchParams::default(), &Patch::Merge(&forged))
                .await;
            Some(written.map(drop).map_err(|e| e.to_string()))
        },
        |result| matches!(result, Err(e) if !e.contains("cannot patch resource")),
    )
    .await
    .unwrap_err();
    assert!(refused.contains("only the operator"), "{refused}");

    // The webhook's refusals are on alice's record too.
    let events = wait(
        "denial Events on alice",
        || async { Some(world.scenario.events_for("alice").await) },
        |events| occurrences(events, "RoleChangeDenied") >= 6,
    )
    .await;
    assert!(events.iter().all(|e| {
        e.note
            .as_deref()
            .is_none_or(|n| !n.contains("sim-client-secret"))
    }));
    assert!(
        world.role_mails_to("alice").is_empty(),
        "nobody told alice of a change"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_operator_fills_in_the_webhook_ca_bundle() {
    let world = World::start("role-webhook", role_policy()).await;
    let configuration =
        Api::<ValidatingWebhookConfiguration>::all(Client::clone(&world.scenario.client))
            .get(&world.webhook)
            .await
            .expect("the configuration");
    let bundle = configuration.webhooks.unwrap()[0]
        .client_config
        .ca_bundle
        .clone()
        .expect("a caBundle");
    let secret: Secret = Api::namespaced(world.scenario.client.clone(), world.namespace())
        .get("m365-operator-webhook-tls")
        .await
        .expect("the operator's webhook Secret");
    assert_eq!(
        bundle.0,
        secret.data.unwrap()["ca.crt"].0,
        "the caBundle is the operator's CA"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_in_the_middle_of_a_change_it_finishes_it_once() {
    let mut world = World::start("role-crash", role_policy()).await;
    let alice = world.object_id("alice").await;
    let namespace = world.namespace().to_string();
    // Graph adds the member and holds the answer: the operator dies not knowing.
    world.scenario.sim.set_faults(graph_sim::Faults {
        delay_after_commit_ms: [("POST /groups/{id}/members/$ref".to_string(), 60_000)].into(),
        ..Default::default()
    });
    let change = assignment(
        "alice-user",
        "alice",
        Role::User,
        BOOTSTRAP_ADMIN,
        &[&upn("vp")],
    );
    world
        .request(Identity::Gitops, &change)
        .await
        .expect("GitOps may ask");
    wait(
        "alice in the staff group",
        || async { Some(world.managed_groups_of(&alice)) },
        |groups| groups.contains(&STAFF_GROUP.to_string()),
    )
    .await;
    world.scenario.operator().kill();
    let api: Api<RoleAssignment> = Api::namespaced(world.scenario.client.clone(), &namespace);
    let mid = api.get("alice-user").await.unwrap().status.unwrap();
    assert_eq!(mid.phase, Some(RolePhase::Applying));

    // Restarted, it finishes the change; this time Graph holds back the mail's answer.
    world.scenario.sim.set_faults(graph_sim::Faults {
        delay_after_commit_ms: [("POST /users/{id}/sendMail".to_string(), 60_000)].into(),
        ..Default::default()
    });
    world.scenario.operator().restart(&namespace);
    let role_mails = |world: &World| world.role_mails_to("alice").len();
    wait(
        "the role mail in the outbox",
        || async { Some(role_mails(&world)) },
        |n| *n > 0,
    )
    .await;
    world.scenario.operator().kill();
    let mid = api.get("alice-user").await.unwrap().status.unwrap();
    assert_eq!(
        mid.notification
            .map(|n| format!("{:?}", n.state))
            .as_deref(),
        Some("Sending")
    );

    world.scenario.sim.set_faults(graph_sim::Faults::default());
    world.scenario.operator().restart(&namespace);
    let done = wait(
        "the mail recorded as sent",
        || async { api.get("alice-user").await.ok() },
        |a| {
            a.status
                .as_ref()
                .and_then(|s| s.notification.as_ref())
                .is_some_and(|n| format!("{:?}", n.state) == "Sent")
        },
    )
    .await;
    assert_eq!(role_mails(&world), 1, "exactly one mail");
    assert_eq!(world.managed_groups_of(&alice), vec![STAFF_GROUP]);
    let steps = actions(&done);
    let count = |action| steps.iter().filter(|(a, _)| *a == action).count();
    assert_eq!(
        (count(AuditAction::Applied), count(AuditAction::Notified)),
        (1, 1),
        "{steps:?}"
    );
}

//! The world the role tests run in: a Tenant with a role policy, the operator serving its
//! admission webhook, a webhook configuration for the test's namespace only, and four people
//! to give roles to.
//!
//! The Tenant maps Kubernetes user names to user principal names by local part, so the
//! identity `it-admin` is the account `it-admin@contoso.example`, `employee` is
//! `employee@…` and `vp` is `vp@…`; the group `m365:gitops` is trusted as GitOps.
#![allow(dead_code, reason = "each test crate uses only part of this module")]

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role as RbacRole, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use m365_operator::api::User;
use m365_operator::api::role::{Role, RoleApproval, RoleAssignment, RoleAssignmentSpec, RolePhase};
use m365_operator::graph::budget::Limits;
use m365_operator::graph::{Credential, Graph, Sensitive, TenantConnection};
use serde_json::{Value, json};

use super::cluster::{self, Identity};
use super::operator::Operator;
use super::scenario::{DOMAIN, Scenario, sim_config, wait};

/// The group every Admin is in.
pub const ADMINS_GROUP: &str = "00000000-0000-0000-0000-00000000a001";
/// The group every role above Pending is in.
pub const STAFF_GROUP: &str = "00000000-0000-0000-0000-00000000a002";
/// The Tenant's VP group: its members' approvals let an escalation through.
pub const VP_GROUP: &str = "00000000-0000-0000-0000-00000000a003";
/// A group a policy may give Approvers alone.
pub const APPROVERS_GROUP: &str = "00000000-0000-0000-0000-00000000a004";
/// The service principal of the intranet portal, whose app roles a policy may grant.
pub const PORTAL: &str = "00000000-0000-0000-0000-00000000b001";
/// The portal's app role for administrators.
pub const PORTAL_ADMIN: &str = "00000000-0000-0000-0000-00000000b002";
/// The portal's app role for readers.
pub const PORTAL_READER: &str = "00000000-0000-0000-0000-00000000b003";
/// Accepted as an Admin requester before any Admin exists.
pub const BOOTSTRAP_ADMIN: &str = "platform-owner@contoso.example";

/// The app registration the scenario's Tenant signs in with.
const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000000c1";
/// Its client secret, as the scenario's credentials Secret holds it.
const CLIENT_SECRET: &str = "sim-client-secret";
/// The label that ties a namespace to the webhook configuration of its test.
const NAMESPACE_LABEL: &str = "m365-operator.io/roles-test";

/// The people every world starts with: User name, given name and the local part of the UPN,
/// which is also the Kubernetes user name of the identity acting as them.
const PEOPLE: [(&str, &str, &str); 4] = [
    ("ida", "Ida", "it-admin"),
    ("eve", "Eve", "employee"),
    ("vera", "Vera", "vp"),
    ("alice", "Alice", "alice"),
];

/// One test's world: the scenario, its webhook configuration, and the people.
pub struct World {
    /// The namespace, simulator, Tenant and operator.
    pub scenario: Scenario,
    /// The name of the ValidatingWebhookConfiguration, deleted when the world is dropped.
    pub webhook: String,
}

impl World {
    /// A Tenant with `policy` as its role policy, the operator serving its webhook, a webhook
    /// configuration for this namespace only, RBAC for the identities, and four Active
    /// Users: `ida` (it-admin), `eve` (employee), `vera` (vp, in the VP group) and `alice`.
    pub async fn start(prefix: &str, policy: Value) -> Self {
        let mut scenario = Scenario::with_sim_config(prefix, simulated_tenant()).await;
        scenario.patch_tenant(json!({ "roles": policy })).await;
        let port = free_port();
        let webhook = format!("roles-{}", scenario.namespace);
        let flags = webhook_flags(port, &webhook);
        scenario.operator = Some(Operator::start_with(&scenario.namespace, flags));
        let world = World { scenario, webhook };
        world.register_webhook(port).await;
        world.grant_identities().await;
        world.onboard_people().await;
        world.wait_for_webhook().await;
        world
    }

    /// The namespace everything of this world lives in.
    pub fn namespace(&self) -> &str {
        &self.scenario.namespace
    }

    /// Creates the four Users, waits until each is Ready, and puts vera in the VP group.
    async fn onboard_people(&self) {
        for (name, given, local) in PEOPLE {
            let mut user = self.scenario.user(name, given, "Example");
            user.spec.upn_local_part = Some(local.into());
            self.scenario.create(&user).await;
        }
        for (name, _, _) in PEOPLE {
            self.scenario.wait_ready(name).await;
        }
        let vera = self.object_id("vera").await;
        self.graph()
            .add_member(VP_GROUP, &vera)
            .await
            .expect("vera joins the VP group");
    }

    /// The configuration points at the operator with an empty caBundle: the operator fills
    /// it in. Only this test's namespace is matched.
    async fn register_webhook(&self, port: u16) {
        let admin = &self.scenario.client;
        let label = json!({"metadata": {"labels": {NAMESPACE_LABEL: self.namespace()}}});
        Api::<Namespace>::all(admin.clone())
            .patch(
                self.namespace(),
                &PatchParams::default(),
                &Patch::Merge(&label),
            )
            .await
            .expect("label the namespace");
        Api::<ValidatingWebhookConfiguration>::all(admin.clone())
            .create(&PostParams::default(), &self.webhook_configuration(port))
            .await
            .expect("register the webhook");
    }

    /// Every RoleAssignment operation in this namespace goes to the operator on `port`.
    fn webhook_configuration(&self, port: u16) -> ValidatingWebhookConfiguration {
        let url = format!("https://127.0.0.1:{port}/validate/roleassignments");
        serde_json::from_value(json!({
            "metadata": {"name": self.webhook},
            "webhooks": [{
                "name": "roleassignments.m365-operator.io",
                "clientConfig": {"url": url},
                "rules": [{
                    "apiGroups": ["m365-operator.io"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE", "DELETE"],
                    "resources": ["roleassignments"],
                }, {
                    "apiGroups": ["m365-operator.io"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["UPDATE"],
                    "resources": ["roleassignments/status"],
                }],
                "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: self.namespace()}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }],
        }))
        .expect("a webhook configuration")
    }

    /// Until the API server calls the webhook with the CA the operator put in, every
    /// request fails; a dry run that the webhook refuses for a known reason shows it answers.
    async fn wait_for_webhook(&self) {
        let probe = assignment("probe", "alice", Role::User, &upn("it-admin"), &[]);
        let api = self.assignments(Identity::Employee).await;
        let params = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let _refused = wait(
            "the webhook to answer",
            || async {
                Some(
                    api.create(&params, &probe)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                )
            },
            |result| matches!(result, Err(e) if e.contains("declared requester")),
        )
        .await;
    }

    /// Every identity may create, read, patch and delete RoleAssignments here: refusals must
    /// come from the webhook, not from RBAC.
    async fn grant_identities(&self) {
        let meta = ObjectMeta {
            name: Some("role-requests".into()),
            namespace: Some(self.namespace().into()),
            ..Default::default()
        };
        let binding = RoleBinding {
            metadata: meta.clone(),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Role".into(),
                name: "role-requests".into(),
            },
            subjects: Some(requesting_identities()),
        };
        let client = &self.scenario.client;
        Api::<RbacRole>::namespaced(client.clone(), self.namespace())
            .create(&PostParams::default(), &role_requests(meta))
            .await
            .expect("create the Role");
        Api::<RoleBinding>::namespaced(client.clone(), self.namespace())
            .create(&PostParams::default(), &binding)
            .await
            .expect("bind it");
    }

    /// GitOps gives `user` the role `role`, in the name of the bootstrap admin, with the VP's
    /// approval from the merged pull request, and waits until it is in effect.
    pub async fn gitops_grants(&self, name: &str, user: &str, role: Role) {
        let request = assignment(name, user, role, BOOTSTRAP_ADMIN, &[&upn("vp")]);
        self.request(Identity::Gitops, &request)
            .await
            .expect("GitOps is trusted with the declared requester");
        self.wait_phase(name, RolePhase::Applied).await;
        self.wait_role(user, role).await;
    }

    /// The RoleAssignments of this namespace, as `identity` sees them.
    pub async fn assignments(&self, identity: Identity) -> Api<RoleAssignment> {
        Api::namespaced(cluster::client(identity).await, self.namespace())
    }

    /// The RoleAssignments of this namespace, as the cluster admin sees them.
    pub fn admin_assignments(&self) -> Api<RoleAssignment> {
        Api::namespaced(self.scenario.client.clone(), self.namespace())
    }

    /// Creates a RoleAssignment as `identity`; the API server's refusal as text.
    pub async fn request(
        &self,
        identity: Identity,
        assignment: &RoleAssignment,
    ) -> Result<(), String> {
        self.assignments(identity)
            .await
            .create(&PostParams::default(), assignment)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Adds an approval as `identity`, the way `kubectl patch` would.
    pub async fn approve(
        &self,
        identity: Identity,
        name: &str,
        approver: &str,
    ) -> Result<(), String> {
        let api = self.assignments(identity).await;
        let current = api.get(name).await.map_err(|e| e.to_string())?;
        let mut approvals = current.spec.approvals.clone();
        approvals.push(RoleApproval {
            approver: approver.into(),
            reference: Some("CAB-7".into()),
        });
        set_approvals_with(&api, name, &approvals).await
    }

    /// Merge-patches the approvals of `name` to `approvals`, as `identity`.
    pub async fn set_approvals(
        &self,
        identity: Identity,
        name: &str,
        approvals: &[RoleApproval],
    ) -> Result<(), String> {
        set_approvals_with(&self.assignments(identity).await, name, approvals).await
    }

    /// Polls the RoleAssignment `name` until it is in `phase`.
    pub async fn wait_phase(&self, name: &str, phase: RolePhase) -> RoleAssignment {
        let api = self.admin_assignments();
        wait(
            &format!("{name} to be {phase:?}"),
            || async { api.get(name).await.ok() },
            |a| phase_of(a) == Some(phase),
        )
        .await
    }

    /// The Entra object id of the User named `user`.
    pub async fn object_id(&self, user: &str) -> String {
        let user: User = self.scenario.users().get(user).await.expect("the User");
        user.status.and_then(|s| s.object_id).expect("an account")
    }

    /// Polls the User named `user` until its effective role is `role`.
    pub async fn wait_role(&self, user: &str, role: Role) -> User {
        self.scenario
            .wait_user(user, &format!("role {role}"), |u| {
                u.status.as_ref().and_then(|s| s.role) == Some(role)
            })
            .await
    }

    /// The ids of the groups the account is in, as the simulator holds them, sorted.
    pub fn groups_of(&self, object_id: &str) -> Vec<String> {
        let mut groups: Vec<String> = self
            .scenario
            .sim
            .groups()
            .into_iter()
            .filter(|g| {
                g["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|id| id == object_id))
            })
            .filter_map(|g| g["id"].as_str().map(String::from))
            .collect();
        groups.sort();
        groups
    }

    /// A Graph client of the simulated tenant, signed in as the operator's app.
    pub fn graph(&self) -> Graph {
        Graph::new(TenantConnection {
            graph: format!("{}/v1.0", self.scenario.sim.base_url()),
            login: self.scenario.sim.base_url(),
            tenant_id: graph_sim::Config::default().tenant_id,
            limits: Limits::default(),
            ca_bundle: None,
            credential: Credential::ClientSecret {
                client_id: CLIENT_ID.into(),
                secret: Sensitive::new(CLIENT_SECRET.to_string()),
            },
        })
        .expect("a Graph client")
    }
}

impl Drop for World {
    /// A `failurePolicy: Fail` hook left pointing at a dead port would break later tests.
    fn drop(&mut self) {
        let name = self.webhook.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own deletes the configuration.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let client = cluster::client(Identity::Admin).await;
                let _ = Api::<ValidatingWebhookConfiguration>::all(client)
                    .delete(&name, &DeleteParams::default())
                    .await;
            });
        });
        let _ = handle.join();
    }
}

/// The flags that make the operator serve the webhook on `port` and keep the caBundle of
/// the configuration `webhook` current.
fn webhook_flags(port: u16, webhook: &str) -> Vec<String> {
    let listen = format!("127.0.0.1:{port}");
    [
        "--webhook-listen",
        &listen,
        "--webhook-san",
        "127.0.0.1",
        "--webhook-configuration",
        webhook,
    ]
    .map(String::from)
    .into()
}

/// A Role that may do everything with RoleAssignments.
fn role_requests(metadata: ObjectMeta) -> RbacRole {
    RbacRole {
        metadata,
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["m365-operator.io".into()]),
            resources: Some(vec!["roleassignments".into()]),
            verbs: [
                "create", "get", "list", "watch", "patch", "update", "delete",
            ]
            .map(String::from)
            .into(),
            ..Default::default()
        }]),
    }
}

/// The identities the tests send requests as, including the operator's service account,
/// which is neither a person nor GitOps.
fn requesting_identities() -> Vec<Subject> {
    [
        Identity::ItAdmin,
        Identity::Employee,
        Identity::Vp,
        Identity::Gitops,
        Identity::Operator,
    ]
    .iter()
    .map(|identity| Subject {
        kind: "User".into(),
        name: identity.user_name().into(),
        ..Default::default()
    })
    .collect()
}

/// Merge-patches the approvals of `name` through `api`; the API server's refusal as text.
async fn set_approvals_with(
    api: &Api<RoleAssignment>,
    name: &str,
    approvals: &[RoleApproval],
) -> Result<(), String> {
    let patch = json!({"spec": {"approvals": approvals}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A loopback port nobody listens on right now, for the operator's webhook.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The scenario's tenant with the groups and the portal's app roles a role policy grants.
pub fn simulated_tenant() -> graph_sim::Config {
    let mut config = sim_config();
    config.groups = serde_json::from_value(json!([
        {"id": ADMINS_GROUP, "displayName": "Tenant Admins"},
        {"id": STAFF_GROUP, "displayName": "Staff"},
        {"id": VP_GROUP, "displayName": "Vice Presidents"},
        {"id": APPROVERS_GROUP, "displayName": "Purchase Approvers"},
    ]))
    .expect("group seeds");
    config.service_principals = serde_json::from_value(json!([{
        "id": PORTAL,
        "displayName": "Intranet Portal",
        "appRoles": [
            {"id": PORTAL_ADMIN, "value": "Portal.Admin"},
            {"id": PORTAL_READER, "value": "Portal.Reader"},
        ],
    }]))
    .expect("service principal seeds");
    config
}

/// The default role policy: identities by local part, `m365:gitops` trusted as GitOps, a
/// bootstrap admin, and grants of groups and portal app roles for Admin, Approver and User.
pub fn role_policy() -> Value {
    json!({
        "vpGroup": VP_GROUP,
        "bootstrapAdmins": [BOOTSTRAP_ADMIN],
        "identities": {"username": "LocalPart", "gitopsGroups": ["m365:gitops"]},
        "grants": {
            "Admin": {
                "groups": [ADMINS_GROUP, STAFF_GROUP],
                "appRoles": [{"resourceId": PORTAL, "appRoleId": PORTAL_ADMIN}],
            },
            "Approver": {"groups": [STAFF_GROUP]},
            "User": {
                "groups": [STAFF_GROUP],
                "appRoles": [{"resourceId": PORTAL, "appRoleId": PORTAL_READER}],
            },
        },
    })
}

/// A request named `name` to give `user` the role `role`, in the name of `requester`, with
/// the approvals of `approvers` already in it.
pub fn assignment(
    name: &str,
    user: &str,
    role: Role,
    requester: &str,
    approvers: &[&str],
) -> RoleAssignment {
    RoleAssignment::new(
        name,
        RoleAssignmentSpec {
            user: user.into(),
            role,
            justification: format!("{user} needs {role} for the year-end close"),
            requester: requester.into(),
            approvals: approvers
                .iter()
                .map(|a| RoleApproval {
                    approver: a.to_string(),
                    reference: None,
                })
                .collect(),
        },
    )
}

/// The user principal name with this local part in the scenario's domain.
pub fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// The phase a RoleAssignment's status shows, if any.
pub fn phase_of(assignment: &RoleAssignment) -> Option<RolePhase> {
    assignment.status.as_ref().and_then(|s| s.phase)
}

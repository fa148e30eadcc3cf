//! The admission check of RoleAssignments: is the person who sends the request the one it
//! declares, and may they ask at all?
//!
//! Only the API server knows who sent a request, so only an admission webhook can compare
//! the declared requester (and each approver) with the authenticated user. What the webhook
//! decides here from the cluster's state, the controller checks again before acting: state
//! can change between admission and reconcile.
//!
//! | operation | refused when |
//! |---|---|
//! | CREATE | the User or its Tenant's role policy is missing; the sender is a person other than the declared requester, or maps to no one; an approval is the sender's own or someone else's; the requester is not an Active Admin |
//! | UPDATE | an added approval names someone other than the sender, or the requester |
//! | DELETE | the RoleAssignment holds its User's current role |
//!
//! GitOps identities named by the Tenant are trusted to carry the requester and approvers of
//! the merged pull request; the other rules still apply to them.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use super::identity::{self, Sender, Standing};
use super::{check_requester, effective_role};
use crate::api::role::{AuditAction, RoleAssignment, RolePhase, RolePolicy};
use crate::api::{Tenant, User};
use crate::audit::{self, AuditRecord};

/// The path the API server posts RoleAssignment reviews to.
pub const PATH: &str = "/validate/roleassignments";

/// The Event reason of a refused request, on the User it was for.
pub const DENIED_REASON: &str = "RoleChangeDenied";

/// What the decision reads: every User, Tenant and RoleAssignment the operator watches.
#[derive(Clone)]
pub struct Cluster {
    pub users: Store<User>,
    pub tenants: Store<Tenant>,
    pub assignments: Store<RoleAssignment>,
    /// The Kubernetes user the operator itself runs as: the only one that writes a
    /// RoleAssignment's status. `None` when it could not be learnt; status writes are then
    /// left to RBAC alone.
    pub operator: Option<String>,
}

impl Cluster {
    /// Whether every store holds a complete list, waiting briefly for one being filled.
    async fn synced(&self) -> bool {
        let all = async {
            let _ = self.users.wait_until_ready().await;
            let _ = self.tenants.wait_until_ready().await;
            let _ = self.assignments.wait_until_ready().await;
        };
        tokio::time::timeout(SYNC_WAIT, all).await.is_ok()
    }
}

/// How long a review waits for the stores at start-up before refusing.
const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One request as the decision sees it.
pub struct Request<'a> {
    pub operation: Operation,
    /// `status` for a write to the status subresource.
    pub subresource: Option<&'a str>,
    pub sender: &'a Sender,
    pub namespace: &'a str,
    pub new: Option<&'a RoleAssignment>,
    pub old: Option<&'a RoleAssignment>,
}

/// Allowed, or refused with the reason the sender reads.
pub fn decide(request: &Request<'_>, cluster: &Cluster) -> Result<(), String> {
    if request.subresource == Some("status") {
        return status_write(request, cluster);
    }
    match (request.operation.clone(), request.new, request.old) {
        (Operation::Create, Some(new), _) => create(request, new, cluster),
        (Operation::Update, Some(new), Some(old)) => update(request, new, old, cluster),
        (Operation::Delete, _, Some(old)) => delete(request, old, cluster),
        (Operation::Connect, ..) => Ok(()),
        _ => Err("the review carries no RoleAssignment".into()),
    }
}

fn create(request: &Request<'_>, new: &RoleAssignment, cluster: &Cluster) -> Result<(), String> {
    let target = Target::find(request.namespace, &new.spec.user, cluster)?;
    let sender = target.sender_upn(request.sender)?;
    if let Some(upn) = sender.as_deref()
        && !identity::names(&new.spec.requester, upn)
    {
        return Err(format!(
            "the declared requester {} is not who sent this request: Kubernetes user {} is {upn}",
            new.spec.requester, request.sender.username
        ));
    }
    for approval in &new.spec.approvals {
        check_approver(&approval.approver, sender.as_deref(), &new.spec.requester)?;
    }
    check_requester(
        &new.spec.requester,
        &target.user.spec.tenant,
        &target.policy,
        &cluster.users.state(),
        &cluster.assignments.state(),
    )
    .map_err(|problem| problem.to_string())
}

fn update(
    request: &Request<'_>,
    new: &RoleAssignment,
    old: &RoleAssignment,
    cluster: &Cluster,
) -> Result<(), String> {
    let added: Vec<_> = new
        .spec
        .approvals
        .iter()
        .filter(|a| !old.spec.approvals.contains(a))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let target = Target::find(request.namespace, &new.spec.user, cluster)?;
    let sender = target.sender_upn(request.sender)?;
    for approval in added {
        check_approver(&approval.approver, sender.as_deref(), &new.spec.requester)?;
    }
    Ok(())
}

fn delete(request: &Request<'_>, old: &RoleAssignment, cluster: &Cluster) -> Result<(), String> {
    if super::phase_of(old) == Some(RolePhase::Applying) {
        // Deleted half-way, it would leave Entra changed with no record of why.
        return Err(format!(
            "RoleAssignment {} is being applied; it can be deleted once it is Applied (and then \
             superseded) or no longer Applying",
            old.name_any()
        ));
    }
    let user_exists = cluster
        .users
        .get(&ObjectRef::new(&old.spec.user).within(request.namespace))
        .is_some();
    let current = effective_role(
        &cluster.assignments.state(),
        request.namespace,
        &old.spec.user,
    );
    if user_exists && current.assignment.as_deref() == Some(old.name_any().as_str()) {
        return Err(format!(
            "RoleAssignment {} holds the current role ({}) of User {}: create a new \
             RoleAssignment to change it; this one can be deleted once superseded",
            old.name_any(),
            old.spec.role,
            old.spec.user
        ));
    }
    Ok(())
}

/// Status is the operator's record of what it decided and did, and an `Applied` phase is
/// what it acts on: nobody else may write it, whatever RBAC allows.
fn status_write(request: &Request<'_>, cluster: &Cluster) -> Result<(), String> {
    match &cluster.operator {
        Some(operator) if *operator != request.sender.username => Err(format!(
            "only the operator ({operator}) writes a RoleAssignment's status; {} may not",
            request.sender.username
        )),
        _ => Ok(()),
    }
}

/// The User a request is about, with its Tenant's domain and role policy.
struct Target {
    user: Arc<User>,
    domain: String,
    tenant: String,
    policy: RolePolicy,
}

impl Target {
    fn find(namespace: &str, user: &str, cluster: &Cluster) -> Result<Self, String> {
        let found = cluster
            .users
            .get(&ObjectRef::new(user).within(namespace))
            .ok_or_else(|| format!("User {user} does not exist in namespace {namespace}"))?;
        let tenant = cluster
            .tenants
            .get(&ObjectRef::new(&found.spec.tenant))
            .ok_or_else(|| format!("Tenant {} of User {user} does not exist", found.spec.tenant))?;
        let policy = tenant.spec.roles.clone().ok_or_else(|| {
            format!(
                "Tenant {} has no role policy (spec.roles): role changes are off",
                tenant.name_any()
            )
        })?;
        Ok(Target {
            user: found,
            domain: tenant.spec.domain.clone(),
            tenant: tenant.name_any(),
            policy,
        })
    }

    /// The sender's user principal name; `None` for a trusted GitOps identity.
    fn sender_upn(&self, sender: &Sender) -> Result<Option<String>, String> {
        match identity::standing(sender, &self.policy.identities, &self.domain) {
            Standing::Gitops => Ok(None),
            Standing::Person(upn) => Ok(Some(upn)),
            Standing::Unmapped => Err(format!(
                "Kubernetes user {} is neither a person Tenant {} can name (spec.roles.identities) \
                 nor one of its GitOps identities",
                sender.username, self.tenant
            )),
        }
    }
}

/// An approval may be added only by the approver, and never by the requester.
fn check_approver(approver: &str, sender: Option<&str>, requester: &str) -> Result<(), String> {
    if identity::names(approver, requester) {
        return Err(format!(
            "{approver} requested this change and cannot also approve it"
        ));
    }
    match sender {
        Some(upn) if !identity::names(approver, upn) => Err(format!(
            "an approval by {approver} can only be added by {approver}; this request comes from {upn}"
        )),
        _ => Ok(()),
    }
}

/// The Kubernetes user this process authenticates as, from a SelfSubjectReview; `None`
/// (logged) when the API server would not say.
pub async fn own_identity(client: &Client) -> Option<String> {
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    match reviews
        .create(
            &kube::api::PostParams::default(),
            &SelfSubjectReview::default(),
        )
        .await
    {
        Ok(review) => review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username),
        Err(error) => {
            tracing::error!(
                %error,
                "cannot learn the operator's own user name; RoleAssignment status writes are \
                 left to RBAC"
            );
            None
        }
    }
}

/// Starts watching what the decision reads, in `namespace` or everywhere, and returns the
/// webhook's review function. Until every watch has listed once, requests are refused: a
/// decision on a partial picture could let a non-Admin through.
pub fn start(
    client: Client,
    namespace: Option<&str>,
    operator: Option<String>,
    recorder: Recorder,
) -> impl Fn(AdmissionRequest<DynamicObject>) -> BoxFuture<'static, AdmissionResponse>
+ Send
+ Sync
+ 'static {
    let cluster = Cluster {
        users: follow(scoped(&client, namespace)),
        tenants: follow(Api::all(client.clone())),
        assignments: follow(scoped(&client, namespace)),
        operator,
    };
    move |request| review(cluster.clone(), recorder.clone(), request)
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A store kept current by a watch that runs as long as the process.
fn follow<K>(api: Api<K>) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|event| async move {
            if let Err(error) = event {
                tracing::warn!(%error, "admission watch failed; retrying");
            }
        });
    tokio::spawn(stream);
    store
}

fn review(
    cluster: Cluster,
    recorder: Recorder,
    request: AdmissionRequest<DynamicObject>,
) -> BoxFuture<'static, AdmissionResponse> {
    Box::pin(async move {
        let response = AdmissionResponse::from(&request);
        if !cluster.synced().await {
            return response.deny("the operator is still starting; try again in a few seconds");
        }
        let (new, old) = match (
            typed(request.object.as_ref()),
            typed(request.old_object.as_ref()),
        ) {
            (Ok(new), Ok(old)) => (new, old),
            (Err(e), _) | (_, Err(e)) => {
                return response.deny(format!("not a RoleAssignment: {e}"));
            }
        };
        let sender = Sender {
            username: request.user_info.username.clone().unwrap_or_default(),
            groups: request.user_info.groups.clone().unwrap_or_default(),
        };
        let namespace = request.namespace.clone().unwrap_or_default();
        let decision = decide(
            &Request {
                operation: request.operation.clone(),
                subresource: request.sub_resource.as_deref(),
                sender: &sender,
                namespace: &namespace,
                new: new.as_ref(),
                old: old.as_ref(),
            },
            &cluster,
        );
        let mut response = response;
        response.audit_annotations.insert(
            // The API server prefixes the webhook's name.
            "role-change".into(),
            match &decision {
                Ok(()) => "allowed".into(),
                Err(reason) => format!("denied: {reason}"),
            },
        );
        match decision {
            Ok(()) => response,
            Err(reason) => {
                if !request.dry_run {
                    let subject = new.as_ref().or(old.as_ref());
                    record_denial(&cluster, &recorder, &sender, &namespace, subject, &reason).await;
                }
                response.deny(reason)
            }
        }
    })
}

fn typed(object: Option<&DynamicObject>) -> Result<Option<RoleAssignment>, serde_json::Error> {
    object
        .map(|o| serde_json::to_value(o).and_then(serde_json::from_value))
        .transpose()
}

/// The audit line and, when the User exists, a Warning Event on it.
async fn record_denial(
    cluster: &Cluster,
    recorder: &Recorder,
    sender: &Sender,
    namespace: &str,
    subject: Option<&RoleAssignment>,
    reason: &str,
) {
    let Some(assignment) = subject else {
        return;
    };
    let approvals: Vec<String> = assignment
        .spec
        .approvals
        .iter()
        .map(|a| a.approver.clone())
        .collect();
    let name = format!("{namespace}/{}", assignment.name_any());
    audit::log(&AuditRecord {
        action: AuditAction::Denied,
        actor: &sender.username,
        assignment: &name,
        user: &assignment.spec.user,
        from: None,
        to: assignment.spec.role,
        requester: &assignment.spec.requester,
        justification: &assignment.spec.justification,
        approvals: &approvals,
        detail: reason,
    });
    let Some(user) = cluster
        .users
        .get(&ObjectRef::new(&assignment.spec.user).within(namespace))
    else {
        return;
    };
    let event = Event {
        type_: EventType::Warning,
        reason: DENIED_REASON.into(),
        note: Some(crate::reconcile::note::event_note(format!(
            "Role change to {} asked by {} (sent by {}) refused: {reason}",
            assignment.spec.role, assignment.spec.requester, sender.username
        ))),
        action: "ChangeRole".into(),
        // The refused request, by name: repeats of one request fold into a series, refusals
        // of different requests stay apart.
        secondary: Some(ObjectReference {
            api_version: Some(RoleAssignment::api_version(&()).into()),
            kind: Some(RoleAssignment::kind(&()).into()),
            namespace: Some(namespace.into()),
            name: Some(assignment.name_any()),
            ..Default::default()
        }),
    };
    if let Err(error) = recorder.publish(&event, &user.object_ref(&())).await {
        tracing::warn!(%error, "could not publish the denial Event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserStatus;
    use crate::api::role::{Role, RoleApproval, RoleAssignmentStatus, RolePhase};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn store<K>(objects: Vec<K>) -> Store<K>
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for object in objects {
            writer.apply_watcher_event(&Event::InitApply(object));
        }
        writer.apply_watcher_event(&Event::InitDone);
        store
    }

    fn tenant(roles: bool) -> Tenant {
        let mut spec = json!({
            "tenantId": "contoso.example",
            "domain": "contoso.example",
            "credentials": {"clientId": "app"},
            "licenses": {"e3": "ENTERPRISEPACK", "e5": "ENTERPRISEPREMIUM"},
        });
        if roles {
            spec["roles"] = json!({
                "identities": {"username": "LocalPart", "gitopsGroups": ["m365:gitops"]},
                "bootstrapAdmins": ["owner@contoso.example"],
            });
        }
        Tenant::new(
            "contoso",
            serde_json::from_value(spec).expect("a Tenant spec"),
        )
    }

    fn user(name: &str, local: &str) -> User {
        let mut user = crate::api::user::fixture::user("team", name, "contoso");
        user.status = Some(UserStatus {
            phase: Some(crate::api::Phase::Active),
            user_principal_name: Some(format!("{local}@contoso.example")),
            ..Default::default()
        });
        user
    }

    fn request_for(
        name: &str,
        user: &str,
        role: Role,
        requester: &str,
        approvers: &[&str],
    ) -> RoleAssignment {
        let spec = serde_json::from_value(json!({
            "user": user, "role": role, "requester": requester,
            "justification": "needed for the year-end close",
            "approvals": approvers.iter().map(|a| json!({"approver": a})).collect::<Vec<_>>(),
        }))
        .expect("a RoleAssignment spec");
        let mut assignment = RoleAssignment::new(name, spec);
        assignment.metadata.namespace = Some("team".into());
        assignment
    }

    fn applied(mut assignment: RoleAssignment, at: i64) -> RoleAssignment {
        assignment.status = Some(RoleAssignmentStatus {
            phase: Some(RolePhase::Applied),
            applied_at: Some(MicroTime(jiff::Timestamp::from_second(at).unwrap())),
            ..Default::default()
        });
        assignment
    }

    fn cluster(with_roles: bool) -> Cluster {
        Cluster {
            users: store(vec![
                user("ida", "it-admin"),
                user("eve", "employee"),
                user("alice", "alice"),
            ]),
            tenants: store(vec![tenant(with_roles)]),
            assignments: store(vec![
                applied(
                    request_for(
                        "ida-admin",
                        "ida",
                        Role::Admin,
                        "owner@contoso.example",
                        &[],
                    ),
                    100,
                ),
                applied(
                    request_for(
                        "alice-old",
                        "alice",
                        Role::User,
                        "it-admin@contoso.example",
                        &[],
                    ),
                    100,
                ),
                applied(
                    request_for(
                        "alice-now",
                        "alice",
                        Role::Approver,
                        "it-admin@contoso.example",
                        &[],
                    ),
                    200,
                ),
            ]),
            operator: Some("system:serviceaccount:m365-operator:m365-operator".into()),
        }
    }

    fn sender(username: &str, groups: &[&str]) -> Sender {
        Sender {
            username: username.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn create(cluster: &Cluster, from: &Sender, new: &RoleAssignment) -> Result<(), String> {
        let request = Request {
            operation: Operation::Create,
            subresource: None,
            sender: from,
            namespace: "team",
            new: Some(new),
            old: None,
        };
        decide(&request, cluster)
    }

    #[test]
    fn an_admin_asking_in_their_own_name_is_let_through() {
        let new = request_for("r", "alice", Role::Admin, "it-admin@contoso.example", &[]);
        assert_eq!(
            create(&cluster(true), &sender("it-admin", &[]), &new),
            Ok(())
        );
    }

    #[test]
    fn a_declared_requester_other_than_the_sender_is_refused() {
        let new = request_for("r", "alice", Role::Admin, "it-admin@contoso.example", &[]);
        let refused = create(&cluster(true), &sender("employee", &[]), &new).unwrap_err();
        assert!(
            refused.contains("Kubernetes user employee is employee@contoso.example"),
            "{refused}"
        );
    }

    #[test]
    fn gitops_carries_the_declared_requester_but_not_a_non_admin() {
        let gitops = sender("flux", &["m365:gitops"]);
        let by_owner = request_for(
            "r",
            "alice",
            Role::Admin,
            "owner@contoso.example",
            &["vp@contoso.example"],
        );
        assert_eq!(create(&cluster(true), &gitops, &by_owner), Ok(()));
        let by_employee = request_for("r", "alice", Role::Admin, "employee@contoso.example", &[]);
        let refused = create(&cluster(true), &gitops, &by_employee).unwrap_err();
        assert!(refused.contains("has role Pending"), "{refused}");
    }

    #[test]
    fn approvals_are_added_by_their_approver_only() {
        let cluster = cluster(true);
        let old = request_for("r", "alice", Role::Admin, "it-admin@contoso.example", &[]);
        let mut new = old.clone();
        new.spec.approvals.push(RoleApproval {
            approver: "vp@contoso.example".into(),
            reference: None,
        });
        let update = |from: &Sender| {
            decide(
                &Request {
                    operation: Operation::Update,
                    subresource: None,
                    sender: from,
                    namespace: "team",
                    new: Some(&new),
                    old: Some(&old),
                },
                &cluster,
            )
        };
        assert_eq!(update(&sender("vp", &[])), Ok(()));
        let refused = update(&sender("employee", &[])).unwrap_err();
        assert!(
            refused.contains("can only be added by vp@contoso.example"),
            "{refused}"
        );
    }

    fn delete(cluster: &Cluster, old: &RoleAssignment) -> Result<(), String> {
        decide(
            &Request {
                operation: Operation::Delete,
                subresource: None,
                sender: &sender("it-admin", &[]),
                namespace: "team",
                new: None,
                old: Some(old),
            },
            cluster,
        )
    }

    #[test]
    fn a_request_being_applied_cannot_be_deleted_but_a_waiting_one_can() {
        let cluster = cluster(true);
        let mut request = request_for("r", "alice", Role::Admin, "it-admin@contoso.example", &[]);
        request.status = Some(RoleAssignmentStatus {
            phase: Some(RolePhase::Applying),
            ..Default::default()
        });
        let refused = delete(&cluster, &request).unwrap_err();
        assert!(refused.contains("is being applied"), "{refused}");
        request.status.as_mut().unwrap().phase = Some(RolePhase::AwaitingApproval);
        assert_eq!(delete(&cluster, &request), Ok(()));
    }

    #[test]
    fn the_record_of_a_current_role_cannot_be_deleted() {
        let cluster = cluster(true);
        let delete = |name: &str| {
            let old = cluster
                .assignments
                .get(&ObjectRef::new(name).within("team"))
                .expect("stored");
            delete(&cluster, &old)
        };
        assert!(
            delete("alice-now")
                .unwrap_err()
                .contains("holds the current role (Approver)")
        );
        assert_eq!(delete("alice-old"), Ok(()));
    }

    #[test]
    fn only_the_operator_writes_status() {
        let cluster = cluster(true);
        let old = cluster
            .assignments
            .get(&ObjectRef::new("alice-now").within("team"))
            .expect("stored");
        let write_status = |username: &str| {
            decide(
                &Request {
                    operation: Operation::Update,
                    subresource: Some("status"),
                    sender: &sender(username, &["m365:gitops"]),
                    namespace: "team",
                    new: Some(&old),
                    old: Some(&old),
                },
                &cluster,
            )
        };
        assert_eq!(
            write_status("system:serviceaccount:m365-operator:m365-operator"),
            Ok(())
        );
        let refused = write_status("flux").unwrap_err();
        assert!(refused.contains("only the operator"), "{refused}");
    }

    #[test]
    fn without_a_role_policy_role_changes_are_off() {
        let new = request_for("r", "alice", Role::User, "it-admin@contoso.example", &[]);
        let refused = create(&cluster(false), &sender("it-admin", &[]), &new).unwrap_err();
        assert!(refused.contains("has no role policy"), "{refused}");
    }
}

//! One pass over one RoleAssignment: who asked and who approved, then the change itself.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::ListParams;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::info;

use super::{Ctx, approvals, entra, notify};
use crate::api::role::{
    AuditAction, Role, RoleAssignment, RoleAssignmentStatus, RolePhase, RolePolicy, reason,
};
use crate::api::{Phase, Tenant, User};
use crate::graph::Graph;
use crate::reconcile::{Error, deactivation};
use crate::roles::{self, applied_order, check_requester, effective_role, is_escalation};

/// Who the operator is in the audit record.
pub(super) const OPERATOR: &str = "m365-operator";

/// Why a pass ended before the role was in effect.
pub(super) enum Stop {
    /// Waiting for something outside: the User, the Tenant, an approval.
    Waiting {
        phase: RolePhase,
        reason: &'static str,
        message: String,
    },
    /// Refused for good.
    Denied {
        reason: &'static str,
        message: String,
    },
    /// A newer request for the same User is in effect.
    Superseded(String),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.into())
    }
}

pub(super) fn waiting(phase: RolePhase, reason: &'static str, message: impl Into<String>) -> Stop {
    Stop::Waiting {
        phase,
        reason,
        message: message.into(),
    }
}

/// What the controller decided about one of the checks, for its condition.
#[derive(Clone)]
pub(super) struct Verdict {
    pub passed: bool,
    pub reason: &'static str,
    pub message: String,
}

/// Everything a pass needs to act on the User's account.
pub(super) struct Target {
    pub user: Arc<User>,
    pub tenant: Arc<Tenant>,
    pub policy: RolePolicy,
    pub object_id: String,
    pub upn: String,
}

pub(super) struct Work<'a> {
    pub assignment: &'a RoleAssignment,
    pub ctx: &'a Ctx,
    pub status: RoleAssignmentStatus,
    /// The status as last written, to skip writes that change nothing.
    pub written: Option<RoleAssignmentStatus>,
    pub authorized: Option<Verdict>,
    pub approved: Option<Verdict>,
    /// Events to publish, each on the RoleAssignment or (`true`) on its User.
    pub events: Vec<(Event, bool)>,
    /// History entries added this pass, for the audit log.
    pub new_history: usize,
}

impl<'a> Work<'a> {
    pub fn new(assignment: &'a RoleAssignment, ctx: &'a Ctx) -> Self {
        Work {
            assignment,
            ctx,
            status: assignment.status.clone().unwrap_or_default(),
            written: assignment.status.clone(),
            authorized: None,
            approved: None,
            events: Vec::new(),
            new_history: 0,
        }
    }

    pub fn phase(&self) -> Option<RolePhase> {
        self.status.phase
    }

    /// Decides and acts as far as possible this pass.
    pub async fn drive(&mut self) -> Result<(), Stop> {
        if self.status.history.is_empty() {
            let detail = format!(
                "asks for role {} for User {}: {}",
                self.assignment.spec.role,
                self.assignment.spec.user,
                self.assignment.spec.justification
            );
            self.audit(
                AuditAction::Requested,
                &self.assignment.spec.requester.clone(),
                detail,
            );
        }
        let siblings = self.siblings().await?;
        if let Some(newer) = self.newer_applied(&siblings) {
            return Err(Stop::Superseded(newer));
        }
        if self.phase() == Some(RolePhase::Applied) {
            return self.keep_applied().await;
        }
        let target = self.target()?;
        // A request being applied was authorised when it started: finishing it must not stop
        // half-way because the requester's standing changed since.
        if self.phase() != Some(RolePhase::Applying) {
            self.authorize(&target)?;
        }
        let graph = self.graph(&target).await?;
        // Decided against the role in effect now, also when resuming: another request may
        // have been applied meanwhile, and what was a downgrade then may be an escalation now.
        let from = self.current_role(&siblings);
        self.status.from_role = Some(from);
        let to = self.assignment.spec.role;
        if is_escalation(from, to) {
            let verdict = approvals::check(self, &target, &graph, from).await?;
            self.approved = Some(verdict_from(verdict));
            if !self.approved.as_ref().is_some_and(|v| v.passed) {
                self.undo_partial_change(&target, &graph, from).await?;
                let message = self
                    .approved
                    .as_ref()
                    .map(|v| v.message.clone())
                    .unwrap_or_default();
                return Err(waiting(
                    RolePhase::AwaitingApproval,
                    reason::VP_APPROVAL_MISSING,
                    message,
                ));
            }
        } else {
            self.approved = Some(Verdict {
                passed: true,
                reason: reason::NOT_AN_ESCALATION,
                message: format!("{from} to {to} is not an escalation; no VP approval needed"),
            });
        }
        self.apply(&target, &graph, from, &siblings).await
    }

    /// A request that was being applied and now needs an approval it lacks: whatever it
    /// already changed in Entra goes back to the role in effect.
    async fn undo_partial_change(
        &mut self,
        target: &Target,
        graph: &Graph,
        current: Role,
    ) -> Result<(), Stop> {
        if self.phase() != Some(RolePhase::Applying) {
            return Ok(());
        }
        let plan = entra::make_match(graph, &target.policy, current, &target.object_id).await?;
        let detail = format!(
            "another change made this an escalation from {current}; Entra back to {current}: {}",
            plan.summary()
        );
        self.audit(AuditAction::Reverted, OPERATOR, detail);
        Ok(())
    }

    /// The User, its Tenant's role policy, and its account, or why the request must wait.
    fn target(&self) -> Result<Target, Stop> {
        let namespace = self.assignment.namespace().unwrap_or_default();
        let name = &self.assignment.spec.user;
        let user = self
            .ctx
            .users
            .get(&ObjectRef::new(name).within(&namespace))
            .ok_or_else(|| {
                waiting(
                    RolePhase::Pending,
                    reason::USER_NOT_FOUND,
                    format!("User {name} does not exist"),
                )
            })?;
        let tenant = self
            .ctx
            .shared
            .tenants
            .get(&ObjectRef::new(&user.spec.tenant))
            .ok_or_else(|| {
                waiting(
                    RolePhase::Pending,
                    reason::TENANT_NOT_FOUND,
                    format!("Tenant {} does not exist", user.spec.tenant),
                )
            })?;
        let policy = tenant.spec.roles.clone().ok_or_else(|| {
            waiting(
                RolePhase::Pending,
                reason::ROLES_NOT_CONFIGURED,
                format!(
                    "Tenant {} has no role policy (spec.roles)",
                    tenant.name_any()
                ),
            )
        })?;
        let status = user.status.clone().unwrap_or_default();
        let active = status.phase == Some(Phase::Active)
            && !deactivation::is_deactivated(&user, &self.ctx.shared.deactivations);
        match (active, status.object_id, status.user_principal_name) {
            (true, Some(object_id), Some(upn)) => Ok(Target {
                user,
                tenant,
                policy,
                object_id,
                upn,
            }),
            _ => Err(waiting(
                RolePhase::Pending,
                reason::USER_NOT_ACTIVE,
                format!("User {name} is not Active; roles apply to active accounts"),
            )),
        }
    }

    /// Every RoleAssignment of the same User, as the API server has them now. Read fresh, not
    /// from the cache: a cache that has not seen the last change yet would make a downgrade
    /// look like an escalation (and skip the revocation), or an old role look current.
    async fn siblings(&self) -> Result<Vec<Arc<RoleAssignment>>, kube::Error> {
        let api: Api<RoleAssignment> = Api::namespaced(
            self.ctx.shared.client.clone(),
            &self.assignment.namespace().unwrap_or_default(),
        );
        let all = api.list(&ListParams::default()).await?;
        Ok(all
            .items
            .into_iter()
            .filter(|other| other.spec.user == self.assignment.spec.user)
            .map(Arc::new)
            .collect())
    }

    /// For an applied request: another one for the same User applied after it, by name.
    fn newer_applied(&self, siblings: &[Arc<RoleAssignment>]) -> Option<String> {
        if self.phase() != Some(RolePhase::Applied) {
            return None;
        }
        let mine = applied_order(self.assignment);
        siblings
            .iter()
            .filter(|other| {
                other.name_any() != self.assignment.name_any()
                    && roles::phase_of(other) == Some(RolePhase::Applied)
                    && applied_order(other) > mine
            })
            .map(|other| other.name_any())
            .next()
    }

    fn current_role(&self, siblings: &[Arc<RoleAssignment>]) -> Role {
        effective_role(
            siblings,
            &self.assignment.namespace().unwrap_or_default(),
            &self.assignment.spec.user,
        )
        .role
    }

    /// The requester must be an Active Admin (or a bootstrap admin) of the User's tenant.
    fn authorize(&mut self, target: &Target) -> Result<(), Stop> {
        let requester = &self.assignment.spec.requester;
        let users = self.ctx.users.state();
        let assignments = self.ctx.shared.role_assignments.state();
        match check_requester(
            requester,
            &target.user.spec.tenant,
            &target.policy,
            &users,
            &assignments,
        ) {
            Ok(()) => {
                self.authorized = Some(Verdict {
                    passed: true,
                    reason: reason::REQUESTER_IS_ADMIN,
                    message: format!("{requester} may change roles"),
                });
                Ok(())
            }
            Err(problem) => {
                self.authorized = Some(Verdict {
                    passed: false,
                    reason: reason::REQUESTER_NOT_ADMIN,
                    message: problem.to_string(),
                });
                Err(Stop::Denied {
                    reason: reason::REQUESTER_NOT_ADMIN,
                    message: problem.to_string(),
                })
            }
        }
    }

    async fn graph(&self, target: &Target) -> Result<Arc<Graph>, Stop> {
        self.ctx
            .shared
            .connections
            .graph(&target.tenant)
            .await
            .map_err(|e| {
                waiting(
                    RolePhase::Pending,
                    reason::TENANT_NOT_CONNECTED,
                    format!("cannot reach Graph for the tenant: {e}"),
                )
            })
    }

    /// Takes the account to the new role: status first, then Entra, tokens, the record, mail.
    async fn apply(
        &mut self,
        target: &Target,
        graph: &Graph,
        from: Role,
        siblings: &[Arc<RoleAssignment>],
    ) -> Result<(), Stop> {
        let to = self.assignment.spec.role;
        let revoke = to < from && self.status.tokens_valid_after.is_none();
        if self.phase() != Some(RolePhase::Applying) || revoke {
            self.status.phase = Some(RolePhase::Applying);
            self.status.object_id = Some(target.object_id.clone());
            if revoke {
                // Recorded before anything else: from now on introspection refuses the
                // tokens issued under the higher role, even if this pass dies here.
                self.status.tokens_valid_after = Some(Time(jiff::Timestamp::now()));
            }
            self.write().await?;
        }
        let plan = entra::make_match(graph, &target.policy, to, &target.object_id).await?;
        if let Some(after) = &self.status.tokens_valid_after
            && !self.has_history(AuditAction::TokensRevoked)
        {
            let detail = format!(
                "the operator's tokens issued at or before {} are refused",
                after.0
            );
            self.audit(AuditAction::TokensRevoked, OPERATOR, detail);
        }
        self.reissue_session_token(target).await?;
        self.status.phase = Some(RolePhase::Applied);
        self.status.applied_at = Some(MicroTime(jiff::Timestamp::now()));
        let detail = format!("role {from} → {to}: {}", plan.summary());
        self.audit(AuditAction::Applied, OPERATOR, detail.clone());
        info!(user = %self.assignment.spec.user, %from, %to, "role applied");
        let note = format!("Role of {} changed from {from} to {to}", target.upn);
        self.event(EventType::Normal, reason::APPLIED, note.clone(), false);
        self.event(EventType::Normal, "RoleChanged", note, true);
        self.write().await?;
        self.supersede_older(siblings).await?;
        notify::tell_user(self, target, graph, from).await
    }

    /// An applied request: the mail, if it is still owed, and Entra drift undone.
    /// While the User is away (deactivated, deleted) or its Tenant unreachable the role
    /// stays in effect and Entra is left alone: a Deactivation owns the account then.
    async fn keep_applied(&mut self) -> Result<(), Stop> {
        let target = match self.target() {
            Ok(target) => target,
            Err(Stop::Waiting { .. }) => return Ok(()),
            Err(other) => return Err(other),
        };
        let target = &target;
        let graph = match self.graph(target).await {
            Ok(graph) => graph,
            Err(Stop::Waiting { .. }) => return Ok(()),
            Err(other) => return Err(other),
        };
        let from = self.status.from_role.unwrap_or_default();
        let plan = entra::make_match(
            &graph,
            &target.policy,
            self.assignment.spec.role,
            &target.object_id,
        )
        .await?;
        if !plan.is_empty() {
            let note = format!(
                "Entra had drifted from role {}: {}",
                self.assignment.spec.role,
                plan.summary()
            );
            self.event(EventType::Warning, "DriftCorrected", note, false);
        }
        notify::tell_user(self, target, &graph, from).await
    }

    /// The first-session token, again, with the new role; only while the first one is
    /// valid and its Secret is there. Issued in a later second than the revocation, so that
    /// introspection tells it from the revoked ones.
    async fn reissue_session_token(&mut self, target: &Target) -> Result<(), Stop> {
        if self.status.session_token_id.is_some() {
            return Ok(());
        }
        let first = target
            .user
            .status
            .as_ref()
            .and_then(|s| s.first_session.clone());
        let now = jiff::Timestamp::now();
        if first.is_none_or(|t| t.expires_at.0 <= now) {
            return Ok(());
        }
        if let Some(after) = &self.status.tokens_valid_after {
            let next_second = after.0.as_second() + 1;
            let wait = next_second * 1000 - now.as_millisecond();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
        }
        let session = crate::tokens::FirstSession {
            issuer: self.ctx.shared.settings.issuer.clone(),
            subject: target.object_id.clone(),
            upn: target.upn.clone(),
            role: self.assignment.spec.role.as_str().into(),
            audience: None,
        };
        let keys = self.ctx.shared.signing_keys().await?;
        let issued = crate::tokens::issue_first_session(&keys, &session, jiff::Timestamp::now())?;
        match crate::credentials::store_first_session(
            &self.ctx.shared.client,
            &target.user,
            issued.jwt.expose(),
        )
        .await
        {
            Ok(()) => {
                info!(jti = %issued.jti, "first-session token issued with the new role");
                self.status.session_token_id = Some(issued.jti);
            }
            Err(crate::credentials::CredentialsError::Missing(_)) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }

    /// Requests for the same User applied before this one no longer count: say so in their
    /// status.
    async fn supersede_older(&self, siblings: &[Arc<RoleAssignment>]) -> Result<(), Stop> {
        let mine = (
            self.status.applied_at.as_ref().map(|t| t.0),
            self.assignment.name_any(),
        );
        let older: Vec<_> = siblings
            .iter()
            .filter(|other| {
                roles::phase_of(other) == Some(RolePhase::Applied)
                    && other.name_any() != self.assignment.name_any()
                    && applied_order(other) < mine
            })
            .collect();
        for other in older {
            let api: Api<RoleAssignment> = Api::namespaced(
                self.ctx.shared.client.clone(),
                &other.namespace().unwrap_or_default(),
            );
            let Some(fresh) = api.get_opt(&other.name_any()).await? else {
                continue;
            };
            let mut work = Work::new(&fresh, self.ctx);
            work.finish(Err(Stop::Superseded(self.assignment.name_any())))
                .await?;
        }
        Ok(())
    }

    pub fn has_history(&self, action: AuditAction) -> bool {
        self.status.history.iter().any(|h| h.action == action)
    }

    pub fn has_history_by(&self, action: AuditAction, actor: &str) -> bool {
        self.status
            .history
            .iter()
            .any(|h| h.action == action && h.actor.eq_ignore_ascii_case(actor))
    }
}

fn verdict_from(verdict: approvals::Verdict) -> Verdict {
    Verdict {
        passed: verdict.approved,
        reason: if verdict.approved {
            reason::VP_APPROVED
        } else {
            reason::VP_APPROVAL_MISSING
        },
        message: verdict.message,
    }
}

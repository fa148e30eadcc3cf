//! The Entra account: found by id, adopted when it is ours, or created — never twice.

use std::time::Duration;

use kube::runtime::controller::Action;
use tracing::info;

use super::flow::{Blocked, Facts, Report, Stop, blocked};
use super::notify::{self, Outgoing};
use super::report::{in_progress, record_progress};
use super::{owner_marker, rejected};
use crate::api::conditions::{kind, reason};
use crate::api::tenant::MailSettings;
use crate::api::user::NotificationKind;
use crate::api::{Phase, Tenant, User};
use crate::credentials;
use crate::graph::users::{DirectoryUser, NewUser};
use crate::graph::{Category, Graph, GraphError};
use crate::mail;
use crate::names::{self, MailIdentity};
use crate::reconcile::Context;

/// Everything `ensure_account` needs to know about the request.
pub(super) struct Request<'a> {
    pub user: &'a User,
    pub tenant: &'a Tenant,
    pub identity: &'a MailIdentity,
    pub upn: &'a str,
}

/// The User's account: known by id, or adopted, or created after making sure the address
/// is free in every form Entra matches (UPN, mail, proxy addresses).
pub(super) async fn ensure_account(
    req: &Request<'_>,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
) -> Result<DirectoryUser, Stop> {
    if let Some(id) = facts.object_id.clone() {
        return graph
            .get_user(&id)
            .await?
            .ok_or_else(|| not_replicated(&id));
    }
    // An earlier create whose answer was lost may have used an address the manifest no
    // longer derives: the marker finds it whatever its UPN.
    let marker = owner_marker(req.user);
    if let Some(ours) = graph
        .find_users_by_owner_marker(&marker)
        .await?
        .into_iter()
        .next()
    {
        return adopt(req.user, ctx, ours, facts).await;
    }
    if let Some(existing) = graph.find_user_by_upn(req.upn).await? {
        if existing.owner_marker() == Some(owner_marker(req.user).as_str()) {
            return adopt(req.user, ctx, existing, facts).await;
        }
        return Err(duplicate(req, ctx, graph, facts).await);
    }
    if !graph.find_address_owners(req.upn).await?.is_empty() {
        return Err(duplicate(req, ctx, graph, facts).await);
    }
    create(req, ctx, graph, facts).await
}

async fn create(
    req: &Request<'_>,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
) -> Result<DirectoryUser, Stop> {
    let user = req.user;
    let password = credentials::ensure(&ctx.client, user, req.upn).await?;
    facts.credentials_secret = Some(credentials::secret_name(user));
    let display_name = user.display_name();
    let new_user = NewUser {
        user_principal_name: req.upn,
        mail_nickname: &req.identity.mail_nickname,
        display_name: &display_name,
        given_name: user.spec.given_name.trim(),
        surname: user.spec.surname.trim(),
        department: user.spec.department.as_deref(),
        job_title: user.spec.job_title.as_deref(),
        usage_location: &user.spec.usage_location,
        password: &password,
        owner_marker: &owner_marker(user),
    };
    match graph.create_user(&new_user).await {
        Ok(account) => {
            info!(upn = req.upn, object_id = %account.id, "account created");
            facts.object_id = Some(account.id.clone());
            facts.event(
                reason::ACCOUNT_CREATED,
                format!("Created Entra account {} ({})", req.upn, account.id),
            );
            record_progress(
                user,
                ctx,
                facts,
                &in_progress("account created; assigning the licence"),
            )
            .await?;
            Ok(account)
        }
        Err(e) if e.category == Category::Conflict => {
            Err(create_conflict(req, ctx, graph, facts, e).await)
        }
        Err(e) if e.category == Category::Rejected => Err(rejected(kind::PROVISIONED, &e)),
        Err(e) => Err(e.into()),
    }
}

/// Takes over an account created for this User by an earlier pass whose answer was lost.
async fn adopt(
    user: &User,
    ctx: &Context,
    existing: DirectoryUser,
    facts: &mut Facts,
) -> Result<DirectoryUser, Stop> {
    info!(upn = %existing.user_principal_name, object_id = %existing.id, "account adopted");
    facts.object_id = Some(existing.id.clone());
    facts.adopted = true;
    facts.credentials_secret = Some(credentials::secret_name(user));
    facts.event(
        reason::ACCOUNT_ADOPTED,
        format!(
            "Found Entra account {} ({}) created for this User",
            existing.user_principal_name, existing.id
        ),
    );
    record_progress(
        user,
        ctx,
        facts,
        &in_progress("account adopted; assigning the licence"),
    )
    .await?;
    Ok(existing)
}

/// Graph refused the create as a duplicate. Either the account is ours and not replicated to
/// the lookup yet (an earlier create whose answer we lost), or the address is someone else's.
async fn create_conflict(
    req: &Request<'_>,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
    conflict: GraphError,
) -> Stop {
    match graph.find_user_by_upn(req.upn).await {
        Ok(Some(existing)) if existing.owner_marker() == Some(owner_marker(req.user).as_str()) => {
            match adopt(req.user, ctx, existing, facts).await {
                // Adopted: the next pass goes on from the recorded id.
                Ok(_) => blocked(
                    Phase::Provisioning,
                    kind::READY,
                    reason::IN_PROGRESS,
                    "account adopted".into(),
                    Action::requeue(Duration::from_secs(1)),
                ),
                Err(stop) => stop,
            }
        }
        Ok(Some(_)) => duplicate(req, ctx, graph, facts).await,
        Ok(None) if conflict.target() != Some("userPrincipalName") => {
            duplicate(req, ctx, graph, facts).await
        }
        Ok(None) => blocked(
            Phase::Provisioning,
            kind::PROVISIONED,
            reason::ACCOUNT_PENDING,
            format!(
                "Entra reports {} as taken but does not show the account yet; looking again shortly",
                req.upn
            ),
            Action::requeue(Duration::from_secs(10)),
        ),
        Err(e) => e.into(),
    }
}

/// The address belongs to someone else: offer free alternates and tell HR, once.
async fn duplicate(req: &Request<'_>, ctx: &Context, graph: &Graph, facts: &mut Facts) -> Stop {
    let domain = &req.tenant.spec.domain;
    facts.alternates = match free_alternates(req.user, domain, graph).await {
        Ok(free) => free,
        Err(e) => return e.into(),
    };
    let offered = if facts.alternates.is_empty() {
        "none of the usual alternates is free".to_string()
    } else {
        format!("free alternates: {}", facts.alternates.join(", "))
    };
    let waiting = Blocked {
        phase: Phase::Pending,
        condition: kind::PROVISIONED,
        reason: reason::DUPLICATE_EMAIL,
        message: format!(
            "{} already belongs to another account; {offered}; set spec.upnLocalPart",
            req.upn
        ),
        requeue: Action::requeue(Duration::from_secs(600)),
    };
    if let Some(settings) = &req.tenant.spec.mail
        && let Err(e) = tell_hr(
            req,
            ctx,
            graph,
            facts,
            settings,
            &Report::Blocked(waiting.clone()),
        )
        .await
    {
        return e;
    }
    Stop::Blocked(waiting)
}

async fn tell_hr(
    req: &Request<'_>,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
    settings: &MailSettings,
    report: &Report,
) -> Result<(), Stop> {
    let (subject, body) = mail::duplicate_address(
        &req.user.metadata.name.clone().unwrap_or_default(),
        &req.user.display_name(),
        req.upn,
        &facts.alternates,
    );
    let outgoing = Outgoing {
        kind: NotificationKind::DuplicateEmail,
        sender: &settings.sender,
        to: vec![settings.hr.clone()],
        subject,
        body,
    };
    notify::deliver_once(req.user, ctx, graph, facts, outgoing, report).await
}

/// Up to five free local parts from the procedure's patterns, checked against every form of
/// address Entra matches.
async fn free_alternates(
    user: &User,
    domain: &str,
    graph: &Graph,
) -> Result<Vec<String>, GraphError> {
    let spec = &user.spec;
    let (Ok(given), Ok(surname)) = (
        names::transliterate("givenName", first_word(&spec.given_name)),
        names::transliterate("surname", &spec.surname),
    ) else {
        return Ok(Vec::new());
    };
    let middle = spec
        .given_name
        .split_whitespace()
        .nth(1)
        .and_then(|m| m.chars().next());
    let mut free = Vec::new();
    for local in names::alternates(&given, &surname, middle) {
        if free.len() == 5 {
            break;
        }
        if graph
            .find_address_owners(&format!("{local}@{domain}"))
            .await?
            .is_empty()
        {
            free.push(local);
        }
    }
    Ok(free)
}

fn first_word(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

pub(super) fn not_replicated(id: &str) -> Stop {
    blocked(
        Phase::Provisioning,
        kind::PROVISIONED,
        reason::ACCOUNT_PENDING,
        format!(
            "Entra does not show account {id} yet; new accounts can take a minute to replicate"
        ),
        Action::requeue(Duration::from_secs(3)),
    )
}

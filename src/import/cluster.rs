//! The import against a cluster: clashes with the Users already there, Tenants that do not
//! exist, the API server's own verdict in a dry run, and finally the server-side apply.

use std::collections::{BTreeSet, HashMap, HashSet};

use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::columns::Column;
use super::{Plan, PlannedUser, Problem};
use crate::api::{Tenant, User};
use crate::names;

/// The field manager of everything the import applies.
pub const FIELD_MANAGER: &str = "m365-operator-import";

/// Marks every row that clashes with the cluster: a User of the same name, a User that gets
/// the same UPN in the same Tenant, or a Tenant that does not exist (checked when the caller
/// may list Tenants). Reads only.
pub async fn check_against_cluster(plan: &mut Plan, client: &Client) -> Result<(), kube::Error> {
    let namespaces: BTreeSet<String> = plan
        .checked
        .iter()
        .filter_map(|c| c.identity.as_ref().map(|id| id.namespace.clone()))
        .collect();
    let existing = Existing::list(client, &namespaces).await?;
    let tenants = tenant_names(client).await?;
    for checked in plan.checked.iter_mut() {
        let Some(id) = checked.identity.clone() else {
            continue;
        };
        if existing
            .names
            .contains(&(id.namespace.clone(), id.name.clone()))
        {
            checked.reject(
                None,
                format!("a User {}/{} already exists", id.namespace, id.name),
            );
        }
        if let Some(owner) = existing
            .upns
            .get(&(id.tenant.clone(), id.local_part.clone()))
        {
            let message = format!(
                "gets the same UPN as the existing User {owner} ({:?} in Tenant {}); set upnLocalPart to tell them apart",
                id.local_part, id.tenant
            );
            checked.reject(None, message);
        }
        if tenants.as_ref().is_some_and(|t| !t.contains(&id.tenant)) {
            checked.reject(
                Some(Column::Tenant),
                format!("Tenant {:?} does not exist", id.tenant),
            );
        }
    }
    Ok(())
}

/// Asks the API server to check each User without storing it, so that a rule the importer
/// does not know about, or a namespace the caller may not write to, still stops the whole
/// import before anything is applied.
pub async fn dry_run(plan: &mut Plan, client: &Client) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).dry_run();
    for checked in plan.checked.iter_mut() {
        let Some(user) = checked.user.clone() else {
            continue;
        };
        if let Err(problem) = apply_one(client, &user, &params, checked.row).await? {
            checked.reject(None, problem.message);
        }
    }
    Ok(())
}

/// What an apply did: the Users applied, as `namespace/name`, and the rows that failed.
#[derive(Debug, Default)]
pub struct Applied {
    /// `namespace/name` of each User applied.
    pub users: Vec<String>,
    /// The rows the API server refused.
    pub problems: Vec<Problem>,
}

/// Server-side applies each User under [`FIELD_MANAGER`], without forcing: a field someone
/// else manages is reported as a conflict instead of being taken over.
pub async fn apply(users: &[PlannedUser], client: &Client) -> Result<Applied, kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER);
    let mut applied = Applied::default();
    for planned in users {
        match apply_one(client, &planned.user, &params, planned.row).await? {
            Ok(()) => applied.users.push(format!(
                "{}/{}",
                planned.user.namespace().unwrap_or_default(),
                planned.user.name_any()
            )),
            Err(problem) => applied.problems.push(problem),
        }
    }
    Ok(applied)
}

/// The API server's refusal of one User is that row's problem; failing to reach it at all
/// ends the import.
async fn apply_one(
    client: &Client,
    user: &User,
    params: &PatchParams,
    row: usize,
) -> Result<Result<(), Problem>, kube::Error> {
    let api: Api<User> = Api::namespaced(client.clone(), &user.namespace().unwrap_or_default());
    match api
        .patch(&user.name_any(), params, &Patch::Apply(user))
        .await
    {
        Ok(_) => Ok(Ok(())),
        Err(kube::Error::Api(status)) => Ok(Err(Problem::row(
            row,
            format!("the API server refuses it: {}", status.message),
        ))),
        Err(e) => Err(e),
    }
}

/// What identifies the Users already in the cluster.
struct Existing {
    names: HashSet<(String, String)>,
    /// `(tenant, lower-case UPN local part)` → `namespace/name`.
    upns: HashMap<(String, String), String>,
}

impl Existing {
    /// Users of all namespaces, or of the import's namespaces when the caller may not list
    /// cluster-wide. Read untyped, so that one odd object cannot stop the import.
    async fn list(client: &Client, namespaces: &BTreeSet<String>) -> Result<Self, kube::Error> {
        let resource = ApiResource::erase::<User>(&());
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let objects = match all.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(kube::Error::Api(status)) if status.code == 403 => {
                let mut items = Vec::new();
                for namespace in namespaces {
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(client.clone(), namespace, &resource);
                    items.extend(api.list(&ListParams::default()).await?.items);
                }
                items
            }
            Err(e) => return Err(e),
        };
        let mut existing = Existing {
            names: HashSet::new(),
            upns: HashMap::new(),
        };
        for object in &objects {
            existing.add(object);
        }
        Ok(existing)
    }

    fn add(&mut self, object: &DynamicObject) {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let owner = format!("{namespace}/{name}");
        let spec = &object.data["spec"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        let tenant = text(&spec["tenant"]).unwrap_or_else(|| "default".to_string());
        let derived = match (text(&spec["givenName"]), text(&spec["surname"])) {
            (Some(given), Some(surname)) => {
                let chosen = text(&spec["upnLocalPart"]);
                names::mail_identity(&given, &surname, chosen.as_deref(), None)
                    .ok()
                    .map(|id| id.local_part)
            }
            _ => None,
        };
        // The account's actual UPN counts too: it may differ from what the spec derives now.
        let actual = text(&object.data["status"]["userPrincipalName"])
            .and_then(|upn| upn.split('@').next().map(str::to_string));
        for local_part in derived.into_iter().chain(actual) {
            self.upns
                .insert((tenant.clone(), local_part.to_lowercase()), owner.clone());
        }
        self.names.insert((namespace, name));
    }
}

/// The names of all Tenants, or `None` when the caller may not list them.
async fn tenant_names(client: &Client) -> Result<Option<HashSet<String>>, kube::Error> {
    let api: Api<Tenant> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => Ok(Some(list.items.iter().map(|t| t.name_any()).collect())),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(None),
        Err(e) => Err(e),
    }
}

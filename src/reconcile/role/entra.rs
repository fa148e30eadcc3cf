//! Making the account's managed group memberships and app roles those of its role.

use crate::api::role::{AppRoleRef, Role, RolePolicy};
use crate::graph::{Graph, GraphError};
use crate::roles::grants::{self, HeldAppRole, Holdings, Plan};

/// Reads what the account holds, and adds and removes what differs from `role`'s grants.
/// Returns what was changed; nothing when Entra already matched.
pub(super) async fn make_match(
    graph: &Graph,
    policy: &RolePolicy,
    role: Role,
    object_id: &str,
) -> Result<Plan, GraphError> {
    let held = holdings(graph, object_id).await?;
    let plan = grants::plan(policy, role, &held);
    for group in &plan.join {
        graph.add_member(group, object_id).await?;
    }
    for group in &plan.leave {
        graph.remove_member(group, object_id).await?;
    }
    for app_role in &plan.grant {
        graph
            .grant_app_role(object_id, &app_role.resource_id, &app_role.app_role_id)
            .await?;
    }
    for assignment in &plan.withdraw {
        graph.revoke_app_role(object_id, assignment).await?;
    }
    Ok(plan)
}

async fn holdings(graph: &Graph, object_id: &str) -> Result<Holdings, GraphError> {
    let groups = graph
        .member_of(object_id)
        .await?
        .into_iter()
        .filter(|m| m.is_group())
        .map(|m| m.id)
        .collect();
    let app_roles = graph
        .app_role_assignments(object_id)
        .await?
        .into_iter()
        .map(|a| HeldAppRole {
            assignment_id: a.id,
            app_role: AppRoleRef {
                resource_id: a.resource_id,
                app_role_id: a.app_role_id,
            },
        })
        .collect();
    Ok(Holdings { groups, app_roles })
}

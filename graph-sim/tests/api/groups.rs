//! Groups and memberships, app role assignments, directory roles and app permissions.

use graph_sim::{AppRoleSeed, ClientCredential, Config, Faults, GroupSeed, ServicePrincipalSeed};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const NARROW_CLIENT: &str = "00000000-0000-0000-0000-0000000000c4";
const NARROW_SECRET: &str = "narrow-secret";
const SP: &str = "5b3c0a9e-0000-4000-8000-0000000000a1";
const READER: &str = "5b3c0a9e-0000-4000-8000-0000000000b1";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

fn group(value: Value) -> GroupSeed {
    serde_json::from_value(value).unwrap()
}

fn tenant() -> Config {
    Config {
        clients: vec![
            Config::default().clients.remove(0),
            ClientCredential {
                client_id: NARROW_CLIENT.into(),
                client_secret: NARROW_SECRET.into(),
                permissions: vec!["GroupMember.ReadWrite.All".into(), "User.Read.All".into()],
                ..ClientCredential::default()
            },
        ],
        users: ["ann", "bob", "cid"]
            .iter()
            .map(|n| licensed_seed(&format!("{n}@contoso.example")))
            .collect(),
        groups: vec![
            group(json!({"id": "0a000000-0000-4000-8000-000000000001", "displayName": "Sales"})),
            group(
                json!({"id": "0a000000-0000-4000-8000-000000000002", "displayName": "Everyone",
                "members": ["Sales"]}),
            ),
            group(
                json!({"id": "0a000000-0000-4000-8000-000000000003", "displayName": "Dynamic",
                "groupTypes": ["DynamicMembership"],
                "membershipRule": "user.department -eq \"Sales\""}),
            ),
            group(
                json!({"id": "0a000000-0000-4000-8000-000000000004", "displayName": "All staff",
                "mailEnabled": true, "securityEnabled": false}),
            ),
            group(
                json!({"id": "0a000000-0000-4000-8000-000000000005", "displayName": "Team",
                "mailEnabled": true, "groupTypes": ["Unified"]}),
            ),
            group(
                json!({"id": "0a000000-0000-4000-8000-000000000006", "displayName": "Admins",
                "isAssignableToRole": true}),
            ),
        ],
        service_principals: vec![ServicePrincipalSeed {
            id: Some(SP.into()),
            app_id: None,
            display_name: "Expenses".into(),
            app_roles: vec![AppRoleSeed {
                id: READER.into(),
                value: "Reader".into(),
                display_name: None,
            }],
        }],
        ..Config::default()
    }
}

fn group_id(n: u8) -> String {
    format!("0a000000-0000-4000-8000-00000000000{n}")
}

fn reference(id: &str) -> Value {
    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})
}

impl Env {
    async fn add_member(&self, group: &str, member: &str) -> reqwest::Response {
        self.post(&format!("/groups/{group}/members/$ref"), &reference(member))
            .await
    }
}

fn names(list: &Value) -> Vec<&str> {
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn members_are_added_and_removed_by_reference_with_the_real_errors() {
    let env = env_with(tenant()).await;
    let ann = id_of(&env.sim, "ann@contoso.example");
    let sales = group_id(1);
    assert_eq!(
        env.add_member(&sales, &ann).await.status(),
        StatusCode::NO_CONTENT
    );
    let again = graph_error(
        env.add_member(&sales, &ann).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    assert!(again["message"].as_str().unwrap().contains("already exist"));

    let members = env.get_json(&format!("/groups/{sales}/members")).await;
    assert_eq!(members["value"][0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(members["value"][0]["id"], ann.as_str());
    let direct = env.get_json(&format!("/users/{ann}/memberOf")).await;
    assert_eq!(names(&direct), ["Sales"]);
    assert_eq!(direct["value"][0]["@odata.type"], "#microsoft.graph.group");
    let all = env
        .get_json(&format!("/users/{ann}/transitiveMemberOf"))
        .await;
    assert_eq!(names(&all), ["Sales", "Everyone"]);
    let cast = env
        .get_json(&format!(
            "/users/{ann}/transitiveMemberOf/microsoft.graph.group"
        ))
        .await;
    assert_eq!(names(&cast), ["Sales", "Everyone"]);

    let remove = format!("/groups/{sales}/members/{ann}/$ref");
    assert_eq!(env.delete(&remove).await.status(), StatusCode::NO_CONTENT);
    let gone = graph_error(
        env.delete(&remove).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    assert!(gone["message"].as_str().unwrap().contains("do not exist"));
    graph_error(
        env.add_member(&sales, "6e2c0b1a-0000-4000-8000-00000000dead")
            .await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    graph_error(
        env.add_member("6e2c0b1a-0000-4000-8000-00000000beef", &ann)
            .await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    let malformed = env
        .post(
            &format!("/groups/{sales}/members/$ref"),
            &json!({"@odata.id": "ann"}),
        )
        .await;
    graph_error(malformed, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
}

#[tokio::test]
async fn dynamic_mail_enabled_and_role_assignable_groups_refuse_changes() {
    let env = env_with(tenant()).await;
    let ann = id_of(&env.sim, "ann@contoso.example");
    for read_only in [3, 4] {
        graph_error(
            env.add_member(&group_id(read_only), &ann).await,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
        )
        .await;
    }
    assert_eq!(
        env.add_member(&group_id(5), &ann).await.status(),
        StatusCode::NO_CONTENT,
        "a Microsoft 365 group is managed through Graph"
    );
    let narrow = token_for(&env.http, &env.sim.base_url(), NARROW_CLIENT, NARROW_SECRET).await;
    let denied = env
        .http
        .post(env.graph(&format!("/groups/{}/members/$ref", group_id(6))))
        .bearer_auth(&narrow)
        .json(&reference(&ann))
        .send()
        .await
        .unwrap();
    graph_error(denied, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    assert_eq!(
        env.add_member(&group_id(6), &ann).await.status(),
        StatusCode::NO_CONTENT,
        "the default app holds RoleManagement.ReadWrite.Directory"
    );
}

#[tokio::test]
async fn members_bind_adds_up_to_twenty_all_or_nothing() {
    let env = env_with(tenant()).await;
    let sales = group_id(1);
    let ids: Vec<String> = ["ann", "bob", "cid"]
        .iter()
        .map(|n| id_of(&env.sim, &format!("{n}@contoso.example")))
        .collect();
    let bind = |ids: &[String]| {
        let urls: Vec<String> = ids
            .iter()
            .map(|id| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}"))
            .collect();
        json!({"members@odata.bind": urls})
    };
    let added = env
        .patch(&format!("/groups/{sales}"), &bind(&ids[..2]))
        .await;
    assert_eq!(added.status(), StatusCode::NO_CONTENT);
    let overlapping = env
        .patch(&format!("/groups/{sales}"), &bind(&ids[1..]))
        .await;
    graph_error(overlapping, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    let members = env.get_json(&format!("/groups/{sales}/members")).await;
    assert_eq!(
        members["value"].as_array().unwrap().len(),
        2,
        "nothing added"
    );
    let many: Vec<String> = (0..21).map(|_| ids[2].clone()).collect();
    let too_many = env.patch(&format!("/groups/{sales}"), &bind(&many)).await;
    let error = graph_error(too_many, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert!(error["message"].as_str().unwrap().contains("20"), "{error}");
}

#[tokio::test]
async fn references_to_a_user_replication_has_not_shown_are_not_valid() {
    let env = env_with(tenant()).await;
    env.sim.set_faults(Faults {
        replication_lag_ms: Some(60_000),
        ..Faults::default()
    });
    let mut body = new_user("fresh@contoso.example");
    body["usageLocation"] = json!("DE");
    let fresh = env.create_user(&body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let error = graph_error(
        env.add_member(&group_id(1), &fresh).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    assert_eq!(error["message"], "Not a valid reference update.");
    let grant = json!({"principalId": fresh, "resourceId": SP, "appRoleId": READER});
    let error = graph_error(
        env.post(&format!("/users/{fresh}/appRoleAssignments"), &grant)
            .await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    assert_eq!(error["message"], "Not a valid reference update.");
}

#[tokio::test]
async fn app_roles_are_granted_once_listed_and_revoked() {
    let env = env_with(tenant()).await;
    let bob = id_of(&env.sim, "bob@contoso.example");
    let path = format!("/users/{bob}/appRoleAssignments");
    let grant = json!({"principalId": bob, "resourceId": SP, "appRoleId": READER});
    let created = env.post(&path, &grant).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["resourceDisplayName"], "Expenses");
    assert_eq!(created["principalType"], "User");
    let id = created["id"].as_str().unwrap().to_string();
    let duplicate = graph_error(
        env.post(&path, &grant).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    assert!(
        duplicate["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let mut unknown_role = grant.clone();
    unknown_role["appRoleId"] = json!("5b3c0a9e-0000-4000-8000-0000000000ff");
    graph_error(
        env.post(&path, &unknown_role).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    let mut unknown_app = grant.clone();
    unknown_app["resourceId"] = json!("5b3c0a9e-0000-4000-8000-0000000000fe");
    graph_error(
        env.post(&path, &unknown_app).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    let listed = env.get_json(&path).await;
    assert_eq!(listed["value"][0]["id"], id.as_str());
    assert_eq!(
        env.delete(&format!("{path}/{id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    graph_error(
        env.delete(&format!("{path}/{id}")).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
}

#[tokio::test]
async fn a_directory_role_shows_in_member_of_and_shields_the_user() {
    let env = env_with(tenant()).await;
    let cid = id_of(&env.sim, "cid@contoso.example");
    let assignment = json!({"principalId": cid, "roleDefinitionId": USER_ADMIN,
        "directoryScopeId": "/"});
    let path = "/roleManagement/directory/roleAssignments";
    let created = env.post(path, &assignment).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    graph_error(
        env.post(path, &assignment).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    let member_of = env.get_json(&format!("/users/{cid}/memberOf")).await;
    assert_eq!(
        member_of["value"][0]["@odata.type"],
        "#microsoft.graph.directoryRole"
    );
    assert_eq!(member_of["value"][0]["displayName"], "User Administrator");
    let listed = env
        .get_json(&format!("{path}?$filter=principalId eq '{cid}'"))
        .await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    let patch = env
        .patch(&format!("/users/{cid}"), &json!({"jobTitle": "Admin"}))
        .await;
    graph_error(patch, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    let removed = env
        .delete(&format!("{path}/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let patch = env
        .patch(&format!("/users/{cid}"), &json!({"jobTitle": "Admin"}))
        .await;
    assert_eq!(patch.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_app_without_the_permission_is_refused() {
    let mut env = env_with(tenant()).await;
    env.token = token_for(&env.http, &env.sim.base_url(), NARROW_CLIENT, NARROW_SECRET).await;
    assert_eq!(env.get("/users").await.status(), StatusCode::OK);
    graph_error(
        env.post("/users", &new_user("nope@contoso.example")).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
    graph_error(
        env.get("/subscribedSkus").await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
    let mail = json!({"message": {"toRecipients": [{"emailAddress": {"address": "x@y.example"}}]}});
    graph_error(
        env.post("/users/ann@contoso.example/sendMail", &mail).await,
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
    )
    .await;
    let filtered = env.get_json("/groups?$filter=displayName eq 'Sales'").await;
    assert_eq!(names(&filtered), ["Sales"]);
}

//! Tenants and the viewer: what a newcomer does first.

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};

async fn create_tenants_and_see_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let regions = app.gql(&root, "{ regions }", json!({})).await;
    assert_eq!(regions.ok()["regions"], json!(["eu", "us"]));

    let created = app
        .gql(
            &root,
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id name region status createdAt } }",
            json!({ "i": { "name": "  Acme   Health ", "region": "eu" } }),
        )
        .await;
    let tenant = created.ok()["createTenant"].clone();
    assert_eq!(tenant["name"], "Acme Health");
    assert_eq!(tenant["region"], "eu");
    assert_eq!(tenant["status"], "ACTIVE");
    let id = tenant["id"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(id).unwrap().get_version_num(),
        7,
        "ids are UUID v7"
    );

    // The platform audit chain records the creation; the tenant's own chain starts in its region.
    assert_eq!(
        app.count(
            "control",
            "platform_audit_events",
            &format!("action = 'tenant.created' AND object_id = '{id}'")
        )
        .await,
        1
    );
    let tid = stored_uuid(&app, id);
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!("tenant_id = {tid} AND seq = 1 AND action = 'tenant.created'")
        )
        .await,
        1
    );

    // A client of the tenant sees itself and its tenant in `viewer`, roles read from the policy store.
    let admin = app.invite(id, "first-admin", "CLIENT_ADMIN").await;
    let me = app
        .gql(
            &admin,
            "{ viewer { subject kind roles tenant { id name region } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me.ok()["viewer"],
        json!({ "subject": "first-admin", "kind": "CLIENT", "roles": ["CLIENT_ADMIN"], "tenant": { "id": id, "name": "Acme Health", "region": "eu" } })
    );
    // `tenant` without an id is the client's own.
    let own = app.gql(&admin, "{ tenant { id } }", json!({})).await;
    assert_eq!(own.ok()["tenant"]["id"], id);
    // Staff must name the tenant.
    app.gql(&root, "{ tenant { id } }", json!({}))
        .await
        .expect_code("BAD_USER_INPUT");
    let staff_view = app
        .gql(&root, "{ viewer { kind roles tenant { id } } }", json!({}))
        .await;
    assert_eq!(
        staff_view.ok()["viewer"],
        json!({ "kind": "STAFF", "roles": ["PLATFORM_ADMIN"], "tenant": null })
    );

    // The client admin invites a colleague; both appear with their roles.
    let invited = app
        .gql(
            &admin,
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { subject email displayName roles } }",
            json!({ "i": { "email": "Colleague@Example.org", "displayName": "Col League", "role": "CLIENT_VIEWER" } }),
        )
        .await;
    assert_eq!(
        invited.ok()["inviteUser"],
        json!({ "subject": "colleague@example.org", "email": "Colleague@Example.org", "displayName": "Col League", "roles": ["CLIENT_VIEWER"] })
    );
    let colleague = app.client_token("colleague@example.org", id);
    let users = app
        .gql(
            &colleague,
            "{ users { totalCount edges { node { subject roles } } } }",
            json!({}),
        )
        .await;
    assert_eq!(users.ok()["users"]["totalCount"], 2);
    // A viewer may read but not invite.
    app.gql(
        &colleague,
        "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }",
        json!({ "i": { "email": "third@example.org", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .expect_code("FORBIDDEN");
}

async fn roles_survive_a_restart(backend: Backend) {
    // Role assignments are data in the control database: a second server on the same databases enforces them.
    let app = TestApp::spawn(backend.clone()).await;
    let t = app.create_tenant("Durable Co", "us").await;
    app.invite(&t, "durable-admin", "CLIENT_ADMIN").await;
    app.staff_with("durable-legal", "LEGAL").await;
    let restarted = steward::AppState::build(&app.config)
        .await
        .expect("a second server starts");
    let roles = steward::users::roles_of(
        restarted.tenancy(),
        &steward::auth::Principal {
            subject: "durable-admin".into(),
            kind: steward_policy::ActorKind::Client,
            tenant_id: Some(steward::ids::TenantId::parse("t", &t).unwrap()),
        },
    )
    .await;
    assert_eq!(roles, vec![steward_policy::Role::ClientAdmin]);
    let staff = steward::users::roles_of(
        restarted.tenancy(),
        &steward::auth::Principal {
            subject: "durable-legal".into(),
            kind: steward_policy::ActorKind::Staff,
            tenant_id: None,
        },
    )
    .await;
    assert_eq!(staff, vec![steward_policy::Role::Legal]);
}

both_backends!(create_tenants_and_see_them, roles_survive_a_restart);

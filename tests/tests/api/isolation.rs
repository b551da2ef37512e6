//! Tenant isolation: a client never reaches another tenant, whatever id it uses, and learns nothing about it.

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends};

async fn a_client_cannot_reach_another_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_tenant("Tenant A", "eu").await;
    let b = app.create_tenant("Tenant B", "us").await;
    let a_admin = app.invite(&a, "a-admin", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "b-admin", "CLIENT_ADMIN").await;
    let b_user_id = app
        .gql(&b_admin, "{ users { edges { node { id } } } }", json!({}))
        .await
        .ok()["users"]["edges"][0]["node"]["id"]
        .clone();

    // By B's id, through every door: NOT_FOUND, exactly as for an id that does not exist.
    let missing = uuid::Uuid::now_v7().to_string();
    for id in [b.as_str(), missing.as_str()] {
        let reply = app
            .gql(
                &a_admin,
                "query($id: ID) { tenant(id: $id) { name } }",
                json!({ "id": id }),
            )
            .await;
        reply.expect_code("NOT_FOUND");
        assert!(reply.data().is_null());
        app.gql(
            &a_admin,
            "query($t: ID) { users(tenantId: $t) { totalCount } }",
            json!({ "t": id }),
        )
        .await
        .expect_code("NOT_FOUND");
        app.gql(
            &a_admin,
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }",
            json!({ "i": { "tenantId": id, "email": "intruder@example.org", "role": "CLIENT_ADMIN" } }),
        )
        .await
        .expect_code("NOT_FOUND");
        app.gql(
            &a_admin,
            "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }",
            json!({ "i": { "subject": "a-admin", "role": "CLIENT_ADMIN", "tenantId": id } }),
        )
        .await
        .expect_code("NOT_FOUND");
        app.gql(
            &a_admin,
            "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role } }",
            json!({ "i": { "subject": "b-admin", "role": "CLIENT_ADMIN", "tenantId": id } }),
        )
        .await
        .expect_code("NOT_FOUND");
    }
    // A token claiming B while its roles are in A gets nothing in B.
    let forged = app.client_token("a-admin", &b);
    app.gql(&forged, "{ users { totalCount } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&forged, "{ viewer { roles } }", json!({}))
        .await
        .ok();

    // Nothing changed in B; its user is still alone and still its admin.
    let b_users = app
        .gql(
            &b_admin,
            "{ users { totalCount edges { node { id subject roles } } } }",
            json!({}),
        )
        .await;
    assert_eq!(b_users.ok()["users"]["totalCount"], 1);
    assert_eq!(b_users.ok()["users"]["edges"][0]["node"]["id"], b_user_id);
    assert_eq!(
        b_users.ok()["users"]["edges"][0]["node"]["roles"],
        json!(["CLIENT_ADMIN"])
    );
    // And clients cannot list tenants at all.
    app.gql(&a_admin, "{ tenants { totalCount } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
}

async fn staff_refusals_do_not_reveal_existence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_tenant("Oracle Co", "eu").await;
    let legal = app.staff_with("lawyer", "LEGAL").await;
    let missing = uuid::Uuid::now_v7().to_string();
    // Legal may not read users: the answer is the same whether the tenant exists or not.
    for id in [&a, &missing] {
        app.gql(
            &legal,
            "query($t: ID) { users(tenantId: $t) { totalCount } }",
            json!({ "t": id }),
        )
        .await
        .expect_code("FORBIDDEN");
    }
    // Where the role does allow it, an unknown tenant is NOT_FOUND.
    app.gql(
        &legal,
        "query($id: ID) { tenant(id: $id) { name } }",
        json!({ "id": missing }),
    )
    .await
    .expect_code("NOT_FOUND");
    // Someone with no role at all.
    let nobody = app.staff_token("nobody");
    app.gql(
        &nobody,
        "query($id: ID) { tenant(id: $id) { name } }",
        json!({ "id": a }),
    )
    .await
    .expect_code("FORBIDDEN");
    let me = app
        .gql(
            &nobody,
            "{ viewer { subject kind roles tenant { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me.ok()["viewer"],
        json!({ "subject": "nobody", "kind": "STAFF", "roles": [], "tenant": null })
    );
}

async fn suspension_locks_clients_out_until_reactivated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Sleepy Co", "us").await;
    let admin = app.invite(&t, "sleepy-admin", "CLIENT_ADMIN").await;
    let support = app.staff_with("helpdesk", "SUPPORT").await;

    let suspend = "mutation($id: ID!, $r: String!) { suspendTenant(id: $id, reason: $r) { status statusReason } }";
    app.gql(&app.root(), suspend, json!({ "id": t, "r": "  " }))
        .await
        .expect_code("BAD_USER_INPUT");
    let s = app
        .gql(
            &app.root(),
            suspend,
            json!({ "id": t, "r": "unpaid invoices" }),
        )
        .await;
    assert_eq!(
        s.ok()["suspendTenant"],
        json!({ "status": "SUSPENDED", "statusReason": "unpaid invoices" })
    );
    // Suspending twice is a conflict, not a silent success.
    app.gql(&app.root(), suspend, json!({ "id": t, "r": "again" }))
        .await
        .expect_code("CONFLICT");

    // The client is out at its very next request; staff still see the tenant and its data is kept.
    app.gql(&admin, "{ users { totalCount } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&admin, "{ viewer { tenant { name } } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    let seen = app
        .gql(
            &support,
            "query($t: ID) { users(tenantId: $t) { totalCount } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(seen.ok()["users"]["totalCount"], 1);
    let listed = app
        .gql(
            &support,
            "{ tenants(status: SUSPENDED) { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.ok()["tenants"]["edges"][0]["node"]["id"], t.as_str());

    let reactivate = "mutation($id: ID!) { reactivateTenant(id: $id) { status statusReason } }";
    let r = app.gql(&app.root(), reactivate, json!({ "id": t })).await;
    assert_eq!(
        r.ok()["reactivateTenant"],
        json!({ "status": "ACTIVE", "statusReason": null })
    );
    app.gql(&app.root(), reactivate, json!({ "id": t }))
        .await
        .expect_code("CONFLICT");
    app.gql(&admin, "{ users { totalCount } }", json!({}))
        .await
        .ok();

    // Each transition is in the tenant's own audit chain.
    let tid = steward_tests::stored_uuid(&app, &t);
    assert_eq!(
        app.count(
            "us",
            "audit_events",
            &format!("tenant_id = {tid} AND action IN ('tenant.suspended', 'tenant.reactivated')")
        )
        .await,
        2
    );
}

both_backends!(
    a_client_cannot_reach_another_tenant,
    staff_refusals_do_not_reveal_existence,
    suspension_locks_clients_out_until_reactivated
);

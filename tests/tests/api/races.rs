//! Who may give roles, and races on roles and grants (security review, issue 17): staff set up only a tenant's first
//! admin; concurrent revocations never remove the last admin; an approval racing a revocation never brings a revoked
//! grant back. The concurrent cases run requests at once through the router (truly in parallel on PostgreSQL).

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};

const INVITE: &str = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }";
const ASSIGN: &str = "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }";
const REVOKE: &str = "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role } }";

/// A platform admin cannot make anyone (itself included) a reader of an administered client's data: staff give
/// client roles only to a tenant with no `client_admin`; what staff take away is told to the tenant's admins.
async fn staff_set_up_only_the_first_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Held Co", "eu").await;
    // Before the first admin, staff give no other client role: no viewer is planted to wait for the data.
    let refused = app
        .gql(&root, INVITE, json!({ "i": { "tenantId": t, "email": "spy@ops.example", "subject": "spy", "role": "CLIENT_VIEWER" } }))
        .await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"], "CLIENT_ROLES_ARE_THE_CLIENTS",
        "{}",
        refused.body
    );
    assert_eq!(
        app.count("control", "role_assignments", &format!("domain = '{t}'"))
            .await,
        0
    );
    let admin = app.invite(&t, "held-admin", "CLIENT_ADMIN").await;
    app.gql(
        &admin,
        INVITE,
        json!({ "i": { "email": "viewer@held.example", "subject": "held-viewer", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .ok();
    let domain = format!("domain = '{t}'");
    let before = app.count("control", "role_assignments", &domain).await;
    assert_eq!(before, 2);

    // The platform admin tries to invite itself, to promote the viewer, to add itself as a client admin.
    for (query, vars) in [
        (
            INVITE,
            json!({ "i": { "tenantId": t, "email": "root@ops.example", "subject": "sneaky-root", "role": "CLIENT_ADMIN" } }),
        ),
        (
            ASSIGN,
            json!({ "i": { "tenantId": t, "subject": "held-viewer", "role": "CLIENT_ADMIN" } }),
        ),
    ] {
        let refused = app.gql(&root, query, vars).await;
        assert_eq!(
            refused.body["errors"][0]["extensions"]["reason"], "TENANT_HAS_ADMIN",
            "{:#}",
            refused.body
        );
    }
    assert_eq!(
        app.count("control", "role_assignments", &domain).await,
        before
    );
    assert_eq!(
        app.count(
            "eu",
            "tenant_users",
            &format!("tenant_id = {}", stored_uuid(&app, &t))
        )
        .await,
        2
    );

    // Staff may still take a role away (an offboarded employee of the client, say): the admins are told.
    app.gql(
        &root,
        REVOKE,
        json!({ "i": { "tenantId": t, "subject": "held-viewer", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .ok();
    let notices = app
        .gql(
            &admin,
            "{ notices { edges { node { kind body } } } }",
            json!({}),
        )
        .await;
    let text = notices.ok().to_string();
    assert!(text.contains("role.changed_by_staff"), "{text}");
    assert!(text.contains("held-viewer"), "{text}");
    // A tenant without an admin (being set up) can be given one by staff.
    let fresh = app.create_tenant("Fresh Co", "us").await;
    app.invite(&fresh, "fresh-admin", "CLIENT_ADMIN").await;
}

/// Two admins revoke each other at the same moment, round after round: one wins, the tenant keeps an admin. The same
/// for the platform's own admins.
async fn concurrent_revocations_keep_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..4 {
        let t = app.create_tenant(&format!("Duel {round}"), "eu").await;
        let a = app
            .invite(&t, &format!("duel-a-{round}"), "CLIENT_ADMIN")
            .await;
        let b = app
            .invite(&t, &format!("duel-b-{round}"), "CLIENT_ADMIN")
            .await;
        let revoke = |token: &str, subject: String| {
            let app = &app;
            let token = token.to_owned();
            async move {
                app.gql(
                    &token,
                    REVOKE,
                    json!({ "i": { "subject": subject, "role": "CLIENT_ADMIN" } }),
                )
                .await
            }
        };
        let (x, y) = tokio::join!(
            revoke(&a, format!("duel-b-{round}")),
            revoke(&b, format!("duel-a-{round}"))
        );
        let wins = [&x, &y].iter().filter(|r| r.code().is_none()).count();
        assert!(wins <= 1, "both revocations won: {:#} {:#}", x.body, y.body);
        let admins = app
            .count(
                "control",
                "role_assignments",
                &format!("domain = '{t}' AND role = 'client_admin'"),
            )
            .await;
        assert_eq!(admins, 1, "round {round}: {:#} {:#}", x.body, y.body);
    }

    let root = app.root();
    let second = app.staff_with("second-admin", "PLATFORM_ADMIN").await;
    let (x, y) = tokio::join!(
        app.gql(
            &root,
            REVOKE,
            json!({ "i": { "subject": "second-admin", "role": "PLATFORM_ADMIN" } })
        ),
        app.gql(
            &second,
            REVOKE,
            json!({ "i": { "subject": steward_tests::ROOT, "role": "PLATFORM_ADMIN" } })
        ),
    );
    assert!(
        [&x, &y].iter().filter(|r| r.code().is_none()).count() <= 1,
        "{:#} {:#}",
        x.body,
        y.body
    );
    assert_eq!(
        app.count("control", "role_assignments", "role = 'platform_admin'")
            .await,
        1
    );
}

/// An approval racing a revocation: whatever the order, a grant whose revocation succeeded stays revoked, and at most
/// one decision is written.
async fn approval_never_revives_a_revoked_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Race Co", "eu").await;
    let approver = app.invite(&t, "race-approver", "CLIENT_ADMIN").await;
    let revoker = app.invite(&t, "race-revoker", "CLIENT_ADMIN").await;
    let support = app.staff_with("race-support", "SUPPORT").await;
    for round in 0..6 {
        let requested = app
            .gql(
                &support,
                "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id } }",
                json!({ "i": { "tenantId": t, "justification": "Customer reports a broken export, ticket attached", "ticket": format!("SUP-{round}"), "durationMinutes": 30 } }),
            )
            .await;
        let id = requested.ok()["requestAccessGrant"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (approved, revoked) = tokio::join!(
            app.gql(
                &approver,
                "mutation($id: ID!) { approveAccessGrant(id: $id) { status } }",
                json!({ "id": id }),
            ),
            app.gql(
                &revoker,
                "mutation($id: ID!) { revokeAccessGrant(id: $id) { status } }",
                json!({ "id": id }),
            ),
        );
        let state = app
            .gql(
                &approver,
                "{ accessGrants(first: 1) { edges { node { id status } } } }",
                json!({}),
            )
            .await;
        let node = state.ok()["accessGrants"]["edges"][0]["node"].clone();
        assert_eq!(node["id"], id.as_str());
        let status = node["status"].clone();
        if revoked.code().is_none() {
            assert_eq!(status, "REVOKED", "round {round}: {:#}", approved.body);
        } else {
            assert_eq!(revoked.code(), Some("CONFLICT"), "{:#}", revoked.body);
        }
        if approved.code().is_some() {
            assert_eq!(approved.code(), Some("CONFLICT"), "{:#}", approved.body);
        }
    }
}

both_backends!(
    staff_set_up_only_the_first_admin,
    concurrent_revocations_keep_an_admin,
    approval_never_revives_a_revoked_grant,
);

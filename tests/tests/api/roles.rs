//! The role matrix through the API: every role tries every operation; the expected outcome is written as data.

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends};

/// Columns: CLIENT_ADMIN, CLIENT_VIEWER, PLATFORM_ADMIN, SUPPORT, PRIVACY_OFFICER, LEGAL, AUDITOR.
/// `Y` = allowed, `F` = FORBIDDEN, `A` = allowed by role, refused because the tenant has a `client_admin`
/// (`TENANT_HAS_ADMIN`: staff set up only a tenant's first admin; then its admins decide its roles).
const MATRIX: &str = "
operation      CA CV PA SU PO LE AU
tenants        F  F  Y  Y  Y  Y  Y
tenant         Y  Y  Y  Y  Y  Y  Y
users          Y  Y  Y  Y  F  F  F
createTenant   F  F  Y  F  F  F  F
suspendTenant  F  F  Y  F  F  F  F
inviteUser     Y  F  A  F  F  F  F
assignStaff    F  F  Y  F  F  F  F
assignClient   Y  F  A  F  F  F  F
";

const ROLES: [&str; 7] = [
    "CLIENT_ADMIN",
    "CLIENT_VIEWER",
    "PLATFORM_ADMIN",
    "SUPPORT",
    "PRIVACY_OFFICER",
    "LEGAL",
    "AUDITOR",
];

async fn role_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant_a = app.create_tenant("Matrix A", "eu").await;
    let tenant_b = app.create_tenant("Matrix B", "us").await;
    let mut tokens = Vec::new();
    for role in ROLES {
        let subject = format!("holder-{}", role.to_lowercase());
        let token = if role.starts_with("CLIENT_") {
            app.invite(&tenant_a, &subject, role).await
        } else {
            app.staff_with(&subject, role).await
        };
        tokens.push((role, token));
    }
    // Invited by the tenant's first admin (staff set up only that admin).
    app.invite(&tenant_a, "target-user", "CLIENT_VIEWER").await;

    let mut lines = MATRIX.trim().lines();
    lines.next();
    let mut cells = 0;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let operation = fields[0];
        for (i, (role, token)) in tokens.iter().enumerate() {
            let is_client = role.starts_with("CLIENT_");
            // Clients act on their own tenant; staff on B for lifecycle (so A stays active for the clients).
            let reply = match operation {
                "tenants" => app.gql(token, "{ tenants { totalCount } }", json!({})).await,
                "tenant" => app.gql(token, "query($id: ID!) { tenant(id: $id) { name } }", json!({ "id": tenant_a })).await,
                "users" => {
                    app.gql(token, "query($t: ID) { users(tenantId: $t) { totalCount } }", json!({ "t": tenant_a }))
                        .await
                }
                "createTenant" => {
                    app.gql(
                        token,
                        "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id } }",
                        json!({ "i": { "name": format!("Made by {role}"), "region": "eu" } }),
                    )
                    .await
                }
                "suspendTenant" => {
                    let target = if is_client { &tenant_a } else { &tenant_b };
                    let reply = app
                        .gql(
                            token,
                            "mutation($id: ID!) { suspendTenant(id: $id, reason: \"matrix\") { status } }",
                            json!({ "id": target }),
                        )
                        .await;
                    if reply.code().is_none() {
                        app.gql(&app.root(), "mutation($id: ID!) { reactivateTenant(id: $id) { status } }", json!({ "id": target }))
                            .await
                            .ok();
                    }
                    reply
                }
                "inviteUser" => {
                    app.gql(
                        token,
                        "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }",
                        json!({ "i": { "tenantId": tenant_a, "email": format!("new-{i}@example.org"), "role": "CLIENT_VIEWER" } }),
                    )
                    .await
                }
                "assignStaff" => {
                    app.gql(
                        token,
                        "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }",
                        json!({ "i": { "subject": format!("promoted-by-{i}"), "role": "AUDITOR" } }),
                    )
                    .await
                }
                "assignClient" => {
                    app.gql(
                        token,
                        "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }",
                        json!({ "i": { "subject": "target-user", "role": "CLIENT_ADMIN", "tenantId": tenant_a } }),
                    )
                    .await
                }
                other => panic!("unknown operation {other}"),
            };
            match fields[i + 1] {
                "Y" => assert!(
                    reply.code().is_none(),
                    "{role} {operation}: {:#}",
                    reply.body
                ),
                "F" => assert_eq!(
                    reply.code(),
                    Some("FORBIDDEN"),
                    "{role} {operation}: {:#}",
                    reply.body
                ),
                "A" => assert_eq!(
                    reply.body["errors"][0]["extensions"]["reason"], "TENANT_HAS_ADMIN",
                    "{role} {operation}: {:#}",
                    reply.body
                ),
                cell => panic!("bad cell {cell}"),
            }
            cells += 1;
        }
    }
    assert_eq!(cells, 8 * 7);

    // Denied mutations changed nothing: exactly one tenant was created by the matrix (the platform admin's), and
    // no staff role was granted by anyone but the platform admin.
    let all = app
        .gql(
            &app.root(),
            "{ tenants { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(all.ok()["tenants"]["totalCount"], 3, "{:#}", all.body);
    assert_eq!(
        app.count(
            "control",
            "role_assignments",
            "subject LIKE 'promoted-by-%'"
        )
        .await,
        1
    );
}

async fn revocation_is_effective_on_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Revoke Co", "eu").await;
    let admin = app.invite(&tenant, "rc-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&tenant, "rc-viewer", "CLIENT_VIEWER").await;
    let users = "{ users { totalCount } }";
    app.gql(&viewer, users, json!({})).await.ok();

    // The tenant's own admin revokes the viewer; the viewer's very next request is refused.
    let revoke = "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role subject } }";
    let reply = app
        .gql(
            &admin,
            revoke,
            json!({ "i": { "subject": "rc-viewer", "role": "CLIENT_VIEWER" } }),
        )
        .await;
    assert_eq!(reply.ok()["revokeRole"]["role"], "CLIENT_VIEWER");
    app.gql(&viewer, users, json!({}))
        .await
        .expect_code("FORBIDDEN");
    let me = app.gql(&viewer, "{ viewer { roles } }", json!({})).await;
    assert_eq!(me.ok()["viewer"]["roles"], json!([]));
    // Revoking again: there is nothing to revoke.
    app.gql(
        &admin,
        revoke,
        json!({ "i": { "subject": "rc-viewer", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .expect_code("NOT_FOUND");

    // The last client_admin cannot be removed; once there is a second one, the first can.
    app.gql(
        &admin,
        revoke,
        json!({ "i": { "subject": "rc-admin", "role": "CLIENT_ADMIN" } }),
    )
    .await
    .expect_code("CONFLICT");
    let assign = "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }";
    app.gql(
        &admin,
        assign,
        json!({ "i": { "subject": "rc-viewer", "role": "CLIENT_ADMIN" } }),
    )
    .await
    .ok();
    app.gql(&viewer, users, json!({})).await.ok();
    app.gql(
        &viewer,
        revoke,
        json!({ "i": { "subject": "rc-admin", "role": "CLIENT_ADMIN" } }),
    )
    .await
    .ok();
    app.gql(&admin, users, json!({}))
        .await
        .expect_code("FORBIDDEN");

    // Staff roles: a revoked auditor loses access at once; the last platform admin stays.
    let auditor = app.staff_with("aud-1", "AUDITOR").await;
    app.gql(&auditor, "{ tenants { totalCount } }", json!({}))
        .await
        .ok();
    app.gql(
        &app.root(),
        revoke,
        json!({ "i": { "subject": "aud-1", "role": "AUDITOR" } }),
    )
    .await
    .ok();
    app.gql(&auditor, "{ tenants { totalCount } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &app.root(),
        revoke,
        json!({ "i": { "subject": "root-admin", "role": "PLATFORM_ADMIN" } }),
    )
    .await
    .expect_code("CONFLICT");

    // Assignments live in the control database; the revocations removed theirs.
    assert_eq!(
        app.count("control", "role_assignments", "subject = 'aud-1'")
            .await,
        0
    );
    assert_eq!(
        app.count("control", "role_assignments", "subject = 'rc-admin'")
            .await,
        0
    );
}

async fn role_assignment_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Rules Co", "us").await;
    let admin = app.invite(&tenant, "rules-admin", "CLIENT_ADMIN").await;
    let assign = "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role subject kind tenantId assignedBy } }";

    // A client admin cannot hand out staff roles, nor client roles to people who are not its users.
    app.gql(
        &admin,
        assign,
        json!({ "i": { "subject": "mallory", "role": "PLATFORM_ADMIN" } }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &admin,
        assign,
        json!({ "i": { "subject": "stranger", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .expect_code("NOT_FOUND");
    // Staff roles hold everywhere: naming a tenant for one is a mistake.
    app.gql(
        &app.root(),
        assign,
        json!({ "i": { "subject": "s", "role": "SUPPORT", "tenantId": tenant } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    // Staff must name the tenant for a client role.
    app.gql(
        &app.root(),
        assign,
        json!({ "i": { "subject": "rules-admin", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    // Granting twice is harmless and returns the same assignment.
    let first = app
        .gql(
            &app.root(),
            assign,
            json!({ "i": { "subject": "s2", "role": "LEGAL" } }),
        )
        .await;
    let again = app
        .gql(
            &app.root(),
            assign,
            json!({ "i": { "subject": "s2", "role": "LEGAL" } }),
        )
        .await;
    assert_eq!(first.ok(), again.ok());
    assert_eq!(first.ok()["assignRole"]["kind"], "STAFF");
    assert_eq!(first.ok()["assignRole"]["tenantId"], json!(null));
    assert_eq!(first.ok()["assignRole"]["assignedBy"], "staff:root-admin");
    assert_eq!(
        app.count("control", "role_assignments", "subject = 's2'")
            .await,
        1
    );

    // Inviting with a staff role is refused, and creates nobody.
    let invite = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }";
    app.gql(
        &admin,
        invite,
        json!({ "i": { "email": "x@example.org", "role": "AUDITOR" } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let users = app
        .gql(
            &admin,
            "{ users { totalCount edges { node { subject roles } } } }",
            json!({}),
        )
        .await;
    assert_eq!(users.ok()["users"]["totalCount"], 1);
    assert_eq!(
        users.ok()["users"]["edges"][0]["node"]["roles"],
        json!(["CLIENT_ADMIN"])
    );
}

/// An invitation cut off between the databases (the user committed in the region, the role never in the control
/// database) is completed by inviting the same email and subject again; a taken email is still refused at once.
async fn an_invitation_cut_off_between_the_databases_is_completed_by_inviting_again(
    backend: Backend,
) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Half Co", "eu").await;
    let admin = app.invite(&tenant, "half-admin", "CLIENT_ADMIN").await;
    let half = app.invite(&tenant, "half-viewer", "CLIENT_VIEWER").await;
    let users = "{ users { totalCount edges { node { id } } } }";
    let before = app.gql(&admin, users, json!({})).await.ok().clone();
    assert_eq!(before["users"]["totalCount"], 2);

    // The state a death between the two commits leaves: the user, no role. On PostgreSQL the moved version makes this
    // instance reload and refuse the user; one SQLite database belongs to one process, which reloads only its own
    // changes.
    let control = app.raw_db("control").await;
    control
        .execute_unprepared("DELETE FROM role_assignments WHERE subject = 'half-viewer'")
        .await
        .unwrap();
    control
        .execute_unprepared("UPDATE authz_state SET version = version + 1 WHERE id = 1")
        .await
        .unwrap();
    if matches!(app.backend, Backend::Postgres(_)) {
        app.gql(&half, users, json!({}))
            .await
            .expect_code("FORBIDDEN");
    }

    let invite = "mutation($input: InviteUserInput!) { inviteUser(input: $input) { id } }";
    // Invited again under a name: the user is completed with the name given now.
    let again = json!({ "input": { "email": "Half-Viewer@example.org", "subject": "half-viewer", "role": "CLIENT_VIEWER", "displayName": "Hal F. Viewer" } });
    let invite_named =
        "mutation($input: InviteUserInput!) { inviteUser(input: $input) { id displayName } }";
    let completed = app.gql(&admin, invite_named, again.clone()).await;
    assert_eq!(completed.ok()["inviteUser"]["displayName"], "Hal F. Viewer");
    let id = completed.ok()["inviteUser"]["id"].clone();
    let named = app
        .gql(
            &admin,
            "{ users { edges { node { id displayName } } } }",
            json!({}),
        )
        .await;
    assert!(
        named.ok()["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["id"] == id && e["node"]["displayName"] == "Hal F. Viewer"),
        "the name is stored, not only answered"
    );
    let after = app.gql(&half, users, json!({})).await;
    assert_eq!(after.ok()["users"]["totalCount"], 2, "no second user");
    assert!(
        after.ok()["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["id"] == id),
        "the same user, now with its role"
    );
    assert_eq!(
        app.count("control", "role_assignments", "subject = 'half-viewer'")
            .await,
        1
    );
    // Whole now: the email is taken, and another subject cannot claim it either.
    app.gql(&admin, invite, again).await.expect_code("CONFLICT");
    app.gql(
        &admin,
        invite,
        json!({ "input": { "email": "half-viewer@example.org", "subject": "someone-else", "role": "CLIENT_VIEWER" } }),
    )
    .await
    .expect_code("CONFLICT");
}

both_backends!(
    role_matrix,
    revocation_is_effective_on_the_next_request,
    role_assignment_rules,
    an_invitation_cut_off_between_the_databases_is_completed_by_inviting_again
);

/// A role change made through this instance is applied to it in place: no reload of every assignment (onboarding
/// thousands of tenants through one instance would otherwise reload them all after each invitation). A version moved
/// by someone else still makes the next request reload.
async fn own_role_changes_need_no_reload(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("No Reload Co", "eu").await;
    let admin = app.invite(&t, "nr-admin", "CLIENT_ADMIN").await;
    const READ: &str = "{ dataSubjects { totalCount } }";
    assert_eq!(
        app.gql(&admin, READ, json!({})).await.ok()["dataSubjects"]["totalCount"],
        0
    );
    let tenancy = app.state.tenancy();
    let before = tenancy.role_reloads();
    let mut viewers = Vec::new();
    for i in 0..5 {
        let viewer = app
            .invite(&t, &format!("nr-viewer-{i}"), "CLIENT_VIEWER")
            .await;
        assert_eq!(
            app.gql(&viewer, READ, json!({})).await.ok()["dataSubjects"]["totalCount"],
            0
        );
        viewers.push(viewer);
    }
    app.gql(
        &app.root(),
        "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role } }",
        json!({ "i": { "subject": "nr-viewer-0", "role": "CLIENT_VIEWER", "tenantId": t } }),
    )
    .await
    .ok();
    assert_eq!(
        app.gql(&viewers[0], READ, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    assert_eq!(
        app.gql(&viewers[1], READ, json!({})).await.ok()["dataSubjects"]["totalCount"],
        0
    );
    assert_eq!(
        tenancy.role_reloads(),
        before,
        "own changes were applied in place"
    );

    // Another instance's change (here: the shared version moved under us) is not known here: reload.
    if matches!(backend_of(&app), Backend::Postgres(_)) {
        use sea_orm::{ConnectionTrait, Statement};
        let control = app.raw_db("control").await;
        control
            .execute_raw(Statement::from_string(
                control.get_database_backend(),
                "UPDATE authz_state SET version = version + 1 WHERE id = 1",
            ))
            .await
            .unwrap();
        app.gql(&admin, READ, json!({})).await.ok();
        assert_eq!(tenancy.role_reloads(), before + 1);
    }
}

fn backend_of(app: &TestApp) -> &Backend {
    &app.backend
}

both_backends!(own_role_changes_need_no_reload);

/// What an outsiders' review found staff and viewers could do beyond their role (2026-12-05). A platform admin cannot
/// give itself a staff role — made a privacy officer, it could read any client's values through break-glass access
/// alone — though it still appoints others; nor set a controller's own instructions (its children rule, its details
/// in the record of processing) on the client's behalf. A client viewer cannot mark a notice meant for the admins as
/// seen; an admin can.
async fn nobody_takes_a_role_or_a_setting_that_is_not_theirs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Lanes Co", "eu").await;
    let admin = app.invite(&t, "lanes-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "lanes-viewer", "CLIENT_VIEWER").await;
    let pa = app.staff_with("lanes-pa", "PLATFORM_ADMIN").await;
    const ASSIGN: &str = "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }";

    let own = app
        .gql(
            &pa,
            ASSIGN,
            json!({ "i": { "subject": "lanes-pa", "role": "PRIVACY_OFFICER" } }),
        )
        .await;
    assert_eq!(
        own.body["errors"][0]["extensions"]["reason"], "SECOND_PERSON_REQUIRED",
        "{:?}",
        own.body
    );
    assert_eq!(
        app.count("control", "role_assignments", "subject = 'lanes-pa'")
            .await,
        1,
        "only the platform admin role it was given"
    );
    let glass = json!({ "i": { "tenantId": t, "justification": "Emergency production incident", "ticket": "INC-1", "durationMinutes": 30 } });
    const GLASS: &str = "mutation($i: AccessGrantInput!) { breakGlassAccess(input: $i) { id } }";
    app.gql(&pa, GLASS, glass.clone())
        .await
        .expect_code("FORBIDDEN");
    // Another person, appointed by it, is a privacy officer (and every break-glass is told to the client).
    app.gql(
        &pa,
        ASSIGN,
        json!({ "i": { "subject": "lanes-po", "role": "PRIVACY_OFFICER" } }),
    )
    .await
    .ok();

    let settings = [
        (
            "mutation($t: ID) { setChildrenRule(tenantId: $t, rule: GUARDIAN_FOR_ALL_MINORS) }",
            json!({ "t": t }),
        ),
        (
            "mutation($t: ID) { setControllerDetails(tenantId: $t, contact: \"privacy@lanes.example\") { contact } }",
            json!({ "t": t }),
        ),
    ];
    for (query, vars) in &settings {
        app.gql(&pa, query, vars.clone())
            .await
            .expect_code("FORBIDDEN");
    }
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action IN ('tenant.children_rule_set', 'tenant.controller_details_set')"
        )
        .await,
        0,
        "a setting changed by staff"
    );
    for (query, vars) in &settings {
        app.gql(&admin, query, vars.clone()).await.ok();
    }
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action IN ('tenant.children_rule_set', 'tenant.controller_details_set')"
        )
        .await,
        2
    );

    app.gql(
        &app.root(),
        "mutation($i: SendNoticeInput!) { sendNotice(input: $i) }",
        json!({ "i": { "tenantIds": [t], "class": "ADMINISTRATIVE", "title": "For admins", "body": "Admins only." } }),
    )
    .await
    .ok();
    let inbox = app
        .gql(
            &admin,
            "{ notices { edges { node { id title } } } }",
            json!({}),
        )
        .await;
    let id = inbox.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["title"] == "For admins")
        .unwrap()["node"]["id"]
        .clone();
    const ACK: &str = "mutation($id: ID!) { acknowledgeNotice(id: $id) { acknowledgedBy } }";
    app.gql(&viewer, ACK, json!({ "id": id }))
        .await
        .expect_code("FORBIDDEN");
    assert_eq!(
        app.count("eu", "notices", "acknowledged_at IS NOT NULL")
            .await,
        0
    );
    let acked = app.gql(&admin, ACK, json!({ "id": id })).await;
    assert_eq!(
        acked.ok()["acknowledgeNotice"]["acknowledgedBy"],
        "client:lanes-admin"
    );
}

both_backends!(nobody_takes_a_role_or_a_setting_that_is_not_theirs);

//! Need-to-know: staff see metadata only, until a grant the client approved opens exactly the granted subjects for
//! exactly its time; every staff read lands in the client's access-transparency log, without values.

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};

use crate::personal::subject;

const SUBJECTS: &str = "query($t: ID) { dataSubjects(tenantId: $t) { totalCount edges { node { id externalId categories createdAt personalData { category collectedAt value } } } } }";
const REQUEST: &str = "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id status subjectIds expiresAt } }";
const APPROVE: &str =
    "mutation($id: ID!) { approveAccessGrant(id: $id) { id status expiresAt decidedBy } }";

fn grant_input(tenant: &str, subjects: Option<Vec<&str>>, minutes: i32) -> serde_json::Value {
    json!({ "i": { "tenantId": tenant, "justification": "Customer reports a broken export, ticket attached", "ticket": "SUP-1234", "durationMinutes": minutes, "subjectIds": subjects } })
}

async fn staff_read_values_only_through_an_approved_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Guarded Co", "eu").await;
    let admin = app.invite(&t, "guard-admin", "CLIENT_ADMIN").await;
    let a = subject(&app, &admin, "ga", "alice@guarded.example", "Alice Guarded").await;
    let b = subject(&app, &admin, "gb", "bob@guarded.example", "Bob Guarded").await;
    let support = app.staff_with("sam-support", "SUPPORT").await;

    // Metadata yes, values no: each value is null with FORBIDDEN at its path, the rest intact.
    let seen = app.gql(&support, SUBJECTS, json!({ "t": t })).await;
    assert_eq!(seen.status, axum::http::StatusCode::OK);
    let data = &seen.body["data"]["dataSubjects"];
    assert_eq!(data["totalCount"], 2);
    assert_eq!(data["edges"][0]["node"]["id"], a.as_str());
    assert_eq!(
        data["edges"][0]["node"]["categories"],
        json!(["user.contact.email", "user.name"])
    );
    assert!(data["edges"][0]["node"]["createdAt"].is_string());
    assert!(data["edges"][0]["node"]["externalId"].is_null());
    assert!(data["edges"][0]["node"]["personalData"][0]["value"].is_null());
    assert_eq!(
        data["edges"][0]["node"]["personalData"][0]["category"],
        "user.contact.email"
    );
    let errors = seen.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2 + 4, "one per personal field: {errors:#?}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "FORBIDDEN")
    );
    assert_eq!(
        errors
            .iter()
            .find(|e| e["path"].as_array().unwrap().last() == Some(&json!("value")))
            .unwrap()["path"],
        json!([
            "dataSubjects",
            "edges",
            0,
            "node",
            "personalData",
            0,
            "value"
        ])
    );
    assert!(!seen.body.to_string().contains("Alice"));
    // The refusal itself is on the tenant's audit chain: one event for the request, naming subjects by id only.
    let tid = stored_uuid(&app, &t);
    let denied =
        format!("tenant_id = {tid} AND action = 'pii.denied' AND actor_subject = 'sam-support'");
    assert_eq!(app.count("eu", "audit_events", &denied).await, 1);
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!("{denied} AND detail LIKE '%Alice%'")
        )
        .await,
        0
    );
    // Filtering by a value would reveal who is a subject.
    app.gql(&support, "query($t: ID) { dataSubjects(tenantId: $t, email: \"alice@guarded.example\") { totalCount } }", json!({ "t": t }))
        .await
        .expect_code("FORBIDDEN");

    // A grant for subject A only, pending until the client approves.
    let requested = app
        .gql(
            &support,
            REQUEST,
            grant_input(&t, Some(vec![a.as_str()]), 30),
        )
        .await;
    let grant = requested.ok()["requestAccessGrant"].clone();
    assert_eq!(grant["status"], "PENDING");
    assert!(grant["expiresAt"].is_null());
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    assert!(
        app.gql(&support, SUBJECTS, json!({ "t": t })).await.body["errors"].is_array(),
        "pending opens nothing"
    );
    // The client sees the request in its notices and its grants.
    let notices = app
        .gql(
            &admin,
            "{ notices { edges { node { kind title } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        notices.ok()["notices"]["edges"][0]["node"]["kind"],
        "access.requested"
    );
    let pending = app
        .gql(
            &admin,
            "{ accessGrants(status: PENDING) { totalCount edges { node { id grantee ticket } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        pending.ok()["accessGrants"]["edges"][0]["node"]["grantee"],
        "sam-support"
    );

    let approved = app.gql(&admin, APPROVE, json!({ "id": grant_id })).await;
    assert_eq!(approved.ok()["approveAccessGrant"]["status"], "APPROVED");
    assert_eq!(
        approved.ok()["approveAccessGrant"]["decidedBy"],
        "client:guard-admin"
    );

    // Now exactly A's values are readable; B's stay closed.
    let seen = app.gql(&support, SUBJECTS, json!({ "t": t })).await;
    let edges = seen.body["data"]["dataSubjects"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges[0]["node"]["externalId"], "ga");
    assert_eq!(edges[1]["node"]["id"], b.as_str());
    assert_eq!(
        edges[0]["node"]["personalData"][1]["value"],
        "Alice Guarded"
    );
    assert!(edges[1]["node"]["externalId"].is_null());
    assert!(edges[1]["node"]["personalData"][1]["value"].is_null());
    assert_eq!(
        seen.body["errors"].as_array().unwrap().len(),
        3,
        "B's three personal fields"
    );
    assert!(!seen.body.to_string().contains("Bob Guarded"));

    // The client sees that read: who, which grant and subject, which categories — and no value.
    let log = app
        .gql(&admin, "{ accessTransparencyLog { totalCount edges { node { staffSubject grantId justification ticket subjectIds categories valuesRead requestId } } } }", json!({}))
        .await;
    let entry = log.ok()["accessTransparencyLog"]["edges"][0]["node"].clone();
    assert_eq!(log.ok()["accessTransparencyLog"]["totalCount"], 1);
    assert_eq!(entry["staffSubject"], "sam-support");
    assert_eq!(entry["grantId"], grant_id.as_str());
    assert_eq!(entry["ticket"], "SUP-1234");
    assert_eq!(entry["subjectIds"], json!([a]));
    assert_eq!(
        entry["categories"],
        json!(["subject.external_id", "user.contact.email", "user.name"])
    );
    assert_eq!(entry["valuesRead"], 3);
    assert!(entry["requestId"].is_string());
    for planted in ["alice@guarded.example", "Alice Guarded"] {
        assert!(!log.body.to_string().contains(planted));
        assert_eq!(
            app.count(
                "eu",
                "access_log",
                &format!("CAST(subject_ids AS TEXT) LIKE '%{planted}%' OR CAST(categories AS TEXT) LIKE '%{planted}%'")
            )
            .await,
            0
        );
    }
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!("tenant_id = {tid} AND action = 'pii.read'")
        )
        .await,
        1
    );
    // Clients reading their own data are not staff reads: nothing more is logged.
    app.gql(&admin, SUBJECTS, json!({})).await.ok();
    assert_eq!(
        app.count("eu", "access_log", &format!("tenant_id = {tid}"))
            .await,
        1
    );

    // A grant naming A searches only A: B's email and external id find nobody (no count, no id), A's find A; every
    // lookup — the empty ones too — is in the client's transparency log.
    const LOOKUP: &str = "query($t: ID, $e: String, $x: String) { dataSubjects(tenantId: $t, email: $e, externalId: $x) { totalCount edges { node { id } } } }";
    for vars in [
        json!({ "t": t, "e": "bob@guarded.example" }),
        json!({ "t": t, "x": "gb" }),
    ] {
        let found = app.gql(&support, LOOKUP, vars).await;
        assert_eq!(found.ok()["dataSubjects"]["totalCount"], 0);
        assert!(!found.body.to_string().contains(b.as_str()));
    }
    let found = app
        .gql(
            &support,
            LOOKUP,
            json!({ "t": t, "e": "ALICE@guarded.example" }),
        )
        .await;
    assert_eq!(found.ok()["dataSubjects"]["totalCount"], 1);
    assert_eq!(
        found.ok()["dataSubjects"]["edges"][0]["node"]["id"],
        a.as_str()
    );
    let log = app
        .gql(&admin, "{ accessTransparencyLog { totalCount edges { node { categories subjectIds valuesRead } } } }", json!({}))
        .await;
    assert_eq!(log.ok()["accessTransparencyLog"]["totalCount"], 4);
    let newest = &log.ok()["accessTransparencyLog"]["edges"][0]["node"];
    assert_eq!(newest["categories"], json!(["lookup:email"]));
    assert_eq!(newest["subjectIds"], json!([a]));
    assert_eq!(newest["valuesRead"], 0);
    let empty = &log.ok()["accessTransparencyLog"]["edges"][1]["node"];
    assert_eq!(empty["categories"], json!(["lookup:external_id"]));
    assert_eq!(empty["subjectIds"], json!([]));
    // The client's own lookups are not staff access.
    app.gql(&admin, LOOKUP, json!({ "e": "bob@guarded.example" }))
        .await
        .ok();
    assert_eq!(
        app.count("eu", "access_log", &format!("tenant_id = {tid}"))
            .await,
        4
    );

    // Expiry takes effect at the very next request: move the grant's end into the past.
    let db = app.raw_db("eu").await;
    let past = match app.backend {
        Backend::Sqlite => "'2000-01-01T00:00:00+00:00'",
        Backend::Postgres(_) => "'2000-01-01T00:00:00Z'::timestamptz",
    };
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!("UPDATE access_grants SET expires_at = {past} WHERE tenant_id = {tid}"),
    )
    .await
    .unwrap();
    let after = app.gql(&support, SUBJECTS, json!({ "t": t })).await;
    assert!(after.body["data"]["dataSubjects"]["edges"][0]["node"]["externalId"].is_null());
    let expired = app
        .gql(
            &admin,
            "{ accessGrants { edges { node { status } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expired.ok()["accessGrants"]["edges"][0]["node"]["status"],
        "EXPIRED"
    );
    app.gql(
        &admin,
        "mutation($id: ID!) { revokeAccessGrant(id: $id) { status } }",
        json!({ "id": grant_id }),
    )
    .await
    .expect_code("CONFLICT");
}

async fn revocation_and_break_glass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Glass Co", "us").await;
    let admin = app.invite(&t, "glass-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "g1", "g1@glass.example", "Glass One").await;
    let support = app.staff_with("glass-support", "SUPPORT").await;
    let officer = app.staff_with("glass-officer", "PRIVACY_OFFICER").await;

    // A grant for all subjects, approved, then revoked by the tenant: closed at the next request.
    let grant = app
        .gql(&support, REQUEST, grant_input(&t, None, 480))
        .await
        .ok()["requestAccessGrant"]["id"]
        .clone();
    app.gql(&admin, APPROVE, json!({ "id": grant })).await.ok();
    let open = app.gql(&support, SUBJECTS, json!({ "t": t })).await;
    assert_eq!(
        open.ok()["dataSubjects"]["edges"][0]["node"]["externalId"],
        "g1"
    );
    let revoked = app.gql(&admin, "mutation($id: ID!) { revokeAccessGrant(id: $id, reason: \"done\") { status revokedBy } }", json!({ "id": grant })).await;
    assert_eq!(
        revoked.ok()["revokeAccessGrant"],
        json!({ "status": "REVOKED", "revokedBy": "client:glass-admin" })
    );
    assert!(app.gql(&support, SUBJECTS, json!({ "t": t })).await.body["errors"].is_array());

    // Break-glass: privacy officers only, at most an hour, effective at once, and the tenant is told.
    app.gql(
        &support,
        "mutation($i: AccessGrantInput!) { breakGlassAccess(input: $i) { id } }",
        grant_input(&t, None, 30),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &officer,
        "mutation($i: AccessGrantInput!) { breakGlassAccess(input: $i) { id } }",
        grant_input(&t, None, 61),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let glass = app
        .gql(&officer, "mutation($i: AccessGrantInput!) { breakGlassAccess(input: $i) { id status breakGlass expiresAt } }", grant_input(&t, None, 15))
        .await;
    assert_eq!(glass.ok()["breakGlassAccess"]["status"], "APPROVED");
    assert_eq!(glass.ok()["breakGlassAccess"]["breakGlass"], true);
    let glass_id = glass.ok()["breakGlassAccess"]["id"].clone();
    let read = app.gql(&officer, SUBJECTS, json!({ "t": t })).await;
    assert_eq!(
        read.ok()["dataSubjects"]["edges"][0]["node"]["personalData"][1]["value"],
        "Glass One"
    );
    let notices = app
        .gql(
            &admin,
            "{ notices { edges { node { kind title body } } } }",
            json!({}),
        )
        .await;
    let first = &notices.ok()["notices"]["edges"][0]["node"];
    assert_eq!(first["kind"], "access.break_glass");
    assert!(first["title"].as_str().unwrap().contains("glass-officer"));
    // A platform admin may end it too; the officer's next read is closed.
    app.gql(
        &app.root(),
        "mutation($id: ID!, $t: ID) { revokeAccessGrant(id: $id, tenantId: $t) { status } }",
        json!({ "id": glass_id, "t": t }),
    )
    .await
    .ok();
    assert!(app.gql(&officer, SUBJECTS, json!({ "t": t })).await.body["errors"].is_array());

    // Each staff member sees their own grants across tenants.
    let mine = app
        .gql(
            &officer,
            "{ myAccessGrants { tenantId status breakGlass } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine.ok()["myAccessGrants"],
        json!([{ "tenantId": t, "status": "REVOKED", "breakGlass": true }])
    );
    let log = app
        .gql(
            &admin,
            "{ accessTransparencyLog { totalCount edges { node { staffSubject } } } }",
            json!({}),
        )
        .await;
    assert_eq!(log.ok()["accessTransparencyLog"]["totalCount"], 2);
    assert_eq!(
        log.ok()["accessTransparencyLog"]["edges"][0]["node"]["staffSubject"],
        "glass-officer"
    );
    // Time filters: nothing before 2000, everything up to the far future.
    let window = "query($f: DateTime, $to: DateTime) { accessTransparencyLog(from: $f, to: $to) { totalCount } }";
    assert_eq!(
        app.gql(&admin, window, json!({ "to": "2000-01-01T00:00:00Z" }))
            .await
            .ok()["accessTransparencyLog"]["totalCount"],
        0
    );
    assert_eq!(
        app.gql(
            &admin,
            window,
            json!({ "f": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z" })
        )
        .await
        .ok()["accessTransparencyLog"]["totalCount"],
        2
    );
    app.gql(
        &admin,
        window,
        json!({ "f": "2999-01-01T00:00:00Z", "to": "2000-01-01T00:00:00Z" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
}

async fn bad_grant_input_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Grant Rules", "eu").await;
    let other = app.create_tenant("Other Rules", "us").await;
    let admin = app.invite(&t, "rules-admin", "CLIENT_ADMIN").await;
    let other_admin = app.invite(&other, "other-admin", "CLIENT_ADMIN").await;
    let s = subject(&app, &admin, "r1", "r1@rules.example", "Rule One").await;
    let foreign = subject(&app, &other_admin, "o1", "o1@other.example", "Other One").await;
    let support = app.staff_with("rules-support", "SUPPORT").await;
    let legal = app.staff_with("rules-legal", "LEGAL").await;

    for minutes in [0, -5, 481] {
        app.gql(&support, REQUEST, grant_input(&t, None, minutes))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    let mut short = grant_input(&t, None, 10);
    short["i"]["justification"] = json!("because");
    app.gql(&support, REQUEST, short)
        .await
        .expect_code("BAD_USER_INPUT");
    let mut no_ticket = grant_input(&t, None, 10);
    no_ticket["i"]["ticket"] = json!(" ");
    app.gql(&support, REQUEST, no_ticket)
        .await
        .expect_code("BAD_USER_INPUT");
    // The client approves what it reads in the notice: text that reads differently from what is stored (a NUL, a
    // direction override, a zero-width space in the ticket) is refused.
    for (field, text) in [
        ("justification", "Customer\u{0}asked about their export"),
        ("justification", "Customer asked \u{202E}about their export"),
        ("ticket", "SUP\u{202E}-6"),
        ("ticket", "SUP-6\u{200B}"),
    ] {
        let mut hidden = grant_input(&t, None, 10);
        hidden["i"][field] = json!(text);
        app.gql(&support, REQUEST, hidden)
            .await
            .expect_code("BAD_USER_INPUT");
    }
    // Look-alike names of tenants and users are refused the same way.
    let root = app.root();
    app.gql(
        &root,
        "mutation($n: String!) { createTenant(input: { name: $n, region: \"eu\" }) { id } }",
        json!({ "n": "Grant Rules\u{200B}" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(
        &admin,
        "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }",
        json!({ "i": { "tenantId": t, "email": "lookalike@rules.example", "subject": "lookalike", "role": "CLIENT_VIEWER", "displayName": "Bob\u{202E}evil" } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    // A subject of another tenant cannot be named in a grant.
    app.gql(
        &support,
        REQUEST,
        grant_input(&t, Some(vec![s.as_str(), foreign.as_str()]), 10),
    )
    .await
    .expect_code("NOT_FOUND");
    // Legal may not ask at all; clients neither.
    app.gql(&legal, REQUEST, grant_input(&t, None, 10))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&admin, REQUEST, grant_input(&t, None, 10))
        .await
        .expect_code("FORBIDDEN");
    let tid = stored_uuid(&app, &t);
    assert_eq!(
        app.count("eu", "access_grants", &format!("tenant_id = {tid}"))
            .await,
        0,
        "nothing was created"
    );

    let grant = app
        .gql(
            &support,
            REQUEST,
            grant_input(&t, Some(vec![s.as_str()]), 10),
        )
        .await
        .ok()["requestAccessGrant"]["id"]
        .clone();
    // Staff cannot approve (their own or anyone's); another tenant's admin gets NOT_FOUND.
    app.gql(
        &support,
        "mutation($id: ID!, $t: ID) { approveAccessGrant(id: $id, tenantId: $t) { id } }",
        json!({ "id": grant, "t": t }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(&other_admin, APPROVE, json!({ "id": grant }))
        .await
        .expect_code("NOT_FOUND");
    app.gql(
        &admin,
        "mutation($id: ID!) { denyAccessGrant(id: $id, reason: \"  \") { id } }",
        json!({ "id": grant }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let denied = app.gql(&admin, "mutation($id: ID!) { denyAccessGrant(id: $id, reason: \"not needed\") { status decisionReason } }", json!({ "id": grant })).await;
    assert_eq!(
        denied.ok()["denyAccessGrant"],
        json!({ "status": "DENIED", "decisionReason": "not needed" })
    );
    app.gql(&admin, APPROVE, json!({ "id": grant }))
        .await
        .expect_code("CONFLICT");
    assert!(app.gql(&support, SUBJECTS, json!({ "t": t })).await.body["errors"].is_array());
    app.gql(&admin, APPROVE, json!({ "id": "not-a-uuid" }))
        .await
        .expect_code("BAD_USER_INPUT");
}

both_backends!(
    staff_read_values_only_through_an_approved_grant,
    revocation_and_break_glass,
    bad_grant_input_changes_nothing
);

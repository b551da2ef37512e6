//! Bad input gets a clear error with a code, changes nothing, and never shows internals.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use steward_tests::{Backend, Reply, TestApp, both_backends};

/// Words that would mean internals leaked into an answer.
const INTERNALS: [&str; 9] = [
    "SELECT",
    "INSERT",
    "sqlx",
    "sea_orm",
    "constraint",
    "panicked",
    ".rs:",
    "/root",
    "DbErr",
];

#[track_caller]
fn clean(reply: &Reply) {
    let text = reply.body.to_string();
    for word in INTERNALS {
        assert!(!text.contains(word), "`{word}` leaked: {text}");
    }
}

#[track_caller]
fn bad_input(reply: &Reply) {
    reply.expect_code("BAD_USER_INPUT");
    clean(reply);
}

async fn tenant_count(app: &TestApp) -> u64 {
    app.gql(&app.root(), "{ tenants { totalCount } }", json!({}))
        .await
        .ok()["tenants"]["totalCount"]
        .as_u64()
        .unwrap()
}

async fn malformed_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();

    let reply = app.post_raw(Some(&root), "{not json").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    bad_input(&reply);
    let reply = app.post_raw(Some(&root), r#"{"hello":"world"}"#).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    bad_input(&reply);
    let reply = app
        .post_raw(
            Some(&root),
            r#"[{"query":"{ viewer { kind } }"},{"query":"{ viewer { kind } }"}]"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    bad_input(&reply);
    assert!(reply.message().contains("batched"));
    bad_input(
        &app.gql(&root, "{ viewer { nosuchfield } }", json!({}))
            .await,
    );
    bad_input(&app.gql(&root, "query { viewer { kind } ", json!({})).await);
    // Field suggestions are off: the answer does not enumerate the schema.
    let reply = app.gql(&root, "{ viewr { kind } }", json!({})).await;
    bad_input(&reply);
    assert!(
        !reply.message().contains("Did you mean"),
        "{}",
        reply.message()
    );

    // Over 1 MiB, announced by Content-Length.
    let big = format!(
        r#"{{"query":"{{ viewer {{ kind }} }}","pad":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let reply = app.post_raw(Some(&root), big.clone()).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "answered as JSON like every error: {:?}",
        reply.body
    );
    assert!(reply.headers.contains_key("x-request-id"));
    // Over 1 MiB, streamed without a length.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let streamed = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {root}"))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let reply = app.send(streamed).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:#}",
        reply.body
    );
}

/// Only JSON bodies are accepted: forms and text/plain are what a cross-site page could post without a preflight.
async fn only_json_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let body = r#"{"query":"mutation { createTenant(input: {name: \"Csrf Co\", region: \"eu\"}) { id } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request =
            Request::post("/graphql").header("authorization", format!("Bearer {root}"));
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let reply = app.send(request.body(Body::from(body)).unwrap()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    }
    assert_eq!(tenant_count(&app).await, 0);
    let reply = app
        .send(
            Request::post("/graphql")
                .header("authorization", format!("Bearer {root}"))
                .header("content-type", "application/json; charset=utf-8")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(tenant_count(&app).await, 1);
}

async fn invalid_values_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Valid Co", "eu").await;
    let before = tenant_count(&app).await;
    let create = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id } }";

    // Invalid UUIDs, wherever an id is taken.
    bad_input(
        &app.gql(&root, "{ tenant(id: \"not-a-uuid\") { name } }", json!({}))
            .await,
    );
    bad_input(
        &app.gql(
            &root,
            "mutation { suspendTenant(id: \"123\", reason: \"x\") { id } }",
            json!({}),
        )
        .await,
    );
    bad_input(
        &app.gql(
            &root,
            "{ users(tenantId: \"zzz\") { totalCount } }",
            json!({}),
        )
        .await,
    );

    // Unknown region: the answer lists the valid ones.
    let reply = app
        .gql(
            &root,
            create,
            json!({ "i": { "name": "Mars Co", "region": "mars" } }),
        )
        .await;
    bad_input(&reply);
    assert!(reply.message().contains("eu, us"), "{}", reply.message());
    // Empty and oversized names.
    bad_input(
        &app.gql(
            &root,
            create,
            json!({ "i": { "name": "   ", "region": "eu" } }),
        )
        .await,
    );
    bad_input(
        &app.gql(
            &root,
            create,
            json!({ "i": { "name": "n".repeat(201), "region": "eu" } }),
        )
        .await,
    );
    // Duplicate name, regardless of case and spacing: CONFLICT with a sentence, no SQL.
    let reply = app
        .gql(
            &root,
            create,
            json!({ "i": { "name": "  valid   CO ", "region": "us" } }),
        )
        .await;
    reply.expect_code("CONFLICT");
    clean(&reply);
    assert!(
        reply.message().contains("already exists"),
        "{}",
        reply.message()
    );
    assert_eq!(tenant_count(&app).await, before);

    // Invalid emails and duplicates of users.
    let invite = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }";
    bad_input(
        &app.gql(
            &root,
            invite,
            json!({ "i": { "tenantId": t, "email": "nope", "role": "CLIENT_ADMIN" } }),
        )
        .await,
    );
    app.gql(
        &root,
        invite,
        json!({ "i": { "tenantId": t, "email": "ann@example.org", "role": "CLIENT_ADMIN" } }),
    )
    .await
    .ok();
    // Ann, the tenant's admin now, invites; her duplicate is refused.
    let ann = app.client_token("ann@example.org", &t);
    let dup = app
        .gql(
            &ann,
            invite,
            json!({ "i": { "tenantId": t, "email": "ANN@example.org", "role": "CLIENT_VIEWER" } }),
        )
        .await;
    dup.expect_code("CONFLICT");
    clean(&dup);
    // The failed invitation left no role assignment and no audit event behind.
    assert_eq!(
        app.count("control", "role_assignments", "role = 'client_viewer'")
            .await,
        0
    );
    let tid = steward_tests::stored_uuid(&app, &t);
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!("tenant_id = {tid} AND action = 'user.invited'")
        )
        .await,
        1
    );
    assert_eq!(
        app.count("eu", "tenant_users", &format!("tenant_id = {tid}"))
            .await,
        1
    );
}

async fn page_sizes_and_cursors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create_tenant(&format!("Paged {i}"), if i % 2 == 0 { "eu" } else { "us" })
                .await,
        );
    }
    for first in [0, -1, 101, 1_000_000] {
        let reply = app
            .gql(
                &root,
                "query($f: Int) { tenants(first: $f) { totalCount } }",
                json!({ "f": first }),
            )
            .await;
        bad_input(&reply);
        assert!(
            reply.message().contains("between 1 and 100"),
            "{}",
            reply.message()
        );
    }
    bad_input(
        &app.gql(
            &root,
            "{ tenants(after: \"garbage\") { totalCount } }",
            json!({}),
        )
        .await,
    );

    // Walk the pages: 2 + 2 + 1, in creation order, with a stable total.
    let page = "query($a: String) { tenants(first: 2, after: $a) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } }";
    let mut after = json!(null);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let reply = app.gql(&root, page, json!({ "a": after })).await;
        let conn = reply.ok()["tenants"].clone();
        assert_eq!(conn["totalCount"], 5);
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], pages > 0);
        for edge in conn["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
}

async fn depth_and_complexity_limits(backend: Backend) {
    let app = TestApp::spawn_with(backend, |args| {
        args.max_query_depth = 4;
        args.max_query_complexity = 50;
    })
    .await;
    let root = app.root();
    app.gql(
        &root,
        "{ tenants(first: 2) { edges { node { name } } } }",
        json!({}),
    )
    .await
    .ok();
    // Five levels deep.
    let deep = app
        .gql(
            &root,
            "{ tenants(first: 1) { edges { node { users(first: 1) { totalCount } } } } }",
            json!({}),
        )
        .await;
    bad_input(&deep);
    let said = deep.body["errors"][0]["message"].as_str().unwrap();
    assert!(said.contains("STEWARD_MAX_QUERY_DEPTH"), "{said}");
    // Shallow but expensive: 100 tenants × 100 users.
    let costly = app
        .gql(
            &root,
            "{ tenants(first: 100) { totalCount } regions viewer { kind roles subject } }",
            json!({}),
        )
        .await;
    bad_input(&costly);
    let said = costly.body["errors"][0]["message"].as_str().unwrap();
    assert!(said.contains("page size (`first`"), "{said}");
}

/// Query cost at the default limits (1000): every paged list is priced by its page size, every nested resolver that
/// runs a statement costs 10, and one request verifies at most one audit chain.
async fn every_statement_is_priced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Priced Co", "eu").await;
    app.invite(&t, "priced-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("priced-po", "PRIVACY_OFFICER").await;
    let auditor = app.staff_with("priced-auditor", "AUDITOR").await;
    // A page of requests, each with its four statement-running children: 100 × 4 × 10 and more.
    let fan_out = app
        .gql(
            &po,
            "query($t: ID) { dataSubjectRequests(tenantId: $t, first: 100) { edges { node { id erasure { valuesErased } propagations { id } export { id } rectification } } } }",
            json!({ "t": t }),
        )
        .await;
    bad_input(&fan_out);
    assert!(
        fan_out.message().contains("complex"),
        "{}",
        fan_out.message()
    );
    // A smaller page of the same is fine.
    app.gql(
        &po,
        "query($t: ID) { dataSubjectRequests(tenantId: $t, first: 5) { edges { node { id erasure { valuesErased } propagations { id } export { id } rectification } } } }",
        json!({ "t": t }),
    )
    .await
    .ok();
    // Lists that were priced at one point before: the transparency log and the audit events by page size.
    for query in [
        "query($t: ID) { accessTransparencyLog(tenantId: $t, first: 100) { edges { node { id staffSubject grantId justification ticket subjectIds categories valuesRead requestId occurredAt } } } }",
        "query($t: ID) { auditEvents(tenantId: $t, first: 100) { edges { node { seq id action actorKind actorSubject objectType objectId detail hash prevHash occurredAt } } } }",
    ] {
        bad_input(&app.gql(&auditor, query, json!({ "t": t })).await);
    }
    // One chain verification per request: the second alias is refused. Its field is non-null, so as the GraphQL spec
    // has it the error reaches the root and `data` is null; each alias on its own answers.
    let twice = app
        .gql(
            &auditor,
            "query($t: ID) { a: verifyAuditChain(tenantId: $t) { valid } b: verifyAuditChain(tenantId: $t) { valid } }",
            json!({ "t": t }),
        )
        .await;
    assert!(twice.body["data"].is_null(), "{:#}", twice.body);
    assert_eq!(twice.body["errors"].as_array().unwrap().len(), 1);
    assert_eq!(
        twice.body["errors"][0]["extensions"]["reason"],
        "ONE_VERIFICATION_PER_REQUEST"
    );
    // Thirty of them are refused before anything runs.
    let many: String = (0..30)
        .map(|i| format!("v{i}: verifyAuditChain(tenantId: $t) {{ valid }} "))
        .collect();
    bad_input(
        &app.gql(
            &auditor,
            &format!("query($t: ID) {{ {many} }}"),
            json!({ "t": t }),
        )
        .await,
    );
}

both_backends!(
    every_statement_is_priced,
    malformed_requests,
    invalid_values_change_nothing,
    page_sizes_and_cursors,
    depth_and_complexity_limits,
    only_json_bodies
);

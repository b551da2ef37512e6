//! The hardened GraphQL edge, one test per limit: aliases, directives, suggestions, introspection, rate limit,
//! operations over GET, a pool with no free connection, a database that goes away and comes back, and `/metrics`.
//! (Depth and complexity are in `bad_input.rs`, body size, batching and Content-Type in `bad_input.rs` too, the
//! request timeout in `ops.rs`, slow headers with a real server in `processes.rs`.)

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sea_orm::TransactionTrait;
use serde_json::json;
use steward_tests::{Backend, Reply, TestApp, both_backends};

use crate::personal::subject;

fn refused(reply: &Reply, needle: &str) {
    assert_eq!(
        reply.code(),
        Some("BAD_USER_INPUT"),
        "expected a refusal: {:?}",
        reply.body
    );
    assert!(
        reply.message().contains(needle),
        "message should mention {needle:?}: {}",
        reply.message()
    );
    assert!(
        reply.body["data"].is_null(),
        "nothing ran: {:?}",
        reply.body
    );
}

fn aliased(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("a{i}: __typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

async fn alias_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |args| args.max_query_aliases = 5).await;
    let root = app.root();
    // Each document twice, interleaved: the second of each comes from the parsed-document cache, which must hand
    // back that document's own answer and refuse a refused document again.
    for _ in 0..2 {
        let ok = app.gql(&root, &aliased(5), json!({})).await;
        assert_eq!(ok.ok()["a4"], "Query");
        assert!(ok.ok().get("a5").is_none());
        let ok = app.gql(&root, &aliased(4), json!({})).await;
        assert_eq!(ok.ok()["a3"], "Query");
        assert!(ok.ok().get("a4").is_none(), "{:?}", ok.body);
        refused(&app.gql(&root, &aliased(6), json!({})).await, "aliases");
    }
    // Aliases hidden in a fragment count too.
    let fragment = format!(
        "query {{ ...F }} fragment F on Query {{ {} }}",
        (0..6)
            .map(|i| format!("f{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    refused(&app.gql(&root, &fragment, json!({})).await, "aliases");
}

async fn directive_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let with = |n: usize| format!("{{ __typename {} }}", "@include(if: true) ".repeat(n));
    app.gql(&root, &with(16), json!({})).await.ok();
    let reply = app.gql(&root, &with(17), json!({})).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{:?}", reply.body);
    assert!(reply.body["data"].is_null());
}

async fn no_field_suggestions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .gql(
            &app.root(),
            "{ tenantz(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let text = reply.body.to_string();
    assert!(
        !text.contains("Did you mean") && !text.contains("\"tenants\""),
        "the schema is not spelled out to strangers: {text}"
    );
}

const INTROSPECT: &str = "{ __schema { queryType { name } } }";

async fn introspection_needs_a_token_and_can_be_off(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let anonymous = app
        .post_raw(None, json!({ "query": INTROSPECT }).to_string())
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.body["data"].is_null());
    let allowed = app.gql(&app.root(), INTROSPECT, json!({})).await;
    assert_eq!(allowed.ok()["__schema"]["queryType"]["name"], "Query");
    // The refusal reasons are in the live schema (the Docs explorer lists them), not only in the printed SDL, and
    // any signed-in caller can list them.
    let reasons = app
        .gql(
            &app.root(),
            "{ __type(name: \"RefusalReason\") { enumValues { name description } } refusalReasons }",
            json!({}),
        )
        .await;
    let values = reasons.ok()["__type"]["enumValues"]
        .as_array()
        .unwrap()
        .clone();
    assert!(values.iter().any(|v| {
        v["name"] == "DEADLINE_PASSED"
            && v["description"]
                .as_str()
                .is_some_and(|d| d.contains("Art. 12(3)"))
    }));
    assert_eq!(
        reasons.ok()["refusalReasons"].as_array().unwrap().len(),
        values.len()
    );
    drop(app);

    let closed = TestApp::spawn_with(backend, |args| {
        args.introspection = steward::config::Introspection::Off;
    })
    .await;
    let refused = closed.gql(&closed.root(), INTROSPECT, json!({})).await;
    assert!(
        refused.body["data"]["__schema"].is_null(),
        "introspection is off: {:?}",
        refused.body
    );
    assert!(!refused.body.to_string().contains("\"Query\""));
    let by_type = closed
        .gql(
            &closed.root(),
            "{ __type(name: \"Query\") { name } }",
            json!({}),
        )
        .await;
    assert!(
        by_type.body["data"]["__type"].is_null(),
        "{:?}",
        by_type.body
    );
    // Ordinary queries still run.
    closed
        .gql(&closed.root(), "{ viewer { subject } }", json!({}))
        .await
        .ok();
}

async fn rate_limit_per_tenant(backend: Backend) {
    let app = TestApp::spawn_with(backend, |args| {
        // The root admin's five set-up requests below fit in its own (staff) bucket.
        args.rate_limit_per_sec = 1;
        args.rate_limit_burst = 6;
    })
    .await;
    let a = app.create_tenant("Busy Co", "eu").await;
    let b = app.create_tenant("Quiet Co", "eu").await;
    let busy = app.invite(&a, "busy-admin", "CLIENT_ADMIN").await;
    let busy_colleague = app.invite(&a, "busy-colleague", "CLIENT_ADMIN").await;
    let quiet = app.invite(&b, "quiet-admin", "CLIENT_ADMIN").await;
    let query = "{ dataSubjects(first: 1) { totalCount } }";
    // Busy's admin invited the colleague: one request of the tenant's six already.
    for _ in 0..5 {
        app.gql(&busy, query, json!({})).await.ok();
    }
    let limited = app.gql(&busy, query, json!({})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), Some("RATE_LIMITED"));
    let retry: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The bucket is the tenant's, not the user's ...
    let colleague = app.gql(&busy_colleague, query, json!({})).await;
    assert_eq!(colleague.status, StatusCode::TOO_MANY_REQUESTS);
    // ... and another tenant is not slowed down by it.
    app.gql(&quiet, query, json!({})).await.ok();
    // After the wait, the tenant is served again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    app.gql(&busy, query, json!({})).await.ok();
}

async fn operations_over_get_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.count("control", "tenants", "1=1").await;
    let mutation = "mutation { createTenant(input: {name: \"Via Get\", region: \"eu\"}) { id } }";
    let uri = format!(
        "/graphql?query={}",
        url::form_urlencoded::byte_serialize(mutation.as_bytes()).collect::<String>()
    );
    let reply = app
        .send(
            Request::get(uri)
                .header(header::AUTHORIZATION, format!("Bearer {}", app.root()))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.message().contains("POST"), "{:?}", reply.body);
    assert_eq!(app.count("control", "tenants", "1=1").await, before);
    // A persisted query's hash by GET (what Apollo's `useGETForHashedQueries` sends) is refused the same way, not
    // answered with the console's page.
    let hashed = app
        .send(
            Request::get(
                "/graphql?extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%7D%7D",
            )
            .header(header::AUTHORIZATION, format!("Bearer {}", app.root()))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(hashed.status, StatusCode::METHOD_NOT_ALLOWED);
    // The console itself is still served on GET.
    let console = app.get("/graphql").await;
    assert_eq!(console.status, StatusCode::OK);
}

/// Every connection of the control pool held by "slow requests": a request that needs it is answered 503 with
/// `Retry-After` within the acquire timeout, `/healthz` stays up, and service resumes when a connection frees up.
async fn exhausted_pool_answers_503_quickly(backend: Backend) {
    let app = TestApp::spawn_with(backend, |args| {
        args.db_pool_size = 1;
        args.db_acquire_timeout_ms = Some(300);
    })
    .await;
    let root = app.root();
    let query = "{ subProcessors { name } }";
    app.gql(&root, query, json!({})).await.ok();
    let control = app.state.databases().control().clone();
    let held = control.begin().await.unwrap();
    let started = Instant::now();
    let reply = app.gql(&root, query, json!({})).await;
    let waited = started.elapsed();
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.code(), Some("UNAVAILABLE"));
    assert_eq!(reply.headers[header::RETRY_AFTER], "1");
    assert!(waited < Duration::from_secs(2), "answered in {waited:?}");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    held.rollback().await.unwrap();
    app.gql(&root, query, json!({})).await.ok();
}

/// A TCP relay in front of PostgreSQL that can be cut (every connection dropped, new ones refused) and restored.
struct Relay {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
    upstream: String,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut relay = Relay {
            port,
            task: None,
            upstream,
        };
        relay.task = Some(tokio::spawn(Self::run(listener, relay.upstream.clone())));
        relay
    }

    async fn run(listener: tokio::net::TcpListener, upstream: String) {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    }

    /// Drops every relayed connection and stops listening: PostgreSQL "is down".
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.task = Some(tokio::spawn(Self::run(listener, self.upstream.clone())));
    }
}

/// PostgreSQL goes away under a running server: requests get 503 + `Retry-After` with no SQL or driver text, and the
/// server recovers on its own within 5 s of the database coming back.
async fn database_outage_and_recovery(backend: Backend) {
    let Backend::Postgres(admin_url) = backend.clone() else {
        unreachable!("PostgreSQL only")
    };
    let upstream = url::Url::parse(&admin_url).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(5432)
    );
    let mut relay = Relay::start(upstream).await;
    let port = relay.port;
    let app = TestApp::spawn_with(backend, |args| {
        let through = |url: &str| {
            let mut u = url::Url::parse(url).unwrap();
            u.set_host(Some("127.0.0.1")).unwrap();
            u.set_port(Some(port)).unwrap();
            u.to_string()
        };
        args.database_url = args
            .database_url
            .as_ref()
            .map(|u| through(u.expose()).into());
        let each = |spec: &steward::config::Secret| {
            spec.expose()
                .split(',')
                .map(|pair| {
                    let (name, url) = pair.split_once('=').unwrap();
                    format!("{name}={}", through(url))
                })
                .collect::<Vec<_>>()
                .join(",")
                .into()
        };
        args.regions = args.regions.as_ref().map(each);
        args.key_databases = args.key_databases.as_ref().map(each);
        args.db_acquire_timeout_ms = Some(500);
    })
    .await;
    let tenant = app.create_tenant("Outage Co", "eu").await;
    let admin = app.invite(&tenant, "outage-admin", "CLIENT_ADMIN").await;
    subject(
        &app,
        &admin,
        "before",
        "before@example.org",
        "Before Outage",
    )
    .await;
    // Values read: the page touches the region's database and its subject-key database.
    let page = "{ dataSubjects(first: 5) { totalCount edges { node { id externalId } } } }";
    app.gql(&admin, page, json!({})).await.ok();

    relay.cut();
    for _ in 0..3 {
        let reply = app.gql(&admin, page, json!({})).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            reply.body
        );
        assert_eq!(reply.code(), Some("UNAVAILABLE"));
        assert_eq!(reply.headers[header::RETRY_AFTER], "1");
        let text = reply.body.to_string().to_lowercase();
        for leak in [
            "select",
            "sqlx",
            "connection refused",
            "postgres",
            "io error",
            "pool",
        ] {
            assert!(!text.contains(leak), "{leak:?} leaked: {text}");
        }
    }
    let write = app
        .gql(
            &admin,
            crate::personal::CREATE,
            json!({ "i": { "externalId": "during", "personalData": [] } }),
        )
        .await;
    assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);

    relay.restore().await;
    let back = Instant::now();
    loop {
        let reply = app.gql(&admin, page, json!({})).await;
        if reply.status == StatusCode::OK && reply.body["errors"].is_null() {
            assert_eq!(reply.body["data"]["dataSubjects"]["totalCount"], 1);
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not recovered 5 s after the database came back: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The write refused during the outage left nothing behind; a new one goes through — at once, or after a
    // `503` or two while each pool finds its connections dead (the subject-key database's too, which the page above
    // no longer needed: its keys were in memory), as a client retrying after `Retry-After` would.
    let back = Instant::now();
    loop {
        let reply = app
            .gql(
                &admin,
                crate::personal::CREATE,
                json!({ "i": { "externalId": "during", "personalData": [] } }),
            )
            .await;
        if reply.status == StatusCode::OK && reply.body["errors"].is_null() {
            break;
        }
        assert_eq!(reply.code(), Some("UNAVAILABLE"), "{:?}", reply.body);
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "writes not recovered 5 s after the database came back: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics_are_exposed(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let tenant = app.create_tenant("Metrics Co", "eu").await;
    let admin = app.invite(&tenant, "metrics-admin", "CLIENT_ADMIN").await;
    subject(
        &app,
        &admin,
        "m-1",
        "planted-metrics@example.org",
        "Planted Metrics",
    )
    .await;
    // Twice: the second is served from the parsed-document cache.
    for _ in 0..2 {
        app.gql(
            &admin,
            "{ dataSubjects(first: 5) { totalCount } }",
            json!({}),
        )
        .await
        .ok();
    }
    let missing = app
        .gql(
            &admin,
            "{ dataSubject(id: \"00000000-0000-7000-8000-000000000000\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));

    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.body.as_str().unwrap().to_owned();
    for needle in [
        "steward_graphql_request_duration_seconds_count{operation=\"query dataSubjects\"}",
        "steward_graphql_request_duration_seconds_bucket{",
        "steward_graphql_request_duration_seconds_count{operation=\"mutation createDataSubject\"}",
        "steward_graphql_errors_total{code=\"NOT_FOUND\"}",
        "steward_http_responses_total{status=\"200\"}",
        "steward_audit_append_duration_seconds_count",
        "steward_db_pool_connections{database=\"control\",state=\"in_use\"}",
        "steward_db_pool_max_connections{database=\"eu\"}",
        "steward_jobs_queued{database=\"eu\"}",
        "steward_jobs_oldest_due_age_seconds{database=\"control\"}",
        "steward_access_grants_active{database=\"eu\"}",
        "steward_graphql_document_cache_lookups_total{result=\"hit\"}",
        "steward_graphql_document_cache_lookups_total{result=\"miss\"}",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(!text.contains(&tenant), "no tenant ids in metrics");
    assert!(
        !text.contains("planted-metrics"),
        "no personal values in metrics"
    );
    let audit_count: f64 = text
        .lines()
        .find(|l| l.starts_with("steward_audit_append_duration_seconds_count"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    assert!(audit_count >= 3.0, "appends were timed: {audit_count}");

    // A staff grant in force shows in the gauge of its region.
    let support = app.staff_with("metrics-support", "SUPPORT").await;
    let requested = app
        .gql(
            &support,
            "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id } }",
            json!({ "i": { "tenantId": tenant, "justification": "Customer reports a broken export, ticket attached", "ticket": "SUP-9", "durationMinutes": 30 } }),
        )
        .await;
    let grant = requested.ok()["requestAccessGrant"]["id"].clone();
    app.gql(
        &admin,
        "mutation($id: ID!) { approveAccessGrant(id: $id) { id } }",
        json!({ "id": grant }),
    )
    .await
    .ok();
    let text = app.get("/metrics").await.body.as_str().unwrap().to_owned();
    let grants: i64 = text
        .lines()
        .find(|l| l.starts_with("steward_access_grants_active{database=\"eu\"}"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    assert!(grants >= 1, "grant counted: {text}");

    // With a token configured, /metrics asks for it.
    let guarded = TestApp::spawn_with(backend, |args| {
        args.metrics_token = Some("scrape-secret".into());
    })
    .await;
    assert_eq!(
        guarded.get("/metrics").await.status,
        StatusCode::UNAUTHORIZED
    );
    let scraped = guarded
        .send(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, "Bearer scrape-secret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(scraped.status, StatusCode::OK);
}

fn validations_skipped(text: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with("steward_graphql_validation_skipped_total"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no validation counter in:\n{text}"))
        .parse()
        .unwrap()
}

/// Full validation is skipped only for a document that passed it on its own before; everything else is still checked
/// on every request, and a skipped request answers exactly as a validated one.
async fn validation_is_skipped_only_for_documents_known_valid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Validated Co", "eu").await;
    let admin = app.invite(&tenant, "validated-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "v-1", "v1@example.org", "Vera One").await;
    let skipped_before = validations_skipped(app.get("/metrics").await.body.as_str().unwrap());

    let page = "{ dataSubjects(first: 5) { totalCount edges { node { externalId } } } }";
    let answers: Vec<serde_json::Value> =
        futures_util::future::join_all((0..3).map(|_| app.gql(&admin, page, json!({}))))
            .await
            .into_iter()
            .map(|r| r.ok().clone())
            .collect();
    // Sequential after the concurrent three: by now the document is known valid.
    let again = app.gql(&admin, page, json!({})).await.ok().clone();
    assert_eq!(
        again["dataSubjects"]["edges"][0]["node"]["externalId"],
        "v-1"
    );
    assert!(
        answers.iter().all(|a| *a == again),
        "{answers:?} vs {again:?}"
    );
    // Each server counts for itself: the concurrent three may each have validated (all three raced the first
    // verdict) or not, the sequential fourth took the fast path.
    let skipped_pages =
        validations_skipped(app.get("/metrics").await.body.as_str().unwrap()) - skipped_before;
    assert!((1..=3).contains(&skipped_pages), "skipped {skipped_pages}");

    // Invalid documents are refused every time (never marked valid).
    for _ in 0..3 {
        let wrong = app
            .gql(&admin, "{ dataSubjects(first: 5) { nope } }", json!({}))
            .await;
        assert_eq!(wrong.code(), Some("BAD_USER_INPUT"), "{:?}", wrong.body);
        assert!(wrong.data().is_null());
    }
    // A document with variables is validated with each request's values: a good run does not let a bad one through.
    let sized = "query($n: Int) { dataSubjects(first: $n) { totalCount } }";
    for _ in 0..2 {
        let good = app.gql(&admin, sized, json!({ "n": 2 })).await;
        assert_eq!(good.ok()["dataSubjects"]["totalCount"], 1);
        let bad = app.gql(&admin, sized, json!({ "n": "two" })).await;
        assert_eq!(bad.code(), Some("BAD_USER_INPUT"), "{:?}", bad.body);
        assert!(bad.data().is_null(), "{:?}", bad.body);
    }
    // A document that only ever failed in a resolver is never marked either, and still answers the same.
    for _ in 0..2 {
        let missing = app
            .gql(
                &admin,
                "{ dataSubject(id: \"00000000-0000-7000-8000-000000000000\") { id } }",
                json!({}),
            )
            .await;
        assert_eq!(missing.code(), Some("NOT_FOUND"));
    }
    // None of the invalid, variable-dependent or resolver-failed documents skipped validation: the count is exactly
    // the pages' (metrics belong to the server, so no other test adds to them).
    let skipped =
        validations_skipped(app.get("/metrics").await.body.as_str().unwrap()) - skipped_before;
    assert_eq!(skipped, skipped_pages);
}

/// GraphiQL's own introspection query (graphql-js `getIntrospectionQuery`, as the console sends it to load its Docs
/// explorer) passes with the default limits; the same document asking for data too is a data query, held to the data
/// depth limit (`bad_input::depth_and_complexity_limits` covers data queries on their own).
async fn the_console_can_load_the_schema(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let type_ref = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
    let full = format!(
        "query IntrospectionQuery {{ __schema {{ description queryType {{ name }} mutationType {{ name }} \
         subscriptionType {{ name }} types {{ ...FullType }} directives {{ name description isRepeatable locations \
         args(includeDeprecated: true) {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name description specifiedByURL \
         fields(includeDeprecated: true) {{ name description args(includeDeprecated: true) {{ ...InputValue }} \
         type {{ ...TypeRef }} isDeprecated deprecationReason }} inputFields(includeDeprecated: true) {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} enumValues(includeDeprecated: true) {{ name description isDeprecated \
         deprecationReason }} possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue isDeprecated \
         deprecationReason }} \
         fragment TypeRef on __Type {{ {type_ref} }}"
    );
    let loaded = app.gql(&app.root(), &full, json!({})).await;
    let types = loaded.ok()["__schema"]["types"].as_array().unwrap().clone();
    assert!(
        types.iter().any(|t| t["name"] == "DataSubject"),
        "the Docs explorer finds DataSubject"
    );
    // The same document with a data field at its root is a data query: the data depth limit (10) applies.
    let mixed = full.replacen("__schema {", "viewer { subject } __schema {", 1);
    let refused = app.gql(&app.root(), &mixed, json!({})).await;
    assert!(
        refused.message().contains("nested too deep"),
        "{}",
        refused.body
    );
}

/// Automatic persisted queries (Apollo's protocol): a hash stands for a document once the document was sent with it.
async fn persisted_queries(backend: Backend) {
    use sha2::Digest as _;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let text = "query Who { viewer { subject kind } }";
    let hash = hex::encode(sha2::Sha256::digest(text));
    let by_hash =
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    let with_text = json!({ "query": text, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    // Unknown here: the client is told to send the document.
    let first = app.post_raw(Some(&root), by_hash.to_string()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(first.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
    // Sent with its hash: run, and kept.
    let sent = app.post_raw(Some(&root), with_text.to_string()).await;
    assert_eq!(sent.ok()["viewer"]["subject"], steward_tests::ROOT);
    // From now on the hash is enough.
    let again = app.post_raw(Some(&root), by_hash.to_string()).await;
    assert_eq!(again.ok()["viewer"]["kind"], "STAFF");
    // A document that does not hash to the hash given, another version, a malformed hash: refused, nothing kept.
    for bad in [
        json!({ "query": "{ viewer { roles } }", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }),
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "abc" } } }),
    ] {
        let refused = app.post_raw(Some(&root), bad.to_string()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(refused.code(), Some("BAD_USER_INPUT"));
    }
    // Documents are kept per tenant (per staff member): another caller's hash alone is not found, so nobody can
    // confirm a guess of what someone else's documents say.
    let t = app.create_tenant("Guessing Co", "eu").await;
    let other = app.invite(&t, "guesser", "CLIENT_ADMIN").await;
    let guessed = app.post_raw(Some(&other), by_hash.to_string()).await;
    assert_eq!(guessed.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
    let colleague = app.staff_with("other-staff", "SUPPORT").await;
    let guessed = app.post_raw(Some(&colleague), by_hash.to_string()).await;
    assert_eq!(guessed.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
    // The console's placeholder, sent as it is, is answered with what to do.
    let placeholder = app.post_raw(Some("<token>"), by_hash.to_string()).await;
    assert_eq!(placeholder.status, StatusCode::UNAUTHORIZED);
    assert!(
        placeholder.message().contains("placeholder"),
        "{}",
        placeholder.message()
    );
    // The hash is no token: without one, nothing runs.
    let anonymous = app.post_raw(None, by_hash.to_string()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

both_backends!(
    persisted_queries,
    the_console_can_load_the_schema,
    alias_limit,
    validation_is_skipped_only_for_documents_known_valid,
    directive_limit,
    no_field_suggestions,
    introspection_needs_a_token_and_can_be_off,
    rate_limit_per_tenant,
    operations_over_get_are_refused,
    exhausted_pool_answers_503_quickly,
    metrics_are_exposed
);

// The relay stands in for a PostgreSQL restart, so this one runs on PostgreSQL only.
steward_tests::postgres_only!(database_outage_and_recovery);

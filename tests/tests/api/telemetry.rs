//! Trace export: a server process with `OTEL_EXPORTER_OTLP_ENDPOINT` set sends its spans (request, resolver,
//! statement, job) to a local OTLP/HTTP receiver, with the request id, and without any personal value, document text
//! or variable.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::processes::{gql_over_tcp, start_server_with};

/// An OTLP/HTTP receiver keeping every body posted to `/v1/traces`.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let router = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: String| async move {
                kept.lock().unwrap().push(body);
                axum::Json(json!({}))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Collector { url, bodies }
    }

    /// Every exported span, flattened.
    fn spans(&self) -> Vec<Value> {
        let mut spans = Vec::new();
        for body in self.bodies.lock().unwrap().iter() {
            let request: Value = serde_json::from_str(body).expect("OTLP JSON");
            for resource in request["resourceSpans"].as_array().into_iter().flatten() {
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        spans
    }
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

/// A POST returning the `x-request-id` Steward gave it.
async fn request_id_of(port: u16, token: &str) -> String {
    let body = json!({ "query": "{ viewer { subject } }" }).to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(crate::processes::graphql_post(token, &body).as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("an x-request-id header")
        .trim()
        .to_owned()
}

async fn spans_are_exported_without_personal_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Traced Co", "eu").await;
    let admin = app.invite(&t, "traced-admin", "CLIENT_ADMIN").await;
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("STEWARD_SHUTDOWN_DRAIN_SECS", "0"),
    ];
    let mut server = start_server_with(&app, dir.path(), "traced", &env).await;

    // Planted values, a distinctive document and distinctive variables.
    let planted = [
        "otel.planted.4417@example.com",
        "Plantagenet Otelia",
        "otel-ext-4417",
    ];
    let created = gql_over_tcp(
        server.port,
        &admin,
        "mutation TracedCreate($i: CreateDataSubjectInput!) { createDataSubject(input: $i) { id personalData { value } } }",
        json!({ "i": { "externalId": planted[2], "personalData": [
            { "category": "user.contact.email", "value": planted[0], "purpose": "essential.service", "source": "signup form" },
            { "category": "user.name", "value": planted[1], "purpose": "essential.service", "source": "signup form" },
        ] } }),
    )
    .await;
    assert!(created["errors"].is_null(), "{created}");
    let read = gql_over_tcp(
        server.port,
        &admin,
        "query TracedRead { dataSubjects(first: 5) { edges { node { externalId personalData { value source } } } } }",
        json!({}),
    )
    .await;
    assert!(read.to_string().contains(planted[0]));
    // A notice: a job for the server's worker.
    gql_over_tcp(
        server.port,
        &app.root(),
        "mutation($t: ID!) { sendNotice(input: { tenantIds: [$t], class: ADMINISTRATIVE, title: \"Traced\", body: \"b\" }) }",
        json!({ "t": t }),
    )
    .await;
    let request_id = request_id_of(server.port, &app.root()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .count("eu", "jobs", "kind = 'notice.deliver' AND state = 'done'")
        .await
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the server's worker never ran the notice job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A stop exports what is still batched.
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(server.child.wait().unwrap().success());

    let spans = collector.spans();
    let named = |name: &str| {
        spans
            .iter()
            .filter(|s| s["name"] == name)
            .collect::<Vec<_>>()
    };
    for name in ["request", "resolve", "statement", "job"] {
        assert!(
            !named(name).is_empty(),
            "no `{name}` span among {} spans",
            spans.len()
        );
    }
    // The request id the client saw is on its request span; statements and resolvers sit in requests' traces.
    let request = named("request")
        .into_iter()
        .find(|s| {
            attribute(s, "request_id").and_then(|v| v["stringValue"].as_str())
                == Some(request_id.as_str())
        })
        .expect("the request span carries the x-request-id");
    let requests = named("request");
    let in_a_request = |s: &&Value| {
        !s["parentSpanId"].as_str().unwrap_or("").is_empty()
            && requests.iter().any(|r| r["traceId"] == s["traceId"])
    };
    assert!(
        named("resolve")
            .iter()
            .any(|s| s["traceId"] == request["traceId"]),
        "the viewer's resolvers are in its request's trace"
    );
    assert!(
        named("statement").iter().any(in_a_request),
        "statement spans are children of requests"
    );
    let jobs = named("job");
    assert!(
        named("statement")
            .iter()
            .any(|s| jobs.iter().any(|j| j["traceId"] == s["traceId"])),
        "and of jobs"
    );
    assert!(named("resolve").iter().any(|s| {
        attribute(s, "field").and_then(|v| v["stringValue"].as_str()) == Some("PersonalData.value")
    }));
    assert!(named("job").iter().any(
        |s| attribute(s, "kind").and_then(|v| v["stringValue"].as_str()) == Some("notice.deliver")
    ));
    // Nothing personal, no document, no variable, no SQL: in any exported byte.
    let exported = collector.bodies.lock().unwrap().join("\n");
    for secret in planted.iter().copied().chain([
        "TracedCreate",
        "TracedRead",
        "CreateDataSubjectInput",
        "SELECT \"",
        "signup form",
    ]) {
        assert!(!exported.contains(secret), "`{secret}` was exported");
    }
}

both_backends!(spans_are_exported_without_personal_data);

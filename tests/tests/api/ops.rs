//! Operations endpoints and the edge layers: health, readiness, request ids, panics and timeouts.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use serde_json::json;
use steward::config::Limits;
use steward_tests::{Backend, TestApp, both_backends};
use tower::ServiceExt;

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{:#}", ready.body);
    // An in-process app runs no role-change listener: on PostgreSQL it reads the version per request.
    let role_changes = match app.backend {
        Backend::Sqlite => "single instance",
        Backend::Postgres(_) => "read per request",
    };
    assert_eq!(
        ready.body,
        json!({
            "status": "ready",
            "databases": {
                "control": "ready",
                "region:eu": "ready",
                "keys:eu": "ready",
                "region:us": "ready",
                "keys:us": "ready",
            },
            "roleChanges": role_changes,
        })
    );

    // Every answer carries a request id, to find it in the logs.
    let id = ready.headers.get("x-request-id").expect("request id");
    assert_eq!(id.to_str().unwrap().len(), 36);

    // A region whose schema is not (or no longer) migrated makes the server not ready.
    let us = app.raw_db("us").await;
    sea_orm::ConnectionTrait::execute_unprepared(&us, "DROP TABLE steward_region_migrations")
        .await
        .unwrap();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["databases"]["region:us"], "migrations pending");
    assert_eq!(ready.body["databases"]["region:eu"], "ready");
    assert!(!ready.body.to_string().contains("steward_region_migrations"));
    // So does a subject-key database whose table cannot be read, and one not migrated.
    let keys = app.raw_db("keys-eu").await;
    sea_orm::ConnectionTrait::execute_unprepared(&keys, "ALTER TABLE subject_keys RENAME TO gone")
        .await
        .unwrap();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["databases"]["keys:eu"], "unusable");
    sea_orm::ConnectionTrait::execute_unprepared(&keys, "DROP TABLE steward_keys_migrations")
        .await
        .unwrap();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["databases"]["keys:eu"], "migrations pending");
}

async fn console_is_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The server's bare address leads to the console.
    let root = app.get("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.headers[axum::http::header::LOCATION], "/graphql");
    let response = app
        .router
        .clone()
        .oneshot(Request::get("/graphql").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("graphiql"), "GraphiQL page");
    assert!(html.contains("Steward console"));
    // Everything it loads comes from this server: opening the console tells no CDN about the client admin.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let csp = app.get("/graphql").await.headers[axum::http::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    for asset in [
        "/console/graphiql.min.js",
        "/console/graphiql.min.css",
        "/console/react.production.min.js",
        "/console/react-dom.production.min.js",
        "/console/console.js",
    ] {
        assert!(html.contains(asset), "the page loads {asset}");
        let reply = app.get(asset).await;
        assert_eq!(reply.status, StatusCode::OK, "{asset}");
        let text = reply.body.as_str().unwrap_or_default();
        assert!(text.len() > 500, "{asset} has content");
        assert!(
            !text.contains("sourceMappingURL"),
            "{asset} points at no missing map"
        );
    }
    assert_eq!(
        app.get("/console/../Cargo.toml").await.status,
        StatusCode::NOT_FOUND
    );
}

both_backends!(health_and_readiness, console_is_served);

async fn call(router: Router, path: &str) -> (StatusCode, String) {
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (status, body)
}

#[tokio::test]
async fn a_panic_becomes_a_generic_internal_error() {
    async fn boom() -> &'static str {
        panic!("secret detail at src/db.rs:42")
    }
    let routes = Router::new().route("/boom", get(boom));
    let (status, body) = call(
        steward::http::with_edge_layers(routes, &Limits::default(), Default::default()),
        "/boom",
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL");
    assert!(!body.to_string().contains("secret detail"));
}

#[tokio::test]
async fn slow_requests_time_out_with_408() {
    let routes = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let limits = Limits {
        request_timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    let (status, _) = call(
        steward::http::with_edge_layers(routes, &limits, Default::default()),
        "/slow",
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
}

//! Webhooks reach only public addresses (no SSRF): URLs set by a client or by staff are checked when set, names are
//! resolved and every address checked at delivery, the request goes to exactly the checked addresses, redirects are
//! not followed. Loopback is open only with `STEWARD_ALLOW_LOOPBACK_WEBHOOKS` (the harness turns it on; these tests
//! turn it off again where they need the default).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, Utc};
use serde_json::json;
use steward_tests::{Backend, TestApp, WebhookSink, both_backends};

use crate::registry::{propose, sp};

const HOOK: &str = "mutation($u: String) { setNoticeWebhook(url: $u) { url } }";
const SET_ENDPOINT: &str = "mutation($id: ID!, $e: String) { setSubProcessorErasureEndpoint(id: $id, endpoint: $e) { endpoint } }";
const SEND: &str = "mutation($i: SendNoticeInput!) { sendNotice(input: $i) }";
const DELIVERIES: &str =
    "query($n: ID!) { noticeDeliveries(noticeId: $n) { channel recipient state lastError } }";

/// A TCP listener on loopback that only counts the connections made to it.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, seen)
}

const REFUSED: [&str; 14] = [
    "http://hooks.example.com/notices",
    "https://10.0.0.7/hook",
    "https://172.20.1.1/hook",
    "https://192.168.1.20/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hook",
    "https://[::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://2130706433/hook",
    "https://user:secret@hooks.example.com/hook",
];

async fn webhook_urls_must_be_public(backend: Backend) {
    let app = TestApp::spawn_with(backend, |a| a.allow_loopback_webhooks = false).await;
    let t = app.create_tenant("Hooked Co", "eu").await;
    let admin = app.invite(&t, "hk-admin", "CLIENT_ADMIN").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let sub = propose(&app, &legal, sp("Erasehook", &["DE"], &["user.name"], &[])).await;
    let (port, _) = counting_listener().await;
    let loopback_http = format!("http://127.0.0.1:{port}/hook");
    let loopback_https = format!("https://127.0.0.1:{port}/hook");
    for url in REFUSED
        .iter()
        .map(|s| s.to_string())
        .chain([loopback_http, loopback_https])
    {
        let reply = app.gql(&admin, HOOK, json!({ "u": url })).await;
        reply.expect_code("BAD_USER_INPUT");
        assert!(
            !reply.message().contains("127.0.0.1:"),
            "{}",
            reply.message()
        );
        app.gql(&legal, SET_ENDPOINT, json!({ "id": sub, "e": url }))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    assert_eq!(app.count("eu", "tenant_webhooks", "1=1").await, 0);
    assert_eq!(
        app.count("control", "subprocessors", "erasure_endpoint IS NOT NULL")
            .await,
        0
    );
    // A public https URL is accepted.
    app.gql(
        &admin,
        HOOK,
        json!({ "u": "https://hooks.example.com/steward" }),
    )
    .await
    .ok();
}

/// A name is checked each time it is used: one that resolves to loopback is refused at delivery, and no connection
/// reaches the address.
async fn names_resolving_to_private_addresses_are_refused_at_delivery(backend: Backend) {
    let app = TestApp::spawn_with(backend, |a| a.allow_loopback_webhooks = false).await;
    let root = app.root();
    let t = app.create_tenant("Rebound Co", "eu").await;
    let admin = app.invite(&t, "rb-admin", "CLIENT_ADMIN").await;
    let (port, seen) = counting_listener().await;
    let url = format!("https://localhost:{port}/hook");
    app.gql(&admin, HOOK, json!({ "u": url })).await.ok();
    app.gql(&root, SEND, json!({ "i": { "tenantIds": [t], "class": "ADMINISTRATIVE", "title": "Maintenance", "body": "Sunday" } }))
        .await
        .ok();
    app.run_jobs().await;
    app.run_jobs_at(Utc::now() + Duration::hours(1)).await;
    let notices = app
        .gql(
            &admin,
            "{ notices { edges { node { id kind } } } }",
            json!({}),
        )
        .await;
    let notice = notices.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["kind"] == "announcement")
        .expect("the announcement")["node"]["id"]
        .clone();
    let rows = app.gql(&admin, DELIVERIES, json!({ "n": notice })).await;
    let hook = rows.ok()["noticeDeliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "webhook")
        .expect("a webhook delivery")
        .clone();
    assert_eq!(hook["state"], "FAILED", "{hook}");
    assert!(
        hook["lastError"].as_str().unwrap().contains("not public"),
        "{hook}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "a connection reached loopback"
    );
}

/// Redirects are not followed: a peer answering 307 towards another address is a failed delivery, and the other
/// address is never contacted.
async fn redirects_are_not_followed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Redirected Co", "eu").await;
    let admin = app.invite(&t, "rd-admin", "CLIENT_ADMIN").await;
    let (target, seen) = counting_listener().await;
    let redirector = {
        use axum::routing::post;
        let location = format!("http://127.0.0.1:{target}/internal");
        let router = axum::Router::new().route(
            "/{*path}",
            post(move || {
                let location = location.clone();
                async move {
                    (
                        axum::http::StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, location)],
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://127.0.0.1:{port}/hook")
    };
    app.gql(&admin, HOOK, json!({ "u": redirector })).await.ok();
    app.gql(&root, SEND, json!({ "i": { "tenantIds": [t], "class": "ADMINISTRATIVE", "title": "Maintenance", "body": "Sunday" } }))
        .await
        .ok();
    app.run_jobs().await;
    assert_eq!(seen.load(Ordering::SeqCst), 0, "the redirect was followed");
    // And a sink on loopback is reached while the development setting is on (the harness's default).
    let sink = WebhookSink::start(vec![]).await;
    app.gql(&admin, HOOK, json!({ "u": sink.url })).await.ok();
    app.gql(&root, SEND, json!({ "i": { "tenantIds": [t], "class": "ADMINISTRATIVE", "title": "Again", "body": "Monday" } }))
        .await
        .ok();
    app.run_jobs().await;
    assert_eq!(sink.received().len(), 1);
}

both_backends!(
    webhook_urls_must_be_public,
    names_resolving_to_private_addresses_are_refused_at_delivery,
    redirects_are_not_followed,
);

//! The edge before and around authentication (security review, issue 17): our own request ids, no body work before
//! the content type and the token, per-address limits on the public pages, `/metrics` closed to the network without
//! a token, headers on every HTML page, silent connections closed and connections capped, no build without an audit
//! trail.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::personal::subject;
use crate::processes::{gql_over_tcp, start_server_with};

fn from(address: &str, request: axum::http::request::Builder) -> axum::http::request::Builder {
    request.extension(ConnectInfo(address.parse::<SocketAddr>().unwrap()))
}

/// A caller's `x-request-id` is never ours: Steward sets its own, keeps the caller's (capped, printable) only as
/// `x-client-request-id`, and the audit trail records both apart.
async fn request_ids_are_always_ours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Ids Co", "eu").await;
    let admin = app.invite(&t, "ids-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "ids-1", "ids@example.com", "Ida Ids").await;
    let support = app.staff_with("ids-support", "SUPPORT").await;
    let body = json!({ "query": "query($t: ID) { dataSubjects(tenantId: $t) { edges { node { externalId } } } }", "variables": { "t": t } }).to_string();
    let reply = app
        .send(
            Request::post("/graphql")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {support}"))
                .header("x-request-id", "forged-1234")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    let ours = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(ours, "forged-1234");
    assert!(uuid::Uuid::parse_str(&ours).is_ok(), "{ours}");
    assert_eq!(reply.headers["x-client-request-id"], "forged-1234");
    // The refused read is audited under our id; the caller's is kept apart.
    let tid = stored_uuid(&app, &t);
    let denied = format!("tenant_id = {tid} AND action = 'pii.denied'");
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!(
                "{denied} AND detail LIKE '%\"request\":\"{ours}\"%' AND detail LIKE '%\"client_request\":\"forged-1234\"%'"
            )
        )
        .await,
        1
    );
    // A long or unprintable id is cut to 64 visible characters; one naming ours changes nothing.
    let long = format!("{}\t{}", "a".repeat(100), "b");
    let reply = app
        .send(
            Request::get("/healthz")
                .header("x-request-id", long.as_str())
                .header("x-client-request-id", "also-forged")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        reply.headers["x-client-request-id"],
        "a".repeat(64).as_str()
    );
    assert_ne!(reply.headers["x-request-id"], "also-forged");
}

/// Nothing is read or parsed before the content type and the token are checked; multipart is refused.
async fn no_body_work_before_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A broken body without a token: refused for the token, not parsed (which would answer 400).
    let reply = app.post_raw(None, "{ this is not json").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:#}", reply.body);
    // Multipart (file uploads) is refused from the header, with or without a token.
    let multipart = |token: Option<String>| {
        let mut request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request
            .body(Body::from(
                "--XYZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ viewer { subject } }\"}\r\n--XYZ--\r\n",
            ))
            .unwrap()
    };
    assert_eq!(
        app.send(multipart(None)).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        app.send(multipart(Some(app.root()))).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // With a token, a broken body is the caller's error as before.
    let reply = app.post_raw(Some(&app.root()), "{ this is not json").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

/// The public pages (which read the database without a token) are limited per client address; `/metrics` without a
/// token answers only loopback callers; every HTML page carries a content security policy and `nosniff`.
async fn public_pages_are_limited_and_headed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |args| {
        args.public_rate_limit_per_sec = 1;
        args.public_rate_limit_burst = 3;
    })
    .await;
    let get = |address: &str, path: &str| {
        from(address, Request::get(path))
            .body(Body::empty())
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.send(get("203.0.113.7:5000", "/transparency.json"))
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert!(
        statuses[3..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let limited = app
        .send(get("203.0.113.7:5001", "/subprocessors.json"))
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address, not the port"
    );
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // Another address has its own allowance; authenticated GraphQL is not counted against it.
    assert_eq!(
        app.send(get("198.51.100.9:5000", "/subprocessors.json"))
            .await
            .status,
        StatusCode::OK
    );
    app.gql(&app.root(), "{ viewer { subject } }", json!({}))
        .await
        .ok();

    // /metrics without a token: this machine only.
    assert_eq!(
        app.send(get("203.0.113.8:5000", "/metrics")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(get("127.0.0.1:5000", "/metrics")).await.status,
        StatusCode::OK
    );

    // Headers on every HTML page, nosniff everywhere.
    for path in ["/subprocessors", "/unsubscribe?token=nope", "/graphql"] {
        let reply = app.send(get("192.0.2.1:1", path)).await;
        assert!(
            reply.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert_eq!(
            reply.headers[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{path}"
        );
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") || csp.contains("default-src 'self'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    let json = app.send(get("192.0.2.2:1", "/subprocessors.json")).await;
    assert_eq!(json.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

/// Hundreds of sockets that never send a byte are closed once the header timeout passes, while a normal request is
/// served meanwhile; and with the connection cap reached, a new connection waits for a free slot instead of being
/// served beyond it.
async fn silent_connections_are_closed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(
        &app,
        dir.path(),
        "silent",
        &[("STEWARD_HEADER_TIMEOUT_SECS", "2")],
    )
    .await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let root = app.root();
    let reply = gql_over_tcp(server.port, &root, "{ viewer { subject } }", json!({})).await;
    assert_eq!(reply["data"]["viewer"]["subject"], steward_tests::ROOT);
    assert!(started.elapsed() < Duration::from_secs(2), "served at once");
    // Every silent socket reads as closed within the timeout and a margin.
    for mut stream in silent {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection is still open after {:?}",
            started.elapsed()
        );
    }
    // A kept-alive connection that goes silent after a response is closed too.
    let mut kept = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let idle = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(8), kept.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle kept-alive connection stayed open");
    assert!(idle.elapsed() < Duration::from_secs(8));
    // Nor is HTTP/2 over plain TCP a way round the timeout: a connection that sends the HTTP/2 preface and an empty
    // SETTINGS frame, then nothing, is closed too (the server speaks HTTP/1 only; put HTTP/2 on a proxy in front).
    let mut h2 = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(8), h2.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
        "an HTTP/2 connection stayed open"
    );
    drop(server);

    // The cap: with 5 connections allowed and 5 silent ones open, a sixth is served only once they were closed.
    let server = start_server_with(
        &app,
        dir.path(),
        "capped",
        &[
            ("STEWARD_HEADER_TIMEOUT_SECS", "1"),
            ("STEWARD_MAX_CONNECTIONS", "5"),
        ],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(
            tokio::net::TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let reply = gql_over_tcp(server.port, &root, "{ viewer { subject } }", json!({})).await;
    assert_eq!(reply["data"]["viewer"]["subject"], steward_tests::ROOT);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "served beyond the cap after {waited:?}"
    );
    drop(held);
}

/// On PostgreSQL no statement outlives the request timeout and no transaction stays idle past it, so work a request
/// gave up on does not go on in the server (SQLite runs in the process: a cut-off request's statement stops with it).
async fn postgres_work_stops_with_the_request(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let app = TestApp::spawn_with(backend, |args| args.request_timeout_secs = 1).await;
    let db = app.state.databases().control();
    let started = Instant::now();
    let slow = db
        .execute_unprepared("SELECT pg_sleep(5)")
        .await
        .expect_err("cut off by statement_timeout");
    assert!(started.elapsed() < Duration::from_secs(3), "{slow}");
    assert!(slow.to_string().contains("statement timeout"), "{slow}");
    // A transaction left idle past the limit is ended by the server.
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("SELECT 1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(txn.execute_unprepared("SELECT 1").await.is_err());
    drop(txn);
    // The pool recovers: the next statement works.
    for _ in 0..3 {
        db.execute_unprepared("SELECT 1").await.unwrap();
    }
}

/// A tarpit: answers every HTTP request after `delay`.
async fn tarpit(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/hook")
}

/// Tenant A's notice webhook answers only after 9 s; tenant B's erasure, queued behind A's delivery, completes at
/// once all the same: deliveries run beside other jobs, and one tenant's slow peer holds no one else's jobs.
async fn a_slow_peer_delays_no_other_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let a = app.create_tenant("Tarpit Co", "eu").await;
    let b = app.create_tenant("Prompt Co", "eu").await;
    let a_admin = app.invite(&a, "tarpit-admin", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "prompt-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("prompt-po", "PRIVACY_OFFICER").await;
    let hook = tarpit(Duration::from_secs(9)).await;
    app.gql(
        &a_admin,
        "mutation($u: String) { setNoticeWebhook(url: $u) { url } }",
        json!({ "u": hook }),
    )
    .await
    .ok();
    app.run_jobs().await;
    // A's deliveries first in the queue (three of them: more than one tenant's share of the delivery slots).
    for i in 0..3 {
        app.gql(
            &root,
            "mutation($i: SendNoticeInput!) { sendNotice(input: $i) }",
            json!({ "i": { "tenantIds": [a], "class": "ADMINISTRATIVE", "title": format!("Maintenance {i}"), "body": "Tonight." } }),
        )
        .await
        .ok();
    }
    let s = subject(
        &app,
        &b_admin,
        "prompt-1",
        "prompt@example.com",
        "Pat Prompt",
    )
    .await;
    let submitted = app
        .gql(
            &b_admin,
            crate::requests::SUBMIT,
            json!({ "i": { "subjectId": s, "kind": "ERASURE" } }),
        )
        .await;
    let id = submitted.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(
        &po,
        "mutation($t: ID, $id: ID!, $v: Int!) { startDataSubjectRequest(tenantId: $t, id: $id, version: $v) { state } }",
        json!({ "t": b, "id": id, "v": 1 }),
    )
    .await
    .ok();

    let started = Instant::now();
    let pass = tokio::spawn({
        let runner = app.state.job_runner();
        async move {
            let worker = steward::jobs::Worker::new(std::time::Duration::from_secs(60));
            steward::jobs::run_due(&runner, &worker, chrono::Utc::now()).await
        }
    });
    let erased_after = loop {
        if app.count("eu", "erasure_tombstones", "1=1").await == 1 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "B's erasure never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        erased_after < Duration::from_secs(4),
        "B's erasure waited {erased_after:?} behind A's slow webhook"
    );
    pass.await.unwrap().unwrap();
    // A's notices were delivered in the end.
    assert!(started.elapsed() >= Duration::from_secs(9));
    assert!(
        app.count(
            "eu",
            "notice_deliveries",
            "channel = 'webhook' AND state = 'sent'"
        )
        .await
            >= 3
    );
}

/// The build that kept no audit trail is gone: no feature of the server turns the append off.
#[test]
fn no_build_without_an_audit_trail() {
    let manifest = include_str!("../../../api/Cargo.toml");
    assert!(!manifest.contains("without-audit"), "{manifest}");
    let audit = include_str!("../../../api/src/audit.rs");
    assert!(!audit.contains("cfg!(feature"));
    assert!(!audit.contains("cfg(feature"));
}

/// A client that stops reading a large answer does not hold it (and its connection slot) for ever: once no write has
/// progressed for `STEWARD_WRITE_TIMEOUT_SECS`, the server closes the connection. A client that reads gets it whole.
async fn stalled_readers_are_cut_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Bulky Reads", "eu").await;
    let admin = app.invite(&t, "bulky-reader", "CLIENT_ADMIN").await;
    for i in 0..12 {
        let records: Vec<serde_json::Value> = (0..50)
            .map(|j| json!({ "category": "user.name", "value": format!("{i}-{j}-{}", "y".repeat(3990)), "purpose": "essential.service", "source": "bulk" }))
            .collect();
        app.gql(
            &admin,
            crate::personal::CREATE,
            json!({ "i": { "externalId": format!("bulky-{i}"), "personalData": records } }),
        )
        .await
        .ok();
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(
        &app,
        dir.path(),
        "stalled",
        &[("STEWARD_WRITE_TIMEOUT_SECS", "2")],
    )
    .await;
    // Four copies of the page (about 9.6 MB): more than the kernel buffers between the two ends hold.
    let page = "dataSubjects(first: 12) { edges { node { personalData { value } } } }";
    let body =
        json!({ "query": format!("{{ a: {page} b: {page} c: {page} d: {page} }}") }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {admin}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let open = || async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket
            .connect(([127, 0, 0, 1], server.port).into())
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        stream
    };
    // A reader gets the whole answer.
    let mut reader = open().await;
    let mut whole = Vec::new();
    reader.read_to_end(&mut whole).await.unwrap();
    assert!(whole.len() > 9_000_000, "{} bytes", whole.len());
    // One that stops reading is cut off: what it finds later is a short, closed stream.
    let mut stalled = open().await;
    // The stall starts once the answer does: on a loaded machine the page can take seconds to build, and a reader
    // that stopped before the first byte was not yet keeping the server waiting.
    let mut first = [0u8; 1];
    stalled.read_exact(&mut first).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection was closed, so reading ends");
    assert!(
        got.len() < whole.len() / 2,
        "cut off: {} of {} bytes",
        got.len(),
        whole.len()
    );
}

both_backends!(
    stalled_readers_are_cut_off,
    request_ids_are_always_ours,
    no_body_work_before_authentication,
    public_pages_are_limited_and_headed,
    silent_connections_are_closed,
    postgres_work_stops_with_the_request,
    a_slow_peer_delays_no_other_tenant,
);

/// The embedded databases hold users' emails and the audit chains: their folder and files are readable by the
/// server's own account only (SQLite is the embedded default; PostgreSQL keeps its own files).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_databases_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let t = app.create_tenant("Private Files Co", "eu").await;
    app.invite(&t, "private-admin", "CLIENT_ADMIN").await;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(&app.config.data_dir) & 0o077, 0, "data dir");
    for which in ["control", "eu", "us"] {
        let file = app.sqlite_file(which);
        for path in [file.clone(), format!("{file}-wal")] {
            let path = std::path::Path::new(&path);
            if path.exists() {
                assert_eq!(mode(path) & 0o077, 0, "{}", path.display());
            }
        }
    }
}

//! Real server processes under faults: a connection trickling its headers is cut off, a server killed while
//! acknowledging writes loses none of them, and its logs never carry a personal value.

use std::time::{Duration, Instant};

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::personal::{CREATE, record};
use crate::processes::{gql_over_tcp, start_server_with};

/// A client that sends its request headers one byte at a time, slower than the header timeout allows, is
/// disconnected by the server before it finishes; a normal request on the same server still works.
async fn slow_headers_are_cut_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(
        &app,
        dir.path(),
        "slow-headers",
        &[("STEWARD_HEADER_TIMEOUT_SECS", "1")],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head =
        b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: ";
    let started = Instant::now();
    let mut cut_after = None;
    // 40 bytes at 100 ms each: 4 s of trickling, well past the 1 s timeout.
    for byte in head.iter().chain(b"aaaaaaaaaaaaaaaaaaaa".iter()).take(40) {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if cut_after.is_none() {
        // The server may have closed without our write failing yet: its side must read as closed now.
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(_)) | Ok(Err(_))),
            "the trickling connection is still open after {:?}",
            started.elapsed()
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "no request was served: {text}"
        );
        cut_after = Some(started.elapsed());
    }
    let cut_after = cut_after.unwrap();
    assert!(
        cut_after < Duration::from_secs(7),
        "closed only after {cut_after:?}"
    );
    let root = app.root();
    let reply = gql_over_tcp(server.port, &root, "{ viewer { subject } }", json!({})).await;
    assert_eq!(reply["data"]["viewer"]["subject"], steward_tests::ROOT);
}

/// Writers hammer a server process; it is killed with SIGKILL mid-stream. Every id the server acknowledged (a 200
/// with the new subject's id) is in the database afterwards.
async fn killed_instance_loses_no_acknowledged_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Crash Co", "eu").await;
    let admin = app.invite(&tenant, "crash-admin", "CLIENT_ADMIN").await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server_with(
        &app,
        dir.path(),
        "crash",
        &[("STEWARD_RATE_LIMIT_PER_SEC", "0")],
    )
    .await;
    let port = server.port;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let admin = admin.clone();
        let acknowledged = acknowledged.clone();
        writers.spawn(async move {
            for i in 0..500 {
                let variables = json!({ "i": { "externalId": format!("w{w}-{i}"), "personalData": [record("user.name", "Crash Test")] } });
                let Ok(reply) = tokio::time::timeout(
                    Duration::from_secs(5),
                    try_gql(port, &admin, CREATE, variables),
                )
                .await
                else {
                    return;
                };
                match reply {
                    Some(body) => {
                        if let Some(id) = body["data"]["createDataSubject"]["id"].as_str() {
                            acknowledged.lock().unwrap().push(id.to_owned());
                        }
                    }
                    None => return,
                }
            }
        });
    }
    // Let some writes land, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    while writers.join_next().await.is_some() {}
    let ids = acknowledged.lock().unwrap().clone();
    assert!(
        ids.len() >= 40,
        "only {} writes were acknowledged",
        ids.len()
    );
    let page = app
        .gql(
            &admin,
            "{ dataSubjects(first: 100) { totalCount } }",
            json!({}),
        )
        .await;
    let total = page.ok()["dataSubjects"]["totalCount"].as_i64().unwrap();
    assert!(
        total >= ids.len() as i64,
        "{total} stored < {} acknowledged",
        ids.len()
    );
    for id in &ids {
        let found = app
            .gql(
                &admin,
                "query($id: ID!) { dataSubject(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(
            found.ok()["dataSubject"]["id"],
            id.as_str(),
            "acknowledged {id} was lost"
        );
    }
}

/// Like `gql_over_tcp`, but `None` when the server is gone instead of panicking.
async fn try_gql(
    port: u16,
    token: &str,
    query: &str,
    variables: serde_json::Value,
) -> Option<serde_json::Value> {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8(response).ok()?;
    let (head, rest) = response.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") || head.to_ascii_lowercase().contains("chunked") {
        return None;
    }
    serde_json::from_str(rest).ok()
}

const PLANTED: [&str; 4] = [
    "planted-log-canary@example.org",
    "Zebedee Plantedname",
    "planted-external-7731",
    "+44 20 7946 0991",
];

/// A server logging at debug, in JSON, is fed personal values through every door (creation, filters, rectification,
/// invalid input that echoes its field, a lookup that finds nothing): none of the values appears in its logs.
async fn logs_carry_no_personal_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Quiet Logs Co", "eu").await;
    let admin = app.invite(&tenant, "logs-admin", "CLIENT_ADMIN").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(
        &app,
        dir.path(),
        "logs",
        &[
            ("STEWARD_LOG", "debug,hyper=info,h2=info"),
            ("STEWARD_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let port = server.port;
    let created = gql_over_tcp(
        port,
        &admin,
        CREATE,
        json!({ "i": { "externalId": PLANTED[2], "personalData": [
            record("user.contact.email", PLANTED[0]),
            record("user.name", PLANTED[1]),
            record("user.contact.phone_number", PLANTED[3]),
        ] } }),
    )
    .await;
    let id = created["data"]["createDataSubject"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("created: {created}"))
        .to_owned();
    // Reads and filters by value.
    gql_over_tcp(port, &admin, "query($e: String) { dataSubjects(email: $e) { edges { node { id personalData { value } } } } }", json!({ "e": PLANTED[0] })).await;
    gql_over_tcp(
        port,
        &admin,
        "query($x: String) { dataSubjects(externalId: $x) { totalCount } }",
        json!({ "x": PLANTED[2] }),
    )
    .await;
    // Invalid input carrying a planted value: a malformed email, an over-long value, a duplicate external id.
    let bad = gql_over_tcp(
        port,
        &admin,
        CREATE,
        json!({ "i": { "externalId": "other", "personalData": [record("user.contact.email", &format!("not-an-email {}", PLANTED[1]))] } }),
    )
    .await;
    assert!(bad["errors"].is_array(), "{bad}");
    let duplicate = gql_over_tcp(
        port,
        &admin,
        CREATE,
        json!({ "i": { "externalId": PLANTED[2], "personalData": [] } }),
    )
    .await;
    assert!(duplicate["errors"].is_array(), "{duplicate}");
    // Malformed GraphQL with a value inside.
    gql_over_tcp(
        port,
        &admin,
        &format!("{{ dataSubjects(email: \"{}\" {{ id }} }}", PLANTED[0]),
        json!({}),
    )
    .await;
    // The subject read by id, then an access request that exports it.
    gql_over_tcp(
        port,
        &admin,
        "query($id: ID!) { dataSubject(id: $id) { personalData { value } } }",
        json!({ "id": id }),
    )
    .await;
    drop(server);

    let log = std::fs::read_to_string(dir.path().join("logs.log")).unwrap();
    assert!(
        log.lines().count() > 5 && log.contains("\"request_id\""),
        "the log was captured at debug in JSON with request ids:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("\"name\":\"resolve\"") && l.contains("\"request_id\"")),
        "resolver spans carry the request id:\n{log}"
    );
    for value in PLANTED {
        assert!(!log.contains(value), "{value:?} appears in the log:\n{log}");
    }
    assert!(
        !log.contains("Plantedname") && !log.contains("canary"),
        "no part of a value either"
    );
}

/// Two server processes append to one tenant's audit chain at once (four writers each): the chain does not fork —
/// it verifies end to end and holds exactly one creation event per acknowledged subject.
async fn two_instances_never_fork_a_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("Two Writers Co", "eu").await;
    let admin = app
        .invite(&tenant, "two-writers-admin", "CLIENT_ADMIN")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(
        start_server_with(&app, dir.path(), "chain-a", &[]),
        start_server_with(&app, dir.path(), "chain-b", &[])
    );
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let port = if w % 2 == 0 { a.port } else { b.port };
        let admin = admin.clone();
        writers.spawn(async move {
            let mut created: i64 = 0;
            for i in 0..15 {
                let variables = json!({ "i": { "externalId": format!("c{w}-{i}"), "personalData": [record("user.name", "Chain Writer")] } });
                let reply = gql_over_tcp(port, &admin, CREATE, variables).await;
                assert!(reply["errors"].is_null(), "{reply}");
                created += 1;
            }
            created
        });
    }
    let mut created: i64 = 0;
    while let Some(n) = writers.join_next().await {
        created += n.unwrap();
    }
    drop((a, b));
    let verified = app
        .gql(
            &admin,
            "{ verifyAuditChain { valid events brokenAt reason } }",
            json!({}),
        )
        .await;
    let v = &verified.ok()["verifyAuditChain"];
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["brokenAt"], serde_json::Value::Null);
    let creations = app
        .count(
            "eu",
            "audit_events",
            &format!(
                "tenant_id = {} AND action = 'subject.created'",
                steward_tests::stored_uuid(&app, &tenant)
            ),
        )
        .await;
    assert_eq!(
        creations, created,
        "one event per creation, none lost or doubled"
    );
}

/// Role changes arriving fast, from eight tasks at once, each inviting a client admin and writing with its token at
/// once: none of those writes is refused. (On PostgreSQL every role change makes the next request reload the
/// assignments; a slow reload of an older snapshot once replaced a newer one and refused a just-invited admin.)
async fn fast_role_changes_never_refuse_a_new_admin(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let app = app.clone();
        tasks.spawn(async move {
            for i in 0..6 {
                let tenant = app.create_tenant(&format!("Fast {t}-{i}"), "eu").await;
                let admin = app.invite(&tenant, &format!("fast-{t}-{i}"), "CLIENT_ADMIN").await;
                let reply = app
                    .gql(
                        &admin,
                        CREATE,
                        json!({ "i": { "externalId": "first", "personalData": [record("user.name", "First One")] } }),
                    )
                    .await;
                assert!(reply.body["errors"].is_null(), "a just-invited admin was refused: {:?}", reply.body);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// A transaction dropped without commit or rollback (an error path, a cancelled request) is rolled back at once, not
/// when its pooled connection is next used: its row locks are gone and its write is undone. Guards the patch in
/// `vendor/sqlx-core`, which skips the release ping only for a connection with nothing queued.
async fn abandoned_transaction_is_rolled_back_at_once(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let pool = app.state.databases().control().clone();
    pool.execute_unprepared("CREATE TABLE scratch_abandoned (x INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let txn = pool.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO scratch_abandoned (x) VALUES (1)")
        .await
        .unwrap();
    drop(txn);
    // Another connection writes the same key: it would wait on the abandoned row (PostgreSQL) or the write lock
    // (SQLite) if the rollback were still sitting in the released connection's buffer.
    let raw = app.raw_db("control").await;
    if raw.get_database_backend() == sea_orm::DbBackend::Postgres {
        raw.execute_unprepared("SET lock_timeout = '3s'")
            .await
            .unwrap();
    }
    let started = Instant::now();
    raw.execute_unprepared("INSERT INTO scratch_abandoned (x) VALUES (1)")
        .await
        .expect("the abandoned transaction still holds its lock");
    assert!(started.elapsed() < Duration::from_secs(3));
    let rows = raw
        .query_one_raw(sea_orm::Statement::from_string(
            raw.get_database_backend(),
            "SELECT COUNT(*) AS n FROM scratch_abandoned",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 1);
}

// Several instances sharing one database is a PostgreSQL deployment (a SQLite file belongs to one process).
steward_tests::postgres_only!(two_instances_never_fork_a_chain);

both_backends!(
    abandoned_transaction_is_rolled_back_at_once,
    fast_role_changes_never_refuse_a_new_admin,
    slow_headers_are_cut_off,
    killed_instance_loses_no_acknowledged_write,
    logs_carry_no_personal_values
);

//! A server process's life at its edges: three instances migrating the same empty databases at once, and a stop by
//! SIGTERM under load (readiness fails first, requests in flight finish, the running job completes or is handed back).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use steward_tests::{Backend, MASTER_KEY, ROOT, TestApp, both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::processes::{ServerProcess, http_status, start_server_with};

async fn count(url: &str, sql: &str) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn three_instances_migrate_at_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let dbs = steward_tests::fresh_databases(&backend, dir.path()).await;
    let children: Vec<_> = (0..3)
        .map(|i| {
            let log = std::fs::File::create(dir.path().join(format!("migrate-{i}.log"))).unwrap();
            Command::new(env!("CARGO_BIN_EXE_steward-test-server"))
                .arg("migrate")
                .env_clear()
                .env("STEWARD_DATA_DIR", dir.path())
                .env("STEWARD_DATABASE_URL", &dbs.control)
                .env("STEWARD_REGIONS", &dbs.regions)
                .env("STEWARD_KEY_DATABASES", &dbs.key_databases)
                .env("STEWARD_MASTER_KEY", MASTER_KEY)
                .env("STEWARD_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "instance {i} failed:\n{}",
            std::fs::read_to_string(dir.path().join(format!("migrate-{i}.log"))).unwrap()
        );
    }
    // Each migration applied once, in every database.
    let mut databases = vec![(dbs.control.clone(), "steward_control_migrations")];
    for (spec, table) in [
        (&dbs.regions, "steward_region_migrations"),
        (&dbs.key_databases, "steward_keys_migrations"),
    ] {
        for pair in spec.split(',') {
            databases.push((pair.split_once('=').unwrap().1.to_owned(), table));
        }
    }
    for (url, table) in &databases {
        let all = count(url, &format!("SELECT COUNT(*) FROM {table}")).await;
        let distinct = count(url, &format!("SELECT COUNT(DISTINCT version) FROM {table}")).await;
        let least = if *table == "steward_keys_migrations" {
            1
        } else {
            10
        };
        assert!(all >= least, "{table}: {all}");
        assert_eq!(all, distinct, "{table}: a migration was applied twice");
    }
}

/// A webhook receiver that holds each request for the given delays in turn (then answers at once), counting the
/// requests it received and those it answered.
struct SlowSink {
    url: String,
    received: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

impl SlowSink {
    async fn start(delays: Vec<Duration>) -> SlowSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (received, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, a) = (received.clone(), answered.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let n = r.fetch_add(1, Ordering::SeqCst);
                let delay = delays.get(n).copied().unwrap_or_default();
                let a = a.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = stream.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    if stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                        )
                        .await
                        .is_ok()
                    {
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        SlowSink {
            url,
            received,
            answered,
        }
    }
}

/// One GraphQL POST: `Ok(Ok(()))` answered 200 with data, `Ok(Err(answer))` answered otherwise, `Err(refused)` when
/// the connection was refused or reset before any answer (`true`) or broke midway through one (`false`).
async fn viewer_over_tcp(port: u16, token: &str) -> Result<Result<(), String>, bool> {
    let body = json!({ "query": "{ viewer { subject } }" }).to_string();
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return Err(true);
    };
    let request = crate::processes::graphql_post(token, &body);
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Err(false);
    }
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response).await;
    // Nothing at all came back: the connection was still in the listen backlog when the listener closed (the kernel
    // had accepted it, the server never did) and was reset. Nothing ran, as for a refused connection.
    if response.is_empty() {
        return Err(true);
    }
    if read.is_err() {
        return Err(false);
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    if response.starts_with("HTTP/1.1 200") && response.contains(ROOT) {
        Ok(Ok(()))
    } else {
        Ok(Err(response))
    }
}

fn sigterm(server: &ServerProcess) {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit; its exit status.
async fn exited(server: &mut ServerProcess, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not stop within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tenant whose notice webhook is `sink` (set up in-process, before the server process starts: one SQLite writer
/// at a time).
async fn hooked_tenant(app: &TestApp, sink: &SlowSink) -> String {
    let t = app.create_tenant("Stopping Co", "eu").await;
    let admin = app.invite(&t, "stop-admin", "CLIENT_ADMIN").await;
    app.gql(
        &admin,
        "mutation($u: String) { setNoticeWebhook(url: $u) { url } }",
        json!({ "u": sink.url }),
    )
    .await
    .ok();
    t
}

/// Has the server process send the tenant a notice; returns once the delivery job is running (the sink holds the
/// request).
async fn delivery_running(app: &TestApp, server: &ServerProcess, sink: &SlowSink, t: &str) {
    crate::processes::gql_over_tcp(
        server.port,
        &app.root(),
        "mutation($t: ID!) { sendNotice(input: { tenantIds: [$t], class: ADMINISTRATIVE, title: \"Stop\", body: \"b\" }) }",
        json!({ "t": t }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.received.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the server process never delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sigterm_under_load_drains_and_finishes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("STEWARD_SHUTDOWN_DRAIN_SECS", "2"),
        ("STEWARD_SHUTDOWN_TIMEOUT_SECS", "20"),
        ("STEWARD_ALLOW_LOOPBACK_WEBHOOKS", "true"),
        ("STEWARD_RATE_LIMIT_PER_SEC", "0"),
    ];
    // The delivery takes 4 s: it is running when the signal comes and must finish, not be cut off.
    let sink = SlowSink::start(vec![Duration::from_secs(4)]).await;
    let t = hooked_tenant(&app, &sink).await;
    let mut server = start_server_with(&app, dir.path(), "stopping", &env).await;
    delivery_running(&app, &server, &sink, &t).await;

    // Load: eight clients sending requests one after the other until the server is gone.
    let port = server.port;
    let root = app.root();
    let signalled = Arc::new(std::sync::OnceLock::<Instant>::new());
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (root, signalled) = (root.clone(), signalled.clone());
            tokio::spawn(async move {
                let (mut ok_after_signal, mut refused) = (0, 0);
                loop {
                    match viewer_over_tcp(port, &root).await {
                        Ok(Ok(())) => {
                            if signalled.get().is_some() {
                                ok_after_signal += 1;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Ok(Err(answer)) => {
                            panic!("a request was answered without its data: {answer}")
                        }
                        Err(true) => {
                            refused += 1;
                            if refused > 20 {
                                return ok_after_signal;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(false) => panic!("a request was cut off midway"),
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server);
    let _ = signalled.set(Instant::now());
    // Readiness fails at once, while the listener still accepts.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if http_status(port, "/readyz").await == Some(503) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still ready after the signal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = exited(&mut server, Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    let mut served_while_draining = 0;
    for client in clients {
        served_while_draining += client.await.unwrap();
    }
    assert!(
        served_while_draining > 0,
        "requests keep being served while draining"
    );
    // The running delivery finished before the process left, and it is recorded.
    assert_eq!(sink.answered.load(Ordering::SeqCst), 1);
    assert_eq!(
        app.count(
            "eu",
            "notice_deliveries",
            "channel = 'webhook' AND state = 'sent'"
        )
        .await,
        1
    );
    assert_eq!(app.run_jobs().await, 0, "nothing left to redo");
}

async fn a_job_outlasting_the_timeout_is_handed_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("STEWARD_SHUTDOWN_DRAIN_SECS", "0"),
        ("STEWARD_SHUTDOWN_TIMEOUT_SECS", "1"),
        ("STEWARD_ALLOW_LOOPBACK_WEBHOOKS", "true"),
        // A long lease: only the hand-back lets the queue run the job again soon.
        ("STEWARD_JOB_LEASE_SECS", "600"),
    ];
    let sink = SlowSink::start(vec![Duration::from_secs(8)]).await;
    let t = hooked_tenant(&app, &sink).await;
    let mut server = start_server_with(&app, dir.path(), "handing-back", &env).await;
    delivery_running(&app, &server, &sink, &t).await;
    sigterm(&server);
    let status = exited(&mut server, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    assert_eq!(
        sink.answered.load(Ordering::SeqCst),
        0,
        "cut off by the timeout"
    );
    // Handed back: another worker runs it at once, not after the 10-minute lease.
    assert!(app.run_jobs().await >= 1);
    assert_eq!(
        app.count(
            "eu",
            "notice_deliveries",
            "channel = 'webhook' AND state = 'sent'"
        )
        .await,
        1
    );
}

both_backends!(
    three_instances_migrate_at_once,
    sigterm_under_load_drains_and_finishes,
    a_job_outlasting_the_timeout_is_handed_back
);

//! Real server processes on loopback: a process killed with SIGKILL while it runs erasure jobs, and two processes
//! sharing one set of databases. The in-process test app prepares the data and checks the outcome; the jobs run only
//! in the child processes (`steward-test-server`, the `steward` command built in this package).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use steward_tests::{Backend, MASTER_KEY, ROOT, SECRET, TestApp, both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::requests::SUBMIT;

pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `steward serve` on the test app's databases, polling its job queue every 50 ms.
pub(crate) async fn start_server(app: &TestApp, dir: &Path, name: &str) -> ServerProcess {
    start_server_with(app, dir, name, &[]).await
}

/// [`start_server`] with more environment variables (which override the defaults).
pub(crate) async fn start_server_with(
    app: &TestApp,
    dir: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> ServerProcess {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = serve_command(app, dir, port)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the test server binary starts");
    let server = ServerProcess { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_status(port, "/readyz").await == Some(200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{name} did not become ready; its log:\n{}",
        std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
    );
}

/// `steward serve` on the test app's databases, listening on `port`, polling its job queue every 50 ms.
fn serve_command(app: &TestApp, dir: &Path, port: u16) -> Command {
    let (regions, key_databases) = region_env(app);
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward-test-server"));
    command
        .arg("serve")
        .env_clear()
        .env("STEWARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("STEWARD_DATA_DIR", dir)
        .env("STEWARD_DATABASE_URL", app.db_url("control"))
        .env("STEWARD_REGIONS", regions)
        .env("STEWARD_KEY_DATABASES", key_databases)
        .env("STEWARD_JWT_HS256_SECRET", SECRET)
        .env("STEWARD_MASTER_KEY", MASTER_KEY)
        .env("STEWARD_BOOTSTRAP_ADMIN", ROOT)
        .env("STEWARD_JOB_POLL_MS", "50")
        .env("STEWARD_JOB_LEASE_SECS", "5")
        .env("STEWARD_JOB_INTERVAL_SECS", "3600")
        .env("STEWARD_LOG", "info");
    command
}

/// A `steward` command as an operator runs it on the app's databases (`args`, with the master key given as `keys`:
/// a variable and its value), its standard output; fails the test with its standard error if it fails.
pub(crate) fn operator_command(
    app: &TestApp,
    dir: &Path,
    args: &[&str],
    keys: (&str, &str),
) -> String {
    let output = operator_output(app, dir, args, keys);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// As [`operator_command`], whether it succeeds or not.
pub(crate) fn operator_output(
    app: &TestApp,
    dir: &Path,
    args: &[&str],
    keys: (&str, &str),
) -> std::process::Output {
    let (regions, key_databases) = region_env(app);
    Command::new(env!("CARGO_BIN_EXE_steward-test-server"))
        .args(args)
        .env_clear()
        .env("STEWARD_DATA_DIR", dir)
        .env("STEWARD_DATABASE_URL", app.db_url("control"))
        .env("STEWARD_REGIONS", regions)
        .env("STEWARD_KEY_DATABASES", key_databases)
        .env(keys.0, keys.1)
        .env("STEWARD_LOG", "warn")
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// `STEWARD_REGIONS` and `STEWARD_KEY_DATABASES` of the app's databases.
pub(crate) fn region_env(app: &TestApp) -> (String, String) {
    let list = |prefix: &str| {
        ["eu", "us"]
            .iter()
            .map(|r| format!("{r}={}", app.db_url(&format!("{prefix}{r}"))))
            .collect::<Vec<_>>()
            .join(",")
    };
    (list(""), list("keys-"))
}

pub(crate) async fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// The bytes of a `POST /graphql` with `body` (JSON) as `token`, closing the connection after the answer.
pub(crate) fn graphql_post(token: &str, body: &str) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// POSTs a GraphQL operation to a server process and returns the JSON answer.
pub(crate) async fn gql_over_tcp(
    port: u16,
    token: &str,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(graphql_post(token, &body).as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    // The body may come chunked.
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A role granted or revoked through one instance binds the other. With `STEWARD_ROLE_CHANGES=read` the other
/// reads the shared version on every request, so it refuses the very next one; with `notify` (the default) it hears
/// the change on `steward_authz` as it commits, which takes well under a second even on a loaded CI machine.
async fn role_changes_reach_every_instance(backend: Backend, mode: &str) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let t = app.create_tenant("Two Instances Co", "eu").await;
    app.invite(&t, "ti-admin", "CLIENT_ADMIN").await;
    let other =
        start_server_with(&app, dir.path(), "other", &[("STEWARD_ROLE_CHANGES", mode)]).await;
    let expected = if mode == "notify" {
        "notified"
    } else {
        "read per request"
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = http_get_json(other.port, "/readyz").await;
        if ready["roleChanges"] == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other instance never reported {expected}: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // How long the other instance may take to learn of a change: nothing in `read` mode.
    let within = if mode == "notify" {
        Duration::from_secs(2)
    } else {
        Duration::ZERO
    };
    const READ: &str = "{ dataSubjects { totalCount } }";
    // Granted through this instance after the other started: the other honours it.
    let viewer = app.invite(&t, "ti-viewer", "CLIENT_VIEWER").await;
    let answer = answer_within(
        within,
        || gql_over_tcp(other.port, &viewer, READ, json!({})),
        |a| a["data"]["dataSubjects"]["totalCount"] == 0,
    )
    .await;
    assert_eq!(answer["data"]["dataSubjects"]["totalCount"], 0, "{answer}");
    // Revoked through this instance: the other refuses.
    app.gql(
        &app.root(),
        "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role } }",
        json!({ "i": { "subject": "ti-viewer", "role": "CLIENT_VIEWER", "tenantId": t } }),
    )
    .await
    .ok();
    let answer = answer_within(
        within,
        || gql_over_tcp(other.port, &viewer, READ, json!({})),
        |a| a["errors"][0]["extensions"]["code"] == "FORBIDDEN",
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    // A suspended tenant (a directory change, same channel) is refused there too.
    app.gql(
        &app.root(),
        "mutation($id: ID!) { suspendTenant(id: $id, reason: \"unpaid\") { status } }",
        json!({ "id": t }),
    )
    .await
    .ok();
    let admin = app.client_token("ti-admin", &t);
    let answer = answer_within(
        within,
        || gql_over_tcp(other.port, &admin, READ, json!({})),
        |a| a["errors"][0]["extensions"]["code"] == "FORBIDDEN",
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    // And the other way round: a staff role granted through the other instance works here.
    let granted = gql_over_tcp(
        other.port,
        &app.root(),
        "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }",
        json!({ "i": { "subject": "ti-auditor", "role": "AUDITOR" } }),
    )
    .await;
    assert_eq!(
        granted["data"]["assignRole"]["role"], "AUDITOR",
        "{granted}"
    );
    let auditor = app.staff_token("ti-auditor");
    app.gql(
        &auditor,
        "query($t: ID) { verifyAuditChain(tenantId: $t) { valid } }",
        json!({ "t": t }),
    )
    .await
    .ok();
    // What /metrics tells an operator: whether this instance listens, and how often it reloaded the assignments.
    let metrics = http_get_text(other.port, "/metrics").await;
    let listening = if mode == "notify" { 1 } else { 0 };
    assert!(
        metrics.contains(&format!("\nsteward_role_changes_listening {listening}\n")),
        "{metrics}"
    );
    let reloads: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("steward_role_assignment_reloads_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no reload counter in {metrics}"));
    assert!(
        reloads >= 3,
        "the grant, the revocation and the suspension each reloaded: {reloads}"
    );
    if mode == "notify" {
        listener_loss_misses_nothing(&app, &other).await;
    }
}

/// The listening connection is cut (as a PostgreSQL restart or a network fault would): the instance reads the version
/// per request until it listens again, so a change made meanwhile is honoured, and so is one made afterwards.
async fn listener_loss_misses_nothing(app: &TestApp, other: &ServerProcess) {
    use sea_orm::{ConnectionTrait, Statement};
    let t = app.create_tenant("Listener Loss Co", "us").await;
    app.invite(&t, "ll-admin", "CLIENT_ADMIN").await;
    let control = app.raw_db("control").await;
    let cut = control
        .execute_raw(Statement::from_string(
            control.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        ))
        .await
        .unwrap();
    assert!(cut.rows_affected() >= 1, "no listening connection found");
    const READ: &str = "{ dataSubjects { totalCount } }";
    let viewer = app.invite(&t, "ll-viewer", "CLIENT_VIEWER").await;
    let answer = answer_within(
        Duration::from_secs(2),
        || gql_over_tcp(other.port, &viewer, READ, json!({})),
        |a| a["data"]["dataSubjects"]["totalCount"] == 0,
    )
    .await;
    assert_eq!(answer["data"]["dataSubjects"]["totalCount"], 0, "{answer}");
    // It listens again (1 s back-off), and what is revoked next is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get_json(other.port, "/readyz").await["roleChanges"] != "notified" {
        assert!(Instant::now() < deadline, "the listener never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.gql(
        &app.root(),
        "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role } }",
        json!({ "i": { "subject": "ll-viewer", "role": "CLIENT_VIEWER", "tenantId": t } }),
    )
    .await
    .ok();
    let answer = answer_within(
        Duration::from_secs(2),
        || gql_over_tcp(other.port, &viewer, READ, json!({})),
        |a| a["errors"][0]["extensions"]["code"] == "FORBIDDEN",
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
}

/// Asks until `done` holds or `within` has passed (with `within` zero: exactly once), and returns the last answer.
async fn answer_within<F, Fut>(
    within: Duration,
    ask: F,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let deadline = Instant::now() + within;
    loop {
        let answer = ask().await;
        if done(&answer) || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// GETs a JSON document from a server process.
async fn http_get_json(port: u16, path: &str) -> serde_json::Value {
    serde_json::from_str(&http_get_text(port, path).await).unwrap_or(serde_json::Value::Null)
}

/// GETs a text body from a server process (sent whole: `Connection: close`, no chunking for these small bodies).
async fn http_get_text(port: u16, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned())
}

/// A tenant with `n` subjects of 40 values each, and an erasure request started for every one (queued jobs).
async fn queue_erasures(app: &TestApp, region: &str, n: usize) -> String {
    let t = app.create_tenant("Process Co", region).await;
    let admin = app.invite(&t, "proc-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let start = "mutation($t: ID, $id: ID!, $v: Int!) { startDataSubjectRequest(tenantId: $t, id: $id, version: $v) { state } }";
    for i in 0..n {
        let records: Vec<_> = (0..40)
            .map(|j| crate::personal::record("user.name", &format!("Person {i} alias {j}")))
            .collect();
        let created = app
            .gql(
                &admin,
                crate::personal::CREATE,
                json!({ "i": { "externalId": format!("proc-{i}"), "personalData": records } }),
            )
            .await;
        let s = created.ok()["createDataSubject"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let submitted = app
            .gql(
                &admin,
                SUBMIT,
                json!({ "i": { "subjectId": s, "kind": "ERASURE" } }),
            )
            .await;
        let id = submitted.ok()["submitDataSubjectRequest"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.gql(&po, start, json!({ "t": t, "id": id, "v": 1 }))
            .await
            .ok();
    }
    t
}

async fn tombstones(app: &TestApp, region: &str) -> i64 {
    app.count(region, "erasure_tombstones", "1=1").await
}

async fn wait_for_tombstones(app: &TestApp, region: &str, n: i64, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while tombstones(app, region).await < n {
        assert!(
            Instant::now() < deadline,
            "erasures not finished; logs:\n{}",
            std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every erasure happened exactly once, nothing of the subjects is left, and the chain holds.
async fn assert_erased_exactly_once(app: &TestApp, region: &str, tenant: &str, n: i64) {
    assert_eq!(tombstones(app, region).await, n);
    assert_eq!(
        app.count(region, "audit_events", "action = 'subject.erased'")
            .await,
        n
    );
    assert_eq!(app.count(region, "data_subjects", "1=1").await, 0);
    assert_eq!(app.count(region, "personal_data", "1=1").await, 0);
    assert_eq!(
        app.count(region, "jobs", "kind = 'request.erase' AND state <> 'done'")
            .await,
        0
    );
    assert!(!app.database_contains(region, "alias 7").await);
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let verify = app
        .gql(
            &auditor,
            "query($t: ID) { verifyAuditChain(tenantId: $t) { valid events } }",
            json!({ "t": tenant }),
        )
        .await;
    assert_eq!(verify.ok()["verifyAuditChain"]["valid"], true);
}

/// Sends one GraphQL request and reads until the server closes the connection; `None` when it closed without an answer
/// (the process died under the request).
async fn post_until_closed(
    port: u16,
    token: &str,
    query: &str,
    variables: serde_json::Value,
) -> Option<String> {
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
    let _ = stream.read_to_end(&mut response).await;
    (!response.is_empty()).then(|| String::from_utf8_lossy(&response).into_owned())
}

/// A change in the control database whose audit event belongs to the tenant's chain (an objection) commits with the
/// event owed in the control database's audit outbox. A process killed right after that commit, before the event
/// reaches the region, loses nothing: the objection is there, its event is owed, and the next process's sweep appends
/// it, once; the tenant's chain verifies.
async fn a_death_between_the_databases_loses_no_audit_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = app.create_tenant("Between Co", "eu").await;
    let admin = app.invite(&tenant, "btw-admin", "CLIENT_ADMIN").await;
    let legal = app.staff_with("btw-legal", "LEGAL").await;
    crate::personal::subject(&app, &admin, "btw-1", "btw@example.org", "Bea Tween").await;
    let sp = crate::registry::propose(
        &app,
        &legal,
        crate::registry::sp("Mailer", &["DE"], &["user.contact.email"], &[]),
    )
    .await;
    app.gql(
        &legal,
        "mutation($id: ID!) { announceSubProcessor(id: $id, reason: \"new mail provider\") { tenantsNotified } }",
        json!({ "id": sp }),
    )
    .await
    .ok();
    let notices = app.gql(&admin, "{ changeNotices { id } }", json!({})).await;
    let notice = notices.ok()["changeNotices"][0]["id"].clone();
    const OBJECTED: &str = "action = 'subprocessor.objected'";

    let mut first = start_server_with(
        &app,
        dir.path(),
        "first",
        &[("STEWARD_TEST_ABORT_BEFORE_DEFERRED_AUDIT", "1")],
    )
    .await;
    let answer = post_until_closed(
        first.port,
        &admin,
        "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"we must review its DPA first\") { id } }",
        json!({ "n": notice }),
    )
    .await;
    assert_eq!(answer, None, "the process died before answering");
    let status = first.child.wait().unwrap();
    assert!(!status.success(), "aborted: {status:?}");
    // Between the databases: the objection committed with its event owed; the tenant's chain does not have it yet.
    assert_eq!(app.count("control", "objections", "1 = 1").await, 1);
    assert_eq!(app.count("control", "audit_outbox", "1 = 1").await, 1);
    assert_eq!(app.count("eu", "audit_events", OBJECTED).await, 0);

    // The next process's sweep appends it, once.
    let second = start_server(&app, dir.path(), "second").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.count("control", "audit_outbox", "1 = 1").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the owed event was never appended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("eu", "audit_events", OBJECTED).await, 1);
    let verify = gql_over_tcp(
        second.port,
        &admin,
        "{ verifyAuditChain { valid events } }",
        json!({}),
    )
    .await;
    assert_eq!(
        verify["data"]["verifyAuditChain"]["valid"], true,
        "{verify}"
    );
}

/// The same for a change that owes its tenant a notice as well as an event (a new notice period): killed between the
/// databases, the period is changed and both are owed; the next process files the notice and appends the event
/// together, once each, and nothing reached the region before.
async fn a_death_between_the_databases_loses_no_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = app.create_tenant("Period Co", "eu").await;
    let admin = app.invite(&tenant, "per-admin", "CLIENT_ADMIN").await;
    let ops = app.staff_with("per-ops", "PLATFORM_ADMIN").await;
    const SET: &str = "mutation($t: ID!) { setNoticePeriod(tenantId: $t, days: 45) }";
    const EVENT: &str = "action = 'tenant.notice_period_set'";
    const NOTICE: &str = "kind = 'tenant.notice_period'";

    let mut first = start_server_with(
        &app,
        dir.path(),
        "first",
        &[("STEWARD_TEST_ABORT_BEFORE_DEFERRED_AUDIT", "1")],
    )
    .await;
    let answer = post_until_closed(first.port, &ops, SET, json!({ "t": tenant })).await;
    assert_eq!(answer, None, "the process died before answering");
    assert!(!first.child.wait().unwrap().success());
    // The change committed with what it owes; the region has neither the notice nor the event yet.
    assert_eq!(
        app.count("control", "tenants", "notice_period_days = 45")
            .await,
        1
    );
    assert_eq!(app.count("control", "audit_outbox", "1 = 1").await, 1);
    assert_eq!(app.count("eu", "audit_events", EVENT).await, 0);
    assert_eq!(app.count("eu", "notices", NOTICE).await, 0);

    let second = start_server(&app, dir.path(), "second").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.count("control", "audit_outbox", "1 = 1").await > 0 {
        assert!(Instant::now() < deadline, "what was owed never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("eu", "audit_events", EVENT).await, 1);
    assert_eq!(app.count("eu", "notices", NOTICE).await, 1);
    let inbox = gql_over_tcp(
        second.port,
        &admin,
        "{ notices(first: 5) { edges { node { title body } } } }",
        json!({}),
    )
    .await;
    let text = inbox.to_string();
    assert!(
        text.contains("Your notice period was changed") && text.contains("45 days"),
        "{inbox}"
    );
    let verify = gql_over_tcp(
        second.port,
        &admin,
        "{ verifyAuditChain { valid } }",
        json!({}),
    )
    .await;
    assert_eq!(
        verify["data"]["verifyAuditChain"]["valid"], true,
        "{verify}"
    );
}

/// And for a change whose region side is work, not only words: an offboarding begun with the export first owes the
/// export, the build and finishing jobs, the notice and the event. Killed between the databases, the tenant is
/// offboarding and its region has none of it; the next process carries all of it out, once.
async fn a_death_between_the_databases_loses_no_offboarding_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = app.create_tenant("Leaving Co", "eu").await;
    let admin = app.invite(&tenant, "lv-admin", "CLIENT_ADMIN").await;
    let ops = app.staff_with("lv-ops", "PLATFORM_ADMIN").await;
    const EVENT: &str = "action = 'tenant.offboarding_started'";
    const NOTICE: &str = "kind = 'tenant.offboarding'";
    const JOBS: &str = "kind IN ('offboarding.export', 'offboarding.finish')";

    let mut first = start_server_with(
        &app,
        dir.path(),
        "first",
        &[("STEWARD_TEST_ABORT_BEFORE_DEFERRED_AUDIT", "1")],
    )
    .await;
    let answer = post_until_closed(
        first.port,
        &ops,
        crate::offboarding::BEGIN,
        json!({ "t": tenant, "c": "RETURN_THEN_DELETE", "g": 30 }),
    )
    .await;
    assert_eq!(answer, None, "the process died before answering");
    assert!(!first.child.wait().unwrap().success());
    assert_eq!(
        app.count("control", "tenants", "status = 'offboarding'")
            .await,
        1
    );
    assert_eq!(app.count("control", "audit_outbox", "1 = 1").await, 1);
    for (table, condition) in [
        ("audit_events", EVENT),
        ("notices", NOTICE),
        ("jobs", JOBS),
        ("tenant_exports", "1 = 1"),
    ] {
        assert_eq!(
            app.count("eu", table, condition).await,
            0,
            "{table} before the restart"
        );
    }

    let second = start_server(&app, dir.path(), "second").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.count("control", "audit_outbox", "1 = 1").await > 0 {
        assert!(Instant::now() < deadline, "what was owed never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (table, condition, n) in [
        ("audit_events", EVENT, 1),
        ("notices", NOTICE, 1),
        ("jobs", JOBS, 2),
        ("tenant_exports", "1 = 1", 1),
    ] {
        assert_eq!(
            app.count("eu", table, condition).await,
            n,
            "{table} after the restart"
        );
    }
    let verify = gql_over_tcp(
        second.port,
        &admin,
        "{ verifyAuditChain { valid } }",
        json!({}),
    )
    .await;
    assert_eq!(
        verify["data"]["verifyAuditChain"]["valid"], true,
        "{verify}"
    );
}

/// `kill -9` while erasures run; a new process finishes them, each exactly once.
async fn killed_mid_erasure_finishes_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let region = "eu";
    let n = 40;
    let tenant = queue_erasures(&app, region, n).await;
    assert_eq!(tombstones(&app, region).await, 0);

    let mut first = start_server(&app, dir.path(), "first").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until one erasure is done and another is claimed (its job in flight), then kill at once.
    loop {
        assert!(
            Instant::now() < deadline,
            "the first process erased nothing"
        );
        let in_flight = app
            .count(
                region,
                "jobs",
                "kind = 'request.erase' AND state = 'running'",
            )
            .await;
        if in_flight > 0 && tombstones(&app, region).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // SIGKILL: no shutdown, transactions in flight are cut.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(
        http_status(first.port, "/healthz").await,
        None,
        "the first process is gone"
    );
    let done_before = tombstones(&app, region).await;
    let held = app
        .count(
            region,
            "jobs",
            "kind = 'request.erase' AND state = 'running'",
        )
        .await;
    eprintln!("killed after {done_before} of {n} erasures, with {held} erasure job(s) claimed");
    assert!(
        done_before < n as i64,
        "the kill came after every erasure ({done_before}); nothing was interrupted"
    );

    let _second = start_server(&app, dir.path(), "second").await;
    wait_for_tombstones(&app, region, n as i64, dir.path()).await;
    // Let any job the dead process held run out its lease and be seen as done.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_erased_exactly_once(&app, region, &tenant, n as i64).await;
}

/// Two processes on the same databases share the queue without taking a job twice.
async fn two_instances_share_the_queue(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let region = "us";
    let n = 40;
    let tenant = queue_erasures(&app, region, n).await;
    let (_a, _b) = tokio::join!(
        start_server(&app, dir.path(), "a"),
        start_server(&app, dir.path(), "b")
    );
    wait_for_tombstones(&app, region, n as i64, dir.path()).await;
    assert_erased_exactly_once(&app, region, &tenant, n as i64).await;
    // The recurring sweeps of this interval ran once, whichever instance took them.
    for kind in ["sweep.subprocessor_activations", "sweep.disclosure_notices"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while app
            .count(
                "control",
                "jobs",
                &format!("kind = '{kind}' AND state = 'done'"),
            )
            .await
            == 0
        {
            assert!(Instant::now() < deadline, "{kind} never ran");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all = app
            .count("control", "jobs", &format!("kind = '{kind}'"))
            .await;
        let slots = app
            .count(
                "control",
                "jobs",
                &format!("kind = '{kind}' AND state = 'done'"),
            )
            .await;
        assert_eq!(all, slots, "{kind}: one job per interval, each run");
        assert!(all <= 2, "{kind}: {all} runs within one test");
    }
    if matches!(backend, Backend::Postgres(_)) {
        // Both instances took part (SKIP LOCKED lets them claim side by side).
        let db = app.raw_db(region).await;
        use sea_orm::{ConnectionTrait, Statement};
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(DISTINCT split_part(locked_by, '-', 1)) AS n FROM jobs WHERE kind = 'request.erase'",
            ))
            .await
            .unwrap()
            .unwrap();
        let workers: i64 = row.try_get("", "n").unwrap();
        assert_eq!(workers, 2, "both processes claimed erasure jobs");
    }
}

both_backends!(
    killed_mid_erasure_finishes_exactly_once,
    a_death_between_the_databases_loses_no_audit_event,
    a_death_between_the_databases_loses_no_notice,
    a_death_between_the_databases_loses_no_offboarding_work,
);

// Several processes serving the same databases is a PostgreSQL deployment: on SQLite the second is refused (below).
steward_tests::postgres_only!(two_instances_share_the_queue);

/// One SQLite database belongs to one process: a second `serve` on the same files stops at once and says why (it would
/// keep role assignments and the tenant directory of its own in memory, so a role revoked through one process would
/// still be honoured by the other). Once the first process is gone, killed, another starts.
mod a_second_process_on_the_same_sqlite_files_is_refused {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::spawn(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let first = start_server(&app, dir.path(), "first").await;
        // The same files, named as the first names them and through links to each file from another folder.
        let control = app.db_url("control");
        let (regions, key_databases) = region_env(&app);
        let file_of = |url: &str| {
            url.trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned()
        };
        let folder = Path::new(&file_of(&control))
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let alias = dir.path().join("links");
        std::fs::create_dir(&alias).unwrap();
        let urls = std::iter::once(control.clone())
            .chain(
                regions
                    .split(',')
                    .chain(key_databases.split(','))
                    .map(|pair| pair.split_once('=').unwrap().1.to_owned()),
            )
            .collect::<Vec<_>>();
        for url in &urls {
            let file = file_of(url);
            let name = Path::new(&file).file_name().unwrap();
            std::os::unix::fs::symlink(&file, alias.join(name)).unwrap();
        }
        let respell = |url: &str| url.replace(&folder, alias.to_str().unwrap());
        for spelled in [false, true] {
            let mut command = serve_command(&app, dir.path(), free_port());
            if spelled {
                command
                    .env("STEWARD_DATABASE_URL", respell(&control))
                    .env("STEWARD_REGIONS", respell(&regions))
                    .env("STEWARD_KEY_DATABASES", respell(&key_databases));
            }
            let mut second = command
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                if let Some(status) = second.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = second.kill();
                    panic!(
                        "a second process serves the same SQLite files (through a link: {spelled})"
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
            assert!(!status.success());
            assert!(
                stderr.contains("another Steward process is serving"),
                "{stderr}"
            );
        }
        assert_eq!(
            http_status(first.port, "/readyz").await,
            Some(200),
            "the first one serves on"
        );
        drop(first);
        let third = start_server(&app, dir.path(), "third").await;
        assert_eq!(http_status(third.port, "/readyz").await, Some(200));
    }
}

/// Several instances serving the same databases is a PostgreSQL deployment (one SQLite database belongs to one
/// process, which skips the per-request version check), so this one runs on PostgreSQL only.
mod role_changes_reach_every_instance {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_notified() {
        if let Some(backend) = steward_tests::Backend::postgres() {
            super::role_changes_reach_every_instance(backend, "notify").await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_read_per_request() {
        if let Some(backend) = steward_tests::Backend::postgres() {
            super::role_changes_reach_every_instance(backend, "read").await
        }
    }
}

//! Data-subject requests: the state machine, deadlines, idempotent submits, exports, provable erasure with
//! propagation to sub-processors (webhook and manual), certificates, restriction, rectification, children's data,
//! reminders and the durable job queue.

use base64::Engine as _;
use chrono::{Duration, NaiveDate, Utc};
use ed25519_dalek::Verifier;
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, WebhookSink, both_backends};

use crate::personal::{CREATE, record, subject};
use crate::registry::{activate, propose, sp};

pub const SUBMIT: &str = "mutation($i: SubmitDataSubjectRequestInput!) { submitDataSubjectRequest(input: $i) { id kind state origin version dueOn dueAt daysLeft overdue clockBasis } }";
const FIELDS: &str = "id kind state origin version dueOn daysLeft overdue clockBasis pausedAt pausedDays extendedAt completedAt";

fn transition(name: &str, extra_args: &str, extra_params: &str) -> String {
    format!(
        "mutation($t: ID, $id: ID!, $v: Int!{extra_params}) {{ {name}(tenantId: $t, id: $id, version: $v{extra_args}) {{ {FIELDS} }} }}"
    )
}

pub(crate) fn start() -> String {
    transition("startDataSubjectRequest", "", "")
}
pub(crate) fn complete() -> String {
    transition("completeDataSubjectRequest", "", "")
}
pub(crate) fn pause() -> String {
    transition("pauseDataSubjectRequest", ", reason: $r", ", $r: String!")
}
pub(crate) fn resume() -> String {
    transition("resumeDataSubjectRequest", "", "")
}
pub(crate) fn extend() -> String {
    transition(
        "extendDataSubjectRequest",
        ", days: $d, reason: $r",
        ", $d: Int!, $r: String!",
    )
}
pub(crate) fn reject() -> String {
    transition("rejectDataSubjectRequest", ", reason: $r", ", $r: String!")
}

pub(crate) const GET: &str = "query($t: ID, $id: ID!) { dataSubjectRequest(tenantId: $t, id: $id) { id state version kind origin dueOn overdue erasure { valuesErased dataKeyDestroyed counts { category count } } propagations { id subProcessor method state attempts reference confirmedBy lastError } export { id expiresAt downloads } } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn id_of(reply: &Value, field: &str) -> String {
    reply[field]["id"].as_str().unwrap().to_owned()
}

/// Submits and returns (id, version).
pub(crate) async fn submit(app: &TestApp, token: &str, subject: &str, kind: &str) -> (String, i64) {
    let reply = app
        .gql(
            token,
            SUBMIT,
            // An objection names the purpose objected to.
            if kind == "OBJECTION" {
                json!({ "i": { "subjectId": subject, "kind": kind, "objectedPurpose": "marketing.advertising" } })
            } else {
                json!({ "i": { "subjectId": subject, "kind": kind } })
            },
        )
        .await;
    let r = &reply.ok()["submitDataSubjectRequest"];
    (
        r["id"].as_str().unwrap().to_owned(),
        r["version"].as_i64().unwrap(),
    )
}

/// Submits a request of `kind` about `subject` as the tenant's admin and starts it as a privacy officer; its id.
pub(crate) async fn started(
    app: &TestApp,
    (admin, po): (&str, &str),
    tenant: &str,
    subject: &str,
    kind: &str,
) -> String {
    let (id, v) = submit(app, admin, subject, kind).await;
    step(app, po, &start(), json!({ "t": tenant, "id": id, "v": v })).await;
    id
}

pub(crate) async fn step(app: &TestApp, token: &str, query: &str, vars: Value) -> Value {
    let reply = app.gql(token, query, vars).await;
    reply
        .ok()
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone()
}

async fn requests_in(app: &TestApp, region: &str) -> i64 {
    app.count(region, "dsr_requests", "1=1").await
}

async fn lifecycle_deadlines_and_idempotency(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Requests Co", "eu").await;
    let other = app.create_tenant("Other Co", "us").await;
    let admin = app.invite(&t, "rq-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "rq-viewer", "CLIENT_VIEWER").await;
    let other_admin = app.invite(&other, "rq-other", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let s = subject(&app, &admin, "rq-1", "rq1@example.com", "Rita Q").await;
    let o = subject(&app, &other_admin, "other-1", "o1@example.com", "Otto").await;

    // Idempotent submit: the same key gives the same request; reused for something else, CONFLICT.
    let input = json!({ "i": { "subjectId": s, "kind": "ACCESS", "idempotencyKey": "ticket-42", "note": "via support form" } });
    let first = app.gql(&admin, SUBMIT, input.clone()).await;
    let again = app.gql(&admin, SUBMIT, input).await;
    let first = &first.ok()["submitDataSubjectRequest"];
    assert_eq!(first["id"], again.ok()["submitDataSubjectRequest"]["id"]);
    assert_eq!(first["state"], "RECEIVED");
    assert_eq!(first["origin"], "CLIENT");
    assert_eq!(first["clockBasis"], "CALENDAR");
    let due = (today() + Duration::days(30)).to_string();
    assert_eq!(first["dueOn"], due.as_str(), "access: 30 calendar days");
    assert_eq!(first["daysLeft"], 30);
    assert_eq!(first["overdue"], false);
    assert_eq!(requests_in(&app, "eu").await, 1);
    app.gql(
        &admin,
        SUBMIT,
        json!({ "i": { "subjectId": s, "kind": "ERASURE", "idempotencyKey": "ticket-42" } }),
    )
    .await
    .expect_code("CONFLICT");

    // Erasure: 30 business days in the region's calendar.
    let erasure = app
        .gql(
            &admin,
            SUBMIT,
            json!({ "i": { "subjectId": s, "kind": "ERASURE" } }),
        )
        .await;
    let erasure = &erasure.ok()["submitDataSubjectRequest"];
    assert_eq!(erasure["clockBasis"], "BUSINESS");
    let eu = steward::deadlines::calendar("DE", None).unwrap();
    let due = eu.add_business_days(today(), 30).unwrap();
    assert_eq!(erasure["dueOn"], due.to_string().as_str());
    assert_eq!(erasure["daysLeft"], 30);
    assert!(
        (due - today()).num_days() >= 42,
        "30 business days span at least six weeks"
    );

    // Bad input changes nothing.
    let before = requests_in(&app, "eu").await;
    for (vars, code) in [
        (
            json!({ "i": { "subjectId": o, "kind": "ACCESS" } }),
            "NOT_FOUND",
        ),
        (
            json!({ "i": { "subjectId": s, "kind": "TELEPORT" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "i": { "subjectId": "nope", "kind": "ACCESS" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "i": { "subjectId": s, "kind": "RECTIFICATION" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "i": { "subjectId": s, "kind": "ACCESS", "rectifications": [{ "recordId": s, "value": "x" }] } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "i": { "subjectId": s, "kind": "ACCESS", "idempotencyKey": "" } }),
            "BAD_USER_INPUT",
        ),
        // Keys of the erasures Steward raises for children are reserved.
        (
            json!({ "i": { "subjectId": s, "kind": "ACCESS", "idempotencyKey": format!("child-under-13:{s}") } }),
            "BAD_USER_INPUT",
        ),
    ] {
        app.gql(&admin, SUBMIT, vars).await.expect_code(code);
    }
    // Viewers read requests but do not submit; support sees status but cannot handle.
    app.gql(
        &viewer,
        SUBMIT,
        json!({ "i": { "subjectId": s, "kind": "ACCESS" } }),
    )
    .await
    .expect_code("FORBIDDEN");
    assert_eq!(requests_in(&app, "eu").await, before);

    let id = first["id"].as_str().unwrap().to_owned();
    let vars = |v: i64| json!({ "t": t, "id": id, "v": v });
    // Only privacy officers work requests.
    app.gql(&admin, &start(), vars(1))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&support, &start(), vars(1))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&support, GET, json!({ "t": t, "id": id }))
        .await
        .ok();
    // Forbidden transitions from RECEIVED.
    for (q, extra) in [
        (complete(), json!({})),
        (pause(), json!({ "r": "need id" })),
        (resume(), json!({})),
    ] {
        let mut v = vars(1);
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let reply = app.gql(&po, &q, v).await;
        reply.expect_code("BAD_USER_INPUT");
        assert_eq!(
            reply.body["errors"][0]["extensions"]["reason"],
            "INVALID_TRANSITION"
        );
    }
    // A stale version is a conflict; the right one starts it.
    app.gql(&po, &start(), vars(7))
        .await
        .expect_code("CONFLICT");
    let started = step(&app, &po, &start(), vars(1)).await;
    assert_eq!(started["state"], "IN_PROGRESS");
    assert_eq!(started["version"], 2);
    app.gql(&po, &start(), vars(2))
        .await
        .expect_code("BAD_USER_INPUT");

    // Pause needs a reason; while paused the request is not overdue and the clock is stopped.
    app.gql(
        &po,
        &pause(),
        json!({ "t": t, "id": id, "v": 2, "r": "  " }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let paused = step(
        &app,
        &po,
        &pause(),
        json!({ "t": t, "id": id, "v": 2, "r": "awaiting proof of identity from the controller" }),
    )
    .await;
    assert_eq!(paused["state"], "PAUSED");
    app.gql(
        &po,
        &pause(),
        json!({ "t": t, "id": id, "v": 3, "r": "again" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let resumed = step(&app, &po, &resume(), vars(3)).await;
    assert_eq!(resumed["state"], "IN_PROGRESS");
    assert_eq!(
        resumed["dueOn"], first["dueOn"],
        "a same-day pause moves nothing"
    );

    // One extension, with a reason.
    app.gql(
        &po,
        &extend(),
        json!({ "t": t, "id": id, "v": 4, "d": 10, "r": "" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(
        &po,
        &extend(),
        json!({ "t": t, "id": id, "v": 4, "d": 0, "r": "complex" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let extended = step(
        &app,
        &po,
        &extend(),
        json!({ "t": t, "id": id, "v": 4, "d": 10, "r": "records held in archive" }),
    )
    .await;
    assert_eq!(
        extended["dueOn"],
        (today() + Duration::days(40)).to_string().as_str()
    );
    // The reason is sealed with the subject's key: the client reads it; staff without a grant do not.
    let reasons = "query($t: ID, $id: ID!) { dataSubjectRequest(tenantId: $t, id: $id) { pauseReason extensionReason } }";
    let read = app.gql(&admin, reasons, json!({ "id": id })).await;
    assert_eq!(
        read.ok()["dataSubjectRequest"],
        json!({ "pauseReason": "awaiting proof of identity from the controller", "extensionReason": "records held in archive" })
    );
    let withheld = app.gql(&po, reasons, json!({ "t": t, "id": id })).await;
    assert!(withheld.body["data"]["dataSubjectRequest"]["extensionReason"].is_null());
    assert_eq!(withheld.code(), Some("FORBIDDEN"));
    let twice = app
        .gql(
            &po,
            &extend(),
            json!({ "t": t, "id": id, "v": 5, "d": 5, "r": "more" }),
        )
        .await;
    assert_eq!(
        twice.body["errors"][0]["extensions"]["reason"],
        "ALREADY_EXTENDED"
    );
    app.gql(&po, &reject(), json!({ "t": t, "id": id, "v": 5, "r": "" }))
        .await
        .expect_code("BAD_USER_INPUT");

    // Completing an access request produces the export; only the client admin downloads it.
    let done = step(&app, &po, &complete(), vars(5)).await;
    assert_eq!(done["state"], "COMPLETED");
    assert!(done["completedAt"].is_string());
    for q in [complete(), start()] {
        app.gql(&po, &q, vars(6))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    app.gql(
        &po,
        &extend(),
        json!({ "t": t, "id": id, "v": 6, "d": 5, "r": "late" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    const EXPORT: &str = "query($t: ID, $r: ID!) { subjectExport(tenantId: $t, requestId: $r) { subjectId expiresAt document } }";
    let export = app.gql(&admin, EXPORT, json!({ "r": id })).await;
    let doc = &export.ok()["subjectExport"]["document"];
    assert_eq!(doc["subject"]["external_id"], "rq-1");
    let values: Vec<&str> = doc["personal_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert!(values.contains(&"rq1@example.com") && values.contains(&"Rita Q"));
    assert_eq!(doc["personal_data"][0]["purpose"], "essential.service");
    assert!(doc["personal_data"][0]["source"].is_string());
    assert_eq!(doc["requests"].as_array().unwrap().len(), 2);
    app.gql(&po, EXPORT, json!({ "t": t, "r": id }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&viewer, EXPORT, json!({ "r": id }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&other_admin, EXPORT, json!({ "t": t, "r": id }))
        .await
        .expect_code("NOT_FOUND");
    // Another tenant's request id is NOT_FOUND, for clients and in transitions.
    app.gql(&other_admin, GET, json!({ "id": id }))
        .await
        .expect_code("NOT_FOUND");
    app.gql(&po, &start(), json!({ "t": other, "id": id, "v": 6 }))
        .await
        .expect_code("NOT_FOUND");

    // The privacy officers' queue spans tenants; filters narrow it.
    subject(&app, &other_admin, "other-2", "o2@example.com", "Olga").await;
    submit(&app, &other_admin, &o, "OBJECTION").await;
    const QUEUE: &str = "query($f: RequestFilterInput) { dataSubjectRequests(filter: $f, first: 50) { totalCount edges { node { tenantId kind state } } } }";
    let all = app.gql(&po, QUEUE, json!({})).await;
    assert_eq!(all.ok()["dataSubjectRequests"]["totalCount"], 3);
    let open = app
        .gql(&po, QUEUE, json!({ "f": { "state": "RECEIVED" } }))
        .await;
    assert_eq!(open.ok()["dataSubjectRequests"]["totalCount"], 2);
    let soon = app
        .gql(&po, QUEUE, json!({ "f": { "dueWithinDays": 31 } }))
        .await;
    assert_eq!(
        soon.ok()["dataSubjectRequests"]["totalCount"],
        1,
        "the erasure is due in 6 weeks"
    );
    app.gql(&admin, QUEUE, json!({})).await.ok();
    let own = app.gql(&admin, QUEUE, json!({})).await;
    assert_eq!(
        own.ok()["dataSubjectRequests"]["totalCount"],
        2,
        "clients see their own"
    );
    // Support sees request status across tenants (never values); an auditor has no business here.
    let seen = app.gql(&support, QUEUE, json!({})).await;
    assert_eq!(seen.ok()["dataSubjectRequests"]["totalCount"], 3);
    let auditor = app.staff_with("aud", "AUDITOR").await;
    app.gql(&auditor, QUEUE, json!({}))
        .await
        .expect_code("FORBIDDEN");
    // Overdue: a request whose due date passed (set in the database, as time would).
    let db = app.raw_db("eu").await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE dsr_requests SET due_on = '2026-01-05' WHERE kind = 'erasure' AND tenant_id = {}",
        steward_tests::stored_uuid(&app, &t)
    ))
    .await
    .unwrap();
    let overdue = app
        .gql(&po, QUEUE, json!({ "f": { "overdue": true } }))
        .await;
    let overdue = &overdue.ok()["dataSubjectRequests"];
    assert_eq!(overdue["totalCount"], 1);
    assert_eq!(overdue["edges"][0]["node"]["kind"], "ERASURE");
}

async fn concurrent_transitions_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Race Co", "us").await;
    let admin = app.invite(&t, "race-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "race-1", "r@example.com", "Rae").await;
    for round in 0..3 {
        let (id, v) = submit(&app, &admin, &s, "OBJECTION").await;
        let vars = json!({ "t": t, "id": id, "v": v });
        let q = if round == 2 { reject() } else { start() };
        let vars2 = if round == 2 {
            json!({ "t": t, "id": id, "v": v, "r": "duplicate" })
        } else {
            vars.clone()
        };
        let first = start();
        let (a, b) = tokio::join!(app.gql(&po, &first, vars), app.gql(&po, &q, vars2));
        let codes: Vec<Option<&str>> = vec![a.code(), b.code()];
        assert_eq!(
            codes.iter().filter(|c| c.is_none()).count(),
            1,
            "exactly one wins: {codes:?}"
        );
        assert!(
            codes
                .iter()
                .any(|c| matches!(c, Some("CONFLICT") | Some("BAD_USER_INPUT"))),
            "{codes:?}"
        );
        let now = app.gql(&po, GET, json!({ "t": t, "id": id })).await;
        assert_eq!(now.ok()["dataSubjectRequest"]["version"], 2);
    }
}

/// (webhook sub-processor id, manual sub-processor id).
async fn two_recipients(
    app: &TestApp,
    legal: &str,
    tenant: &str,
    subject: &str,
) -> (String, String) {
    let hook = propose(
        app,
        legal,
        sp(
            "Mailhook",
            &["DE"],
            &["user.contact.email", "user.name"],
            &[],
        ),
    )
    .await;
    let manual = propose(app, legal, sp("Papertrail", &["FR"], &["user.name"], &[])).await;
    activate(app, legal, &hook).await;
    activate(app, legal, &manual).await;
    const TRANSFER: &str =
        "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }";
    for (sp, cats) in [
        (&hook, vec!["user.contact.email", "user.name"]),
        (&manual, vec!["user.name"]),
    ] {
        app.gql(legal, TRANSFER, json!({ "i": { "tenantId": tenant, "subProcessorId": sp, "categories": cats, "purpose": "essential.service", "subjectIds": [subject] } }))
            .await
            .ok();
    }
    (hook, manual)
}

const SET_ENDPOINT: &str = "mutation($id: ID!, $e: String) { setSubProcessorErasureEndpoint(id: $id, endpoint: $e) { endpoint signingSecret subProcessor { erasureMethod } } }";

async fn erasure_is_provable_and_propagated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let region = "eu";
    let t = app.create_tenant("Erase Co", region).await;
    let admin = app.invite(&t, "er-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let planted_email = "planted.erasure.7731@example.com";
    let planted_external = "ext-erase-7731";
    let s = subject(
        &app,
        &admin,
        planted_external,
        planted_email,
        "Plantagenet Erasmus",
    )
    .await;
    let keep = subject(&app, &admin, "keeper", "keeper@example.com", "Kept Person").await;
    let (hook, manual) = two_recipients(&app, &legal, &t, &s).await;

    // The webhook must be https (http only on loopback); legal only.
    let sink = WebhookSink::start(vec![500]).await;
    for bad in [
        "http://example.com/erase",
        "ftp://127.0.0.1/x",
        "not a url",
        "https://user:pw@example.com/x",
    ] {
        app.gql(&legal, SET_ENDPOINT, json!({ "id": hook, "e": bad }))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    app.gql(&po, SET_ENDPOINT, json!({ "id": hook, "e": sink.url }))
        .await
        .expect_code("FORBIDDEN");
    let set = app
        .gql(&legal, SET_ENDPOINT, json!({ "id": hook, "e": sink.url }))
        .await;
    let set = &set.ok()["setSubProcessorErasureEndpoint"];
    assert_eq!(set["subProcessor"]["erasureMethod"], "webhook");
    let secret = set["signingSecret"].as_str().unwrap().to_owned();

    // What must be gone afterwards: the wrapped data key (in the region's subject-key database) and sealed values,
    // as stored.
    let db = app.raw_db(region).await;
    let keys_db = app.raw_db(&format!("keys-{region}")).await;
    let stored = steward_tests::stored_uuid(&app, &s);
    use sea_orm::{ConnectionTrait, Statement};
    let key_row = keys_db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT wrapped_key FROM subject_keys WHERE subject_id = {stored}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let wrapped: Vec<u8> = key_row.try_get("", "wrapped_key").unwrap();
    let sealed_rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT sealed_value FROM personal_data WHERE subject_id = {stored}"),
        ))
        .await
        .unwrap();
    let sealed: Vec<Vec<u8>> = sealed_rows
        .iter()
        .map(|r| r.try_get("", "sealed_value").unwrap())
        .collect();
    assert_eq!(sealed.len(), 2);
    assert!(
        app.database_contains_bytes(&format!("keys-{region}"), &wrapped)
            .await,
        "the scan finds what is there"
    );

    let (id, v) = submit(&app, &admin, &s, "ERASURE").await;
    let started = step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    // Not done until the job ran.
    let early = app
        .gql(
            &po,
            &complete(),
            json!({ "t": t, "id": id, "v": started["version"] }),
        )
        .await;
    assert_eq!(
        early.body["errors"][0]["extensions"]["reason"],
        "ERASURE_PENDING"
    );

    // The job erases in one transaction and queues the webhook delivery, which fails once (HTTP 500).
    assert!(app.run_jobs().await >= 1);
    let now = app.gql(&admin, GET, json!({ "id": id })).await;
    let r = &now.ok()["dataSubjectRequest"];
    assert_eq!(r["erasure"]["valuesErased"], 2);
    assert_eq!(r["erasure"]["dataKeyDestroyed"], true);
    let props = r["propagations"].as_array().unwrap();
    assert_eq!(props.len(), 2, "one per recipient: {props:?}");
    let by_name = |n: &str| {
        props
            .iter()
            .find(|p| p["subProcessor"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("Mailhook")["method"], "WEBHOOK");
    assert_eq!(by_name("Mailhook")["state"], "PENDING");
    assert_eq!(by_name("Mailhook")["attempts"], 1);
    assert!(
        by_name("Mailhook")["lastError"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    assert_eq!(by_name("Papertrail")["method"], "MANUAL");
    let version = r["version"].clone();
    let open = app
        .gql(&po, &complete(), json!({ "t": t, "id": id, "v": version }))
        .await;
    assert_eq!(
        open.body["errors"][0]["extensions"]["reason"],
        "PROPAGATION_OPEN"
    );

    // Legal rotates the endpoint's secret before the retry (manual endpoints have none to rotate).
    let rotated = app
        .gql(
            &legal,
            "mutation($id: ID!) { rotateSubProcessorErasureSecret(id: $id) { signingSecret previousSecretValidUntil } }",
            json!({ "id": hook }),
        )
        .await;
    let rotated = rotated.ok()["rotateSubProcessorErasureSecret"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, secret);
    app.gql(
        &legal,
        "mutation($id: ID!) { rotateSubProcessorErasureSecret(id: $id) { signingSecret } }",
        json!({ "id": manual }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    // The retry after the backoff succeeds; the delivery was signed with the shared secret.
    assert_eq!(app.run_jobs().await, 0, "backing off");
    app.run_jobs_at(Utc::now() + Duration::minutes(5)).await;
    let received = sink.received();
    assert_eq!(received.len(), 2);
    let delivery = &received[1];
    // As the sub-processor verifies it: the Standard Webhooks reference library, the secret legal handed over (and,
    // within the day's overlap after legal rotated it, the new one too). The retry carries the same `webhook-id` as
    // the first attempt, so the receiver can tell it is the same request.
    let body = steward_tests::standard_webhooks_verify(&secret, delivery).expect("verifies");
    steward_tests::standard_webhooks_verify(&rotated, delivery)
        .expect("the rotated secret verifies");
    assert_eq!(
        delivery.headers["webhook-id"],
        received[0].headers["webhook-id"]
    );
    assert_eq!(body["subject_id"], s.as_str());
    assert!(!delivery.body.contains(planted_email));

    // The manual one needs a named person's confirmation.
    let manual_id = by_name("Papertrail")["id"].as_str().unwrap().to_owned();
    const CONFIRM: &str = "mutation($t: ID, $id: ID!, $by: String!) { confirmErasurePropagation(tenantId: $t, id: $id, confirmedBy: $by, note: \"ticket PT-9\") { state confirmedBy recordedBy } }";
    app.gql(&po, CONFIRM, json!({ "t": t, "id": manual_id, "by": "" }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&admin, CONFIRM, json!({ "id": manual_id, "by": "Me" }))
        .await
        .expect_code("FORBIDDEN");
    let confirmed = app
        .gql(
            &po,
            CONFIRM,
            json!({ "t": t, "id": manual_id, "by": "Jane Roe, Papertrail DPO" }),
        )
        .await;
    assert_eq!(
        confirmed.ok()["confirmErasurePropagation"]["state"],
        "CONFIRMED"
    );
    app.gql(
        &po,
        CONFIRM,
        json!({ "t": t, "id": manual_id, "by": "Again" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");

    let now = app.gql(&admin, GET, json!({ "id": id })).await;
    let r = &now.ok()["dataSubjectRequest"];
    let hook_state = r["propagations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["subProcessor"] == "Mailhook")
        .unwrap()
        .clone();
    assert_eq!(hook_state["state"], "ACKNOWLEDGED");
    assert_eq!(hook_state["reference"], "SP-ERASE-0001");
    let done = step(
        &app,
        &po,
        &complete(),
        json!({ "t": t, "id": id, "v": r["version"] }),
    )
    .await;
    assert_eq!(done["state"], "COMPLETED");

    // The certificate verifies with the published key.
    const CERT: &str = "query($r: ID!) { erasureCertificate(requestId: $r) { document signature publicKey algorithm } }";
    let cert = app.gql(&admin, CERT, json!({ "r": id })).await;
    let cert = &cert.ok()["erasureCertificate"];
    let published = app.get("/.well-known/steward-signing-key.json").await;
    assert_eq!(published.body["public_key"], cert["publicKey"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_bytes: [u8; 32] = b64
        .decode(cert["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sig_bytes: [u8; 64] = b64
        .decode(cert["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).unwrap();
    let document = cert["document"].as_str().unwrap();
    key.verify(
        document.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig_bytes),
    )
    .expect("certificate signature verifies");
    let mut forged = document.replace("\"values_erased\":2", "\"values_erased\":3");
    assert_ne!(forged, document);
    assert!(
        key.verify(
            forged.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&sig_bytes)
        )
        .is_err()
    );
    forged.clear();
    let doc: Value = serde_json::from_str(document).unwrap();
    assert_eq!(
        doc["counts_by_category"],
        json!({ "user.contact.email": 1, "user.name": 1 })
    );
    assert_eq!(doc["type"], "steward.erasure-certificate/v2");
    let certified = |name: &str| {
        doc["propagations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sub_processor"] == name)
            .unwrap()
            .clone()
    };
    // Where the webhook went, the id the sub-processor received it under, and that its 2xx is a receipt.
    let hooked = certified("Mailhook");
    assert_eq!(hooked["endpoint"], sink.url.as_str());
    assert_eq!(
        hooked["webhook_id"],
        received[0].headers["webhook-id"].to_str().unwrap()
    );
    assert!(
        hooked["acknowledgement"]
            .as_str()
            .unwrap()
            .starts_with("receipt")
    );
    let by_hand = certified("Papertrail");
    assert_eq!(by_hand["endpoint"], Value::Null);
    assert_eq!(by_hand["webhook_id"], Value::Null);
    assert_eq!(by_hand["confirmed_by"], "Jane Roe, Papertrail DPO");
    // Read from the database when asked: the subject's row (where its key was wrapped) is gone, and every recipient
    // answered (completion waits for that).
    assert_eq!(doc["data_key_destroyed"], true);
    assert_eq!(doc["final"], true);
    assert!(
        doc["audit_events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "subject.erased")
    );
    let again = app.gql(&admin, CERT, json!({ "r": id })).await;
    assert_eq!(
        again.ok()["erasureCertificate"]["document"],
        cert["document"],
        "deterministic"
    );

    // Nothing of the person is left: not the value, not the external id, not the key or sealed bytes.
    app.gql(
        &admin,
        "query($id: ID!) { dataSubject(id: $id) { id } }",
        json!({ "id": s }),
    )
    .await
    .expect_code("NOT_FOUND");
    assert!(!app.database_contains(region, planted_email).await);
    assert!(!app.database_contains(region, planted_external).await);
    assert!(
        !app.database_contains_bytes(&format!("keys-{region}"), &wrapped)
            .await,
        "the data key is gone"
    );
    for bytes in &sealed {
        assert!(
            !app.database_contains_bytes(region, bytes).await,
            "sealed values are gone"
        );
    }
    assert_eq!(
        app.count(
            region,
            "erasure_tombstones",
            &format!("subject_id = {stored}")
        )
        .await,
        1
    );
    // Erased exactly once, and the other subject is untouched.
    assert_eq!(
        app.count(region, "audit_events", "action = 'subject.erased'")
            .await,
        1
    );
    // The completion notice is delivered; then nothing runs again, a day later either.
    app.run_jobs().await;
    assert_eq!(app.run_jobs_at(Utc::now() + Duration::days(1)).await, 0);
    app.gql(
        &admin,
        "query($id: ID!) { dataSubject(id: $id) { id } }",
        json!({ "id": keep }),
    )
    .await
    .ok();
    // The audit chain still verifies and names nobody.
    let verify = app
        .gql(
            &auditor,
            "query($t: ID) { verifyAuditChain(tenantId: $t) { valid } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(verify.ok()["verifyAuditChain"]["valid"], true);
    let events = app
        .gql(&auditor, "query($t: ID) { auditEvents(tenantId: $t, first: 100) { edges { node { action detail } } } }", json!({ "t": t }))
        .await;
    let text = events.ok().to_string();
    for needle in [planted_email, planted_external, "Plantagenet"] {
        assert!(!text.contains(needle), "audit chain mentions {needle}");
    }
    // A completed erasure cannot be rejected or completed again.
    app.gql(
        &po,
        &reject(),
        json!({ "t": t, "id": id, "v": done["version"], "r": "no" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
}

/// Each delivery attempt goes where the sub-processor takes requests *then*: an endpoint moved between attempts gets
/// the retry, signed with its new secret; an entry turned to manual turns its open propagation manual, for a person to
/// send and confirm.
async fn a_retry_follows_the_sub_processors_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Moving Co", "eu").await;
    let admin = app.invite(&t, "mv-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("mv-po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("mv-lex", "LEGAL").await;
    let s = subject(&app, &admin, "mv-1", "mover.one@example.com", "Mover One").await;
    let s2 = subject(&app, &admin, "mv-2", "mover.two@example.com", "Mover Two").await;
    let (hook, _manual) = two_recipients(&app, &legal, &t, &s).await;
    app.gql(&legal, "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }",
        json!({ "i": { "tenantId": t, "subProcessorId": hook, "categories": ["user.name"], "purpose": "essential.service", "subjectIds": [s2] } }))
        .await
        .ok();
    let old = WebhookSink::start(vec![500, 500, 500]).await;
    let new = WebhookSink::start(vec![]).await;
    app.gql(&legal, SET_ENDPOINT, json!({ "id": hook, "e": old.url }))
        .await
        .ok();
    let mailhook = |r: &Value| {
        r["propagations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["subProcessor"] == "Mailhook")
            .unwrap()
            .clone()
    };

    // The first attempt fails at the old endpoint; legal moves it; the retry goes to the new one.
    let (id, v) = submit(&app, &admin, &s, "ERASURE").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    app.run_jobs().await;
    assert_eq!(old.received().len(), 1);
    let moved = app
        .gql(&legal, SET_ENDPOINT, json!({ "id": hook, "e": new.url }))
        .await;
    let new_secret = moved.ok()["setSubProcessorErasureEndpoint"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_jobs_at(Utc::now() + Duration::minutes(5)).await;
    assert_eq!(old.received().len(), 1, "nothing more to the old endpoint");
    let retried = new.received();
    assert_eq!(retried.len(), 1);
    let body = steward_tests::standard_webhooks_verify(&new_secret, &retried[0])
        .expect("signed with the new endpoint's secret");
    assert_eq!(body["subject_id"], s.as_str());
    assert_eq!(
        retried[0].headers["webhook-id"],
        old.received()[0].headers["webhook-id"],
        "the same message"
    );
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    assert_eq!(
        mailhook(&r.ok()["dataSubjectRequest"])["state"],
        "ACKNOWLEDGED"
    );
    // The audit records where legal pointed it, each time.
    let moved_to = app
        .count(
            "control",
            "platform_audit_events",
            &format!(
                "action = 'subprocessor.erasure_endpoint_set' AND detail LIKE '%{}%'",
                new.url
            ),
        )
        .await;
    assert_eq!(moved_to, 1);

    // The next erasure fails at the new endpoint; legal turns the entry to manual; the retry turns it manual.
    let failing = WebhookSink::start(vec![500]).await;
    app.gql(
        &legal,
        SET_ENDPOINT,
        json!({ "id": hook, "e": failing.url }),
    )
    .await
    .ok();
    let (id2, v2) = submit(&app, &admin, &s2, "ERASURE").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id2, "v": v2 })).await;
    app.run_jobs().await;
    assert_eq!(failing.received().len(), 1);
    app.gql(&legal, SET_ENDPOINT, json!({ "id": hook, "e": null }))
        .await
        .ok();
    app.run_jobs_at(Utc::now() + Duration::minutes(5)).await;
    assert_eq!(failing.received().len(), 1, "no webhook any more");
    let r = app.gql(&admin, GET, json!({ "id": id2 })).await;
    let p = mailhook(&r.ok()["dataSubjectRequest"]);
    assert_eq!(p["method"], "MANUAL");
    assert_eq!(p["state"], "PENDING");
    assert!(p["lastError"].as_str().unwrap().contains("by hand"), "{p}");
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action = 'erasure.propagation_manual'"
        )
        .await,
        1
    );
    // No job left to run for it, and a person can confirm it.
    assert_eq!(app.run_jobs_at(Utc::now() + Duration::hours(2)).await, 0);
    app.gql(
        &po,
        "mutation($t: ID, $id: ID!) { confirmErasurePropagation(tenantId: $t, id: $id, confirmedBy: \"Mo Ver, Mailhook DPO\") { state } }",
        json!({ "t": t, "id": p["id"] }),
    )
    .await
    .ok();
    // The certificate says what settled it — a person's confirmation, not a webhook's receipt — and how many
    // attempts the webhook had.
    let r = app.gql(&admin, GET, json!({ "id": id2 })).await;
    let version = r.ok()["dataSubjectRequest"]["version"].clone();
    step(
        &app,
        &po,
        &complete(),
        json!({ "t": t, "id": id2, "v": version }),
    )
    .await;
    let cert = app
        .gql(
            &admin,
            "query($r: ID!) { erasureCertificate(requestId: $r) { document } }",
            json!({ "r": id2 }),
        )
        .await;
    let doc: Value = serde_json::from_str(
        cert.ok()["erasureCertificate"]["document"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let certified = &doc["propagations"][0];
    assert_eq!(certified["state"], "confirmed", "{certified}");
    assert_eq!(certified["acknowledgement"], "confirmed by a named person");
    assert_eq!(certified["attempts"], 1);
    assert_eq!(certified["confirmed_by"], "Mo Ver, Mailhook DPO");
}

async fn restriction_and_rectification(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Restrict Co", "us").await;
    let admin = app.invite(&t, "rs-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let s = subject(&app, &admin, "rs-1", "old@example.com", "Ron Old").await;
    const READ: &str = "query($id: ID!) { dataSubject(id: $id) { id restrictedSince personalData { id category value } } }";
    let read = app.gql(&admin, READ, json!({ "id": s })).await;
    let records = read.ok()["dataSubject"]["personalData"]
        .as_array()
        .unwrap()
        .clone();
    let email_record = records
        .iter()
        .find(|r| r["category"] == "user.contact.email")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Restriction takes effect when work starts: values withheld from everyone, no new data, no transfers.
    let (id, v) = submit(&app, &admin, &s, "RESTRICTION").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    let read = app.gql(&admin, READ, json!({ "id": s })).await;
    read.expect_code("FORBIDDEN");
    assert!(read.body["data"]["dataSubject"]["restrictedSince"].is_string());
    assert!(read.body["data"]["dataSubject"]["personalData"][0]["value"].is_null());
    let add = app
        .gql(&admin, "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }", json!({ "i": { "subjectId": s, "category": "user.contact.phone_number", "value": "+1 555 0100", "purpose": "essential.service", "source": "form" } }))
        .await;
    assert_eq!(
        add.body["errors"][0]["extensions"]["reason"],
        "SUBJECT_RESTRICTED"
    );
    let hook = propose(
        &app,
        &legal,
        sp(
            "RestrictMail",
            &["US"],
            &["user.contact.email"],
            &["eu_scc_2021"],
        ),
    )
    .await;
    activate(&app, &legal, &hook).await;
    let transfer = app
        .gql(&legal, "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }", json!({ "i": { "tenantId": t, "subProcessorId": hook, "categories": ["user.contact.email"], "purpose": "essential.service", "subjectIds": [s], "mechanism": "eu_scc_2021" } }))
        .await;
    assert_eq!(
        transfer.body["errors"][0]["extensions"]["reason"],
        "SUBJECT_RESTRICTED"
    );
    let done = step(
        &app,
        &po,
        &complete(),
        json!({ "t": t, "id": id, "v": v + 1 }),
    )
    .await;
    assert_eq!(done["state"], "COMPLETED");
    app.gql(&admin, READ, json!({ "id": s }))
        .await
        .expect_code("FORBIDDEN");
    // Lifted by the client: readable again; lifting twice is refused.
    const LIFT: &str =
        "mutation($s: ID!, $r: String!) { liftRestriction(subjectId: $s, reason: $r) }";
    app.gql(&po, LIFT, json!({ "s": s, "r": "x" }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&admin, LIFT, json!({ "s": s, "r": "" }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&admin, LIFT, json!({ "s": s, "r": "accuracy confirmed" }))
        .await
        .ok();
    app.gql(&admin, READ, json!({ "id": s })).await.ok();
    let twice = app.gql(&admin, LIFT, json!({ "s": s, "r": "again" })).await;
    assert_eq!(
        twice.body["errors"][0]["extensions"]["reason"],
        "NOT_RESTRICTED"
    );

    // Rectification through a request: validated at submit, applied at completion, before/after kept sealed.
    for (rec, value, code) in [
        (s.as_str(), "new@example.com", "NOT_FOUND"),
        (email_record.as_str(), "not-an-email", "BAD_USER_INPUT"),
    ] {
        app.gql(&admin, SUBMIT, json!({ "i": { "subjectId": s, "kind": "RECTIFICATION", "rectifications": [{ "recordId": rec, "value": value }] } }))
            .await
            .expect_code(code);
    }
    let reply = app
        .gql(&admin, SUBMIT, json!({ "i": { "subjectId": s, "kind": "RECTIFICATION", "rectifications": [{ "recordId": email_record, "value": "new@example.com" }] } }))
        .await;
    let id = id_of(reply.ok(), "submitDataSubjectRequest");
    assert!(
        !app.database_contains("us", "new@example.com").await,
        "the requested value is stored sealed"
    );
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": 1 })).await;
    step(&app, &po, &complete(), json!({ "t": t, "id": id, "v": 2 })).await;
    let read = app.gql(&admin, READ, json!({ "id": s })).await;
    let values: Vec<Value> = read.ok()["dataSubject"]["personalData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].clone())
        .collect();
    assert!(values.contains(&json!("new@example.com")));
    assert!(!values.contains(&json!("old@example.com")));
    const LOG: &str =
        "query($t: ID, $id: ID!) { dataSubjectRequest(tenantId: $t, id: $id) { rectification } }";
    let log = app.gql(&admin, LOG, json!({ "id": id })).await;
    let log = &log.ok()["dataSubjectRequest"]["rectification"][0];
    assert_eq!(log["before"], "old@example.com");
    assert_eq!(log["after"], "new@example.com");
    app.gql(&po, LOG, json!({ "t": t, "id": id }))
        .await
        .expect_code("FORBIDDEN");
    // Restricted again, the subject's before/after values are withheld like every other value.
    let (rid, rv) = submit(&app, &admin, &s, "RESTRICTION").await;
    step(&app, &po, &start(), json!({ "t": t, "id": rid, "v": rv })).await;
    let withheld = app.gql(&admin, LOG, json!({ "id": id })).await;
    withheld.expect_code("FORBIDDEN");
    assert!(!withheld.body.to_string().contains("old@example.com"));
    assert!(!withheld.body.to_string().contains("new@example.com"));
    app.gql(&admin, LIFT, json!({ "s": s, "r": "checked" }))
        .await
        .ok();
    assert!(
        !app.database_contains("us", "old@example.com").await,
        "the old value is not kept in clear"
    );
    // The new value is found by its blind index.
    let found = app
        .gql(
            &admin,
            "query { dataSubjects(email: \"NEW@example.com\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(found.ok()["dataSubjects"]["totalCount"], 1);
}

async fn childrens_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Kids Co", "eu").await;
    let admin = app.invite(&t, "kid-admin", "CLIENT_ADMIN").await;
    let years_ago = |y: i32| {
        let d = today();
        NaiveDate::from_ymd_opt(d.year_ce().1 as i32 - y, d.month(), 1).unwrap()
    };
    use chrono::Datelike;
    let eleven = years_ago(11).to_string();
    let fifteen = years_ago(15).to_string();
    let before = app.count("eu", "data_subjects", "1=1").await;

    // Under 13: refused whole, nothing stored.
    let child = app
        .gql(&admin, CREATE, json!({ "i": { "externalId": "kid-1", "birthDate": eleven, "personalData": [record("user.name", "Tiny Tim")] } }))
        .await;
    child.expect_code("BAD_USER_INPUT");
    assert_eq!(
        child.body["errors"][0]["extensions"]["reason"],
        "CHILD_UNDER_13"
    );
    // 13-17: data only with a guardian's consent.
    let teen = app
        .gql(&admin, CREATE, json!({ "i": { "externalId": "teen-1", "birthDate": fifteen, "personalData": [record("user.name", "Tess Teen")] } }))
        .await;
    assert_eq!(
        teen.body["errors"][0]["extensions"]["reason"],
        "GUARDIAN_CONSENT_REQUIRED"
    );
    assert_eq!(app.count("eu", "data_subjects", "1=1").await, before);
    let consent = json!({ "guardian": "Gina Guardian", "method": "written", "givenAt": "2026-01-10T09:00:00Z" });
    let bad = app
        .gql(&admin, CREATE, json!({ "i": { "externalId": "teen-1", "birthDate": fifteen, "personalData": [record("user.name", "Tess Teen")], "guardianConsent": { "guardian": "G", "method": "telepathy", "givenAt": "2026-01-10T09:00:00Z" } } }))
        .await;
    bad.expect_code("BAD_USER_INPUT");
    let ok = app
        .gql(&admin, CREATE, json!({ "i": { "externalId": "teen-1", "birthDate": fifteen, "personalData": [record("user.name", "Tess Teen")], "guardianConsent": consent } }))
        .await;
    ok.ok();
    assert!(
        !app.database_contains("eu", "Gina Guardian").await,
        "who consented is sealed"
    );
    // A teen created without data needs consent before data is added.
    let bare = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "externalId": "teen-2", "birthDate": fifteen } }),
        )
        .await;
    let bare = id_of(bare.ok(), "createDataSubject");
    const ADD: &str = "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }";
    let add = json!({ "i": { "subjectId": bare, "category": "user.name", "value": "Tom Teen", "purpose": "essential.service", "source": "form" } });
    let refused = app.gql(&admin, ADD, add.clone()).await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "GUARDIAN_CONSENT_REQUIRED"
    );
    const CONSENT: &str = "mutation($i: RecordGuardianConsentInput!) { recordGuardianConsent(input: $i) { id method } }";
    app.gql(&admin, CONSENT, json!({ "i": { "subjectId": bare, "consent": { "guardian": "Gus", "method": "in_person", "givenAt": "2099-01-01T00:00:00Z" } } }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&admin, CONSENT, json!({ "i": { "subjectId": bare, "consent": { "guardian": "Gus", "method": "in_person", "givenAt": "2026-02-01T00:00:00Z" } } }))
        .await
        .ok();
    app.gql(&admin, ADD, add).await.ok();

    // An adult the client learns is under 13: erasure raised at once, new data refused, then erased.
    let adult = subject(&app, &admin, "adult-1", "kid@example.com", "Kid Known").await;
    let adult_plain = subject(&app, &admin, "adult-2", "a2@example.com", "Adam").await;
    app.gql(
        &admin,
        CONSENT,
        json!({ "i": { "subjectId": adult_plain, "consent": consent } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let flagged = app
        .gql(&admin, "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { knownUnder13 } }", json!({ "i": { "id": adult, "knownUnder13": true } }))
        .await;
    assert_eq!(flagged.ok()["updateDataSubject"]["knownUnder13"], true);
    let raised = app
        .gql(&admin, "query($s: ID) { dataSubjectRequests(filter: { subjectId: $s }) { edges { node { id kind origin state clockBasis } } } }", json!({ "s": adult }))
        .await;
    let node = &raised.ok()["dataSubjectRequests"]["edges"][0]["node"];
    assert_eq!(node["kind"], "ERASURE");
    assert_eq!(node["origin"], "CHILD_UNDER_13");
    assert_eq!(node["state"], "IN_PROGRESS");
    let refused = app
        .gql(&admin, ADD, json!({ "i": { "subjectId": adult, "category": "user.name", "value": "More", "purpose": "essential.service", "source": "form" } }))
        .await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "CHILD_UNDER_13"
    );
    let unflag = app
        .gql(&admin, "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { knownUnder13 } }", json!({ "i": { "id": adult, "knownUnder13": false } }))
        .await;
    assert_eq!(
        unflag.body["errors"][0]["extensions"]["reason"],
        "CHILD_UNDER_13"
    );
    // Setting it again raises nothing new.
    app.gql(
        &admin,
        "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { knownUnder13 } }",
        json!({ "i": { "id": adult, "externalId": "adult-1b" } }),
    )
    .await
    .ok();
    assert_eq!(
        app.count("eu", "dsr_requests", "origin = 'child_under_13'")
            .await,
        1
    );
    app.run_jobs().await;
    app.gql(
        &admin,
        "query($id: ID!) { dataSubject(id: $id) { id } }",
        json!({ "id": adult }),
    )
    .await
    .expect_code("NOT_FOUND");
    assert!(!app.database_contains("eu", "kid@example.com").await);
    // A birth date under 13 given later does the same.
    let other = subject(&app, &admin, "adult-3", "a3@example.com", "Abe").await;
    app.gql(
        &admin,
        "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { knownUnder13 } }",
        json!({ "i": { "id": other, "birthDate": eleven } }),
    )
    .await
    .ok();
    assert_eq!(
        app.count("eu", "dsr_requests", "origin = 'child_under_13'")
            .await,
        2
    );
}

async fn reminders_overdue_and_export_expiry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Remind Co", "us").await;
    let admin = app.invite(&t, "rm-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "rm-1", "rm@example.com", "Remy").await;
    let (id, _) = submit(&app, &admin, &s, "PORTABILITY").await;
    // Paused and resumed the same day: the due date stays, and its reminders still come.
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": 1 })).await;
    step(
        &app,
        &po,
        &pause(),
        json!({ "t": t, "id": id, "v": 2, "r": "waiting for the controller" }),
    )
    .await;
    app.run_jobs().await;
    step(&app, &po, &resume(), json!({ "t": t, "id": id, "v": 3 })).await;
    let due = today() + Duration::days(30);
    let us = steward::deadlines::calendar("US", None).unwrap();
    // The reminder day: 5 business days before the due date.
    let mut remind_on = due;
    let mut left = 5;
    while left > 0 {
        remind_on -= Duration::days(1);
        if us.is_business_day(remind_on) {
            left -= 1;
        }
    }
    let at = |d: NaiveDate| d.and_hms_opt(9, 0, 0).unwrap().and_utc();
    const NOTICES: &str = "query { notices(first: 50) { edges { node { kind title } } } }";
    let kinds = |reply: &steward_tests::Reply| -> Vec<String> {
        reply.ok()["notices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    app.run_jobs_at(at(remind_on - Duration::days(1))).await;
    assert!(
        !kinds(&app.gql(&admin, NOTICES, json!({})).await).contains(&"request.reminder".to_owned())
    );
    app.run_jobs_at(at(remind_on)).await;
    app.run_jobs_at(at(remind_on) + Duration::hours(1)).await;
    let k = kinds(&app.gql(&admin, NOTICES, json!({})).await);
    assert_eq!(
        k.iter().filter(|k| *k == "request.reminder").count(),
        1,
        "{k:?}"
    );
    let staff = app
        .gql(
            &po,
            "{ staffNotices { kind tenantId objectId } }",
            json!({}),
        )
        .await;
    let staff = staff.ok()["staffNotices"].as_array().unwrap().clone();
    assert_eq!(
        staff
            .iter()
            .filter(|n| n["kind"] == "request.reminder")
            .count(),
        1
    );
    app.gql(&admin, "{ staffNotices { kind } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    // Overdue from the day after the due date, once.
    app.run_jobs_at(at(due)).await;
    assert!(
        !kinds(&app.gql(&admin, NOTICES, json!({})).await).contains(&"request.overdue".to_owned())
    );
    app.run_jobs_at(at(due + Duration::days(1))).await;
    app.run_jobs_at(at(due + Duration::days(2))).await;
    let k = kinds(&app.gql(&admin, NOTICES, json!({})).await);
    assert_eq!(
        k.iter().filter(|k| *k == "request.overdue").count(),
        1,
        "{k:?}"
    );

    // The export is deleted when its window ends.
    step(&app, &po, &complete(), json!({ "t": t, "id": id, "v": 4 })).await;
    const EXPORT: &str = "query($r: ID!) { subjectExport(requestId: $r) { document } }";
    app.gql(&admin, EXPORT, json!({ "r": id })).await.ok();
    app.gql(&admin, EXPORT, json!({ "r": id })).await.ok();
    let info = app.gql(&admin, GET, json!({ "id": id })).await;
    assert_eq!(info.ok()["dataSubjectRequest"]["export"]["downloads"], 2);
    assert_eq!(
        app.count("us", "audit_events", "action = 'export.downloaded'")
            .await,
        2
    );
    app.run_jobs_at(Utc::now() + Duration::days(6)).await;
    app.gql(&admin, EXPORT, json!({ "r": id })).await.ok();
    app.run_jobs_at(Utc::now() + Duration::days(8)).await;
    app.gql(&admin, EXPORT, json!({ "r": id }))
        .await
        .expect_code("NOT_FOUND");
    assert_eq!(app.count("us", "subject_exports", "1=1").await, 0);
}

/// A stored transfer whose categories cannot be read fails the erasure where privacy officers see it (a dead job),
/// and erases nothing: the recipients rule never guesses who received the data. Once the row is repaired, retrying
/// the job erases the subject and tells both recipients.
async fn a_corrupt_transfer_fails_the_erasure_loudly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Corrupt Co", "eu").await;
    let admin = app.invite(&t, "cr-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let s = subject(&app, &admin, "cr-1", "cr@example.com", "Cora Rupt").await;
    two_recipients(&app, &legal, &t, &s).await;
    let db = app.raw_db("eu").await;
    use sea_orm::ConnectionTrait;
    let set = |categories: &str| format!("UPDATE onward_transfers SET categories = '{categories}'");
    // JSON (PostgreSQL's `jsonb` refuses anything else), but not a list of categories.
    db.execute_unprepared(&set("{\"user.name\": true}"))
        .await
        .unwrap();

    let (id, v) = submit(&app, &admin, &s, "ERASURE").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    let mut when = Utc::now();
    for _ in 0..10 {
        app.run_jobs_at(when).await;
        when += Duration::hours(2);
    }
    const JOBS: &str = "{ jobs(state: DEAD) { id kind lastError } }";
    let dead = app.gql(&po, JOBS, json!({})).await.ok()["jobs"].clone();
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["kind"], "request.erase");
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    let r = &r.ok()["dataSubjectRequest"];
    assert_eq!(r["state"], "IN_PROGRESS");
    assert!(r["erasure"].is_null(), "nothing was erased: {r}");
    assert_eq!(r["propagations"], json!([]));
    let still = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubject(id: $id) { externalId } }",
            json!({ "id": s }),
        )
        .await;
    assert_eq!(still.ok()["dataSubject"]["externalId"], "cr-1");

    // Repaired, the retried job erases and tells both recipients.
    db.execute_unprepared(&set("[\"user.name\"]"))
        .await
        .unwrap();
    let job = dead[0]["id"].as_str().unwrap();
    app.gql(
        &po,
        "mutation($id: ID!) { retryJob(id: $id) { state } }",
        json!({ "id": job }),
    )
    .await
    .ok();
    app.run_jobs().await;
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    let r = &r.ok()["dataSubjectRequest"];
    assert_eq!(r["erasure"]["dataKeyDestroyed"], true, "{r}");
    assert_eq!(r["propagations"].as_array().unwrap().len(), 2, "{r}");
}
/// A state the server does not know (a hand edit, a newer build's value after a rollback) is never guessed: reading
/// the row is an internal error without the stored text, and the request is not quietly shown in another state.
async fn an_unknown_stored_state_is_an_error_not_a_guess(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Unknown State Co", "eu").await;
    let admin = app.invite(&t, "us-admin", "CLIENT_ADMIN").await;
    let s = subject(&app, &admin, "us-1", "us@example.com", "Una State").await;
    let (id, _) = submit(&app, &admin, &s, "ACCESS").await;
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    assert_eq!(r.ok()["dataSubjectRequest"]["state"], "RECEIVED");

    let db = app.raw_db("eu").await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE dsr_requests SET state = 'limbo-7'")
        .await
        .unwrap();
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    r.expect_code("INTERNAL");
    let text = r.body.to_string();
    assert!(!text.contains("limbo-7"), "the stored text leaked: {text}");
    assert!(!text.contains("RECEIVED"), "a guessed state: {text}");
    let list = app
        .gql(
            &admin,
            "{ dataSubjectRequests(first: 10) { edges { node { id state } } } }",
            json!({}),
        )
        .await;
    list.expect_code("INTERNAL");

    db.execute_unprepared("UPDATE dsr_requests SET state = 'received'")
        .await
        .unwrap();
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    assert_eq!(r.ok()["dataSubjectRequest"]["state"], "RECEIVED");
}

async fn dead_jobs_are_visible_and_retryable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Dead Co", "eu").await;
    let admin = app.invite(&t, "dj-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let s = subject(&app, &admin, "dj-1", "dj@example.com", "Dee").await;
    let (hook, _) = two_recipients(&app, &legal, &t, &s).await;
    // A loopback port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    app.gql(
        &legal,
        SET_ENDPOINT,
        json!({ "id": hook, "e": format!("http://127.0.0.1:{closed}/erase") }),
    )
    .await
    .ok();
    let (id, v) = submit(&app, &admin, &s, "ERASURE").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    let mut when = Utc::now();
    for _ in 0..10 {
        app.run_jobs_at(when).await;
        when += Duration::hours(2);
    }
    const JOBS: &str =
        "{ jobs(state: DEAD) { id kind state attempts maxAttempts lastError queue } }";
    let dead = app.gql(&po, JOBS, json!({})).await;
    let dead = dead.ok()["jobs"].as_array().unwrap().clone();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["state"], "DEAD");
    assert_eq!(dead[0]["kind"], "erasure.deliver");
    assert_eq!(dead[0]["attempts"], dead[0]["maxAttempts"]);
    assert!(
        dead[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
    let r = app.gql(&admin, GET, json!({ "id": id })).await;
    let hook_p = r.ok()["dataSubjectRequest"]["propagations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["method"] == "WEBHOOK")
        .unwrap()
        .clone();
    assert_eq!(hook_p["state"], "FAILED");
    let notices = app.gql(&po, "{ staffNotices { kind } }", json!({})).await;
    assert!(
        notices.ok()["staffNotices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "job.dead")
    );
    app.gql(&support, JOBS, json!({}))
        .await
        .expect_code("FORBIDDEN");
    const RETRY: &str = "mutation($id: ID!) { retryJob(id: $id) { state attempts } }";
    let job = dead[0]["id"].as_str().unwrap();
    let retried = app.gql(&po, RETRY, json!({ "id": job })).await;
    assert_eq!(retried.ok()["retryJob"]["state"], "QUEUED");
    app.gql(&po, RETRY, json!({ "id": job }))
        .await
        .expect_code("CONFLICT");
    app.gql(
        &po,
        RETRY,
        json!({ "id": uuid::Uuid::now_v7().to_string() }),
    )
    .await
    .expect_code("NOT_FOUND");
}

/// Two workers on the same queues take every job once (on PostgreSQL: `FOR UPDATE SKIP LOCKED`).
async fn parallel_workers_run_each_job_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Parallel Co", "us").await;
    let admin = app.invite(&t, "pw-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let n = 12;
    for i in 0..n {
        let s = subject(
            &app,
            &admin,
            &format!("pw-{i}"),
            &format!("pw{i}@example.com"),
            "P W",
        )
        .await;
        let (id, v) = submit(&app, &admin, &s, "ERASURE").await;
        step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    }
    let (a, b) = tokio::join!(app.run_jobs(), app.run_jobs());
    // Each erasure job once, plus the deadline jobs that only reschedule.
    assert!(a + b >= n, "{a} + {b}");
    assert_eq!(app.count("us", "erasure_tombstones", "1=1").await, n as i64);
    assert_eq!(
        app.count("us", "audit_events", "action = 'subject.erased'")
            .await,
        n as i64
    );
    assert_eq!(
        app.count("us", "jobs", "kind = 'request.erase' AND state = 'done'")
            .await,
        n as i64
    );
    let verify = app
        .gql(
            &auditor,
            "query($t: ID) { verifyAuditChain(tenantId: $t) { valid } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(verify.ok()["verifyAuditChain"]["valid"], true);
}

/// Every table that holds a subject's data is in the one erasure cascade (`api/src/erasure/mod.rs`). After an erasure no row
/// of any table with a `subject_id` column — found from the schema, so a table added later is covered without touching
/// this test — still names the subject, except the records that must (the tombstone, propagations, the requests, the
/// transfers and grants that named it, the staff access log, holds), and those keep nothing sealed.
async fn erasure_leaves_no_residue(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Residue Co", "eu").await;
    let admin = app.invite(&t, "res-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("res-po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("res-lex", "LEGAL").await;
    // A minor with a guardian's consent, values, a completed access request (its export), a rectification request
    // (its sealed payload), notes, and onward transfers naming it.
    let fifteen = {
        use chrono::Datelike;
        let d = today();
        NaiveDate::from_ymd_opt(d.year_ce().1 as i32 - 15, d.month(), 1)
            .unwrap()
            .to_string()
    };
    let teen = app
        .gql(&admin, CREATE, json!({ "i": { "externalId": "res-1", "birthDate": fifteen, "personalData": [record("user.name", "Rhea Residue"), record("user.contact.email", "rhea@residue.example")], "guardianConsent": { "guardian": "Gus Guardian", "method": "written", "givenAt": "2026-01-10T09:00:00Z" } } }))
        .await;
    let s = teen.ok()["createDataSubject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let name_record = teen.ok()["createDataSubject"]["personalData"][0]["id"].clone();
    two_recipients(&app, &legal, &t, &s).await;
    let access = app
        .gql(
            &admin,
            SUBMIT,
            json!({ "i": { "subjectId": s, "kind": "ACCESS", "note": "residue note one" } }),
        )
        .await;
    let access = access.ok()["submitDataSubjectRequest"]["id"].clone();
    step(&app, &po, &start(), json!({ "t": t, "id": access, "v": 1 })).await;
    step(
        &app,
        &po,
        &complete(),
        json!({ "t": t, "id": access, "v": 2 }),
    )
    .await;
    let rectification = app.gql(&admin, SUBMIT, json!({ "i": { "subjectId": s, "kind": "RECTIFICATION", "note": "residue note two", "rectifications": [{ "recordId": name_record, "value": "Rhea Corrected" }] } }))
        .await;
    let rectification = rectification.ok()["submitDataSubjectRequest"]["id"].clone();
    step(
        &app,
        &po,
        &extend(),
        json!({ "t": t, "id": rectification, "v": 1, "d": 5, "r": "residue reason" }),
    )
    .await;
    let db = app.raw_db("eu").await;
    let subject = steward_tests::stored_uuid(&app, &s);
    let rows =
        |table: &str| format!("SELECT count(*) AS n FROM \"{table}\" WHERE subject_id = {subject}");
    let count = |sql: String| {
        let db = &db;
        async move {
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    for table in ["personal_data", "guardian_consents", "subject_exports"] {
        assert!(
            count(rows(table)).await > 0,
            "the setup puts data in {table}"
        );
    }

    let (erasure, v) = submit(&app, &admin, &s, "ERASURE").await;
    step(
        &app,
        &po,
        &start(),
        json!({ "t": t, "id": erasure, "v": v }),
    )
    .await;
    assert!(app.run_jobs().await >= 1);

    let tables_sql = match app.backend {
        Backend::Sqlite => {
            "SELECT m.name AS t FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                            WHERE m.type = 'table' AND p.name = 'subject_id'"
        }
        Backend::Postgres(_) => {
            "SELECT table_name AS t FROM information_schema.columns \
                                 WHERE table_schema = 'public' AND column_name = 'subject_id'"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            tables_sql,
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect();
    assert!(tables.len() >= 7, "{tables:?}");
    const RECORDS: [&str; 7] = [
        "erasure_tombstones",
        "erasure_propagations",
        "dsr_requests",
        "onward_transfer_subjects",
        "access_grants",
        "access_logs",
        "legal_holds",
    ];
    for table in &tables {
        let left = count(rows(table)).await;
        if RECORDS.contains(&table.as_str()) {
            continue;
        }
        assert_eq!(left, 0, "{table} still holds rows of the erased subject");
    }
    assert_eq!(
        count(format!(
            "SELECT count(*) AS n FROM data_subjects WHERE id = {subject}"
        ))
        .await,
        0
    );
    assert_eq!(
        count(format!("SELECT count(*) AS n FROM dsr_requests WHERE subject_id = {subject} AND (payload_sealed IS NOT NULL OR note_sealed IS NOT NULL OR pause_reason_sealed IS NOT NULL OR extension_reason_sealed IS NOT NULL OR rejection_reason_sealed IS NOT NULL)")).await,
        0,
        "nothing sealed with the destroyed key is kept"
    );
    assert_eq!(
        count(rows("dsr_requests")).await,
        3,
        "the requests themselves stay, as records"
    );
}

/// Art. 12(3): an extension is decided within the first period and reaches at most three months after receipt. A
/// request whose deadline passed cannot be extended out of being overdue; an extension past three months (60
/// business days on an erasure would be about twelve weeks more) is refused; both change nothing.
async fn extensions_stop_at_the_deadline_and_at_three_months(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Extension Co", "eu").await;
    let admin = app.invite(&t, "ex-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "ex-1", "ex1@example.com", "Ed Extend").await;

    let (erasure, v) = submit(&app, &admin, &s, "ERASURE").await;
    let too_long = app
        .gql(
            &po,
            &extend(),
            json!({ "t": t, "id": erasure, "v": v, "d": 60, "r": "complex" }),
        )
        .await;
    assert_eq!(
        too_long.body["errors"][0]["extensions"]["reason"], "EXTENSION_TOO_LONG",
        "{:?}",
        too_long.body
    );
    let latest = chrono::Months::new(3);
    let latest = today().checked_add_months(latest).unwrap().to_string();
    let message = too_long.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&latest), "{message}");
    let unchanged = app.gql(&admin, GET, json!({ "id": erasure })).await;
    assert_eq!(unchanged.ok()["dataSubjectRequest"]["version"], v);
    let extended = step(
        &app,
        &po,
        &extend(),
        json!({ "t": t, "id": erasure, "v": v, "d": 10, "r": "complex" }),
    )
    .await;
    assert!(extended["dueOn"].as_str().unwrap() <= latest.as_str());

    // Overdue: the deadline passed (set in the database, as time would); it stays overdue.
    let (access, v) = submit(&app, &admin, &s, "ACCESS").await;
    let db = app.raw_db("eu").await;
    use sea_orm::ConnectionTrait;
    let past = today() - Duration::days(3);
    db.execute_unprepared(&format!(
        "UPDATE dsr_requests SET due_on = '{past}' WHERE id = {}",
        steward_tests::stored_uuid(&app, &access)
    ))
    .await
    .unwrap();
    let late = app
        .gql(
            &po,
            &extend(),
            json!({ "t": t, "id": access, "v": v, "d": 10, "r": "late" }),
        )
        .await;
    assert_eq!(
        late.body["errors"][0]["extensions"]["reason"],
        "DEADLINE_PASSED"
    );
    let still = app.gql(&admin, GET, json!({ "id": access })).await;
    let still = &still.ok()["dataSubjectRequest"];
    assert_eq!(still["overdue"], true);
    assert_eq!(still["dueOn"], past.to_string().as_str());
    assert_eq!(
        app.count("eu", "audit_events", "action = 'request.extended'")
            .await,
        1,
        "only the extension that was allowed is on the chain"
    );
}

both_backends!(
    erasure_leaves_no_residue,
    lifecycle_deadlines_and_idempotency,
    concurrent_transitions_conflict,
    erasure_is_provable_and_propagated,
    a_retry_follows_the_sub_processors_endpoint,
    restriction_and_rectification,
    childrens_data,
    reminders_overdue_and_export_expiry,
    dead_jobs_are_visible_and_retryable,
    a_corrupt_transfer_fails_the_erasure_loudly,
    an_unknown_stored_state_is_an_error_not_a_guess,
    parallel_workers_run_each_job_once,
    extensions_stop_at_the_deadline_and_at_three_months,
);

/// A value added while its subject is erased goes with it, never left behind as residue (its sealed value and blind
/// index, with no subject to find it by): the erasure takes the subject's row before it deletes the values, and adding
/// a value holds that row too. Staged on PostgreSQL with another session that holds the subject's row, as
/// `addPersonalData` does, and inserts the value while the erasure waits.
async fn a_value_added_during_an_erasure_goes_with_it(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Adding Co", "eu").await;
    let admin = app.invite(&t, "adding-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("adding-po", "PRIVACY_OFFICER").await;
    let subject =
        crate::personal::subject(&app, &admin, "adding-1", "adding@example.org", "Ada Adding")
            .await;
    let submitted = app
        .gql(
            &admin,
            SUBMIT,
            json!({ "i": { "subjectId": subject, "kind": "ERASURE" } }),
        )
        .await;
    let erasure = submitted.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(&po, &start(), json!({ "t": t, "id": erasure, "v": 1 }))
        .await
        .ok();

    let sid = steward_tests::stored_uuid(&app, subject.as_str());
    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "SELECT id FROM data_subjects WHERE id = {sid} FOR UPDATE; \
         CREATE TEMP TABLE added ON COMMIT DROP AS \
           SELECT * FROM personal_data WHERE subject_id = {sid} AND category = 'user.name'; \
         UPDATE added SET id = '{}'; \
         INSERT INTO personal_data SELECT * FROM added",
        uuid::Uuid::now_v7()
    ))
    .await
    .unwrap();
    let erase = app.run_jobs();
    tokio::pin!(erase);
    app.until_a_session_waits("eu", erase.as_mut()).await;
    held.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), erase)
        .await
        .expect("the erasure goes on once the subject's row is free");
    assert_eq!(
        app.count("eu", "personal_data", &format!("subject_id = {sid}"))
            .await,
        0,
        "a value added during the erasure was left behind"
    );
    assert_eq!(
        app.count("eu", "data_subjects", &format!("id = {sid}"))
            .await,
        0
    );
}

// PostgreSQL only: another session's row lock stages the race.
steward_tests::postgres_only!(a_value_added_during_an_erasure_goes_with_it);

/// The same race through `addPersonalData` itself: adding a value takes its subject's row before it inserts, so an
/// erasure that comes in meanwhile waits for the add and then erases the added value with the rest. Staged with
/// another session holding the subject's row against updates (as a request's transition does): the add queues on it
/// (without its own lock its insert would not wait, a key-share check passing beside that lock), then the erasure
/// behind it; once the row is free both go on.
async fn adding_a_value_holds_its_subject_against_an_erasure(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Adding Late Co", "eu").await;
    let admin = app.invite(&t, "late-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("late-po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "late-1", "late@example.org", "Lee Late").await;
    started(&app, (&admin, &po), &t, &s, "ERASURE").await;

    let sid = steward_tests::stored_uuid(&app, s.as_str());
    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "SELECT id FROM data_subjects WHERE id = {sid} FOR NO KEY UPDATE"
    ))
    .await
    .unwrap();
    let add = app.gql(
        &admin,
        "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }",
        json!({ "i": { "subjectId": s, "category": "user.contact.phone_number", "value": "+49 30 7654321",
            "purpose": "essential.service", "source": "form" } }),
    );
    tokio::pin!(add);
    app.until_a_session_waits("eu", add.as_mut()).await;
    let erase = app.run_jobs();
    tokio::pin!(erase);
    app.until_sessions_wait("eu", 2, erase.as_mut()).await;
    held.commit().await.unwrap();
    let limit = std::time::Duration::from_secs(20);
    let (added, erased) = tokio::join!(
        tokio::time::timeout(limit, add),
        tokio::time::timeout(limit, erase)
    );
    assert!(
        added.expect("the add finishes").ok()["addPersonalData"]["id"].is_string(),
        "the add, first in line for the subject's row, was refused"
    );
    erased.expect("the erasure finishes");
    assert_eq!(
        app.count("eu", "personal_data", &format!("subject_id = {sid}"))
            .await,
        0,
        "the value added before the erasure was left behind"
    );
}

steward_tests::postgres_only!(adding_a_value_holds_its_subject_against_an_erasure);

/// An erasure and a restriction of the same subject, started while the erasure runs, do not deadlock: each transaction
/// that writes a subject's requests takes the subject's row first, as the erasure does, so the restriction's start
/// waits for the erasure instead of holding the request row the erasure's cascade clears next (PostgreSQL would abort
/// one of them: the erasure's job, or the staff member's mutation). Staged with another session holding the subject's
/// values, so the erasure waits with the subject's row held; the start comes in behind it; then both go on.
async fn an_erasure_and_a_restriction_started_beside_it_do_not_deadlock(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Crossing Co", "eu").await;
    let admin = app.invite(&t, "crossing-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("crossing-po", "PRIVACY_OFFICER").await;
    let s = subject(
        &app,
        &admin,
        "crossing-1",
        "crossing@example.org",
        "Cris Crossing",
    )
    .await;
    let (restriction, _) = submit(&app, &admin, &s, "RESTRICTION").await;
    started(&app, (&admin, &po), &t, &s, "ERASURE").await;

    let sid = steward_tests::stored_uuid(&app, s.as_str());
    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "SELECT id FROM personal_data WHERE subject_id = {sid} FOR UPDATE"
    ))
    .await
    .unwrap();
    let erase = app.run_jobs();
    tokio::pin!(erase);
    app.until_a_session_waits("eu", erase.as_mut()).await;
    let start = start();
    let restrict = app.gql(&po, &start, json!({ "t": t, "id": restriction, "v": 1 }));
    tokio::pin!(restrict);
    app.until_sessions_wait("eu", 2, restrict.as_mut()).await;
    held.commit().await.unwrap();
    let limit = std::time::Duration::from_secs(20);
    let (erased, restricted) = tokio::join!(
        tokio::time::timeout(limit, erase),
        tokio::time::timeout(limit, restrict)
    );
    erased.expect("the erasure finishes");
    let restricted = restricted.expect("the start finishes");
    assert_eq!(
        restricted.ok()["startDataSubjectRequest"]["state"],
        "IN_PROGRESS",
        "the restriction's start failed"
    );
    assert_eq!(
        app.count(
            "eu",
            "jobs",
            "kind = 'request.erase' AND last_error IS NOT NULL"
        )
        .await,
        0,
        "the erasure's transaction was aborted"
    );
    assert_eq!(
        app.count("eu", "erasure_tombstones", &format!("subject_id = {sid}"))
            .await,
        1
    );
    assert_eq!(
        app.count("eu", "data_subjects", &format!("id = {sid}"))
            .await,
        0
    );
}

steward_tests::postgres_only!(an_erasure_and_a_restriction_started_beside_it_do_not_deadlock);

/// An erasure whose job came round while it was paused is carried out once resumed: the job ends without erasing a
/// paused request, so resuming queues it again (before, the request stayed in progress with no job, and completing it
/// was refused as "its job is queued" for ever).
async fn a_paused_erasure_is_carried_out_once_resumed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Pausing Co", "eu").await;
    let admin = app.invite(&t, "pausing-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("pausing-po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "pause-1", "paused@example.org", "Paul Paused").await;
    let id = started(&app, (&admin, &po), &t, &s, "ERASURE").await;
    step(
        &app,
        &po,
        &pause(),
        json!({ "t": t, "id": id, "v": 2, "r": "waiting for the controller's answer" }),
    )
    .await;
    app.run_jobs().await;
    let sid = steward_tests::stored_uuid(&app, &s);
    let this_one = format!("id = {sid}");
    let subjects = || app.count("eu", "data_subjects", &this_one);
    assert_eq!(subjects().await, 1, "the paused erasure ran");
    step(&app, &po, &resume(), json!({ "t": t, "id": id, "v": 3 })).await;
    app.run_jobs().await;
    assert_eq!(subjects().await, 0, "the resumed erasure did not run");
    assert_eq!(
        app.count("eu", "erasure_tombstones", &format!("subject_id = {sid}"))
            .await,
        1
    );
}

both_backends!(a_paused_erasure_is_carried_out_once_resumed);

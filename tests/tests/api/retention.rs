//! Retention over simulated time (the sweep takes the clock as an argument; nothing sleeps), rule precedence,
//! platform defaults, legal holds (for retention and for erasure), bounded batches and propagation of deletions.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::registry::{activate, propose, sp};
use crate::requests::SUBMIT;

const SET_RULE: &str = "mutation($i: RetentionRuleInput!) { setRetentionRule(input: $i) { id category purpose periodDays } }";
const PREVIEW: &str = "query($t: ID) { retentionPreview(tenantId: $t) { ruleId category purpose periodDays due held } }";
const HOLD: &str =
    "mutation($i: LegalHoldInput!) { placeLegalHold(input: $i) { id subjectIds liftedAt } }";
const LIFT: &str = "mutation($t: ID!, $id: ID!, $r: String!) { liftLegalHold(tenantId: $t, id: $id, reason: $r) { id liftedAt liftedBy } }";
const VALUES: &str =
    "query($id: ID!) { dataSubject(id: $id) { personalData { category purpose } } }";

fn value(category: &str, purpose: &str, text: &str, days_ago: i64) -> Value {
    json!({ "category": category, "value": text, "purpose": purpose, "source": "app",
            "collectedAt": (Utc::now() - Duration::days(days_ago)).to_rfc3339() })
}

async fn subject_with(app: &TestApp, admin: &str, external: &str, values: Vec<Value>) -> String {
    let reply = app
        .gql(
            admin,
            crate::personal::CREATE,
            json!({ "i": { "externalId": external, "personalData": values } }),
        )
        .await;
    reply.ok()["createDataSubject"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn kept(app: &TestApp, admin: &str, subject: &str) -> Vec<(String, String)> {
    let reply = app.gql(admin, VALUES, json!({ "id": subject })).await;
    let mut out: Vec<(String, String)> = reply.ok()["dataSubject"]["personalData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["category"].as_str().unwrap().to_owned(),
                v["purpose"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn sweep(app: &TestApp, at: DateTime<Utc>) -> u64 {
    steward::retention::sweep(app.state.tenancy(), at)
        .await
        .unwrap()
}

const IP: &str = "user.device.ip_address";
const EMAIL: &str = "user.contact.email";

async fn rules_holds_and_sweeps_over_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Retain Co", "eu").await;
    let admin = app.invite(&t, "ret-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "ret-viewer", "CLIENT_VIEWER").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let support = app.staff_with("sup", "SUPPORT").await;

    // Bad input changes nothing.
    for (input, code) in [
        (json!({ "category": IP, "periodDays": 0 }), "BAD_USER_INPUT"),
        (
            json!({ "category": IP, "periodDays": -5 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "category": "user.shoe_size", "periodDays": 30 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "purpose": "world_domination", "periodDays": 30 }),
            "BAD_USER_INPUT",
        ),
        (json!({ "periodDays": 30 }), "BAD_USER_INPUT"),
    ] {
        app.gql(&admin, SET_RULE, json!({ "i": input }))
            .await
            .expect_code(code);
    }
    app.gql(
        &viewer,
        SET_RULE,
        json!({ "i": { "category": IP, "periodDays": 90 } }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &support,
        SET_RULE,
        json!({ "i": { "tenantId": t, "category": IP, "periodDays": 90 } }),
    )
    .await
    .expect_code("FORBIDDEN");
    assert_eq!(app.count("eu", "retention_rules", "1=1").await, 0);

    // IP addresses collected for analytics: 90 days. Emails: the platform default, 365 days.
    let rule = app
        .gql(
            &admin,
            SET_RULE,
            json!({ "i": { "category": IP, "purpose": "analytics", "periodDays": 120 } }),
        )
        .await;
    let rule_id = rule.ok()["setRetentionRule"]["id"].clone();
    let changed = app
        .gql(
            &admin,
            SET_RULE,
            json!({ "i": { "category": IP, "purpose": "analytics", "periodDays": 90 } }),
        )
        .await;
    assert_eq!(
        changed.ok()["setRetentionRule"]["id"],
        rule_id,
        "setting again changes the rule"
    );
    assert_eq!(changed.ok()["setRetentionRule"]["periodDays"], 90);
    const DEFAULT: &str = "mutation($c: String!, $d: Int!) { setRetentionDefault(category: $c, periodDays: $d) { category periodDays } }";
    app.gql(&admin, DEFAULT, json!({ "c": EMAIL, "d": 365 }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&po, DEFAULT, json!({ "c": EMAIL, "d": 0 }))
        .await
        .expect_code("BAD_USER_INPUT");
    // A new default could delete what was kept for ever: it waits for the tenants' notice period (30 days).
    let scheduled = app.gql(&po, DEFAULT, json!({ "c": EMAIL, "d": 365 })).await;
    assert_eq!(scheduled.ok()["setRetentionDefault"]["periodDays"], 365);
    assert_eq!(sweep(&app, Utc::now() + Duration::days(29)).await, 0);
    assert_eq!(
        app.count("control", "retention_defaults", "in_force = true")
            .await,
        0
    );
    assert_eq!(sweep(&app, Utc::now() + Duration::days(31)).await, 0);
    assert_eq!(
        app.count("control", "retention_defaults", "in_force = true")
            .await,
        1
    );

    let s1 = subject_with(
        &app,
        &admin,
        "r1",
        vec![
            value(IP, "analytics", "10.0.0.1", 100), // due (90-day rule)
            value(EMAIL, "essential.service", "r1@x.example", 100), // kept (default 365)
            value(IP, "essential.service", "10.0.0.9", 100), // no rule for this purpose: kept
        ],
    )
    .await;
    let s2 = subject_with(
        &app,
        &admin,
        "r2",
        vec![
            value(IP, "analytics", "10.0.0.2", 30), // due in 60 days
            value(EMAIL, "essential.service", "r2@x.example", 400), // due (default)
        ],
    )
    .await;
    let s3 = subject_with(
        &app,
        &admin,
        "r3",
        vec![value(IP, "analytics", "10.0.0.3", 200)],
    )
    .await;

    // s1's IP addresses went to an analytics provider: their deletion is propagated.
    let analytics = propose(&app, &legal, sp("Countly", &["DE"], &[IP], &[])).await;
    activate(&app, &legal, &analytics).await;
    app.gql(&legal, "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }", json!({ "i": { "tenantId": t, "subProcessorId": analytics, "categories": [IP], "purpose": "analytics", "subjectIds": [s1] } }))
        .await
        .ok();

    // A hold on s3, placed by legal only; lifting an unknown hold is NOT_FOUND.
    app.gql(
        &support,
        HOLD,
        json!({ "i": { "tenantId": t, "subjectIds": [s3], "reason": "litigation" } }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &legal,
        HOLD,
        json!({ "i": { "tenantId": t, "subjectIds": [s3], "reason": " " } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let hold = app
        .gql(&legal, HOLD, json!({ "i": { "tenantId": t, "subjectIds": [s3], "reason": "litigation hold, case 12-345" } }))
        .await;
    let hold = hold.ok()["placeLegalHold"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        &legal,
        LIFT,
        json!({ "t": t, "id": uuid::Uuid::now_v7().to_string(), "r": "x" }),
    )
    .await
    .expect_code("NOT_FOUND");

    // The preview is a dry run.
    let preview = app.gql(&admin, PREVIEW, json!({})).await;
    let lines = preview.ok()["retentionPreview"].as_array().unwrap().clone();
    let ip_line = lines.iter().find(|l| l["category"] == IP).unwrap();
    assert_eq!(
        (ip_line["due"].as_i64(), ip_line["held"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(ip_line["ruleId"], rule_id);
    let email_line = lines.iter().find(|l| l["category"] == EMAIL).unwrap();
    assert!(email_line["ruleId"].is_null(), "the platform default");
    assert_eq!(email_line["due"], 1);
    assert_eq!(app.count("eu", "personal_data", "1=1").await, 6);

    // Now: exactly the two due values go; the held one stays.
    let now = Utc::now();
    assert_eq!(sweep(&app, now).await, 2);
    assert_eq!(
        kept(&app, &admin, &s1).await,
        vec![
            (EMAIL.into(), "essential.service".into()),
            (IP.into(), "essential.service".into())
        ]
    );
    assert_eq!(
        kept(&app, &admin, &s2).await,
        vec![(IP.into(), "analytics".into())]
    );
    assert_eq!(
        kept(&app, &admin, &s3).await,
        vec![(IP.into(), "analytics".into())]
    );
    assert!(!app.database_contains("eu", "r2@x.example").await);
    const RUNS: &str = "query { retentionRuns { valuesDeleted subjects counts heldSkipped } }";
    let runs = app.gql(&admin, RUNS, json!({})).await;
    let run = &runs.ok()["retentionRuns"][0];
    assert_eq!(run["valuesDeleted"], 2);
    assert_eq!(run["heldSkipped"], 1);
    let counts: Value = serde_json::from_str(run["counts"].as_str().unwrap()).unwrap();
    assert_eq!(counts, json!({ EMAIL: 1, IP: 1 }));
    assert_eq!(
        app.count("eu", "audit_events", "action = 'retention.deleted'")
            .await,
        1
    );
    assert_eq!(
        app.count("eu", "erasure_propagations", "method = 'manual'")
            .await,
        1,
        "Countly is told"
    );
    // Nothing more is due until time passes.
    assert_eq!(sweep(&app, now).await, 0);
    assert_eq!(sweep(&app, now + Duration::days(59)).await, 0);
    assert_eq!(
        sweep(&app, now + Duration::days(61)).await,
        1,
        "s2's address, 91 days old"
    );

    // Lifting the hold releases s3's value to the next sweep; lifting twice is refused.
    let lifted = app
        .gql(
            &legal,
            LIFT,
            json!({ "t": t, "id": hold, "r": "case closed" }),
        )
        .await;
    assert!(lifted.ok()["liftLegalHold"]["liftedAt"].is_string());
    let again = app
        .gql(&legal, LIFT, json!({ "t": t, "id": hold, "r": "again" }))
        .await;
    assert_eq!(
        again.body["errors"][0]["extensions"]["reason"],
        "ALREADY_LIFTED"
    );
    assert_eq!(sweep(&app, now + Duration::days(61)).await, 1);
    assert_eq!(kept(&app, &admin, &s3).await, vec![]);

    // A hold on the whole tenant stops everything.
    subject_with(
        &app,
        &admin,
        "r4",
        vec![value(IP, "analytics", "10.0.0.4", 500)],
    )
    .await;
    app.gql(
        &legal,
        HOLD,
        json!({ "i": { "tenantId": t, "reason": "regulator inquiry" } }),
    )
    .await
    .ok();
    assert_eq!(sweep(&app, now).await, 0);
    let holds = app
        .gql(
            &legal,
            "query($t: ID!) { legalHolds(tenantId: $t) { subjectIds liftedAt } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(holds.ok()["legalHolds"].as_array().unwrap().len(), 2);
    app.gql(
        &admin,
        "query($t: ID!) { legalHolds(tenantId: $t) { id } }",
        json!({ "t": t }),
    )
    .await
    .expect_code("FORBIDDEN");
    // The audit chain holds through all of it.
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let verify = app
        .gql(
            &auditor,
            "query($t: ID) { verifyAuditChain(tenantId: $t) { valid } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(verify.ok()["verifyAuditChain"]["valid"], true);
}

async fn sweeps_run_in_bounded_batches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Batch Co", "us").await;
    let admin = app.invite(&t, "batch-admin", "CLIENT_ADMIN").await;
    app.gql(
        &admin,
        SET_RULE,
        json!({ "i": { "purpose": "analytics", "periodDays": 30 } }),
    )
    .await
    .ok();
    for i in 0..7 {
        subject_with(
            &app,
            &admin,
            &format!("b{i}"),
            vec![value(IP, "analytics", &format!("10.1.0.{i}"), 40)],
        )
        .await;
    }
    let tenancy = app.state.tenancy();
    let now = Utc::now();
    assert_eq!(
        steward::retention::sweep_with(tenancy, now, 3, 2)
            .await
            .unwrap(),
        6,
        "two batches of three"
    );
    assert_eq!(app.count("us", "retention_runs", "1=1").await, 2);
    assert_eq!(
        steward::retention::sweep_with(tenancy, now, 3, 2)
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.count("us", "personal_data", "1=1").await, 0);
}

async fn holds_stop_erasure_until_lifted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Hold Co", "eu").await;
    let admin = app.invite(&t, "hold-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = crate::personal::subject(&app, &admin, "h1", "h1@hold.example", "Held One").await;
    let b = crate::personal::subject(&app, &admin, "h2", "h2@hold.example", "Held Two").await;
    const START: &str = "mutation($t: ID, $id: ID!, $v: Int!) { startDataSubjectRequest(tenantId: $t, id: $id, version: $v) { state } }";
    let submit = |s: &str| json!({ "i": { "subjectId": s, "kind": "ERASURE" } });

    // Held before the request starts: starting is refused.
    app.gql(
        &legal,
        HOLD,
        json!({ "i": { "tenantId": t, "subjectIds": [a], "reason": "preserve evidence" } }),
    )
    .await
    .ok();
    let r = app.gql(&admin, SUBMIT, submit(&a)).await;
    let ra = r.ok()["submitDataSubjectRequest"]["id"].clone();
    let refused = app
        .gql(&po, START, json!({ "t": t, "id": ra, "v": 1 }))
        .await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "LEGAL_HOLD"
    );

    // Held after it started: the job stops without erasing, and lifting the hold runs it again.
    let r = app.gql(&admin, SUBMIT, submit(&b)).await;
    let rb = r.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(&po, START, json!({ "t": t, "id": rb, "v": 1 }))
        .await
        .ok();
    let hold = app
        .gql(
            &legal,
            HOLD,
            json!({ "i": { "tenantId": t, "subjectIds": [b], "reason": "new claim" } }),
        )
        .await;
    let hold = hold.ok()["placeLegalHold"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_jobs().await;
    assert_eq!(app.count("eu", "erasure_tombstones", "1=1").await, 0);
    assert_eq!(
        app.count("eu", "audit_events", "action = 'erasure.held'")
            .await,
        1
    );
    app.gql(&admin, VALUES, json!({ "id": b })).await.ok();
    app.gql(
        &legal,
        LIFT,
        json!({ "t": t, "id": hold, "r": "claim withdrawn" }),
    )
    .await
    .ok();
    app.run_jobs().await;
    assert_eq!(app.count("eu", "erasure_tombstones", "1=1").await, 1);
    app.gql(&admin, VALUES, json!({ "id": b }))
        .await
        .expect_code("NOT_FOUND");
    // The other subject's hold still stands.
    app.gql(&admin, VALUES, json!({ "id": a })).await.ok();
}

const RULES: &str = "query($t: ID) { retentionRules(tenantId: $t) { id periodDays inForce pendingChange { periodDays effectiveAt setBy } } }";
const CANCEL_RULE: &str = "mutation($t: ID, $id: ID!) { cancelRetentionRuleChange(tenantId: $t, id: $id) { id periodDays pendingChange { periodDays } } }";
const PREVIEW_AHEAD: &str = "query($t: ID) { retentionPreview(tenantId: $t) { ruleId category periodDays due effectiveAt } }";

/// One privacy officer cannot make Steward delete a client's data sooner: shortening waits for the tenant's notice
/// period, its admins are told, the preview shows what it would delete, and the client (or staff) cancels it.
async fn staff_cannot_shorten_retention_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Kept Co", "eu").await;
    let other = app.create_tenant("Other Co", "eu").await;
    let admin = app.invite(&t, "kept-admin", "CLIENT_ADMIN").await;
    let other_admin = app.invite(&other, "other-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject_with(
        &app,
        &admin,
        "k1",
        vec![
            value(IP, "analytics", "10.9.9.1", 100),
            value(EMAIL, "essential.service", "kept@x.example", 100),
        ],
    )
    .await;
    // The client keeps IP addresses for 400 days (its instruction, in force at once).
    let rule = app
        .gql(
            &admin,
            SET_RULE,
            json!({ "i": { "category": IP, "periodDays": 400 } }),
        )
        .await;
    let rule_id = rule.ok()["setRetentionRule"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Staff shorten it to 1 day: scheduled, not in force; the sweep deletes nothing until the notice period passed.
    app.gql(
        &po,
        SET_RULE,
        json!({ "i": { "tenantId": t, "category": IP, "periodDays": 1 } }),
    )
    .await
    .ok();
    // And a platform default of 1 day for emails.
    app.gql(
        &po,
        "mutation { setRetentionDefault(category: \"user.contact.email\", periodDays: 1) { inForce pendingChange { periodDays } } }",
        json!({}),
    )
    .await
    .ok();
    let rules = app.gql(&admin, RULES, json!({})).await;
    let r = &rules.ok()["retentionRules"][0];
    assert_eq!(r["periodDays"], 400, "the rule in force is unchanged");
    assert_eq!(r["pendingChange"]["periodDays"], 1);
    assert_eq!(r["pendingChange"]["setBy"], "staff:po");
    assert_eq!(sweep(&app, Utc::now()).await, 0);
    assert_eq!(sweep(&app, Utc::now() + Duration::days(29)).await, 0);
    assert_eq!(kept(&app, &admin, &s).await.len(), 2);
    // The client was told, and the preview says what the change would delete and when.
    let notices = app
        .gql(
            &admin,
            "{ notices { edges { node { kind title } } } }",
            json!({}),
        )
        .await;
    let kinds = notices.ok().to_string();
    assert_eq!(kinds.matches("retention_change").count(), 2, "{kinds}");
    let preview = app.gql(&admin, PREVIEW_AHEAD, json!({})).await;
    let lines = preview.ok()["retentionPreview"].as_array().unwrap().clone();
    let now_line = lines
        .iter()
        .find(|l| l["category"] == IP && l["effectiveAt"].is_null())
        .unwrap();
    assert_eq!(
        (now_line["periodDays"].as_i64(), now_line["due"].as_i64()),
        (Some(400), Some(0))
    );
    let ahead = lines
        .iter()
        .find(|l| l["category"] == IP && l["effectiveAt"].is_string())
        .unwrap();
    assert_eq!(
        (ahead["periodDays"].as_i64(), ahead["due"].as_i64()),
        (Some(1), Some(1))
    );
    let email_ahead = lines
        .iter()
        .find(|l| l["category"] == EMAIL && l["effectiveAt"].is_string())
        .unwrap();
    assert_eq!(email_ahead["due"], 1);
    // Another tenant cannot cancel it; the client can.
    app.gql(&other_admin, CANCEL_RULE, json!({ "t": t, "id": rule_id }))
        .await
        .expect_code("NOT_FOUND");
    let cancelled = app.gql(&admin, CANCEL_RULE, json!({ "id": rule_id })).await;
    assert!(cancelled.ok()["cancelRetentionRuleChange"]["pendingChange"].is_null());
    assert_eq!(
        cancelled.ok()["cancelRetentionRuleChange"]["periodDays"],
        400
    );
    app.gql(&admin, CANCEL_RULE, json!({ "id": rule_id }))
        .await
        .expect_code("BAD_USER_INPUT");
    // The privacy officer cancels the default's change too.
    let gone = app
        .gql(
            &po,
            "mutation { cancelRetentionDefaultChange(category: \"user.contact.email\") { category } }",
            json!({}),
        )
        .await;
    assert!(
        gone.ok()["cancelRetentionDefaultChange"].is_null(),
        "never in force: removed"
    );
    assert_eq!(sweep(&app, Utc::now() + Duration::days(31)).await, 0);
    assert_eq!(kept(&app, &admin, &s).await.len(), 2);

    // Lengthening by staff takes effect at once; removing the client's rule waits like a shortening.
    let longer = app
        .gql(
            &po,
            SET_RULE,
            json!({ "i": { "tenantId": t, "category": IP, "periodDays": 500 } }),
        )
        .await;
    assert_eq!(longer.ok()["setRetentionRule"]["periodDays"], 500);
    app.gql(
        &po,
        "mutation($t: ID, $id: ID!) { removeRetentionRule(tenantId: $t, id: $id) }",
        json!({ "t": t, "id": rule_id }),
    )
    .await
    .ok();
    let rules = app.gql(&admin, RULES, json!({})).await;
    assert!(rules.ok()["retentionRules"][0]["pendingChange"]["periodDays"].is_null());
    assert!(rules.ok()["retentionRules"][0]["pendingChange"]["effectiveAt"].is_string());

    // Unopposed, a staff shortening takes effect after the notice period, with its own audit event.
    app.gql(&admin, CANCEL_RULE, json!({ "id": rule_id }))
        .await
        .ok();
    app.gql(
        &po,
        SET_RULE,
        json!({ "i": { "tenantId": t, "category": IP, "periodDays": 30 } }),
    )
    .await
    .ok();
    assert_eq!(sweep(&app, Utc::now() + Duration::days(29)).await, 0);
    assert_eq!(sweep(&app, Utc::now() + Duration::days(31)).await, 1);
    assert_eq!(
        kept(&app, &admin, &s).await,
        vec![(EMAIL.into(), "essential.service".into())]
    );
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action = 'retention.rule_change_applied'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("eu", "personal_data", "1=1").await,
        1,
        "the other tenant had nothing; this one keeps its email"
    );
}

/// One platform admin cutting a tenant's notice period to a day does not make a staff shortening take effect tomorrow:
/// staff retention changes wait at least 7 days, and the cut itself is told to the tenant. A tenant created while a
/// default change is pending is told of it when it is created.
async fn a_cut_notice_period_still_leaves_a_week(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Short Notice Co", "eu").await;
    let admin = app.invite(&t, "short-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("short-po", "PRIVACY_OFFICER").await;
    let s = subject_with(
        &app,
        &admin,
        "sn1",
        vec![value(IP, "analytics", "10.7.7.7", 100)],
    )
    .await;
    app.gql(
        &root,
        "mutation($t: ID!) { setNoticePeriod(tenantId: $t, days: 1) }",
        json!({ "t": t }),
    )
    .await
    .ok();
    let notices = app
        .gql(
            &admin,
            "{ notices { edges { node { kind body } } } }",
            json!({}),
        )
        .await;
    let told = notices.ok().to_string();
    assert!(
        told.contains("tenant.notice_period") && told.contains("to 1 days (it was 30)"),
        "{told}"
    );

    app.gql(
        &po,
        SET_RULE,
        json!({ "i": { "tenantId": t, "category": IP, "periodDays": 1 } }),
    )
    .await
    .ok();
    let rules = app.gql(&admin, RULES, json!({})).await;
    let at = rules.ok()["retentionRules"][0]["pendingChange"]["effectiveAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let at: DateTime<Utc> = at.parse().unwrap();
    assert!(
        at > Utc::now() + Duration::days(7) - Duration::minutes(5),
        "{at}"
    );
    assert_eq!(sweep(&app, Utc::now() + Duration::days(2)).await, 0);
    assert_eq!(kept(&app, &admin, &s).await.len(), 1);
    assert_eq!(sweep(&app, Utc::now() + Duration::days(8)).await, 1);

    // A default change pending when a tenant is created reaches it at creation.
    app.gql(&po, "mutation { setRetentionDefault(category: \"user.contact.email\", periodDays: 2) { inForce } }", json!({}))
        .await
        .ok();
    let late = app.create_tenant("Late Co", "eu").await;
    let late_admin = app.invite(&late, "late-admin", "CLIENT_ADMIN").await;
    let notices = app
        .gql(
            &late_admin,
            "{ notices { edges { node { kind body } } } }",
            json!({}),
        )
        .await;
    let told = notices.ok().to_string();
    assert!(
        told.contains("retention_change") && told.contains("user.contact.email"),
        "{told}"
    );
}

both_backends!(
    a_cut_notice_period_still_leaves_a_week,
    staff_cannot_shorten_retention_at_once,
    rules_holds_and_sweeps_over_time,
    sweeps_run_in_bounded_batches,
    holds_stop_erasure_until_lifted,
);

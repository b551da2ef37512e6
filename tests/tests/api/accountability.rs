//! Legal disclosures (with non-disclosure orders and the public transparency report) and breach fan-out.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::{CREATE, record, subject};

const RECORD: &str =
    "mutation($i: LegalDemandInput!) { recordLegalDisclosure(input: $i) { id kind noticeSentAt } }";
const DECIDE: &str = "mutation($id: ID!, $i: DisclosureDecisionInput!) { decideLegalDisclosure(id: $id, input: $i) { decision disclosedCategories noticeSentAt reviewer } }";

fn demand(tenant: &str, kind: &str, order: bool, until: Option<String>) -> serde_json::Value {
    json!({ "i": { "tenantId": tenant, "kind": kind, "authority": "District Court of Examplia", "reference": "DC-2026-17",
        "receivedOn": Utc::now().date_naive().to_string(), "scope": "account records of one customer", "nondisclosureOrder": order, "nondisclosureUntil": until } })
}

async fn notice_kinds(app: &TestApp, token: &str) -> Vec<String> {
    let reply = app
        .gql(token, "{ notices { edges { node { kind } } } }", json!({}))
        .await;
    reply.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn disclosure_notices(app: &TestApp, admin: &str) -> usize {
    notice_kinds(app, admin)
        .await
        .iter()
        .filter(|k| *k == "legal.disclosure")
        .count()
}

async fn disclosures_reach_the_tenant_when_allowed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let t = app.create_tenant("Demanded Co", "eu").await;
    let admin = app.invite(&t, "dem-admin", "CLIENT_ADMIN").await;
    let s = subject(&app, &admin, "d1", "d1@dem.example", "Demanded One").await;

    // Bad input changes nothing.
    app.gql(&legal, RECORD, demand(&t, "rumour", false, None))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(
        &legal,
        RECORD,
        demand(&uuid::Uuid::now_v7().to_string(), "SUBPOENA", false, None),
    )
    .await
    .expect_code("NOT_FOUND");
    app.gql(
        &legal,
        RECORD,
        demand(&t, "SUBPOENA", false, Some("2030-01-01".into())),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let mut future = demand(&t, "SUBPOENA", false, None);
    future["i"]["receivedOn"] = json!("2999-01-01");
    app.gql(&legal, RECORD, future)
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&support, RECORD, demand(&t, "SUBPOENA", false, None))
        .await
        .expect_code("FORBIDDEN");
    assert_eq!(app.count("control", "legal_disclosures", "1 = 1").await, 0);

    // Without an order: the tenant is told at decision time.
    let open = app
        .gql(&legal, RECORD, demand(&t, "SUBPOENA", false, None))
        .await
        .ok()["recordLegalDisclosure"]["id"]
        .clone();
    let bad = json!({ "id": open, "i": { "decision": "DISCLOSE", "note": "valid subpoena" } });
    app.gql(&legal, DECIDE, bad)
        .await
        .expect_code("BAD_USER_INPUT");
    let decided = app
        .gql(&legal, DECIDE, json!({ "id": open, "i": { "decision": "NARROW", "note": "narrowed to contact data", "disclosedCategories": ["user.contact.email"], "disclosedSubjectIds": [s] } }))
        .await;
    assert_eq!(
        decided.ok()["decideLegalDisclosure"]["disclosedCategories"],
        json!(["user.contact.email"])
    );
    assert!(decided.ok()["decideLegalDisclosure"]["noticeSentAt"].is_string());
    assert!(
        notice_kinds(&app, &admin)
            .await
            .contains(&"legal.disclosure".to_owned())
    );
    app.gql(
        &legal,
        DECIDE,
        json!({ "id": open, "i": { "decision": "REFUSE", "note": "again" } }),
    )
    .await
    .expect_code("CONFLICT");

    // With an order until a date: silent until the date has passed, then released once by the scheduled job.
    let until = Utc::now().date_naive() + Duration::days(10);
    let gagged = app
        .gql(
            &legal,
            RECORD,
            demand(&t, "SEARCH_WARRANT", true, Some(until.to_string())),
        )
        .await
        .ok()["recordLegalDisclosure"]["id"]
        .clone();
    // Nothing the tenant can see moves while the order holds: its chain head, its events, its notices.
    let head_before = chain_head(&app, &admin).await;
    let held = app
        .gql(
            &legal,
            DECIDE,
            json!({ "id": gagged, "i": { "decision": "DISCLOSE", "note": "valid warrant", "disclosedCategories": ["user.contact.email"], "disclosedSubjectIds": [s] } }),
        )
        .await;
    assert!(held.ok()["decideLegalDisclosure"]["noticeSentAt"].is_null());
    assert_eq!(disclosure_notices(&app, &admin).await, 1);
    assert_eq!(
        chain_head(&app, &admin).await,
        head_before,
        "the gag moved the tenant's chain head"
    );
    assert_eq!(
        decided_events(&app, &admin).await.len(),
        1,
        "only the ungagged demand"
    );
    let tenancy = app.state.tenancy();
    assert_eq!(
        steward::accountability::release_disclosure_notices(tenancy, until)
            .await
            .unwrap(),
        0,
        "not before the end date has passed"
    );
    assert_eq!(
        steward::accountability::release_disclosure_notices(tenancy, until + Duration::days(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        steward::accountability::release_disclosure_notices(tenancy, until + Duration::days(2))
            .await
            .unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(disclosure_notices(&app, &admin).await, 2);
    // Released: the tenant's chain now carries the decision, with what was disclosed.
    let events = decided_events(&app, &admin).await;
    assert_eq!(events.len(), 2);
    let released = events
        .iter()
        .find(|e| e["objectId"] == gagged)
        .expect("released event");
    assert_eq!(released["detail"]["decision"], "disclose");
    assert_eq!(
        released["detail"]["categories"],
        json!(["user.contact.email"])
    );
    assert_eq!(released["detail"]["subjects"], 1);
    assert_ne!(chain_head(&app, &admin).await, head_before);

    // An open-ended order is allowed, and comes up for review every 90 days.
    let endless = app
        .gql(&legal, RECORD, demand(&t, "COURT_ORDER", true, None))
        .await
        .ok()["recordLegalDisclosure"]["id"]
        .clone();
    let due = "{ nondisclosureOrdersDueForReview { id } }";
    assert_eq!(
        app.gql(&legal, due, json!({})).await.ok()["nondisclosureOrdersDueForReview"],
        json!([])
    );
    let db = app.raw_db("control").await;
    let old = match app.backend {
        Backend::Sqlite => "'2020-01-01'",
        Backend::Postgres(_) => "'2020-01-01'::date",
    };
    sea_orm::ConnectionTrait::execute_unprepared(&db, &format!("UPDATE legal_disclosures SET nondisclosure_reviewed_on = {old} WHERE nondisclosure_until IS NULL AND nondisclosure_order")).await.unwrap();
    assert_eq!(
        app.gql(&legal, due, json!({})).await.ok()["nondisclosureOrdersDueForReview"],
        json!([{ "id": endless }])
    );
    app.gql(
        &legal,
        "mutation($id: ID!) { reviewNondisclosureOrder(id: $id) { nondisclosureReviewedOn } }",
        json!({ "id": endless }),
    )
    .await
    .ok();
    assert_eq!(
        app.gql(&legal, due, json!({})).await.ok()["nondisclosureOrdersDueForReview"],
        json!([])
    );

    // The public report: counts only, for closed half-years, of decided demands under no order (or an ended one).
    let report = app.get("/transparency.json").await;
    assert_eq!(
        report.body["half_years"],
        json!({}),
        "the current half-year has not closed: {:#}",
        report.body
    );
    // Move every demand into a closed half-year; add a gagged, decided one there whose order still holds.
    let still = app
        .gql(
            &legal,
            RECORD,
            demand(
                &t,
                "COURT_ORDER",
                true,
                Some((Utc::now().date_naive() + Duration::days(400)).to_string()),
            ),
        )
        .await
        .ok()["recordLegalDisclosure"]["id"]
        .clone();
    app.gql(
        &legal,
        DECIDE,
        json!({ "id": still, "i": { "decision": "REFUSE", "note": "no" } }),
    )
    .await
    .ok();
    let past = match app.backend {
        Backend::Sqlite => "'2025-02-03'",
        Backend::Postgres(_) => "'2025-02-03'::date",
    };
    let ended = match app.backend {
        Backend::Sqlite => "'2025-03-01'",
        Backend::Postgres(_) => "'2025-03-01'::date",
    };
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!("UPDATE legal_disclosures SET received_on = {past}"),
    )
    .await
    .unwrap();
    // The warrant's order ended (the court's date has passed); the court order's still holds.
    sea_orm::ConnectionTrait::execute_unprepared(&db, &format!("UPDATE legal_disclosures SET nondisclosure_until = {ended} WHERE kind = 'search_warrant'"))
        .await
        .unwrap();
    let report = app.get("/transparency.json").await;
    assert_eq!(
        report.body["half_years"],
        json!({ "2025-H1": { "subpoena": { "narrow": 1 }, "search_warrant": { "disclose": 1 } } }),
        "pending and still-gagged demands are not counted: {:#}",
        report.body
    );
    assert!(
        !report.body.to_string().contains("Examplia")
            && !report.body.to_string().contains("DC-2026")
    );
}

async fn chain_head(app: &TestApp, admin: &str) -> serde_json::Value {
    app.gql(admin, "{ auditChainHead { seq hash } }", json!({}))
        .await
        .ok()["auditChainHead"]
        .clone()
}

async fn decided_events(app: &TestApp, admin: &str) -> Vec<serde_json::Value> {
    app.gql(
        admin,
        "{ auditEvents(action: \"disclosure.decided\", first: 50) { edges { node { objectId detail } } } }",
        json!({}),
    )
    .await
    .ok()["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut node = e["node"].clone();
            node["detail"] = serde_json::from_str(node["detail"].as_str().unwrap()).unwrap();
            node
        })
        .collect()
}

async fn breaches_reach_exactly_the_affected_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let officer = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = app.create_tenant("Breach A", "eu").await;
    let b = app.create_tenant("Breach B", "us").await;
    let c = app.create_tenant("Breach C", "eu").await;
    let d = app.create_tenant("Breach D", "us").await;
    let (aa, ba, ca, da) = (
        app.invite(&a, "ba", "CLIENT_ADMIN").await,
        app.invite(&b, "bb", "CLIENT_ADMIN").await,
        app.invite(&c, "bc", "CLIENT_ADMIN").await,
        app.invite(&d, "bd", "CLIENT_ADMIN").await,
    );
    subject(&app, &aa, "a1", "a1@breach.example", "Breach A One").await;
    subject(&app, &ba, "b1", "b1@breach.example", "Breach B One").await;
    app.gql(&ca, CREATE, json!({ "i": { "externalId": "c1", "personalData": [record("user.contact.phone_number", "+44 20 7946 0000")] } })).await.ok();
    let d1 = app
        .gql(&da, CREATE, json!({ "i": { "externalId": "d1", "personalData": [record("user.device.ip_address", "198.51.100.7")] } }))
        .await
        .ok()["createDataSubject"]["id"]
        .clone();
    // D's IP addresses went to a log processor in Germany.
    let sp = app
        .gql(&legal, "mutation($i: SubProcessorInput!) { proposeSubProcessor(input: $i, reason: \"logs\") { id } }",
            json!({ "i": { "name": "Logz", "legalEntity": "Logz GmbH", "website": "https://logz.example", "purpose": "log storage", "countries": ["DE"], "categories": ["user.device.ip_address"] } }))
        .await
        .ok()["proposeSubProcessor"]["id"]
        .clone();
    app.gql(&legal, "mutation($id: ID!) { announceSubProcessor(id: $id, reason: \"logs\") { tenantsNotified } }", json!({ "id": sp })).await.ok();
    steward::registry::activate_due(
        app.state.tenancy(),
        Utc::now().date_naive() + Duration::days(400),
    )
    .await
    .unwrap();
    app.gql(&legal, "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }",
        json!({ "i": { "tenantId": d, "subProcessorId": sp, "categories": ["user.device.ip_address"], "purpose": "essential.service.security", "subjectIds": [d1] } }))
        .await
        .ok();

    let record_breach = "mutation($i: BreachInput!) { recordBreach(input: $i) { tenantsNotified breach { id seventyTwoHourMark notifications { tenantId notifiedWithin72h hoursToNotify } } } }";
    let detected = (Utc::now() - Duration::hours(2)).to_rfc3339();
    // Bad input: nothing recorded.
    for bad in [
        json!({ "detectedAt": "2999-01-01T00:00:00Z", "description": "x", "categories": ["user.contact.email"] }),
        json!({ "detectedAt": detected, "description": "x", "categories": ["user.shoe_size"] }),
        json!({ "detectedAt": detected, "description": "x", "categories": ["user.contact.email"], "region": "mars" }),
        json!({ "detectedAt": detected, "description": "x" }),
    ] {
        app.gql(&officer, record_breach, json!({ "i": bad }))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    app.gql(&legal, record_breach, json!({ "i": { "detectedAt": detected, "description": "x", "categories": ["user.contact.email"] } }))
        .await
        .expect_code("FORBIDDEN");
    assert_eq!(app.count("control", "breaches", "1 = 1").await, 0);

    // Emails exposed in the EU region: A only (B's emails are in the US; C holds no emails).
    let eu = app
        .gql(&officer, record_breach, json!({ "i": { "detectedAt": detected, "description": "misconfigured EU mail relay", "systems": ["mail-relay-eu"], "categories": ["user.contact.email"], "region": "eu" } }))
        .await;
    let eu = eu.ok()["recordBreach"].clone();
    assert_eq!(eu["tenantsNotified"], json!([a]));
    assert_eq!(eu["breach"]["notifications"][0]["notifiedWithin72h"], true);
    let breach_id = eu["breach"]["id"].clone();
    // The log processor was breached: D, whose data went there, and only D.
    let via_sp = app
        .gql(&officer, record_breach, json!({ "i": { "detectedAt": (Utc::now() - Duration::hours(80)).to_rfc3339(), "description": "log processor breach", "subProcessorIds": [sp] } }))
        .await;
    assert_eq!(via_sp.ok()["recordBreach"]["tenantsNotified"], json!([d]));
    assert_eq!(
        via_sp.ok()["recordBreach"]["breach"]["notifications"][0]["notifiedWithin72h"],
        false
    );

    // The tenants see and acknowledge; another tenant cannot acknowledge A's notice.
    assert!(notice_kinds(&app, &aa).await.contains(&"breach".to_owned()));
    assert!(!notice_kinds(&app, &ba).await.contains(&"breach".to_owned()));
    let ack = "mutation($id: ID!) { acknowledgeBreachNotice(breachId: $id) { acknowledgedAt acknowledgedBy } }";
    app.gql(&ba, ack, json!({ "id": breach_id }))
        .await
        .expect_code("NOT_FOUND");
    let acked = app.gql(&aa, ack, json!({ "id": breach_id })).await;
    assert_eq!(
        acked.ok()["acknowledgeBreachNotice"]["acknowledgedBy"],
        "client:ba"
    );
    let again = app.gql(&aa, ack, json!({ "id": breach_id })).await;
    assert_eq!(
        again.ok()["acknowledgeBreachNotice"]["acknowledgedAt"],
        acked.ok()["acknowledgeBreachNotice"]["acknowledgedAt"]
    );
    let mine = app
        .gql(
            &aa,
            "{ breachNotices { breachId acknowledgedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(mine.ok()["breachNotices"][0]["breachId"], breach_id);
    let all = app
        .gql(
            &officer,
            "{ breaches { id notifications { tenantId acknowledgedAt } } }",
            json!({}),
        )
        .await;
    let tracked = all.ok()["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == breach_id)
        .unwrap()
        .clone();
    assert!(tracked["notifications"][0]["acknowledgedAt"].is_string());
}

/// What Art. 33(3) asks of each notice (with the tenant's own counts), follow-ups to the same tenants, and a
/// reminder to privacy officers of a tenant that has not acknowledged within 24 hours (issue 19, item 5).
async fn breach_notices_carry_what_art_33_asks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let officer = app.staff_with("po", "PRIVACY_OFFICER").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let a = app.create_tenant("Breach A", "eu").await;
    let b = app.create_tenant("Breach B", "eu").await;
    let c = app.create_tenant("Breach C", "us").await;
    let aa = app.invite(&a, "ba-admin", "CLIENT_ADMIN").await;
    let ba = app.invite(&b, "bb-admin", "CLIENT_ADMIN").await;
    let ca = app.invite(&c, "bc-admin", "CLIENT_ADMIN").await;
    subject(&app, &aa, "a1", "a1@breach.example", "Ann").await;
    subject(&app, &aa, "a2", "a2@breach.example", "Abe").await;
    subject(&app, &ba, "b1", "b1@breach.example", "Bea").await;
    subject(&app, &ca, "c1", "c1@breach.example", "Cy").await;

    const RECORD: &str = "mutation($i: BreachInput!) { recordBreach(input: $i) { tenantsNotified breach { id contactPoint } } }";
    let detected = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let recorded = app
        .gql(
            &officer,
            RECORD,
            json!({ "i": { "detectedAt": detected, "description": "mail relay exposed", "categories": ["user.contact.email"], "region": "eu", "likelyConsequences": "phishing aimed at the people concerned" } }),
        )
        .await;
    let recorded = recorded.ok()["recordBreach"].clone();
    let id = recorded["breach"]["id"].clone();
    let mut told: Vec<String> = recorded["tenantsNotified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    told.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(told, expected);
    // The contact point defaults to the processor's.
    assert_eq!(recorded["breach"]["contactPoint"], "privacy@test.example");

    // Each tenant reads its own counts and the rest of Art. 33(3); what is not known yet says so.
    const NOTICES: &str = "{ breachNotices { subjectsConcerned recordsConcerned likelyConsequences measuresTaken contactPoint updates { update } } }";
    let mine = app.gql(&aa, NOTICES, json!({})).await;
    let n = &mine.ok()["breachNotices"][0];
    assert_eq!(
        (
            n["subjectsConcerned"].as_i64(),
            n["recordsConcerned"].as_i64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(
        n["likelyConsequences"],
        "phishing aimed at the people concerned"
    );
    assert!(n["measuresTaken"].is_null());
    let theirs = app.gql(&ba, NOTICES, json!({})).await;
    assert_eq!(theirs.ok()["breachNotices"][0]["subjectsConcerned"], 1);
    app.run_jobs().await;
    const INBOX: &str = "{ notices { edges { node { kind body } } } }";
    let inbox = |token: String| {
        let app = &app;
        async move {
            app.gql(&token, INBOX, json!({})).await.ok()["notices"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .collect::<Vec<Value>>()
        }
    };
    let body = inbox(aa.clone())
        .await
        .into_iter()
        .find(|n| n["kind"] == "breach")
        .unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    for part in [
        "2 of your data subjects",
        "2 of your records",
        "phishing aimed",
        "Measures taken or proposed: being assessed",
        "privacy@test.example",
    ] {
        assert!(body.contains(part), "{part} missing from {body}");
    }

    // A follow-up reaches the same tenants, and only them; bad input and the wrong people change nothing.
    const UPDATE: &str = "mutation($id: ID!, $i: BreachUpdateInput!) { updateBreach(id: $id, input: $i) { tenantsNotified breach { measuresTaken updates { update } } } }";
    let follow = json!({ "update": "the relay is closed; no further access", "measuresTaken": "relay closed, credentials rotated" });
    app.gql(
        &officer,
        UPDATE,
        json!({ "id": id, "i": { "update": " " } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(
        &officer,
        UPDATE,
        json!({ "id": uuid::Uuid::now_v7().to_string(), "i": follow }),
    )
    .await
    .expect_code("NOT_FOUND");
    for token in [&aa, &support] {
        app.gql(token, UPDATE, json!({ "id": id, "i": follow }))
            .await
            .expect_code("FORBIDDEN");
    }
    assert_eq!(app.count("control", "breach_updates", "1=1").await, 0);
    let updated = app
        .gql(&officer, UPDATE, json!({ "id": id, "i": follow }))
        .await;
    let updated = &updated.ok()["updateBreach"];
    assert_eq!(updated["tenantsNotified"], 2);
    assert_eq!(
        updated["breach"]["measuresTaken"],
        "relay closed, credentials rotated"
    );
    app.run_jobs().await;
    for (token, expect) in [(aa.clone(), 1), (ba.clone(), 1), (ca.clone(), 0)] {
        let got = inbox(token)
            .await
            .into_iter()
            .filter(|n| n["kind"] == "breach.update")
            .count();
        assert_eq!(got, expect);
    }
    let mine = app.gql(&aa, NOTICES, json!({})).await;
    assert_eq!(
        mine.ok()["breachNotices"][0]["updates"],
        json!([{ "update": "the relay is closed; no further access" }])
    );

    // B acknowledges; A does not. After 24 hours (not before) privacy officers are reminded of A, once.
    app.gql(
        &ba,
        "mutation($id: ID!) { acknowledgeBreachNotice(breachId: $id) { acknowledgedAt } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    let tenancy = app.state.tenancy();
    let now = Utc::now();
    assert_eq!(
        steward::accountability::remind_unacknowledged(tenancy, now + Duration::hours(23))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        steward::accountability::remind_unacknowledged(tenancy, now + Duration::hours(25))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        steward::accountability::remind_unacknowledged(tenancy, now + Duration::hours(26))
            .await
            .unwrap(),
        0
    );
    let staff = app
        .gql(
            &officer,
            "{ staffNotices { kind tenantId objectId } }",
            json!({}),
        )
        .await;
    let reminders: Vec<Value> = staff.ok()["staffNotices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "breach.unacknowledged")
        .cloned()
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert_eq!(reminders[0]["tenantId"], a.as_str());
    assert_eq!(reminders[0]["objectId"], id);
}

/// A breach reaches the controllers whose data of those categories was there when it was detected, even where an
/// erasure took it away before the breach was recorded (counted from the erasure's tombstone); an erasure before the
/// breach was detected does not make a tenant affected.
async fn a_breach_reaches_data_erased_since_it_was_detected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let officer = app.staff_with("po", "PRIVACY_OFFICER").await;
    let t = app.create_tenant("Erased Since Co", "eu").await;
    let admin = app.invite(&t, "es-admin", "CLIENT_ADMIN").await;
    let s = subject(&app, &admin, "es-1", "es1@breach.example", "Esther").await;
    let before_erasure = Utc::now() - Duration::minutes(1);
    crate::requests::started(&app, (&admin, &officer), &t, &s, "ERASURE").await;
    app.run_jobs().await;
    assert_eq!(app.count("eu", "erasure_tombstones", "1=1").await, 1);
    assert_eq!(app.count("eu", "personal_data", "1=1").await, 0);

    const RECORD: &str =
        "mutation($i: BreachInput!) { recordBreach(input: $i) { tenantsNotified } }";
    let breach = |detected: chrono::DateTime<Utc>| json!({ "i": { "detectedAt": detected.to_rfc3339(), "description": "mail relay exposed", "categories": ["user.contact.email"], "region": "eu" } });
    let later = app
        .gql(&officer, RECORD, breach(Utc::now() + Duration::seconds(1)))
        .await;
    assert_eq!(
        later.ok()["recordBreach"]["tenantsNotified"],
        json!([]),
        "a breach detected after the erasure"
    );
    let earlier = app.gql(&officer, RECORD, breach(before_erasure)).await;
    assert_eq!(
        earlier.ok()["recordBreach"]["tenantsNotified"],
        json!([t]),
        "a breach detected before the erasure"
    );
    let notices = app
        .gql(
            &admin,
            "{ breachNotices { subjectsConcerned recordsConcerned } }",
            json!({}),
        )
        .await;
    assert_eq!(
        notices.ok()["breachNotices"],
        json!([{ "subjectsConcerned": 1, "recordsConcerned": 1 }])
    );
}

both_backends!(
    a_breach_reaches_data_erased_since_it_was_detected,
    disclosures_reach_the_tenant_when_allowed,
    breaches_reach_exactly_the_affected_tenants,
    breach_notices_carry_what_art_33_asks,
);

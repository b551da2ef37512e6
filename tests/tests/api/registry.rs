//! The sub-processor registry: lifecycle with revisions, notices and objections per tenant, transfer validation,
//! the public list and the record of processing.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;

const PROPOSE: &str = "mutation($i: SubProcessorInput!, $r: String!) { proposeSubProcessor(input: $i, reason: $r) { id status } }";
const ANNOUNCE: &str = "mutation($id: ID!, $d: NaiveDate, $r: String!) { announceSubProcessor(id: $id, effectiveOn: $d, reason: $r) { tenantsNotified subProcessor { status effectiveOn } } }";
const TRANSFER: &str = "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id subjectCount mechanism countries } }";

pub(crate) fn sp(
    name: &str,
    countries: &[&str],
    categories: &[&str],
    mechanisms: &[&str],
) -> Value {
    json!({
        "name": name, "legalEntity": format!("{name} Inc."), "website": format!("https://{}.example", name.to_lowercase()),
        "purpose": "Email delivery", "countries": countries, "categories": categories, "mechanisms": mechanisms,
        "dpaSignedOn": "2024-01-15"
    })
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(crate) async fn propose(app: &TestApp, legal: &str, input: Value) -> String {
    let reply = app
        .gql(legal, PROPOSE, json!({ "i": input, "r": "we need it" }))
        .await;
    reply.ok()["proposeSubProcessor"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Announces and makes it effective at once (as the scheduled job would on the date).
pub(crate) async fn activate(app: &TestApp, legal: &str, id: &str) {
    app.gql(legal, ANNOUNCE, json!({ "id": id, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(400))
        .await
        .unwrap();
}

async fn lifecycle_and_revisions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let a = app.create_tenant("Reg A", "eu").await;
    let b = app.create_tenant("Reg B", "us").await;
    let a_admin = app.invite(&a, "reg-a", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "reg-b", "CLIENT_ADMIN").await;
    subject(&app, &a_admin, "a1", "a1@reg.example", "Reg A One").await;
    // B holds only a phone number: a mailer receiving emails and names would not get B's data.
    app.gql(&b_admin, crate::personal::CREATE, json!({ "i": { "externalId": "b1", "personalData": [crate::personal::record("user.contact.phone_number", "+1 555 0100")] } }))
        .await
        .ok();

    // Bad input, and only legal may edit.
    for (input, says) in [
        (sp("Bad1", &["XX"], &["user.name"], &[]), "ISO 3166"),
        (
            sp("Bad2", &["DE"], &["user.shoe_size"], &[]),
            "unknown category",
        ),
        (
            sp("Bad3", &["US"], &["user.name"], &["pinky_swear"]),
            "unknown transfer mechanism",
        ),
        (
            json!({ "name": "Bad4", "legalEntity": "x", "website": "ftp://x", "purpose": "p", "countries": ["DE"], "categories": ["user.name"] }),
            "http",
        ),
    ] {
        let reply = app
            .gql(&legal, PROPOSE, json!({ "i": input, "r": "r" }))
            .await;
        reply.expect_code("BAD_USER_INPUT");
        assert!(reply.message().contains(says), "{}", reply.message());
    }
    app.gql(
        &support,
        PROPOSE,
        json!({ "i": sp("Nope", &["DE"], &["user.name"], &[]), "r": "r" }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &a_admin,
        PROPOSE,
        json!({ "i": sp("Nope", &["DE"], &["user.name"], &[]), "r": "r" }),
    )
    .await
    .expect_code("FORBIDDEN");
    assert_eq!(
        app.count("control", "subprocessors", "1 = 1").await,
        0,
        "nothing was created"
    );

    let id = propose(
        &app,
        &legal,
        sp(
            "Mailer",
            &["US", "IE"],
            &["user.contact.email", "user.name"],
            &["eu_scc_2021"],
        ),
    )
    .await;
    app.gql(
        &legal,
        PROPOSE,
        json!({ "i": sp("mailer", &["DE"], &["user.name"], &[]), "r": "dup" }),
    )
    .await
    .expect_code("CONFLICT");
    // Proposed entries are invisible to clients.
    let seen = app
        .gql(&a_admin, "{ subProcessors { name } }", json!({}))
        .await;
    assert_eq!(seen.ok()["subProcessors"], json!([]));
    app.gql(
        &a_admin,
        "query($id: ID!) { subProcessor(id: $id) { name } }",
        json!({ "id": id }),
    )
    .await
    .expect_code("NOT_FOUND");
    // So are they to staff without a role: the full view is for roles that read the registry.
    let nobody = app.staff_token("no-role-staff");
    let seen = app
        .gql(&nobody, "{ subProcessors { name } }", json!({}))
        .await;
    assert_eq!(seen.ok()["subProcessors"], json!([]));
    app.gql(
        &nobody,
        "query($id: ID!) { subProcessor(id: $id) { name } }",
        json!({ "id": id }),
    )
    .await
    .expect_code("NOT_FOUND");
    let seen = app
        .gql(&support, "{ subProcessors { name } }", json!({}))
        .await;
    assert_eq!(seen.ok()["subProcessors"][0]["name"], "Mailer");

    let mut updated = sp(
        "Mailer",
        &["US", "IE"],
        &["user.contact.email", "user.name"],
        &["eu_scc_2021", "bcr"],
    );
    updated["purpose"] = json!("Transactional email delivery");
    app.gql(&legal, "mutation($id: ID!, $i: SubProcessorInput!) { updateSubProcessor(id: $id, input: $i, reason: \"signed BCRs\") { purpose } }", json!({ "id": id, "i": updated }))
        .await
        .ok();

    // Announcing notifies every live tenant, a full notice period ahead: B, which holds no email or name today, is
    // bound all the same (it may start collecting them tomorrow).
    let announced = app
        .gql(
            &legal,
            ANNOUNCE,
            json!({ "id": id, "r": "new mail provider" }),
        )
        .await;
    assert_eq!(announced.ok()["announceSubProcessor"]["tenantsNotified"], 2);
    assert_eq!(
        announced.ok()["announceSubProcessor"]["subProcessor"]["effectiveOn"],
        (today() + Duration::days(30)).to_string()
    );
    let a_notices = app.gql(&a_admin, "{ changeNotices { kind status effectiveOn subProcessor { name } } notices { edges { node { kind } } } }", json!({})).await;
    assert_eq!(
        a_notices.ok()["changeNotices"][0]["subProcessor"]["name"],
        "Mailer"
    );
    assert_eq!(a_notices.ok()["changeNotices"][0]["status"], "PENDING");
    assert!(
        a_notices.ok()["notices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node"]["kind"] == "subprocessor.change")
    );
    let b_notices = app
        .gql(&b_admin, "{ changeNotices { kind status } }", json!({}))
        .await;
    assert_eq!(
        b_notices.ok()["changeNotices"],
        json!([{ "kind": "NEW", "status": "PENDING" }])
    );
    app.gql(&legal, ANNOUNCE, json!({ "id": id, "r": "again" }))
        .await
        .expect_code("CONFLICT");

    // Now clients see it, with its history from the announcement on (not what was proposed or edited before);
    // retire twice: retiring, then retired; a retired one cannot be announced or edited.
    assert_eq!(
        app.gql(&b_admin, "{ subProcessors { name status } }", json!({}))
            .await
            .ok()["subProcessors"],
        json!([{ "name": "Mailer", "status": "ANNOUNCED" }])
    );
    let client_history = app
        .gql(
            &b_admin,
            "query($id: ID!) { subProcessor(id: $id) { revisions { change reason } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        client_history.ok()["subProcessor"]["revisions"],
        json!([{ "change": "announced", "reason": "new mail provider" }])
    );
    let retire =
        "mutation($id: ID!) { retireSubProcessor(id: $id, reason: \"replaced\") { status } }";
    assert_eq!(
        app.gql(&legal, retire, json!({ "id": id })).await.ok()["retireSubProcessor"]["status"],
        "RETIRING"
    );
    assert_eq!(
        app.gql(&legal, retire, json!({ "id": id })).await.ok()["retireSubProcessor"]["status"],
        "RETIRED"
    );
    app.gql(&legal, retire, json!({ "id": id }))
        .await
        .expect_code("CONFLICT");
    app.gql(&legal, ANNOUNCE, json!({ "id": id, "r": "back" }))
        .await
        .expect_code("CONFLICT");

    let history = app.gql(&legal, "query($id: ID!) { subProcessor(id: $id) { revisions { actor change reason before after } } }", json!({ "id": id })).await;
    let revisions = history.ok()["subProcessor"]["revisions"]
        .as_array()
        .unwrap()
        .clone();
    let changes: Vec<&str> = revisions
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        ["proposed", "updated", "announced", "retiring", "retired"]
    );
    assert!(revisions.iter().all(|r| r["actor"] == "staff:lex"));
    assert_eq!(revisions[1]["reason"], "signed BCRs");
    assert!(revisions[0]["before"].is_null());
    let before: Value = serde_json::from_str(revisions[1]["before"].as_str().unwrap()).unwrap();
    let after: Value = serde_json::from_str(revisions[1]["after"].as_str().unwrap()).unwrap();
    assert_eq!(before["purpose"], "Email delivery");
    assert_eq!(after["purpose"], "Transactional email delivery");
}

async fn objections_protect_only_their_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    // Both in one region: one announcement writes to both tenants' notices in the same database.
    let a = app.create_tenant("Obj A", "eu").await;
    let b = app.create_tenant("Obj B", "eu").await;
    let a_admin = app.invite(&a, "obj-a", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "obj-b", "CLIENT_ADMIN").await;
    let a_subject = subject(&app, &a_admin, "a1", "a1@obj.example", "Obj A One").await;
    let b_subject = subject(&app, &b_admin, "b1", "b1@obj.example", "Obj B One").await;
    // B's contract gives it 60 days' notice.
    let set = "mutation($t: ID!, $d: Int!) { setNoticePeriod(tenantId: $t, days: $d) }";
    app.gql(&app.root(), set, json!({ "t": b, "d": 0 }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&legal, set, json!({ "t": b, "d": 60 }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&app.root(), set, json!({ "t": b, "d": 60 }))
        .await
        .ok();

    let id = propose(
        &app,
        &legal,
        sp(
            "Analytics",
            &["DE"],
            &["user.contact.email", "user.name"],
            &[],
        ),
    )
    .await;
    let inside = app
        .gql(
            &legal,
            ANNOUNCE,
            json!({ "id": id, "d": (today() + Duration::days(40)).to_string(), "r": "x" }),
        )
        .await;
    inside.expect_code("BAD_USER_INPUT");
    assert_eq!(
        inside.body["errors"][0]["extensions"]["reason"], "NOTICE_PERIOD",
        "a rule's refusal names its reason"
    );
    assert!(
        inside.message().contains("notice period"),
        "{}",
        inside.message()
    );
    assert_eq!(
        app.count("control", "change_notices", "1 = 1").await,
        0,
        "nothing announced"
    );
    let announced = app
        .gql(&legal, ANNOUNCE, json!({ "id": id, "r": "analytics" }))
        .await;
    assert_eq!(
        announced.ok()["announceSubProcessor"]["subProcessor"]["effectiveOn"],
        (today() + Duration::days(60)).to_string()
    );
    assert_eq!(announced.ok()["announceSubProcessor"]["tenantsNotified"], 2);

    let notice_of = |token: String| {
        let app = &app;
        async move {
            app.gql(&token, "{ changeNotices { id status } }", json!({}))
                .await
                .ok()["changeNotices"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let a_notice = notice_of(a_admin.clone()).await;
    let b_notice = notice_of(b_admin.clone()).await;
    let object = "mutation($n: ID!, $r: String!) { objectToChange(noticeId: $n, reason: $r) { id reason raisedBy } }";
    // Another tenant's notice is NOT_FOUND; a viewer may not object; an empty reason is refused.
    app.gql(&b_admin, object, json!({ "n": a_notice, "r": "not ours" }))
        .await
        .expect_code("NOT_FOUND");
    let viewer = app.invite(&a, "obj-a-viewer", "CLIENT_VIEWER").await;
    app.gql(&viewer, object, json!({ "n": a_notice, "r": "no" }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&a_admin, object, json!({ "n": a_notice, "r": " " }))
        .await
        .expect_code("BAD_USER_INPUT");
    let objection = app
        .gql(
            &a_admin,
            object,
            json!({ "n": a_notice, "r": "our DPO has not reviewed it" }),
        )
        .await;
    assert_eq!(objection.ok()["objectToChange"]["raisedBy"], "client:obj-a");
    app.gql(&a_admin, object, json!({ "n": a_notice, "r": "again" }))
        .await
        .expect_code("CONFLICT");
    let open = app
        .gql(
            &legal,
            "{ objections(openOnly: true) { id tenantId } }",
            json!({}),
        )
        .await;
    assert_eq!(open.ok()["objections"][0]["tenantId"], a.as_str());

    // Before the date nothing is active: transfers are refused as not yet effective.
    let transfer = |tenant: &str, subject: &str| json!({ "i": { "tenantId": tenant, "subProcessorId": id, "categories": ["user.contact.email"], "purpose": "analytics", "subjectIds": [subject] } });
    let early = app.gql(&legal, TRANSFER, transfer(&b, &b_subject)).await;
    early.expect_code("BAD_USER_INPUT");
    assert_eq!(
        early.body["errors"][0]["extensions"]["reason"],
        "NOT_YET_EFFECTIVE"
    );

    // The scheduled activation, on the date: active for B, blocked for A; running it again changes nothing.
    let tenancy = app.state.tenancy();
    let date = today() + Duration::days(60);
    assert_eq!(
        steward::registry::activate_due(tenancy, date - Duration::days(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        steward::registry::activate_due(tenancy, date)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        steward::registry::activate_due(tenancy, date)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.gql(
            &a_admin,
            "{ changeNotices { status objection { reason } } }",
            json!({})
        )
        .await
        .ok()["changeNotices"][0]["status"],
        "BLOCKED"
    );
    assert_eq!(
        app.gql(&b_admin, "{ changeNotices { status } }", json!({}))
            .await
            .ok()["changeNotices"][0]["status"],
        "ACTIVE"
    );
    assert_eq!(
        app.gql(
            &legal,
            "query($id: ID!) { subProcessor(id: $id) { status } }",
            json!({ "id": id })
        )
        .await
        .ok()["subProcessor"]["status"],
        "ACTIVE"
    );
    app.gql(&legal, TRANSFER, transfer(&b, &b_subject))
        .await
        .ok();
    let blocked = app.gql(&legal, TRANSFER, transfer(&a, &a_subject)).await;
    assert_eq!(
        blocked.body["errors"][0]["extensions"]["reason"],
        "OBJECTED"
    );
    let _ = b_notice;

    // Support cannot resolve; legal cannot withdraw for the client; the client withdraws: the change proceeds for A at
    // the next run.
    let resolve = "mutation($id: ID!, $r: ObjectionResolution!) { resolveObjection(id: $id, resolution: $r, note: \"talked\") { resolution resolvedBy } }";
    let objection_id = objection.ok()["objectToChange"]["id"].clone();
    let support = app.staff_with("sup", "SUPPORT").await;
    app.gql(
        &support,
        resolve,
        json!({ "id": objection_id, "r": "NOT_USED_FOR_TENANT" }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &legal,
        resolve,
        json!({ "id": objection_id, "r": "WITHDRAWN_BY_CLIENT" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let resolved = app
        .gql(
            &a_admin,
            "mutation($id: ID!) { withdrawObjection(id: $id) { resolution resolvedBy } }",
            json!({ "id": objection_id }),
        )
        .await;
    assert_eq!(
        resolved.ok()["withdrawObjection"],
        json!({ "resolution": "WITHDRAWN_BY_CLIENT", "resolvedBy": "client:obj-a" })
    );
    app.gql(
        &legal,
        resolve,
        json!({ "id": objection_id, "r": "NOT_USED_FOR_TENANT" }),
    )
    .await
    .expect_code("CONFLICT");
    // The client's withdrawal made the blocked notice active at once: the next run has nothing left to activate.
    assert_eq!(
        steward::registry::activate_due(tenancy, date)
            .await
            .unwrap(),
        0
    );
    app.gql(&legal, TRANSFER, transfer(&a, &a_subject))
        .await
        .ok();

    // Objecting after the effective date is refused.
    let id2 = propose(&app, &legal, sp("Late", &["DE"], &["user.name"], &[])).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": id2, "r": "x" }))
        .await
        .ok();
    let db = app.raw_db("control").await;
    let past = match app.backend {
        Backend::Sqlite => "'2020-01-01'",
        Backend::Postgres(_) => "'2020-01-01'::date",
    };
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!("UPDATE change_notices SET effective_on = {past} WHERE status = 'pending'"),
    )
    .await
    .unwrap();
    let late = app
        .gql(&a_admin, "{ changeNotices { id status } }", json!({}))
        .await;
    let late_id = late.ok()["changeNotices"][0]["id"].clone();
    app.gql(&a_admin, object, json!({ "n": late_id, "r": "too late?" }))
        .await
        .expect_code("CONFLICT");
}

async fn transfer_validation_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Transfer Co", "eu").await;
    let admin = app.invite(&t, "tr-admin", "CLIENT_ADMIN").await;
    let s1 = subject(&app, &admin, "t1", "t1@tr.example", "Tr One").await;
    let s2 = subject(&app, &admin, "t2", "t2@tr.example", "Tr Two").await;
    let mut certified = sp(
        "Cloudy",
        &["US"],
        &["user.contact.email", "user.name"],
        &["safe_harbor", "eu_scc_2021", "eu_us_dpf"],
    );
    certified["dpfCertified"] = json!(true);
    let us = propose(&app, &legal, certified).await;
    let uncertified = propose(
        &app,
        &legal,
        sp("Plain", &["US"], &["user.contact.email"], &["eu_us_dpf"]),
    )
    .await;
    let eu = propose(
        &app,
        &legal,
        sp("Euro", &["DE", "FR"], &["user.contact.email"], &[]),
    )
    .await;
    // The DPF covers its US site, not its Indian one (a mechanism that covers none of an entry's countries is refused).
    let mut indian = sp(
        "Indie",
        &["IN", "US"],
        &["user.contact.email"],
        &["eu_us_dpf"],
    );
    indian["dpfCertified"] = json!(true);
    let india = propose(&app, &legal, indian).await;
    activate(&app, &legal, &india).await;
    activate(&app, &legal, &us).await;
    activate(&app, &legal, &uncertified).await;
    activate(&app, &legal, &eu).await;
    // The rows below date transfers years back (the mechanisms' history): as for a tenant bound before activation
    // times were recorded, nothing bounds the date from below.
    let id = steward_tests::stored_uuid(&app, &t);
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.raw_db("control").await,
        &format!("UPDATE change_notices SET activated_at = NULL WHERE tenant_id = {id}"),
    )
    .await
    .unwrap();

    let send = |sp: &str, categories: Vec<&str>, mechanism: Option<&str>, on: Option<&str>| json!({ "i": { "tenantId": t, "subProcessorId": sp, "categories": categories, "purpose": "essential.service", "subjectIds": [s1, s2], "mechanism": mechanism, "transferredOn": on } });
    let refused = |reply: &steward_tests::Reply| {
        reply.body["errors"][0]["extensions"]["reason"]
            .as_str()
            .map(str::to_owned)
    };
    // EEA: no mechanism needed.
    let ok = app
        .gql(
            &legal,
            TRANSFER,
            send(&eu, vec!["user.contact.email"], None, None),
        )
        .await;
    assert_eq!(ok.ok()["recordOnwardTransfer"]["subjectCount"], 2);
    // The matrix for the US.
    let cases: Vec<(Value, Option<&str>)> = vec![
        (
            send(
                &us,
                vec!["user.contact.email"],
                Some("safe_harbor"),
                Some("2015-10-05"),
            ),
            None,
        ),
        (
            send(
                &us,
                vec!["user.contact.email"],
                Some("safe_harbor"),
                Some("2015-10-06"),
            ),
            Some("MECHANISM_INVALID_ON_DATE"),
        ),
        (
            send(&us, vec!["user.contact.email"], None, None),
            Some("MECHANISM_REQUIRED"),
        ),
        (
            send(
                &uncertified,
                vec!["user.contact.email"],
                Some("eu_us_dpf"),
                None,
            ),
            Some("ENTITY_NOT_CERTIFIED"),
        ),
        (
            send(
                &us,
                vec!["user.contact.email"],
                Some("eu_us_dpf"),
                Some("2023-07-09"),
            ),
            Some("MECHANISM_INVALID_ON_DATE"),
        ),
        (
            send(
                &us,
                vec!["user.contact.email"],
                Some("eu_us_dpf"),
                Some("2023-07-10"),
            ),
            None,
        ),
        (
            send(&us, vec!["user.contact.email"], Some("bcr"), None),
            Some("MECHANISM_NOT_AGREED"),
        ),
        (
            send(
                &us,
                vec!["user.contact.email"],
                Some("eu_scc_2021"),
                Some("2020-01-01"),
            ),
            Some("MECHANISM_INVALID_ON_DATE"),
        ),
        (
            send(
                &us,
                vec!["user.device.ip_address"],
                Some("eu_scc_2021"),
                None,
            ),
            Some("CATEGORY_NOT_DECLARED"),
        ),
        (
            send(
                &us,
                vec!["user.contact.email", "user.name"],
                Some("eu_scc_2021"),
                None,
            ),
            None,
        ),
        (
            send(&eu, vec!["user.name"], None, None),
            Some("CATEGORY_NOT_DECLARED"),
        ),
        (
            send(&india, vec!["user.contact.email"], Some("eu_us_dpf"), None),
            Some("MECHANISM_NOT_APPLICABLE"),
        ),
    ];
    for (input, expected) in cases {
        let reply = app.gql(&legal, TRANSFER, input.clone()).await;
        match expected {
            None => {
                reply.ok();
            }
            Some(reason) => {
                reply.expect_code("BAD_USER_INPUT");
                assert_eq!(
                    refused(&reply).as_deref(),
                    Some(reason),
                    "{input}: {:#}",
                    reply.body
                );
            }
        }
    }
    app.gql(
        &legal,
        TRANSFER,
        send(
            &us,
            vec!["user.contact.email"],
            Some("eu_scc_2021"),
            Some("2999-01-01"),
        ),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let mut foreign = send(&us, vec!["user.contact.email"], Some("eu_scc_2021"), None);
    foreign["i"]["subjectIds"] = json!([uuid::Uuid::now_v7().to_string()]);
    app.gql(&legal, TRANSFER, foreign)
        .await
        .expect_code("NOT_FOUND");
    // Clients and support may not record transfers.
    app.gql(
        &admin,
        TRANSFER,
        send(&eu, vec!["user.contact.email"], None, None),
    )
    .await
    .expect_code("FORBIDDEN");

    // Four accepted transfers: where the tenant's data went, with the subjects kept for erasure.
    let listed = app
        .gql(
            &admin,
            "{ onwardTransfers { subProcessorId mechanism countries subjectCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.ok()["onwardTransfers"].as_array().unwrap().len(), 4);
    let tid = steward_tests::stored_uuid(&app, &t);
    assert_eq!(
        app.count(
            "eu",
            "onward_transfer_subjects",
            &format!("tenant_id = {tid}")
        )
        .await,
        8
    );
    let to_us = app
        .gql(
            &legal,
            "query($id: ID!) { transfersToSubProcessor(id: $id) { tenantId } }",
            json!({ "id": us }),
        )
        .await;
    assert_eq!(
        to_us.ok()["transfersToSubProcessor"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A court strikes down the SCCs: legal records it, sees who is affected, and new transfers are refused.
    let invalidate = "mutation { recordMechanismInvalidation(mechanism: \"eu_scc_2021\", invalidFrom: \"2026-01-01\", reason: \"hypothetical ruling\") { mechanism subProcessors { name } tenantIds } }";
    app.gql(&admin, invalidate, json!({}))
        .await
        .expect_code("FORBIDDEN");
    let impact = app.gql(&legal, invalidate, json!({})).await;
    assert_eq!(
        impact.ok()["recordMechanismInvalidation"]["subProcessors"],
        json!([{ "name": "Cloudy" }])
    );
    assert_eq!(
        impact.ok()["recordMechanismInvalidation"]["tenantIds"],
        json!([t])
    );
    let again = app
        .gql(
            &legal,
            "{ affectedByMechanismChange(mechanism: \"eu_scc_2021\") { tenantIds } }",
            json!({}),
        )
        .await;
    assert_eq!(
        again.ok()["affectedByMechanismChange"]["tenantIds"],
        json!([t])
    );
    let mechanisms = app
        .gql(
            &admin,
            "{ transferMechanisms { key invalidFrom } }",
            json!({}),
        )
        .await;
    assert!(
        mechanisms.ok()["transferMechanisms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["key"] == "eu_scc_2021" && m["invalidFrom"] == "2026-01-01")
    );
    let now_refused = app
        .gql(
            &legal,
            TRANSFER,
            send(&us, vec!["user.contact.email"], Some("eu_scc_2021"), None),
        )
        .await;
    assert_eq!(
        refused(&now_refused).as_deref(),
        Some("MECHANISM_INVALID_ON_DATE")
    );

    // The record of processing for the tenant, from live data, as JSON and CSV.
    let record = app
        .gql(&admin, "{ recordOfProcessing { processor { name } controller { name region } categories { category purposes records } subProcessors { name countries safeguards status } thirdCountryTransfers { subProcessor country mechanism transfers } securityMeasures json csv } }", json!({}))
        .await;
    let r = record.ok()["recordOfProcessing"].clone();
    assert_eq!(
        r["controller"],
        json!({ "name": "Transfer Co", "region": "eu" })
    );
    assert!(
        r["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["category"] == "user.contact.email" && c["records"] == 2)
    );
    let names: Vec<&str> = r["subProcessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Cloudy", "Euro", "Indie", "Plain"]);
    assert!(
        r["thirdCountryTransfers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["country"] == "US" && x["mechanism"] == "safe_harbor")
    );
    assert!(
        r["securityMeasures"]
            .as_str()
            .unwrap()
            .contains("encrypted")
    );
    let parsed: Value = serde_json::from_str(r["json"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["controller"]["name"], "Transfer Co");
    let csv = r["csv"].as_str().unwrap();
    assert!(
        csv.starts_with("section,field,value\n") && csv.contains("sub_processor,Cloudy,"),
        "{csv}"
    );
    // Another tenant's record: NOT_FOUND for a client.
    let other = app.create_tenant("Other Co", "us").await;
    app.gql(
        &admin,
        "query($t: ID) { recordOfProcessing(tenantId: $t) { json } }",
        json!({ "t": other }),
    )
    .await
    .expect_code("NOT_FOUND");
}

async fn public_list_and_feed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Feed Co", "eu").await;
    let admin = app.invite(&t, "feed-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "f1", "f1@feed.example", "Feed One").await;
    let public = propose(
        &app,
        &legal,
        sp(
            "Postbox",
            &["IE", "US"],
            &["user.contact.email"],
            &["eu_scc_2021"],
        ),
    )
    .await;
    propose(&app, &legal, sp("SecretPlan", &["DE"], &["user.name"], &[])).await;
    app.gql(
        &legal,
        ANNOUNCE,
        json!({ "id": public, "r": "better deliverability & <speed>" }),
    )
    .await
    .ok();

    let html = app.get("/subprocessors").await;
    assert_eq!(html.status, axum::http::StatusCode::OK);
    let page = html.body.as_str().unwrap().to_owned();
    assert!(page.contains("<table") && page.contains("Postbox") && page.contains("IE"));
    assert!(!page.contains("SecretPlan"), "proposed entries never leak");
    // Transfer mechanisms by name for people; the JSON keeps the keys.
    assert!(
        page.contains("EU Standard Contractual Clauses (2021/914)"),
        "{page}"
    );
    assert!(!page.contains("eu_scc_2021"), "{page}");

    let listed = app.get("/subprocessors.json").await;
    let names: Vec<&str> = listed.body["subprocessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Postbox"]);

    let feed = app.get("/subprocessors.atom").await;
    assert_eq!(
        feed.headers["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let xml = feed.body.as_str().unwrap().to_owned();
    let doc = roxmltree::Document::parse(&xml).expect("the feed is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "feed");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2005/Atom")
    );
    let entries: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("entry"))
        .collect();
    assert_eq!(entries.len(), 1, "{xml}");
    let title = entries[0]
        .children()
        .find(|n| n.has_tag_name("title"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(title, "Postbox: announced");
    assert!(!xml.contains("SecretPlan"));
    assert!(
        xml.contains("&amp; &lt;speed&gt;"),
        "text is escaped: {xml}"
    );
}

/// The record of processing as CSV cannot run as a spreadsheet formula, whatever a tenant or sub-processor is called.
async fn record_csv_is_not_a_formula(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app
        .create_tenant("=HYPERLINK(\"http://evil.example\",\"x\")", "eu")
        .await;
    let admin = app.invite(&t, "csv-admin", "CLIENT_ADMIN").await;
    let record = app
        .gql(&admin, "{ recordOfProcessing { csv } }", json!({}))
        .await;
    let csv = record.ok()["recordOfProcessing"]["csv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a cell a spreadsheet would run: {cell} in {line}"
            );
        }
    }
}

both_backends!(
    record_csv_is_not_a_formula,
    lifecycle_and_revisions,
    objections_protect_only_their_tenant,
    transfer_validation_matrix,
    public_list_and_feed
);

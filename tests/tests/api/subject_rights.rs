//! A person's rights beyond the request itself (issue 19, items 9 and 10): the access export tells how long each value
//! is kept (Art. 15(1)(d)) and who received their data through a legal demand (Art. 15(1)(c)) — never a demand the
//! controller itself may not know of; an objection restricts the values held for its purpose until resolved; and the
//! children's rules are the controller's instruction (item 11).

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::requests::{complete, reject, start, step, submit};

const DEMAND: &str = "mutation($i: LegalDemandInput!) { recordLegalDisclosure(input: $i) { id } }";
const DECIDE: &str = "mutation($id: ID!, $i: DisclosureDecisionInput!) { decideLegalDisclosure(id: $id, input: $i) { id noticeSentAt } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Records a demand for `tenant` from `authority` and discloses `subject`'s email to it; returns whether the tenant
/// was told.
async fn disclose(
    app: &TestApp,
    legal: &str,
    tenant: &str,
    authority: &str,
    subject: &str,
    gagged: bool,
) -> bool {
    let demand = json!({ "i": { "tenantId": tenant, "kind": "COURT_ORDER", "authority": authority, "reference": format!("{authority}-1"), "receivedOn": today().to_string(), "scope": "one account", "nondisclosureOrder": gagged } });
    let id = app.gql(legal, DEMAND, demand).await.ok()["recordLegalDisclosure"]["id"].clone();
    let decided = app
        .gql(
            legal,
            DECIDE,
            json!({ "id": id, "i": { "decision": "DISCLOSE", "note": "lawful and specific", "disclosedCategories": ["user.contact.email"], "disclosedSubjectIds": [subject], "disclosedOn": today().to_string() } }),
        )
        .await;
    decided.ok()["decideLegalDisclosure"]["noticeSentAt"].is_string()
}

async fn the_access_export_names_retention_and_disclosure_recipients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Rights Co", "eu").await;
    let admin = app.invite(&t, "rights-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let s = subject(&app, &admin, "r-1", "r1@rights.example", "Rhea").await;
    let other = subject(&app, &admin, "r-2", "r2@rights.example", "Remo").await;

    // The controller keeps emails a year.
    app.gql(
        &admin,
        "mutation { setRetentionRule(input: { category: \"user.contact.email\", periodDays: 365 }) { id } }",
        json!({}),
    )
    .await
    .ok();
    let defaults = app
        .gql(
            &po,
            "{ retentionDefaults { category periodDays inForce } }",
            json!({}),
        )
        .await;
    let name_default = defaults.ok()["retentionDefaults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["category"] == "user.name" && d["inForce"] == true)
        .map(|d| d["periodDays"].as_i64().unwrap());

    // Three demands: one disclosed the subject and the controller was told; one disclosed it under a gag order (the
    // controller was not told, so neither is the person); one disclosed someone else.
    assert!(disclose(&app, &legal, &t, "Told Court", &s, false).await);
    assert!(!disclose(&app, &legal, &t, "Gagged Agency", &s, true).await);
    assert!(disclose(&app, &legal, &t, "Other Court", &other, false).await);

    let (id, _) = submit(&app, &admin, &s, "ACCESS").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": 1 })).await;
    step(&app, &po, &complete(), json!({ "t": t, "id": id, "v": 2 })).await;
    let export = app
        .gql(
            &admin,
            "query($r: ID!) { subjectExport(requestId: $r) { document } }",
            json!({ "r": id }),
        )
        .await;
    let doc: Value = export.ok()["subjectExport"]["document"].clone();

    let value = |category: &str| -> Value {
        doc["personal_data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["category"] == category)
            .unwrap_or_else(|| panic!("no {category} in {doc:#}"))
            .clone()
    };
    let email = value("user.contact.email");
    assert_eq!(email["retention"]["period_days"], 365, "{email:#}");
    assert_eq!(email["retention"]["set_by"], "controller");
    let collected: chrono::DateTime<Utc> =
        serde_json::from_value(email["collected_at"].clone()).unwrap();
    assert_eq!(
        email["retention"]["deleted_after"],
        (collected + Duration::days(365)).date_naive().to_string()
    );
    assert_eq!(email["retention"]["suspended_by_legal_hold"], false);
    let name = value("user.name");
    match name_default {
        Some(days) => {
            assert_eq!(name["retention"]["period_days"], days);
            assert_eq!(name["retention"]["set_by"], "platform default");
        }
        None => {
            assert!(name["retention"]["period_days"].is_null());
            assert!(name["retention"]["note"].is_string());
        }
    }

    let recipients: Vec<&str> = doc["legal_disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(recipients, ["Told Court"], "{doc:#}");
    assert_eq!(
        doc["legal_disclosures"][0]["categories"],
        json!(["user.contact.email"])
    );
    assert!(!doc.to_string().contains("Gagged Agency"));
}

const ADD: &str = "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }";
const UPDATE: &str =
    "mutation($i: UpdatePersonalDataInput!) { updatePersonalData(input: $i) { id } }";
const OBJECT: &str = "mutation($i: SubmitDataSubjectRequestInput!) { submitDataSubjectRequest(input: $i) { id objectedPurpose } }";
const VALUES: &str = "query($id: ID!) { dataSubject(id: $id) { personalData { id purpose value restrictedByRequest } } }";
const MARKETING: &str = "marketing.communications.email";

fn reason(reply: &steward_tests::Reply) -> Value {
    reply.body["errors"][0]["extensions"]["reason"].clone()
}

/// The subject's values as its admin reads them: (purpose, value or null, restricting request or null), and the paths
/// of the errors.
async fn values_of(
    app: &TestApp,
    admin: &str,
    s: &str,
) -> (Vec<(String, Value, Value)>, Vec<Value>) {
    let reply = app.gql(admin, VALUES, json!({ "id": s })).await;
    let rows = reply.body["data"]["dataSubject"]["personalData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["purpose"].as_str().unwrap().to_owned(),
                r["value"].clone(),
                r["restrictedByRequest"].clone(),
            )
        })
        .collect();
    let paths = reply.body["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| e["path"].clone()).collect())
        .unwrap_or_default();
    (rows, paths)
}

async fn an_objection_restricts_its_purpose_until_resolved(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Objecting Co", "eu").await;
    let admin = app.invite(&t, "obj-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let s = subject(&app, &admin, "o-1", "o1@obj.example", "Olga").await;
    let newsletter = app.gql(&admin, ADD, json!({ "i": { "subjectId": s, "category": "user.contact.email", "value": "olga.news@obj.example", "purpose": MARKETING, "source": "newsletter form" } })).await;
    let newsletter = newsletter.ok()["addPersonalData"]["id"].clone();
    let mailer = crate::registry::propose(
        &app,
        &legal,
        crate::registry::sp("ObjMail", &["DE"], &["user.contact.email"], &[]),
    )
    .await;
    crate::registry::activate(&app, &legal, &mailer).await;
    let transfer = |purpose: &str| json!({ "i": { "tenantId": t, "subProcessorId": mailer, "categories": ["user.contact.email"], "purpose": purpose, "subjectIds": [s] } });
    const TRANSFER: &str =
        "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }";

    // An objection names a known purpose, and only an objection names one.
    let before = app.count("eu", "dsr_requests", "1=1").await;
    for input in [
        json!({ "subjectId": s, "kind": "OBJECTION" }),
        json!({ "subjectId": s, "kind": "OBJECTION", "objectedPurpose": "astrology" }),
        json!({ "subjectId": s, "kind": "ACCESS", "objectedPurpose": MARKETING }),
    ] {
        app.gql(&admin, OBJECT, json!({ "i": input }))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    assert_eq!(app.count("eu", "dsr_requests", "1=1").await, before);
    let objection = app
        .gql(
            &admin,
            OBJECT,
            json!({ "i": { "subjectId": s, "kind": "OBJECTION", "objectedPurpose": MARKETING } }),
        )
        .await;
    assert_eq!(
        objection.ok()["submitDataSubjectRequest"]["objectedPurpose"],
        MARKETING
    );
    let id = objection.ok()["submitDataSubjectRequest"]["id"].clone();
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": 1 })).await;

    // Handled: the marketing value is read by nobody (null, FORBIDDEN at its path), the others as before.
    let (rows, errors) = values_of(&app, &admin, &s).await;
    for (purpose, value, by) in &rows {
        if purpose == MARKETING {
            assert!(value.is_null());
            assert_eq!(by, &id);
        } else {
            assert!(value.is_string());
            assert!(by.is_null());
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    // Nothing is added for the purpose, moved to it, changed in it or transferred for it.
    let added = app.gql(&admin, ADD, json!({ "i": { "subjectId": s, "category": "user.name", "value": "Olga O.", "purpose": MARKETING, "source": "form" } })).await;
    assert_eq!(reason(&added), "PURPOSE_OBJECTED", "{:#}", added.body);
    let changed = app
        .gql(
            &admin,
            UPDATE,
            json!({ "i": { "id": newsletter, "value": "other@obj.example" } }),
        )
        .await;
    assert_eq!(reason(&changed), "PURPOSE_OBJECTED");
    let other = rows.iter().position(|(p, _, _)| p != MARKETING).unwrap();
    let other_id = app.gql(&admin, VALUES, json!({ "id": s })).await.body["data"]["dataSubject"]
        ["personalData"][other]["id"]
        .clone();
    let moved = app
        .gql(
            &admin,
            UPDATE,
            json!({ "i": { "id": other_id, "purpose": MARKETING } }),
        )
        .await;
    assert_eq!(reason(&moved), "PURPOSE_OBJECTED");
    let sent = app.gql(&legal, TRANSFER, transfer(MARKETING)).await;
    assert_eq!(reason(&sent), "PURPOSE_OBJECTED", "{:#}", sent.body);
    // Other purposes go on.
    app.gql(&legal, TRANSFER, transfer("essential.service"))
        .await
        .ok();
    app.gql(&admin, ADD, json!({ "i": { "subjectId": s, "category": "user.contact.phone_number", "value": "+49 30 1234567", "purpose": "operations.support", "source": "call" } }))
        .await
        .ok();

    // The controller's grounds override (rejected): the purpose is processed again.
    step(
        &app,
        &po,
        &reject(),
        json!({ "t": t, "id": id, "v": 2, "r": "compelling legitimate grounds documented" }),
    )
    .await;
    let (rows, errors) = values_of(&app, &admin, &s).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(rows.iter().all(|(_, v, by)| v.is_string() && by.is_null()));
    app.gql(&admin, TRANSFER, transfer(MARKETING))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&legal, TRANSFER, transfer(MARKETING)).await.ok();

    // Objected again and upheld: restricted for good (the controller may erase it), and nothing new for it.
    let again = app
        .gql(
            &admin,
            OBJECT,
            json!({ "i": { "subjectId": s, "kind": "OBJECTION", "objectedPurpose": MARKETING } }),
        )
        .await;
    let again = again.ok()["submitDataSubjectRequest"]["id"].clone();
    step(&app, &po, &start(), json!({ "t": t, "id": again, "v": 1 })).await;
    step(
        &app,
        &po,
        &complete(),
        json!({ "t": t, "id": again, "v": 2 }),
    )
    .await;
    let (rows, _) = values_of(&app, &admin, &s).await;
    assert!(
        rows.iter()
            .filter(|(p, _, _)| p == MARKETING)
            .all(|(_, v, by)| v.is_null() && by == &again)
    );
    let added = app.gql(&admin, ADD, json!({ "i": { "subjectId": s, "category": "user.name", "value": "Olga O.", "purpose": MARKETING, "source": "form" } })).await;
    assert_eq!(reason(&added), "PURPOSE_OBJECTED");
}

/// A paediatric clinic's lawful instruction: a guardian's consent for every minor, none refused or erased for age.
async fn the_children_rule_is_the_controllers(backend: Backend) {
    use chrono::Datelike;
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Clinic", "eu").await;
    let other = app.create_tenant("Other Clinic", "eu").await;
    let admin = app.invite(&t, "clinic-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "clinic-viewer", "CLIENT_VIEWER").await;
    let other_admin = app
        .invite(&other, "other-clinic-admin", "CLIENT_ADMIN")
        .await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let d = today();
    let eight = NaiveDate::from_ymd_opt(d.year() - 8, d.month(), 1)
        .unwrap()
        .to_string();
    const CREATE: &str = crate::personal::CREATE;
    const RULE: &str =
        "mutation($t: ID, $r: ChildrenRule!) { setChildrenRule(tenantId: $t, rule: $r) }";
    let child = |external: &str, consent: Option<Value>| json!({ "i": { "externalId": external, "birthDate": eight, "personalData": [crate::personal::record("user.name", "Pia Patient")], "guardianConsent": consent } });
    let consent = json!({ "guardian": "Paula Parent", "method": "written", "givenAt": "2026-01-10T09:00:00Z" });

    // The seed's rule by default: a child under 13 is refused.
    let refused = app
        .gql(&admin, CREATE, child("p-1", Some(consent.clone())))
        .await;
    assert_eq!(reason(&refused), "CHILD_UNDER_13");
    let record = "{ recordOfProcessing { controller { childrenRule } } }";
    assert_eq!(
        app.gql(&admin, record, json!({})).await.ok()["recordOfProcessing"]["controller"]["childrenRule"],
        "SEED"
    );

    // Only the controller's admin sets it.
    app.gql(&viewer, RULE, json!({ "r": "GUARDIAN_FOR_ALL_MINORS" }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &support,
        RULE,
        json!({ "t": t, "r": "GUARDIAN_FOR_ALL_MINORS" }),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &other_admin,
        RULE,
        json!({ "t": t, "r": "GUARDIAN_FOR_ALL_MINORS" }),
    )
    .await
    .expect_code("NOT_FOUND");
    let set = app
        .gql(&admin, RULE, json!({ "r": "GUARDIAN_FOR_ALL_MINORS" }))
        .await;
    assert_eq!(set.ok()["setChildrenRule"], "GUARDIAN_FOR_ALL_MINORS");
    assert_eq!(
        app.gql(&admin, record, json!({})).await.ok()["recordOfProcessing"]["controller"]["childrenRule"],
        "GUARDIAN_FOR_ALL_MINORS"
    );
    app.run_jobs().await;
    assert_eq!(
        app.count("eu", "audit_events", "action = 'tenant.children_rule_set'")
            .await,
        1
    );
    // The other clinic keeps the seed's rule.
    let theirs = app
        .gql(&other_admin, CREATE, child("o-1", Some(consent.clone())))
        .await;
    assert_eq!(reason(&theirs), "CHILD_UNDER_13");

    // Now an eight-year-old is taken with a guardian's consent, and only with it.
    let no_consent = app.gql(&admin, CREATE, child("p-1", None)).await;
    assert_eq!(reason(&no_consent), "GUARDIAN_CONSENT_REQUIRED");
    app.gql(&admin, CREATE, child("p-1", Some(consent.clone())))
        .await
        .ok();
    // An adult learned to be under 13 is not erased: new data waits for a guardian's consent.
    let learned = subject(&app, &admin, "p-2", "p2@clinic.example", "Paul").await;
    app.gql(
        &admin,
        "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { knownUnder13 } }",
        json!({ "i": { "id": learned, "knownUnder13": true } }),
    )
    .await
    .ok();
    app.run_jobs().await;
    assert_eq!(
        app.count("eu", "dsr_requests", "origin = 'child_under_13'")
            .await,
        0
    );
    let add = json!({ "i": { "subjectId": learned, "category": "user.contact.phone_number", "value": "+49 30 555", "purpose": "essential.service", "source": "form" } });
    assert_eq!(
        reason(&app.gql(&admin, ADD, add.clone()).await),
        "GUARDIAN_CONSENT_REQUIRED"
    );
    app.gql(
        &admin,
        "mutation($i: RecordGuardianConsentInput!) { recordGuardianConsent(input: $i) { id } }",
        json!({ "i": { "subjectId": learned, "consent": consent } }),
    )
    .await
    .ok();
    app.gql(&admin, ADD, add.clone()).await.ok();

    // Back to the seed's rule: nothing is erased by the switch, and new data about a child under 13 is refused.
    app.gql(&admin, RULE, json!({ "r": "SEED" })).await.ok();
    assert_eq!(reason(&app.gql(&admin, ADD, add).await), "CHILD_UNDER_13");
    app.gql(
        &admin,
        "query($id: ID!) { dataSubject(id: $id) { id } }",
        json!({ "id": learned }),
    )
    .await
    .ok();
}

both_backends!(
    the_access_export_names_retention_and_disclosure_recipients,
    an_objection_restricts_its_purpose_until_resolved,
    the_children_rule_is_the_controllers,
);

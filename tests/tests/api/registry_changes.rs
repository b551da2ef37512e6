//! Changes to a sub-processor in use are announced like a new one (issue 19, item 2): more countries, categories or
//! another purpose or legal entity reach every bound tenant as a change notice with its notice period and
//! objections; the current terms stay in force until the effective date; a tenant whose objection stands then has
//! the entry blocked for its data.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::registry::{propose, sp};

const ANNOUNCE: &str = "mutation($id: ID!, $d: NaiveDate, $r: String!) { announceSubProcessor(id: $id, effectiveOn: $d, reason: $r) { tenantsNotified } }";
const UPDATE: &str = "mutation($id: ID!, $i: SubProcessorInput!, $d: NaiveDate) { updateSubProcessor(id: $id, input: $i, reason: \"wider service\", effectiveOn: $d) { id countries categories legalEntity website pendingChange { effectiveOn countries categories legalEntity purpose } } }";
const LIST: &str = "query { subProcessorList { entries { subProcessor { name } standing notice { id kind status effectiveOn } } } }";
const SP: &str = "query($id: ID!) { subProcessor(id: $id) { countries categories pendingChange { effectiveOn } revisions { change } } }";
const TRANSFER: &str =
    "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn standing(app: &TestApp, token: &str, name: &str) -> Value {
    let list = app.gql(token, LIST, json!({})).await;
    list.ok()["subProcessorList"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subProcessor"]["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not listed: {:#}", list.body))
}

async fn transfer(
    app: &TestApp,
    legal: &str,
    tenant: &str,
    sp: &str,
    subject: &str,
    category: &str,
) -> Value {
    let input = json!({ "tenantId": tenant, "subProcessorId": sp, "categories": [category], "purpose": "analytics", "subjectIds": [subject], "transferredOn": today().to_string(), "mechanism": "eu_scc_2021" });
    app.gql(legal, TRANSFER, json!({ "i": input })).await.body
}

fn reason(reply: &Value) -> Option<&str> {
    reply["errors"][0]["extensions"]["reason"].as_str()
}

async fn inbox_titles(app: &TestApp, token: &str) -> Vec<String> {
    app.gql(token, "{ notices { edges { node { title } } } }", json!({}))
        .await
        .ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_wider_change_is_announced_and_the_current_terms_stay_until_it_takes_effect(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = app.create_tenant("Accepts", "eu").await;
    let b = app.create_tenant("Objects", "eu").await;
    let a_admin = app.invite(&a, "a-admin", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "b-admin", "CLIENT_ADMIN").await;
    let email = "user.contact.email";
    let name = "user.name";
    let mailer = propose(
        &app,
        &legal,
        sp("Mailer", &["IE"], &[email], &["eu_scc_2021"]),
    )
    .await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let sa = subject(&app, &a_admin, "a1", "a1@a.example", "Ann A").await;
    let sb = subject(&app, &b_admin, "b1", "b1@b.example", "Bob B").await;
    assert!(transfer(&app, &legal, &a, &mailer, &sa, email).await["errors"].is_null());

    // Wider terms: the US and names. An effective date inside a tenant's notice period is refused, changing nothing.
    let wider = sp("Mailer", &["IE", "US"], &[email, name], &["eu_scc_2021"]);
    app.gql(
        &legal,
        UPDATE,
        json!({ "id": mailer, "i": wider, "d": (today() + Duration::days(5)).to_string() }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    assert_eq!(
        app.count("control", "change_notices", "kind = 'change'")
            .await,
        0
    );

    let on = today() + Duration::days(30);
    let updated = app
        .gql(&legal, UPDATE, json!({ "id": mailer, "i": wider }))
        .await;
    let u = &updated.ok()["updateSubProcessor"];
    // The entry keeps its terms; the change waits beside them.
    assert_eq!(u["countries"], json!(["IE"]), "{u:#}");
    assert_eq!(u["categories"], json!([email]));
    assert_eq!(u["pendingChange"]["effectiveOn"], on.to_string());
    assert_eq!(u["pendingChange"]["countries"], json!(["IE", "US"]));

    // Every bound tenant is told and may object; a tenant created now is told too.
    app.run_jobs().await;
    let late = app.create_tenant("Late", "eu").await;
    let late_admin = app.invite(&late, "late-admin", "CLIENT_ADMIN").await;
    for token in [&a_admin, &b_admin, &late_admin] {
        let e = standing(&app, token, "Mailer").await;
        assert_eq!(e["standing"], "CHANGE_NOTIFIED", "{e:#}");
        assert_eq!(e["notice"]["kind"], "CHANGE");
        assert_eq!(e["notice"]["effectiveOn"], on.to_string());
        let titles = inbox_titles(&app, token).await;
        assert!(
            titles.iter().any(|t| t == "Change to sub-processor Mailer"),
            "{titles:?}"
        );
    }
    let b_notice = standing(&app, &b_admin, "Mailer").await["notice"]["id"].clone();
    app.gql(
        &b_admin,
        "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"not to the US\") { id } }",
        json!({ "n": b_notice }),
    )
    .await
    .ok();
    assert_eq!(
        standing(&app, &b_admin, "Mailer").await["standing"],
        "OBJECTED"
    );

    // Until the date the current terms apply to everyone: names are not declared yet, email still flows for both.
    let refused = transfer(&app, &legal, &a, &mailer, &sa, name).await;
    assert_eq!(
        reason(&refused),
        Some("CATEGORY_NOT_DECLARED"),
        "{refused:#}"
    );
    assert!(transfer(&app, &legal, &b, &mailer, &sb, email).await["errors"].is_null());

    // The public list shows the change announced, with its date.
    let public = app.get("/subprocessors.json").await;
    let listed = public.body["subprocessors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Mailer")
        .cloned()
        .unwrap();
    assert_eq!(
        listed["pending_change"]["effective_on"],
        on.to_string(),
        "{listed:#}"
    );
    assert_eq!(listed["pending_change"]["countries"], json!(["IE", "US"]));
    // One change at a time, and an announced entry keeps the terms its tenants were told.
    app.gql(&legal, UPDATE, json!({ "id": mailer, "i": sp("Mailer", &["IE", "US", "IN"], &[email, name], &["eu_scc_2021"]) }))
        .await
        .expect_code("CONFLICT");
    let fresh = propose(&app, &legal, sp("Fresh", &["IE"], &[email], &[])).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": fresh, "r": "rollout" }))
        .await
        .ok();
    app.gql(
        &legal,
        UPDATE,
        json!({ "id": fresh, "i": sp("Fresh", &["IE", "FR"], &[email], &[]) }),
    )
    .await
    .expect_code("CONFLICT");

    // On the date the new terms take effect (once, however often the sweep runs); the objector's entry is blocked.
    for _ in 0..2 {
        steward::registry::activate_due(app.state.tenancy(), on)
            .await
            .unwrap();
    }
    let now = app.gql(&legal, SP, json!({ "id": mailer })).await;
    let now = &now.ok()["subProcessor"];
    assert_eq!(now["countries"], json!(["IE", "US"]), "{now:#}");
    assert!(now["pendingChange"].is_null());
    let changes: Vec<&str> = now["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes.iter().filter(|c| **c == "change_announced").count(),
        1,
        "{changes:?}"
    );
    assert_eq!(
        changes.iter().filter(|c| **c == "change_effective").count(),
        1,
        "{changes:?}"
    );
    assert_eq!(
        standing(&app, &a_admin, "Mailer").await["standing"],
        "ACTIVE"
    );
    assert!(transfer(&app, &legal, &a, &mailer, &sa, name).await["errors"].is_null());
    // A transfer dated before the entry was in effect for the tenant cannot have happened.
    let dated = |on: NaiveDate, category: &str| json!({ "i": { "tenantId": a, "subProcessorId": mailer, "categories": [category], "purpose": "analytics", "subjectIds": [sa], "transferredOn": on.to_string(), "mechanism": "eu_scc_2021" } });
    let early = app
        .gql(
            &legal,
            TRANSFER,
            dated(today() - Duration::days(400), email),
        )
        .await;
    assert_eq!(
        reason(&early.body),
        Some("NOT_YET_EFFECTIVE"),
        "{:#}",
        early.body
    );
    // As for a tenant bound before activation times were recorded: a transfer before the change took effect is
    // checked against the terms in force then, without the category the change added.
    let id = steward_tests::stored_uuid(&app, &a);
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.raw_db("control").await,
        &format!("UPDATE change_notices SET activated_at = NULL WHERE tenant_id = {id}"),
    )
    .await
    .unwrap();
    let before = app
        .gql(&legal, TRANSFER, dated(today() - Duration::days(1), name))
        .await;
    assert_eq!(
        reason(&before.body),
        Some("CATEGORY_NOT_DECLARED"),
        "{:#}",
        before.body
    );
    assert!(
        app.gql(&legal, TRANSFER, dated(today() - Duration::days(1), email))
            .await
            .body["errors"]
            .is_null()
    );
    let b_view = standing(&app, &b_admin, "Mailer").await;
    assert_eq!(b_view["standing"], "BLOCKED", "{b_view:#}");
    let blocked = transfer(&app, &legal, &b, &mailer, &sb, email).await;
    assert_eq!(reason(&blocked), Some("OBJECTED"), "{blocked:#}");

    // The record of processing names the entry once, as it stands for the tenant.
    let record = app
        .gql(
            &b_admin,
            "{ recordOfProcessing { subProcessors { name status } } }",
            json!({}),
        )
        .await;
    let uses: Vec<&Value> = record.ok()["recordOfProcessing"]["subProcessors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["name"] == "Mailer")
        .collect();
    assert_eq!(uses.len(), 1, "{:#}", record.body);
    assert_eq!(uses[0]["status"], "BLOCKED");

    // A narrower change (a new website) applies at once, with no notice.
    let before = app.count("control", "change_notices", "1 = 1").await;
    let mut site = sp("Mailer", &["IE", "US"], &[email, name], &["eu_scc_2021"]);
    site["website"] = json!("https://mail.example");
    let u = app
        .gql(&legal, UPDATE, json!({ "id": mailer, "i": site }))
        .await;
    assert_eq!(
        u.ok()["updateSubProcessor"]["website"],
        "https://mail.example"
    );
    assert!(u.ok()["updateSubProcessor"]["pendingChange"].is_null());
    assert_eq!(
        app.count("control", "change_notices", "1 = 1").await,
        before
    );
}

/// Another legal entity is a new processor in law: announced even with nothing else changed; a client resolved
/// out by legal is excluded on the date.
async fn another_legal_entity_is_announced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Client", "eu").await;
    let admin = app.invite(&t, "admin", "CLIENT_ADMIN").await;
    let email = "user.contact.email";
    let mailer = propose(&app, &legal, sp("Mailer", &["IE"], &[email], &[])).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let mut moved = sp("Mailer", &["IE"], &[email], &[]);
    moved["legalEntity"] = json!("Mailer Holdings B.V.");
    let on = today() + Duration::days(40);
    let u = app
        .gql(
            &legal,
            UPDATE,
            json!({ "id": mailer, "i": moved, "d": on.to_string() }),
        )
        .await;
    assert_eq!(u.ok()["updateSubProcessor"]["legalEntity"], "Mailer Inc.");
    assert_eq!(
        u.ok()["updateSubProcessor"]["pendingChange"]["legalEntity"],
        "Mailer Holdings B.V."
    );
    let notice = standing(&app, &admin, "Mailer").await["notice"]["id"].clone();
    let objection = app
        .gql(&admin, "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"not that company\") { id } }", json!({ "n": notice }))
        .await;
    let objection = objection.ok()["objectToChange"]["id"].clone();
    app.gql(&legal, "mutation($id: ID!) { resolveObjection(id: $id, resolution: NOT_USED_FOR_TENANT, note: \"agreed\") { id } }", json!({ "id": objection }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), on)
        .await
        .unwrap();
    assert_eq!(
        standing(&app, &admin, "Mailer").await["standing"],
        "EXCLUDED"
    );
    let s = subject(&app, &admin, "c1", "c1@c.example", "Cy C").await;
    let refused = transfer(&app, &legal, &t, &mailer, &s, email).await;
    assert_eq!(reason(&refused), Some("EXCLUDED_FOR_TENANT"), "{refused:#}");
}

/// Two wider changes announced at once: one wins, the other is `CONFLICT`, and each tenant has one change notice.
async fn two_changes_announced_at_once_settle_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    for name in ["One", "Two", "Three"] {
        app.create_tenant(name, "eu").await;
    }
    let email = "user.contact.email";
    let mailer = propose(&app, &legal, sp("Mailer", &["IE"], &[email], &[])).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let to =
        |country: &str| json!({ "id": mailer, "i": sp("Mailer", &["IE", country], &[email], &[]) });
    let (a, b) = tokio::join!(
        app.gql(&legal, UPDATE, to("FR")),
        app.gql(&legal, UPDATE, to("NL"))
    );
    let codes = [a.code(), b.code()];
    assert!(
        codes.contains(&None) && codes.contains(&Some("CONFLICT")),
        "{:#} {:#}",
        a.body,
        b.body
    );
    assert_eq!(
        app.count("control", "change_notices", "kind = 'change'")
            .await,
        3
    );
}

both_backends!(
    a_wider_change_is_announced_and_the_current_terms_stay_until_it_takes_effect,
    another_legal_entity_is_announced,
    two_changes_announced_at_once_settle_once,
);

const LEGAL_DEMAND: &str =
    "mutation($i: LegalDemandInput!) { recordLegalDisclosure(input: $i) { id } }";

/// Dates past year 9999 sort before today as SQLite text: every date given to Steward is kept within 1900–2199, so a
/// notice period, a change or a gag order cannot end at once.
async fn dates_out_of_range_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Client", "eu").await;
    app.invite(&t, "admin", "CLIENT_ADMIN").await;
    let email = "user.contact.email";
    let mailer = propose(&app, &legal, sp("Mailer", &["IE"], &[email], &[])).await;
    for far in ["+10000-01-01", "9999-12-31"] {
        app.gql(
            &legal,
            ANNOUNCE,
            json!({ "id": mailer, "d": far, "r": "far" }),
        )
        .await
        .expect_code("BAD_USER_INPUT");
    }
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let wider = sp("Mailer", &["IE", "FR"], &[email], &[]);
    for far in ["+10000-01-01", "2199-12-31"] {
        app.gql(
            &legal,
            UPDATE,
            json!({ "id": mailer, "i": wider, "d": far }),
        )
        .await
        .expect_code("BAD_USER_INPUT");
    }
    let mut signed = sp("Other", &["IE"], &[email], &[]);
    signed["dpaSignedOn"] = json!("+10000-01-01");
    let reply = app
        .gql(&legal, "mutation($i: SubProcessorInput!) { proposeSubProcessor(input: $i, reason: \"x\") { id } }", json!({ "i": signed }))
        .await;
    reply.expect_code("BAD_USER_INPUT");
    assert!(reply.message().contains("1900"), "{}", reply.message());
    let gag = json!({ "i": { "tenantId": t, "kind": "SUBPOENA", "authority": "Court X", "reference": "R-1", "receivedOn": today().to_string(), "scope": "emails", "nondisclosureOrder": true, "nondisclosureUntil": "+10000-01-01" } });
    app.gql(&legal, LEGAL_DEMAND, gag)
        .await
        .expect_code("BAD_USER_INPUT");
    for vars in [
        json!({ "c": "KR", "d": "0001-01-01" }),
        json!({ "c": "AR", "d": "-0001-01-01" }),
        json!({ "c": "JP", "w": "+10000-01-01" }),
    ] {
        app.gql(&legal, "mutation($c: String!, $d: NaiveDate, $w: NaiveDate) { recordAdequacyChange(country: $c, decidedOn: $d, withdrawnOn: $w, reason: \"x\") { mechanism } }", vars)
            .await
            .expect_code("BAD_USER_INPUT");
    }
    // Nothing of it was written.
    assert_eq!(app.count("control", "legal_disclosures", "1 = 1").await, 0);
    assert_eq!(app.count("control", "adequacy_changes", "1 = 1").await, 0);
    assert_eq!(
        app.count("control", "change_notices", "kind = 'change'")
            .await,
        0
    );
}

/// Legal withdraws an announced change; what applies at once (a certification lapsing) still applies while one is
/// announced, to both sets of terms; an entry with a change announced cannot be retired before it is withdrawn.
async fn an_announced_change_can_be_withdrawn(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Client", "eu").await;
    let admin = app.invite(&t, "admin", "CLIENT_ADMIN").await;
    let email = "user.contact.email";
    let mut input = sp("Cloud", &["US"], &[email], &["eu_us_dpf", "eu_scc_2021"]);
    input["dpfCertified"] = json!(true);
    let cloud = propose(&app, &legal, input.clone()).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": cloud, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let mut wider = input.clone();
    wider["countries"] = json!(["US", "IE"]);
    app.gql(
        &legal,
        UPDATE,
        json!({ "id": cloud, "i": wider, "d": (today() + Duration::days(400)).to_string() }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(&legal, UPDATE, json!({ "id": cloud, "i": wider }))
        .await
        .ok();

    // The certification lapses: it applies at once, to the current and the announced terms.
    let mut lapsed = input.clone();
    lapsed["dpfCertified"] = json!(false);
    lapsed["mechanisms"] = json!(["eu_scc_2021"]);
    let u = app
        .gql(&legal, "mutation($id: ID!, $i: SubProcessorInput!) { updateSubProcessor(id: $id, input: $i, reason: \"DPF lapsed\") { dpfCertified mechanisms countries pendingChange { dpfCertified mechanisms countries } } }", json!({ "id": cloud, "i": lapsed }))
        .await;
    let u = &u.ok()["updateSubProcessor"];
    assert_eq!(u["dpfCertified"], false, "{u:#}");
    assert_eq!(u["countries"], json!(["US"]));
    assert_eq!(u["pendingChange"]["dpfCertified"], false);
    assert_eq!(u["pendingChange"]["mechanisms"], json!(["eu_scc_2021"]));
    assert_eq!(u["pendingChange"]["countries"], json!(["IE", "US"]));

    app.gql(
        &legal,
        "mutation($id: ID!) { retireSubProcessor(id: $id, reason: \"gone\") { id } }",
        json!({ "id": cloud }),
    )
    .await
    .expect_code("CONFLICT");
    let support = app.staff_with("sue", "SUPPORT").await;
    const WITHDRAW: &str = "mutation($id: ID!) { withdrawSubProcessorChange(id: $id, reason: \"plan dropped\") { countries pendingChange { effectiveOn } } }";
    app.gql(&support, WITHDRAW, json!({ "id": cloud }))
        .await
        .expect_code("FORBIDDEN");
    let w = app.gql(&legal, WITHDRAW, json!({ "id": cloud })).await;
    assert!(w.ok()["withdrawSubProcessorChange"]["pendingChange"].is_null());
    assert_eq!(
        w.ok()["withdrawSubProcessorChange"]["countries"],
        json!(["US"])
    );
    app.gql(&legal, WITHDRAW, json!({ "id": cloud }))
        .await
        .expect_code("CONFLICT");
    let e = standing(&app, &admin, "Cloud").await;
    assert_eq!(e["standing"], "ACTIVE", "{e:#}");
    assert!(
        inbox_titles(&app, &admin)
            .await
            .iter()
            .any(|t| t == "Change to sub-processor Cloud withdrawn")
    );
    // Nothing takes effect on the date once withdrawn; a new change can be announced.
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(60))
        .await
        .unwrap();
    let now = app.gql(&legal, SP, json!({ "id": cloud })).await;
    assert_eq!(now.ok()["subProcessor"]["countries"], json!(["US"]));
    let mut again = lapsed.clone();
    again["countries"] = json!(["US", "CA"]);
    app.gql(&legal, UPDATE, json!({ "id": cloud, "i": again }))
        .await
        .ok();
    // A mechanism that covers none of the entry's countries is refused.
    let mut elsewhere = sp("Eire", &["IE"], &[email], &["eu_us_dpf"]);
    elsewhere["dpfCertified"] = json!(true);
    app.gql(
        &legal,
        "mutation($i: SubProcessorInput!) { proposeSubProcessor(input: $i, reason: \"x\") { id } }",
        json!({ "i": elsewhere }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
}

/// Only the client withdraws its objection; legal's resolution reaches the client's inbox and audit trail; a client
/// that withdrew may object again in the window, one whose objection legal resolved may not.
async fn objections_are_the_clients_and_resolutions_reach_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Client", "eu").await;
    let admin = app.invite(&t, "admin", "CLIENT_ADMIN").await;
    let email = "user.contact.email";
    let a = propose(&app, &legal, sp("Alpha", &["IE"], &[email], &[])).await;
    let b = propose(&app, &legal, sp("Beta", &["IE"], &[email], &[])).await;
    for id in [&a, &b] {
        app.gql(&legal, ANNOUNCE, json!({ "id": id, "r": "rollout" }))
            .await
            .ok();
    }
    const OBJECT: &str =
        "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"review\") { id } }";
    const RESOLVE: &str = "mutation($id: ID!, $r: ObjectionResolution!) { resolveObjection(id: $id, resolution: $r, note: \"agreed\") { id } }";
    let notice = |name: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move { standing(app, &admin, name).await["notice"]["id"].clone() }
    };
    let na = notice("Alpha").await;
    let oa = app.gql(&admin, OBJECT, json!({ "n": na })).await.ok()["objectToChange"]["id"].clone();
    app.gql(
        &legal,
        RESOLVE,
        json!({ "id": oa, "r": "WITHDRAWN_BY_CLIENT" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(
        &legal,
        RESOLVE,
        json!({ "id": oa, "r": "NOT_USED_FOR_TENANT" }),
    )
    .await
    .ok();
    assert!(
        inbox_titles(&app, &admin)
            .await
            .iter()
            .any(|t| t == "Your objection to Alpha was resolved")
    );
    let trail = app
        .gql(&admin, "{ auditEvents(action: \"subprocessor.objection_resolved\", first: 5) { edges { node { action } } } }", json!({}))
        .await;
    assert_eq!(
        trail.ok()["auditEvents"]["edges"].as_array().unwrap().len(),
        1
    );
    app.gql(&admin, OBJECT, json!({ "n": na }))
        .await
        .expect_code("CONFLICT");

    let nb = notice("Beta").await;
    let ob = app.gql(&admin, OBJECT, json!({ "n": nb })).await.ok()["objectToChange"]["id"].clone();
    app.gql(&admin, OBJECT, json!({ "n": nb }))
        .await
        .expect_code("CONFLICT");
    app.gql(
        &admin,
        "mutation($id: ID!) { withdrawObjection(id: $id) { id } }",
        json!({ "id": ob }),
    )
    .await
    .ok();
    let again = app.gql(&admin, OBJECT, json!({ "n": nb })).await;
    assert_ne!(again.ok()["objectToChange"]["id"], ob);
    assert_eq!(standing(&app, &admin, "Beta").await["standing"], "OBJECTED");
}

both_backends!(
    dates_out_of_range_are_refused,
    an_announced_change_can_be_withdrawn,
    objections_are_the_clients_and_resolutions_reach_it,
);

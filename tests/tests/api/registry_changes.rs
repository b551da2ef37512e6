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

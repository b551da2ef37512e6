//! Every tenant is bound to the sub-processor list, whenever it arrived (issue 19, items 1 and 3): a tenant created
//! after an announcement accepts the list in force, announcements reach every live tenant, a tenant never told of
//! an entry is told by the sweep, each tenant reads its own standing on every entry, and a client withdraws its own
//! objection.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::registry::{propose, sp};

const ANNOUNCE: &str = "mutation($id: ID!, $d: NaiveDate, $r: String!) { announceSubProcessor(id: $id, effectiveOn: $d, reason: $r) { tenantsNotified } }";
const LIST: &str = "query($t: ID) { subProcessorList(tenantId: $t) { version acceptedVersion acceptedAt entries { subProcessor { id name } standing notice { id kind status effectiveOn } objection { id resolution resolvedBy } } } }";
const TRANSFER: &str =
    "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }";
const OBJECT: &str =
    "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"we use our own\") { id } }";
const WITHDRAW: &str = "mutation($id: ID!, $t: ID) { withdrawObjection(id: $id, tenantId: $t) { id resolution resolvedBy resolvedAt } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn list(app: &TestApp, token: &str) -> Value {
    app.gql(token, LIST, json!({})).await.ok()["subProcessorList"].clone()
}

/// The entry of the list named `name`.
fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subProcessor"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not on the list: {list:#}"))
}

async fn transfer(app: &TestApp, token: &str, tenant: &str, sp: &str, subject: &str) -> Value {
    let input = json!({ "tenantId": tenant, "subProcessorId": sp, "categories": ["user.contact.email"], "purpose": "analytics", "subjectIds": [subject], "transferredOn": today().to_string() });
    app.gql(token, TRANSFER, json!({ "i": input })).await.body
}

async fn later_tenants_accept_the_list_in_force(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let early = app.create_tenant("Early", "eu").await;
    let early_admin = app.invite(&early, "early-admin", "CLIENT_ADMIN").await;

    // Two entries: Mailer in effect, Later announced for 45 days from now. Early holds no data at all, and is told of
    // both all the same: a tenant that starts collecting a category later is already bound.
    let mailer = propose(
        &app,
        &legal,
        sp("Mailer", &["IE"], &["user.contact.email"], &[]),
    )
    .await;
    let told = app
        .gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await;
    assert_eq!(told.ok()["announceSubProcessor"]["tenantsNotified"], 1);
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let later = propose(
        &app,
        &legal,
        sp("Later", &["DE"], &["user.contact.email"], &[]),
    )
    .await;
    let later_on = today() + Duration::days(45);
    app.gql(
        &legal,
        ANNOUNCE,
        json!({ "id": later, "d": later_on.to_string(), "r": "rollout" }),
    )
    .await
    .ok();

    // A tenant created now accepts the list in force: Mailer at once, Later with its announced date, open to
    // objection, and it is told of Later (not of Mailer, which it accepted with its contract).
    let fresh = app.create_tenant("Fresh", "us").await;
    let fresh_admin = app.invite(&fresh, "fresh-admin", "CLIENT_ADMIN").await;
    let view = list(&app, &fresh_admin).await;
    assert_eq!(view["acceptedVersion"], view["version"], "{view:#}");
    assert!(view["acceptedAt"].is_string());
    let m = entry(&view, "Mailer");
    assert_eq!(m["standing"], "ACCEPTED_AT_ONBOARDING");
    assert_eq!(m["notice"]["kind"], "ONBOARDING");
    assert_eq!(m["notice"]["status"], "ACTIVE");
    let l = entry(&view, "Later");
    assert_eq!(l["standing"], "NOTIFIED");
    assert_eq!(l["notice"]["effectiveOn"], later_on.to_string());
    let inbox = app
        .gql(
            &fresh_admin,
            "{ notices { edges { node { title } } } }",
            json!({}),
        )
        .await;
    let titles: Vec<String> = inbox.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert!(titles.iter().any(|t| t.contains("Later")), "{titles:?}");
    assert!(!titles.iter().any(|t| t.contains("Mailer")), "{titles:?}");

    // So it can record a transfer to Mailer (before this, NOT_ANNOUNCED_TO_TENANT forever), not yet to Later; and its
    // record of processing lists both (before this, neither).
    let s = subject(&app, &fresh_admin, "f1", "f1@fresh.example", "Fresh One").await;
    let ok = transfer(&app, &legal, &fresh, &mailer, &s).await;
    assert!(ok["errors"].is_null(), "{ok:#}");
    let refused = transfer(&app, &legal, &fresh, &later, &s).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["reason"], "NOT_YET_EFFECTIVE",
        "{refused:#}"
    );
    let record = app
        .gql(
            &fresh_admin,
            "{ recordOfProcessing { subProcessors { name status } } }",
            json!({}),
        )
        .await;
    let mut listed: Vec<String> = record.ok()["recordOfProcessing"]["subProcessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{} {}",
                u["name"].as_str().unwrap(),
                u["status"].as_str().unwrap()
            )
        })
        .collect();
    listed.sort();
    assert_eq!(listed, ["Later PENDING", "Mailer ACTIVE"]);

    // The early tenant stands differently on the same list: notified of Mailer, now in effect.
    let early_view = list(&app, &early_admin).await;
    assert_eq!(entry(&early_view, "Mailer")["standing"], "ACTIVE");
    assert_eq!(entry(&early_view, "Later")["standing"], "NOTIFIED");

    // Legal reads any tenant's standing; another tenant's admin finds no such tenant.
    app.gql(&early_admin, LIST, json!({ "t": fresh }))
        .await
        .expect_code("NOT_FOUND");
    let by_legal = app.gql(&legal, LIST, json!({ "t": fresh })).await;
    assert_eq!(
        by_legal.ok()["subProcessorList"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Later becomes active for both on its date.
    steward::registry::activate_due(app.state.tenancy(), later_on)
        .await
        .unwrap();
    assert_eq!(
        entry(&list(&app, &fresh_admin).await, "Later")["standing"],
        "ACTIVE"
    );
    assert_eq!(
        entry(&list(&app, &early_admin).await, "Later")["standing"],
        "ACTIVE"
    );
}

async fn a_tenant_never_told_is_told_by_the_sweep(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let mailer = propose(
        &app,
        &legal,
        sp("Mailer", &["IE"], &["user.contact.email"], &[]),
    )
    .await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    // A tenant as one created before acceptance was recorded: no notice, no accepted version.
    let old = app.create_tenant("Old", "eu").await;
    let admin = app.invite(&old, "old-admin", "CLIENT_ADMIN").await;
    let db = app.raw_db("control").await;
    let id = steward_tests::stored_uuid(&app, &old);
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!("DELETE FROM change_notices WHERE tenant_id = {id}"),
    )
    .await
    .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&db, &format!("UPDATE tenants SET subprocessors_accepted_version = NULL, subprocessors_accepted_at = NULL WHERE id = {id}")).await.unwrap();
    let view = list(&app, &admin).await;
    assert_eq!(view["acceptedVersion"], Value::Null);
    assert_eq!(entry(&view, "Mailer")["standing"], "NOT_NOTIFIED");
    assert!(entry(&view, "Mailer")["notice"].is_null());
    let s = subject(&app, &admin, "o1", "o1@old.example", "Old One").await;
    let refused = transfer(&app, &legal, &old, &mailer, &s).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["reason"], "NOT_ANNOUNCED_TO_TENANT",
        "{refused:#}"
    );

    // The daily sweep tells it, with its full notice period (30 days by default), once.
    steward::registry::activate_due(app.state.tenancy(), today())
        .await
        .unwrap();
    steward::registry::activate_due(app.state.tenancy(), today())
        .await
        .unwrap();
    assert_eq!(
        app.count("control", "change_notices", &format!("tenant_id = {id}"))
            .await,
        1
    );
    let view = list(&app, &admin).await;
    let m = entry(&view, "Mailer");
    assert_eq!(m["standing"], "NOTIFIED");
    assert_eq!(
        m["notice"]["effectiveOn"],
        (today() + Duration::days(30)).to_string()
    );
    app.run_jobs().await;
    let inbox = app
        .gql(
            &admin,
            "{ notices { edges { node { title } } } }",
            json!({}),
        )
        .await;
    assert!(
        inbox.ok()["notices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["title"].as_str().unwrap().contains("Mailer")),
        "{:#}",
        inbox.body
    );
    // It may object like anyone told in time.
    app.gql(&admin, OBJECT, json!({ "n": m["notice"]["id"] }))
        .await
        .ok();
    assert_eq!(
        entry(&list(&app, &admin).await, "Mailer")["standing"],
        "OBJECTED"
    );
}

async fn a_client_withdraws_its_own_objection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = app.create_tenant("Wd A", "eu").await;
    let b = app.create_tenant("Wd B", "eu").await;
    let a_admin = app.invite(&a, "wd-a", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "wd-b", "CLIENT_ADMIN").await;
    let a_viewer = app.invite(&a, "wd-a-viewer", "CLIENT_VIEWER").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let mailer = propose(
        &app,
        &legal,
        sp("Mailer", &["IE"], &["user.contact.email"], &[]),
    )
    .await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    let notice = entry(&list(&app, &a_admin).await, "Mailer")["notice"]["id"].clone();
    let objection = app.gql(&a_admin, OBJECT, json!({ "n": notice })).await.ok()["objectToChange"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The date comes while it stands: blocked for A, active for B.
    let date = today() + Duration::days(31);
    steward::registry::activate_due(app.state.tenancy(), date)
        .await
        .unwrap();
    assert_eq!(
        entry(&list(&app, &a_admin).await, "Mailer")["standing"],
        "BLOCKED"
    );
    assert_eq!(
        entry(&list(&app, &b_admin).await, "Mailer")["standing"],
        "ACTIVE"
    );

    // Nobody else withdraws it: another tenant's admin (NOT_FOUND, as if it did not exist), A's viewer, staff.
    let before = app
        .count("control", "objections", "resolved_at IS NULL")
        .await;
    app.gql(&b_admin, WITHDRAW, json!({ "id": objection }))
        .await
        .expect_code("NOT_FOUND");
    app.gql(&a_viewer, WITHDRAW, json!({ "id": objection }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&support, WITHDRAW, json!({ "id": objection, "t": a }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&a_admin, WITHDRAW, json!({ "id": "nope" }))
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(
        app.count("control", "objections", "resolved_at IS NULL")
            .await,
        before,
        "nothing changed"
    );

    // A's admin withdraws it: the blocked change takes effect at once (its date has passed), recorded as A's.
    let done = app
        .gql(&a_admin, WITHDRAW, json!({ "id": objection }))
        .await;
    let done = &done.ok()["withdrawObjection"];
    assert_eq!(done["resolution"], "WITHDRAWN_BY_CLIENT");
    assert!(
        done["resolvedBy"].as_str().unwrap().contains("wd-a"),
        "{done:#}"
    );
    let m = entry(&list(&app, &a_admin).await, "Mailer").clone();
    assert_eq!(m["standing"], "ACTIVE");
    assert_eq!(m["objection"]["resolution"], "WITHDRAWN_BY_CLIENT");
    let s = subject(&app, &a_admin, "a1", "a1@wd.example", "Wd One").await;
    let ok = transfer(&app, &legal, &a, &mailer, &s).await;
    assert!(ok["errors"].is_null(), "{ok:#}");
    // Once only; and legal cannot resolve what is withdrawn.
    app.gql(&a_admin, WITHDRAW, json!({ "id": objection }))
        .await
        .expect_code("CONFLICT");
    app.gql(
        &legal,
        "mutation($id: ID!) { resolveObjection(id: $id, resolution: NOT_USED_FOR_TENANT) { id } }",
        json!({ "id": objection }),
    )
    .await
    .expect_code("CONFLICT");
    assert_eq!(
        entry(&list(&app, &a_admin).await, "Mailer")["standing"],
        "ACTIVE"
    );
    // The withdrawal is in A's audit trail.
    app.run_jobs().await;
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!(
                "tenant_id = {} AND action = 'subprocessor.objection_withdrawn'",
                steward_tests::stored_uuid(&app, &a)
            )
        )
        .await,
        1
    );
}

/// A withdrawal before the date leaves the change to take effect on it, like any notice without an objection.
async fn a_withdrawal_before_the_date_lets_the_change_proceed_on_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = app.create_tenant("Early Wd", "us").await;
    let admin = app.invite(&a, "ewd", "CLIENT_ADMIN").await;
    let mailer = propose(
        &app,
        &legal,
        sp("Mailer", &["IE"], &["user.contact.email"], &[]),
    )
    .await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    let notice = entry(&list(&app, &admin).await, "Mailer")["notice"]["id"].clone();
    let objection =
        app.gql(&admin, OBJECT, json!({ "n": notice })).await.ok()["objectToChange"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    app.gql(&admin, WITHDRAW, json!({ "id": objection }))
        .await
        .ok();
    assert_eq!(
        entry(&list(&app, &admin).await, "Mailer")["standing"],
        "NOTIFIED"
    );
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(
        entry(&list(&app, &admin).await, "Mailer")["standing"],
        "ACTIVE"
    );
}

/// A client withdrawing its objection while legal resolves it: one wins, the other is CONFLICT, and the objection is
/// resolved once.
async fn a_withdrawal_and_a_resolution_racing_settle_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Race Co", "eu").await;
    let admin = app.invite(&t, "race-admin", "CLIENT_ADMIN").await;
    let mailer = propose(
        &app,
        &legal,
        sp("Mailer", &["IE"], &["user.contact.email"], &[]),
    )
    .await;
    app.gql(&legal, ANNOUNCE, json!({ "id": mailer, "r": "rollout" }))
        .await
        .ok();
    let notice = entry(&list(&app, &admin).await, "Mailer")["notice"]["id"].clone();
    let objection =
        app.gql(&admin, OBJECT, json!({ "n": notice })).await.ok()["objectToChange"]["id"].clone();
    const RESOLVE: &str =
        "mutation($id: ID!) { resolveObjection(id: $id, resolution: NOT_USED_FOR_TENANT) { id } }";
    let (withdrawn, resolved) = tokio::join!(
        app.gql(&admin, WITHDRAW, json!({ "id": objection })),
        app.gql(&legal, RESOLVE, json!({ "id": objection })),
    );
    let codes = [withdrawn.code(), resolved.code()];
    assert_eq!(
        codes.iter().filter(|c| c.is_none()).count(),
        1,
        "exactly one wins: {:#} {:#}",
        withdrawn.body,
        resolved.body
    );
    assert!(codes.contains(&Some("CONFLICT")), "{codes:?}");
    // The notice follows the winner: excluded if legal won, pending (the change proceeds) if the client did.
    let standing = entry(&list(&app, &admin).await, "Mailer")["standing"].clone();
    if withdrawn.code().is_none() {
        assert_eq!(standing, "NOTIFIED");
    } else {
        assert_eq!(standing, "EXCLUDED");
    }
}

both_backends!(
    a_withdrawal_and_a_resolution_racing_settle_once,
    later_tenants_accept_the_list_in_force,
    a_tenant_never_told_is_told_by_the_sweep,
    a_client_withdraws_its_own_objection,
    a_withdrawal_before_the_date_lets_the_change_proceed_on_it,
);

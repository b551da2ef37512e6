//! Privacy-policy and terms versions (timing rules, the public page, notices to every tenant) and changes of control
//! (administrative notice and the `viewer` banner until acknowledged).

use chrono::{Duration, Utc};
use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends};

const PUBLISH: &str = "mutation($i: PolicyVersionInput!) { publishPolicyVersion(input: $i) { id version effectiveOn material } }";

fn version(v: &str, days_ahead: i64, material: bool) -> serde_json::Value {
    json!({ "i": { "document": "PRIVACY_POLICY", "version": v, "effectiveOn": (Utc::now().date_naive() + Duration::days(days_ahead)).to_string(),
                   "material": material, "summary": format!("Version {v}: we now name our sub-processors' countries"), "url": "https://example.com/privacy" } })
}

async fn notice_kinds(app: &TestApp, token: &str) -> Vec<String> {
    let reply = app
        .gql(
            token,
            "{ notices(first: 50) { edges { node { kind } } } }",
            json!({}),
        )
        .await;
    reply.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn policy_versions_and_timing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let a = app.create_tenant("Policy A", "eu").await;
    let b = app.create_tenant("Policy B", "us").await;
    let a_admin = app.invite(&a, "pa-admin", "CLIENT_ADMIN").await;
    let b_admin = app.invite(&b, "pb-admin", "CLIENT_ADMIN").await;

    // Timing rules and bad input: nothing published.
    let early = app.gql(&legal, PUBLISH, version("2.0", 10, true)).await;
    assert_eq!(
        early.body["errors"][0]["extensions"]["reason"],
        "NOTICE_PERIOD"
    );
    let past = app.gql(&legal, PUBLISH, version("2.0", -1, false)).await;
    assert_eq!(
        past.body["errors"][0]["extensions"]["reason"],
        "RETROACTIVE"
    );
    let mut blank = version("2.0", 40, true);
    blank["i"]["summary"] = json!("  ");
    app.gql(&legal, PUBLISH, blank)
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&support, PUBLISH, version("2.0", 40, true))
        .await
        .expect_code("FORBIDDEN");
    assert_eq!(app.count("control", "policy_versions", "1=1").await, 0);
    assert!(notice_kinds(&app, &a_admin).await.is_empty());

    // A non-material version may take effect today; a material one 30 days ahead.
    app.gql(&legal, PUBLISH, version("1.1", 0, false))
        .await
        .ok();
    app.gql(&legal, PUBLISH, version("2.0", 30, true))
        .await
        .ok();
    app.gql(&legal, PUBLISH, version("2.0", 45, true))
        .await
        .expect_code("CONFLICT");
    for admin in [&a_admin, &b_admin] {
        let kinds = notice_kinds(&app, admin).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "policy.published").count(),
            2,
            "{kinds:?}"
        );
    }
    let public = app.get("/policies").await;
    assert_eq!(public.status, 200);
    let pp = &public.body["privacy_policy"];
    assert_eq!(pp["current"]["version"], "1.1");
    assert_eq!(pp["upcoming"][0]["version"], "2.0");
    assert_eq!(pp["upcoming"][0]["material"], true);
    assert!(
        pp["upcoming"][0]["summary_of_changes"]
            .as_str()
            .unwrap()
            .contains("countries")
    );
    assert!(public.body["terms"]["current"].is_null());

    // The notice period is configurable.
    let short = TestApp::spawn_with(app.backend.clone(), |args| args.policy_notice_days = 5).await;
    let short_legal = short.staff_with("lex", "LEGAL").await;
    short
        .gql(&short_legal, PUBLISH, version("3.0", 5, true))
        .await
        .ok();
}

async fn change_of_control_banner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = app.create_tenant("Banner A", "eu").await;
    let b = app.create_tenant("Banner B", "us").await;
    let a_admin = app.invite(&a, "ba-admin", "CLIENT_ADMIN").await;
    let a_viewer = app.invite(&a, "ba-viewer", "CLIENT_VIEWER").await;
    let b_admin = app.invite(&b, "bb-admin", "CLIENT_ADMIN").await;
    const RECORD: &str = "mutation($a: String!, $d: NaiveDate!, $c: String!) { recordBusinessTransfer(acquirer: $a, effectiveOn: $d, changes: $c) { id acquirer } }";
    const BANNER: &str = "{ viewer { banner { id kind title } } }";
    let on = (Utc::now().date_naive() + Duration::days(60)).to_string();
    app.gql(&legal, RECORD, json!({ "a": " ", "d": on, "c": "x" }))
        .await
        .expect_code("BAD_USER_INPUT");
    let past = app
        .gql(
            &legal,
            RECORD,
            json!({ "a": "Acquirer Corp", "d": "2020-01-01", "c": "x" }),
        )
        .await;
    assert_eq!(
        past.body["errors"][0]["extensions"]["reason"],
        "RETROACTIVE"
    );
    assert_eq!(app.count("control", "business_transfers", "1=1").await, 0);
    app.gql(
        &a_admin,
        RECORD,
        json!({ "a": "Acquirer Corp", "d": on, "c": "x" }),
    )
    .await
    .expect_code("FORBIDDEN");
    let none = app.gql(&a_admin, BANNER, json!({})).await;
    assert!(none.ok()["viewer"]["banner"].is_null());

    app.gql(&legal, RECORD, json!({ "a": "Acquirer Corp", "d": on, "c": "Acquirer Corp becomes the processor; data stays in the same regions" }))
        .await
        .ok();
    let banner = app.gql(&a_viewer, BANNER, json!({})).await;
    let banner = banner.ok()["viewer"]["banner"].clone();
    assert_eq!(banner["kind"], "change_of_control");
    assert!(banner["title"].as_str().unwrap().contains("Acquirer Corp"));
    assert!(
        notice_kinds(&app, &b_admin)
            .await
            .contains(&"change_of_control".to_owned())
    );
    let staff = app.gql(&legal, BANNER, json!({})).await;
    assert!(staff.ok()["viewer"]["banner"].is_null());

    // Acknowledged by the client: the banner goes, for that tenant only.
    const ACK: &str = "mutation($t: ID, $id: ID!) { acknowledgeNotice(tenantId: $t, id: $id) { acknowledgedAt acknowledgedBy } }";
    app.gql(&legal, ACK, json!({ "t": a, "id": banner["id"] }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&b_admin, ACK, json!({ "id": banner["id"] }))
        .await
        .expect_code("NOT_FOUND");
    let acked = app.gql(&a_admin, ACK, json!({ "id": banner["id"] })).await;
    assert!(acked.ok()["acknowledgeNotice"]["acknowledgedAt"].is_string());
    let gone = app.gql(&a_viewer, BANNER, json!({})).await;
    assert!(gone.ok()["viewer"]["banner"].is_null());
    let still = app.gql(&b_admin, BANNER, json!({})).await;
    assert!(!still.ok()["viewer"]["banner"].is_null());
}

both_backends!(policy_versions_and_timing, change_of_control_banner);

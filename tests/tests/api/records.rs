//! The record of processing an auditor accepts (issue 19, item 4; Art. 30(2)): the processor's name, contact, DPO
//! and EU representative; each controller's name, contact, DPO and representative as its admin keeps them; the
//! security measures as a maintained document with versions; and the platform-wide record for legal and auditors.

use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;

const DETAILS: &str = "mutation($t: ID, $c: String, $d: String, $r: String) { setControllerDetails(tenantId: $t, contact: $c, dpo: $d, representative: $r) { name contact dpo representative } }";
const RECORD: &str = "{ recordOfProcessing { processor { name contact dpo euRepresentative } controller { name contact dpo representative } securityMeasures securityMeasuresVersion csv } }";
const PUBLISH: &str =
    "mutation($x: String!) { publishSecurityMeasures(text: $x) { version text publishedBy } }";
const PLATFORM: &str = "{ platformRecordOfProcessing { processor { dpo } securityMeasures { version } controllers { controller { name dpo } } json csv } }";

async fn the_record_is_complete_and_maintained(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let support = app.staff_with("sup", "SUPPORT").await;
    let a = app.create_tenant("Record A", "eu").await;
    let b = app.create_tenant("Record B", "us").await;
    let a_admin = app.invite(&a, "rec-a", "CLIENT_ADMIN").await;
    let a_viewer = app.invite(&a, "rec-a-viewer", "CLIENT_VIEWER").await;
    let b_admin = app.invite(&b, "rec-b", "CLIENT_ADMIN").await;
    subject(&app, &a_admin, "r1", "r1@rec.example", "Rae").await;

    // The controller's details: its admin only; bad input and another tenant change nothing.
    let ours = json!({ "c": "privacy@record-a.example", "d": "Dr. Ada Dpo, dpo@record-a.example" });
    app.gql(&a_viewer, DETAILS, ours.clone())
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &b_admin,
        DETAILS,
        json!({ "t": a, "c": "hijack@b.example" }),
    )
    .await
    .expect_code("NOT_FOUND");
    app.gql(&a_admin, DETAILS, json!({ "c": "x\u{202E}moc.liame" }))
        .await
        .expect_code("BAD_USER_INPUT");
    let set = app.gql(&a_admin, DETAILS, ours).await;
    assert_eq!(
        set.ok()["setControllerDetails"],
        json!({ "name": "Record A", "contact": "privacy@record-a.example", "dpo": "Dr. Ada Dpo, dpo@record-a.example", "representative": null })
    );

    let record = app.gql(&a_admin, RECORD, json!({})).await;
    let r = &record.ok()["recordOfProcessing"];
    assert_eq!(
        r["processor"],
        json!({ "name": "Steward Test Processor", "contact": "privacy@test.example", "dpo": "Dana Protect, dpo@test.example", "euRepresentative": null })
    );
    assert_eq!(r["controller"]["dpo"], "Dr. Ada Dpo, dpo@record-a.example");
    // The shipped description, as corrected (version 2): the keys as they are kept now.
    assert_eq!(r["securityMeasuresVersion"], 2);
    let shipped = r["securityMeasures"].as_str().unwrap();
    assert!(shipped.contains("AES-256-GCM"), "{shipped}");
    assert!(shipped.contains("subject-key database"), "{shipped}");
    assert!(!shipped.contains("derived from a master key"), "{shipped}");
    let csv = r["csv"].as_str().unwrap();
    assert!(
        csv.contains("controller,dpo,\"Dr. Ada Dpo, dpo@record-a.example\""),
        "{csv}"
    );
    assert!(
        csv.contains("processor,dpo,\"Dana Protect, dpo@test.example\""),
        "{csv}"
    );

    // The security measures are a document legal maintains: a new version, kept beside the first.
    let v2 = "Personal data is encrypted at rest per data subject under keys that never leave the server; \
              backups are encrypted and restored quarterly in a drill.";
    for (token, code) in [(&support, "FORBIDDEN"), (&a_admin, "FORBIDDEN")] {
        app.gql(token, PUBLISH, json!({ "x": v2 }))
            .await
            .expect_code(code);
    }
    app.gql(&legal, PUBLISH, json!({ "x": "too short" }))
        .await
        .expect_code("BAD_USER_INPUT");
    let published = app.gql(&legal, PUBLISH, json!({ "x": v2 })).await;
    assert_eq!(published.ok()["publishSecurityMeasures"]["version"], 3);
    app.gql(&legal, PUBLISH, json!({ "x": v2 }))
        .await
        .expect_code("CONFLICT");
    let history = app
        .gql(&a_admin, "{ securityMeasures { version } }", json!({}))
        .await;
    assert_eq!(
        history.ok()["securityMeasures"],
        json!([{ "version": 3 }, { "version": 2 }, { "version": 1 }])
    );
    let record = app.gql(&a_admin, RECORD, json!({})).await;
    assert_eq!(
        record.ok()["recordOfProcessing"]["securityMeasuresVersion"],
        3
    );
    assert_eq!(record.ok()["recordOfProcessing"]["securityMeasures"], v2);

    // The platform-wide record: every live controller, for legal and auditors only.
    for token in [&support, &a_admin] {
        app.gql(token, PLATFORM, json!({}))
            .await
            .expect_code("FORBIDDEN");
    }
    app.gql(&legal, PLATFORM, json!({})).await.ok();
    let whole = app.gql(&auditor, PLATFORM, json!({})).await;
    let w = &whole.ok()["platformRecordOfProcessing"];
    let mut names: Vec<&str> = w["controllers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["controller"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Record A", "Record B"]);
    assert_eq!(w["securityMeasures"]["version"], 3);
    assert_eq!(w["processor"]["dpo"], "Dana Protect, dpo@test.example");
    let parsed: Value = serde_json::from_str(w["json"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["controllers"].as_array().unwrap().len(), 2);
    let csv = w["csv"].as_str().unwrap();
    assert!(csv.starts_with("controller,section,field,value\n"), "{csv}");
    assert!(
        csv.contains(&format!("Record A ({a}),controller,dpo")),
        "{csv}"
    );

    // A name a spreadsheet would run stays text in every CSV.
    app.gql(
        &b_admin,
        DETAILS,
        json!({ "c": "=HYPERLINK(\"http://evil.example\")" }),
    )
    .await
    .ok();
    let whole = app.gql(&auditor, PLATFORM, json!({})).await;
    let csv = whole.ok()["platformRecordOfProcessing"]["csv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
        "{csv}"
    );
}

/// The shipped description was corrected by a migration (version 2: tenant keys are random and sealed under a master
/// key version, subjects' keys kept apart), published only over the description as shipped: where legal had already
/// published a version of its own, that version stands and nothing is added.
async fn the_corrected_description_leaves_legals_own_alone(backend: Backend) {
    use sea_orm::ConnectionTrait;
    use steward_migration::{ControlMigrator, MigratorTrait};
    let app = TestApp::spawn(backend).await;
    let control = app.raw_db("control").await;
    steward_tests::control_schema_before(
        &control,
        "control_m20261211_000001_security_measures_keys",
    )
    .await;
    let theirs = "The description legal published itself, with the release before this one, of the measures in force.";
    control
        .execute_unprepared(&format!(
            "INSERT INTO security_measures (version, text, published_by, published_at) \
             VALUES (2, '{theirs}', 'staff:legal', CURRENT_TIMESTAMP)"
        ))
        .await
        .unwrap();
    ControlMigrator::up(&control, None).await.unwrap();
    let history = app
        .gql(
            &app.root(),
            "{ securityMeasures { version text } }",
            json!({}),
        )
        .await;
    let history = history.ok()["securityMeasures"].as_array().unwrap().clone();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["version"], 2);
    assert_eq!(history[0]["text"], theirs);

    // Over the description as shipped, the correction is published as version 2.
    steward_tests::control_schema_before(
        &control,
        "control_m20261211_000001_security_measures_keys",
    )
    .await;
    control
        .execute_unprepared("DELETE FROM security_measures WHERE version = 2")
        .await
        .unwrap();
    ControlMigrator::up(&control, None).await.unwrap();
    let history = app
        .gql(
            &app.root(),
            "{ securityMeasures { version text } }",
            json!({}),
        )
        .await;
    let latest = &history.ok()["securityMeasures"][0];
    assert_eq!(latest["version"], 2);
    assert!(
        latest["text"]
            .as_str()
            .unwrap()
            .contains("subject-key database")
    );
}

both_backends!(
    the_record_is_complete_and_maintained,
    the_corrected_description_leaves_legals_own_alone
);

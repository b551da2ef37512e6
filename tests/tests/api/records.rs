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
    assert_eq!(r["securityMeasuresVersion"], 1);
    assert!(
        r["securityMeasures"]
            .as_str()
            .unwrap()
            .contains("AES-256-GCM")
    );
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
    assert_eq!(published.ok()["publishSecurityMeasures"]["version"], 2);
    app.gql(&legal, PUBLISH, json!({ "x": v2 }))
        .await
        .expect_code("CONFLICT");
    let history = app
        .gql(&a_admin, "{ securityMeasures { version } }", json!({}))
        .await;
    assert_eq!(
        history.ok()["securityMeasures"],
        json!([{ "version": 2 }, { "version": 1 }])
    );
    let record = app.gql(&a_admin, RECORD, json!({})).await;
    assert_eq!(
        record.ok()["recordOfProcessing"]["securityMeasuresVersion"],
        2
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
    assert_eq!(w["securityMeasures"]["version"], 2);
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

both_backends!(the_record_is_complete_and_maintained);

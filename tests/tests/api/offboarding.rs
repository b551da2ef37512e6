//! Contract end, both choices end to end: the export for RETURN_THEN_DELETE, deletion when the grace period ends,
//! propagation, the signed certificate, and a region database without the tenant's values (scanned).

use base64::Engine as _;
use chrono::{Duration, Utc};
use ed25519_dalek::Verifier;
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::registry::{activate, propose, sp};

pub const BEGIN: &str = "mutation($t: ID!, $c: OffboardingChoice!, $g: Int) { beginOffboarding(tenantId: $t, choice: $c, graceDays: $g) { status offboarding { choice dataDeletedAt terminatedAt } } }";
const CERT: &str = "query($t: ID) { offboardingCertificate(tenantId: $t) { document signature publicKey final interim { document signature issuedAt } } }";
pub const EXPORT: &str =
    "query { tenantExport { ready subjects values downloads expiresAt downloadPath } }";

/// Downloads the tenant export as `token` would: the NDJSON lines, parsed, after checking the response.
pub async fn download(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get_with(token, "/exports/tenant").await;
    assert_eq!(reply.status, axum::http::StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/x-ndjson");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let text = reply.body.as_str().expect("NDJSON is not one JSON value");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "header");
    assert_eq!(
        lines.last().unwrap()["type"],
        "end",
        "a whole download ends with its end line"
    );
    lines
}
pub(crate) const AUTHORIZE: &str = "mutation($t: ID) { authorizeOffboarding(tenantId: $t) { status offboarding { authorizedBy authorizedAt requestedBy } } }";
const CANCEL: &str = "mutation($t: ID, $r: String!) { cancelOffboarding(tenantId: $t, reason: $r) { status offboarding { choice } } }";
const STATUS: &str = "query($t: ID!) { tenant(id: $t) { status } }";

/// A tenant's subjects as stored (their external ids are sealed, so rows are counted, not searched for).
async fn subjects_of(app: &TestApp, region: &str, tenant: &str) -> i64 {
    app.count(
        region,
        "data_subjects",
        &format!("tenant_id = {}", steward_tests::stored_uuid(app, tenant)),
    )
    .await
}

async fn status(app: &TestApp, tenant: &str) -> String {
    app.gql(&app.root(), STATUS, json!({ "t": tenant }))
        .await
        .ok()["tenant"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn verify(cert: &Value) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = b64
        .decode(cert["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sig: [u8; 64] = b64
        .decode(cert["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let document = cert["document"].as_str().unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&key)
        .unwrap()
        .verify(
            document.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .expect("the certificate's signature verifies");
    serde_json::from_str(document).unwrap()
}

async fn delete_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Leaving Co", "eu").await;
    let stay = app.create_tenant("Staying Co", "eu").await;
    let admin = app.invite(&t, "leave-admin", "CLIENT_ADMIN").await;
    let stay_admin = app.invite(&stay, "stay-admin", "CLIENT_ADMIN").await;
    let legal = app.staff_with("lex", "LEGAL").await;
    let a = subject(
        &app,
        &admin,
        "leave-1",
        "planted.leaver@example.com",
        "Lena Leaver",
    )
    .await;
    subject(
        &app,
        &admin,
        "leave-2",
        "second.leaver@example.com",
        "Leo Leaver",
    )
    .await;
    subject(
        &app,
        &stay_admin,
        "stay-1",
        "stayer@example.com",
        "Stan Stayer",
    )
    .await;
    // Erased on request before the offboarding: its own certificate, not counted in the offboarding's.
    let early = subject(&app, &admin, "leave-0", "early@example.com", "Earl Early").await;
    let po = app.staff_with("leave-po", "PRIVACY_OFFICER").await;
    let erasure = app
        .gql(
            &admin,
            crate::requests::SUBMIT,
            json!({ "i": { "subjectId": early, "kind": "ERASURE" } }),
        )
        .await;
    let erasure = erasure.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(&po, "mutation($t: ID, $id: ID!) { startDataSubjectRequest(tenantId: $t, id: $id, version: 1) { state } }", json!({ "t": t, "id": erasure }))
        .await
        .ok();
    app.run_jobs().await;
    assert_eq!(subjects_of(&app, "eu", &t).await, 2);
    let mailer = propose(
        &app,
        &legal,
        sp("LeaveMail", &["DE"], &["user.contact.email"], &[]),
    )
    .await;
    activate(&app, &legal, &mailer).await;
    app.gql(&legal, "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }", json!({ "i": { "tenantId": t, "subProcessorId": mailer, "categories": ["user.contact.email"], "purpose": "essential.service", "subjectIds": [a] } }))
        .await
        .ok();

    // Only platform admins begin it; bad input changes nothing.
    app.gql(&admin, BEGIN, json!({ "t": t, "c": "DELETE", "g": 0 }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": -1 }))
        .await
        .expect_code("BAD_USER_INPUT");
    // No offboarding deletes sooner than a week: the window in which it can be cancelled.
    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 6 }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&root, BEGIN, json!({ "t": t, "c": "BURN", "g": 0 }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(
        &root,
        BEGIN,
        json!({ "t": uuid::Uuid::now_v7().to_string(), "c": "DELETE", "g": 7 }),
    )
    .await
    .expect_code("NOT_FOUND");
    let begun = app
        .gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await;
    assert_eq!(begun.ok()["beginOffboarding"]["status"], "OFFBOARDING");
    let twice = app
        .gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await;
    assert_eq!(
        twice.body["errors"][0]["extensions"]["reason"],
        "ALREADY_OFFBOARDING"
    );

    // The client's admin confirms the deletion (its instruction, recorded); once the grace period has passed the job
    // deletes, certifies and terminates.
    let authorized = app.gql(&admin, AUTHORIZE, json!({})).await;
    assert_eq!(
        authorized.ok()["authorizeOffboarding"]["offboarding"]["authorizedBy"],
        "client:leave-admin"
    );
    app.run_jobs_at(Utc::now() + Duration::days(8)).await;
    let tenant = app
        .gql(
            &root,
            "query($t: ID!) { tenant(id: $t) { status offboarding { choice terminatedAt } } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(tenant.ok()["tenant"]["status"], "TERMINATED");
    assert!(tenant.ok()["tenant"]["offboarding"]["terminatedAt"].is_string());
    assert!(
        !app.database_contains("eu", "planted.leaver@example.com")
            .await
    );
    assert_eq!(subjects_of(&app, "eu", &t).await, 0);
    assert_eq!(
        subjects_of(&app, "eu", &stay).await,
        1,
        "the other tenant is untouched"
    );
    assert_eq!(
        app.count("eu", "erasure_tombstones", "origin = 'offboarding'")
            .await,
        2
    );
    assert_eq!(
        app.count("eu", "erasure_propagations", "1=1").await,
        1,
        "LeaveMail is told"
    );

    // The client can still read its certificate, and nothing else.
    let cert = app.gql(&admin, CERT, json!({})).await;
    let doc = verify(&cert.ok()["offboardingCertificate"]);
    assert_eq!(doc["subjects_erased"], 2);
    assert_eq!(doc["values_erased"], 4);
    assert_eq!(doc["choice"], "delete");
    assert_eq!(doc["propagations"]["LeaveMail"]["pending"], 1);
    assert!(doc["audit_chain_head"]["hash"].is_string());
    // Signed while LeaveMail has not confirmed: an interim certificate, which says so and names what is outstanding;
    // the keys' destruction is read from the database (no subject row, where keys are wrapped, is left).
    assert_eq!(doc["final"], false);
    assert_eq!(doc["outstanding"], json!({ "LeaveMail": { "pending": 1 } }));
    assert_eq!(doc["data_keys_destroyed"], true);
    assert_eq!(cert.ok()["offboardingCertificate"]["final"], false);
    assert!(cert.ok()["offboardingCertificate"]["interim"].is_null());
    app.gql(&admin, "{ dataSubjects { totalCount } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &admin,
        crate::personal::CREATE,
        json!({ "i": { "externalId": "late" } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&root, CANCEL, json!({ "t": t, "r": "too late" }))
        .await
        .expect_code("BAD_USER_INPUT");
    // The audit chain still verifies.
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let verified = app
        .gql(
            &auditor,
            "query($t: ID) { verifyAuditChain(tenantId: $t) { valid } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(verified.ok()["verifyAuditChain"]["valid"], true);

    // A death after the region's commit and before the control database's: the tenant is still offboarding there,
    // with no certificate, and the job runs again. It terminates once, and the tenant's chain says so once.
    use sea_orm::ConnectionTrait;
    let terminated = "action = 'tenant.terminated'";
    assert_eq!(app.count("eu", "audit_events", terminated).await, 1);
    let tid = steward_tests::stored_uuid(&app, &t);
    let control = app.raw_db("control").await;
    control
        .execute_unprepared(&format!(
            "UPDATE tenants SET status = 'offboarding', terminated_at = NULL WHERE id = {tid}"
        ))
        .await
        .unwrap();
    control
        .execute_unprepared(&format!(
            "DELETE FROM offboarding_certificates WHERE tenant_id = {tid}"
        ))
        .await
        .unwrap();
    let requeued = app
        .raw_db("eu")
        .await
        .execute_unprepared(&format!(
            "UPDATE jobs SET state = 'queued', attempts = 0, finished_at = NULL \
             WHERE kind = 'offboarding.finish' AND tenant_id = {tid}"
        ))
        .await
        .unwrap();
    assert_eq!(requeued.rows_affected(), 1);
    app.run_jobs_at(Utc::now() + Duration::days(9)).await;
    assert_eq!(status(&app, &t).await, "TERMINATED");
    assert_eq!(app.count("eu", "audit_events", terminated).await, 1);
    let interim = app.gql(&admin, CERT, json!({})).await;
    assert_eq!(
        verify(&interim.ok()["offboardingCertificate"])["final"],
        false
    );

    // The final certificate waits for LeaveMail: still interim an hour later.
    app.run_jobs_at(Utc::now() + Duration::days(9) + Duration::hours(2))
        .await;
    assert_eq!(
        app.gql(&admin, CERT, json!({})).await.ok()["offboardingCertificate"]["final"],
        false
    );
    // A privacy officer finds what is outstanding for the terminated tenant and confirms it; the next look signs the
    // final certificate, and keeps the interim one beside it as it was signed.
    const OUTSTANDING: &str = "query($t: ID!) { erasurePropagations(tenantId: $t, outstandingOnly: true) { id subProcessor state } }";
    let open = app.gql(&po, OUTSTANDING, json!({ "t": t })).await;
    let open = open.ok()["erasurePropagations"].as_array().unwrap().clone();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["subProcessor"], "LeaveMail");
    app.gql(&admin, OUTSTANDING, json!({ "t": t }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &po,
        "mutation($t: ID, $id: ID!) { confirmErasurePropagation(tenantId: $t, id: $id, confirmedBy: \"Dana at LeaveMail\") { state } }",
        json!({ "t": t, "id": open[0]["id"] }),
    )
    .await
    .ok();
    assert!(
        app.gql(&po, OUTSTANDING, json!({ "t": t })).await.ok()["erasurePropagations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.run_jobs_at(Utc::now() + Duration::days(9) + Duration::hours(4))
        .await;
    let done = app.gql(&admin, CERT, json!({})).await;
    let done = &done.ok()["offboardingCertificate"];
    assert_eq!(done["final"], true);
    let doc = verify(done);
    assert_eq!(doc["final"], true);
    assert_eq!(doc["outstanding"], json!({}));
    assert_eq!(doc["propagations"]["LeaveMail"], json!({ "confirmed": 1 }));
    assert_eq!(doc["data_keys_destroyed"], true);
    assert!(doc["finalized_at"].is_string());
    let kept = &done["interim"];
    let interim_doc = verify(&json!({
        "document": kept["document"],
        "signature": kept["signature"],
        "publicKey": done["publicKey"],
    }));
    assert_eq!(interim_doc["final"], false);
    assert_eq!(interim_doc["subjects_erased"], doc["subjects_erased"]);
    // Once: more runs change nothing.
    app.run_jobs_at(Utc::now() + Duration::days(10)).await;
    assert_eq!(
        app.gql(&admin, CERT, json!({})).await.ok()["offboardingCertificate"]["document"],
        done["document"]
    );
}

async fn return_then_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Returning Co", "us").await;
    let admin = app.invite(&t, "ret-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    subject(
        &app,
        &admin,
        "ret-1",
        "planted.returner@example.com",
        "Rita Returner",
    )
    .await;
    app.gql(&admin, EXPORT, json!({}))
        .await
        .expect_code("NOT_FOUND");
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    let tenant = app
        .gql(
            &admin,
            "{ tenant { status offboarding { choice dataDeletedAt } } }",
            json!({}),
        )
        .await;
    let due = tenant.ok()["tenant"]["offboarding"]["dataDeletedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        due.starts_with(&(Utc::now() + Duration::days(30)).date_naive().to_string()),
        "default grace: 30 days"
    );

    // Nothing new is collected while offboarding; reading goes on.
    let refused = app
        .gql(
            &admin,
            crate::personal::CREATE,
            json!({ "i": { "externalId": "new-one" } }),
        )
        .await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "TENANT_OFFBOARDING"
    );
    app.gql(&admin, "{ dataSubjects { totalCount } }", json!({}))
        .await
        .ok();

    // The export job runs now; the client admin downloads everything; staff cannot.
    app.run_jobs().await;
    let export = app.gql(&admin, EXPORT, json!({})).await;
    let export = &export.ok()["tenantExport"];
    assert_eq!(export["ready"], true);
    assert_eq!(export["subjects"], 1);
    assert_eq!(export["values"], 2);
    assert_eq!(export["downloadPath"], "/exports/tenant");
    let lines = download(&app, &admin).await;
    assert_eq!(lines.len(), 3, "header, one subject, end: {lines:?}");
    assert_eq!(lines[1]["external_id"], "ret-1");
    assert!(lines[1]["restricted_since"].is_null(), "not restricted");
    let text = lines[1].to_string();
    assert!(text.contains("planted.returner@example.com") && text.contains("Rita Returner"));
    assert_eq!(lines[2]["subjects"], 1);
    assert_eq!(lines[2]["values"], 2);
    app.gql(
        &po,
        "query($t: ID) { tenantExport(tenantId: $t) { subjects } }",
        json!({ "t": t }),
    )
    .await
    .expect_code("FORBIDDEN");
    let staff = app.get_with(&po, "/exports/tenant").await;
    assert_eq!(staff.status, axum::http::StatusCode::FORBIDDEN);
    assert_eq!(staff.code(), Some("FORBIDDEN"));
    let anonymous = app.get("/exports/tenant").await;
    assert_eq!(anonymous.status, axum::http::StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["downloads"],
        1
    );
    assert_eq!(
        app.count("us", "audit_events", "action = 'tenant.export_downloaded'")
            .await,
        1
    );
    // The export is stored sealed.
    assert!(
        !app.database_contains("us", "planted.returner@example.com")
            .await
    );

    // A second platform admin approves the deletion (the one who began it cannot).
    app.gql(&root, AUTHORIZE, json!({ "t": t }))
        .await
        .expect_code("BAD_USER_INPUT");
    // One the beginner appointed just now is no second person; one who has held the role for weeks is.
    let puppet = app.staff_with("pa-puppet", "PLATFORM_ADMIN").await;
    let refused = app.gql(&puppet, AUTHORIZE, json!({ "t": t })).await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "SECOND_PERSON_REQUIRED"
    );
    let second = app.long_standing_platform_admin("pa-two").await;
    app.gql(&second, AUTHORIZE, json!({ "t": t })).await.ok();

    // Before the grace period ends nothing is deleted; after it, everything is, the export too.
    app.run_jobs_at(Utc::now() + Duration::days(29)).await;
    app.gql(&admin, "{ dataSubjects { totalCount } }", json!({}))
        .await
        .ok();
    app.run_jobs_at(Utc::now() + Duration::days(31)).await;
    let tenant = app
        .gql(
            &root,
            "query($t: ID!) { tenant(id: $t) { status } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(tenant.ok()["tenant"]["status"], "TERMINATED");
    assert_eq!(app.count("us", "tenant_exports", "1=1").await, 0);
    assert_eq!(app.count("us", "data_subjects", "1=1").await, 0);
    assert_eq!(app.count("us", "personal_data", "1=1").await, 0);
    assert_eq!(subjects_of(&app, "us", &t).await, 0);
    let cert = app.gql(&root, CERT, json!({ "t": t })).await;
    let doc = verify(&cert.ok()["offboardingCertificate"]);
    assert_eq!(doc["choice"], "return_then_delete");
    assert_eq!(doc["export"]["downloads"], 1);
    assert_eq!(doc["subjects_erased"], 1);
}

/// Even at the shortest grace period, the data goes back to the client before anything is deleted.
async fn return_first_even_at_the_shortest_grace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Hasty Co", "eu").await;
    let admin = app.invite(&t, "hasty-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "hasty-1", "hasty@example.com", "Harry Hasty").await;
    app.gql(
        &root,
        BEGIN,
        json!({ "t": t, "c": "RETURN_THEN_DELETE", "g": 7 }),
    )
    .await
    .ok();
    app.gql(&admin, AUTHORIZE, json!({})).await.ok();
    app.run_jobs().await;
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["subjects"], 1);
    assert_eq!(download(&app, &admin).await.len(), 3);
    app.run_jobs_at(Utc::now() + Duration::days(7) + Duration::minutes(10))
        .await;
    let tenant = app
        .gql(
            &root,
            "query($t: ID!) { tenant(id: $t) { status } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(tenant.ok()["tenant"]["status"], "TERMINATED");
    let doc = verify(&app.gql(&root, CERT, json!({ "t": t })).await.ok()["offboardingCertificate"]);
    assert_eq!(doc["export"]["downloads"], 1);
}

/// One platform admin cannot delete a client: without the client's confirmation or a second admin's approval nothing
/// is deleted however long it waits, and either side cancels until the deletion starts.
async fn one_admin_cannot_delete_a_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Target Co", "eu").await;
    let other = app.create_tenant("Bystander Co", "eu").await;
    let admin = app.invite(&t, "target-admin", "CLIENT_ADMIN").await;
    let other_admin = app.invite(&other, "bystander-admin", "CLIENT_ADMIN").await;
    let support = app.staff_with("helpdesk", "SUPPORT").await;
    subject(
        &app,
        &admin,
        "target-1",
        "planted.target@example.com",
        "Tara Target",
    )
    .await;

    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await
        .ok();
    // Nobody else confirms: a year later the data is still there, the tenant still offboarding.
    app.run_jobs_at(Utc::now() + Duration::days(365)).await;
    assert_eq!(status(&app, &t).await, "OFFBOARDING");
    assert_eq!(subjects_of(&app, "eu", &t).await, 1);
    // It does not wait unseen: the platform admins and the client's admins were told, once each, however often the
    // job looks again.
    app.run_jobs_at(Utc::now() + Duration::days(366)).await;
    let kind = "kind = 'offboarding.awaiting_authorization'";
    assert_eq!(app.count("control", "staff_notices", kind).await, 1);
    let po = app.staff_with("watching-po", "PRIVACY_OFFICER").await;
    let staff = app
        .gql(&po, "{ staffNotices { kind tenantId } }", json!({}))
        .await;
    assert!(
        staff.ok()["staffNotices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "offboarding.awaiting_authorization"
                && n["tenantId"] == t.as_str()),
        "{:?}",
        staff.body
    );
    assert_eq!(app.count("eu", "notices", kind).await, 1);
    let inbox = app
        .gql(
            &admin,
            "{ notices { edges { node { kind body } } } }",
            json!({}),
        )
        .await;
    let told = inbox.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["kind"] == "offboarding.awaiting_authorization")
        .expect("the client's admins are told")["node"]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(told.contains("authorizeOffboarding"), "{told}");
    // Bystander's admins hear nothing of it.
    let theirs = app
        .gql(
            &other_admin,
            "{ notices { edges { node { kind } } } }",
            json!({}),
        )
        .await;
    assert!(
        !theirs.ok()["notices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["kind"] == "offboarding.awaiting_authorization")
    );
    // The one who began it cannot approve it; support cannot; another tenant's admin does not see it.
    let refused = app.gql(&root, AUTHORIZE, json!({ "t": t })).await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "SECOND_PERSON_REQUIRED"
    );
    app.gql(&support, AUTHORIZE, json!({ "t": t }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&other_admin, AUTHORIZE, json!({ "t": t }))
        .await
        .expect_code("NOT_FOUND");
    app.gql(&other_admin, CANCEL, json!({ "t": t, "r": "hostile" }))
        .await
        .expect_code("NOT_FOUND");
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action = 'tenant.offboarding_authorized'"
        )
        .await,
        0
    );
    // The client was told and can see who asked.
    let notice = app
        .gql(
            &admin,
            "{ notices { edges { node { title } } } }",
            json!({}),
        )
        .await;
    assert!(notice.ok().to_string().contains("confirm or cancel"));

    // The client cancels: the tenant is active again and collects again.
    let cancelled = app.gql(&admin, CANCEL, json!({ "r": "we renewed" })).await;
    assert_eq!(cancelled.ok()["cancelOffboarding"]["status"], "ACTIVE");
    assert!(cancelled.ok()["cancelOffboarding"]["offboarding"].is_null());
    app.gql(&admin, CANCEL, json!({ "r": "again" }))
        .await
        .expect_code("BAD_USER_INPUT");
    subject(
        &app,
        &admin,
        "target-2",
        "second.target@example.com",
        "Tom Target",
    )
    .await;

    // Begun again and approved by a second platform admin, a platform admin may still cancel before it runs.
    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await
        .ok();
    let second = app.long_standing_platform_admin("pa-two").await;
    let approved = app.gql(&second, AUTHORIZE, json!({ "t": t })).await;
    assert_eq!(
        approved.ok()["authorizeOffboarding"]["offboarding"]["authorizedBy"],
        "staff:pa-two"
    );
    app.gql(&second, AUTHORIZE, json!({ "t": t }))
        .await
        .expect_code("CONFLICT");
    app.run_jobs_at(Utc::now() + Duration::days(6)).await;
    assert_eq!(subjects_of(&app, "eu", &t).await, 2);
    app.gql(
        &root,
        CANCEL,
        json!({ "t": t, "r": "client changed its mind" }),
    )
    .await
    .ok();
    app.run_jobs_at(Utc::now() + Duration::days(30)).await;
    assert_eq!(status(&app, &t).await, "ACTIVE");
    assert_eq!(subjects_of(&app, "eu", &t).await, 2);

    // The third time it is confirmed and runs; after that nothing can cancel it.
    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await
        .ok();
    app.gql(&admin, AUTHORIZE, json!({})).await.ok();
    app.run_jobs_at(Utc::now() + Duration::days(8)).await;
    assert_eq!(status(&app, &t).await, "TERMINATED");
    assert_eq!(subjects_of(&app, "eu", &t).await, 0);
    app.gql(&root, CANCEL, json!({ "t": t, "r": "too late" }))
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action IN ('tenant.offboarding_cancelled', 'tenant.offboarding_authorized')"
        )
        .await,
        4
    );
}

both_backends!(
    delete_at_once,
    return_then_delete,
    return_first_even_at_the_shortest_grace,
    one_admin_cannot_delete_a_client
);

/// An offboarding's erase batch and an erasure on request of one of its subjects, running at once, do not deadlock:
/// the batch takes its subjects' rows (in id order) before deleting their values, as the request's erasure takes its
/// subject's row first. Staged with another session holding that subject's values: the batch comes to wait on them
/// first, then the request's erasure behind it; once the values are free the batch erases every subject and the
/// request's erasure finds its subject gone. Neither transaction is aborted.
async fn an_erase_batch_and_an_erasure_on_request_do_not_deadlock(backend: Backend) {
    batch_beside_erasure(backend, true).await
}

/// The other order: the request's erasure holds its subject's row when the batch comes to it. The batch waits, then
/// finds that subject gone (with its own tombstone and propagations) and reads its batch again, instead of failing on
/// a second tombstone after deleting the other subjects' keys.
async fn an_erasure_on_request_then_an_erase_batch_both_finish(backend: Backend) {
    batch_beside_erasure(backend, false).await
}

async fn batch_beside_erasure(backend: Backend, batch_first: bool) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Batching Co", "eu").await;
    let admin = app.invite(&t, "batching-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("batching-po", "PRIVACY_OFFICER").await;
    let asked = subject(&app, &admin, "batch-1", "asked@batch.example", "Ann Asked").await;
    subject(&app, &admin, "batch-2", "other@batch.example", "Otto Other").await;
    crate::requests::started(&app, (&admin, &po), &t, &asked, "ERASURE").await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "DELETE", "g": 7 }))
        .await
        .ok();
    app.gql(&admin, AUTHORIZE, json!({})).await.ok();
    let region = app.raw_db("eu").await;
    if batch_first {
        // The request's erasure queued after the offboarding's end, so the batch is claimed first.
        region
            .execute_unprepared(&format!(
                "UPDATE jobs SET run_at = '{}'::timestamptz WHERE kind = 'request.erase'",
                (Utc::now() + Duration::days(7) + Duration::hours(1)).to_rfc3339()
            ))
            .await
            .unwrap();
    }

    let sid = steward_tests::stored_uuid(&app, asked.as_str());
    let held = region.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "SELECT id FROM personal_data WHERE subject_id = {sid} FOR UPDATE"
    ))
    .await
    .unwrap();
    let ended = Utc::now() + Duration::days(8);
    let first = app.run_jobs_at(ended);
    tokio::pin!(first);
    app.until_a_session_waits("eu", first.as_mut()).await;
    let second = app.run_jobs_at(ended);
    tokio::pin!(second);
    app.until_sessions_wait("eu", 2, second.as_mut()).await;
    held.commit().await.unwrap();
    let limit = std::time::Duration::from_secs(30);
    let (one, two) = tokio::join!(
        tokio::time::timeout(limit, first),
        tokio::time::timeout(limit, second)
    );
    one.expect("the first job finishes");
    two.expect("the second job finishes");
    assert_eq!(
        app.count("eu", "jobs", "last_error IS NOT NULL").await,
        0,
        "a transaction was aborted or failed"
    );
    assert_eq!(subjects_of(&app, "eu", &t).await, 0);
    assert_eq!(
        app.count("eu", "jobs", "kind = 'request.erase' AND state = 'done'")
            .await,
        1
    );
    // One tombstone per subject: the request's, or the offboarding's.
    assert_eq!(
        app.count("eu", "erasure_tombstones", &format!("subject_id = {sid}"))
            .await,
        1
    );
    assert_eq!(
        app.count(
            "eu",
            "erasure_tombstones",
            &format!("subject_id = {sid} AND origin = 'offboarding'")
        )
        .await,
        i64::from(batch_first)
    );
    assert!(!app.database_contains("eu", "asked@batch.example").await);
}

steward_tests::postgres_only!(
    an_erase_batch_and_an_erasure_on_request_do_not_deadlock,
    an_erasure_on_request_then_an_erase_batch_both_finish
);

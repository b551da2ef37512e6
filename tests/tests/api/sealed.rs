//! A subject's `externalId`, a record's `source` and a request's `note` are personal data: stored only sealed with the
//! subject's key, read under the same need-to-know as values, found and kept unique through a per-tenant blind index,
//! gone with the key; and rows an older version stored in clear are sealed when the server is upgraded.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};

use crate::personal::CREATE;
use crate::requests::SUBMIT;

const SUBJECT: &str =
    "query($id: ID!) { dataSubject(id: $id) { externalId personalData { id source value } } }";
const REQUEST_NOTE: &str =
    "query($t: ID, $id: ID!) { dataSubjectRequest(tenantId: $t, id: $id) { id note } }";
const BY_EXTERNAL_ID: &str = "query($t: ID, $e: String!) { dataSubjects(tenantId: $t, externalId: $e) { totalCount edges { node { id } } } }";

fn planted_record(source: &str) -> Value {
    json!({ "category": "user.name", "value": "Sealed Person", "purpose": "essential.service", "source": source })
}

async fn create(app: &TestApp, admin: &str, external_id: &str, source: &str) -> Value {
    app.gql(
        admin,
        CREATE,
        json!({ "i": { "externalId": external_id, "personalData": [planted_record(source)] } }),
    )
    .await
    .ok()["createDataSubject"]
        .clone()
}

async fn submit_with_note(
    app: &TestApp,
    admin: &str,
    subject: &str,
    kind: &str,
    note: &str,
) -> String {
    app.gql(
        admin,
        SUBMIT,
        json!({ "i": { "subjectId": subject, "kind": kind, "note": note } }),
    )
    .await
    .ok()["submitDataSubjectRequest"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn found_by_external_id(
    app: &TestApp,
    token: &str,
    tenant: &str,
    external_id: &str,
) -> Vec<String> {
    let reply = app
        .gql(
            token,
            BY_EXTERNAL_ID,
            json!({ "t": tenant, "e": external_id }),
        )
        .await;
    reply.ok()["dataSubjects"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn in_any_database(app: &TestApp, needle: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for db in ["control", "eu", "us"] {
        if app.database_contains(db, needle).await {
            found.push(db);
        }
    }
    found
}

async fn identifiers_are_sealed_and_found_by_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Sealed Ids", "eu").await;
    let other = app.create_tenant("Other Ids", "eu").await;
    let admin = app.invite(&t, "si-admin", "CLIENT_ADMIN").await;
    let other_admin = app.invite(&other, "si-other", "CLIENT_ADMIN").await;
    let support = app.staff_with("si-support", "SUPPORT").await;
    let po = app.staff_with("si-po", "PRIVACY_OFFICER").await;

    let s = create(&app, &admin, "planted-ext-4411", "planted-src-4411").await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["externalId"], "planted-ext-4411");
    assert_eq!(s["personalData"][0]["source"], "planted-src-4411");
    let note = submit_with_note(&app, &admin, &id, "ACCESS", "planted-note-4411").await;
    let read = app.gql(&admin, REQUEST_NOTE, json!({ "id": note })).await;
    assert_eq!(read.ok()["dataSubjectRequest"]["note"], "planted-note-4411");
    // A reason given with a transition is sealed the same way.
    app.gql(&po, "mutation($t: ID, $id: ID!) { extendDataSubjectRequest(tenantId: $t, id: $id, version: 1, days: 5, reason: \"planted-reason-4411\") { state } }", json!({ "t": t, "id": note }))
        .await
        .ok();
    let reason = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubjectRequest(id: $id) { extensionReason } }",
            json!({ "id": note }),
        )
        .await;
    assert_eq!(
        reason.ok()["dataSubjectRequest"]["extensionReason"],
        "planted-reason-4411"
    );

    // Found by its external id (exact, after trimming), unique in the tenant, but free in another tenant.
    assert_eq!(
        found_by_external_id(&app, &admin, &t, " planted-ext-4411 ").await,
        std::slice::from_ref(&id)
    );
    assert!(
        found_by_external_id(&app, &admin, &t, "planted-ext-441")
            .await
            .is_empty()
    );
    app.gql(
        &admin,
        CREATE,
        json!({ "i": { "externalId": "planted-ext-4411" } }),
    )
    .await
    .expect_code("CONFLICT");
    let elsewhere = create(&app, &other_admin, "planted-ext-4411", "other source").await;
    assert!(
        found_by_external_id(&app, &admin, &t, "planted-ext-4411").await
            == std::slice::from_ref(&id)
    );
    assert_eq!(
        found_by_external_id(&app, &other_admin, &other, "planted-ext-4411").await,
        [elsewhere["id"].as_str().unwrap().to_owned()]
    );

    // Changed: found by the new id only; the source rectified.
    app.gql(
        &admin,
        "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { externalId } }",
        json!({ "i": { "id": id, "externalId": "planted-ext-5522" } }),
    )
    .await
    .ok();
    assert!(
        found_by_external_id(&app, &admin, &t, "planted-ext-4411")
            .await
            .is_empty()
    );
    assert_eq!(
        found_by_external_id(&app, &admin, &t, "planted-ext-5522").await,
        std::slice::from_ref(&id)
    );
    let rectified = app
        .gql(
            &admin,
            "mutation($i: UpdatePersonalDataInput!) { updatePersonalData(input: $i) { source } }",
            json!({ "i": { "id": s["personalData"][0]["id"], "source": "planted-src-5522" } }),
        )
        .await;
    assert_eq!(
        rectified.ok()["updatePersonalData"]["source"],
        "planted-src-5522"
    );

    // Staff without a grant: each personal field null with FORBIDDEN at its path, the rest intact.
    let seen = app
        .gql(&support, "query($t: ID, $id: ID!) { dataSubject(tenantId: $t, id: $id) { id externalId personalData { category source } } }", json!({ "t": t, "id": id }))
        .await;
    let node = &seen.body["data"]["dataSubject"];
    assert_eq!(node["id"], id.as_str());
    assert!(node["externalId"].is_null(), "{}", seen.body);
    assert!(node["personalData"][0]["source"].is_null(), "{}", seen.body);
    assert_eq!(node["personalData"][0]["category"], "user.name");
    let paths: Vec<String> = seen.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], "FORBIDDEN");
            e["path"].to_string()
        })
        .collect();
    assert!(
        paths.contains(&json!(["dataSubject", "externalId"]).to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&json!(["dataSubject", "personalData", 0, "source"]).to_string()),
        "{paths:?}"
    );
    let queue = app
        .gql(&po, REQUEST_NOTE, json!({ "t": t, "id": note }))
        .await;
    assert!(
        queue.body["data"]["dataSubjectRequest"]["note"].is_null(),
        "{}",
        queue.body
    );
    assert_eq!(
        queue.body["data"]["dataSubjectRequest"]["id"],
        note.as_str()
    );
    assert_eq!(queue.body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(
        queue.body["errors"][0]["path"],
        json!(["dataSubjectRequest", "note"])
    );
    let reason = app
        .gql(&po, "query($t: ID, $id: ID!) { dataSubjectRequest(tenantId: $t, id: $id) { extensionReason } }", json!({ "t": t, "id": note }))
        .await;
    assert!(reason.body["data"]["dataSubjectRequest"]["extensionReason"].is_null());
    assert_eq!(reason.code(), Some("FORBIDDEN"));

    // With a grant the client approved, staff read them, and each read is in the client's log.
    let grant = app
        .gql(&support, "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id } }", json!({ "i": { "tenantId": t, "justification": "Customer asks where a record came from", "ticket": "SUP-77", "durationMinutes": 30, "subjectIds": [id] } }))
        .await;
    let grant = grant.ok()["requestAccessGrant"]["id"].clone();
    app.gql(
        &admin,
        "mutation($id: ID!) { approveAccessGrant(id: $id) { status } }",
        json!({ "id": grant }),
    )
    .await
    .ok();
    let granted = app
        .gql(&support, "query($t: ID, $id: ID!) { dataSubject(tenantId: $t, id: $id) { externalId personalData { source } } }", json!({ "t": t, "id": id }))
        .await;
    assert_eq!(
        granted.ok()["dataSubject"]["externalId"],
        "planted-ext-5522"
    );
    assert_eq!(
        granted.ok()["dataSubject"]["personalData"][0]["source"],
        "planted-src-5522"
    );
    let log = app
        .gql(
            &admin,
            "{ accessTransparencyLog { edges { node { categories } } } }",
            json!({}),
        )
        .await;
    let categories = log.ok()["accessTransparencyLog"]["edges"].to_string();
    assert!(categories.contains("subject.external_id"), "{categories}");
    assert!(categories.contains("personal_data.source"), "{categories}");

    // Not one of them, old or new, is in any database in a form a thief of the disk could read.
    for planted in [
        "planted-ext-4411",
        "planted-ext-5522",
        "planted-src-4411",
        "planted-src-5522",
        "planted-note-4411",
        "planted-reason-4411",
    ] {
        assert_eq!(
            in_any_database(&app, planted).await,
            Vec::<&str>::new(),
            "{planted}"
        );
    }

    // Erased: the note goes with the subject's key.
    let erasure = submit_with_note(&app, &admin, &id, "ERASURE", "planted-note-6633").await;
    let version = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubjectRequest(id: $id) { version } }",
            json!({ "id": erasure }),
        )
        .await
        .ok()["dataSubjectRequest"]["version"]
        .clone();
    app.gql(
        &po,
        "mutation($t: ID, $id: ID!, $v: Int!) { startDataSubjectRequest(tenantId: $t, id: $id, version: $v) { state } }",
        json!({ "t": t, "id": erasure, "v": version }),
    )
    .await
    .ok();
    assert!(app.run_jobs().await >= 1);
    let after = app.gql(&admin, REQUEST_NOTE, json!({ "id": note })).await;
    assert!(
        after.ok()["dataSubjectRequest"]["note"].is_null(),
        "{}",
        after.body
    );
    assert!(
        found_by_external_id(&app, &admin, &t, "planted-ext-5522")
            .await
            .is_empty()
    );
}

/// An older version stored these in clear: the upgrade seals them in place, indexes the external ids, drops the clear
/// columns, and leaves no clear copy in the database; a request whose subject was erased before loses its note.
async fn clear_identifiers_are_sealed_on_upgrade(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Legacy Co", "eu").await;
    let admin = app.invite(&t, "legacy-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("legacy-po", "PRIVACY_OFFICER").await;
    let kept = create(&app, &admin, "placeholder-1", "placeholder source").await;
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    let record_id = kept["personalData"][0]["id"].as_str().unwrap().to_owned();
    let note = submit_with_note(&app, &admin, &kept_id, "ACCESS", "placeholder note").await;
    let gone = create(&app, &admin, "placeholder-2", "placeholder source").await;
    let gone_id = gone["id"].as_str().unwrap().to_owned();
    let gone_note = submit_with_note(&app, &admin, &gone_id, "ERASURE", "placeholder note 2").await;
    app.gql(
        &po,
        "mutation($t: ID, $id: ID!, $v: Int!) { startDataSubjectRequest(tenantId: $t, id: $id, version: $v) { state } }",
        json!({ "t": t, "id": gone_note, "v": 1 }),
    )
    .await
    .ok();
    assert!(app.run_jobs().await >= 1);

    // Back to the schema of the version before, with its clear values, as that version wrote them.
    let db = app.raw_db("eu").await;
    steward_tests::region_schema_before(&db, "region_m20261203_000001_sealed_identifiers").await;
    let backend = db.get_database_backend();
    for sql in [
        format!(
            "UPDATE data_subjects SET external_id = 'legacy-ext-8801' WHERE id = {}",
            stored_uuid(&app, &kept_id)
        ),
        format!(
            "UPDATE personal_data SET source = 'legacy-src-8801' WHERE id = {}",
            stored_uuid(&app, &record_id)
        ),
        format!(
            "UPDATE dsr_requests SET note = 'legacy-note-8801' WHERE id = {}",
            stored_uuid(&app, &note)
        ),
        format!(
            "UPDATE dsr_requests SET note = 'legacy-note-8802' WHERE id = {}",
            stored_uuid(&app, &gone_note)
        ),
        format!(
            "UPDATE dsr_requests SET extension_reason = 'legacy-reason-8801' WHERE id = {}",
            stored_uuid(&app, &note)
        ),
    ] {
        db.execute_raw(Statement::from_string(backend, sql))
            .await
            .unwrap();
    }
    db.close().await.unwrap();
    // That version kept the subjects' keys in their rows too.
    app.keys_back_in_region("eu").await;
    for planted in [
        "legacy-ext-8801",
        "legacy-src-8801",
        "legacy-note-8801",
        "legacy-note-8802",
        "legacy-reason-8801",
    ] {
        assert_eq!(
            in_any_database(&app, planted).await,
            ["eu"],
            "the scan sees {planted} before"
        );
    }

    let app = app.restart().await;
    let read = app.gql(&admin, SUBJECT, json!({ "id": kept_id })).await;
    assert_eq!(read.ok()["dataSubject"]["externalId"], "legacy-ext-8801");
    assert_eq!(
        read.ok()["dataSubject"]["personalData"][0]["source"],
        "legacy-src-8801"
    );
    assert_eq!(
        read.ok()["dataSubject"]["personalData"][0]["value"],
        "Sealed Person"
    );
    let n = app.gql(&admin, REQUEST_NOTE, json!({ "id": note })).await;
    assert_eq!(n.ok()["dataSubjectRequest"]["note"], "legacy-note-8801");
    let r = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubjectRequest(id: $id) { extensionReason } }",
            json!({ "id": note }),
        )
        .await;
    assert_eq!(
        r.ok()["dataSubjectRequest"]["extensionReason"],
        "legacy-reason-8801"
    );
    let n = app
        .gql(&admin, REQUEST_NOTE, json!({ "id": gone_note }))
        .await;
    assert!(n.ok()["dataSubjectRequest"]["note"].is_null());
    assert_eq!(
        found_by_external_id(&app, &admin, &t, "legacy-ext-8801").await,
        [kept_id]
    );
    app.gql(
        &admin,
        CREATE,
        json!({ "i": { "externalId": "legacy-ext-8801" } }),
    )
    .await
    .expect_code("CONFLICT");
    for planted in [
        "legacy-ext-8801",
        "legacy-src-8801",
        "legacy-note-8801",
        "legacy-note-8802",
        "legacy-reason-8801",
    ] {
        assert_eq!(
            in_any_database(&app, planted).await,
            Vec::<&str>::new(),
            "{planted} after the upgrade"
        );
    }
    // The clear columns are gone from the schema.
    let db = app.raw_db("eu").await;
    for (table, column) in [
        ("data_subjects", "external_id"),
        ("personal_data", "source"),
        ("dsr_requests", "note"),
    ] {
        let probe = db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT {column} FROM {table} LIMIT 1"),
            ))
            .await;
        assert!(probe.is_err(), "{table}.{column} still exists");
    }
}

/// Without the master key, `steward migrate` refuses to convert clear values and changes nothing.
async fn an_upgrade_without_keys_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Keyless Co", "eu").await;
    let admin = app.invite(&t, "keyless-admin", "CLIENT_ADMIN").await;
    let s = create(&app, &admin, "placeholder-3", "placeholder source").await;
    let db = app.raw_db("eu").await;
    steward_tests::region_schema_before(&db, "region_m20261203_000001_sealed_identifiers").await;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        format!(
            "UPDATE data_subjects SET external_id = 'keyless-ext-1' WHERE id = {}",
            stored_uuid(&app, s["id"].as_str().unwrap())
        ),
    ))
    .await
    .unwrap();
    let dbs = steward::db::Databases::connect(&app.config).await.unwrap();
    let err = steward::keys::migrate(&dbs, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("STEWARD_MASTER_KEY"), "{err}");
    dbs.close().await;
    assert_eq!(
        app.count("eu", "data_subjects", "external_id = 'keyless-ext-1'")
            .await,
        1,
        "still the old schema, value untouched"
    );
}

both_backends!(
    identifiers_are_sealed_and_found_by_index,
    clear_identifiers_are_sealed_on_upgrade,
    an_upgrade_without_keys_changes_nothing
);

//! A departing tenant's export is built in bounded chunks across job runs (resuming after its cursor) and streamed
//! chunk by chunk: every subject exactly once, in id order, with every value, and nothing in clear at rest.

use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::offboarding::{AUTHORIZE, BEGIN, EXPORT, download};
use crate::personal::CREATE;

/// 18 subjects of 50 values of 4,000 characters: about 200 KB of lines each, so each chunk (256 KiB) closes after two
/// of them: 9 chunks, more than one job run stores (8).
async fn large_exports_are_chunked_and_resumed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Bulky Co", "eu").await;
    let other = app.create_tenant("Bystander Co", "eu").await;
    let admin = app.invite(&t, "bulky-admin", "CLIENT_ADMIN").await;
    let other_admin = app.invite(&other, "bystander-admin", "CLIENT_ADMIN").await;
    let mut ids = Vec::new();
    for i in 0..18 {
        let records: Vec<Value> = (0..50)
            .map(|j| {
                let value = format!("chunkmark-{i:02}-{j:02}-{}", "x".repeat(3980));
                json!({ "category": "user.name", "value": value, "purpose": "essential.service", "source": "bulk import" })
            })
            .collect();
        let created = app
            .gql(
                &admin,
                CREATE,
                json!({ "i": { "externalId": format!("bulky-{i:02}"), "personalData": records } }),
            )
            .await;
        ids.push(
            created.ok()["createDataSubject"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();

    // From the moment the offboarding begins, the export is there, being built: not yet downloadable.
    let building = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(building.ok()["tenantExport"]["ready"], false);
    assert_eq!(building.ok()["tenantExport"]["subjects"], 0);
    let early = app.get_with(&admin, "/exports/tenant").await;
    assert_eq!(early.status, axum::http::StatusCode::CONFLICT);
    assert_eq!(
        early.body["errors"][0]["extensions"]["reason"],
        "EXPORT_NOT_READY"
    );

    // A run stores at most 8 chunks, so the build resumes after its cursor in a second run.
    for _ in 0..3 {
        app.run_jobs().await;
    }
    let ready = app.gql(&admin, EXPORT, json!({})).await;
    let ready = &ready.ok()["tenantExport"];
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["subjects"], 18);
    assert_eq!(ready["values"], 900);
    assert_eq!(app.count("eu", "tenant_export_chunks", "1=1").await, 9);
    // While an export is still being built it cannot be downloaded.
    let db = app.raw_db("eu").await;
    let set_ready = |ready: bool| {
        sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("UPDATE tenant_exports SET ready = {ready}"),
        )
    };
    use sea_orm::ConnectionTrait;
    db.execute_raw(set_ready(false)).await.unwrap();
    let building = app.get_with(&admin, "/exports/tenant").await;
    assert_eq!(building.status, axum::http::StatusCode::CONFLICT);
    assert_eq!(
        building.body["errors"][0]["extensions"]["reason"],
        "EXPORT_NOT_READY"
    );
    db.execute_raw(set_ready(true)).await.unwrap();

    let lines = download(&app, &admin).await;
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0]["subjects"], 18);
    let exported: Vec<&str> = lines[1..19]
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    let mut in_order = ids.clone();
    in_order.sort();
    assert_eq!(exported, in_order, "every subject once, in id order");
    for line in &lines[1..19] {
        let i: usize = line["external_id"].as_str().unwrap()[6..].parse().unwrap();
        let values: Vec<&str> = line["personal_data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["value"].as_str().unwrap())
            .collect();
        assert_eq!(values.len(), 50);
        for (j, value) in values.iter().enumerate() {
            assert!(
                value.starts_with(&format!("chunkmark-{i:02}-{j:02}-")),
                "{i} {j}"
            );
            assert_eq!(value.len(), 3980 + 16);
        }
        assert_eq!(line["personal_data"][0]["source"], "bulk import");
    }
    assert_eq!(
        lines[19],
        json!({ "type": "end", "subjects": 18, "values": 900 })
    );

    // Another tenant has no export; nothing of it is in clear at rest.
    let none = app.get_with(&other_admin, "/exports/tenant").await;
    assert_eq!(none.status, axum::http::StatusCode::NOT_FOUND);
    assert!(!app.database_contains("eu", "chunkmark-07-33").await);
    assert_eq!(
        app.count("eu", "audit_events", "action = 'tenant.export_downloaded'")
            .await,
        1
    );
}

both_backends!(large_exports_are_chunked_and_resumed);

/// An export an older version built as one document is deleted by the upgrade and rebuilt in chunks by its job.
async fn exports_of_an_older_version_are_rebuilt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Upgraded Co", "eu").await;
    let admin = app.invite(&t, "upgraded-admin", "CLIENT_ADMIN").await;
    crate::personal::subject(&app, &admin, "up-1", "up1@example.org", "Una Upgrade").await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    app.run_jobs().await;
    let db = app.raw_db("eu").await;
    steward_tests::region_schema_before(&db, "region_m20261203_000002_export_chunks").await;
    db.close().await.unwrap();
    assert_eq!(app.count("eu", "tenant_exports", "1=1").await, 1);

    let app = app.restart().await;
    app.gql(&admin, EXPORT, json!({}))
        .await
        .expect_code("NOT_FOUND");
    app.run_jobs().await;
    let ready = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(ready.ok()["tenantExport"]["ready"], true);
    let lines = download(&app, &admin).await;
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["external_id"], "up-1");
}

both_backends!(exports_of_an_older_version_are_rebuilt);

/// What is erased while a tenant is leaving — on request or by retention — leaves its export too: the export is emptied
/// and built again from what is left. A `HEAD`, or a download that never reached its end, is not a download.
async fn erasures_reach_the_export(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Shrinking Co", "eu").await;
    let admin = app.invite(&t, "shrink-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("shrink-po", "PRIVACY_OFFICER").await;
    let gone = crate::personal::subject(
        &app,
        &admin,
        "shr-1",
        "erased.later@example.org",
        "Ernie Erased",
    )
    .await;
    let kept = app
        .gql(&admin, CREATE, json!({ "i": { "externalId": "shr-2", "personalData": [
            { "category": "user.name", "value": "Kay Kept", "purpose": "essential.service", "source": "app" },
            { "category": "user.device.ip_address", "value": "198.51.100.23", "purpose": "analytics", "source": "app",
              "collectedAt": (chrono::Utc::now() - chrono::Duration::days(200)).to_rfc3339() }
        ] } }))
        .await;
    assert_eq!(
        kept.ok()["createDataSubject"]["personalData"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    app.run_jobs().await;
    let lines = download_text(&app, &admin).await;
    assert!(lines.contains("erased.later@example.org") && lines.contains("198.51.100.23"));

    // Not a download: a HEAD.
    let head = app
        .send(
            axum::http::Request::head("/exports/tenant")
                .header("authorization", format!("Bearer {admin}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, axum::http::StatusCode::OK);
    assert_eq!(
        downloads(&app, &admin).await,
        1,
        "the one whole download above"
    );

    // Erased on request: gone from the export once it is rebuilt.
    let submitted = app
        .gql(
            &admin,
            crate::requests::SUBMIT,
            json!({ "i": { "subjectId": gone, "kind": "ERASURE" } }),
        )
        .await;
    let erasure = submitted.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(&po, "mutation($t: ID, $id: ID!) { startDataSubjectRequest(tenantId: $t, id: $id, version: 1) { state } }", json!({ "t": t, "id": erasure }))
        .await
        .ok();
    app.run_jobs().await;
    app.run_jobs().await;
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    assert_eq!(export.ok()["tenantExport"]["subjects"], 1);
    let lines = download_text(&app, &admin).await;
    assert!(!lines.contains("erased.later@example.org"), "{lines}");
    assert!(lines.contains("Kay Kept"));

    // Deleted by retention (a client rule: analytics IP addresses for 120 days): gone from the export too.
    app.gql(&admin, "mutation($i: RetentionRuleInput!) { setRetentionRule(input: $i) { id } }", json!({ "i": { "category": "user.device.ip_address", "purpose": "analytics", "periodDays": 120 } }))
        .await
        .ok();
    assert_eq!(
        steward::retention::sweep(app.state.tenancy(), chrono::Utc::now())
            .await
            .unwrap(),
        1
    );
    app.run_jobs().await;
    let lines = download_text(&app, &admin).await;
    assert!(!lines.contains("198.51.100.23"), "{lines}");
    assert!(lines.contains("Kay Kept"));
    assert!(
        !app.database_contains("eu", "erased.later@example.org")
            .await
    );
}

async fn download_text(app: &TestApp, token: &str) -> String {
    download(app, token)
        .await
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn downloads(app: &TestApp, token: &str) -> i64 {
    app.gql(token, EXPORT, json!({})).await.ok()["tenantExport"]["downloads"]
        .as_i64()
        .unwrap()
}

both_backends!(erasures_reach_the_export);

/// A chunk built from reads made before an erasure never lands after it, even as the first chunk of the rebuilt export
/// (whose chunk count is 0 again). PostgreSQL's locks order the two deterministically: another session holds the chunk
/// table, so the build, its subjects read and checked (holding the export row and its subjects against deletion),
/// waits to store its chunk; the erasure waits to delete the subject; then both go on, the build's chunk first, and
/// the erasure empties the export after it.
async fn a_chunk_read_before_an_erasure_does_not_land_after_it(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Racing Export Co", "eu").await;
    let admin = app.invite(&t, "race-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("race-po", "PRIVACY_OFFICER").await;
    let gone = crate::personal::subject(
        &app,
        &admin,
        "race-1",
        "raced.away@example.org",
        "Rae Raced",
    )
    .await;
    crate::personal::subject(&app, &admin, "race-2", "stays@example.org", "Stan Stays").await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();

    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared("LOCK TABLE tenant_export_chunks IN SHARE MODE")
        .await
        .unwrap();
    let build = app.run_jobs();
    tokio::pin!(build);
    // The build waits to store its first chunk.
    app.until_a_session_waits("eu", build.as_mut()).await;
    let submitted = app
        .gql(
            &admin,
            crate::requests::SUBMIT,
            json!({ "i": { "subjectId": gone, "kind": "ERASURE" } }),
        )
        .await;
    let erasure = submitted.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(&po, "mutation($t: ID, $id: ID!) { startDataSubjectRequest(tenantId: $t, id: $id, version: 1) { state } }", json!({ "t": t, "id": erasure }))
        .await
        .ok();
    let erase = app.run_jobs();
    tokio::pin!(erase);
    // The erasure waits too (on the subject the build holds).
    app.until_sessions_wait("eu", 2, erase.as_mut()).await;
    held.commit().await.unwrap();
    tokio::join!(build, erase);

    for _ in 0..3 {
        app.run_jobs().await;
    }
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    assert_eq!(export.ok()["tenantExport"]["subjects"], 1);
    let lines = download_text(&app, &admin).await;
    assert!(!lines.contains("raced.away@example.org"), "{lines}");
    assert!(lines.contains("stays@example.org"), "{lines}");
}

// PostgreSQL only: there a table lock of another session can hold the build between its reads and its write while the
// erasure runs; on SQLite the one writer would hold up the erasure too (the fix, a rebuild count, is the same code).
steward_tests::postgres_only!(a_chunk_read_before_an_erasure_does_not_land_after_it);

/// A retention sweep's transaction is still open (held after it looked for an export to empty, before it commits) when
/// the offboarding begins and the export's first chunk is read: that chunk, read with the deletion not yet visible, must
/// not be stored. The sweep found no export, so no rebuild is counted; the chunk's own check of its rows is what holds.
async fn a_deletion_in_flight_when_the_export_begins_is_not_in_it(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::Duration;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Late Export Co", "eu").await;
    let admin = app.invite(&t, "late-admin", "CLIENT_ADMIN").await;
    let old = (chrono::Utc::now() - chrono::Duration::days(400)).to_rfc3339();
    let created = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "externalId": "late-1", "personalData": [
                { "category": "user.contact.email", "value": "expired.value@example.org",
                  "purpose": "essential.service", "source": "app", "collectedAt": old },
                { "category": "user.name", "value": "Kept Name", "purpose": "essential.service", "source": "app" },
            ] } }),
        )
        .await;
    created.ok();
    app.gql(
        &admin,
        "mutation($i: RetentionRuleInput!) { setRetentionRule(input: $i) { id } }",
        json!({ "i": { "category": "user.contact.email", "periodDays": 30 } }),
    )
    .await
    .ok();

    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared("LOCK TABLE retention_runs IN SHARE MODE")
        .await
        .unwrap();
    let tenancy = app.state.tenancy().clone();
    let mut sweep =
        tokio::spawn(async move { steward::retention::sweep(&tenancy, chrono::Utc::now()).await });
    // The sweep waits to record its run.
    app.until_a_session_waits("eu", std::pin::Pin::new(&mut sweep))
        .await;

    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), app.run_jobs())
            .await
            .expect("the export's build does not wait for the sweep");
    }
    held.commit().await.unwrap();
    assert_eq!(sweep.await.unwrap().unwrap(), 1);

    // The build read its chunk again after a pause (1 s, then longer), not at once and again.
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    for _ in 0..3 {
        app.run_jobs_at(later).await;
    }
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    let lines = download_text(&app, &admin).await;
    assert!(!lines.contains("expired.value@example.org"), "{lines}");
    assert!(lines.contains("Kept Name"), "{lines}");
}

// PostgreSQL only, for the same reason as the test above.
steward_tests::postgres_only!(a_deletion_in_flight_when_the_export_begins_is_not_in_it);

/// A chunk is checked against the ids of its rows, not their number: a value deleted while another is added in the
/// chunk's range (a retention sweep and a write that passed the freeze before the offboarding began, both committing
/// between the chunk's reads and its check) leaves the count as it was, and the chunk is still read again. Another
/// session holds the export table, so the build, its chunk read, waits before its check while the rows change.
async fn a_value_swapped_in_a_chunks_range_is_read_again(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::Duration;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Swapping Co", "eu").await;
    let admin = app.invite(&t, "swap-admin", "CLIENT_ADMIN").await;
    crate::personal::subject(
        &app,
        &admin,
        "swap-1",
        "swapped.out@example.org",
        "Sam Swap",
    )
    .await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();

    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared("LOCK TABLE tenant_exports IN SHARE MODE")
        .await
        .unwrap();
    let build = app.run_jobs();
    tokio::pin!(build);
    // The build, its chunk read, waits to store it.
    app.until_a_session_waits("eu", build.as_mut()).await;
    // The email goes; a copy of the name comes, under a new id: two values before and after.
    let copy = uuid::Uuid::now_v7();
    held.execute_unprepared(&format!(
        "CREATE TEMP TABLE swapped ON COMMIT DROP AS \
           SELECT * FROM personal_data WHERE tenant_id = '{t}' AND category = 'user.name'; \
         UPDATE swapped SET id = '{copy}'; \
         INSERT INTO personal_data SELECT * FROM swapped; \
         DELETE FROM personal_data WHERE tenant_id = '{t}' AND category = 'user.contact.email'"
    ))
    .await
    .unwrap();
    held.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), build)
        .await
        .expect("the build goes on once the export table is free");
    assert_eq!(
        app.count("eu", "tenant_export_chunks", "true").await,
        0,
        "a chunk whose rows changed under it was stored"
    );
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["subjects"],
        0
    );

    // The copy was only there to keep the count; once it is gone, the chunk is read again (after its pause).
    outside
        .execute_unprepared(&format!("DELETE FROM personal_data WHERE id = '{copy}'"))
        .await
        .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    for _ in 0..3 {
        app.run_jobs_at(later).await;
    }
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    assert_eq!(export.ok()["tenantExport"]["subjects"], 1);
    let lines = download_text(&app, &admin).await;
    assert!(!lines.contains("swapped.out@example.org"), "{lines}");
    assert!(lines.contains("Sam Swap"), "{lines}");
}

// PostgreSQL only: another session's table lock holds the build between its reads and its check.
steward_tests::postgres_only!(a_value_swapped_in_a_chunks_range_is_read_again);

/// A departing tenant's requests are still handled (a restriction, an objection, a rectification update a subject or
/// a value in place): a row held for such an update does not make the export's chunk read again, so the build is not
/// held up while it is open.
async fn an_update_in_flight_does_not_hold_up_the_export(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::Duration;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Updating Co", "eu").await;
    let admin = app.invite(&t, "upd-admin", "CLIENT_ADMIN").await;
    crate::personal::subject(
        &app,
        &admin,
        "upd-1",
        "held.for.update@example.org",
        "Una Update",
    )
    .await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();

    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "SELECT id FROM data_subjects WHERE tenant_id = '{t}' FOR NO KEY UPDATE; \
         SELECT id FROM personal_data WHERE tenant_id = '{t}' FOR NO KEY UPDATE"
    ))
    .await
    .unwrap();
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), app.run_jobs())
            .await
            .expect("the build does not wait for the update");
    }
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    assert_eq!(export.ok()["tenantExport"]["subjects"], 1);
    held.rollback().await.unwrap();
    let lines = download_text(&app, &admin).await;
    assert!(lines.contains("held.for.update@example.org"), "{lines}");
}

// PostgreSQL only: row locks of another session.
steward_tests::postgres_only!(an_update_in_flight_does_not_hold_up_the_export);

/// The export is declared ready only as the run that read it left it. Another instance may have emptied it (an erasure
/// counts a rebuild) and rebuilt part of it since, to as many chunks as this run stored: the chunk count alone matches,
/// the rebuild count does not, and the run reads the export again instead of declaring a partial one ready. Staged
/// here: two subjects of about 200 KB fill the first chunk and a third, held by another session, keeps the build from
/// its second, so the build pauses; that subject then goes, and while the next run reads, an outside session holds the
/// export row, moving it as such a rebuild would (one chunk, its cursor back after the first subject).
async fn an_export_rebuilt_meanwhile_is_not_declared_ready(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::Duration;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Rebuilt Co", "eu").await;
    let admin = app.invite(&t, "rebuilt-admin", "CLIENT_ADMIN").await;
    let mut ids = Vec::new();
    for i in 0..2 {
        let records: Vec<Value> = (0..50)
            .map(|j| {
                let value = format!("rebuilt-{i:02}-{j:02}-{}", "x".repeat(3980));
                json!({ "category": "user.name", "value": value, "purpose": "essential.service", "source": "bulk" })
            })
            .collect();
        let created = app
            .gql(
                &admin,
                CREATE,
                json!({ "i": { "externalId": format!("rebuilt-{i:02}"), "personalData": records } }),
            )
            .await;
        ids.push(
            created.ok()["createDataSubject"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let last =
        crate::personal::subject(&app, &admin, "rebuilt-z", "z@rebuilt.example", "Zed").await;
    let (first, last) = (
        steward_tests::stored_uuid(&app, &ids[0]),
        steward_tests::stored_uuid(&app, &last),
    );
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();

    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "SELECT id FROM data_subjects WHERE id = {last} FOR UPDATE"
    ))
    .await
    .unwrap();
    app.run_jobs().await;
    assert_eq!(app.count("eu", "tenant_export_chunks", "1=1").await, 1);
    held.execute_unprepared(&format!(
        "DELETE FROM personal_data WHERE subject_id = {last}; DELETE FROM data_subjects WHERE id = {last}"
    ))
    .await
    .unwrap();
    held.commit().await.unwrap();

    let held = outside.begin().await.unwrap();
    held.execute_unprepared(&format!(
        "UPDATE tenant_exports SET rebuilds = rebuilds + 1, cursor = {first}"
    ))
    .await
    .unwrap();
    let finish = app.run_jobs_at(chrono::Utc::now() + chrono::Duration::minutes(5));
    tokio::pin!(finish);
    // The run, every subject read, waits on the export row to declare it ready.
    app.until_a_session_waits("eu", finish.as_mut()).await;
    held.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), finish)
        .await
        .expect("the run goes on once the export row is free");
    // It read the export again, stored the chunk after the rebuild's cursor, and only then declared it ready.
    assert_eq!(
        app.count("eu", "tenant_export_chunks", "1=1").await,
        2,
        "an export rebuilt since the run read it was declared ready as it stood"
    );
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        true
    );
}

// PostgreSQL only: other sessions' row locks stage the runs.
steward_tests::postgres_only!(an_export_rebuilt_meanwhile_is_not_declared_ready);

/// Makes every erasure in region database `region` fail after it deleted the subject's key: its tombstone's insert,
/// which comes after, raises an error, so its region transaction rolls back with the key already gone.
async fn fail_erasures_after_their_keys(region: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let postgres = region.get_database_backend() == sea_orm::DbBackend::Postgres;
    region
        .execute_unprepared(if postgres {
            "CREATE FUNCTION staged_failure() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN RAISE EXCEPTION 'staged failure'; END $$; \
             CREATE TRIGGER staged_failure BEFORE INSERT ON erasure_tombstones \
               FOR EACH ROW EXECUTE FUNCTION staged_failure()"
        } else {
            "CREATE TRIGGER staged_failure BEFORE INSERT ON erasure_tombstones \
               BEGIN SELECT RAISE(ABORT, 'staged failure'); END"
        })
        .await
        .unwrap();
}

/// Undoes [`fail_erasures_after_their_keys`].
async fn let_erasures_succeed(region: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let drop = if region.get_database_backend() == sea_orm::DbBackend::Postgres {
        "DROP TRIGGER staged_failure ON erasure_tombstones"
    } else {
        "DROP TRIGGER staged_failure"
    };
    region.execute_unprepared(drop).await.unwrap();
}

/// A subject whose key is gone while the subject is still there is an erasure not finished: its key goes first, in the
/// subject-key database, and its region transaction failed after that (its retry will finish it), or has not committed
/// yet. The build reads it again later, as for any row in flight, instead of failing: each failure is an attempt, and
/// eight make the job dead. Staged with a trigger that fails the erasure's tombstone, so its transaction rolls back
/// after the key's deletion.
async fn a_key_erased_ahead_of_its_subject_pauses_the_build(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Keyless Co", "eu").await;
    let admin = app.invite(&t, "keyless-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("keyless-po", "PRIVACY_OFFICER").await;
    let going =
        crate::personal::subject(&app, &admin, "keyless-1", "keyless@example.org", "Kay Less")
            .await;
    crate::personal::subject(
        &app,
        &admin,
        "keyless-2",
        "kept@keyless.example",
        "Kept Key",
    )
    .await;
    let submitted = app
        .gql(
            &admin,
            crate::requests::SUBMIT,
            json!({ "i": { "subjectId": going, "kind": "ERASURE" } }),
        )
        .await;
    let erasure = submitted.ok()["submitDataSubjectRequest"]["id"].clone();
    app.gql(
        &po,
        &crate::requests::start(),
        json!({ "t": t, "id": erasure, "v": 1 }),
    )
    .await
    .ok();
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();

    let region = app.raw_db("eu").await;
    fail_erasures_after_their_keys(&region).await;
    app.run_jobs().await;
    assert_eq!(
        app.count(
            "eu",
            "jobs",
            "kind = 'request.erase' AND last_error IS NOT NULL"
        )
        .await,
        1,
        "the erasure failed after deleting the key"
    );
    assert_eq!(
        app.count(
            "eu",
            "jobs",
            "kind = 'offboarding.export' AND state = 'queued'"
        )
        .await,
        1,
        "the build is queued again"
    );
    assert_eq!(
        app.count(
            "eu",
            "jobs",
            "kind = 'offboarding.export' AND (attempts > 0 OR last_error IS NOT NULL)"
        )
        .await,
        0,
        "the key's absence counted as a failed attempt"
    );
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        false
    );
    // Its key gone, the erasure can no longer be rejected: its retry, not a rejection, settles the subject.
    let refused = app
        .gql(
            &po,
            &crate::requests::reject(),
            json!({ "t": t, "id": erasure, "v": 2, "r": "changed our mind" }),
        )
        .await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"], "ERASURE_CARRIED_OUT",
        "{:?}",
        refused.body
    );

    let_erasures_succeed(&region).await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    for _ in 0..3 {
        app.run_jobs_at(later).await;
    }
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    assert_eq!(export.ok()["tenantExport"]["subjects"], 1);
    let lines = download_text(&app, &admin).await;
    assert!(!lines.contains("keyless@example.org"), "{lines}");
    assert!(lines.contains("kept@keyless.example"), "{lines}");
}

both_backends!(a_key_erased_ahead_of_its_subject_pauses_the_build);

/// A rectification completed, or a restriction started or lifted, while the tenant leaves changes what its export
/// holds: the export is emptied and built again, so it returns the corrected values and marks the restriction as it
/// now stands, never the values as first read.
async fn rectifications_and_restrictions_reach_the_export(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Rectified Co", "eu").await;
    let admin = app.invite(&t, "rectified-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("rectified-po", "PRIVACY_OFFICER").await;
    let s =
        crate::personal::subject(&app, &admin, "rect-1", "before@rect.example", "Rita Rect").await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    for _ in 0..2 {
        app.run_jobs().await;
    }
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        true
    );
    assert!(
        download_text(&app, &admin)
            .await
            .contains("before@rect.example")
    );

    let records = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubject(id: $id) { personalData { id category } } }",
            json!({ "id": s }),
        )
        .await;
    let email = records.ok()["dataSubject"]["personalData"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "user.contact.email")
        .unwrap()["id"]
        .clone();
    let handle = |kind: &'static str, extra: Value| {
        let (app, admin, po, s, t) = (&app, &admin, &po, &s, &t);
        async move {
            let mut input = json!({ "subjectId": s, "kind": kind });
            if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
                input.extend(extra.clone());
            }
            let submitted = app
                .gql(admin, crate::requests::SUBMIT, json!({ "i": input }))
                .await;
            let id = submitted.ok()["submitDataSubjectRequest"]["id"].clone();
            app.gql(
                po,
                &crate::requests::start(),
                json!({ "t": t, "id": id, "v": 1 }),
            )
            .await
            .ok();
            id
        }
    };
    let rectification = handle(
        "RECTIFICATION",
        json!({ "rectifications": [{ "recordId": email, "value": "after@rect.example" }] }),
    )
    .await;
    app.gql(
        &po,
        &crate::requests::complete(),
        json!({ "t": t, "id": rectification, "v": 2 }),
    )
    .await
    .ok();
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        false,
        "the export still held the value before its rectification"
    );
    for _ in 0..2 {
        app.run_jobs().await;
    }
    let lines = download_text(&app, &admin).await;
    assert!(lines.contains("after@rect.example"), "{lines}");
    assert!(!lines.contains("before@rect.example"), "{lines}");

    handle("RESTRICTION", json!({})).await;
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        false,
        "the export did not mark the restriction"
    );
    for _ in 0..2 {
        app.run_jobs().await;
    }
    let lines = download_text(&app, &admin).await;
    let subject_line: Value = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["type"] == "subject")
        .unwrap();
    assert!(
        subject_line["restricted_since"].is_string(),
        "{subject_line}"
    );

    // A restriction request refused before it started restricted nothing: the export stays as it is.
    let (refused, _) = crate::requests::submit(&app, &admin, &s, "RESTRICTION").await;
    app.gql(
        &po,
        &crate::requests::reject(),
        json!({ "t": t, "id": refused, "v": 1, "r": "accuracy not contested" }),
    )
    .await
    .ok();
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        true,
        "refusing a restriction that never started rebuilt the export"
    );

    // Lifted by the controller: built again without the mark.
    app.gql(
        &admin,
        "mutation($s: ID!) { liftRestriction(subjectId: $s, reason: \"contest resolved\") }",
        json!({ "s": s }),
    )
    .await
    .ok();
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        false,
        "the export still marked the lifted restriction"
    );
    for _ in 0..2 {
        app.run_jobs().await;
    }
    let lines = download_text(&app, &admin).await;
    let subject_line: Value = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["type"] == "subject")
        .unwrap();
    assert!(subject_line["restricted_since"].is_null(), "{subject_line}");
}

both_backends!(rectifications_and_restrictions_reach_the_export);

/// Sets tenant `t`'s grace period (and the job that ends it) to have ended `days_ago`, and its export's download
/// window to have closed a week after that.
async fn grace_ended(app: &TestApp, t: &str, days_ago: i64) {
    use sea_orm::ConnectionTrait;
    let time = |days_ago: i64| {
        let at = (chrono::Utc::now() - chrono::Duration::days(days_ago)).to_rfc3339();
        match app.backend {
            Backend::Sqlite => format!("'{at}'"),
            Backend::Postgres(_) => format!("'{at}'::timestamptz"),
        }
    };
    let at = time(days_ago);
    app.raw_db("eu")
        .await
        .execute_unprepared(&format!(
            "UPDATE tenant_exports SET expires_at = {}",
            time(days_ago - 7)
        ))
        .await
        .unwrap();
    app.raw_db("control")
        .await
        .execute_unprepared(&format!(
            "UPDATE tenants SET offboarding_due_at = {at} WHERE id = {}",
            steward_tests::stored_uuid(app, t)
        ))
        .await
        .unwrap();
    app.raw_db("eu")
        .await
        .execute_unprepared(&format!(
            "UPDATE jobs SET run_at = {at} WHERE kind = 'offboarding.finish'"
        ))
        .await
        .unwrap();
}

/// An export emptied and built again keeps the download window it had (a week from when it was first ready), or a week
/// after the grace period if that ends later: a restriction the departing tenant has started (or lifted, or a
/// rectification or an erasure it asked for) rebuilds the export, and a window restarted with each rebuild would let
/// it put off its own deletion for ever. Rebuilt ten days after the grace period ended, its window closed three days
/// ago, the export is not announced as ready, and the deletion goes ahead at once.
async fn rebuilds_do_not_put_the_deletion_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Stalling Co", "eu").await;
    let admin = app.invite(&t, "stalling-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("stalling-po", "PRIVACY_OFFICER").await;
    let s = crate::personal::subject(
        &app,
        &admin,
        "stall-1",
        "stalling@example.org",
        "Stan Stall",
    )
    .await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    app.gql(&admin, AUTHORIZE, json!({})).await.ok();
    app.run_jobs().await;
    let first = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(first.ok()["tenantExport"]["ready"], true);
    let window = |reply: &steward_tests::Reply| {
        chrono::DateTime::parse_from_rfc3339(
            reply.ok()["tenantExport"]["expiresAt"].as_str().unwrap(),
        )
        .unwrap()
        .with_timezone(&chrono::Utc)
    };
    assert!(window(&first) >= chrono::Utc::now() + chrono::Duration::days(6));

    grace_ended(&app, &t, 10).await;
    crate::requests::started(&app, (&admin, &po), &t, &s, "RESTRICTION").await;
    assert_eq!(
        app.count("eu", "tenant_exports", "ready = false").await,
        1,
        "the restriction empties the export"
    );
    // Built again, then the offboarding's job looks at it (within the hour it waits at most).
    app.run_jobs().await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(70);
    for _ in 0..2 {
        app.run_jobs_at(later).await;
    }
    assert_eq!(
        app.count(
            "eu",
            "data_subjects",
            &format!("tenant_id = {}", steward_tests::stored_uuid(&app, &t))
        )
        .await,
        0,
        "the rebuilt export's window opened again, past a week after the grace period"
    );
    assert_eq!(
        app.count("eu", "notices", "kind = 'tenant.export_ready'")
            .await,
        1,
        "the rebuilt export was announced as ready with its window closed"
    );
}

both_backends!(rebuilds_do_not_put_the_deletion_off);

/// Tenant `t`'s export build has not caught up: its job waits a year (a large tenant's build emptied again and again
/// by the changes the tenant keeps making).
async fn build_held_back(app: &TestApp) {
    use sea_orm::ConnectionTrait;
    let later = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    let at = match app.backend {
        Backend::Sqlite => format!("'{later}'"),
        Backend::Postgres(_) => format!("'{later}'::timestamptz"),
    };
    app.raw_db("eu")
        .await
        .execute_unprepared(&format!(
            "UPDATE jobs SET run_at = {at} WHERE kind = 'offboarding.export'"
        ))
        .await
        .unwrap();
}

/// A tenant departing with `RETURN_THEN_DELETE` whose export was complete once, and whose download window for it has
/// closed, is deleted even while its export is being built again: otherwise a tenant that kept changing what the
/// export holds (a restriction, a rectification, an erasure, each of which empties it) faster than it is rebuilt would
/// never be deleted. An export never complete still holds the deletion: the client chose to get its data back first.
async fn an_export_kept_rebuilding_does_not_hold_the_deletion(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let tenant_subjects = |t: &str| format!("tenant_id = {}", steward_tests::stored_uuid(&app, t));
    let later = chrono::Utc::now() + chrono::Duration::minutes(70);

    // Never complete: held, past the grace period and past the window it was created with.
    let never = app.create_tenant("Never Ready Co", "eu").await;
    let never_admin = app.invite(&never, "never-admin", "CLIENT_ADMIN").await;
    crate::personal::subject(&app, &never_admin, "n-1", "never@example.org", "Nev Er").await;
    app.gql(
        &root,
        BEGIN,
        json!({ "t": never, "c": "RETURN_THEN_DELETE" }),
    )
    .await
    .ok();
    app.gql(&never_admin, AUTHORIZE, json!({})).await.ok();
    build_held_back(&app).await;
    grace_ended(&app, &never, 10).await;
    for _ in 0..2 {
        app.run_jobs_at(later).await;
    }
    assert_eq!(
        app.count("eu", "data_subjects", &tenant_subjects(&never))
            .await,
        1,
        "deleted before its export was ever complete"
    );

    // Complete once, then emptied by a restriction after the window closed, its rebuild not caught up: deleted.
    let t = app.create_tenant("Restless Co", "eu").await;
    let admin = app.invite(&t, "restless-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("restless-po", "PRIVACY_OFFICER").await;
    let s =
        crate::personal::subject(&app, &admin, "r-1", "restless@example.org", "Rest Less").await;
    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    app.gql(&admin, AUTHORIZE, json!({})).await.ok();
    app.run_jobs().await;
    assert_eq!(
        app.gql(&admin, EXPORT, json!({})).await.ok()["tenantExport"]["ready"],
        true
    );
    grace_ended(&app, &t, 10).await;
    crate::requests::started(&app, (&admin, &po), &t, &s, "RESTRICTION").await;
    build_held_back(&app).await;
    for _ in 0..2 {
        app.run_jobs_at(later).await;
    }
    assert_eq!(
        app.count("eu", "data_subjects", &tenant_subjects(&t)).await,
        0,
        "an export being built again held the deletion past its closed window"
    );
    // The tenant that never had its export is still waiting. Once the builds catch up, the deleted tenant's starts no
    // export again, and the other's is complete, with a whole week to download it.
    assert_eq!(
        app.count("eu", "data_subjects", &tenant_subjects(&never))
            .await,
        1
    );
    app.raw_db("eu")
        .await
        .execute_unprepared(&format!(
            "UPDATE jobs SET run_at = {} WHERE kind = 'offboarding.export'",
            match app.backend {
                Backend::Sqlite => format!("'{}'", chrono::Utc::now().to_rfc3339()),
                Backend::Postgres(_) => "now()".into(),
            }
        ))
        .await
        .unwrap();
    for _ in 0..2 {
        app.run_jobs_at(later).await;
    }
    assert_eq!(
        app.count("eu", "tenant_exports", &tenant_subjects(&t))
            .await,
        0,
        "a build after the deletion began made a new export"
    );
    let export = app.gql(&never_admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    let window = chrono::DateTime::parse_from_rfc3339(
        export.ok()["tenantExport"]["expiresAt"].as_str().unwrap(),
    )
    .unwrap();
    assert!(
        window > chrono::Utc::now() + chrono::Duration::days(6),
        "{window}"
    );
    assert_eq!(
        app.count("eu", "data_subjects", &tenant_subjects(&never))
            .await,
        1
    );
}

both_backends!(an_export_kept_rebuilding_does_not_hold_the_deletion);

/// A subject whose key is gone for good — an erasure deleted it and failed, and its request was rejected before the
/// retry, as an older release allowed — does not hold the export (and the tenant's deletion behind it) for ever. With
/// no erasure request of the subject open, the build lists it as an `unreadable_subject` line (its id, when it was
/// created and how many values it holds), and the privacy officers get one staff notice about it. Staged with a
/// trigger that fails the erasure after its key's deletion, and the rejection written in the database.
async fn a_subject_whose_key_is_gone_for_good_does_not_hold_the_export(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let t = app.create_tenant("Stranded Co", "eu").await;
    let admin = app.invite(&t, "stranded-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("stranded-po", "PRIVACY_OFFICER").await;
    let stranded = crate::personal::subject(
        &app,
        &admin,
        "stranded-1",
        "stranded@example.org",
        "Stella Stranded",
    )
    .await;
    crate::personal::subject(
        &app,
        &admin,
        "stranded-2",
        "kept@stranded.example",
        "Kit Kept",
    )
    .await;
    let erasure = crate::requests::started(&app, (&admin, &po), &t, &stranded, "ERASURE").await;
    let region = app.raw_db("eu").await;
    fail_erasures_after_their_keys(&region).await;
    app.run_jobs().await;
    let_erasures_succeed(&region).await;
    region
        .execute_unprepared(&format!(
            "UPDATE dsr_requests SET state = 'rejected' WHERE id = {}",
            steward_tests::stored_uuid(&app, &erasure)
        ))
        .await
        .unwrap();

    app.gql(&root, BEGIN, json!({ "t": t, "c": "RETURN_THEN_DELETE" }))
        .await
        .ok();
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    for _ in 0..3 {
        app.run_jobs_at(later).await;
    }
    let export = app.gql(&admin, EXPORT, json!({})).await;
    assert_eq!(export.ok()["tenantExport"]["ready"], true);
    assert_eq!(export.ok()["tenantExport"]["subjects"], 2);
    let lines = download(&app, &admin).await;
    let unreadable: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "unreadable_subject")
        .collect();
    assert_eq!(unreadable.len(), 1, "{lines:?}");
    assert_eq!(unreadable[0]["id"], stranded);
    assert_eq!(unreadable[0]["values"], 2);
    assert!(
        lines
            .iter()
            .any(|l| l.to_string().contains("kept@stranded.example"))
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.to_string().contains("stranded@example.org"))
    );
    assert_eq!(
        app.count("control", "staff_notices", "kind = 'subject.key_stranded'")
            .await,
        1
    );
}

both_backends!(a_subject_whose_key_is_gone_for_good_does_not_hold_the_export);

//! Backups that keep erasures: a region's databases copied, a subject erased and a value deleted by retention, the
//! copy put back (the person is back), then `steward restore`: the person is gone again and their values unreadable,
//! the retention deletion too, and the tenant's audit chain says so.

use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use steward_tests::{Backend, MASTER_KEY, TestApp, both_backends};

use crate::personal::subject;
use crate::requests::{start, step, submit};

/// Copies region `eu` aside (SQLite: its file; PostgreSQL: a database made from it as a template); with `restore`,
/// puts the copy back the same way. Run while the server is down ([`TestApp::restart_with`]).
async fn region_copy(backend: Backend, url: String, restore: bool) {
    match backend {
        Backend::Sqlite => {
            let file = url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            let copy = format!("{file}.backup");
            let (from, to) = if restore {
                (&copy, &file)
            } else {
                (&file, &copy)
            };
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{to}{suffix}"));
            }
            std::fs::copy(from, to).unwrap();
        }
        Backend::Postgres(admin) => {
            let name = url
                .rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            let copy = format!("{name}_backup");
            let db = Database::connect(admin.as_str()).await.unwrap();
            let (from, to) = if restore {
                (&copy, &name)
            } else {
                (&name, &copy)
            };
            for sql in [
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{from}' AND pid <> pg_backend_pid()"
                ),
                format!("DROP DATABASE IF EXISTS \"{to}\" WITH (FORCE)"),
                format!("CREATE DATABASE \"{to}\" TEMPLATE \"{from}\""),
            ] {
                db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
                    .await
                    .unwrap();
            }
            if restore {
                db.execute_unprepared(&format!("DROP DATABASE \"{copy}\" WITH (FORCE)"))
                    .await
                    .unwrap();
            }
        }
    }
}

const GET: &str =
    "query($id: ID!) { dataSubject(id: $id) { externalId personalData { category value } } }";

/// `steward restore` as an operator runs it, on the app's databases.
fn restore_command(app: &TestApp, dir: &std::path::Path) -> String {
    crate::processes::operator_command(
        app,
        dir,
        &["restore", "--region", "eu"],
        ("STEWARD_MASTER_KEY", MASTER_KEY),
    )
}

/// The wrapped key and sealed values of a subject, as stored.
async fn stored_secrets(app: &TestApp, subject: &str) -> Vec<Vec<u8>> {
    let db = app.raw_db("eu").await;
    let id = steward_tests::stored_uuid(app, subject);
    let mut out = Vec::new();
    for sql in [
        format!("SELECT wrapped_key AS b FROM data_subjects WHERE id = {id}"),
        format!("SELECT sealed_value AS b FROM personal_data WHERE subject_id = {id}"),
    ] {
        for row in db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
        {
            out.push(row.try_get::<Vec<u8>>("", "b").unwrap());
        }
    }
    out
}

async fn a_restored_backup_keeps_erasures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Backed Up Co", "eu").await;
    let admin = app.invite(&t, "bk-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("bk-po", "PRIVACY_OFFICER").await;
    let gone = subject(
        &app,
        &admin,
        "bk-gone",
        "gone.4421@example.com",
        "Gone Person",
    )
    .await;
    let kept = subject(
        &app,
        &admin,
        "bk-kept",
        "kept.4421@example.com",
        "Kept Person",
    )
    .await;
    // An IP address collected 200 days ago for analytics, which a 90-day rule deletes.
    app.gql(
        &admin,
        "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }",
        json!({ "i": { "subjectId": kept, "category": "user.device.ip_address", "value": "203.0.113.77",
            "purpose": "analytics", "source": "app", "collectedAt": (Utc::now() - Duration::days(200)).to_rfc3339() } }),
    )
    .await
    .ok();
    let secrets = stored_secrets(&app, &gone).await;
    assert_eq!(secrets.len(), 3, "a wrapped key and two sealed values");

    // The backup, taken while the server is down.
    let (backend, url) = (app.backend.clone(), app.db_url("eu"));
    let app = app
        .restart_with(region_copy(backend.clone(), url.clone(), false))
        .await;

    // After it: the subject erased on request, the old IP address deleted by retention.
    let (id, v) = submit(&app, &admin, &gone, "ERASURE").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    assert!(app.run_jobs().await >= 1);
    app.gql(&admin, GET, json!({ "id": gone }))
        .await
        .expect_code("NOT_FOUND");
    app.gql(
        &admin,
        "mutation($i: RetentionRuleInput!) { setRetentionRule(input: $i) { id } }",
        json!({ "i": { "category": "user.device.ip_address", "purpose": "analytics", "periodDays": 90 } }),
    )
    .await
    .ok();
    assert_eq!(
        steward::retention::sweep(app.state.tenancy(), Utc::now())
            .await
            .unwrap(),
        1
    );
    let values_of = |reply: &Value| {
        reply["dataSubject"]["personalData"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        values_of(app.gql(&admin, GET, json!({ "id": kept })).await.ok()),
        2
    );

    // The backup is put back: as any restore would, it brings the person back, readable, and the old address.
    let app = app.restart_with(region_copy(backend, url, true)).await;
    let back = app.gql(&admin, GET, json!({ "id": gone })).await;
    assert!(back.ok().to_string().contains("gone.4421@example.com"));
    assert_eq!(
        values_of(app.gql(&admin, GET, json!({ "id": kept })).await.ok()),
        3
    );

    // `steward restore`: the journal's erasures again. The person is gone, their key and values are in no byte of
    // the database; the retention deletion holds again; the other subject is untouched.
    // Beside them, journal entries naming 40,000 more ids (long gone, as a departed tenant's would be): more than one
    // statement may bind, so the restore works through them in chunks.
    {
        use sea_orm::ActiveModelTrait;
        let control = app.raw_db("control").await;
        for _ in 0..2 {
            let ids: Vec<String> = (0..20_000)
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect();
            steward_entities::erasure_journal::ActiveModel {
                id: sea_orm::Set(uuid::Uuid::now_v7()),
                tenant_id: sea_orm::Set(uuid::Uuid::parse_str(&t).unwrap()),
                region: sea_orm::Set("eu".into()),
                kind: sea_orm::Set("subjects".into()),
                ids: sea_orm::Set(ids.join(",")),
                request_id: sea_orm::Set(None),
                recorded_at: sea_orm::Set(Utc::now()),
            }
            .insert(&control)
            .await
            .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let said = restore_command(&app, dir.path());
    assert!(
        said.contains("erased again: 1 subjects and 1 values, in 1 tenants"),
        "{said}"
    );
    app.gql(&admin, GET, json!({ "id": gone }))
        .await
        .expect_code("NOT_FOUND");
    for secret in &secrets {
        assert!(
            !app.database_contains_bytes("eu", secret).await,
            "a secret of the erased subject is still stored"
        );
    }
    let kept_now = app.gql(&admin, GET, json!({ "id": kept })).await;
    assert_eq!(values_of(kept_now.ok()), 2);
    assert!(!kept_now.body.to_string().contains("203.0.113.77"));
    // On the tenant's chain, which still verifies.
    let tid = steward_tests::stored_uuid(&app, &t);
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!("tenant_id = {tid} AND action = 'erasure.reapplied'")
        )
        .await,
        1
    );
    let auditor = app.staff_with("bk-auditor", "AUDITOR").await;
    let verified = app
        .gql(
            &auditor,
            "query($t: ID) { verifyAuditChain(tenantId: $t) { valid } }",
            json!({ "t": t }),
        )
        .await;
    assert_eq!(verified.ok()["verifyAuditChain"]["valid"], true);
    // A second run finds nothing left.
    let again = restore_command(&app, dir.path());
    assert!(
        again.contains("erased again: 0 subjects and 0 values"),
        "{again}"
    );
}

both_backends!(a_restored_backup_keeps_erasures);

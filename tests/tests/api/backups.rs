//! Backups that keep erasures: a region's databases copied (its database and its subject-key database), a subject
//! erased and a value deleted by retention, then the copies put back. The region's copy alone brings the person's row
//! and values back, but nothing opens them: their key is gone with the erasure. Both copies bring the person back
//! readable, as any restore of everything would; `steward restore` then erases them again, key included, and the
//! retention deletion too, and the tenant's audit chain says so.

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

/// The wrapped key (in the subject-key database) and sealed values (in the region's) of a subject, as stored.
async fn stored_secrets(app: &TestApp, subject: &str) -> Vec<(&'static str, Vec<u8>)> {
    let id = steward_tests::stored_uuid(app, subject);
    let mut out = Vec::new();
    for (which, sql) in [
        (
            "keys-eu",
            format!("SELECT wrapped_key AS b FROM subject_keys WHERE subject_id = {id}"),
        ),
        (
            "eu",
            format!("SELECT sealed_value AS b FROM personal_data WHERE subject_id = {id}"),
        ),
    ] {
        let db = app.raw_db(which).await;
        for row in db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
        {
            out.push((which, row.try_get::<Vec<u8>>("", "b").unwrap()));
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
    // The region's database holds no key of its own.
    let id = steward_tests::stored_uuid(&app, &gone);
    assert_eq!(
        app.count(
            "eu",
            "data_subjects",
            &format!("id = {id} AND wrapped_key = {}", empty_bytes(&app))
        )
        .await,
        1
    );

    // The backups of both, taken while the server is down.
    let backend = app.backend.clone();
    let (url, keys_url) = (app.db_url("eu"), app.db_url("keys-eu"));
    let app = app
        .restart_with(async {
            region_copy(backend.clone(), url.clone(), false).await;
            region_copy(backend.clone(), keys_url.clone(), false).await;
        })
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

    // The region's backup alone is put back: the person's row and sealed values are back, but their key is not, so
    // nothing reads them; the old address is back (retention deleted a value, not a key).
    let app = app
        .restart_with(region_copy(backend.clone(), url.clone(), true))
        .await;
    let unreadable = app.gql(&admin, GET, json!({ "id": gone })).await;
    assert!(
        !unreadable.body.to_string().contains("gone.4421"),
        "{}",
        unreadable.body
    );
    assert_eq!(
        unreadable.body["data"]["dataSubject"]["externalId"],
        Value::Null
    );
    assert!(
        unreadable.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("was erased"),
        "{}",
        unreadable.body
    );
    assert_eq!(
        values_of(app.gql(&admin, GET, json!({ "id": kept })).await.ok()),
        3
    );
    // A start tells: the journal's older entries name a subject the region holds (entries of the last ten minutes
    // are not counted, an erasure in flight is journalled before its transaction).
    let held = || steward::erasure::journal::held_again(app.state.tenancy());
    assert_eq!(held().await.unwrap(), vec![]);
    {
        use sea_orm::{EntityTrait, sea_query::Expr};
        steward_entities::erasure_journal::Entity::update_many()
            .col_expr(
                steward_entities::erasure_journal::Column::RecordedAt,
                Expr::value(Utc::now() - Duration::hours(1)),
            )
            .exec(&app.raw_db("control").await)
            .await
            .unwrap();
    }
    assert_eq!(held().await.unwrap(), vec![("eu".to_owned(), 1)]);
    // Both backups put back, as a restore of everything would: the person is back, readable.
    let app = app
        .restart_with(region_copy(backend.clone(), keys_url, true))
        .await;
    let back = app.gql(&admin, GET, json!({ "id": gone })).await;
    assert!(back.ok().to_string().contains("gone.4421@example.com"));

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
        said.contains("erased again: 1 subject, 1 value and 1 subject key, in 1 tenant"),
        "{said}"
    );
    app.gql(&admin, GET, json!({ "id": gone }))
        .await
        .expect_code("NOT_FOUND");
    for (which, secret) in &secrets {
        assert!(
            !app.database_contains_bytes(which, secret).await,
            "a secret of the erased subject is still stored in {which}"
        );
    }
    assert_eq!(
        steward::erasure::journal::held_again(app.state.tenancy())
            .await
            .unwrap(),
        vec![]
    );
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
        again.contains("erased again: 0 subjects, 0 values and 0 subject keys"),
        "{again}"
    );

    // On SQLite the replay's deletions reach the file's old pages only when a checkpoint copies the WAL over them. A
    // reader on an older snapshot (a backup, another process) keeps that from completing, and no background retry
    // outlives the command: `steward restore` fails rather than report success while the erased values are still in
    // the file, and a rerun once the reader is gone completes it. (The region's backup is put back once more.)
    if backend == Backend::Sqlite {
        use sea_orm::TransactionTrait;
        let app = app.restart_with(region_copy(backend, url, true)).await;
        let outside = app.raw_db("eu").await;
        let reader = outside.begin().await.unwrap();
        reader
            .execute_unprepared("SELECT count(*) FROM personal_data")
            .await
            .unwrap();
        let failed = crate::processes::operator_output(
            &app,
            dir.path(),
            &["restore", "--region", "eu"],
            ("STEWARD_MASTER_KEY", MASTER_KEY),
        );
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(!failed.status.success(), "{stderr}");
        assert!(
            stderr.contains("an SQLite WAL still holds the deleted pages"),
            "{stderr}"
        );
        assert!(
            app.database_contains_bytes("eu", &secrets.last().unwrap().1)
                .await,
            "the sealed value was already gone from the file: nothing for the failure to report"
        );
        reader.rollback().await.unwrap();
        let rerun = restore_command(&app, dir.path());
        assert!(rerun.contains("erased again: 0 subjects"), "{rerun}");
        for (which, secret) in &secrets {
            assert!(
                !app.database_contains_bytes(which, secret).await,
                "a secret of the erased subject is still stored in {which}"
            );
        }
    }
}

/// An empty byte string as SQL for the app's database.
fn empty_bytes(app: &TestApp) -> &'static str {
    match app.backend {
        Backend::Sqlite => "X''",
        Backend::Postgres(_) => "''::bytea",
    }
}

both_backends!(a_restored_backup_keeps_erasures);

/// An upgrade from a version that kept subject keys in the region database (`data_subjects.wrapped_key`): the first
/// start moves them to the subject-key database and empties the column. A subject the erasure journal names — its row
/// back from a region backup older than the upgrade — has its key emptied, not moved: the person stays unreadable.
async fn keys_kept_in_the_region_move_out_at_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Upgraded Co", "eu").await;
    let admin = app.invite(&t, "up-admin", "CLIENT_ADMIN").await;
    let kept = subject(
        &app,
        &admin,
        "up-kept",
        "kept.6610@example.com",
        "Kept Person",
    )
    .await;
    let erased = subject(
        &app,
        &admin,
        "up-gone",
        "gone.6610@example.com",
        "Gone Person",
    )
    .await;
    // As the older version left them: the keys in the region's rows, none in a key database.
    app.keys_back_in_region("eu").await;
    assert_eq!(app.count("keys-eu", "subject_keys", "1 = 1").await, 0);
    let control = app.db_url("control");
    let (tenant, erased_id) = (
        uuid::Uuid::parse_str(&t).unwrap(),
        uuid::Uuid::parse_str(&erased).unwrap(),
    );
    let app = app
        .restart_with(async {
            // The journal names one of them: erased after the backup this region came back from.
            use sea_orm::ActiveModelTrait;
            steward_entities::erasure_journal::ActiveModel {
                id: sea_orm::Set(uuid::Uuid::now_v7()),
                tenant_id: sea_orm::Set(tenant),
                region: sea_orm::Set("eu".into()),
                kind: sea_orm::Set("subjects".into()),
                ids: sea_orm::Set(erased_id.to_string()),
                request_id: sea_orm::Set(None),
                recorded_at: sea_orm::Set(Utc::now()),
            }
            .insert(&Database::connect(&control).await.unwrap())
            .await
            .unwrap();
        })
        .await;
    let read = app.gql(&admin, GET, json!({ "id": kept })).await;
    assert!(read.ok().to_string().contains("kept.6610@example.com"));
    let unreadable = app.gql(&admin, GET, json!({ "id": erased })).await;
    assert_eq!(
        unreadable.body["data"]["dataSubject"]["externalId"],
        Value::Null
    );
    assert!(!unreadable.body.to_string().contains("gone.6610"));
    assert_eq!(app.count("keys-eu", "subject_keys", "1 = 1").await, 1);
    assert_eq!(
        app.count(
            "eu",
            "data_subjects",
            &format!("wrapped_key <> {}", empty_bytes(&app))
        )
        .await,
        0,
        "the region holds no key any more"
    );
    // A restart finds nothing left to move, and `steward restore` erases the row nothing opens.
    let app = app.restart().await;
    let dir = tempfile::tempdir().unwrap();
    let said = restore_command(&app, dir.path());
    assert!(
        said.contains("erased again: 1 subject, 0 values and 0 subject keys"),
        "{said}"
    );
    app.gql(&admin, GET, json!({ "id": erased }))
        .await
        .expect_code("NOT_FOUND");
    assert!(
        app.gql(&admin, GET, json!({ "id": kept }))
            .await
            .ok()
            .to_string()
            .contains("kept.6610")
    );
}

both_backends!(keys_kept_in_the_region_move_out_at_start);

/// An erasure whose transaction fails after the key was deleted (here a tombstone the database refuses): the subject's
/// row and values are still there but nothing opens them, and the job's retry finishes the erasure.
async fn an_erasure_that_fails_to_commit_leaves_nothing_readable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Failing Co", "eu").await;
    let admin = app.invite(&t, "fail-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("fail-po", "PRIVACY_OFFICER").await;
    let s = subject(
        &app,
        &admin,
        "fail-s",
        "fail.3130@example.com",
        "Fail Person",
    )
    .await;
    let db = app.raw_db("eu").await;
    let (make, drop) = match app.backend {
        Backend::Sqlite => (
            vec![
                "CREATE TRIGGER refuse_tombstones BEFORE INSERT ON erasure_tombstones \
                  BEGIN SELECT RAISE(ABORT, 'disk full'); END",
            ],
            "DROP TRIGGER refuse_tombstones",
        ),
        Backend::Postgres(_) => (
            vec![
                "CREATE FUNCTION refuse_tombstone() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
                "CREATE TRIGGER refuse_tombstones BEFORE INSERT ON erasure_tombstones \
                 FOR EACH ROW EXECUTE FUNCTION refuse_tombstone()",
            ],
            "DROP TRIGGER refuse_tombstones ON erasure_tombstones",
        ),
    };
    for sql in make {
        db.execute_unprepared(sql).await.unwrap();
    }
    let (id, v) = submit(&app, &admin, &s, "ERASURE").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    app.run_jobs().await;
    let sid = steward_tests::stored_uuid(&app, &s);
    assert_eq!(
        app.count("eu", "data_subjects", &format!("id = {sid}"))
            .await,
        1,
        "the erasure's transaction was rolled back"
    );
    assert_eq!(
        app.count("keys-eu", "subject_keys", &format!("subject_id = {sid}"))
            .await,
        0
    );
    let unreadable = app.gql(&admin, GET, json!({ "id": s })).await;
    assert!(
        !unreadable.body.to_string().contains("fail.3130"),
        "{}",
        unreadable.body
    );
    assert_eq!(
        unreadable.body["data"]["dataSubject"]["externalId"],
        Value::Null
    );
    db.execute_unprepared(drop).await.unwrap();
    app.run_jobs_at(Utc::now() + Duration::hours(1)).await;
    app.gql(&admin, GET, json!({ "id": s }))
        .await
        .expect_code("NOT_FOUND");
    assert_eq!(
        app.count("eu", "erasure_tombstones", &format!("subject_id = {sid}"))
            .await,
        1
    );
}

both_backends!(an_erasure_that_fails_to_commit_leaves_nothing_readable);

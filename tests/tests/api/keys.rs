//! Master keys that rotate: a deployment on one master key (version 1) with a tenant whose keys are still derived
//! (created before keys were stored) and one with stored random keys; a new master key added as version 2; `steward
//! keys rotate` run while the server serves, stopped after one tenant and resumed; then version 1 withdrawn. Every
//! value still reads, every lookup still finds, the certificate key is the same — and a configuration without the
//! version the keys are sealed under, or with a wrong key for it, refuses to start.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use steward::crypto::MasterKeys;
use steward_tests::{Backend, MASTER_KEY, TestApp, both_backends};

use crate::personal::subject;

const NEW_KEY: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";

const READ: &str = "query($e: String) { dataSubjects(email: $e) { totalCount edges { node { externalId personalData { category value } } } } }";

/// What `token`'s tenant finds by `email`: the subject's external id and values.
async fn find_by_email(app: &TestApp, token: &str, email: &str) -> Value {
    let reply = app.gql(token, READ, json!({ "e": email })).await;
    let found = &reply.ok()["dataSubjects"];
    assert_eq!(found["totalCount"], 1, "{email}: {found}");
    found["edges"][0]["node"].clone()
}

/// `steward keys rotate` as an operator runs it, beside the running server.
fn rotate(app: &TestApp, dir: &std::path::Path, keys: &str, limit: Option<u64>) -> String {
    let limit = limit.map(|l| l.to_string());
    let mut args = vec!["keys", "rotate"];
    if let Some(limit) = &limit {
        args.extend(["--limit", limit]);
    }
    crate::processes::operator_command(app, dir, &args, ("STEWARD_MASTER_KEYS", keys))
}

/// The master key version each tenant's keys are sealed under (`None`: derived).
async fn versions(app: &TestApp) -> Vec<Option<i64>> {
    let db = app.raw_db("control").await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT keys_version AS v FROM tenants ORDER BY name",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<Option<i32>>("", "v").unwrap().map(i64::from))
        .collect()
}

async fn root_version(app: &TestApp) -> i64 {
    let db = app.raw_db("control").await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version AS v FROM key_root WHERE id = 1",
        ))
        .await
        .unwrap()
        .expect("the key root is stored at first start");
    i64::from(row.try_get::<i32>("", "v").unwrap())
}

async fn sealed_keys(app: &TestApp, tenant: &str) -> Vec<u8> {
    let db = app.raw_db("control").await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT keys_sealed AS k FROM tenants WHERE id = {}",
                steward_tests::stored_uuid(app, tenant)
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<Vec<u8>>("", "k").unwrap()
}

async fn set_sealed_keys(app: &TestApp, tenant: &str, sealed: &[u8], version: i32) {
    let db = app.raw_db("control").await;
    let literal = match app.backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(sealed)),
        Backend::Postgres(_) => format!("'\\x{}'::bytea", hex::encode(sealed)),
    };
    db.execute_unprepared(&format!(
        "UPDATE tenants SET keys_sealed = {literal}, keys_version = {version} WHERE id = {}",
        steward_tests::stored_uuid(app, tenant)
    ))
    .await
    .unwrap();
}

async fn restart_with_keys(mut app: TestApp, keys: &str) -> TestApp {
    app.config.master_keys = Some(MasterKeys::parse(keys).unwrap());
    app.restart().await
}

async fn master_keys_rotate_while_serving(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(root_version(&app).await, 1);

    // "A Legacy Co": created before keys were stored — its keys are derived from the root (its row holds none).
    let legacy = app.create_tenant("A Legacy Co", "eu").await;
    let db = app.raw_db("control").await;
    db.execute_unprepared(&format!(
        "UPDATE tenants SET keys_sealed = NULL, keys_version = NULL WHERE id = {}",
        steward_tests::stored_uuid(&app, &legacy)
    ))
    .await
    .unwrap();
    let app = app.restart().await;
    let legacy_admin = app
        .invite(&legacy, "legacy-keys-admin", "CLIENT_ADMIN")
        .await;
    subject(
        &app,
        &legacy_admin,
        "lg-1",
        "lena.legacy@example.com",
        "Lena Legacy",
    )
    .await;
    // The first start of a version that stores the key root, with a mistyped version 1 (the root row gone, as before
    // the upgrade): refused, since that key would be stored as the root for good; nothing is stored. The right key
    // stores it again.
    db.execute_unprepared("DELETE FROM key_root").await.unwrap();
    db.execute_unprepared("DELETE FROM master_key_checks")
        .await
        .unwrap();
    let mut mistyped = app.config.clone();
    mistyped.master_keys =
        Some(MasterKeys::parse(&format!("2:{NEW_KEY},1:{}", "22".repeat(32))).unwrap());
    let refused = steward::Application::build(&mistyped)
        .await
        .err()
        .expect("a mistyped version 1")
        .to_string();
    assert!(
        refused.contains("does not open this deployment's data"),
        "{refused}"
    );
    assert_eq!(app.count("control", "key_root", "1=1").await, 0);
    assert_eq!(app.count("control", "master_key_checks", "1=1").await, 0);
    let app = app.restart().await;
    assert_eq!(root_version(&app).await, 1);
    // "B Fresh Co": random keys of its own, sealed under version 1.
    let fresh = app.create_tenant("B Fresh Co", "eu").await;
    let fresh_admin = app.invite(&fresh, "fresh-keys-admin", "CLIENT_ADMIN").await;
    subject(
        &app,
        &fresh_admin,
        "fr-1",
        "fred.fresh@example.com",
        "Fred Fresh",
    )
    .await;
    assert_eq!(versions(&app).await, vec![None, Some(1)]);
    let signing_key =
        app.get("/.well-known/steward-signing-key.json").await.body["public_key"].clone();

    // Version 2 added: everything still reads; a tenant created now is sealed under version 2.
    let both = format!("2:{NEW_KEY},1:{MASTER_KEY}");
    let app = restart_with_keys(app, &both).await;
    // Another instance given a different key as "version 2" is refused: it would seal with a key the others lack.
    let mut other = app.config.clone();
    other.master_keys =
        Some(MasterKeys::parse(&format!("2:{},1:{MASTER_KEY}", "33".repeat(32))).unwrap());
    let refused = steward::Application::build(&other)
        .await
        .err()
        .expect("another key as version 2")
        .to_string();
    assert!(
        refused
            .contains("master key version 2 is not the key this deployment has used as version 2"),
        "{refused}"
    );
    assert!(!refused.contains(&"33".repeat(32)) && !refused.contains(NEW_KEY));
    let newer = app.create_tenant("C Newer Co", "us").await;
    let newer_admin = app.invite(&newer, "newer-keys-admin", "CLIENT_ADMIN").await;
    subject(
        &app,
        &newer_admin,
        "nw-1",
        "nina.newer@example.com",
        "Nina Newer",
    )
    .await;
    assert_eq!(versions(&app).await, vec![None, Some(1), Some(2)]);
    assert_eq!(root_version(&app).await, 1);

    let fresh_v1 = sealed_keys(&app, &fresh).await;
    // Withdrawing version 1 now (the root and a tenant are still sealed under it) refuses to start, naming it.
    let mut early = app.config.clone();
    early.master_keys = Some(MasterKeys::parse(&format!("2:{NEW_KEY}")).unwrap());
    let refused = steward::Application::build(&early)
        .await
        .err()
        .expect("version 1 still needed")
        .to_string();
    assert!(
        refused.contains("version 1, which is not configured"),
        "{refused}"
    );

    // Rotated while the server serves: one tenant, then the rest on a second run, which finds where the first stopped.
    let first = rotate(&app, dir.path(), &both, Some(1));
    assert!(
        first.contains("key root re-sealed, 1 tenants' keys re-sealed; 1 left"),
        "{first}"
    );
    assert!(first.contains("run `steward keys rotate` again"), "{first}");
    assert_eq!(versions(&app).await, vec![Some(2), Some(1), Some(2)]);
    let legacy_read = find_by_email(&app, &legacy_admin, "lena.legacy@example.com").await;
    assert_eq!(
        legacy_read["externalId"], "lg-1",
        "served during the rotation"
    );
    let second = rotate(&app, dir.path(), &both, None);
    assert!(
        second.contains("key root already current, 1 tenants' keys re-sealed; 0 left"),
        "{second}"
    );
    assert!(
        second.contains("versions [1] any more: they can leave STEWARD_MASTER_KEYS"),
        "{second}"
    );
    assert_eq!(versions(&app).await, vec![Some(2); 3]);
    assert_eq!(root_version(&app).await, 2);
    let third = rotate(&app, dir.path(), &both, None);
    assert!(
        third.contains(
            "nothing to re-seal: the key root and every tenant's keys are sealed under master key version 2"
        ),
        "{third}"
    );
    // Each run that changed something is on the platform chain; the one that did not, is not.
    assert_eq!(
        app.count(
            "control",
            "platform_audit_events",
            "action = 'keys.rotated'"
        )
        .await,
        2
    );

    // Version 1 withdrawn. A configuration without version 2, or with another key as version 2, does not start.
    let mut config = app.config.clone();
    config.master_keys = Some(MasterKeys::parse(&format!("1:{MASTER_KEY}")).unwrap());
    let refused = steward::Application::build(&config)
        .await
        .err()
        .expect("no version 2")
        .to_string();
    assert!(
        refused.contains("version 2, which is not configured"),
        "{refused}"
    );
    config.master_keys = Some(MasterKeys::parse(&format!("2:{}", "11".repeat(32))).unwrap());
    let refused = steward::Application::build(&config)
        .await
        .err()
        .expect("a wrong version 2")
        .to_string();
    assert!(
        refused.contains("does not open with master key version 2"),
        "{refused}"
    );
    assert!(!refused.contains(NEW_KEY) && !refused.contains(&"11".repeat(32)));

    // A tenant left under version 1 (created by an instance still on the old configuration): a start without version
    // 1 refuses, naming it, rather than failing every request of that tenant.
    let fresh_v2 = sealed_keys(&app, &fresh).await;
    set_sealed_keys(&app, &fresh, &fresh_v1, 1).await;
    let mut config = app.config.clone();
    config.master_keys = Some(MasterKeys::parse(&format!("2:{NEW_KEY}")).unwrap());
    let refused = steward::Application::build(&config)
        .await
        .err()
        .expect("a tenant under version 1")
        .to_string();
    assert!(
        refused.contains("1 tenants' keys are sealed under master key version 1"),
        "{refused}"
    );
    set_sealed_keys(&app, &fresh, &fresh_v2, 2).await;

    // The key root row lost after the rotation: a start refuses to make a new one (it would replace every key derived
    // from it), even given a version 1; the row put back, it starts.
    let root_row = {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT sealed AS s FROM key_root WHERE id = 1",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<Vec<u8>>("", "s").unwrap()
    };
    db.execute_unprepared("DELETE FROM key_root").await.unwrap();
    let mut lost = app.config.clone();
    lost.master_keys =
        Some(MasterKeys::parse(&format!("2:{NEW_KEY},1:{}", "44".repeat(32))).unwrap());
    let refused = steward::Application::build(&lost)
        .await
        .err()
        .expect("a lost root")
        .to_string();
    assert!(refused.contains("the key root is missing"), "{refused}");
    assert_eq!(app.count("control", "key_root", "1=1").await, 0);
    let literal = match app.backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(&root_row)),
        Backend::Postgres(_) => format!("'\\x{}'::bytea", hex::encode(&root_row)),
    };
    db.execute_unprepared(&format!(
        "INSERT INTO key_root (id, version, sealed, updated_at) VALUES (1, 2, {literal}, CURRENT_TIMESTAMP)"
    ))
    .await
    .unwrap();

    let app = restart_with_keys(app, &format!("2:{NEW_KEY}")).await;
    for (token, email, external, name) in [
        (
            &legacy_admin,
            "lena.legacy@example.com",
            "lg-1",
            "Lena Legacy",
        ),
        (&fresh_admin, "fred.fresh@example.com", "fr-1", "Fred Fresh"),
        (&newer_admin, "nina.newer@example.com", "nw-1", "Nina Newer"),
    ] {
        // Found by its blind index, its external id and values opened: the same keys, sealed anew.
        let node = find_by_email(&app, token, email).await;
        assert_eq!(node["externalId"], external);
        let values: Vec<&str> = node["personalData"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["value"].as_str().unwrap())
            .collect();
        assert!(values.contains(&email) && values.contains(&name), "{node}");
    }
    // New writes work under version 2 alone, and the certificate key did not change.
    subject(
        &app,
        &fresh_admin,
        "fr-2",
        "frida.fresh@example.com",
        "Frida Fresh",
    )
    .await;
    find_by_email(&app, &fresh_admin, "frida.fresh@example.com").await;
    assert_eq!(
        app.get("/.well-known/steward-signing-key.json").await.body["public_key"],
        signing_key
    );
    // No master key, and no key root, is stored in clear.
    for key in [MASTER_KEY, NEW_KEY] {
        let bytes = hex::decode(key).unwrap();
        assert!(!app.database_contains_bytes("control", &bytes).await);
        assert!(!app.database_contains("control", key).await);
    }
}

both_backends!(master_keys_rotate_while_serving);

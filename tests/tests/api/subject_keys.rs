//! The subject-key database from a page's side: a page's keys are read in one statement (none once this instance has
//! them in memory), keys of subjects that never came to be and another tenant's keys change nothing; a subject whose
//! key is gone reads `null` with its error, and the rest of the page reads on.

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;

const PAGE: &str = "query($f: Int) { dataSubjects(first: $f) { edges { node { id externalId \
                    personalData { category value } } } } }";

async fn a_page_reads_its_keys_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Keyed Co", "eu").await;
    let other = app.create_tenant("Other Keyed Co", "eu").await;
    let admin = app.invite(&t, "keyed-admin", "CLIENT_ADMIN").await;
    let other_admin = app
        .invite(&other, "other-keyed-admin", "CLIENT_ADMIN")
        .await;
    let keys = app.raw_db("keys-eu").await;
    let orphan = |tenant: &str| steward_entities::subject_key::ActiveModel {
        subject_id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(uuid::Uuid::parse_str(tenant).unwrap()),
        wrapped_key: Set(vec![7; 60]),
        created_at: Set(chrono::Utc::now()),
    };
    let first = subject(&app, &admin, "k-1", "k1@example.com", "First Person").await;
    // Between the first and the second subject: two keys of subjects that never came to be, and another tenant's
    // subject (its key sorts here too, in another tenant).
    orphan(&t).insert(&keys).await.unwrap();
    orphan(&t).insert(&keys).await.unwrap();
    subject(&app, &other_admin, "o-1", "o1@example.com", "Other Person").await;
    let second = subject(&app, &admin, "k-2", "k2@example.com", "Second Person").await;
    let third = subject(&app, &admin, "k-3", "k3@example.com", "Third Person").await;

    for first_n in [1, 2, 3, 10] {
        let reply = app.gql(&admin, PAGE, json!({ "f": first_n })).await;
        let edges = reply.ok()["dataSubjects"]["edges"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(edges.len(), first_n.min(3));
        for (edge, (id, ext, name)) in edges.iter().zip([
            (&first, "k-1", "First Person"),
            (&second, "k-2", "Second Person"),
            (&third, "k-3", "Third Person"),
        ]) {
            assert_eq!(edge["node"]["id"], id.as_str());
            assert_eq!(edge["node"]["externalId"], ext);
            assert!(
                edge["node"]["personalData"].to_string().contains(name),
                "{edge}"
            );
        }
    }

    // A page read again costs nothing in the subject-key database: its keys are in this instance's memory.
    let before = app.statements();
    app.gql(&admin, PAGE, json!({ "f": 3 })).await.ok();
    let warm = app.statements() - before;
    let app = app.restart().await;
    // Everything else this instance caches (the tenant, the roles) read first, by a page without values.
    app.gql(
        &admin,
        "{ dataSubjects(first: 3) { edges { node { id } } } }",
        json!({}),
    )
    .await
    .ok();
    let before = app.statements();
    app.gql(&admin, PAGE, json!({ "f": 3 })).await.ok();
    assert_eq!(
        app.statements() - before,
        warm + 1,
        "one statement for the keys, once"
    );

    // The second subject's key is gone (as after an erasure whose region was restored, servers started afresh): its
    // fields are null with their error; the others read.
    let sid = steward_tests::stored_uuid(&app, &second);
    sea_orm::ConnectionTrait::execute_unprepared(
        &keys,
        &format!("DELETE FROM subject_keys WHERE subject_id = {sid}"),
    )
    .await
    .unwrap();
    // As after such an erasure, the journal names the subject (else the start refuses: see below).
    steward_entities::erasure_journal::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(uuid::Uuid::parse_str(&t).unwrap()),
        region: Set("eu".into()),
        kind: Set("subjects".into()),
        ids: Set(second.clone()),
        request_id: Set(None),
        recorded_at: Set(chrono::Utc::now()),
    }
    .insert(&app.raw_db("control").await)
    .await
    .unwrap();
    let app = app.restart().await;
    let reply = app.gql(&admin, PAGE, json!({ "f": 3 })).await;
    let edges = &reply.body["data"]["dataSubjects"]["edges"];
    assert_eq!(edges[0]["node"]["externalId"], "k-1");
    assert_eq!(edges[1]["node"]["externalId"], Value::Null);
    assert_eq!(edges[1]["node"]["personalData"][0]["value"], Value::Null);
    assert_eq!(edges[2]["node"]["externalId"], "k-3");
    let errors = reply.body["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|e| e["extensions"]["code"] == "NOT_FOUND"
            && e["message"].as_str().unwrap().contains("was erased")
            && e["path"][2] == 1),
        "{errors:?}"
    );
    assert!(!reply.body.to_string().contains("Second Person"));
}

both_backends!(a_page_reads_its_keys_once);

/// A subject-key database given as another spelling of its region's URL (`postgresql://` for `postgres://`; a path
/// through `.` on SQLite) passes every check of the text, but the database knows what it is: the start refuses, and
/// nothing of the keys' tables is created in the region's database. Refused before any migration runs.
async fn a_key_database_must_be_a_database_of_its_own(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let dbs = steward_tests::fresh_databases(&backend, dir.path()).await;
    let url_of = |spec: &str, region: &str| {
        spec.split(',')
            .find_map(|pair| pair.strip_prefix(&format!("{region}=")))
            .unwrap()
            .to_owned()
    };
    let eu = url_of(&dbs.regions, "eu");
    let aliased = match backend {
        Backend::Sqlite => eu.replace("/region-eu.db", "/./region-eu.db"),
        Backend::Postgres(_) => eu.replacen("postgres://", "postgresql://", 1),
    };
    assert_ne!(aliased, eu);
    let mut args = steward_tests::default_args(dir.path().to_path_buf());
    args.database_url = Some(dbs.control.clone().into());
    args.regions = Some(dbs.regions.clone().into());
    args.key_databases =
        Some(format!("eu={aliased},us={}", url_of(&dbs.key_databases, "us")).into());
    let config = steward::config::Config::from_args(&args, steward::config::KeySource::Configured)
        .expect("the text of the URLs differs");
    let refused = match steward::Application::build(&config).await {
        Ok(_) => panic!("a key database that is its region's database was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("configured as keys:eu is already Steward's region:eu database"),
        "{refused}"
    );
    let region = sea_orm::Database::connect(&eu).await.unwrap();
    let tables = region
        .query_all_raw(sea_orm::Statement::from_string(
            region.get_database_backend(),
            match backend {
                Backend::Sqlite => "SELECT name AS t FROM sqlite_master WHERE type = 'table'",
                Backend::Postgres(_) => {
                    "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'"
                }
            },
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "t").unwrap())
        .collect::<Vec<_>>();
    // Refused before any migration ran.
    assert!(
        tables.contains(&"steward_database_role".to_owned()),
        "{tables:?}"
    );
    assert!(!tables.contains(&"subject_keys".to_owned()), "{tables:?}");
    assert!(
        !tables.contains(&"steward_keys_migrations".to_owned()),
        "{tables:?}"
    );
}

both_backends!(a_key_database_must_be_a_database_of_its_own);

/// A region whose subject-key database lost its keys (an empty one made in its place, another region's, a backup older
/// than the region's) does not start: serving on would show its people as erased, for good. The journal's erasures
/// are not counted as lost.
async fn a_region_without_its_keys_does_not_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Keyless Co", "eu").await;
    let admin = app.invite(&t, "keyless-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "kl-1", "kl1@example.com", "Keyless One").await;
    subject(&app, &admin, "kl-2", "kl2@example.com", "Keyless Two").await;
    // Its keys all there: a second instance starts.
    assert!(steward::Application::build(&app.config).await.is_ok());
    let keys = app.raw_db("keys-eu").await;
    keys.execute_unprepared("DELETE FROM subject_keys")
        .await
        .unwrap();
    let refused = match steward::Application::build(&app.config).await {
        Ok(_) => panic!("a region whose keys are gone started"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains(
            "region eu: 2 of its newest subjects have no key in its subject-key database"
        ),
        "{refused}"
    );
}

both_backends!(a_region_without_its_keys_does_not_start);

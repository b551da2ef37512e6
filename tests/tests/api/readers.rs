//! SQLite: reads go to a pool of read-only connections beside the one writer (WAL), so a write that waits never
//! holds up a read, and a read sees every write committed before it.

use std::time::Duration;

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use steward_tests::{Backend, TestApp};

use crate::personal::{CREATE, record, subject};

const PAGE: &str =
    "{ dataSubjects(first: 20) { edges { node { externalId personalData { category value } } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_write_holds_up_no_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let t = app.create_tenant("Readers Co", "eu").await;
    let admin = app.invite(&t, "readers-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "before", "before@readers.example", "Before").await;

    // Another process holds the region's write lock: Steward's writer waits on it (busy timeout).
    let outside = app.raw_db("eu").await;
    let held = outside.begin().await.unwrap();
    held.execute_unprepared("DELETE FROM data_subjects WHERE tenant_id = 'nobody'")
        .await
        .unwrap();
    let write = app.gql(
        &admin,
        CREATE,
        json!({ "i": { "externalId": "during", "personalData": [record("user.contact.email", "during@readers.example")] } }),
    );
    tokio::pin!(write);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut write)
            .await
            .is_err(),
        "the write waits for the lock held outside"
    );

    // Meanwhile (the writer connection busy in the waiting write) a page is read, its values opened.
    let page = tokio::time::timeout(Duration::from_secs(4), app.gql(&admin, PAGE, json!({})))
        .await
        .expect("a read does not queue behind the waiting write");
    let edges = page.ok()["dataSubjects"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 1, "{}", page.body);
    assert_eq!(edges[0]["node"]["externalId"], "before");
    assert!(
        edges[0]["node"]["personalData"]
            .to_string()
            .contains("before@readers.example"),
        "{}",
        page.body
    );

    // The lock goes; the write finishes, and the next read sees it.
    held.rollback().await.unwrap();
    let created = write.await;
    assert_eq!(created.ok()["createDataSubject"]["externalId"], "during");
    let page = app.gql(&admin, PAGE, json!({})).await;
    let page = page.ok()["dataSubjects"]["edges"].to_string();
    assert!(page.contains("during@readers.example"), "{page}");
}

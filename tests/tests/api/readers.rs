//! SQLite: reads go to a pool of read-only connections beside the one writer (WAL), so a write that waits never
//! holds up a read, and a read sees every write committed before it.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;
use steward_tests::{Backend, TestApp};

use crate::personal::{CREATE, record, subject};
use crate::requests::{start, step, submit};

const PAGE: &str =
    "{ dataSubjects(first: 20) { edges { node { externalId personalData { category value } } } } }";

/// Rows in the region's subject-key database (each created subject adds one, committed before its region write).
async fn keys_stored(app: &TestApp) -> i64 {
    let keys = app.raw_db("keys-eu").await;
    let row = keys
        .query_one_raw(Statement::from_string(
            keys.get_database_backend(),
            "SELECT count(*) AS n FROM subject_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Another process holds the write lock of `locked` (the region database or its subject-key database): a create waits
/// on it, and meanwhile a page, whose subject keys are not in memory yet, is read and its values opened from both
/// databases' readers.
async fn a_waiting_write_holds_up_no_read(locked: &str) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let t = app.create_tenant("Readers Co", "eu").await;
    let admin = app.invite(&t, "readers-admin", "CLIENT_ADMIN").await;
    subject(&app, &admin, "before", "before@readers.example", "Before").await;
    assert_eq!(keys_stored(&app).await, 1);

    let outside = app.raw_db(locked).await;
    let held = outside.begin().await.unwrap();
    let table = if locked == "eu" {
        "data_subjects"
    } else {
        "subject_keys"
    };
    held.execute_unprepared(&format!("DELETE FROM {table} WHERE tenant_id = 'nobody'"))
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
    if locked == "eu" {
        // The create stored its key (its own commit) and holds the region's writer, waiting for the lock: proven
        // before the read starts.
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while keys_stored(&app).await < 2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the create reached its region write");
    }

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_region_write_holds_up_no_read() {
    a_waiting_write_holds_up_no_read("eu").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_key_write_holds_up_no_read() {
    a_waiting_write_holds_up_no_read("keys-eu").await;
}

/// Whether `needle` is anywhere in SQLite database `which`'s file or its WAL.
fn on_disk(app: &TestApp, which: &str, needle: &[u8]) -> bool {
    let file = app.sqlite_file(which);
    [file.clone(), format!("{file}-wal")].iter().any(|path| {
        std::fs::read(path)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle)
    })
}

/// An erased subject's key leaves the disk: the deleted row is zeroed and the WAL emptied into the file. A reader on an
/// older snapshot (a backup, a long report) keeps the checkpoint from completing while it reads; the erasure still
/// completes, and the key's bytes are gone soon after that reader ends, without another erasure or a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_key_leaves_the_disk_once_a_long_reader_ends() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let t = app.create_tenant("Disk Co", "eu").await;
    let admin = app.invite(&t, "disk-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("disk-po", "PRIVACY_OFFICER").await;
    let erased = subject(&app, &admin, "gone", "gone@disk.example", "Gone").await;
    let kept = subject(&app, &admin, "kept", "kept@disk.example", "Kept").await;
    let keys = app.raw_db("keys-eu").await;
    let key_of = |id: &str| {
        let id = steward_tests::stored_uuid(&app, id);
        let keys = &keys;
        async move {
            let row = keys
                .query_one_raw(Statement::from_string(
                    keys.get_database_backend(),
                    format!("SELECT wrapped_key FROM subject_keys WHERE subject_id = {id}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<Vec<u8>>("", "wrapped_key").unwrap()
        }
    };
    let (gone_key, kept_key) = (key_of(&erased).await, key_of(&kept).await);
    assert!(on_disk(&app, "keys-eu", &gone_key));

    // A reader outside holds a snapshot from before the erasure.
    let reader = keys.begin().await.unwrap();
    reader
        .execute_unprepared("SELECT count(*) FROM subject_keys")
        .await
        .unwrap();
    let (erasure, v) = submit(&app, &admin, &erased, "ERASURE").await;
    step(
        &app,
        &po,
        &start(),
        json!({ "t": t, "id": erasure, "v": v }),
    )
    .await;
    // The erasure's region transaction commits before the key database's checkpoint waits on that reader: the
    // region's writer is free again just after the key's deletion, not held while the checkpoint is tried (~1 s).
    let region = app.raw_db("eu").await;
    let before = keys_stored(&app).await;
    let region_free = async {
        tokio::time::timeout(Duration::from_secs(20), async {
            while keys_stored(&app).await == before {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the erasure deleted the key");
        let deleted = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(20), async {
            while region
                .execute_unprepared("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK")
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the region's writer is free again");
        deleted.elapsed()
    };
    let (ran, held) = tokio::join!(app.run_jobs(), region_free);
    assert!(ran >= 1);
    assert!(
        held < Duration::from_millis(600),
        "the region's writer was held {held:?} after the key was deleted"
    );
    let page = app.gql(&admin, PAGE, json!({})).await;
    assert!(
        !page.body.to_string().contains("gone@disk.example"),
        "{}",
        page.body
    );
    assert!(
        on_disk(&app, "keys-eu", &gone_key),
        "while the older snapshot is read, the deleted key's page versions stay in the WAL or the file"
    );

    reader.rollback().await.unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        while on_disk(&app, "keys-eu", &gone_key) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "the erased key is still on disk 15 s after the reader ended"
    );
    assert!(
        on_disk(&app, "keys-eu", &kept_key),
        "the other subject's key is still stored"
    );
    let page = app.gql(&admin, PAGE, json!({})).await;
    assert!(
        page.body.to_string().contains("kept@disk.example"),
        "{}",
        page.body
    );
}

//! Emptying an SQLite database's WAL into its file after a deletion, so erased values leave the disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// After deleting personal data on SQLite: the deleted pages are zeroed (`secure_delete`), but the WAL still holds
/// them until a checkpoint, which this forces. Nothing to do on PostgreSQL.
///
/// A checkpoint cannot complete while a reader is on a snapshot older than the deletion (ours for a statement's
/// length; another process's, a backup, for longer). It is tried for about a second without holding the writer; if a
/// reader outlasts that, or the checkpoint fails (no connection free in time), it is logged and tried again in the
/// background (every second, then less often) until it completes, so the erased pages leave the WAL as soon as that
/// reader is done. While such a retry is under way for the file, this tries once and leaves the rest to it. The
/// deletion committed before this is called, so nothing here is the caller's error.
pub(crate) async fn checkpoint(db: &DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let tries = if retrying(db).await { 1 } else { 10 };
    for _ in 0..tries {
        match truncate_wal(db).await {
            Ok(Wal::Emptied) => return,
            Ok(Wal::Behind) => tokio::time::sleep(Duration::from_millis(100)).await,
            // The truncating step waited `TRUNCATE_WAIT` for a reader (one that began after the deletion): the rest
            // is left to the background, so the writes queued behind this one are not held up again and again.
            Ok(Wal::Held) => break,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "an SQLite checkpoint after a deletion failed; the deleted pages stay in the WAL file until it \
                     completes: trying again in the background"
                );
                checkpoint_later(db);
                return;
            }
        }
    }
    tracing::warn!(
        "an SQLite checkpoint after a deletion could not complete (a reader holds an older snapshot); the deleted \
         pages stay in the WAL file until it does: trying again in the background"
    );
    checkpoint_later(db);
}

/// What [`truncate_wal`] found.
enum Wal {
    /// Every frame is in the file and the WAL is empty.
    Emptied,
    /// A reader on an older snapshot keeps frames from being copied (nothing waited).
    Behind,
    /// Every frame was copied, but emptying the WAL waited the busy timeout for a reader still on it.
    Held,
}

/// How long the truncating step waits for readers still on the WAL, holding the writer meanwhile (not the busy
/// timeout every other statement waits: a long reader would hold every write up that long at each try).
const TRUNCATE_WAIT: Duration = Duration::from_millis(200);

/// Empties the WAL into the file if every frame can be copied now. A passive checkpoint first (it waits for no reader,
/// so it never holds the writer long), and only once that has copied every frame the truncating one, which waits up to
/// [`TRUNCATE_WAIT`] for readers still on the WAL (statements in flight, or a long reader that began after the
/// deletion). Both run on one connection of `db`'s pool, with that wait as its busy timeout; it is closed afterwards
/// (the pool opens another), so it never goes back to the pool with the short timeout, even if this is cancelled.
async fn truncate_wal(db: &DatabaseConnection) -> Result<Wal, DbErr> {
    use sea_orm::sqlx;
    // As any other statement's error, so a pool with no free connection reads as unavailable (`is_unavailable`).
    let failed =
        |e: sqlx::Error| DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)));
    let mut conn = db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .map_err(failed)?;
    // Its columns: busy (1 when it could not complete), frames in the WAL, frames copied into the file (-1 for a
    // database not in WAL mode: an in-memory one).
    let checkpoint = "PRAGMA wal_checkpoint(PASSIVE)";
    let (busy, frames, copied): (i64, i64, i64) = sqlx::query_as(checkpoint)
        .fetch_one(&mut *conn)
        .await
        .map_err(failed)?;
    // Not in WAL mode (an in-memory database), or nothing written since the WAL was last emptied: nothing to copy,
    // and no reason to wait for a reader or to reopen the connection.
    if frames <= 0 {
        return Ok(Wal::Emptied);
    }
    if busy != 0 || copied < frames {
        return Ok(Wal::Behind);
    }
    conn.close_on_drop();
    let wait = format!("PRAGMA busy_timeout = {}", TRUNCATE_WAIT.as_millis());
    sqlx::query(sqlx::AssertSqlSafe(wait))
        .execute(&mut *conn)
        .await
        .map_err(failed)?;
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .map_err(failed)?;
    Ok(if busy == 0 { Wal::Emptied } else { Wal::Held })
}

/// The SQLite files with a checkpoint being retried (one retrying task per file), and how many there are (read first,
/// so a checkpoint with no retry under way does not look up its file).
static RETRYING: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());
static RETRY_TASKS: AtomicUsize = AtomicUsize::new(0);

/// The file of `db`'s main database ("" for an in-memory one).
async fn file_of(db: &DatabaseConnection) -> String {
    match db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await
    {
        Ok(Some(row)) => row.try_get_by_index::<String>(0).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Whether a background checkpoint of `db`'s file is under way.
async fn retrying(db: &DatabaseConnection) -> bool {
    if RETRY_TASKS.load(Ordering::Acquire) == 0 {
        return false;
    }
    let file = file_of(db).await;
    RETRYING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&file)
}

/// Empties `db`'s WAL in the background, about a second from now, then again until it completes or its pool is closed
/// (whose last connection, the writer, checkpoints as it closes). One task per file, however many deletions met the
/// same long reader. For a deletion whose checkpoint did not complete, and for one no checkpoint may follow (a
/// transaction that failed after it). Nothing to do on PostgreSQL.
pub(crate) fn checkpoint_later(db: &DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        let file = file_of(&db).await;
        if !RETRYING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(file.clone())
        {
            return;
        }
        RETRY_TASKS.fetch_add(1, Ordering::AcqRel);
        let mut wait = Duration::from_secs(1);
        let mut failures = 0;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
            // Shutting down (the pools are closed): the writer checkpointed as it closed, if it could.
            if db.get_sqlite_connection_pool().is_closed() {
                break;
            }
            match truncate_wal(&db).await {
                Ok(Wal::Emptied) => {
                    tracing::debug!(
                        "a delayed SQLite checkpoint completed: the deleted pages left the WAL file"
                    );
                    break;
                }
                // Held: the writer waited `TRUNCATE_WAIT` once in this interval (at most every 30 s from here).
                Ok(Wal::Behind | Wal::Held) => failures = 0,
                // A busy writer (acquire timeout) is tried again; a pool that stays unusable (closed) ends the task.
                Err(e) if failures < 5 => {
                    failures += 1;
                    tracing::debug!(error = %e, "an SQLite checkpoint retry failed");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stopped retrying an SQLite checkpoint");
                    break;
                }
            }
        }
        RETRYING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&file);
        RETRY_TASKS.fetch_sub(1, Ordering::AcqRel);
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use sea_orm::{Database, TransactionTrait};

    use super::*;

    async fn busy_timeout(db: &DatabaseConnection) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA busy_timeout",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// A reader that began after the deletion (another process, a backup) keeps the WAL from being emptied: the
    /// truncating step holds the writer `TRUNCATE_WAIT`, not its busy timeout, and the writer's connection keeps that
    /// timeout for other writers; once the reader ends, the background retry empties the WAL.
    #[tokio::test]
    async fn a_reader_on_the_wal_holds_the_writer_briefly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wal.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let statements = Arc::new(AtomicU64::new(0));
        let writer =
            super::super::connect_one("test", &url, 1, None, Duration::from_secs(5), &statements)
                .await
                .unwrap();
        writer
            .execute_unprepared("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (randomblob(40000))")
            .await
            .unwrap();
        writer.execute_unprepared("DELETE FROM t").await.unwrap();
        let outside = Database::connect(&url).await.unwrap();
        let reader = outside.begin().await.unwrap();
        reader
            .execute_unprepared("SELECT count(*) FROM t")
            .await
            .unwrap();

        let started = std::time::Instant::now();
        checkpoint(&writer).await;
        let held = started.elapsed();
        assert!(
            held < Duration::from_secs(2),
            "the checkpoint held the writer {held:?}"
        );
        assert_eq!(busy_timeout(&writer).await, 5000);
        let wal = dir.path().join("wal.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);

        reader.rollback().await.unwrap();
        let emptied = tokio::time::timeout(Duration::from_secs(10), async {
            while std::fs::metadata(&wal).unwrap().len() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            emptied.is_ok(),
            "the WAL was not emptied after the reader ended"
        );
    }

    async fn writer_with_deleted_rows(
        dir: &std::path::Path,
        acquire: Option<Duration>,
    ) -> DatabaseConnection {
        let url = format!("sqlite://{}?mode=rwc", dir.join("wal.db").display());
        let statements = Arc::new(AtomicU64::new(0));
        let writer = super::super::connect_one(
            "test",
            &url,
            1,
            acquire,
            Duration::from_secs(5),
            &statements,
        )
        .await
        .unwrap();
        writer
            .execute_unprepared("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (randomblob(40000))")
            .await
            .unwrap();
        writer.execute_unprepared("DELETE FROM t").await.unwrap();
        writer
    }

    fn wal_len(dir: &std::path::Path) -> u64 {
        std::fs::metadata(dir.join("wal.db-wal")).map_or(0, |m| m.len())
    }

    /// A deletion no checkpoint follows (its transaction failed after it) still leaves the WAL: the checkpoint queued
    /// with it empties the WAL in the background.
    #[tokio::test]
    async fn a_queued_checkpoint_empties_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_with_deleted_rows(dir.path(), None).await;
        assert!(wal_len(dir.path()) > 0);
        checkpoint_later(&writer);
        let emptied = tokio::time::timeout(Duration::from_secs(10), async {
            while wal_len(dir.path()) > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            emptied.is_ok(),
            "the queued checkpoint did not empty the WAL"
        );
    }

    /// With no free connection (the writer busy past the acquire timeout) the checkpoint fails as a database that is
    /// unavailable, not as an internal error; the caller, whose deletion committed, is not failed, and the retry in
    /// the background empties the WAL once the writer is free.
    #[tokio::test]
    async fn a_busy_writer_is_unavailable_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_with_deleted_rows(dir.path(), Some(Duration::from_millis(100))).await;
        let busy = writer.get_sqlite_connection_pool().acquire().await.unwrap();
        let Err(e) = truncate_wal(&writer).await else {
            panic!("a checkpoint ran with the only connection taken");
        };
        assert!(crate::error::is_unavailable(&e), "{e:?}");
        checkpoint(&writer).await;
        assert!(wal_len(dir.path()) > 0);
        drop(busy);
        let emptied = tokio::time::timeout(Duration::from_secs(10), async {
            while wal_len(dir.path()) > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(emptied.is_ok(), "the retry did not empty the WAL");
    }

    /// Nothing written since the WAL was emptied: nothing to wait for, and the writer's connection is kept.
    #[tokio::test]
    async fn an_empty_wal_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_with_deleted_rows(dir.path(), None).await;
        checkpoint(&writer).await;
        assert_eq!(wal_len(dir.path()), 0);
        writer
            .execute_unprepared("PRAGMA busy_timeout = 4321")
            .await
            .unwrap();
        checkpoint(&writer).await;
        // The same connection (a new one would have the configured 5 s).
        assert_eq!(busy_timeout(&writer).await, 4321);
    }
}

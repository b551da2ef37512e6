//! Emptying an SQLite database's WAL into its file after a deletion, so erased values leave the disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend, DbErr};

/// After deleting personal data on SQLite: the deleted pages are zeroed (`secure_delete`), but the WAL still holds
/// them until a checkpoint, which this forces. Nothing to do on PostgreSQL.
///
/// A checkpoint cannot complete while a reader is on a snapshot older than the deletion (ours for a statement's
/// length; another process's, a backup, for longer). It is tried for about a second without holding the writer; if a
/// reader outlasts that, or the checkpoint fails (no connection free in time), it is logged and tried again in the
/// background (every second, then less often) until it completes, so the erased pages leave the WAL as soon as that
/// reader is done. While a retry after such a failure is under way for the file, this tries once and leaves the rest
/// to it. The deletion committed before this is called, so nothing here is the caller's error; a command that exits
/// next uses [`checkpoint_now`] instead.
pub(crate) async fn checkpoint(db: &DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let tries = if held_up(db) { 1 } else { 10 };
    if let Err(e) = try_checkpoint(db, tries).await {
        tracing::warn!(
            error = %e,
            "an SQLite checkpoint after a deletion could not complete; the deleted pages stay in the WAL file until \
             it does: trying again in the background"
        );
        retry(db, true);
    }
}

/// As [`checkpoint`], for a command that exits next (no background retry would outlive it): an error if the WAL
/// could not be emptied.
pub(crate) async fn checkpoint_now(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    try_checkpoint(db, 10).await
}

/// Up to `tries` attempts, 100 ms apart while a reader keeps frames from being copied.
async fn try_checkpoint(db: &DatabaseConnection, tries: usize) -> Result<(), DbErr> {
    for _ in 0..tries {
        match truncate_wal(db).await? {
            Wal::Emptied => return Ok(()),
            Wal::Behind => tokio::time::sleep(Duration::from_millis(100)).await,
            // The truncating step waited `TRUNCATE_WAIT` for a reader (one that began after the deletion): the rest
            // is left to the background, so the writes queued behind this one are not held up again and again.
            Wal::Held => break,
        }
    }
    Err(DbErr::Custom(
        "a reader holds an older snapshot of the database".into(),
    ))
}

/// What [`truncate_wal`] found.
enum Wal {
    /// Every frame is in the file and the WAL is empty.
    Emptied,
    /// A reader on an older snapshot keeps frames from being copied, or another connection is checkpointing
    /// (nothing waited).
    Behind,
    /// Every frame was copied, but emptying the WAL waited the busy timeout for a reader still on it.
    Held,
}

/// How long the truncating step waits for readers still on the WAL, holding the writer meanwhile (not the busy
/// timeout every other statement waits: a long reader would hold every write up that long at each try).
const TRUNCATE_WAIT: Duration = Duration::from_millis(200);

/// The database's file, as its pool opens it (no statement needed).
fn file_of(db: &DatabaseConnection) -> PathBuf {
    db.get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf()
}

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
    // Its columns: busy (1 when it could not complete: a reader, or another connection checkpointing, in which case
    // the others are -1), frames in the WAL, frames copied into the file (-1 for a database not in WAL mode: an
    // in-memory one).
    let checkpoint = "PRAGMA wal_checkpoint(PASSIVE)";
    let (busy, frames, copied): (i64, i64, i64) = sqlx::query_as(checkpoint)
        .fetch_one(&mut *conn)
        .await
        .map_err(failed)?;
    if busy != 0 || copied < frames {
        return Ok(Wal::Behind);
    }
    if frames < 0 {
        return Ok(Wal::Emptied);
    }
    // Nothing written since the WAL was last emptied, and its file is empty: no reason to wait for a reader or to
    // reopen the connection. (A WAL restarted by a write that then rolled back can hold older frames past the count.)
    let mut wal = file_of(db).into_os_string();
    wal.push("-wal");
    if frames == 0 && std::fs::metadata(&wal).map_or(true, |m| m.len() == 0) {
        return Ok(Wal::Emptied);
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

/// The SQLite files with a checkpoint queued or being retried (one task per file): how many checkpoints were asked of
/// the file since its task began, and whether one after a deletion could not complete (a long reader, no free
/// connection).
static QUEUED: Mutex<BTreeMap<PathBuf, Queue>> = Mutex::new(BTreeMap::new());

#[derive(Clone, Copy, Debug, Default)]
struct Queue {
    asked: u64,
    held_up: bool,
}

fn queued() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Queue>> {
    QUEUED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a checkpoint of `db`'s file could not complete and is being retried.
fn held_up(db: &DatabaseConnection) -> bool {
    queued().get(&file_of(db)).is_some_and(|q| q.held_up)
}

/// Asks `file`'s task for one more checkpoint; `true` when there was no task, and the caller starts one.
fn ask(file: &Path, held_up: bool) -> bool {
    let mut queued = queued();
    match queued.get_mut(file) {
        Some(queue) => {
            queue.asked += 1;
            queue.held_up |= held_up;
            false
        }
        None => {
            queued.insert(file.to_path_buf(), Queue { asked: 0, held_up });
            true
        }
    }
}

/// How many checkpoints were asked of `file` so far: read by its task before each try.
fn asked(file: &Path) -> u64 {
    queued().get(file).map_or(0, |q| q.asked)
}

/// After a try of `file`'s task emptied the WAL, begun once `seen` checkpoints had been asked: the task ends, unless
/// another was asked meanwhile (a deletion that committed after the try began, whose own checkpoint failed), which the
/// task then does too. Checked and ended under one lock, so no ask falls between the try and the task's end.
fn finished(file: &Path, seen: u64) -> bool {
    let mut queued = queued();
    match queued.get(file) {
        Some(queue) if queue.asked != seen => false,
        _ => {
            queued.remove(file);
            true
        }
    }
}

/// Empties `db`'s WAL in the background, about a second from now: for a deletion no checkpoint may follow (its
/// transaction failed after it). Nothing to do on PostgreSQL.
pub(crate) fn checkpoint_later(db: &DatabaseConnection) {
    if db.get_database_backend() == DbBackend::Sqlite {
        retry(db, false);
    }
}

/// Ends a file's task when it is cancelled (the runtime shutting down) or stops at shutdown: its entry goes.
struct Queued(Option<PathBuf>);

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(file) = self.0.take() {
            queued().remove(&file);
        }
    }
}

/// Tries `db`'s checkpoint in the background until it completes, or until its pool is closed (whose last connection,
/// the writer, checkpoints as it closes). One task per file, however many deletions queued one or met the same long
/// reader; `held_up` marks the file for [`checkpoint`], which then tries once.
fn retry(db: &DatabaseConnection, held_up: bool) {
    let file = file_of(db);
    if !ask(&file, held_up) {
        return;
    }
    let db = db.clone();
    // Made before the task is spawned: a task dropped before it first runs (the runtime shutting down) still ends the
    // file's entry, which would otherwise keep every later deletion of the file from starting a retry.
    let queued = Queued(Some(file.clone()));
    tokio::spawn(async move {
        let mut queued = queued;
        let mut wait = Duration::from_secs(1);
        let mut failures: u32 = 0;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
            // Shutting down (the pools are closed): the writer checkpointed as it closed, if it could.
            if db.get_sqlite_connection_pool().is_closed() {
                break;
            }
            let seen = asked(&file);
            match truncate_wal(&db).await {
                Ok(Wal::Emptied) => {
                    if finished(&file, seen) {
                        queued.0 = None;
                        tracing::debug!(
                            "a delayed SQLite checkpoint completed: the deleted pages left the WAL file"
                        );
                        break;
                    }
                    wait = Duration::from_secs(1);
                }
                // Held: the writer waited `TRUNCATE_WAIT` once in this interval (at most every 30 s from here).
                Ok(Wal::Behind | Wal::Held) => failures = 0,
                // A writer busy past the acquire timeout: tried again at the next interval, however long it lasts.
                Err(e) => {
                    failures += 1;
                    if failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, failures, "an SQLite checkpoint keeps failing; still trying");
                    } else {
                        tracing::debug!(error = %e, "an SQLite checkpoint retry failed");
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};

    use super::*;

    /// A checkpoint asked of a file while its task is trying one is not lost: the try that then empties the WAL does
    /// not end the task (the ask may be for a deletion committed after that try began); the next try does, and only
    /// then does a new deletion start a task of its own.
    #[test]
    fn an_ask_during_a_try_keeps_the_task_going() {
        let file = PathBuf::from("/nonexistent/ask-during-a-try.db");
        assert!(ask(&file, false), "no task yet: the caller starts one");
        let seen = asked(&file);
        assert!(
            !ask(&file, true),
            "a task is running: it is asked again instead"
        );
        assert!(queued().get(&file).is_some_and(|q| q.held_up));
        assert!(
            !finished(&file, seen),
            "the ask made during the try was lost"
        );
        assert!(finished(&file, asked(&file)));
        assert!(queued().get(&file).is_none());
        assert!(
            ask(&file, false),
            "the task ended: the next deletion starts another"
        );
        assert!(finished(&file, asked(&file)));
    }

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
        let writer = writer_with_deleted_rows(dir.path(), Some(Duration::from_millis(500))).await;
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

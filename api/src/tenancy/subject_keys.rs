//! One tenant's subject keys in its region's subject-key database: each data subject's key, wrapped under the tenant's
//! key, kept apart from the values it opens. An erasure deletes the subject's key here just before the region's
//! transaction commits (see `erasure::delete_subjects`), so a region database restored from an earlier backup holds
//! values nothing opens any more (and `steward restore` deletes the rest).
//!
//! Each instance keeps the wrapped keys it read lately in memory ([`KeyCache`], bounded), so a page read again costs
//! no statement here. An erasure on this instance drops the subject's entry; one on another instance leaves it until
//! it is evicted or the instance restarts, which opens nothing: the erasure deleted the values in the same
//! transaction, and the cache is never in a backup. After restoring databases, start the servers afresh (as
//! `steward restore` requires anyway).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use steward_entities::subject_key;
use uuid::Uuid;

use crate::ids::TenantId;

/// The most ids one statement names (SQLite binds at most 32,766 values, PostgreSQL 65,535).
const CHUNK: usize = 500;

/// Wrapped keys read lately, by (tenant, subject): at most [`CACHED_KEYS`] (about 150 bytes each).
///
/// A read that missed the cache and an erasure can overlap: the read's statement finds the key, the erasure deletes it
/// and drops the entry, and only then does the read store what it found, a deleted key back in memory (the erasure's
/// `subject.erased` event would then say its key was not destroyed). So every deletion counts itself in `deletions`
/// (after its statement, before dropping the entries), and a read stores what it found only if no deletion counted
/// since before its statement; one that did drops its entries again after storing them, whichever came first.
#[derive(Debug)]
pub struct KeyCache {
    entries: quick_cache::sync::Cache<(Uuid, Uuid), Arc<[u8]>>,
    deletions: AtomicU64,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        KeyCache {
            entries: quick_cache::sync::Cache::new(capacity),
            deletions: AtomicU64::new(0),
        }
    }

    /// How many deletions have counted so far: read before a statement whose keys are then [`KeyCache::remember`]ed.
    fn generation(&self) -> u64 {
        self.deletions.load(Ordering::SeqCst)
    }

    fn get(&self, key: &(Uuid, Uuid)) -> Option<Arc<[u8]>> {
        self.entries.get(key)
    }

    /// Stores keys read by a statement that started at `generation`, unless a deletion counted since.
    fn remember(
        &self,
        generation: u64,
        found: impl IntoIterator<Item = ((Uuid, Uuid), Arc<[u8]>)>,
    ) {
        let mut stored = Vec::new();
        for (key, wrapped) in found {
            if self.generation() != generation {
                break;
            }
            self.entries.insert(key, wrapped);
            stored.push(key);
        }
        // A deletion that counted while these were stored may have dropped its entries before they went in.
        if self.generation() != generation {
            for key in stored {
                self.entries.remove(&key);
            }
        }
    }

    /// After a deletion of every key of a tenant: counts it, then drops that tenant's entries.
    fn forget_tenant(&self, tenant: Uuid) {
        self.deletions.fetch_add(1, Ordering::SeqCst);
        self.entries.retain(|(owner, _), _| *owner != tenant);
    }

    /// After a deletion's statement: counts it, then drops the deleted keys' entries.
    fn forget(&self, keys: impl IntoIterator<Item = (Uuid, Uuid)>) {
        self.deletions.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            self.entries.remove(&key);
        }
    }
}

/// How many wrapped keys an instance keeps in memory.
pub const CACHED_KEYS: usize = 50_000;

/// A tenant's subject keys: every statement is restricted to the tenant, and so is every cache entry.
pub struct SubjectKeys<'a> {
    tenant: TenantId,
    db: &'a DatabaseConnection,
    /// Where reads go (on SQLite the read-only connections beside the writer).
    reader: &'a DatabaseConnection,
    cache: &'a KeyCache,
}

impl<'a> SubjectKeys<'a> {
    pub(super) fn new(
        tenant: TenantId,
        db: &'a DatabaseConnection,
        reader: &'a DatabaseConnection,
        cache: &'a KeyCache,
    ) -> Self {
        SubjectKeys {
            tenant,
            db,
            reader,
            cache,
        }
    }

    fn forget(&self, subjects: &[Uuid]) {
        self.cache
            .forget(subjects.iter().map(|subject| (self.tenant.0, *subject)));
    }

    /// Stores a new subject's wrapped key.
    pub async fn put(&self, subject: Uuid, wrapped: Vec<u8>) -> Result<(), DbErr> {
        subject_key::Entity::insert(subject_key::ActiveModel {
            subject_id: Set(subject),
            tenant_id: Set(self.tenant.0),
            wrapped_key: Set(wrapped),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(self.db)
        .await?;
        Ok(())
    }

    /// One subject's wrapped key; `None` once erased.
    pub async fn get(&self, subject: Uuid) -> Result<Option<Vec<u8>>, DbErr> {
        if let Some(known) = self.cache.get(&(self.tenant.0, subject)) {
            return Ok(Some(known.to_vec()));
        }
        let generation = self.cache.generation();
        let found: Option<Vec<u8>> = subject_key::Entity::find()
            .select_only()
            .column(subject_key::Column::WrappedKey)
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .filter(subject_key::Column::SubjectId.eq(subject))
            .into_tuple()
            .one(self.reader)
            .await?;
        if let Some(wrapped) = &found {
            self.cache.remember(
                generation,
                [((self.tenant.0, subject), Arc::from(wrapped.as_slice()))],
            );
        }
        Ok(found)
    }

    /// The wrapped keys of many subjects, in one statement per 500; erased ones are absent.
    pub async fn get_many(&self, subjects: &[Uuid]) -> Result<HashMap<Uuid, Vec<u8>>, DbErr> {
        let mut found = HashMap::with_capacity(subjects.len());
        let mut unknown = Vec::new();
        for subject in subjects {
            match self.cache.get(&(self.tenant.0, *subject)) {
                Some(known) => {
                    found.insert(*subject, known.to_vec());
                }
                None => unknown.push(*subject),
            }
        }
        for chunk in unknown.chunks(CHUNK) {
            let generation = self.cache.generation();
            let rows: Vec<(Uuid, Vec<u8>)> = subject_key::Entity::find()
                .select_only()
                .column(subject_key::Column::SubjectId)
                .column(subject_key::Column::WrappedKey)
                .filter(subject_key::Column::TenantId.eq(self.tenant.0))
                .filter(subject_key::Column::SubjectId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.reader)
                .await?;
            self.cache.remember(
                generation,
                rows.iter().map(|(subject, wrapped)| {
                    ((self.tenant.0, *subject), Arc::from(wrapped.as_slice()))
                }),
            );
            found.extend(rows);
        }
        Ok(found)
    }

    /// Deletes the keys of these subjects (crypto-shredding what any copy of their values holds); how many were there.
    /// On SQLite the deleted pages are zeroed (`secure_delete`); the caller empties the WAL into the file once its
    /// region transaction committed ([`crate::tenancy::Scope::checkpoint`]), so no reader of this database holds up
    /// the region's writer meanwhile. A checkpoint is also queued in the background (about a second from now), for
    /// when the caller's transaction fails after this and no checkpoint follows.
    pub async fn delete(&self, subjects: &[Uuid]) -> Result<u64, DbErr> {
        let deleted = self.delete_chunks(subjects).await;
        // After the statements, and whether or not they all succeeded (the chunks before a failed one are deleted): a
        // page read racing them either stores nothing or drops what it stored (`KeyCache`).
        self.forget(subjects);
        if !matches!(deleted, Ok(0)) {
            crate::db::checkpoint_later(self.db);
        }
        deleted
    }

    async fn delete_chunks(&self, subjects: &[Uuid]) -> Result<u64, DbErr> {
        let mut deleted = 0;
        for chunk in subjects.chunks(CHUNK) {
            deleted += subject_key::Entity::delete_many()
                .filter(subject_key::Column::TenantId.eq(self.tenant.0))
                .filter(subject_key::Column::SubjectId.is_in(chunk.iter().copied()))
                .exec(self.db)
                .await?
                .rows_affected;
        }
        Ok(deleted)
    }

    /// How many keys the tenant has.
    pub async fn count(&self) -> Result<u64, DbErr> {
        use sea_orm::PaginatorTrait;
        subject_key::Entity::find()
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .count(self.reader)
            .await
    }

    /// Deletes every key of the tenant (its data deleted at the end of its contract); the caller checkpoints, as after
    /// [`SubjectKeys::delete`], which also queues one in the background.
    pub async fn delete_all(&self) -> Result<u64, DbErr> {
        let deleted = subject_key::Entity::delete_many()
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .exec(self.db)
            .await;
        self.cache.forget_tenant(self.tenant.0);
        let deleted = deleted?.rows_affected;
        if deleted > 0 {
            crate::db::checkpoint_later(self.db);
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> (Uuid, Uuid) {
        (Uuid::from_bytes([1; 16]), Uuid::from_bytes([n; 16]))
    }

    #[test]
    fn a_read_that_started_before_a_deletion_stores_nothing_after_it() {
        let cache = KeyCache::new(10);
        // The read's statement starts; meanwhile the erasure deletes and forgets; then the read stores what it found.
        let started = cache.generation();
        cache.forget([key(1)]);
        cache.remember(started, [(key(1), Arc::from(&b"wrapped"[..]))]);
        assert!(cache.get(&key(1)).is_none(), "a deleted key came back");
        // A read that starts after the deletion stores what it finds.
        let started = cache.generation();
        cache.remember(started, [(key(2), Arc::from(&b"other"[..]))]);
        assert_eq!(cache.get(&key(2)).as_deref(), Some(&b"other"[..]));
    }

    #[test]
    fn a_tenants_deletion_drops_only_its_entries() {
        let cache = KeyCache::new(10);
        let other = (Uuid::from_bytes([2; 16]), Uuid::from_bytes([1; 16]));
        let started = cache.generation();
        cache.remember(
            started,
            [
                (key(1), Arc::from(&b"a"[..])),
                (other, Arc::from(&b"b"[..])),
            ],
        );
        cache.forget_tenant(key(1).0);
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&other).is_some());
    }

    /// A key deletion empties the key database's WAL by itself (about a second later), so the erased key leaves the
    /// disk even when the caller's region transaction fails after it and no checkpoint follows.
    #[tokio::test]
    async fn a_deletion_empties_the_wal_by_itself() {
        use sea_orm::{ConnectionTrait, Schema};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared("PRAGMA journal_mode = WAL")
            .await
            .unwrap();
        let backend = db.get_database_backend();
        db.execute(&Schema::new(backend).create_table_from_entity(subject_key::Entity))
            .await
            .unwrap();
        let cache = KeyCache::new(10);
        let keys = SubjectKeys::new(TenantId(Uuid::now_v7()), &db, &db, &cache);
        let subject = Uuid::now_v7();
        keys.put(subject, vec![7; 60]).await.unwrap();
        let wal = dir.path().join("keys.db-wal");
        let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert!(wal_len() > 0);

        assert_eq!(keys.delete(&[subject]).await.unwrap(), 1);
        let emptied = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while wal_len() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(emptied.is_ok(), "the key's deletion left the WAL as it was");
    }
}

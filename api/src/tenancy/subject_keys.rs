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

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use steward_entities::subject_key;
use uuid::Uuid;

use crate::ids::TenantId;

/// The most ids one statement names (SQLite binds at most 32,766 values, PostgreSQL 65,535).
const CHUNK: usize = 500;

/// Wrapped keys read lately, by (tenant, subject): at most [`CACHED_KEYS`] (about 150 bytes each).
pub type KeyCache = quick_cache::sync::Cache<(Uuid, Uuid), Arc<[u8]>>;

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
        for subject in subjects {
            self.cache.remove(&(self.tenant.0, *subject));
        }
    }

    fn remember(&self, subject: Uuid, wrapped: &[u8]) {
        self.cache
            .insert((self.tenant.0, subject), Arc::from(wrapped));
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
        let found: Option<Vec<u8>> = subject_key::Entity::find()
            .select_only()
            .column(subject_key::Column::WrappedKey)
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .filter(subject_key::Column::SubjectId.eq(subject))
            .into_tuple()
            .one(self.reader)
            .await?;
        if let Some(wrapped) = &found {
            self.remember(subject, wrapped);
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
            let rows: Vec<(Uuid, Vec<u8>)> = subject_key::Entity::find()
                .select_only()
                .column(subject_key::Column::SubjectId)
                .column(subject_key::Column::WrappedKey)
                .filter(subject_key::Column::TenantId.eq(self.tenant.0))
                .filter(subject_key::Column::SubjectId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.reader)
                .await?;
            for (subject, wrapped) in rows {
                self.remember(subject, &wrapped);
                found.insert(subject, wrapped);
            }
        }
        Ok(found)
    }

    /// Deletes the keys of these subjects (crypto-shredding what any copy of their values holds); how many were there.
    /// On SQLite the deleted pages are zeroed (`secure_delete`) and the WAL is emptied into the file.
    pub async fn delete(&self, subjects: &[Uuid]) -> Result<u64, DbErr> {
        self.forget(subjects);
        let mut deleted = 0;
        for chunk in subjects.chunks(CHUNK) {
            deleted += subject_key::Entity::delete_many()
                .filter(subject_key::Column::TenantId.eq(self.tenant.0))
                .filter(subject_key::Column::SubjectId.is_in(chunk.iter().copied()))
                .exec(self.db)
                .await?
                .rows_affected;
        }
        // Again: a page read racing this delete may have put one back meanwhile.
        self.forget(subjects);
        if deleted > 0 {
            crate::db::checkpoint(self.db).await?;
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

    /// Deletes every key of the tenant (its data deleted at the end of its contract).
    pub async fn delete_all(&self) -> Result<u64, DbErr> {
        let deleted = subject_key::Entity::delete_many()
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .exec(self.db)
            .await?
            .rows_affected;
        if deleted > 0 {
            crate::db::checkpoint(self.db).await?;
        }
        Ok(deleted)
    }
}

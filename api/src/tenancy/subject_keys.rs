//! One tenant's subject keys in its region's subject-key database: each data subject's key, wrapped under the tenant's
//! key, kept apart from the values it opens. An erasure deletes the subject's key here just before the region's
//! transaction commits (see `erasure::delete_subjects`), so a region database restored from an earlier backup holds
//! values nothing opens any more (and `steward restore` deletes the rest).

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use steward_entities::subject_key;
use uuid::Uuid;

use crate::ids::TenantId;

/// The most ids one statement names (SQLite binds at most 32,766 values, PostgreSQL 65,535).
const CHUNK: usize = 500;

/// A tenant's subject keys: every statement is restricted to the tenant.
pub struct SubjectKeys<'a> {
    tenant: TenantId,
    db: &'a DatabaseConnection,
}

impl<'a> SubjectKeys<'a> {
    pub(super) fn new(tenant: TenantId, db: &'a DatabaseConnection) -> Self {
        SubjectKeys { tenant, db }
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
        subject_key::Entity::find()
            .select_only()
            .column(subject_key::Column::WrappedKey)
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .filter(subject_key::Column::SubjectId.eq(subject))
            .into_tuple()
            .one(self.db)
            .await
    }

    /// The wrapped keys of many subjects, in one statement per 500; erased ones are absent.
    pub async fn get_many(&self, subjects: &[Uuid]) -> Result<HashMap<Uuid, Vec<u8>>, DbErr> {
        let mut found = HashMap::with_capacity(subjects.len());
        for chunk in subjects.chunks(CHUNK) {
            let rows: Vec<(Uuid, Vec<u8>)> = subject_key::Entity::find()
                .select_only()
                .column(subject_key::Column::SubjectId)
                .column(subject_key::Column::WrappedKey)
                .filter(subject_key::Column::TenantId.eq(self.tenant.0))
                .filter(subject_key::Column::SubjectId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.db)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// The tenant's wrapped keys after subject `after`, in id order, at most `limit`: the keys of a page of subjects
    /// read beside the page itself (subject ids and key ids are the same, in the same order).
    pub async fn range(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<HashMap<Uuid, Vec<u8>>, DbErr> {
        let mut query = subject_key::Entity::find()
            .select_only()
            .column(subject_key::Column::SubjectId)
            .column(subject_key::Column::WrappedKey)
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(subject_key::Column::SubjectId)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(subject_key::Column::SubjectId.gt(after));
        }
        let rows: Vec<(Uuid, Vec<u8>)> = query.into_tuple().all(self.db).await?;
        Ok(rows.into_iter().collect())
    }

    /// Deletes the keys of these subjects (crypto-shredding what any copy of their values holds); how many were there.
    /// On SQLite the deleted pages are zeroed (`secure_delete`) and the WAL is emptied into the file.
    pub async fn delete(&self, subjects: &[Uuid]) -> Result<u64, DbErr> {
        let mut deleted = 0;
        for chunk in subjects.chunks(CHUNK) {
            deleted += subject_key::Entity::delete_many()
                .filter(subject_key::Column::TenantId.eq(self.tenant.0))
                .filter(subject_key::Column::SubjectId.is_in(chunk.iter().copied()))
                .exec(self.db)
                .await?
                .rows_affected;
        }
        if deleted > 0 {
            self.checkpoint().await?;
        }
        Ok(deleted)
    }

    async fn checkpoint(&self) -> Result<(), DbErr> {
        if self.db.get_database_backend() == DbBackend::Sqlite {
            self.db
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
        Ok(())
    }

    /// How many keys the tenant has.
    pub async fn count(&self) -> Result<u64, DbErr> {
        use sea_orm::PaginatorTrait;
        subject_key::Entity::find()
            .filter(subject_key::Column::TenantId.eq(self.tenant.0))
            .count(self.db)
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
            self.checkpoint().await?;
        }
        Ok(deleted)
    }
}

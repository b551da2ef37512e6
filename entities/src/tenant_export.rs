//! A departing tenant's full export (region database): its key (wrapped by the tenant key) and progress; the content
//! is in [`crate::tenant_export_chunk`].

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub wrapped_key: Vec<u8>,
    /// Every subject is in a chunk: downloadable from then on.
    pub ready: bool,
    /// The last subject exported so far, in id order (the build resumes after it).
    pub cursor: Option<Uuid>,
    pub chunks: i32,
    /// Subjects and values exported so far (all of them once `ready`).
    pub subjects: i32,
    pub values_exported: i32,
    pub downloads: i32,
    /// How many times an erasure emptied it to be built again: a build stores a chunk only at the count it read.
    pub rebuilds: i32,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When every subject was first in it. Once its download window has closed, an export that was ready once no
    /// longer holds the tenant's deletion while it is built again.
    pub first_ready_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

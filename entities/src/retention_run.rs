//! What one retention run deleted for a tenant (region database): counts only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ran_at: DateTimeUtc,
    pub values_deleted: i32,
    pub subjects: i32,
    /// JSON object: category -> values deleted.
    #[sea_orm(column_type = "JsonBinary")]
    pub counts: crate::Counts,
    pub held_skipped: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

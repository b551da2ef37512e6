//! The access-transparency log (region database): every read of personal values by staff, for the tenant to see.
//! Names subjects and categories, never values.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub staff_subject: String,
    pub grant_id: Uuid,
    pub justification: String,
    pub ticket: String,
    /// JSON array of subject ids read.
    #[sea_orm(column_type = "JsonBinary")]
    pub subject_ids: crate::Ids,
    /// JSON array of categories read.
    #[sea_orm(column_type = "JsonBinary")]
    pub categories: crate::Names,
    pub values_read: i32,
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

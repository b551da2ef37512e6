//! An onward transfer of a tenant's personal data to a sub-processor (region database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "onward_transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sub_processor_id: Uuid,
    /// JSON array of taxonomy categories.
    #[sea_orm(column_type = "JsonBinary")]
    pub categories: crate::Names,
    pub purpose: String,
    pub subject_count: i32,
    pub mechanism: Option<String>,
    /// JSON array of destination countries.
    #[sea_orm(column_type = "JsonBinary")]
    pub countries: crate::Names,
    pub transferred_on: Date,
    pub recorded_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

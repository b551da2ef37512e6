//! A legal hold (region database): suspends retention deletion and erasure for a whole tenant or some subjects.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// JSON array of subject ids; `None`: every subject of the tenant.
    #[sea_orm(column_type = "JsonBinary")]
    pub subject_ids: Option<crate::Ids>,
    pub reason: String,
    pub placed_by: String,
    pub placed_at: DateTimeUtc,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<DateTimeUtc>,
    pub lift_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

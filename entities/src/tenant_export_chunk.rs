//! One part of a departing tenant's export (region database): the lines of up to a few hundred subjects, sealed with
//! the export's key. Built part by part and served part by part, so no instance ever holds a whole tenant in memory.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_export_chunks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub export_id: Uuid,
    /// 0, 1, 2… in the order they are served.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    pub subjects: i32,
    /// NDJSON lines, one per subject, sealed with the export key (context `tenant.export:<export id>:<seq>`).
    pub sealed: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

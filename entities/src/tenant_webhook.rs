//! Where a tenant receives its notices by webhook (region database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub url: String,
    pub set_by: String,
    pub updated_at: DateTimeUtc,
    /// The Standard Webhooks signing secret, wrapped (`None`: set before secrets were stored; the derived one).
    pub secret_sealed: Option<Vec<u8>>,
    /// The secret before the last rotation, still signed with until `previous_until`.
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

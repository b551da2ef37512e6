//! That one tenant was told of a breach, and when it acknowledged (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "breach_notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub breach_id: Uuid,
    pub tenant_id: Uuid,
    pub notified_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<String>,
    /// Art. 33(3)(a), approximately: the tenant's data subjects and records concerned when it was told.
    pub subjects_concerned: Option<i64>,
    pub records_concerned: Option<i64>,
    /// When privacy officers were reminded that the tenant had not acknowledged within 24 hours.
    pub reminded_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::ControlTenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

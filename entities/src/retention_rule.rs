//! A tenant's retention rule (region database): values of a category and/or purpose are deleted `period_days` after
//! collection. An empty `category` or `purpose` means any.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub category: String,
    pub purpose: String,
    pub period_days: i32,
    pub set_by: String,
    pub updated_at: DateTimeUtc,
    /// False while the period waits for its first effective date (added by staff, not yet in force).
    pub in_force: bool,
    /// A change made by staff, waiting for `pending_effective_at` (`0`: the entry is removed then).
    pub pending_period_days: Option<i32>,
    pub pending_effective_at: Option<DateTimeUtc>,
    pub pending_set_by: Option<String>,
    pub pending_set_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

//! The platform's default retention period for a category (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_defaults")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: String,
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

//! A sub-processor change announced to one tenant, with its effective date (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_notices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sub_processor_id: Uuid,
    pub tenant_id: Uuid,
    pub kind: ChangeKind,
    pub effective_on: Date,
    pub status: ChangeNoticeStatus,
    pub created_at: DateTimeUtc,
    pub activated_at: Option<DateTimeUtc>,
}

crate::stored_enum! {
    /// What a change notice announces.
    pub enum ChangeKind {
        /// A sub-processor new to the list.
        New = "new",
        /// A sub-processor that replaces another.
        Replacement = "replacement",
        /// A sub-processor already on the list when the tenant was created: accepted with the list, in effect at once.
        Onboarding = "onboarding",
        /// Wider terms for a sub-processor in use (more countries, categories or purposes, another legal entity):
        /// its current terms stay in force until the effective date.
        Change = "change",
    }
}

crate::stored_enum! {
    /// Where an announced sub-processor stands for one tenant.
    pub enum ChangeNoticeStatus {
        /// Announced, not yet effective: the objection window is open.
        Pending = "pending",
        /// In effect for this tenant.
        Active = "active",
        /// The tenant's objection stands: not used for its data.
        Blocked = "blocked",
        /// Not used for this tenant (an objection resolved that way).
        Excluded = "excluded",
        /// A change legal withdrew before it took effect: the entry's terms stay as they were.
        Withdrawn = "withdrawn",
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::ControlTenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

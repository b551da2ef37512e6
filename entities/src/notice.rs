//! Notices to a tenant (region database): things the client must be told, e.g. break-glass access to its data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTimeUtc,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub channel_class: NoticeClass,
    /// Client roles it is for, comma-separated (e.g. `client_admin`).
    pub audience: String,
}

crate::stored_enum! {
    /// Whether a notice honours marketing opt-outs.
    pub enum NoticeClass {
        /// Order confirmations, policy changes, breaches, deadlines: cannot be opted out of.
        Administrative = "administrative",
        /// Promotional: not sent to users who opted out.
        Marketing = "marketing",
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

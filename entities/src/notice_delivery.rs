//! One delivery of a notice to one recipient over one channel (region database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notice_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub notice_id: Uuid,
    /// `email` or `webhook`.
    pub channel: String,
    /// An email address or the webhook URL.
    pub recipient: String,
    pub user_id: Option<Uuid>,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

crate::stored_enum! {
    /// Where one delivery of a notice stands.
    pub enum DeliveryState {
        Pending = "pending",
        Sent = "sent",
        /// Tried and failed; the delivery job retries it.
        Failed = "failed",
        /// A marketing notice to someone who opted out: deliberately not sent.
        Suppressed = "suppressed",
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

//! An erasure passed on to a sub-processor that received the subject's data (region database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "erasure_propagations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub request_id: Uuid,
    pub subject_id: Uuid,
    pub sub_processor_id: Uuid,
    pub sub_processor_name: String,
    /// JSON array of the categories the sub-processor received.
    #[sea_orm(column_type = "JsonBinary")]
    pub categories: crate::Names,
    pub method: PropagationMethod,
    pub endpoint: Option<String>,
    pub state: PropagationState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub ack_reference: Option<String>,
    pub confirmed_by: Option<String>,
    pub confirmed_name: Option<String>,
    pub confirmation_note: Option<String>,
}

crate::stored_enum! {
    /// How a sub-processor is told of an erasure.
    pub enum PropagationMethod {
        /// Its erasure endpoint is called, signed, until it answers.
        Webhook = "webhook",
        /// A person tells it and confirms here (`confirmErasurePropagation`).
        Manual = "manual",
    }
}

crate::stored_enum! {
    /// Where an erasure passed on to a sub-processor stands.
    pub enum PropagationState {
        /// Not yet answered (a webhook being tried, or a manual request waiting for its confirmation).
        Pending = "pending",
        /// The sub-processor's webhook answered 2xx.
        Acknowledged = "acknowledged",
        /// A named person confirmed it was carried out.
        Confirmed = "confirmed",
        /// The webhook gave up: confirm it by hand, or retry its job.
        Failed = "failed",
    }
}

impl PropagationState {
    /// Acknowledged or confirmed: nothing more to do.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            PropagationState::Acknowledged | PropagationState::Confirmed
        )
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

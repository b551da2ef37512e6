//! The sub-processor registry (control database), maintained by legal.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subprocessors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub name_key: String,
    pub legal_entity: String,
    pub website: String,
    pub purpose: String,
    /// JSON array of ISO 3166-1 alpha-2 codes.
    #[sea_orm(column_type = "JsonBinary")]
    pub countries: crate::Names,
    /// JSON array of taxonomy category keys.
    #[sea_orm(column_type = "JsonBinary")]
    pub categories: crate::Names,
    /// JSON array of transfer mechanism keys.
    #[sea_orm(column_type = "JsonBinary")]
    pub mechanisms: crate::Names,
    pub dpf_certified: bool,
    pub dpa_signed_on: Option<Date>,
    pub status: SubProcessorStatus,
    pub replaces: Option<Uuid>,
    pub effective_on: Option<Date>,
    /// Where erasure requests are sent (HTTPS webhook); `None`: by hand, confirmed by a named person.
    pub erasure_endpoint: Option<String>,
    /// The erasure webhooks' Standard Webhooks signing secret, wrapped (`None` with an endpoint: set before secrets
    /// were stored; the derived one).
    pub webhook_secret_sealed: Option<Vec<u8>>,
    /// The secret before the last rotation, still signed with until `webhook_previous_until`.
    pub webhook_previous_secret_sealed: Option<Vec<u8>>,
    pub webhook_previous_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// A change to the terms of an entry in use, announced and not yet in effect (JSON).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub pending_terms: Option<crate::PendingTerms>,
    /// When `pending_terms` take effect (the daily activation applies them).
    pub pending_effective_on: Option<Date>,
}

crate::stored_enum! {
    /// Where a sub-processor is in the registry's life: proposed by legal, announced to clients with an objection
    /// window, active, retiring (announced to leave), retired.
    pub enum SubProcessorStatus {
        Proposed = "proposed",
        Announced = "announced",
        Active = "active",
        Retiring = "retiring",
        Retired = "retired",
    }
}

impl SubProcessorStatus {
    /// Shown to clients and the public.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            SubProcessorStatus::Announced
                | SubProcessorStatus::Active
                | SubProcessorStatus::Retiring
        )
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

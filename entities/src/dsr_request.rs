//! A data-subject request (region database): access, portability, rectification, erasure, restriction or objection,
//! with its legal deadline.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dsr_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subject_id: Uuid,
    pub kind: String,
    pub origin: String,
    pub state: String,
    pub idempotency_key: Option<String>,
    pub submitted_by: String,
    /// The submitter's note, sealed with the subject's key (context `request.note:<request id>`): it goes with the
    /// subject's other data when the subject is erased.
    pub note_sealed: Option<Vec<u8>>,
    pub payload_sealed: Option<Vec<u8>>,
    pub received_at: DateTimeUtc,
    /// `business` or `calendar`: how the deadline is counted.
    pub clock_basis: String,
    pub due_on: Date,
    pub paused_at: Option<DateTimeUtc>,
    /// Sealed with the subject's key (context `request.pause_reason:<request id>`), like the note.
    pub pause_reason_sealed: Option<Vec<u8>>,
    pub paused_days: i32,
    pub extended_at: Option<DateTimeUtc>,
    /// Sealed with the subject's key (context `request.extension_reason:<request id>`), like the note.
    pub extension_reason_sealed: Option<Vec<u8>>,
    /// Sealed with the subject's key (context `request.rejection_reason:<request id>`), like the note.
    pub rejection_reason_sealed: Option<Vec<u8>>,
    pub completed_at: Option<DateTimeUtc>,
    pub handled_by: Option<String>,
    pub reminded_for_due_on: Option<Date>,
    pub overdue_notified: bool,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

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
    pub kind: RequestKind,
    pub origin: RequestOrigin,
    pub state: RequestState,
    pub idempotency_key: Option<String>,
    pub submitted_by: String,
    /// The submitter's note, sealed with the subject's key (context `request.note:<request id>`): it goes with the
    /// subject's other data when the subject is erased.
    pub note_sealed: Option<Vec<u8>>,
    pub payload_sealed: Option<Vec<u8>>,
    pub received_at: DateTimeUtc,
    /// The day the controller received the request from the person (its one-month deadline runs from it); `None` for
    /// requests submitted before it was asked.
    pub controller_received_on: Option<Date>,
    /// `OBJECTION` only: the purpose the person objects to (Art. 21).
    pub objected_purpose: Option<String>,
    pub clock_basis: ClockBasis,
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
    /// Paused after its due date had passed: it stays overdue while paused.
    pub paused_while_overdue: bool,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

crate::stored_enum! {
    /// What the individual asks for.
    pub enum RequestKind {
        Access = "access",
        Portability = "portability",
        Rectification = "rectification",
        Erasure = "erasure",
        Restriction = "restriction",
        Objection = "objection",
    }
}

impl RequestKind {
    /// Removal is owed within 30 business days (the policy's promise); every other answer within 30 calendar days.
    pub fn basis(self) -> ClockBasis {
        match self {
            RequestKind::Erasure => ClockBasis::Business,
            _ => ClockBasis::Calendar,
        }
    }
}

crate::stored_enum! {
    /// Where a request is in its life.
    pub enum RequestState {
        Received = "received",
        InProgress = "in_progress",
        /// Waiting for information from the controller: the deadline's clock is stopped.
        Paused = "paused",
        Completed = "completed",
        Rejected = "rejected",
    }
}

impl RequestState {
    pub fn is_final(self) -> bool {
        matches!(self, RequestState::Completed | RequestState::Rejected)
    }
}

crate::stored_enum! {
    /// Who started a request.
    pub enum RequestOrigin {
        /// Submitted by the client (the controller) for one of its subjects.
        Client = "client",
        /// Raised by Steward because the subject is known to be under 13.
        ChildUnder13 = "child_under_13",
    }
}

crate::stored_enum! {
    /// How a deadline is counted.
    pub enum ClockBasis {
        /// Weekends and the region's public holidays are skipped.
        Business = "business",
        Calendar = "calendar",
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

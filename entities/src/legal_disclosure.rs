//! A demand for a tenant's data from an authority, its review and what was disclosed (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_disclosures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: DemandKind,
    pub authority: String,
    pub reference: String,
    pub received_on: Date,
    pub scope: String,
    pub nondisclosure_order: bool,
    pub nondisclosure_until: Option<Date>,
    pub nondisclosure_reviewed_on: Option<Date>,
    /// `None` while under review.
    pub decision: Option<DisclosureDecision>,
    pub decision_note: Option<String>,
    pub reviewer: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary")]
    pub disclosed_categories: Option<crate::Names>,
    #[sea_orm(column_type = "JsonBinary")]
    pub disclosed_subject_ids: Option<crate::Ids>,
    pub disclosed_on: Option<Date>,
    pub notice_sent_at: Option<DateTimeUtc>,
    pub recorded_by: String,
    pub created_at: DateTimeUtc,
}

crate::stored_enum! {
    /// The legal instrument a demand for a tenant's data came with.
    pub enum DemandKind {
        /// An order to produce records or testimony.
        Subpoena = "subpoena",
        /// A court's authorisation to search for and seize data.
        SearchWarrant = "search_warrant",
        /// Any other order of a court.
        CourtOrder = "court_order",
        /// Any other demand with a legal basis (e.g. an authority's production order).
        OtherLegalProcess = "other_legal_process",
    }
}

crate::stored_enum! {
    /// What legal decided to do with a demand.
    pub enum DisclosureDecision {
        /// Disclose what it asks for.
        Disclose = "disclose",
        /// Disclose less than it asks for.
        Narrow = "narrow",
        /// Contest it before the authority or a court; nothing is disclosed meanwhile.
        Challenge = "challenge",
        /// Refuse it; nothing is disclosed.
        Refuse = "refuse",
    }
}

impl DisclosureDecision {
    /// Whether anything is handed over.
    pub fn discloses(self) -> bool {
        matches!(
            self,
            DisclosureDecision::Disclose | DisclosureDecision::Narrow
        )
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

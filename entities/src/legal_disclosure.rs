//! A demand for a tenant's data from an authority, its review and what was disclosed (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_disclosures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// subpoena, search_warrant, court_order, other_legal_process
    pub kind: String,
    pub authority: String,
    pub reference: String,
    pub received_on: Date,
    pub scope: String,
    pub nondisclosure_order: bool,
    pub nondisclosure_until: Option<Date>,
    pub nondisclosure_reviewed_on: Option<Date>,
    /// disclose, narrow, challenge, refuse
    pub decision: Option<String>,
    pub decision_note: Option<String>,
    pub reviewer: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub disclosed_categories: Option<String>,
    pub disclosed_subject_ids: Option<String>,
    pub disclosed_on: Option<Date>,
    pub notice_sent_at: Option<DateTimeUtc>,
    pub recorded_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

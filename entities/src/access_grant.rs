//! Access grants (region database): time-boxed, justified permission for one staff member to read a tenant's
//! personal values, approved by the tenant (or break-glass, with notice).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The staff member's token `sub`.
    pub grantee: String,
    pub justification: String,
    pub ticket: String,
    pub duration_minutes: i32,
    /// JSON array of subject ids; `None` opens every subject of the tenant.
    #[sea_orm(column_type = "JsonBinary")]
    pub subject_ids: Option<crate::Ids>,
    pub break_glass: bool,
    pub status: GrantDecision,
    pub requested_at: DateTimeUtc,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision_reason: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTimeUtc>,
}

crate::stored_enum! {
    /// What became of a grant request. An approved grant lapses at `expires_at`; that is computed, not stored.
    pub enum GrantDecision {
        Pending = "pending",
        Approved = "approved",
        Denied = "denied",
        Revoked = "revoked",
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

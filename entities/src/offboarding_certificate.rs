//! The signed certificate that a terminated tenant's personal data is gone (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "offboarding_certificates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The exact JSON text that was signed.
    pub document: String,
    /// Ed25519 signature, base64.
    pub signature: String,
    pub issued_at: DateTimeUtc,
    /// Whether every erasure propagation was acknowledged or confirmed when it was signed; `None` for certificates
    /// signed before interim and final ones were told apart.
    pub is_final: Option<bool>,
    /// The interim certificate a final one replaced (signed at termination, while propagations were outstanding).
    pub interim_document: Option<String>,
    pub interim_signature: Option<String>,
    pub interim_issued_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::ControlTenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

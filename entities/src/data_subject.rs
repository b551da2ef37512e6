//! Data subjects (region database): people whose personal data a tenant has us process. No login of their own.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_subjects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant's own reference for the person, sealed with the subject's key (context `subject.external_id`).
    pub external_id_sealed: Vec<u8>,
    /// HMAC of the external id under a per-tenant key: unique within the tenant, and how the subject is found by it.
    pub external_id_index: String,
    /// Empty: the subject's key lives in the region's subject-key database ([`crate::subject_key`]). The column
    /// held it (wrapped) until those databases came, and is emptied at start; it stays only because a landed
    /// migration made it `NOT NULL`.
    pub wrapped_key: Vec<u8>,
    pub birth_date_sealed: Option<Vec<u8>>,
    /// Set while the subject's processing is restricted (Art. 18): values are readable only for its requests.
    pub restricted_at: Option<DateTimeUtc>,
    pub restricted_by_request: Option<Uuid>,
    /// The client told us the person is under 13: no new personal data, erasure raised.
    #[sea_orm(column_name = "known_under_13")]
    pub known_under_13: bool,
    pub created_at: DateTimeUtc,
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

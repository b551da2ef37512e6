//! Personal data records (region database): one value of one category about one subject, stored only sealed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "personal_data")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subject_id: Uuid,
    pub category: String,
    pub purpose: String,
    /// Where the value came from, sealed with the subject's key (context `personal_data.source:<record id>`).
    pub source_sealed: Vec<u8>,
    pub collected_at: DateTimeUtc,
    pub sealed_value: Vec<u8>,
    pub blind_index: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The `OBJECTION` request that restricts this value (held for the purpose objected to) until the controller
    /// resolves it; kept once the objection is upheld.
    pub restricted_by_request: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
}

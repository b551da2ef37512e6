//! What is left of an erased subject (region database): ids, time and counts per category — no personal values.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "erasure_tombstones")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject_id: Uuid,
    pub request_id: Uuid,
    pub erased_at: DateTimeUtc,
    /// JSON object: category -> number of values erased.
    #[sea_orm(column_type = "JsonBinary")]
    pub counts: crate::Counts,
    pub values_erased: i32,
    pub origin: ErasureOrigin,
}

crate::stored_enum! {
    /// What erased a subject.
    pub enum ErasureOrigin {
        /// A request the client submitted.
        Client = "client",
        /// The request Steward raised for a subject known to be under 13.
        ChildUnder13 = "child_under_13",
        /// The end of the tenant's offboarding.
        Offboarding = "offboarding",
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

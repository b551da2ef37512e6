//! A tenant's objection to a sub-processor change, and how legal resolved it (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "objections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub notice_id: Uuid,
    pub tenant_id: Uuid,
    pub sub_processor_id: Uuid,
    pub reason: String,
    pub raised_by: String,
    pub raised_at: DateTimeUtc,
    /// `None` while the objection stands.
    pub resolution: Option<ObjectionResolution>,
    pub resolution_note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
}

crate::stored_enum! {
    /// How legal closed an objection.
    pub enum ObjectionResolution {
        /// The client withdrew it: the change proceeds for the tenant.
        WithdrawnByClient = "withdrawn_by_client",
        /// We will not use the sub-processor for this tenant.
        NotUsedForTenant = "not_used_for_tenant",
        /// The contract with the tenant ends.
        ContractTerminated = "contract_terminated",
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

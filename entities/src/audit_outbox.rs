//! An audit event (and, with it, any notice) owed to a tenant's region by a change committed in the control database
//! (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_outbox")]
pub struct Model {
    /// Also the id the event takes in the tenant's chain.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The `AuditEntry`, as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub entry: Json,
    /// What else the region owes, applied in the transaction that appends the event (JSON; a notice to the tenant's
    /// admins), or `None`.
    #[sea_orm(column_type = "JsonBinary")]
    pub effect: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

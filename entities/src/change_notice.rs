//! A sub-processor change announced to one tenant, with its effective date (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_notices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sub_processor_id: Uuid,
    pub tenant_id: Uuid,
    /// `new` or `replacement`.
    pub kind: String,
    pub effective_on: Date,
    /// `pending`, `active`, `blocked` (an objection stands) or `excluded` (not used for this tenant).
    pub status: String,
    pub created_at: DateTimeUtc,
    pub activated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

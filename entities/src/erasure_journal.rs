//! One erasure or retention deletion, recorded in the control database before the region deletes (see
//! `steward restore`): which tenant, which region, which ids.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "erasure_journal")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub region: String,
    /// `subjects`: whole subjects erased (`ids` are subject ids); `values`: records deleted (`ids` are record ids).
    pub kind: String,
    /// Comma-separated UUIDs.
    pub ids: String,
    /// The data-subject request that asked for it, if one did.
    pub request_id: Option<Uuid>,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

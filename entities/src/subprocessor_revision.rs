//! Every change to a sub-processor: who, when, why, before and after (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subprocessor_revisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sub_processor_id: Uuid,
    pub actor: String,
    pub at: DateTimeUtc,
    pub change: String,
    pub reason: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub before: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub after: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! A personal-data breach recorded by a privacy officer (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "breaches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub detected_at: DateTimeUtc,
    pub description: String,
    /// JSON arrays.
    #[sea_orm(column_type = "JsonBinary")]
    pub systems: crate::Names,
    #[sea_orm(column_type = "JsonBinary")]
    pub categories: crate::Names,
    pub region: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub sub_processor_ids: crate::Ids,
    pub recorded_by: String,
    pub created_at: DateTimeUtc,
    /// Art. 33(3)(c): the likely consequences (`None` for breaches recorded before it was asked).
    pub likely_consequences: Option<String>,
    /// Art. 33(3)(d): the measures taken or proposed, including to mitigate the effects.
    pub measures_taken: Option<String>,
    /// Art. 33(3)(b): where more information is obtained.
    pub contact_point: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

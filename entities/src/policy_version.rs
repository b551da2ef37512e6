//! A published version of the privacy policy or the terms (control database).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `privacy_policy` or `terms`.
    pub document: String,
    pub version: String,
    pub effective_on: Date,
    pub material: bool,
    /// What changes, in plain words (the public diff summary).
    pub summary: String,
    pub url: Option<String>,
    pub published_by: String,
    pub published_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

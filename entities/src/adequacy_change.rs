//! A change to an adequacy decision recorded by legal (control database), beyond the shipped baseline: a new or
//! re-dated decision, or its withdrawal.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "adequacy_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// ISO 3166-1 alpha-2; one row per country, the latest change legal recorded.
    #[sea_orm(unique)]
    pub country: String,
    /// The decision's date, when legal recorded one (a new decision, or a corrected date).
    pub decided_on: Option<Date>,
    /// From this day the decision no longer applies (not included in it); `None`: in force.
    pub withdrawn_on: Option<Date>,
    pub reason: String,
    pub recorded_by: String,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

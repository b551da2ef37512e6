//! The JSON values of each region database move to JSON columns (see [`crate::json_columns`]).

use sea_orm_migration::prelude::*;

use crate::json_columns::convert;

const COLUMNS: &[(&str, &str)] = &[
    ("jobs", "payload"),
    ("retention_runs", "counts"),
    ("erasure_propagations", "categories"),
    ("legal_holds", "subject_ids"),
    ("onward_transfers", "categories"),
    ("onward_transfers", "countries"),
    ("erasure_tombstones", "counts"),
    ("access_grants", "subject_ids"),
    ("access_log", "subject_ids"),
    ("access_log", "categories"),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        convert(manager, COLUMNS, false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        convert(manager, COLUMNS, true).await
    }
}

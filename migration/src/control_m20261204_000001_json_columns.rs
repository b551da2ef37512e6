//! The JSON values of the control database move to JSON columns (see [`crate::json_columns`]).

use sea_orm_migration::prelude::*;

use crate::json_columns::convert;

const COLUMNS: &[(&str, &str)] = &[
    ("jobs", "payload"),
    ("subprocessors", "countries"),
    ("subprocessors", "categories"),
    ("subprocessors", "mechanisms"),
    ("subprocessor_revisions", "before"),
    ("subprocessor_revisions", "after"),
    ("audit_outbox", "entry"),
    ("audit_outbox", "effect"),
    ("breaches", "systems"),
    ("breaches", "categories"),
    ("breaches", "sub_processor_ids"),
    ("legal_disclosures", "disclosed_categories"),
    ("legal_disclosures", "disclosed_subject_ids"),
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

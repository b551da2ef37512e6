//! A tenant's retention rule that staff shorten (or add, or remove) waits for its effective date, after the tenant was
//! told and its notice period passed; the tenant's `client_admin` can cancel it until then. Same columns as the
//! platform defaults' (see the control migration of the same day).

use sea_orm_migration::prelude::*;

use crate::control_m20261202_000001_instructions::{PendingChange, pending_columns};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in pending_columns() {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(RetentionRules::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            PendingChange::InForce,
            PendingChange::PendingPeriodDays,
            PendingChange::PendingEffectiveAt,
            PendingChange::PendingSetBy,
            PendingChange::PendingSetAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RetentionRules::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum RetentionRules {
    Table,
}

//! Deletion only on the controller's documented instruction (GDPR Art. 28(3)(a)).
//!
//! - A deleting offboarding begun by a platform admin is authorized by the tenant's `client_admin` or by a second
//!   platform admin before anything is deleted, and can be cancelled until the deletion starts: who asked, who
//!   authorized, when deletion started, and the status to return to on cancel.
//! - A platform default retention period that staff shorten (or add) is pending until its effective date, after every
//!   tenant was told and its notice period passed: `in_force` is false for a default not yet in force, and the
//!   `pending_*` columns hold the change waiting.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one change per ALTER TABLE.
        for column in [
            string_len_null(Tenants::OffboardingRequestedBy, 300),
            string_len_null(Tenants::OffboardingAuthorizedBy, 300),
            timestamp_with_time_zone_null(Tenants::OffboardingAuthorizedAt),
            timestamp_with_time_zone_null(Tenants::OffboardingErasureStartedAt),
            string_len_null(Tenants::OffboardingPreviousStatus, 24),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for column in pending_columns() {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(RetentionDefaults::Table)
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
                        .table(RetentionDefaults::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            Tenants::OffboardingRequestedBy,
            Tenants::OffboardingAuthorizedBy,
            Tenants::OffboardingAuthorizedAt,
            Tenants::OffboardingErasureStartedAt,
            Tenants::OffboardingPreviousStatus,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// The columns of a retention period that may wait for its effective date (shared with the region's rules).
pub(crate) fn pending_columns() -> [ColumnDef; 5] {
    [
        boolean(PendingChange::InForce).default(true).to_owned(),
        integer_null(PendingChange::PendingPeriodDays),
        timestamp_with_time_zone_null(PendingChange::PendingEffectiveAt),
        string_len_null(PendingChange::PendingSetBy, 300),
        timestamp_with_time_zone_null(PendingChange::PendingSetAt),
    ]
}

#[derive(DeriveIden)]
pub(crate) enum PendingChange {
    InForce,
    PendingPeriodDays,
    PendingEffectiveAt,
    PendingSetBy,
    PendingSetAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    OffboardingRequestedBy,
    OffboardingAuthorizedBy,
    OffboardingAuthorizedAt,
    OffboardingErasureStartedAt,
    OffboardingPreviousStatus,
}

#[derive(DeriveIden)]
enum RetentionDefaults {
    Table,
}

//! Contract end: a tenant's offboarding (the client's choice, its dates) and the signed certificate issued when its
//! personal data is gone. Certificates live in the control database so they outlast the tenant's data.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one change per ALTER TABLE.
        for column in [
            string_len_null(Tenants::OffboardingChoice, 24),
            timestamp_with_time_zone_null(Tenants::OffboardingStartedAt),
            timestamp_with_time_zone_null(Tenants::OffboardingDueAt),
            timestamp_with_time_zone_null(Tenants::TerminatedAt),
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
        manager
            .create_table(
                Table::create()
                    .table(OffboardingCertificates::Table)
                    .col(uuid(OffboardingCertificates::TenantId).primary_key())
                    .col(text(OffboardingCertificates::Document))
                    .col(string_len(OffboardingCertificates::Signature, 200))
                    .col(timestamp_with_time_zone(OffboardingCertificates::IssuedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(OffboardingCertificates::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Tenants::TerminatedAt,
            Tenants::OffboardingDueAt,
            Tenants::OffboardingStartedAt,
            Tenants::OffboardingChoice,
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

#[derive(DeriveIden)]
enum Tenants {
    Table,
    OffboardingChoice,
    OffboardingStartedAt,
    OffboardingDueAt,
    TerminatedAt,
}

#[derive(DeriveIden)]
enum OffboardingCertificates {
    Table,
    TenantId,
    Document,
    Signature,
    IssuedAt,
}

//! The record of processing a processor keeps (GDPR Art. 30(2)) needs what only people know:
//!
//! - each controller's contact, data protection officer and representative, kept by the tenant's `client_admin`
//!   (`tenants.controller_*`, `NULL` until given);
//! - the general description of the security measures (Art. 32(1)) as a maintained document with versions
//!   (`security_measures`), seeded with the description the records carried until now as version 1.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

/// The description every record carried before it became a maintained document.
pub(crate) const FIRST_VERSION: &str = "Personal data is encrypted at rest per data subject (AES-256-GCM under a per-subject key \
wrapped by a per-tenant key derived from a master key held outside the database); lookups use keyed hashes, never \
plaintext. Each tenant's data is kept in its region's database and reached only through a tenant-scoped access path. \
Staff reach personal data only through time-boxed, justified access grants approved by the client, and every such read \
is logged for the client. All changes are recorded in a hash-chained, tamper-evident audit log per tenant. Access is \
authenticated with signed tokens and authorised by role.";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Tenants::Table,
            vec![
                string_len_null(Tenants::ControllerContact, 500),
                string_len_null(Tenants::ControllerDpo, 500),
                string_len_null(Tenants::ControllerRepresentative, 500),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(SecurityMeasures::Table)
                    .col(integer(SecurityMeasures::Version).primary_key())
                    .col(text(SecurityMeasures::Text))
                    .col(string_len(SecurityMeasures::PublishedBy, 300))
                    .col(timestamp_with_time_zone(SecurityMeasures::PublishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(SecurityMeasures::Table)
                    .columns([
                        SecurityMeasures::Version,
                        SecurityMeasures::Text,
                        SecurityMeasures::PublishedBy,
                        SecurityMeasures::PublishedAt,
                    ])
                    .values_panic([
                        1.into(),
                        FIRST_VERSION.into(),
                        "steward".into(),
                        Expr::current_timestamp(),
                    ])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SecurityMeasures::Table).to_owned())
            .await?;
        columns::drop(
            manager,
            Tenants::Table,
            vec![
                Tenants::ControllerContact,
                Tenants::ControllerDpo,
                Tenants::ControllerRepresentative,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum Tenants {
    Table,
    ControllerContact,
    ControllerDpo,
    ControllerRepresentative,
}

#[derive(DeriveIden)]
enum SecurityMeasures {
    Table,
    Version,
    Text,
    PublishedBy,
    PublishedAt,
}

//! The shipped description of the security measures (version 1) said each tenant's key was derived from the master
//! key; since the master key versions (2026-12-08) tenant keys are random and sealed under a master key version, and
//! since the subject-key databases (2026-12-10) subjects' keys are kept apart from their values. A record of
//! processing that states a measure that is not the one in force misleads its reader: version 2 describes them as
//! they are. Published only where legal has not published a version of its own.

use sea_orm_migration::prelude::*;

use crate::control_m20261205_000004_records_of_processing::FIRST_VERSION;

const SECOND_VERSION: &str = "Personal data is encrypted at rest per data subject: each value with AES-256-GCM under \
a random per-subject key, kept in a subject-key database apart from the values and wrapped by a random per-tenant \
key, itself sealed under a versioned master key held outside the databases. Erasing a subject destroys its key, so a \
restored backup of the values opens nothing, and after a restore an erasure journal erases again whatever the backup \
brought back. Lookups use keyed hashes, never plaintext. Each tenant's data is kept in its region's database and \
reached only through a tenant-scoped access path. Staff reach personal data only through time-boxed, justified access \
grants approved by the client, and every such read is logged for the client. All changes are recorded in a \
hash-chained, tamper-evident audit log per tenant. Access is authenticated with signed tokens and authorised by role.";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let latest = db
            .query_one_raw(
                backend.build(
                    Query::select()
                        .columns([SecurityMeasures::Version, SecurityMeasures::Text])
                        .from(SecurityMeasures::Table)
                        .order_by(SecurityMeasures::Version, Order::Desc)
                        .limit(1),
                ),
            )
            .await?;
        let Some(latest) = latest else {
            return Ok(());
        };
        let version: i32 = latest.try_get("", "version")?;
        let text: String = latest.try_get("", "text")?;
        if version != 1 || text != FIRST_VERSION {
            return Ok(());
        }
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
                        2.into(),
                        SECOND_VERSION.into(),
                        "steward".into(),
                        Expr::current_timestamp(),
                    ])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(SecurityMeasures::Table)
                    .and_where(Expr::col(SecurityMeasures::Version).eq(2))
                    .and_where(Expr::col(SecurityMeasures::Text).eq(SECOND_VERSION))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SecurityMeasures {
    Table,
    Version,
    Text,
    PublishedBy,
    PublishedAt,
}

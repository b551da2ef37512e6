//! Versioned master keys. Everything Steward encrypts with is wrapped, in the end, by a master key of a numbered
//! version, so a new master key can replace an old one by re-wrapping rows (`steward keys rotate`) instead of
//! re-encrypting data:
//! - `key_root`: one row, the platform's key root (32 bytes) sealed under a master key version. Platform keys
//!   (certificate signing, webhook-secret wrapping, link signing) and the keys of tenants created before tenant keys
//!   were stored are derived from it. An existing deployment's root is its master key of version 1, stored on first
//!   start, so nothing derived from it changes.
//! - `master_key_checks`: per version, a one-way fingerprint of the key first used as that version, so two
//!   instances (or a restart) with different keys under one version number are refused instead of sealing with both.
//! - `tenants.keys_sealed` / `keys_version`: a tenant's keys (subject-key wrapping, email and external-id indexes),
//!   random for a tenant created from now on, sealed under a master key version; `NULL` for a tenant whose keys are
//!   still derived from the root, until a rotation stores them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyRoot::Table)
                    .if_not_exists()
                    .col(integer(KeyRoot::Id).primary_key())
                    .col(integer(KeyRoot::Version))
                    .col(binary(KeyRoot::Sealed))
                    .col(timestamp_with_time_zone(KeyRoot::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MasterKeyChecks::Table)
                    .if_not_exists()
                    .col(integer(MasterKeyChecks::Version).primary_key())
                    .col(binary(MasterKeyChecks::Fingerprint))
                    .col(timestamp_with_time_zone(MasterKeyChecks::RecordedAt))
                    .to_owned(),
            )
            .await?;
        columns::add(
            manager,
            Tenants::Table,
            vec![
                binary_null(Tenants::KeysSealed),
                integer_null(Tenants::KeysVersion),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenants_keys_version")
                    .table(Tenants::Table)
                    .col(Tenants::KeysVersion)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("tenants_keys_version")
                    .table(Tenants::Table)
                    .to_owned(),
            )
            .await?;
        columns::drop(
            manager,
            Tenants::Table,
            vec![Tenants::KeysSealed, Tenants::KeysVersion],
        )
        .await?;
        manager
            .drop_table(Table::drop().table(MasterKeyChecks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(KeyRoot::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum KeyRoot {
    Table,
    Id,
    Version,
    Sealed,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MasterKeyChecks {
    Table,
    Version,
    Fingerprint,
    RecordedAt,
}

#[derive(DeriveIden, Clone)]
enum Tenants {
    Table,
    KeysSealed,
    KeysVersion,
}

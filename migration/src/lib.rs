#![forbid(unsafe_code)]
//! Schema migrations of Steward's two kinds of database.
//!
//! - The **control** database holds what is the platform's: the tenants directory (with each tenant's region), role
//!   assignments and the platform audit chain.
//! - Each **region** database holds what is a tenant's: its users, and its audit chain (and, later, subjects and their
//!   personal data). A tenant's rows live only in its region's database.
//!
//! - Each region's **subject-key** database holds each data subject's key (wrapped), apart from the values it opens,
//!   so that a restored backup of the region database cannot bring an erased person back.
//!
//! Each kind keeps its own migrations table, so the two sets never mix even if someone points both at one database.
//! A landed migration is never edited, only followed by a new one; migrations never import the entities crate.

use std::future::Future;
use std::sync::Arc;

pub use sea_orm_migration::prelude::*;

mod columns;
mod control_m20261128_000001_foundation;
mod control_m20261129_000001_subprocessors;
mod control_m20261129_000002_accountability;
mod control_m20261130_000001_jobs;
mod control_m20261130_000002_retention_defaults;
mod control_m20261130_000003_offboarding;
mod control_m20261130_000004_policies;
mod control_m20261130_000005_authz_version;
mod control_m20261202_000001_instructions;
mod control_m20261203_000001_audit_outbox;
mod control_m20261203_000002_outbox_effects;
mod control_m20261204_000001_json_columns;
mod control_m20261205_000001_list_acceptance;
mod control_m20261205_000002_final_certificates;
mod control_m20261205_000003_breach_content;
mod control_m20261205_000004_records_of_processing;
mod control_m20261205_000005_children_rule;
mod control_m20261206_000001_jurisdiction_and_changes;
mod control_m20261207_000001_webhook_secrets;
mod control_m20261207_000002_erasure_journal;
mod control_m20261208_000001_master_key_versions;
mod control_m20261211_000001_security_measures_keys;
mod jobs_table;
mod json_columns;
mod keys_m20261210_000001_subject_keys;
mod region_m20261128_000001_foundation;
mod region_m20261129_000001_personal_data;
mod region_m20261129_000002_onward_transfers;
mod region_m20261130_000001_requests;
mod region_m20261130_000002_retention;
mod region_m20261130_000003_tenant_exports;
mod region_m20261130_000004_outbox;
mod region_m20261202_000001_retention_changes;
mod region_m20261203_000001_sealed_identifiers;
mod region_m20261203_000002_export_chunks;
mod region_m20261204_000001_json_columns;
mod region_m20261205_000001_subject_requests;
mod region_m20261207_000001_webhook_secrets;
mod region_m20261208_000001_export_rebuilds;
mod region_m20261211_000001_export_first_ready;

/// Migrations of the control database.
#[derive(Debug)]
pub struct ControlMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ControlMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(control_m20261128_000001_foundation::Migration),
            Box::new(control_m20261129_000001_subprocessors::Migration),
            Box::new(control_m20261129_000002_accountability::Migration),
            Box::new(control_m20261130_000001_jobs::Migration),
            Box::new(control_m20261130_000002_retention_defaults::Migration),
            Box::new(control_m20261130_000003_offboarding::Migration),
            Box::new(control_m20261130_000004_policies::Migration),
            Box::new(control_m20261130_000005_authz_version::Migration),
            Box::new(control_m20261202_000001_instructions::Migration),
            Box::new(control_m20261203_000001_audit_outbox::Migration),
            Box::new(control_m20261203_000002_outbox_effects::Migration),
            Box::new(control_m20261204_000001_json_columns::Migration),
            Box::new(control_m20261205_000001_list_acceptance::Migration),
            Box::new(control_m20261205_000002_final_certificates::Migration),
            Box::new(control_m20261205_000003_breach_content::Migration),
            Box::new(control_m20261205_000004_records_of_processing::Migration),
            Box::new(control_m20261205_000005_children_rule::Migration),
            Box::new(control_m20261206_000001_jurisdiction_and_changes::Migration),
            Box::new(control_m20261207_000001_webhook_secrets::Migration),
            Box::new(control_m20261207_000002_erasure_journal::Migration),
            Box::new(control_m20261208_000001_master_key_versions::Migration),
            Box::new(control_m20261211_000001_security_measures_keys::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "steward_control_migrations".into_iden()
    }
}

/// Migrations of every region database.
#[derive(Debug)]
pub struct RegionMigrator;

#[async_trait::async_trait]
impl MigratorTrait for RegionMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(region_m20261128_000001_foundation::Migration),
            Box::new(region_m20261129_000001_personal_data::Migration),
            Box::new(region_m20261129_000002_onward_transfers::Migration),
            Box::new(region_m20261130_000001_requests::Migration),
            Box::new(region_m20261130_000002_retention::Migration),
            Box::new(region_m20261130_000003_tenant_exports::Migration),
            Box::new(region_m20261130_000004_outbox::Migration),
            Box::new(region_m20261202_000001_retention_changes::Migration),
            Box::new(region_m20261203_000001_sealed_identifiers::Migration),
            Box::new(region_m20261203_000002_export_chunks::Migration),
            Box::new(region_m20261204_000001_json_columns::Migration),
            Box::new(region_m20261205_000001_subject_requests::Migration),
            Box::new(region_m20261207_000001_webhook_secrets::Migration),
            Box::new(region_m20261208_000001_export_rebuilds::Migration),
            Box::new(region_m20261211_000001_export_first_ready::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "steward_region_migrations".into_iden()
    }
}

/// Migrations of every region's subject-key database.
#[derive(Debug)]
pub struct KeysMigrator;

#[async_trait::async_trait]
impl MigratorTrait for KeysMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(keys_m20261210_000001_subject_keys::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "steward_keys_migrations".into_iden()
    }
}

/// What a migration that seals values already stored needs from the server: its keys. The server lends it for the
/// length of a migration run ([`with_sealer`]); migrations never hold key material of their own.
pub trait Sealer: Send + Sync {
    /// Seals `value` under the key of subject `subject` of `tenant` (given wrapped, as stored), bound to `context`.
    fn seal(
        &self,
        tenant: uuid::Uuid,
        subject: uuid::Uuid,
        wrapped_key: &[u8],
        context: &str,
        value: &str,
    ) -> Result<Vec<u8>, String>;
    /// The blind index of an external id within a tenant.
    fn external_id_index(&self, tenant: uuid::Uuid, external_id: &str) -> String;
    /// Called once per value converted.
    fn converted(&self);
}

tokio::task_local! {
    static SEALER: Arc<dyn Sealer>;
}

/// Runs `migrate` (e.g. `RegionMigrator::up`) with `sealer` available to the migrations that convert stored values.
pub async fn with_sealer<F: Future>(sealer: Arc<dyn Sealer>, migrate: F) -> F::Output {
    SEALER.scope(sealer, migrate).await
}

fn sealer() -> Option<Arc<dyn Sealer>> {
    SEALER.try_with(Arc::clone).ok()
}

/// The associated-data context a subject's external id is sealed under (the server seals with the same).
pub const EXTERNAL_ID_CONTEXT: &str = "subject.external_id";

/// A record's source is bound to the record, so it cannot be moved to another of the subject's records.
pub fn source_context(record: uuid::Uuid) -> String {
    format!("personal_data.source:{record}")
}

/// A request's note is bound to the request.
pub fn note_context(request: uuid::Uuid) -> String {
    format!("request.note:{request}")
}

/// A request's pause, extension or rejection reason (named by its former column) is bound to the request.
pub fn reason_context(column: &str, request: uuid::Uuid) -> String {
    format!("request.{column}:{request}")
}

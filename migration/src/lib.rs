#![forbid(unsafe_code)]
//! Schema migrations of Steward's two kinds of database.
//!
//! - The **control** database holds what is the platform's: the tenants directory (with each tenant's region), role
//!   assignments and the platform audit chain.
//! - Each **region** database holds what is a tenant's: its users, and its audit chain (and, later, subjects and their
//!   personal data). A tenant's rows live only in its region's database.
//!
//! Each kind keeps its own migrations table, so the two sets never mix even if someone points both at one database.
//! A landed migration is never edited, only followed by a new one; migrations never import the entities crate.

pub use sea_orm_migration::prelude::*;

mod control_m20261128_000001_foundation;
mod control_m20261129_000001_subprocessors;
mod control_m20261129_000002_accountability;
mod control_m20261130_000001_jobs;
mod control_m20261130_000002_retention_defaults;
mod control_m20261130_000003_offboarding;
mod control_m20261130_000004_policies;
mod control_m20261130_000005_authz_version;
mod control_m20261202_000001_instructions;
mod jobs_table;
mod region_m20261128_000001_foundation;
mod region_m20261129_000001_personal_data;
mod region_m20261129_000002_onward_transfers;
mod region_m20261130_000001_requests;
mod region_m20261130_000002_retention;
mod region_m20261130_000003_tenant_exports;
mod region_m20261130_000004_outbox;
mod region_m20261202_000001_retention_changes;

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
        ]
    }

    fn migration_table_name() -> DynIden {
        "steward_region_migrations".into_iden()
    }
}

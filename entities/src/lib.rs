#![forbid(unsafe_code)]
//! SeaORM entities of Steward, one module per table. They carry no business rules and know nothing of GraphQL.
//!
//! Tables of the control database: [`tenant`], [`role_assignment`], [`platform_audit_event`].
//! Tables of each region database (tenant-owned, all implementing [`TenantOwned`]): [`tenant_user`], [`audit_event`],
//! [`data_subject`], [`personal_data`], [`access_grant`], [`access_log`], [`notice`].

pub mod access_grant;
pub mod access_log;
pub mod audit_event;
pub mod audit_outbox;
pub mod authz_state;
pub mod breach;
pub mod breach_notification;
pub mod business_transfer;
pub mod change_notice;
pub mod communication_preference;
pub mod data_subject;
pub mod dsr_request;
pub mod erasure_propagation;
pub mod erasure_tombstone;
pub mod guardian_consent;
pub mod job;
pub mod legal_disclosure;
pub mod legal_hold;
pub mod mechanism_invalidation;
pub mod notice;
pub mod notice_delivery;
pub mod objection;
pub mod offboarding_certificate;
pub mod onward_transfer;
pub mod onward_transfer_subject;
pub mod personal_data;
pub mod platform_audit_event;
pub mod policy_version;
pub mod retention_default;
pub mod retention_rule;
pub mod retention_run;
pub mod role_assignment;
pub mod staff_notice;
pub mod subject_export;
pub mod subprocessor;
pub mod subprocessor_revision;
pub mod tenant;
pub mod tenant_export;
pub mod tenant_export_chunk;
pub mod tenant_user;
pub mod tenant_webhook;

use sea_orm::EntityTrait;

/// A table whose every row belongs to exactly one tenant. The server reaches such tables only through a tenant
/// `Scope`, which adds the tenant filter using this column; nothing else names it.
pub trait TenantOwned: EntityTrait {
    fn tenant_column() -> Self::Column;
}

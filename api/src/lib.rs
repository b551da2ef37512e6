#![forbid(unsafe_code)]
//! Steward: the multi-tenant data-processor platform.
//!
//! The library holds everything; `main.rs` only parses the command line and calls in here. The request path is
//! HTTP → [`app`] (limits, request id, panic guard) → [`auth`] (JWT → [`auth::Principal`]) → [`graphql`] resolvers →
//! [`tenancy::Scope`] (the only way to reach a tenant's tables, on its region's database) → domain services
//! ([`tenants`], [`users`]) → SeaORM, with an [`audit`] event written in the same transaction as each change.

pub mod accountability;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod deadlines;
pub mod demo;
pub mod edge;
pub mod erasure;
pub mod error;
pub mod grants;
pub mod graphql;
pub mod ids;
pub mod jobs;
pub mod mechanisms;
pub mod metrics;
pub mod offboarding;
pub mod outbound;
pub mod outbox;
pub mod pagination;
pub mod pii;
pub mod policies;
pub mod processing;
pub mod public;
pub mod requests;
pub mod retention;
pub mod subjects;
pub mod subprocessors;
pub mod taxonomy;
pub mod tenancy;
pub mod tenant_export;
pub mod tenants;
pub mod users;
pub mod validate;

pub use app::{AppState, Application};
pub use config::Config;
pub use error::AppError;

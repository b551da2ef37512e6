#![forbid(unsafe_code)]
//! Steward: the multi-tenant data-processor platform.
//!
//! The library holds everything; `main.rs` only parses the command line and calls in here. The request path is
//! HTTP → [`http`] (limits, request id, panic guard) → [`auth`] (JWT → [`auth::Principal`]) → [`schema`] (each
//! domain's resolvers) → [`tenancy::Scope`] (the only way to reach a tenant's tables, on its region's database) →
//! the domain services → SeaORM, with an [`audit`] event written in the same transaction as each change. The layers
//! and their one rule are in the README ("How the code is organised") and checked by the `layers` test.

// The foundation: no module here imports a domain (checked by the `layers` test).
pub mod audit;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod deadlines;
pub mod error;
pub mod graphql;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod outbound;
pub mod owed;
pub mod pagination;
pub mod taxonomy;
pub mod telemetry;
pub mod tenancy;
pub mod validate;

// The domains, each a folder with its service and its resolvers.
pub mod accountability;
pub mod erasure;
pub mod grants;
pub mod notices;
pub mod offboarding;
pub mod privacy_policy;
pub mod registry;
pub mod requests;
pub mod retention;
pub mod subjects;
pub mod tenants;
pub mod users;

// The top: what assembles the domains into a server.
pub mod cli;
pub mod demo;
pub mod http;
pub mod schema;
pub mod worker;

#[cfg(test)]
mod layers;

pub use config::Config;
pub use error::AppError;
pub use http::{AppState, Application};

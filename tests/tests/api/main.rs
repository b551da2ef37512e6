//! Black-box tests of the whole server, one binary for all of them (one link, run in parallel by the test runner).

mod access;
mod accountability;
mod audit;
mod audit_walk;
mod auth;
mod bad_input;
mod edge;
mod faults;
mod hardening;
mod isolation;
mod isolation_fuzz;
mod notices;
mod offboarding;
mod ops;
mod outbound;
mod personal;
mod policies;
mod processes;
mod races;
mod registry;
mod requests;
mod residency;
mod retention;
mod roles;
mod schema;
mod tenants;

//! One error type for the whole server, with a stable machine code per kind.
//!
//! Resolvers use `?` on [`AppError`]; async-graphql keeps the value as the error's source, and
//! [`graphql::finish_response`](crate::graphql::finish_response) turns it into `extensions.code`. Internal causes are
//! logged (with the request id of the surrounding span) and never returned.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Conflict(String),
    /// A request that is well-formed but refused by a rule; `reason` is a stable code in `extensions.reason`.
    #[error("{message}")]
    Refused {
        reason: &'static str,
        message: String,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The stable code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadInput(_) | AppError::Refused { .. } => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(cause.into())
    }

    /// Maps a unique-constraint violation to `CONFLICT` with the given sentence; anything else is internal.
    pub fn on_unique(err: DbErr, sentence: impl FnOnce() -> String) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(sentence()),
            _ => AppError::internal(err),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        AppError::internal(err)
    }
}

impl From<steward_policy::PolicyError> for AppError {
    fn from(err: steward_policy::PolicyError) -> Self {
        match err {
            e @ (steward_policy::PolicyError::WrongDomain { .. }
            | steward_policy::PolicyError::WrongKind { .. }
            | steward_policy::PolicyError::UnknownRole(_)) => AppError::BadInput(e.to_string()),
            e => AppError::internal(e),
        }
    }
}

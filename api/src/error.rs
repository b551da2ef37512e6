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
    /// A database (or other dependency) cannot be reached right now: HTTP 503 with `Retry-After`, worth retrying.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What clients read when a database is unreachable or its pool has no free connection.
pub const UNAVAILABLE_MESSAGE: &str =
    "the service cannot reach its database right now; nothing was changed; retry shortly";

impl AppError {
    /// The stable code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadInput(_) | AppError::Refused { .. } => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Unavailable(_) => "UNAVAILABLE",
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
            _ => AppError::from(err),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return AppError::Unavailable(UNAVAILABLE_MESSAGE.into());
        }
        AppError::internal(err)
    }
}

/// Whether a database error means "cannot reach the database now" (a pool with no free connection, a connection
/// refused or cut, a server shutting down or starting) rather than a fault in the statement.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    let sea_orm::RuntimeErr::SqlxError(sqlx) = runtime else {
        return matches!(err, DbErr::Conn(_));
    };
    match &**sqlx {
        Sqlx::Io(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed
        | Sqlx::Tls(_) => true,
        // SQLSTATE class 08 (connection exception) and 57P (operator intervention: shutdown, starting up).
        Sqlx::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => matches!(err, DbErr::Conn(_)),
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

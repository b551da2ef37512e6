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
        reason: RefusalReason,
        message: String,
    },
    /// A database (or other dependency) cannot be reached right now: HTTP 503 with `Retry-After`, worth retrying.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Why a well-formed request was refused by a rule: the stable code in an error's `extensions.reason` (its `code` is
/// then `BAD_USER_INPUT`). Clients may branch on these; the message beside them is for people.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// A request's deadline was extended already; it can be extended once.
    #[graphql(name = "ALREADY_EXTENDED")]
    AlreadyExtended,
    /// The legal hold was lifted already.
    #[graphql(name = "ALREADY_LIFTED")]
    AlreadyLifted,
    /// The tenant is offboarding or terminated already.
    #[graphql(name = "ALREADY_OFFBOARDING")]
    AlreadyOffboarding,
    /// The erasure propagation was acknowledged or confirmed already.
    #[graphql(name = "ALREADY_SETTLED")]
    AlreadySettled,
    /// The sub-processor is not declared to receive one of the transfer's categories.
    #[graphql(name = "CATEGORY_NOT_DECLARED")]
    CategoryNotDeclared,
    /// The person is known to be under 13: Steward takes no personal data about them, and the flag cannot be cleared.
    #[graphql(name = "CHILD_UNDER_13")]
    ChildUnder13,
    /// Staff set up only a tenant's first client admin; the client's admins give its roles.
    #[graphql(name = "CLIENT_ROLES_ARE_THE_CLIENTS")]
    ClientRolesAreTheClients,
    /// The request's deadline has passed: it can no longer be extended (the person must be told of an extension
    /// within the first period, Art. 12(3)), and it stays overdue until it is completed or rejected.
    #[graphql(name = "DEADLINE_PASSED")]
    DeadlinePassed,
    /// The transfer relies on the Data Privacy Framework, and the recipient is not certified under it.
    #[graphql(name = "ENTITY_NOT_CERTIFIED")]
    EntityNotCertified,
    /// The subject's data is erased already: complete the request instead.
    #[graphql(name = "ERASURE_CARRIED_OUT")]
    ErasureCarriedOut,
    /// The erasure job has not run yet.
    #[graphql(name = "ERASURE_PENDING")]
    ErasurePending,
    /// The offboarding's deletion has started and can no longer be cancelled.
    #[graphql(name = "ERASURE_STARTED")]
    ErasureStarted,
    /// The sub-processor is not used for this tenant.
    #[graphql(name = "EXCLUDED_FOR_TENANT")]
    ExcludedForTenant,
    /// The tenant export is still being built; the client is told when it is ready.
    #[graphql(name = "EXPORT_NOT_READY")]
    ExportNotReady,
    /// The extended deadline would fall more than three months (plus the days the clock was stopped) after the
    /// request was received: the most Art. 12(3) allows.
    #[graphql(name = "EXTENSION_TOO_LONG")]
    ExtensionTooLong,
    /// The person is 13 to 17: record a parent's or guardian's consent first.
    #[graphql(name = "GUARDIAN_CONSENT_REQUIRED")]
    GuardianConsentRequired,
    /// The request's state does not allow this transition.
    #[graphql(name = "INVALID_TRANSITION")]
    InvalidTransition,
    /// A legal hold covers the subject: its data cannot be erased until the hold is lifted.
    #[graphql(name = "LEGAL_HOLD")]
    LegalHold,
    /// The transfer mechanism was not valid on the transfer's date.
    #[graphql(name = "MECHANISM_INVALID_ON_DATE")]
    MechanismInvalidOnDate,
    /// The sub-processor has not signed the transfer mechanism named.
    #[graphql(name = "MECHANISM_NOT_AGREED")]
    MechanismNotAgreed,
    /// The transfer mechanism does not cover the destination country.
    #[graphql(name = "MECHANISM_NOT_APPLICABLE")]
    MechanismNotApplicable,
    /// The destination is a third country without an adequacy decision: name a transfer mechanism.
    #[graphql(name = "MECHANISM_REQUIRED")]
    MechanismRequired,
    /// There is no pending change to cancel (none was scheduled, or it already took effect).
    #[graphql(name = "NOTHING_PENDING")]
    NothingPending,
    /// A change must be announced its notice period before it takes effect: a policy's material change, or a
    /// sub-processor's announcement or change of terms (each tenant's contractual period).
    #[graphql(name = "NOTICE_PERIOD")]
    NoticePeriod,
    /// The sub-processor was never announced to this tenant.
    #[graphql(name = "NOT_ANNOUNCED_TO_TENANT")]
    NotAnnouncedToTenant,
    /// Guardian consent is recorded for subjects aged 13 to 17 only.
    #[graphql(name = "NOT_A_MINOR")]
    NotAMinor,
    /// The tenant is not offboarding.
    #[graphql(name = "NOT_OFFBOARDING")]
    NotOffboarding,
    /// The subject's processing is not restricted.
    #[graphql(name = "NOT_RESTRICTED")]
    NotRestricted,
    /// The sub-processor becomes effective for this tenant only later (its objection window is open).
    #[graphql(name = "NOT_YET_EFFECTIVE")]
    NotYetEffective,
    /// A certificate exists only for a completed erasure request.
    #[graphql(name = "NO_CERTIFICATE")]
    NoCertificate,
    /// The tenant's objection to the sub-processor stands.
    #[graphql(name = "OBJECTED")]
    Objected,
    /// The person objected to processing for this purpose (Art. 21): nothing is added, moved to it or transferred for
    /// it while the objection is handled or once it was upheld.
    #[graphql(name = "PURPOSE_OBJECTED")]
    PurposeObjected,
    /// A request verifies at most one audit chain.
    #[graphql(name = "ONE_VERIFICATION_PER_REQUEST")]
    OneVerificationPerRequest,
    /// A sub-processor has not yet acknowledged or confirmed the erasure.
    #[graphql(name = "PROPAGATION_OPEN")]
    PropagationOpen,
    /// A personal data record the request names no longer exists.
    #[graphql(name = "RECORD_GONE")]
    RecordGone,
    /// The change would take effect in the past.
    #[graphql(name = "RETROACTIVE")]
    Retroactive,
    /// A second person must authorize this: the client admin, or another long-standing platform admin.
    #[graphql(name = "SECOND_PERSON_REQUIRED")]
    SecondPersonRequired,
    /// The subject was erased; there is nothing left to act on.
    #[graphql(name = "SUBJECT_ERASED")]
    SubjectErased,
    /// The subject's processing is restricted; lift the restriction first.
    #[graphql(name = "SUBJECT_RESTRICTED")]
    SubjectRestricted,
    /// The sub-processor is retired.
    #[graphql(name = "SUBPROCESSOR_RETIRED")]
    SubprocessorRetired,
    /// The tenant has a client admin: its admins invite its users and give its roles.
    #[graphql(name = "TENANT_HAS_ADMIN")]
    TenantHasAdmin,
    /// The tenant is offboarding: no new personal data is collected.
    #[graphql(name = "TENANT_OFFBOARDING")]
    TenantOffboarding,
    /// The subject holds the most personal data records one subject may hold.
    #[graphql(name = "TOO_MANY_RECORDS")]
    TooManyRecords,
}

impl RefusalReason {
    /// The code as clients read it.
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::AlreadyExtended => "ALREADY_EXTENDED",
            RefusalReason::AlreadyLifted => "ALREADY_LIFTED",
            RefusalReason::AlreadyOffboarding => "ALREADY_OFFBOARDING",
            RefusalReason::AlreadySettled => "ALREADY_SETTLED",
            RefusalReason::CategoryNotDeclared => "CATEGORY_NOT_DECLARED",
            RefusalReason::ChildUnder13 => "CHILD_UNDER_13",
            RefusalReason::ClientRolesAreTheClients => "CLIENT_ROLES_ARE_THE_CLIENTS",
            RefusalReason::DeadlinePassed => "DEADLINE_PASSED",
            RefusalReason::EntityNotCertified => "ENTITY_NOT_CERTIFIED",
            RefusalReason::ErasureCarriedOut => "ERASURE_CARRIED_OUT",
            RefusalReason::ErasurePending => "ERASURE_PENDING",
            RefusalReason::ErasureStarted => "ERASURE_STARTED",
            RefusalReason::ExcludedForTenant => "EXCLUDED_FOR_TENANT",
            RefusalReason::ExportNotReady => "EXPORT_NOT_READY",
            RefusalReason::ExtensionTooLong => "EXTENSION_TOO_LONG",
            RefusalReason::GuardianConsentRequired => "GUARDIAN_CONSENT_REQUIRED",
            RefusalReason::InvalidTransition => "INVALID_TRANSITION",
            RefusalReason::LegalHold => "LEGAL_HOLD",
            RefusalReason::MechanismInvalidOnDate => "MECHANISM_INVALID_ON_DATE",
            RefusalReason::MechanismNotAgreed => "MECHANISM_NOT_AGREED",
            RefusalReason::MechanismNotApplicable => "MECHANISM_NOT_APPLICABLE",
            RefusalReason::MechanismRequired => "MECHANISM_REQUIRED",
            RefusalReason::NothingPending => "NOTHING_PENDING",
            RefusalReason::NoticePeriod => "NOTICE_PERIOD",
            RefusalReason::NotAnnouncedToTenant => "NOT_ANNOUNCED_TO_TENANT",
            RefusalReason::NotAMinor => "NOT_A_MINOR",
            RefusalReason::NotOffboarding => "NOT_OFFBOARDING",
            RefusalReason::NotRestricted => "NOT_RESTRICTED",
            RefusalReason::NotYetEffective => "NOT_YET_EFFECTIVE",
            RefusalReason::NoCertificate => "NO_CERTIFICATE",
            RefusalReason::Objected => "OBJECTED",
            RefusalReason::OneVerificationPerRequest => "ONE_VERIFICATION_PER_REQUEST",
            RefusalReason::PropagationOpen => "PROPAGATION_OPEN",
            RefusalReason::PurposeObjected => "PURPOSE_OBJECTED",
            RefusalReason::RecordGone => "RECORD_GONE",
            RefusalReason::Retroactive => "RETROACTIVE",
            RefusalReason::SecondPersonRequired => "SECOND_PERSON_REQUIRED",
            RefusalReason::SubjectErased => "SUBJECT_ERASED",
            RefusalReason::SubjectRestricted => "SUBJECT_RESTRICTED",
            RefusalReason::SubprocessorRetired => "SUBPROCESSOR_RETIRED",
            RefusalReason::TenantHasAdmin => "TENANT_HAS_ADMIN",
            RefusalReason::TenantOffboarding => "TENANT_OFFBOARDING",
            RefusalReason::TooManyRecords => "TOO_MANY_RECORDS",
        }
    }
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

#[cfg(test)]
mod refusal_tests {
    use async_graphql::resolver_utils::EnumType;

    use super::RefusalReason;

    /// The code in `extensions.reason` is the value the schema documents under `RefusalReason`.
    #[test]
    fn refusal_codes_are_their_schema_names() {
        let items = RefusalReason::items();
        assert!(items.len() >= 40);
        for item in items {
            assert_eq!(item.value.code(), item.name);
        }
    }
}

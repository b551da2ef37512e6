//! Contract end (GDPR Art. 28(3)(g)): delete, or return then delete, all of a tenant's personal data at the
//! controller's choice, and issue a signed certificate that it is gone.
//!
//! `begin` (platform admin, on the client's instruction) moves the tenant to `offboarding`: nothing new is collected,
//! clients still read. Nothing is deleted on one staff member's word (GDPR Art. 28(3)(a)): the deletion must be
//! authorized by the tenant's `client_admin` (the controller's instruction, recorded in Steward) or by a second
//! platform admin, the grace period is at least [`MIN_GRACE_DAYS`], and either side can cancel until the deletion
//! starts (the tenant returns to the status it had). With `RETURN_THEN_DELETE` a job builds the full export for the client admin to download. When
//! the grace period ends, the finishing job erases every subject exactly as an erasure does — values, guardian
//! consents, exports and the wrapped key, with a tombstone and propagations to the sub-processors that received data
//! — in batches, then deletes the export, signs the certificate and marks the tenant `terminated`. A legal hold keeps
//! the subjects it covers (and the tenant in `offboarding`) until lifted.

mod finish;

pub(crate) use finish::*;

pub mod export;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::Signer;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use steward_entities::erasure_tombstone::ErasureOrigin;
use steward_entities::{
    audit_event, data_subject, erasure_propagation, erasure_tombstone, offboarding_certificate,
    personal_data, tenant, tenant_export,
};
use steward_policy::{ActorKind, Permission};

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::jobs::{Job, Outcome};
use crate::owed::{self, Owed};
use crate::tenancy::{Scope, Tenancy, TenantRecord, TenantStatus};

/// The `origin` of the tombstones an offboarding writes.
const OFFBOARDING_ORIGIN: ErasureOrigin = ErasureOrigin::Offboarding;
const MAX_GRACE_DAYS: i32 = 365;
/// The shortest grace period: the window in which a deleting offboarding can still be cancelled.
pub const MIN_GRACE_DAYS: i32 = 7;
pub const DEFAULT_GRACE_DAYS: i32 = 30;
/// Subjects erased per transaction, and transactions per job run, when a tenant is terminated.
const SUBJECTS_PER_BATCH: u64 = 100;
const BATCHES_PER_RUN: usize = 20;

pub use steward_entities::tenant::OffboardingChoice as Choice;

/// Begins a tenant's offboarding (`platform_admin`).
pub async fn begin(
    tenancy: &Tenancy,
    principal: &Principal,
    tenant_id: TenantId,
    choice: Choice,
    grace_days: i32,
) -> Result<TenantRecord, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TenantLifecycle)
        .await?;
    if !(MIN_GRACE_DAYS..=MAX_GRACE_DAYS).contains(&grace_days) {
        return Err(AppError::BadInput(format!(
            "`graceDays` must be between {MIN_GRACE_DAYS} and {MAX_GRACE_DAYS}"
        )));
    }
    let record = tenancy
        .find(tenant_id)
        .await?
        .ok_or_else(|| crate::tenancy::not_found(tenant_id))?;
    if matches!(
        record.status,
        TenantStatus::Offboarding | TenantStatus::Terminated
    ) {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::AlreadyOffboarding,
            message: format!("this tenant is already {}", record.status.as_str()),
        });
    }
    let now = Utc::now();
    let due = now + Duration::days(i64::from(grace_days));
    let control = platform.control().begin().await?;
    let updated = tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, TenantStatus::Offboarding.into())
        .col_expr(tenant::Column::OffboardingChoice, Some(choice).into())
        .col_expr(tenant::Column::OffboardingStartedAt, Some(now).into())
        .col_expr(tenant::Column::OffboardingDueAt, Some(due).into())
        .col_expr(
            tenant::Column::OffboardingRequestedBy,
            Some(principal.label()).into(),
        )
        .col_expr(
            tenant::Column::OffboardingAuthorizedBy,
            Option::<String>::None.into(),
        )
        .col_expr(
            tenant::Column::OffboardingAuthorizedAt,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(
            tenant::Column::OffboardingPreviousStatus,
            Some(record.status).into(),
        )
        .col_expr(tenant::Column::UpdatedAt, now.into())
        .filter(tenant::Column::Id.eq(tenant_id.0))
        .filter(tenant::Column::Status.eq(record.status))
        .exec(&control)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the tenant's status changed meanwhile; reload and retry".into(),
        ));
    }
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "tenant.offboarding_started", "tenant", tenant_id)
            .with_detail(json!({ "choice": choice.as_str(), "grace_days": grace_days })),
    )
    .await?;
    crate::tenancy::assignments::bump_version(&control).await?;
    // What the tenant's region owes (its export and jobs, the notice, the event on its chain) commits with the
    // change, through the outbox: neither database can show an offboarding the other does not.
    let mut work = Vec::new();
    if choice == Choice::ReturnThenDelete {
        work.push(Owed::StartTenantExport { due: Some(due) });
        work.push(Owed::Job {
            job: Job::BuildTenantExport { tenant: tenant_id },
            run_at: now,
        });
    }
    work.push(Owed::Job {
        job: Job::FinishOffboarding { tenant: tenant_id },
        run_at: due,
    });
    work.push(Owed::notice(
        "tenant.offboarding",
        "Contract end: confirm or cancel the deletion of your data",
        format!(
            "{} began your offboarding ({}). Nothing new is collected. Nothing is deleted unless one of your admins \
             confirms it (authorizeOffboarding) or a second platform admin approves it; then, on {}, every data \
             subject's values and keys are deleted and sub-processors are told, and a signed certificate is issued. \
             Until the deletion starts, your admins can cancel it (cancelOffboarding).{}",
            principal.label(),
            choice.as_str().replace('_', " "),
            due.date_naive(),
            if choice == Choice::ReturnThenDelete {
                " A full export of your personal data is being prepared for your admins to download (tenantExport)."
            } else {
                ""
            }
        ),
    ));
    // The tenant's own chain records it too, where the client can verify it.
    let deferred = owed::defer(
        &control,
        tenant_id,
        &AuditEntry::by(principal, "tenant.offboarding_started", "tenant", tenant_id).with_detail(
            json!({ "choice": choice.as_str(), "due_at": audit::canonical_time(due) }),
        ),
        work,
    )
    .await?;
    control.commit().await?;
    tenancy.forget_tenant(tenant_id);
    owed::apply_now(tenancy, deferred).await;
    Ok(TenantRecord {
        status: TenantStatus::Offboarding,
        updated_at: now,
        ..record
    })
}

/// How long a platform admin appointed by the one who began an offboarding must have held the role to authorize it.
const SECOND_ADMIN_STANDING_DAYS: i64 = 30;

/// A second platform admin is a second person only if the first did not just make them one: whoever holds the role
/// only since the offboarding began, or was given it by the admin who began it less than
/// [`SECOND_ADMIN_STANDING_DAYS`] before, cannot authorize it (the client's admin still can).
async fn refuse_appointed_second(
    tenancy: &Tenancy,
    principal: &Principal,
    t: &tenant::Model,
) -> Result<(), AppError> {
    let held = steward_entities::role_assignment::Entity::find()
        .filter(steward_entities::role_assignment::Column::ActorKind.eq("staff"))
        .filter(steward_entities::role_assignment::Column::Subject.eq(principal.subject.as_str()))
        .filter(
            steward_entities::role_assignment::Column::Role
                .eq(steward_policy::Role::PlatformAdmin.as_str()),
        )
        .all(tenancy.system().control())
        .await?;
    let Some(began) = t.offboarding_started_at else {
        return Ok(());
    };
    let independent = held.iter().any(|a| {
        a.assigned_at < began
            && (Some(a.assigned_by.as_str()) != t.offboarding_requested_by.as_deref()
                || a.assigned_at < began - Duration::days(SECOND_ADMIN_STANDING_DAYS))
    });
    if independent {
        return Ok(());
    }
    Err(AppError::Refused {
        reason: crate::error::RefusalReason::SecondPersonRequired,
        message: "a second platform admin must have held the role since before this offboarding began, and for 30 \
                  days if the admin who began it appointed them; otherwise the tenant's client_admin authorizes"
            .into(),
    })
}

/// Authorizes the deletion of a departing tenant's data: its `client_admin` (the controller's instruction) or a
/// platform admin other than the one who began the offboarding (and not appointed by them, nor since it began).
pub async fn authorize(
    tenancy: &Tenancy,
    principal: &Principal,
    tenant_id: Option<TenantId>,
) -> Result<TenantRecord, AppError> {
    let t = offboarding_of(tenancy, principal, tenant_id).await?;
    if principal.kind == ActorKind::Staff
        && t.offboarding_requested_by.as_deref() == Some(principal.label().as_str())
    {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::SecondPersonRequired,
            message: "the platform admin who began an offboarding cannot also authorize its deletion: the \
                      tenant's client_admin or a second platform admin must"
                .into(),
        });
    }
    if principal.kind == ActorKind::Staff {
        refuse_appointed_second(tenancy, principal, &t).await?;
    }
    if let Some(by) = &t.offboarding_authorized_by {
        return Err(AppError::Conflict(format!(
            "the deletion was already authorized by {by}"
        )));
    }
    let now = Utc::now();
    let tenant = TenantId(t.id);
    // The scope first: on SQLite the control database has one writer, which the transaction below holds.
    let scope = tenancy.system_scope(tenant).await?;
    let control = scope.control().begin().await?;
    let updated = tenant::Entity::update_many()
        .col_expr(
            tenant::Column::OffboardingAuthorizedBy,
            Some(principal.label()).into(),
        )
        .col_expr(tenant::Column::OffboardingAuthorizedAt, Some(now).into())
        .filter(tenant::Column::Id.eq(t.id))
        .filter(tenant::Column::Status.eq(TenantStatus::Offboarding))
        .filter(tenant::Column::OffboardingAuthorizedBy.is_null())
        .exec(&control)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the offboarding changed meanwhile; reload and retry".into(),
        ));
    }
    let detail = json!({ "due_at": t.offboarding_due_at.map(audit::canonical_time), "requested_by": t.offboarding_requested_by });
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "tenant.offboarding_authorized", "tenant", tenant)
            .with_detail(detail.clone()),
    )
    .await?;
    let mut work = Vec::new();
    // The finishing job may have gone back to sleep while it waited for this: it runs at the due date (or now).
    if let Some(due) = t.offboarding_due_at {
        work.push(Owed::RescheduleJob {
            key: finish_key(tenant),
            run_at: due.max(now),
        });
    }
    work.push(Owed::notice(
        "tenant.offboarding",
        "The deletion of your data was authorized",
        format!(
            "{} authorized the deletion. On {} every data subject's values and keys are deleted; until then your \
             admins can still cancel it (cancelOffboarding).",
            principal.label(),
            t.offboarding_due_at
                .map(|d| d.date_naive().to_string())
                .unwrap_or_default()
        ),
    ));
    let deferred = owed::defer(
        &control,
        tenant,
        &AuditEntry::by(principal, "tenant.offboarding_authorized", "tenant", tenant)
            .with_detail(detail),
        work,
    )
    .await?;
    control.commit().await?;
    tenancy.forget_tenant(tenant);
    owed::apply_now(tenancy, deferred).await;
    tenancy
        .find(tenant)
        .await?
        .ok_or_else(|| crate::tenancy::not_found(tenant))
}

/// Cancels an offboarding before its deletion starts (the tenant's `client_admin` or a platform admin): the tenant
/// returns to the status it had, a prepared export is deleted.
pub async fn cancel(
    tenancy: &Tenancy,
    principal: &Principal,
    tenant_id: Option<TenantId>,
    reason: &str,
) -> Result<TenantRecord, AppError> {
    let reason = crate::validate::text("reason", reason, 1000)?;
    let t = offboarding_of(tenancy, principal, tenant_id).await?;
    if t.offboarding_erasure_started_at.is_some() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ErasureStarted,
            message: "the deletion has started and cannot be cancelled".into(),
        });
    }
    let tenant = TenantId(t.id);
    let back = t
        .offboarding_previous_status
        .unwrap_or(TenantStatus::Active);
    let now = Utc::now();
    let scope = tenancy.system_scope(tenant).await?;
    let control = scope.control().begin().await?;
    let none_time = || Option::<DateTime<Utc>>::None;
    let updated = tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, back.into())
        .col_expr(
            tenant::Column::OffboardingChoice,
            Option::<String>::None.into(),
        )
        .col_expr(tenant::Column::OffboardingStartedAt, none_time().into())
        .col_expr(tenant::Column::OffboardingDueAt, none_time().into())
        .col_expr(
            tenant::Column::OffboardingRequestedBy,
            Option::<String>::None.into(),
        )
        .col_expr(
            tenant::Column::OffboardingAuthorizedBy,
            Option::<String>::None.into(),
        )
        .col_expr(tenant::Column::OffboardingAuthorizedAt, none_time().into())
        .col_expr(
            tenant::Column::OffboardingPreviousStatus,
            Option::<String>::None.into(),
        )
        .col_expr(tenant::Column::UpdatedAt, now.into())
        .filter(tenant::Column::Id.eq(t.id))
        .filter(tenant::Column::Status.eq(TenantStatus::Offboarding))
        .filter(tenant::Column::OffboardingErasureStartedAt.is_null())
        .exec(&control)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ErasureStarted,
            message: "the deletion has started and cannot be cancelled".into(),
        });
    }
    let detail = json!({ "reason": reason, "status": back.as_str() });
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "tenant.offboarding_cancelled", "tenant", tenant)
            .with_detail(detail.clone()),
    )
    .await?;
    crate::tenancy::assignments::bump_version(&control).await?;
    // The offboarding's jobs go with it, so that a later offboarding schedules its own; and its export.
    let work = vec![
        Owed::CancelJobs {
            keys: vec![crate::jobs::tenant_export_key(tenant), finish_key(tenant)],
        },
        Owed::DeleteTenantExport,
        Owed::notice(
            "tenant.offboarding",
            "The offboarding was cancelled",
            format!(
                "{} cancelled the offboarding: {reason}. Nothing was deleted; the tenant is {} again.",
                principal.label(),
                back.as_str()
            ),
        ),
    ];
    let deferred = owed::defer(
        &control,
        tenant,
        &AuditEntry::by(principal, "tenant.offboarding_cancelled", "tenant", tenant)
            .with_detail(detail),
        work,
    )
    .await?;
    control.commit().await?;
    tenancy.forget_tenant(tenant);
    owed::apply_now(tenancy, deferred).await;
    tenancy
        .find(tenant)
        .await?
        .ok_or_else(|| crate::tenancy::not_found(tenant))
}

/// The departing tenant `principal` may authorize or cancel the offboarding of: its own (`client_admin`, who holds
/// `tenant:settings`) or any (`platform_admin`). Another tenant's id is `NOT_FOUND`.
async fn offboarding_of(
    tenancy: &Tenancy,
    principal: &Principal,
    tenant_id: Option<TenantId>,
) -> Result<tenant::Model, AppError> {
    let tenant = match principal.kind {
        ActorKind::Staff => {
            tenancy
                .require_platform(principal, Permission::TenantLifecycle)
                .await?;
            tenant_id.ok_or_else(|| AppError::BadInput("`tenantId` is required".into()))?
        }
        _ => tenancy
            .scope(principal, tenant_id, Permission::TenantSettings)
            .await?
            .tenant_id(),
    };
    let t = details(tenancy, tenant)
        .await?
        .ok_or_else(|| crate::tenancy::not_found(tenant))?;
    if t.status != TenantStatus::Offboarding {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NotOffboarding,
            message: format!("this tenant is {}, not offboarding", t.status),
        });
    }
    Ok(t)
}

/// The offboarding details of a tenant, from the directory.
pub async fn details(
    tenancy: &Tenancy,
    tenant: TenantId,
) -> Result<Option<tenant::Model>, AppError> {
    Ok(tenant::Entity::find_by_id(tenant.0)
        .one(tenancy.system().control())
        .await?)
}

/// The signed certificate of a terminated tenant.
pub async fn certificate(scope: &Scope) -> Result<offboarding_certificate::Model, AppError> {
    offboarding_certificate::Entity::find_by_id(scope.tenant_id().0)
        .one(scope.control())
        .await?
        .ok_or_else(|| {
            AppError::NotFound(
                "no offboarding certificate: it is issued when the tenant's data has been deleted"
                    .into(),
            )
        })
}

/// The deduplication key of a tenant's offboarding end.
fn finish_key(tenant: TenantId) -> String {
    Job::FinishOffboarding { tenant }.key(tenant.0)
}

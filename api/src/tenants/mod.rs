//! Tenants: creating clients in a region, listing them, and their lifecycle (active ⇄ suspended).
//!
//! A tenant's directory row lives in the control database; everything that is the tenant's own — starting with the
//! first event of its audit chain — lives only in its region's database.

pub mod graphql;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde_json::json;
use steward_entities::tenant;
use steward_policy::Permission;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::pagination::{Page, PageOf};
use crate::tenancy::{Scope, Tenancy, TenantRecord, TenantStatus};

const MAX_NAME_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 1000;

/// Where a tenant is established and keeps its days: each part optional where a default applies.
#[derive(Clone, Debug, Default)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2; default: the region's (`DE` for `eu`, `US` for `us`).
    pub country: Option<String>,
    /// A subdivision with its own public holidays (a German Land, a Swiss canton, a US state…).
    pub subdivision: Option<String>,
    /// An IANA time zone; default: the country's.
    pub time_zone: Option<String>,
}

/// The country a tenant in `region` is taken to be established in when none is given.
fn region_country(region: &str) -> Option<&'static str> {
    match region {
        "eu" => Some("DE"),
        "us" => Some("US"),
        _ => None,
    }
}

/// Checks a jurisdiction against the shipped calendars: `(country, subdivision, time zone)`, canonical.
fn checked(region: &str, j: Jurisdiction) -> Result<(String, Option<String>, String), AppError> {
    let country = match j.country.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => crate::registry::mechanisms::country(c)?,
        _ => region_country(region)
            .ok_or_else(|| AppError::BadInput("give the tenant's `country`".into()))?
            .to_owned(),
    };
    let subdivision = j
        .subdivision
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let known = crate::deadlines::subdivisions(&country);
            known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s))
                .map(|k| (*k).to_owned())
                .ok_or_else(|| crate::deadlines::calendar(&country, Some(s)).unwrap_err())
        })
        .transpose()?;
    let calendar = crate::deadlines::calendar(&country, subdivision.as_deref())?;
    let zone = match j.time_zone.as_deref().map(str::trim) {
        Some(z) if !z.is_empty() => crate::deadlines::zone(z)?,
        _ => crate::deadlines::zone(&calendar.default_time_zone)?,
    };
    Ok((country, subdivision, zone.name().to_owned()))
}

/// Creates a tenant in `region`, established in `jurisdiction`. Platform admins only.
pub async fn create(
    tenancy: &Tenancy,
    principal: &Principal,
    name: &str,
    region: &str,
    jurisdiction: Jurisdiction,
) -> Result<TenantRecord, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TenantCreate)
        .await?;
    let name = clean_name(name)?;
    let region = region.trim();
    if !tenancy.has_region(region) {
        let known: Vec<&str> = tenancy.region_names().collect();
        return Err(AppError::BadInput(format!(
            "unknown region `{region}`: choose one of {}",
            known.join(", ")
        )));
    }
    let (country, subdivision, time_zone) = checked(region, jurisdiction)?;

    let id = TenantId::new();
    let now = Utc::now();
    // The tenant's own random keys, sealed under the current master key version.
    let (keys_version, keys_sealed) = tenancy
        .keyring()
        .new_tenant_keys(id)
        .map_err(AppError::internal)?;
    let control = platform.control().begin().await?;
    // The tenant accepts the sub-processor list in force (and is told of the entries still in their window), in the
    // transaction that creates it.
    let (list_version, mut owed) = crate::registry::bind_new_tenant(&control, id, now).await?;
    let model = tenant::ActiveModel {
        id: Set(id.0),
        name: Set(name.clone()),
        name_key: Set(name_key(&name)),
        region: Set(region.to_owned()),
        status: Set(TenantStatus::Active),
        status_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        notice_period_days: Set(crate::retention::DEFAULT_NOTICE_PERIOD_DAYS),
        offboarding_choice: Set(None),
        offboarding_started_at: Set(None),
        offboarding_due_at: Set(None),
        terminated_at: Set(None),
        subprocessors_accepted_version: Set(Some(list_version)),
        children_rule: Set(tenant::ChildrenRule::Seed),
        subprocessors_accepted_at: Set(Some(now)),
        country: Set(country.clone()),
        subdivision: Set(subdivision.clone()),
        time_zone: Set(time_zone.clone()),
        keys_sealed: Set(Some(keys_sealed)),
        keys_version: Set(Some(keys_version)),
        ..Default::default()
    }
    .insert(&control)
    .await
    .map_err(|e| AppError::on_unique(e, || format!("a tenant named `{name}` already exists")))?;
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "tenant.created", "tenant", id)
            .with_detail(json!({ "region": region })),
    )
    .await?;

    // The tenant's own chain starts in its region, with the notices it is owed: both through the outbox, committed
    // with the tenant itself, so there is never a tenant without its chain nor a chain without its tenant.
    let record = TenantRecord::try_from(model)?;
    owed.extend(crate::retention::owed_to_new_tenant(&control).await?);
    let deferred = crate::owed::defer(
        &control,
        id,
        &AuditEntry::by(principal, "tenant.created", "tenant", id).with_detail(json!({
            "region": region,
            "country": country,
            "subdivision": subdivision,
            "time_zone": time_zone,
            "subprocessor_list_version": list_version,
        })),
        owed,
    )
    .await?;
    control.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(record)
}

/// The tenant with this name (compared as names are: without case or extra spacing), for the demo set-up.
pub(crate) async fn find_by_name(
    tenancy: &Tenancy,
    name: &str,
) -> Result<Option<TenantRecord>, AppError> {
    tenant::Entity::find()
        .filter(tenant::Column::NameKey.eq(name_key(&clean_name(name)?)))
        .one(tenancy.system().control())
        .await?
        .map(TenantRecord::try_from)
        .transpose()
}

/// One page of tenants, oldest first. Staff with `tenant:read` only.
pub async fn list(
    tenancy: &Tenancy,
    principal: &Principal,
    page: Page,
    status: Option<TenantStatus>,
) -> Result<PageOf<TenantRecord>, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TenantRead)
        .await?;
    let db = platform.control();
    let mut query = tenant::Entity::find();
    if let Some(status) = status {
        query = query.filter(tenant::Column::Status.eq(status));
    }
    let total = crate::pagination::count(query.clone(), db).await?;
    if let Some(after) = page.after {
        query = query.filter(tenant::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(tenant::Column::Id)
        .limit(page.fetch_limit())
        .all(db)
        .await?
        .into_iter()
        .map(TenantRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PageOf::from_fetched(rows, &page, total))
}

/// Suspends an active tenant: its users lose access at their next request; its data is kept.
pub async fn suspend(
    tenancy: &Tenancy,
    scope: &Scope,
    reason: &str,
) -> Result<TenantRecord, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::BadInput(format!(
            "`reason` is required (1-{MAX_REASON_CHARS} characters)"
        )));
    }
    transition(
        tenancy,
        scope,
        TenantStatus::Active,
        TenantStatus::Suspended,
        Some(reason),
        "tenant.suspended",
    )
    .await
}

/// Reactivates a suspended tenant.
pub async fn reactivate(tenancy: &Tenancy, scope: &Scope) -> Result<TenantRecord, AppError> {
    transition(
        tenancy,
        scope,
        TenantStatus::Suspended,
        TenantStatus::Active,
        None,
        "tenant.reactivated",
    )
    .await
}

async fn transition(
    tenancy: &Tenancy,
    scope: &Scope,
    from: TenantStatus,
    to: TenantStatus,
    reason: Option<&str>,
    action: &'static str,
) -> Result<TenantRecord, AppError> {
    let tenant = scope.tenant();
    if tenant.status != from {
        return Err(AppError::Conflict(format!(
            "tenant is {}, not {}",
            tenant.status.as_str(),
            from.as_str()
        )));
    }
    let control = scope.control().begin().await?;
    // Compare-and-set on the status, so two concurrent transitions cannot both succeed.
    let now = Utc::now();
    let updated = tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, to.as_str().into())
        .col_expr(
            tenant::Column::StatusReason,
            reason.map(str::to_owned).into(),
        )
        .col_expr(tenant::Column::UpdatedAt, now.into())
        .filter(tenant::Column::Id.eq(tenant.id.0))
        .filter(tenant::Column::Status.eq(from))
        .exec(&control)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the tenant's status changed meanwhile; reload and retry".into(),
        ));
    }
    audit::append_platform(
        &control,
        AuditEntry::by(scope.principal(), action, "tenant", tenant.id)
            .with_detail(json!({ "from": from.as_str(), "to": to.as_str() })),
    )
    .await?;
    crate::tenancy::assignments::bump_version(&control).await?;
    let deferred = crate::owed::defer(
        &control,
        tenant.id,
        &AuditEntry::by(scope.principal(), action, "tenant", tenant.id)
            .with_detail(json!({ "from": from.as_str(), "to": to.as_str() })),
        Vec::new(),
    )
    .await?;
    control.commit().await?;
    tenancy.forget_tenant(tenant.id);
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(TenantRecord {
        status: to,
        status_reason: reason.map(str::to_owned),
        updated_at: now,
        ..tenant.clone()
    })
}

fn clean_name(raw: &str) -> Result<String, AppError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::BadInput(format!(
            "`name` must be 1-{MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(crate::validate::hidden) {
        return Err(AppError::BadInput(
            "`name` must not contain control, zero-width or direction-changing characters".into(),
        ));
    }
    Ok(name)
}

/// Two names that differ only in case or spacing name the same client.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Sets where the scope's tenant is established and the time zone its days are counted in (its `client_admin`, or
/// a platform admin). Due dates already set stay; every date computed from now on (new requests, pauses,
/// extensions, reminders) uses the new calendar and time zone.
pub async fn set_jurisdiction(
    tenancy: &Tenancy,
    scope: &Scope,
    jurisdiction: Jurisdiction,
) -> Result<TenantRecord, AppError> {
    let (country, subdivision, time_zone) = checked(&scope.tenant().region, jurisdiction)?;
    let txn = scope.control().begin().await?;
    let found = tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tenant {}", scope.tenant_id())))?;
    let before = json!({
        "country": found.country,
        "subdivision": found.subdivision,
        "time_zone": found.time_zone,
    });
    let mut model: tenant::ActiveModel = found.into();
    model.country = Set(country.clone());
    model.subdivision = Set(subdivision.clone());
    model.time_zone = Set(time_zone.clone());
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    let deferred = crate::owed::defer(
        &txn,
        scope.tenant_id(),
        &AuditEntry::by(
            scope.principal(),
            "tenant.jurisdiction_set",
            "tenant",
            scope.tenant_id(),
        )
        .with_detail(json!({
            "before": before,
            "country": country,
            "subdivision": subdivision,
            "time_zone": time_zone,
        })),
        // The client's admins are told: the country decides its holidays, its days and the law it exports under.
        vec![crate::owed::Owed::notice(
            "tenant.jurisdiction",
            "Your jurisdiction was changed",
            format!(
                "{} set where you are established to {country}{} with days counted in {time_zone}. Deadlines \
                 computed from now on use its public holidays; transfers are checked under its law.",
                scope.principal().label(),
                subdivision
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
            ),
        )],
    )
    .await?;
    txn.commit().await?;
    tenancy.forget_tenant(scope.tenant_id());
    crate::owed::apply_now(tenancy, deferred).await;
    TenantRecord::try_from(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_tidied_and_keyed_without_case() {
        assert_eq!(clean_name("  Acme \t Health ").unwrap(), "Acme Health");
        assert_eq!(name_key("Acme Health"), name_key("ACME health"));
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(201)).is_err());
        assert!(clean_name("a\u{7}b").is_err());
    }
}

//! Every tenant is bound to the sub-processor list (GDPR Art. 28(2)), whenever it arrived.
//!
//! - A tenant being created accepts the list in force: each active or retiring entry gets a change notice of kind
//!   `onboarding`, active at once, and each announced one a pending notice with its announced effective date, open to
//!   objection like every other tenant's. The tenant records the registry's version it accepted ([`version`]).
//! - Announcements go to every live tenant ([`live_tenants`]), not only to those holding data in the categories today,
//!   so a tenant that starts collecting a category later is already bound.
//! - A tenant that has no notice for a public entry (created before acceptance was recorded) is told of it by the
//!   daily activation sweep ([`notify_unbound`]) with its full notice period, as a new announcement would.
//! - A tenant reads the list with its own standing on each entry in one query ([`standings`]).

use super::*;
use crate::ids::TenantId;
use sea_orm::{DatabaseTransaction, PaginatorTrait};
use steward_entities::tenant::TenantStatus;

/// The notice kind a sub-processor announcement reaches a tenant's admins with.
pub const NOTICE_SUBPROCESSOR_CHANGE: &str = "subprocessor.change";

/// The registry's version: how many revisions it has had. Revisions are append-only, so it only grows, and the list
/// as of version `n` is the registry after its first `n` revisions (oldest first).
pub async fn version<C: ConnectionTrait>(db: &C) -> Result<i64, AppError> {
    let n = subprocessor_revision::Entity::find().count(db).await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The tenants an announcement binds: every tenant not terminated, oldest first. A read across every tenant, so it
/// takes the platform capability.
pub async fn live_tenants(platform: Platform<'_>) -> Result<Vec<tenant::Model>, AppError> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Status.ne(TenantStatus::Terminated))
        .order_by_asc(tenant::Column::Id)
        .all(platform.control())
        .await?)
}

/// What a tenant's admins are told of an announced sub-processor.
pub(super) fn announcement_notice(sp: &subprocessor::Model, effective_on: NaiveDate) -> Owed {
    Owed::notice(
        NOTICE_SUBPROCESSOR_CHANGE,
        &format!("New sub-processor: {} ({})", sp.name, sp.legal_entity),
        format!(
            "{} will process your data ({}) in {} for: {}. Effective {effective_on}. You may object until then.",
            sp.name,
            sp.categories.0.join(", "),
            sp.countries.0.join(", "),
            sp.purpose
        ),
    )
}

/// What an announcement of `sp` is to a tenant: a new entry, or one replacing another.
pub(super) fn announced_kind(sp: &subprocessor::Model) -> ChangeKind {
    if sp.replaces.is_some() {
        ChangeKind::Replacement
    } else {
        ChangeKind::New
    }
}

/// One tenant's change notice about one entry, in the caller's control transaction.
pub(super) async fn insert_notice<C: ConnectionTrait>(
    control: &C,
    (sub_processor, tenant): (Uuid, Uuid),
    kind: ChangeKind,
    (status, effective_on): (ChangeNoticeStatus, NaiveDate),
    now: chrono::DateTime<Utc>,
) -> Result<(), AppError> {
    change_notice::ActiveModel {
        id: Set(Uuid::now_v7()),
        sub_processor_id: Set(sub_processor),
        tenant_id: Set(tenant),
        kind: Set(kind),
        effective_on: Set(effective_on),
        status: Set(status),
        created_at: Set(now),
        activated_at: Set((status == ChangeNoticeStatus::Active).then_some(now)),
    }
    .insert(control)
    .await?;
    Ok(())
}

/// Binds a tenant being created to the list in force, in the caller's control transaction: returns the registry's
/// version it accepted and the notices it is owed (one per announced entry, whose window is still open).
pub(crate) async fn bind_new_tenant(
    control: &DatabaseTransaction,
    tenant: TenantId,
    now: chrono::DateTime<Utc>,
) -> Result<(i64, Vec<Owed>), AppError> {
    let version = version(control).await?;
    let entries = subprocessor::Entity::find()
        .filter(subprocessor::Column::Status.is_in([
            SubProcessorStatus::Announced,
            SubProcessorStatus::Active,
            SubProcessorStatus::Retiring,
        ]))
        .order_by_asc(subprocessor::Column::Id)
        .all(control)
        .await?;
    let today = now.date_naive();
    let mut owed = Vec::new();
    for sp in entries {
        let (kind, standing) = match (sp.status, sp.effective_on) {
            (SubProcessorStatus::Announced, Some(on)) if on > today => {
                owed.push(announcement_notice(&sp, on));
                (announced_kind(&sp), (ChangeNoticeStatus::Pending, on))
            }
            // Active, retiring, or announced with its date already come (the sweep activates it today).
            _ => (ChangeKind::Onboarding, (ChangeNoticeStatus::Active, today)),
        };
        insert_notice(control, (sp.id, tenant.0), kind, standing, now).await?;
        // Wider terms announced for an entry in use: the new tenant is told of them like every other, and may object.
        if let (Some(terms), Some(on)) = (&sp.pending_terms, sp.pending_effective_on)
            && on > today
        {
            insert_notice(
                control,
                (sp.id, tenant.0),
                ChangeKind::Change,
                (ChangeNoticeStatus::Pending, on),
                now,
            )
            .await?;
            owed.push(Owed::notice(
                NOTICE_SUBPROCESSOR_CHANGE,
                &format!("Change to sub-processor {}", sp.name),
                format!(
                    "From {on} {} will process your data ({}) in {} for: {}. Until then its current terms apply. You \
                     may object until then.",
                    sp.name,
                    terms.categories.join(", "),
                    terms.countries.join(", "),
                    terms.purpose
                ),
            ));
        }
    }
    Ok((version, owed))
}

/// Tells every live tenant of each public entry it has no notice for (tenants created before acceptance was
/// recorded), as an announcement would: a pending notice effective after the tenant's full notice period (or the
/// entry's own later date), open to objection, and a notice to its admins. Idempotent; returns how many it told.
pub async fn notify_unbound(tenancy: &Tenancy, today: NaiveDate) -> Result<usize, AppError> {
    let db = tenancy.system().control();
    let public = list(tenancy, true).await?;
    if public.is_empty() {
        return Ok(0);
    }
    let tenants = tenant::Entity::find()
        .filter(tenant::Column::Status.ne(TenantStatus::Terminated))
        .order_by_asc(tenant::Column::Id)
        .all(db)
        .await?;
    // Which (tenant, entry) pairs have a notice: one read across every tenant (this is the platform's sweep).
    let known: BTreeSet<(Uuid, Uuid)> = change_notice::Entity::find()
        .select_only()
        .column(change_notice::Column::TenantId)
        .column(change_notice::Column::SubProcessorId)
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut told = 0;
    for t in tenants {
        let missing: Vec<&subprocessor::Model> = public
            .iter()
            .filter(|sp| !known.contains(&(t.id, sp.id)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let earliest = today + chrono::Duration::days(t.notice_period_days.max(1).into());
        let now = Utc::now();
        let control = db.begin().await?;
        let mut owing = Owing::default();
        for sp in missing {
            let effective_on = sp.effective_on.map_or(earliest, |on| on.max(earliest));
            insert_notice(
                &control,
                (sp.id, t.id),
                announced_kind(sp),
                (ChangeNoticeStatus::Pending, effective_on),
                now,
            )
            .await?;
            let entry = AuditEntry::system("subprocessor.announced", "subprocessor", sp.id)
                .with_detail(json!({ "effective_on": effective_on, "late": true }));
            owing.push(
                owed::defer(
                    &control,
                    TenantId(t.id),
                    &entry,
                    vec![announcement_notice(sp, effective_on)],
                )
                .await?,
            );
            told += 1;
        }
        control.commit().await?;
        owing.apply(tenancy).await;
    }
    Ok(told)
}

/// Where one public entry of the list stands for one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum Standing {
    /// On the list when the tenant was created: accepted with it, in effect.
    AcceptedAtOnboarding,
    /// Announced to the tenant; its objection window is open.
    Notified,
    /// In effect for the tenant, with wider terms announced (a change notice): the objection window on the change
    /// is open and the current terms apply until it takes effect.
    ChangeNotified,
    /// Announced (the entry, or a change to it); the tenant objected and legal has not resolved it yet.
    Objected,
    /// In effect for the tenant after its notice period.
    Active,
    /// The effective date came while the tenant's objection stood: not used for its data.
    Blocked,
    /// Not used for the tenant (an objection resolved that way).
    Excluded,
    /// Never announced to the tenant (a tenant created before acceptance was recorded): the daily sweep tells it.
    NotNotified,
}

/// A tenant's view of the list: each public entry with the tenant's standing, its notice and its objection.
pub struct TenantList {
    pub version: i64,
    pub accepted_version: Option<i64>,
    pub accepted_at: Option<chrono::DateTime<Utc>>,
    pub entries: Vec<(
        subprocessor::Model,
        Standing,
        Option<change_notice::Model>,
        Option<objection::Model>,
    )>,
}

/// The list as the scope's tenant stands on it (three reads, whatever its length).
pub async fn standings(tenancy: &Tenancy, scope: &Scope) -> Result<TenantList, AppError> {
    let db = scope.control();
    let public = list(tenancy, true).await?;
    let notices = scope
        .find_control::<change_notice::Entity>()
        .order_by_asc(change_notice::Column::Id)
        .all(db)
        .await?;
    let objections = scope.find_control::<objection::Entity>().all(db).await?;
    let mut entries = Vec::with_capacity(public.len());
    for sp in public {
        let mine: Vec<&change_notice::Model> = notices
            .iter()
            .filter(|n| n.sub_processor_id == sp.id)
            .collect();
        let base = mine.iter().rev().find(|n| n.kind != ChangeKind::Change);
        let pending_change = mine
            .iter()
            .rev()
            .find(|n| n.kind == ChangeKind::Change && n.status == ChangeNoticeStatus::Pending);
        let refused_change = mine.iter().rev().find(|n| {
            n.kind == ChangeKind::Change
                && matches!(
                    n.status,
                    ChangeNoticeStatus::Blocked | ChangeNoticeStatus::Excluded
                )
        });
        // The notice that decides: the entry's own, a change refused for the tenant, or a change in its window.
        let notice = match (base, in_force(&mine)) {
            (Some(b), Some((ChangeNoticeStatus::Active, _))) => pending_change.or(Some(b)),
            (Some(b), Some((ChangeNoticeStatus::Blocked | ChangeNoticeStatus::Excluded, _)))
                if b.status == ChangeNoticeStatus::Active =>
            {
                refused_change.or(Some(b))
            }
            (b, _) => b,
        }
        .map(|n| (*n).clone());
        let objection = notice.as_ref().and_then(|n| {
            objections
                .iter()
                .filter(|o| o.notice_id == n.id)
                .max_by_key(|o| o.id)
                .cloned()
        });
        let open_objection = objection.as_ref().is_some_and(|o| o.resolved_at.is_none());
        let standing = match &notice {
            None => Standing::NotNotified,
            Some(n) => match (n.kind, n.status) {
                (_, ChangeNoticeStatus::Pending) if open_objection => Standing::Objected,
                (ChangeKind::Change, ChangeNoticeStatus::Pending) => Standing::ChangeNotified,
                (_, ChangeNoticeStatus::Pending) => Standing::Notified,
                (ChangeKind::Onboarding, ChangeNoticeStatus::Active) => {
                    Standing::AcceptedAtOnboarding
                }
                (_, ChangeNoticeStatus::Active) => Standing::Active,
                (_, ChangeNoticeStatus::Blocked) => Standing::Blocked,
                (_, ChangeNoticeStatus::Excluded) => Standing::Excluded,
                (_, ChangeNoticeStatus::Withdrawn) => Standing::Active,
            },
        };
        entries.push((sp, standing, notice, objection));
    }
    let t = tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tenant {}", scope.tenant_id())))?;
    Ok(TenantList {
        version: version(db).await?,
        accepted_version: t.subprocessors_accepted_version,
        accepted_at: t.subprocessors_accepted_at,
        entries,
    })
}

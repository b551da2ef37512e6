//! Personal-data breaches: a privacy officer records an incident; Steward works out which tenants it touches from the
//! data it holds (data of the involved categories in the involved region, or data transferred to the involved
//! sub-processors), tells each what Art. 33(3) asks — with its own approximate counts of subjects and records —,
//! sends follow-ups to the same tenants (`updateBreach`), reminds privacy officers of tenants that have not
//! acknowledged within 24 hours, and tracks notification and acknowledgement against the 72-hour mark.

use super::*;
use sea_orm::PaginatorTrait;
use sea_orm::sea_query::Expr;
use steward_entities::{breach_update, erasure_tombstone, staff_notice};

/// Privacy officers are reminded of a tenant that has not acknowledged a breach notice after this long.
pub const ACKNOWLEDGE_HOURS: i64 = 24;

/// What is not known yet when a breach is recorded: said so, and completed by an update (Art. 33(4)).
const TO_FOLLOW: &str = "being assessed; an update will follow";

/// About how many of a tenant's data subjects and records a breach concerns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Concerned {
    pub subjects: i64,
    pub records: i64,
}

/// The notice a tenant receives of a breach (Art. 33(3)), with its own counts.
fn breach_notice(b: &breach::Model, c: Concerned, now: DateTime<Utc>) -> Owed {
    let deadline = b.detected_at + Duration::hours(BREACH_HOURS);
    Owed::notice(
        "breach",
        "Personal-data breach affecting your data",
        format!(
            "Breach {}, detected {}: {}. Data categories: {}. Concerned, approximately: {} of your data subjects and \
             {} of your records. Likely consequences: {}. Measures taken or proposed: {}. Contact point: {}. Your \
             deadline to inform your supervisory authority, if required, runs from when you became aware; we detected \
             it {} hours before this notice (72-hour mark: {deadline}). Please acknowledge (acknowledgeBreachNotice).",
            b.id,
            b.detected_at,
            b.description,
            b.categories.0.join(", "),
            c.subjects,
            c.records,
            b.likely_consequences.as_deref().unwrap_or(TO_FOLLOW),
            b.measures_taken.as_deref().unwrap_or(TO_FOLLOW),
            b.contact_point.as_deref().unwrap_or(TO_FOLLOW),
            (now - b.detected_at).num_hours()
        ),
    )
}

/// What a privacy officer records about an incident.
#[derive(Clone, Debug)]
pub struct Incident {
    pub detected_at: DateTime<Utc>,
    pub description: String,
    pub systems: Vec<String>,
    pub categories: Vec<String>,
    pub region: Option<String>,
    pub sub_processor_ids: Vec<SubProcessorId>,
    /// Art. 33(3)(c); while not yet known, the notice says so and an update follows (Art. 33(4)).
    pub likely_consequences: Option<String>,
    /// Art. 33(3)(d).
    pub measures_taken: Option<String>,
    /// Art. 33(3)(b); the processor's contact (configuration) when left out.
    pub contact_point: Option<String>,
}

/// Records a breach, works out the affected tenants and notifies each with what Art. 33(3) asks: the nature, the
/// categories, about how many of its data subjects and records are concerned, the likely consequences, the measures
/// taken and a contact point. Returns the breach and the tenants notified.
pub async fn record_breach(
    tenancy: &Tenancy,
    principal: &Principal,
    processor_contact: &str,
    incident: Incident,
) -> Result<(breach::Model, Vec<TenantId>), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::BreachManage)
        .await?;
    if incident.detected_at > Utc::now() + Duration::minutes(5) {
        return Err(AppError::BadInput("`detectedAt` is in the future".into()));
    }
    let description = crate::validate::text("description", &incident.description, 4000)?;
    let systems: BTreeSet<String> = incident
        .systems
        .iter()
        .map(|s| crate::validate::text("systems", s, 200))
        .collect::<Result<_, _>>()?;
    let categories: BTreeSet<String> = incident
        .categories
        .iter()
        .map(|c| Ok(taxonomy::category(c.trim())?.key.clone()))
        .collect::<Result<_, AppError>>()?;
    if let Some(region) = &incident.region
        && !tenancy.has_region(region)
    {
        let known: Vec<&str> = tenancy.region_names().collect();
        return Err(AppError::BadInput(format!(
            "unknown region `{region}`: choose one of {}",
            known.join(", ")
        )));
    }
    let likely_consequences = crate::validate::text_opt(
        "likelyConsequences",
        incident.likely_consequences.as_deref(),
        4000,
    )?;
    let measures_taken =
        crate::validate::text_opt("measuresTaken", incident.measures_taken.as_deref(), 4000)?;
    let contact_point = match &incident.contact_point {
        Some(c) => crate::validate::text("contactPoint", c, 500)?,
        None => processor_contact.to_owned(),
    };
    for sp in &incident.sub_processor_ids {
        crate::registry::get(tenancy, *sp).await?;
    }
    if categories.is_empty() && incident.sub_processor_ids.is_empty() {
        return Err(AppError::BadInput(
            "name the data categories or the sub-processors involved".into(),
        ));
    }

    // Affected: tenants holding data of those categories in that region, or whose data went to those sub-processors;
    // for each, about how many of its subjects and records are concerned (Art. 33(3)(a)): its values of those
    // categories, and the subjects its transfers to those sub-processors carried (recorded by count or by name).
    let mut concerned: BTreeMap<Uuid, Concerned> = BTreeMap::new();
    for (name, db) in platform.regions() {
        if !categories.is_empty() && incident.region.as_deref().is_none_or(|r| r == name) {
            let found: Vec<(Uuid, i64, i64)> = personal_data::Entity::find()
                .select_only()
                .column(personal_data::Column::TenantId)
                .column_as(Expr::cust("COUNT(*)"), "records")
                .column_as(Expr::cust("COUNT(DISTINCT subject_id)"), "subjects")
                .filter(personal_data::Column::Category.is_in(categories.iter().cloned()))
                .group_by(personal_data::Column::TenantId)
                .into_tuple()
                .all(db)
                .await?;
            for (tenant, records, subjects) in found {
                let c = concerned.entry(tenant).or_default();
                c.records += records;
                c.subjects = c.subjects.max(subjects);
            }
            // Data of those categories erased since the breach was detected was there when it happened: its
            // controller is told too, counted from the erasures' tombstones (what was erased, per category).
            // Read a page at a time: an offboarding leaves a tombstone per subject.
            let mut erased = erasure_tombstone::Entity::find()
                .filter(erasure_tombstone::Column::ErasedAt.gte(incident.detected_at))
                .order_by_asc(erasure_tombstone::Column::TenantId)
                .order_by_asc(erasure_tombstone::Column::SubjectId)
                .paginate(db, 1000);
            while let Some(page) = erased.fetch_and_next().await? {
                for tombstone in page {
                    let records: i64 = categories
                        .iter()
                        .filter_map(|c| tombstone.counts.0.get(c))
                        .sum();
                    if records > 0 {
                        let c = concerned.entry(tombstone.tenant_id).or_default();
                        c.records += records;
                        c.subjects += 1;
                    }
                }
            }
        }
        if !incident.sub_processor_ids.is_empty() {
            let found: Vec<(Uuid, i64)> = onward_transfer::Entity::find()
                .select_only()
                .column(onward_transfer::Column::TenantId)
                .column_as(Expr::cust("SUM(subject_count)"), "subjects")
                .filter(
                    onward_transfer::Column::SubProcessorId
                        .is_in(incident.sub_processor_ids.iter().copied()),
                )
                .group_by(onward_transfer::Column::TenantId)
                .into_tuple()
                .all(db)
                .await?;
            for (tenant, subjects) in found {
                let c = concerned.entry(tenant).or_default();
                c.subjects = c.subjects.max(subjects);
            }
        }
    }
    let affected: BTreeSet<Uuid> = concerned.keys().copied().collect();
    let tenants: Vec<tenant::Model> = if affected.is_empty() {
        Vec::new()
    } else {
        // A terminated tenant's data is gone and no one of it can read a notice (like every announcement).
        tenant::Entity::find()
            .filter(tenant::Column::Id.is_in(affected))
            .filter(tenant::Column::Status.ne(crate::tenancy::TenantStatus::Terminated))
            .order_by_asc(tenant::Column::Id)
            .all(platform.control())
            .await?
    };

    let now = Utc::now();
    let id = Uuid::now_v7();
    let control = platform.control().begin().await?;
    let model = breach::ActiveModel {
        id: Set(id),
        detected_at: Set(incident.detected_at),
        description: Set(description.clone()),
        systems: Set(systems.iter().cloned().collect()),
        categories: Set(categories.iter().cloned().collect()),
        region: Set(incident.region.clone()),
        sub_processor_ids: Set(incident
            .sub_processor_ids
            .iter()
            .map(|&s| Uuid::from(s))
            .collect()),
        recorded_by: Set(principal.label()),
        created_at: Set(now),
        likely_consequences: Set(likely_consequences.clone()),
        measures_taken: Set(measures_taken.clone()),
        contact_point: Set(Some(contact_point.clone())),
    }
    .insert(&control)
    .await?;
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "breach.recorded", "breach", id)
            .with_detail(json!({ "tenants": tenants.len() })),
    )
    .await?;
    // Each tenant's notice and event are owed to its region through the outbox, in this control transaction: the
    // breach and every notice of it commit together or not at all.
    let entry = AuditEntry::by(principal, "breach.notified", "breach", id);
    let mut owing = Owing::default();
    for t in &tenants {
        let c = concerned.get(&t.id).copied().unwrap_or_default();
        breach_notification::ActiveModel {
            id: Set(Uuid::now_v7()),
            breach_id: Set(id),
            tenant_id: Set(t.id),
            notified_at: Set(now),
            acknowledged_at: Set(None),
            acknowledged_by: Set(None),
            subjects_concerned: Set(Some(c.subjects)),
            records_concerned: Set(Some(c.records)),
            reminded_at: Set(None),
        }
        .insert(&control)
        .await?;
        let notice = breach_notice(&model, c, now);
        owing.push(owed::defer(&control, TenantId(t.id), &entry, vec![notice]).await?);
    }
    control.commit().await?;
    owing.apply(tenancy).await;
    Ok((model, tenants.into_iter().map(|t| TenantId(t.id)).collect()))
}

/// Acknowledges a breach notice on behalf of the scope's tenant (its `client_admin`). Acknowledging again changes
/// nothing.
pub async fn acknowledge_breach(
    tenancy: &Tenancy,
    scope: &Scope,
    breach_id: BreachId,
) -> Result<breach_notification::Model, AppError> {
    let control = scope.control();
    let found = scope
        .find_control::<breach_notification::Entity>()
        .filter(breach_notification::Column::BreachId.eq(breach_id))
        .one(control)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("no breach notice {breach_id} for this tenant"))
        })?;
    if found.acknowledged_at.is_some() {
        return Ok(found);
    }
    let txn = control.begin().await?;
    let mut model: breach_notification::ActiveModel = found.into();
    model.acknowledged_at = Set(Some(Utc::now()));
    model.acknowledged_by = Set(Some(scope.principal().label()));
    let updated = model.update(&txn).await?;
    let deferred = owed::defer(
        &txn,
        scope.tenant_id(),
        &AuditEntry::by(
            scope.principal(),
            "breach.acknowledged",
            "breach",
            breach_id,
        ),
        Vec::new(),
    )
    .await?;
    txn.commit().await?;
    owed::apply_now(tenancy, deferred).await;
    Ok(updated)
}

/// Breaches, newest first, each with its notifications (privacy officers).
pub async fn breaches(
    tenancy: &Tenancy,
    principal: &Principal,
) -> Result<Vec<(breach::Model, Vec<breach_notification::Model>)>, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::BreachManage)
        .await?;
    let db = platform.control();
    let all = breach::Entity::find()
        .order_by_desc(breach::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(all.len());
    for b in all {
        let notes = breach_notification::Entity::find()
            .filter(breach_notification::Column::BreachId.eq(b.id))
            .order_by_asc(breach_notification::Column::TenantId)
            .all(db)
            .await?;
        out.push((b, notes));
    }
    Ok(out)
}

/// One tenant's breach notices, newest first.
pub async fn breach_notices_of(
    scope: &Scope,
) -> Result<Vec<(breach::Model, breach_notification::Model)>, AppError> {
    let db = scope.control();
    let notes = scope
        .find_control::<breach_notification::Entity>()
        .order_by_desc(breach_notification::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(notes.len());
    for n in notes {
        if let Some(b) = breach::Entity::find_by_id(n.breach_id).one(db).await? {
            out.push((b, n));
        }
    }
    Ok(out)
}

/// What a follow-up may add or correct; the rest stays as recorded.
#[derive(Clone, Debug, Default)]
pub struct BreachUpdate {
    /// What is new, in a sentence or more (required): it is what the tenants read.
    pub update: String,
    pub likely_consequences: Option<String>,
    pub measures_taken: Option<String>,
    pub contact_point: Option<String>,
}

/// Sends a follow-up to every tenant told of the breach (Art. 33(4): information in phases), recording it and any
/// corrected consequences, measures or contact point (`privacy_officer`). Returns the breach and how many were told.
pub async fn update_breach(
    tenancy: &Tenancy,
    principal: &Principal,
    id: BreachId,
    change: BreachUpdate,
) -> Result<(breach::Model, usize), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::BreachManage)
        .await?;
    let update = crate::validate::text("update", &change.update, 4000)?;
    let likely = crate::validate::text_opt(
        "likelyConsequences",
        change.likely_consequences.as_deref(),
        4000,
    )?;
    let measures =
        crate::validate::text_opt("measuresTaken", change.measures_taken.as_deref(), 4000)?;
    let contact = crate::validate::text_opt("contactPoint", change.contact_point.as_deref(), 500)?;
    let db = platform.control();
    let found = breach::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no breach {id}")))?;
    let told = breach_notification::Entity::find()
        .filter(breach_notification::Column::BreachId.eq(id))
        .order_by_asc(breach_notification::Column::Id)
        .all(db)
        .await?;
    let now = Utc::now();
    let control = db.begin().await?;
    let mut model: breach::ActiveModel = found.clone().into();
    if likely.is_some() {
        model.likely_consequences = Set(likely);
    }
    if measures.is_some() {
        model.measures_taken = Set(measures);
    }
    if contact.is_some() {
        model.contact_point = Set(contact);
    }
    let updated = model.update(&control).await?;
    breach_update::ActiveModel {
        id: Set(Uuid::now_v7()),
        breach_id: Set(id.0),
        update: Set(update.clone()),
        recorded_by: Set(principal.label()),
        created_at: Set(now),
    }
    .insert(&control)
    .await?;
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "breach.updated", "breach", id)
            .with_detail(json!({ "tenants": told.len() })),
    )
    .await?;
    let notice = Owed::notice(
        "breach.update",
        "Update on a personal-data breach affecting your data",
        format!(
            "Update on breach {id}: {update} Likely consequences: {}. Measures taken or proposed: {}. Contact point: \
             {}.",
            updated.likely_consequences.as_deref().unwrap_or(TO_FOLLOW),
            updated.measures_taken.as_deref().unwrap_or(TO_FOLLOW),
            updated.contact_point.as_deref().unwrap_or(TO_FOLLOW),
        ),
    );
    let entry = AuditEntry::by(principal, "breach.update_notified", "breach", id);
    let mut owing = Owing::default();
    for n in &told {
        owing.push(
            owed::defer(
                &control,
                TenantId(n.tenant_id),
                &entry,
                vec![notice.clone()],
            )
            .await?,
        );
    }
    control.commit().await?;
    owing.apply(tenancy).await;
    Ok((updated, told.len()))
}

/// A breach's follow-ups, oldest first.
pub async fn updates_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    breach: Uuid,
) -> Result<Vec<breach_update::Model>, AppError> {
    Ok(breach_update::Entity::find()
        .filter(breach_update::Column::BreachId.eq(breach))
        .order_by_asc(breach_update::Column::Id)
        .all(db)
        .await?)
}

/// Reminds privacy officers (a staff notice each) of every tenant that has not acknowledged a breach notice
/// [`ACKNOWLEDGE_HOURS`] after it was sent, once per tenant and breach. Idempotent; returns how many it reminded of.
pub async fn remind_unacknowledged(
    tenancy: &Tenancy,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let db = tenancy.system().control();
    let late = breach_notification::Entity::find()
        .filter(breach_notification::Column::AcknowledgedAt.is_null())
        .filter(breach_notification::Column::RemindedAt.is_null())
        .filter(
            breach_notification::Column::NotifiedAt.lte(now - Duration::hours(ACKNOWLEDGE_HOURS)),
        )
        .order_by_asc(breach_notification::Column::Id)
        .all(db)
        .await?;
    for n in &late {
        let txn = db.begin().await?;
        // One reminder per tenant and breach, whatever runs it: the id is derived from both.
        let id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("breach.unacknowledged:{}:{}", n.breach_id, n.tenant_id).as_bytes(),
        );
        staff_notice::Entity::insert(staff_notice::ActiveModel {
            id: Set(id),
            role: Set("privacy_officer".into()),
            kind: Set("breach.unacknowledged".into()),
            tenant_id: Set(Some(n.tenant_id)),
            object_id: Set(Some(n.breach_id.to_string())),
            title: Set(format!(
                "Tenant {} has not acknowledged breach {} after {ACKNOWLEDGE_HOURS} hours",
                n.tenant_id, n.breach_id
            )),
            body: Set(format!(
                "The notice of breach {} reached tenant {} at {}. Make sure it arrived: contact its admins directly; \
                 its own 72-hour clock may be running.",
                n.breach_id, n.tenant_id, n.notified_at
            )),
            created_at: Set(now),
            acknowledged_by: Set(None),
            acknowledged_at: Set(None),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(staff_notice::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let mut model: breach_notification::ActiveModel = n.clone().into();
        model.reminded_at = Set(Some(now));
        model.update(&txn).await?;
        txn.commit().await?;
    }
    Ok(late.len())
}

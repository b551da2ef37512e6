//! Access and portability exports: everything Steward holds about a subject, sealed, downloadable for a week.

use super::*;
use crate::ids::{RequestId, SubjectId};

pub(super) const EXPORT_CONTEXT: &str = "subject.export";

/// Everything Steward holds about a subject, as one JSON document.
pub(super) async fn build_export(
    tenancy: &Tenancy,
    scope: &Scope,
    subject: &data_subject::Model,
    key: &crate::crypto::SubjectKey,
) -> Result<Value, AppError> {
    let records = subjects::records_of(scope, &[subject.id])
        .await?
        .remove(&subject.id)
        .unwrap_or_default();
    // How long each value is kept (Art. 15(1)(d)): the tenant's rule or the platform default that judges it, as the
    // sweep applies them; a legal hold on the subject suspends it.
    let selectors = crate::retention::selectors(
        &crate::retention::rules(scope).await?,
        &crate::retention::defaults(tenancy).await?,
    );
    let held = crate::retention::held(scope.db(), scope.find())
        .await?
        .covers(SubjectId(subject.id));
    let mut values = Vec::new();
    for record in &records {
        let retention = match selectors
            .iter()
            .find(|s| s.judges(&record.category, &record.purpose))
        {
            Some(s) => json!({
                "period_days": s.period_days,
                "set_by": match s.source {
                    crate::retention::Source::Tenant(_) => "controller",
                    crate::retention::Source::PlatformDefault => "platform default",
                },
                "deleted_after": (record.collected_at + Duration::days(i64::from(s.period_days))).date_naive(),
                "suspended_by_legal_hold": held,
            }),
            None => json!({
                "period_days": null,
                "set_by": null,
                "deleted_after": null,
                "note": "no retention period applies: kept until erased or deleted on the controller's instruction",
                "suspended_by_legal_hold": held,
            }),
        };
        values.push(json!({
            "id": record.id,
            "category": record.category,
            "value": subjects::open_value(key, record)?,
            "purpose": record.purpose,
            "source": subjects::open_source(key, record)?,
            "collected_at": record.collected_at,
            "recorded_at": record.created_at,
            "updated_at": record.updated_at,
            "retention": retention,
            "restricted_by_objection": record.restricted_by_request,
        }));
    }
    let categories: BTreeSet<String> = records.iter().map(|r| r.category.clone()).collect();
    let transfers =
        crate::erasure::transfers_concerning(scope, SubjectId(subject.id), &categories).await?;
    let names = subprocessor_names(tenancy, transfers.iter().map(|t| t.sub_processor_id)).await?;
    let transfers: Vec<Value> = transfers
        .iter()
        .map(|t| {
            Ok(json!({
                "sub_processor": names.get(&t.sub_processor_id).cloned().unwrap_or_default(),
                "sub_processor_id": t.sub_processor_id,
                "categories": t.categories,
                "purpose": t.purpose,
                "countries": t.countries,
                "mechanism": t.mechanism,
                "transferred_on": t.transferred_on,
            }))
        })
        .collect::<Result<_, AppError>>()?;
    // Recipients through legal demands (Art. 15(1)(c)): disclosures that named the subject, once the controller was
    // told of them — a demand still under a non-disclosure order stays out, as it is kept from the controller itself.
    let disclosures: Vec<Value> = scope
        .find_control::<legal_disclosure::Entity>()
        .filter(legal_disclosure::Column::NoticeSentAt.is_not_null())
        .order_by_asc(legal_disclosure::Column::Id)
        .all(scope.control())
        .await?
        .into_iter()
        .filter(|d| {
            d.disclosed_subject_ids
                .as_ref()
                .is_some_and(|ids| ids.0.contains(&subject.id))
        })
        .map(|d| {
            json!({
                "recipient": d.authority,
                "kind": d.kind,
                "reference": d.reference,
                "categories": d.disclosed_categories,
                "disclosed_on": d.disclosed_on,
            })
        })
        .collect();
    let requests: Vec<Value> = scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::SubjectId.eq(subject.id))
        .order_by_asc(dsr_request::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "kind": r.kind,
                "state": r.state,
                "received_at": r.received_at,
                "due_on": r.due_on,
                "completed_at": r.completed_at,
            })
        })
        .collect();
    let mut consents = Vec::new();
    for consent in scope
        .find::<guardian_consent::Entity>()
        .filter(guardian_consent::Column::SubjectId.eq(subject.id))
        .all(scope.db())
        .await?
    {
        consents.push(json!({
            "guardian": key.open(crate::subjects::GUARDIAN_CONTEXT, &consent.guardian_sealed).map_err(AppError::internal)?,
            "method": consent.method,
            "given_at": consent.given_at,
        }));
    }
    Ok(json!({
        "format": "steward.subject-export/v1",
        "generated_at": Utc::now(),
        "controller": { "tenant_id": scope.tenant_id().0, "name": scope.tenant().name },
        "subject": {
            "id": subject.id,
            "external_id": subjects::open_external_id(key, subject)?,
            "birth_date": subjects::open_birth_date(key, subject)?,
            "created_at": subject.created_at,
            "restricted_since": subject.restricted_at,
        },
        "personal_data": values,
        "onward_transfers": transfers,
        "legal_disclosures": disclosures,
        "requests": requests,
        "guardian_consents": consents,
    }))
}

async fn subprocessor_names(
    tenancy: &Tenancy,
    ids: impl Iterator<Item = Uuid>,
) -> Result<BTreeMap<Uuid, String>, AppError> {
    let ids: BTreeSet<Uuid> = ids.collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(subprocessor::Entity::find()
        .filter(subprocessor::Column::Id.is_in(ids))
        .all(tenancy.system().control())
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect())
}

/// The export a completed access or portability request produced, while it lasts.
pub async fn export_of(
    scope: &Scope,
    request: RequestId,
) -> Result<Option<subject_export::Model>, AppError> {
    Ok(scope
        .find::<subject_export::Entity>()
        .filter(subject_export::Column::RequestId.eq(request))
        .filter(subject_export::Column::ExpiresAt.gt(Utc::now()))
        .one(scope.db())
        .await?)
}

/// Opens an export for the client admin, counting the download.
pub async fn download_export(
    scope: &Scope,
    request_id: RequestId,
) -> Result<(subject_export::Model, Value), AppError> {
    let request = get(scope, request_id).await?;
    let export = export_of(scope, RequestId(request.id)).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "request {request_id} has no export available (it is not a completed access or portability request, or its {EXPORT_TTL_DAYS}-day download window has passed)"
        ))
    })?;
    let subject = subjects::get(scope, SubjectId(export.subject_id)).await?;
    let key = subjects::subject_key(scope, &subject).await?;
    let text = key
        .open(EXPORT_CONTEXT, &export.sealed)
        .map_err(AppError::internal)?;
    let document: Value = serde_json::from_str(&text).map_err(AppError::internal)?;
    let txn = scope.begin().await?;
    txn.update_many::<subject_export::Entity>()
        .col_expr(
            subject_export::Column::Downloads,
            sea_orm::sea_query::ExprTrait::add(
                sea_orm::sea_query::Expr::col(subject_export::Column::Downloads),
                1,
            ),
        )
        .filter(subject_export::Column::Id.eq(export.id))
        .exec(&txn)
        .await?;
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "export.downloaded",
            "dsr_request",
            request.id,
        )
        .with_detail(json!({ "export": export.id, "subject": export.subject_id })),
    )
    .await?;
    Ok((export, document))
}

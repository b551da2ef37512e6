//! Legal holds: what they keep from the sweep and from erasure until lifted.

use super::*;
use crate::ids::{HoldId, SubjectId};

/// The holds in force on a tenant.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub tenant_wide: bool,
    pub subjects: HashSet<SubjectId>,
}

impl Held {
    pub fn covers(&self, subject: SubjectId) -> bool {
        self.tenant_wide || self.subjects.contains(&subject)
    }
}

/// The tenant's holds in force: `holds` is its hold table as its door gives it (`scope.find()` or `work.find()`),
/// read on `db` (the scope's connection, or the work's transaction to see holds as of the change).
pub async fn held<C: ConnectionTrait>(
    db: &C,
    holds: Select<legal_hold::Entity>,
) -> Result<Held, AppError> {
    let mut held = Held::default();
    for hold in holds
        .filter(legal_hold::Column::LiftedAt.is_null())
        .all(db)
        .await?
    {
        match &hold.subject_ids {
            None => held.tenant_wide = true,
            Some(ids) => held.subjects.extend(ids.0.iter().copied().map(SubjectId)),
        }
    }
    Ok(held)
}

/// Places a legal hold on the whole tenant (`subject_ids` = `None`) or on some subjects (`legal`).
pub async fn place_hold(
    scope: &Scope,
    subject_ids: Option<Vec<SubjectId>>,
    reason: &str,
) -> Result<legal_hold::Model, AppError> {
    let reason = crate::validate::text("reason", reason, 2000)?;
    let subjects = match subject_ids {
        None => None,
        Some(ids) => {
            let ids: BTreeSet<SubjectId> = ids.into_iter().collect();
            if ids.is_empty() || ids.len() > MAX_HELD_SUBJECTS {
                return Err(AppError::BadInput(format!(
                    "`subjectIds` must name 1-{MAX_HELD_SUBJECTS} subjects (leave it out to hold the whole tenant)"
                )));
            }
            let found = crate::pagination::count(
                scope
                    .find::<steward_entities::data_subject::Entity>()
                    .filter(steward_entities::data_subject::Column::Id.is_in(ids.iter().copied())),
                scope.db(),
            )
            .await?;
            if found != ids.len() as u64 {
                return Err(AppError::NotFound(
                    "some of `subjectIds` are not subjects of this tenant".into(),
                ));
            }
            Some(ids.into_iter().collect::<Vec<_>>())
        }
    };
    let txn = scope.begin().await?;
    let model = txn
        .insert(legal_hold::ActiveModel {
            id: Set(Uuid::now_v7()),
            subject_ids: Set(subjects
                .as_ref()
                .map(|s| s.iter().map(|&s| Uuid::from(s)).collect())),
            reason: Set(reason),
            placed_by: Set(scope.principal().label()),
            placed_at: Set(Utc::now()),
            lifted_by: Set(None),
            lifted_at: Set(None),
            lift_reason: Set(None),
            ..Default::default()
        })
        .await?;
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "legal_hold.placed",
            "legal_hold",
            model.id,
        )
        .with_detail(json!({ "subjects": subjects, "tenant_wide": subjects.is_none() })),
    )
    .await?;
    Ok(model)
}

/// Lifts a hold. Erasures it held back are queued again.
pub async fn lift_hold(
    scope: &Scope,
    id: HoldId,
    reason: &str,
) -> Result<legal_hold::Model, AppError> {
    let reason = crate::validate::text("reason", reason, 2000)?;
    let hold = scope
        .find::<legal_hold::Entity>()
        .filter(legal_hold::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no legal hold {id}")))?;
    if hold.lifted_at.is_some() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::AlreadyLifted,
            message: "this legal hold was already lifted".into(),
        });
    }
    // Erasures in progress that this hold was holding back, and that no other hold covers.
    let mut still = Held::default();
    for other in scope
        .find::<legal_hold::Entity>()
        .filter(legal_hold::Column::LiftedAt.is_null())
        .filter(legal_hold::Column::Id.ne(id))
        .all(scope.db())
        .await?
    {
        match &other.subject_ids {
            None => still.tenant_wide = true,
            Some(ids) => still.subjects.extend(ids.0.iter().copied().map(SubjectId)),
        }
    }
    let covered: Option<HashSet<Uuid>> = hold
        .subject_ids
        .as_ref()
        .map(|ids| ids.0.iter().copied().collect());
    let waiting: Vec<dsr_request::Model> = scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Kind.eq(dsr_request::RequestKind::Erasure))
        .filter(dsr_request::Column::State.eq(dsr_request::RequestState::InProgress))
        .all(scope.db())
        .await?
        .into_iter()
        .filter(|r| covered.as_ref().is_none_or(|c| c.contains(&r.subject_id)))
        .filter(|r| !still.covers(SubjectId(r.subject_id)))
        .collect();
    let txn = scope.begin().await?;
    let mut model: legal_hold::ActiveModel = hold.into();
    model.lifted_by = Set(Some(scope.principal().label()));
    model.lifted_at = Set(Some(Utc::now()));
    model.lift_reason = Set(Some(reason));
    let lifted = model.update(&txn).await?;
    for request in &waiting {
        crate::erasure::requeue_erasure(&txn, scope.tenant_id(), request, &format!("hold-{id}"))
            .await?;
    }
    txn.commit(
        AuditEntry::by(scope.principal(), "legal_hold.lifted", "legal_hold", id).with_detail(
            json!({ "erasures_resumed": waiting.iter().map(|r| r.id).collect::<Vec<_>>() }),
        ),
    )
    .await?;
    Ok(lifted)
}

pub async fn holds(scope: &Scope) -> Result<Vec<legal_hold::Model>, AppError> {
    Ok(scope
        .find::<legal_hold::Entity>()
        .order_by_desc(legal_hold::Column::Id)
        .all(scope.db())
        .await?)
}

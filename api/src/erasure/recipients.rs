//! The one rule for who received a subject's data: a transfer concerns a subject when it names the subject, or when
//! it names nobody (recorded by count only) and carried one of the subject's categories. Erasures on request,
//! retention deletions, offboarding and the access export all ask here.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_entities::{onward_transfer, onward_transfer_subject, subprocessor};
use uuid::Uuid;

use crate::error::AppError;
use crate::ids::{SubProcessorId, SubjectId};
use crate::tenancy::{Scope, Tenancy};

/// What an erasure removed of each subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extent {
    /// The whole subject: each recipient is told to erase every category it received.
    Subject,
    /// Some values: each recipient is told only the erased categories it received; one that received none of them
    /// is not told.
    Values,
}

/// The tenant's transfers, with which subjects each names: read once for any number of subjects.
pub(crate) struct Transfers {
    named: HashMap<SubjectId, HashSet<Uuid>>,
    listed: HashSet<Uuid>,
    all: Vec<(onward_transfer::Model, BTreeSet<String>)>,
}

impl Transfers {
    pub(crate) async fn load(
        scope: &Scope,
        subjects: impl IntoIterator<Item = SubjectId>,
    ) -> Result<Self, AppError> {
        let subjects: BTreeSet<SubjectId> = subjects.into_iter().collect();
        let mut named: HashMap<SubjectId, HashSet<Uuid>> = HashMap::new();
        for link in scope
            .find::<onward_transfer_subject::Entity>()
            .filter(onward_transfer_subject::Column::SubjectId.is_in(subjects))
            .all(scope.db())
            .await?
        {
            named
                .entry(SubjectId(link.subject_id))
                .or_default()
                .insert(link.transfer_id);
        }
        let listed: HashSet<Uuid> = scope
            .find::<onward_transfer_subject::Entity>()
            .select_only()
            .column(onward_transfer_subject::Column::TransferId)
            .distinct()
            .into_tuple::<Uuid>()
            .all(scope.db())
            .await?
            .into_iter()
            .collect();
        let all = scope
            .find::<onward_transfer::Entity>()
            .order_by_asc(onward_transfer::Column::Id)
            .all(scope.db())
            .await?
            .into_iter()
            // A row whose categories cannot be read fails the read above (the erasure is retried, then dead where
            // privacy officers see it) instead of silently leaving a recipient untold.
            .map(|t| {
                let categories: BTreeSet<String> = t.categories.0.iter().cloned().collect();
                (t, categories)
            })
            .collect();
        Ok(Transfers { named, listed, all })
    }

    /// The transfers that concern `subject`, whose data is in `categories`, oldest first, each with the categories
    /// it carried.
    pub(crate) fn concerning<'a>(
        &'a self,
        subject: SubjectId,
        categories: &'a BTreeSet<String>,
    ) -> impl Iterator<Item = (&'a onward_transfer::Model, &'a BTreeSet<String>)> + 'a {
        let named = self.named.get(&subject);
        self.all.iter().filter_map(move |(t, sent)| {
            let concerns = named.is_some_and(|n| n.contains(&t.id))
                || (!self.listed.contains(&t.id) && sent.iter().any(|c| categories.contains(c)));
            concerns.then_some((t, sent))
        })
    }
}

/// The transfers that concern one subject whose data is in `categories`, oldest first.
pub(crate) async fn transfers_concerning(
    scope: &Scope,
    subject: SubjectId,
    categories: &BTreeSet<String>,
) -> Result<Vec<onward_transfer::Model>, AppError> {
    let transfers = Transfers::load(scope, [subject]).await?;
    Ok(transfers
        .concerning(subject, categories)
        .map(|(t, _)| t.clone())
        .collect())
}

/// Who must be told of an erasure: per (subject, sub-processor), the categories to erase. `erased` holds, per
/// subject, the categories of the values deleted (all of them for [`Extent::Subject`]).
pub(crate) async fn recipients(
    scope: &Scope,
    erased: &BTreeMap<SubjectId, BTreeSet<String>>,
    extent: Extent,
) -> Result<BTreeMap<(SubjectId, SubProcessorId), BTreeSet<String>>, AppError> {
    let transfers = Transfers::load(scope, erased.keys().copied()).await?;
    let mut recipients: BTreeMap<(SubjectId, SubProcessorId), BTreeSet<String>> = BTreeMap::new();
    for (subject, categories) in erased {
        for (t, sent) in transfers.concerning(*subject, categories) {
            let told: BTreeSet<String> = match extent {
                Extent::Subject => sent.clone(),
                Extent::Values => sent.intersection(categories).cloned().collect(),
            };
            if told.is_empty() && extent == Extent::Values {
                continue;
            }
            recipients
                .entry((*subject, SubProcessorId(t.sub_processor_id)))
                .or_default()
                .extend(told);
        }
    }
    Ok(recipients)
}

/// The registry entries of the recipients (read from the control database before the erasure's transaction).
pub(crate) async fn registry_of(
    tenancy: &Tenancy,
    recipients: &BTreeMap<(SubjectId, SubProcessorId), BTreeSet<String>>,
) -> Result<HashMap<SubProcessorId, subprocessor::Model>, AppError> {
    let ids: BTreeSet<SubProcessorId> = recipients.keys().map(|(_, sp)| *sp).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(subprocessor::Entity::find()
        .filter(subprocessor::Column::Id.is_in(ids))
        .all(tenancy.system().control())
        .await?
        .into_iter()
        .map(|s| (SubProcessorId(s.id), s))
        .collect())
}

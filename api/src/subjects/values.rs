//! Need-to-know at the field, and the access-transparency log.
//!
//! Every personal value passes through [`PiiContext::check_read`] before it is opened. Client users read their own
//! tenant's values by role (`pii:read`); our staff never do by role, only through an access grant in force that
//! covers the subject. Each value a staff member reads is recorded, and [`PiiContext::flush`] writes those records to
//! the tenant's access-transparency log (with an audit event) before the response leaves: if that write fails, the
//! response is withheld, so no read is ever served unlogged. The log names subjects and categories, never values.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use sea_orm::Set;
use serde_json::json;
use steward_entities::{access_log, data_subject};
use steward_policy::{ActorKind, Domain, Permission};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::crypto::SubjectKey;
use crate::error::AppError;
use crate::grants;
use crate::ids::{SubjectId, TenantId};
use crate::tenancy::{Detached, Scope, Tenancy};

/// How the caller may read one tenant's values during this request.
#[derive(Debug)]
enum TenantAccess {
    /// A client user holding `pii:read` in the tenant.
    ByRole,
    /// A staff member with these grants in force.
    ByGrants(Vec<GrantInForce>),
    Nothing,
}

#[derive(Debug)]
struct GrantInForce {
    id: Uuid,
    justification: String,
    ticket: String,
    /// `None`: every subject.
    subjects: Option<HashSet<Uuid>>,
}

/// One value read by a staff member, waiting to be logged.
struct Read {
    tenant: TenantId,
    door: Detached,
    staff: String,
    grant: Uuid,
    justification: String,
    ticket: String,
    /// `None` for a lookup that matched nobody (it is logged all the same).
    subject: Option<Uuid>,
    category: String,
}

/// Prefix of the "categories" a value lookup is logged under (`lookup:email`, `lookup:external_id`): a lookup
/// reveals whether someone is a subject, so it is in the transparency log like a read, though it reads no value.
pub const LOOKUP_PREFIX: &str = "lookup:";

/// Whose values a lookup may search.
#[derive(Debug)]
pub enum LookupScope {
    /// The tenant's own users with `pii:read`, or staff with a grant covering every subject.
    Everyone,
    /// Staff whose grants name subjects: the lookup searches only those.
    Only(Vec<Uuid>),
}

/// Per-request state: access decided once per tenant (so a grant's expiry applies from the next request), and the
/// staff reads to log.
pub struct PiiContext {
    tenancy: Tenancy,
    access: tokio::sync::Mutex<HashMap<TenantId, Arc<TenantAccess>>>,
    reads: Mutex<Vec<Read>>,
    denials: Mutex<Vec<Denial>>,
    /// Subject keys unwrapped during this request, so a subject's values share one unwrap.
    keys: Mutex<HashMap<(TenantId, Uuid), Arc<SubjectKey>>>,
    /// Wrapped subject keys read for a page at once ([`PiiContext::prefetch_keys`]), unwrapped only when a read of
    /// that subject's values is allowed.
    wrapped: Mutex<HashMap<(TenantId, Uuid), Vec<u8>>>,
}

/// A refused attempt to read a personal value, waiting to be audited.
struct Denial {
    tenant: TenantId,
    door: Detached,
    actor_kind: ActorKind,
    actor: String,
    subject: SubjectId,
    category: String,
}

const RESTRICTED: &str = "processing of this subject is restricted (a restriction request is open or was completed); \
                          its values are withheld from everyone until the client lifts the restriction";
const DENIED: &str = "reading personal values needs `pii:read` in this tenant; staff need an approved access grant \
                      covering this subject (requestAccessGrant)";

impl PiiContext {
    pub fn new(tenancy: Tenancy) -> Self {
        PiiContext {
            tenancy,
            access: tokio::sync::Mutex::new(HashMap::new()),
            reads: Mutex::new(Vec::new()),
            denials: Mutex::new(Vec::new()),
            keys: Mutex::new(HashMap::new()),
            wrapped: Mutex::new(HashMap::new()),
        }
    }

    async fn access(&self, scope: &Scope) -> Result<Arc<TenantAccess>, AppError> {
        let mut cache = self.access.lock().await;
        if let Some(access) = cache.get(&scope.tenant_id()) {
            return Ok(access.clone());
        }
        let principal = scope.principal();
        let access = match principal.kind {
            ActorKind::Client => {
                let allowed = self
                    .tenancy
                    .authorizer()
                    .is_allowed(
                        &principal.actor(),
                        Domain::Tenant(scope.tenant_id().0),
                        Permission::PiiRead,
                    )
                    .await;
                if allowed {
                    TenantAccess::ByRole
                } else {
                    TenantAccess::Nothing
                }
            }
            ActorKind::Staff => {
                let grants = grants::in_force(scope, &principal.subject)
                    .await?
                    .into_iter()
                    .map(|g| {
                        Ok(GrantInForce {
                            subjects: grants::subjects_of(&g)
                                .map(|ids| ids.into_iter().map(Uuid::from).collect()),
                            id: g.id,
                            justification: g.justification,
                            ticket: g.ticket,
                        })
                    })
                    .collect::<Result<Vec<_>, AppError>>()?;
                if grants.is_empty() {
                    TenantAccess::Nothing
                } else {
                    TenantAccess::ByGrants(grants)
                }
            }
        };
        let access = Arc::new(access);
        cache.insert(scope.tenant_id(), access.clone());
        Ok(access)
    }

    /// May the caller read `category` of `subject`? Records the read when a staff member makes it.
    /// A subject whose processing is restricted (Art. 18) is read by nobody until the restriction is lifted; its
    /// requests' own processing reads it through the request, not through here.
    pub async fn check_read(
        &self,
        scope: &Scope,
        subject: &data_subject::Model,
        category: &str,
    ) -> Result<(), AppError> {
        if subject.restricted_at.is_some() {
            self.deny(scope, SubjectId(subject.id), category)?;
            return Err(AppError::Forbidden(RESTRICTED.into()));
        }
        let subject = subject.id;
        let access = self.access(scope).await?;
        let grant = match &*access {
            TenantAccess::ByRole => return Ok(()),
            TenantAccess::Nothing => None,
            TenantAccess::ByGrants(grants) => grants
                .iter()
                .find(|g| g.subjects.as_ref().is_none_or(|s| s.contains(&subject))),
        };
        match grant {
            None => {
                self.deny(scope, SubjectId(subject), category)?;
                Err(AppError::Forbidden(DENIED.into()))
            }
            Some(grant) => {
                self.reads.lock().map_err(|_| poisoned())?.push(Read {
                    tenant: scope.tenant_id(),
                    door: scope.detach(),
                    staff: scope.principal().subject.clone(),
                    grant: grant.id,
                    justification: grant.justification.clone(),
                    ticket: grant.ticket.clone(),
                    subject: Some(subject),
                    category: category.to_owned(),
                });
                Ok(())
            }
        }
    }

    fn deny(&self, scope: &Scope, subject: SubjectId, category: &str) -> Result<(), AppError> {
        self.denials.lock().map_err(|_| poisoned())?.push(Denial {
            tenant: scope.tenant_id(),
            door: scope.detach(),
            actor_kind: scope.principal().kind,
            actor: scope.principal().subject.clone(),
            subject,
            category: category.to_owned(),
        });
        Ok(())
    }

    /// Reads the wrapped keys of a page's subjects in one statement, for [`PiiContext::subject_key`] (which unwraps
    /// one only once a read of its subject's values is allowed).
    pub async fn prefetch_keys(&self, scope: &Scope, subjects: &[Uuid]) -> Result<(), AppError> {
        let found = scope.subject_keys().get_many(subjects).await?;
        self.remember_keys(scope, found)
    }

    /// Keeps wrapped subject keys read for this request (by [`PiiContext::prefetch_keys`] or beside a page), for
    /// [`PiiContext::subject_key`].
    pub fn remember_keys(
        &self,
        scope: &Scope,
        found: HashMap<Uuid, Vec<u8>>,
    ) -> Result<(), AppError> {
        let tenant = scope.tenant_id();
        self.wrapped.lock().map_err(|_| poisoned())?.extend(
            found
                .into_iter()
                .map(|(id, wrapped)| ((tenant, id), wrapped)),
        );
        Ok(())
    }

    /// The subject's data key, unwrapped once per request. Call only after [`PiiContext::check_read`] allowed a read.
    pub async fn subject_key(
        &self,
        scope: &Scope,
        subject: &data_subject::Model,
    ) -> Result<Arc<SubjectKey>, AppError> {
        let id = (scope.tenant_id(), subject.id);
        if let Some(key) = self.keys.lock().map_err(|_| poisoned())?.get(&id) {
            return Ok(key.clone());
        }
        let prefetched = self.wrapped.lock().map_err(|_| poisoned())?.remove(&id);
        let key = Arc::new(match prefetched {
            Some(wrapped) => crate::subjects::unwrap_subject_key(scope, subject.id, &wrapped)?,
            // Boxed: a read's future is large, and this one is inside the future of every value field of a page
            // (measured: unboxed, moving and zeroing those futures cost 45% of a page's throughput).
            None => Box::pin(crate::subjects::subject_key(scope, subject)).await?,
        });
        self.keys
            .lock()
            .map_err(|_| poisoned())?
            .insert(id, key.clone());
        Ok(key)
    }

    /// Filtering by a value (email, external id) tells whether someone is a subject: it needs some right to values.
    /// Staff search only what their grants cover — the whole tenant with a tenant-wide grant, else only the granted
    /// subjects — and [`PiiContext::record_lookup`] logs the lookup.
    pub async fn check_lookup(&self, scope: &Scope) -> Result<LookupScope, AppError> {
        match &*self.access(scope).await? {
            TenantAccess::Nothing => Err(AppError::Forbidden(
                "filtering by `email` or `externalId` needs the right to read personal values in this tenant".into(),
            )),
            TenantAccess::ByRole => Ok(LookupScope::Everyone),
            TenantAccess::ByGrants(grants) => {
                if grants.iter().any(|g| g.subjects.is_none()) {
                    return Ok(LookupScope::Everyone);
                }
                let mut ids: Vec<Uuid> = grants
                    .iter()
                    .flat_map(|g| g.subjects.iter().flatten().copied())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                Ok(LookupScope::Only(ids))
            }
        }
    }

    /// Writes the staff reads of this request to each tenant's access-transparency log and audit chain, and every
    /// refused read to the audit chain (one event per tenant and request).
    pub async fn flush(
        &self,
        request_id: Option<&str>,
        client_request_id: Option<&str>,
    ) -> Result<(), AppError> {
        let denials = std::mem::take(&mut *self.denials.lock().map_err(|_| poisoned())?);
        let mut by_tenant: BTreeMap<TenantId, Vec<Denial>> = BTreeMap::new();
        for denial in denials {
            by_tenant.entry(denial.tenant).or_default().push(denial);
        }
        for denials in by_tenant.into_values() {
            let first = &denials[0];
            let subjects: BTreeSet<SubjectId> = denials.iter().map(|d| d.subject).collect();
            let categories: BTreeSet<&str> = denials.iter().map(|d| d.category.as_str()).collect();
            let txn = first.door.begin().await?;
            txn.commit(AuditEntry {
                    actor_kind: first.actor_kind.as_str().to_owned(),
                    actor_subject: first.actor.clone(),
                    action: "pii.denied".into(),
                    object_type: "data_subject".into(),
                    object_id: format!("{} subject(s)", subjects.len()),
                    detail: json!({ "subjects": subjects, "categories": categories, "request": request_id, "client_request": client_request_id }),
                }).await?;
        }
        let reads = std::mem::take(&mut *self.reads.lock().map_err(|_| poisoned())?);
        if reads.is_empty() {
            return Ok(());
        }
        // One log entry per tenant and grant.
        let mut groups: BTreeMap<(TenantId, Uuid), Vec<Read>> = BTreeMap::new();
        for read in reads {
            groups
                .entry((read.tenant, read.grant))
                .or_default()
                .push(read);
        }
        let now = Utc::now();
        for ((_, grant), reads) in groups {
            let first = &reads[0];
            let subjects: BTreeSet<Uuid> = reads.iter().filter_map(|r| r.subject).collect();
            let categories: BTreeSet<&str> = reads.iter().map(|r| r.category.as_str()).collect();
            let values_read = reads
                .iter()
                .filter(|r| !r.category.starts_with(LOOKUP_PREFIX))
                .count();
            let id = Uuid::now_v7();
            let txn = first.door.begin().await?;
            txn.insert(access_log::ActiveModel {
                id: Set(id),
                occurred_at: Set(now),
                staff_subject: Set(first.staff.clone()),
                grant_id: Set(grant),
                justification: Set(first.justification.clone()),
                ticket: Set(first.ticket.clone()),
                subject_ids: Set(subjects.iter().copied().collect()),
                categories: Set(categories.iter().cloned().collect()),
                values_read: Set(i32::try_from(values_read).unwrap_or(i32::MAX)),
                request_id: Set(request_id.map(str::to_owned)),
                ..Default::default()
            })
            .await?;
            txn.commit(AuditEntry {
                    actor_kind: ActorKind::Staff.as_str().to_owned(),
                    actor_subject: first.staff.clone(),
                    action: "pii.read".into(),
                    object_type: "access_log".into(),
                    object_id: id.to_string(),
                    detail: json!({ "grant": grant, "subjects": subjects.len(), "categories": categories, "request": request_id, "client_request": client_request_id }),
                }).await?;
        }
        Ok(())
    }
}

impl PiiContext {
    /// Logs a staff member's value lookup in the tenant's access-transparency log (with the grant that allowed it and
    /// the subjects it found, possibly none). Clients' own lookups are not staff access and are not logged here.
    pub async fn record_lookup(
        &self,
        scope: &Scope,
        fields: &[&str],
        found: &[Uuid],
    ) -> Result<(), AppError> {
        let TenantAccess::ByGrants(grants) = &*self.access(scope).await? else {
            return Ok(());
        };
        // The grant that allowed it: a tenant-wide one if held, else the first naming a found subject, else any.
        let Some(grant) = grants
            .iter()
            .find(|g| g.subjects.is_none())
            .or_else(|| {
                grants.iter().find(|g| {
                    g.subjects
                        .as_ref()
                        .is_some_and(|s| found.iter().any(|f| s.contains(f)))
                })
            })
            .or_else(|| grants.first())
        else {
            return Ok(());
        };
        let mut reads = self.reads.lock().map_err(|_| poisoned())?;
        for field in fields {
            let subjects: Vec<Option<Uuid>> = if found.is_empty() {
                vec![None]
            } else {
                found.iter().copied().map(Some).collect()
            };
            for subject in subjects {
                reads.push(Read {
                    tenant: scope.tenant_id(),
                    door: scope.detach(),
                    staff: scope.principal().subject.clone(),
                    grant: grant.id,
                    justification: grant.justification.clone(),
                    ticket: grant.ticket.clone(),
                    subject,
                    category: format!("{LOOKUP_PREFIX}{field}"),
                });
            }
        }
        Ok(())
    }
}

fn poisoned() -> AppError {
    AppError::internal(anyhow::anyhow!("access recorder lock poisoned"))
}

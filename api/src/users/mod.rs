//! Users of a client and role assignments.
//!
//! Client users are the tenant's own (their rows live in its region database). Role assignments live in the control
//! database and in the shared [`Authorizer`](steward_policy::Authorizer); a change is written to the database first
//! and then to the authorizer, so it takes effect on the very next request.

pub mod graphql;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde_json::json;
use steward_entities::{role_assignment, tenant_user};
use steward_policy::{Actor, ActorKind, Assignment, Domain, Permission, Role};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{TenantId, UserId};
use crate::owed::{self, Owed};
use crate::pagination::{Page, PageOf};
use crate::tenancy::AssignmentChange;
use crate::tenancy::assignments::{AssignmentRecord, bump_version};
use crate::tenancy::{Scope, Tenancy};

const MAX_SUBJECT_CHARS: usize = 255;
const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A user of a client.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    pub subject: String,
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<tenant_user::Model> for UserRecord {
    fn from(m: tenant_user::Model) -> Self {
        UserRecord {
            id: UserId(m.id),
            subject: m.subject,
            email: m.email,
            display_name: m.display_name,
            created_at: m.created_at,
        }
    }
}

/// What `inviteUser` asks for.
#[derive(Clone, Debug)]
pub struct Invitation {
    pub email: String,
    /// The `sub` the user's identity provider will put in their tokens; defaults to the lower-cased email.
    pub subject: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
}

/// Adds a user to the scope's tenant with a client role. The scope must have been opened for `user:invite`.
pub async fn invite(
    tenancy: &Tenancy,
    scope: &Scope,
    invitation: Invitation,
) -> Result<UserRecord, AppError> {
    let email = crate::validate::email(&invitation.email)?;
    let email_key = email.to_lowercase();
    let subject = match invitation.subject.as_deref().map(str::trim) {
        Some(s) => clean_subject(s)?,
        None => email_key.clone(),
    };
    let display_name = invitation
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| crate::validate::label("displayName", n, MAX_DISPLAY_NAME_CHARS))
        .transpose()?;
    if invitation.role.holder_kind() != ActorKind::Client {
        return Err(AppError::BadInput(format!(
            "`{}` is a staff role; users of a client hold client_admin or client_viewer",
            invitation.role
        )));
    }
    let tenant_id = scope.tenant_id();
    let principal = scope.principal();
    let now = Utc::now();
    let user_id = UserId::new();

    // The region commits before the control database, so a failure between the two leaves a user without a role,
    // never a role without its user; inviting the same email and subject again completes it ([`without_a_role`]).
    // Control first, then the region, like every path that holds both: on SQLite each has one writer connection, and
    // two requests taking them in opposite orders would wait on each other until the pool timeout.
    let control = scope.control().begin().await?;
    refuse_staff_in_administered_tenant(&control, principal, tenant_id, invitation.role).await?;
    let mut txn = scope.begin().await?;
    let inserted = txn
        .insert(tenant_user::ActiveModel {
            id: Set(user_id.0),
            subject: Set(subject.clone()),
            email: Set(email),
            email_key: Set(email_key.clone()),
            display_name: Set(display_name.clone()),
            invited_by: Set(principal.label()),
            created_at: Set(now),
            ..Default::default()
        })
        .await;
    let model = match inserted {
        Ok(model) => model,
        Err(e) => {
            let refused = AppError::on_unique(e, || {
                "this tenant already has a user with that email or subject".into()
            });
            if !matches!(refused, AppError::Conflict(_)) {
                return Err(refused);
            }
            // The region's transaction is spent (PostgreSQL aborts it on the violation): a fresh one, if the user is
            // one whose invitation died between the two databases, or whose every role was revoked.
            drop(txn);
            let Some(existing) = without_a_role(scope, &control, &subject, &email_key).await?
            else {
                return Err(refused);
            };
            txn = scope.begin().await?;
            // Invited again: by this inviter, and under the name given now (if one is).
            let mut healed = existing.clone();
            healed.invited_by = principal.label();
            if let Some(name) = display_name {
                healed.display_name = Some(name);
            }
            txn.update_many::<tenant_user::Entity>()
                .col_expr(
                    tenant_user::Column::InvitedBy,
                    Expr::value(healed.invited_by.clone()),
                )
                .col_expr(
                    tenant_user::Column::DisplayName,
                    Expr::value(healed.display_name.clone()),
                )
                .filter(tenant_user::Column::Id.eq(existing.id))
                .exec(&txn)
                .await?;
            healed
        }
    };
    let user_id = UserId(model.id);
    // The audit names the user by id: their email is personal data and stays out of the log.
    txn.record(
        AuditEntry::by(principal, "user.invited", "user", user_id)
            .with_detail(json!({ "role": invitation.role.as_str() })),
    )
    .await?;

    let assignment = Assignment::new(
        Actor::new(ActorKind::Client, subject),
        invitation.role,
        Domain::Tenant(tenant_id.0),
    )?;
    let (_, version) = insert_assignment(&control, &assignment, principal, now).await?;
    txn.commit_recorded().await?;
    control.commit().await?;
    tenancy
        .apply_role_change(version, AssignmentChange::Assign(&assignment))
        .await?;
    Ok(UserRecord::from(model))
}

/// The tenant's user with this subject and email if they hold no role in the tenant: invited by a request that died
/// between the region's commit and the control database's, or left with nothing by revocations.
async fn without_a_role<C: sea_orm::ConnectionTrait>(
    scope: &Scope,
    control: &C,
    subject: &str,
    email_key: &str,
) -> Result<Option<tenant_user::Model>, AppError> {
    let Some(existing) = scope
        .find::<tenant_user::Entity>()
        .filter(tenant_user::Column::Subject.eq(subject))
        .filter(tenant_user::Column::EmailKey.eq(email_key))
        .one(scope.db())
        .await?
    else {
        return Ok(None);
    };
    let holds_a_role = role_assignment::Entity::find()
        .filter(role_assignment::Column::ActorKind.eq(ActorKind::Client.as_str()))
        .filter(role_assignment::Column::Subject.eq(subject))
        .filter(role_assignment::Column::Domain.eq(Domain::Tenant(scope.tenant_id().0).key()))
        .one(control)
        .await?
        .is_some();
    Ok((!holds_a_role).then_some(existing))
}

/// One page of the scope's tenant's users, oldest first. The scope must have been opened for `user:read`.
pub async fn list(scope: &Scope, page: Page) -> Result<PageOf<UserRecord>, AppError> {
    let total = crate::pagination::count(scope.find::<tenant_user::Entity>(), scope.db()).await?;
    let mut query = scope.find::<tenant_user::Entity>();
    if let Some(after) = page.after {
        query = query.filter(tenant_user::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(tenant_user::Column::Id)
        .limit(page.fetch_limit())
        .all(scope.db())
        .await?
        .into_iter()
        .map(UserRecord::from)
        .collect();
    Ok(PageOf::from_fetched(rows, &page, total))
}

/// What `assignRole` / `revokeRole` name.
#[derive(Clone, Debug)]
pub struct RoleChange {
    pub subject: String,
    pub role: Role,
    /// Required for client roles (staff name it; clients may omit it for their own tenant); absent for staff roles.
    pub tenant_id: Option<TenantId>,
}

/// Grants a role. Client roles: to an existing user of the tenant, by its `client_admin` (or a platform admin).
/// Staff roles: by a platform admin. Granting a role already held changes nothing and returns it.
pub async fn assign_role(
    tenancy: &Tenancy,
    principal: &Principal,
    change: RoleChange,
) -> Result<AssignmentRecord, AppError> {
    let subject = clean_subject(&change.subject)?;
    let now = Utc::now();
    match change.role.holder_kind() {
        ActorKind::Client => {
            let scope = tenancy
                .scope(principal, change.tenant_id, Permission::ClientRoleAssign)
                .await?;
            ensure_user_exists(&scope, &subject).await?;
            let assignment = Assignment::new(
                Actor::new(ActorKind::Client, subject),
                change.role,
                Domain::Tenant(scope.tenant_id().0),
            )?;
            let control = scope.control().begin().await?;
            refuse_staff_in_administered_tenant(
                &control,
                principal,
                scope.tenant_id(),
                change.role,
            )
            .await?;
            if let Some(existing) = find_assignment(&control, &assignment).await? {
                return AssignmentRecord::from_model(existing);
            }
            let (record, version) =
                insert_assignment(&control, &assignment, principal, now).await?;
            // The assignment and the tenant's event commit together (the event through the outbox).
            let deferred = owed::defer(
                &control,
                scope.tenant_id(),
                &role_event(principal, "role.assigned", &assignment),
                Vec::new(),
            )
            .await?;
            control.commit().await?;
            owed::apply_now(tenancy, deferred).await;
            tenancy
                .apply_role_change(version, AssignmentChange::Assign(&assignment))
                .await?;
            Ok(record)
        }
        ActorKind::Staff => {
            let platform = tenancy
                .require_platform(principal, Permission::StaffRoleAssign)
                .await?;
            if change.tenant_id.is_some() {
                return Err(AppError::BadInput(format!(
                    "`{}` is a staff role and holds across all tenants: leave `tenantId` out",
                    change.role
                )));
            }
            // Nobody gives themselves a staff role: a platform admin who could make themselves a privacy officer
            // could read any client's values through break-glass access alone.
            if principal.kind == ActorKind::Staff && principal.subject == subject {
                return Err(AppError::Refused {
                    reason: crate::error::RefusalReason::SecondPersonRequired,
                    message: "a staff role is given by another platform admin: nobody assigns one to themselves"
                        .into(),
                });
            }
            let assignment = Assignment::new(
                Actor::new(ActorKind::Staff, subject),
                change.role,
                Domain::Platform,
            )?;
            let control = platform.control().begin().await?;
            if let Some(existing) = find_assignment(&control, &assignment).await? {
                return AssignmentRecord::from_model(existing);
            }
            let (record, version) =
                insert_assignment(&control, &assignment, principal, now).await?;
            audit::append_platform(
                &control,
                role_event(principal, "role.assigned", &assignment),
            )
            .await?;
            control.commit().await?;
            tenancy
                .apply_role_change(version, AssignmentChange::Assign(&assignment))
                .await?;
            Ok(record)
        }
    }
}

/// Takes a role away; effective on the holder's next request. The last `client_admin` of a tenant and the last
/// `platform_admin` cannot be removed, so nobody is locked out of their own administration.
pub async fn revoke_role(
    tenancy: &Tenancy,
    principal: &Principal,
    change: RoleChange,
) -> Result<AssignmentRecord, AppError> {
    let subject = clean_subject(&change.subject)?;
    match change.role.holder_kind() {
        ActorKind::Client => {
            let scope = tenancy
                .scope(principal, change.tenant_id, Permission::ClientRoleAssign)
                .await?;
            let domain = Domain::Tenant(scope.tenant_id().0);
            let assignment =
                Assignment::new(Actor::new(ActorKind::Client, subject), change.role, domain)?;
            let control = scope.control().begin().await?;
            let existing = remove_assignment(&control, &assignment).await?;
            let version = bump_version(&control).await?;
            // The revocation, the tenant's event and (when staff revoked it) the notice commit together.
            let deferred = owed::defer(
                &control,
                scope.tenant_id(),
                &role_event(principal, "role.revoked", &assignment),
                staff_role_change_notice(principal, "revoked", &assignment)
                    .into_iter()
                    .collect(),
            )
            .await?;
            control.commit().await?;
            owed::apply_now(tenancy, deferred).await;
            tenancy
                .apply_role_change(version, AssignmentChange::Revoke(&assignment))
                .await?;
            AssignmentRecord::from_model(existing)
        }
        ActorKind::Staff => {
            let platform = tenancy
                .require_platform(principal, Permission::StaffRoleAssign)
                .await?;
            if change.tenant_id.is_some() {
                return Err(AppError::BadInput(format!(
                    "`{}` is a staff role and holds across all tenants: leave `tenantId` out",
                    change.role
                )));
            }
            let assignment = Assignment::new(
                Actor::new(ActorKind::Staff, subject),
                change.role,
                Domain::Platform,
            )?;
            let control = platform.control().begin().await?;
            let existing = remove_assignment(&control, &assignment).await?;
            let version = bump_version(&control).await?;
            audit::append_platform(&control, role_event(principal, "role.revoked", &assignment))
                .await?;
            control.commit().await?;
            tenancy
                .apply_role_change(version, AssignmentChange::Revoke(&assignment))
                .await?;
            AssignmentRecord::from_model(existing)
        }
    }
}

/// Makes `subject` a platform admin unless it already is (the `STEWARD_BOOTSTRAP_ADMIN` of a new deployment).
pub async fn bootstrap_platform_admin(tenancy: &Tenancy, subject: &str) -> Result<bool, AppError> {
    let subject = clean_subject(subject)?;
    let assignment = Assignment::new(
        Actor::new(ActorKind::Staff, subject.clone()),
        Role::PlatformAdmin,
        Domain::Platform,
    )?;
    let control = tenancy.system().control().begin().await?;
    if find_assignment(&control, &assignment).await?.is_some() {
        return Ok(false);
    }
    let system = Principal {
        subject: "steward".into(),
        kind: ActorKind::Staff,
        tenant_id: None,
    };
    let (_, version) = insert_assignment(&control, &assignment, &system, Utc::now()).await?;
    audit::append_platform(
        &control,
        AuditEntry::system(
            "role.bootstrapped",
            "role_assignment",
            format!("staff:{subject}"),
        )
        .with_detail(json!({ "role": Role::PlatformAdmin.as_str() })),
    )
    .await?;
    control.commit().await?;
    tenancy
        .apply_role_change(version, AssignmentChange::Assign(&assignment))
        .await?;
    Ok(true)
}

/// The roles a principal holds where it stands: a client in its tenant, staff on the platform.
pub async fn roles_of(tenancy: &Tenancy, principal: &Principal) -> Vec<Role> {
    let domain = match principal.tenant_id {
        Some(t) => Domain::Tenant(t.0),
        None => Domain::Platform,
    };
    tenancy
        .authorizer()
        .roles_in(&principal.actor(), domain)
        .await
}

/// The client roles of one of the scope's users.
pub async fn roles_of_user(tenancy: &Tenancy, scope: &Scope, subject: &str) -> Vec<Role> {
    tenancy
        .authorizer()
        .roles_in(
            &Actor::new(ActorKind::Client, subject),
            Domain::Tenant(scope.tenant_id().0),
        )
        .await
}

async fn ensure_user_exists(scope: &Scope, subject: &str) -> Result<(), AppError> {
    let found = scope
        .find::<tenant_user::Entity>()
        .filter(tenant_user::Column::Subject.eq(subject))
        .one(scope.db())
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound(format!(
            "this tenant has no user with subject `{subject}`; invite them first"
        ))),
    }
}

/// Removes an assignment inside `control`, refusing to remove the last `client_admin` of a tenant or the last
/// `platform_admin`. The holders are counted in SQL after taking the domain's lock (PostgreSQL: an advisory
/// transaction lock; SQLite: its one writer), and the delete must remove exactly one row: two concurrent revocations
/// cannot remove the last two admins, nor one the same assignment twice.
async fn remove_assignment(
    control: &sea_orm::DatabaseTransaction,
    assignment: &Assignment,
) -> Result<role_assignment::Model, AppError> {
    let domain = assignment.domain().key();
    crate::db::lock_for_transaction(control, domain_lock_key(&domain)).await?;
    let existing = find_assignment(control, assignment)
        .await?
        .ok_or_else(no_such_assignment)?;
    if matches!(assignment.role(), Role::ClientAdmin | Role::PlatformAdmin) {
        let others = crate::pagination::count(
            role_assignment::Entity::find()
                .filter(role_assignment::Column::Domain.eq(domain.as_str()))
                .filter(role_assignment::Column::Role.eq(assignment.role().as_str()))
                .filter(role_assignment::Column::Id.ne(existing.id)),
            control,
        )
        .await?;
        if others == 0 {
            return Err(AppError::Conflict(format!(
                "`{}` is the last {}; assign the role to someone else first",
                assignment.actor().subject,
                assignment.role()
            )));
        }
    }
    let deleted = role_assignment::Entity::delete_many()
        .filter(role_assignment::Column::Id.eq(existing.id))
        .exec(control)
        .await?
        .rows_affected;
    if deleted != 1 {
        return Err(no_such_assignment());
    }
    Ok(existing)
}

/// The advisory-lock key of a role domain's assignments.
fn domain_lock_key(domain: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("role-domain:{domain}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

/// Staff give one client role, `client_admin`, and only to a tenant that has none yet (to set it up): from then on its
/// admins decide who holds its roles, so no staff member can make themselves or an accomplice a reader of its data —
/// not even a `client_viewer` planted before the first admin arrives.
async fn refuse_staff_in_administered_tenant(
    control: &sea_orm::DatabaseTransaction,
    principal: &Principal,
    tenant: TenantId,
    role: Role,
) -> Result<(), AppError> {
    if principal.kind != ActorKind::Staff {
        return Ok(());
    }

    let domain = Domain::Tenant(tenant.0).key();
    crate::db::lock_for_transaction(control, domain_lock_key(&domain)).await?;
    let admins = crate::pagination::count(
        role_assignment::Entity::find()
            .filter(role_assignment::Column::Domain.eq(domain.as_str()))
            .filter(role_assignment::Column::Role.eq(Role::ClientAdmin.as_str())),
        control,
    )
    .await?;
    if admins > 0 {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::TenantHasAdmin,
            message: "this tenant has a client_admin: its admins invite its users and give its roles; staff set up \
                      only a tenant's first admin"
                .into(),
        });
    }
    if role != Role::ClientAdmin {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ClientRolesAreTheClients,
            message:
                "staff set up only a tenant's first client_admin; its admins invite its other users"
                    .into(),
        });
    }
    Ok(())
}

/// Every role change staff make in a tenant is told to its admins (owed with the change, through the outbox). Staff
/// give roles only in a tenant without admins (nobody to tell yet), so what is told is what staff take away.
fn staff_role_change_notice(
    principal: &Principal,
    what: &str,
    assignment: &Assignment,
) -> Option<Owed> {
    if principal.kind != ActorKind::Staff {
        return None;
    }
    Some(Owed::notice(
        "role.changed_by_staff",
        &format!("Our staff changed a role in your tenant ({what})"),
        format!(
            "{} {what} the role {} for `{}`. Review your users and roles in the console.",
            principal.label(),
            assignment.role(),
            assignment.actor().subject
        ),
    ))
}

async fn find_assignment<C: sea_orm::ConnectionTrait>(
    conn: &C,
    assignment: &Assignment,
) -> Result<Option<role_assignment::Model>, AppError> {
    Ok(role_assignment::Entity::find()
        .filter(role_assignment::Column::Domain.eq(assignment.domain().key()))
        .filter(role_assignment::Column::ActorKind.eq(assignment.actor().kind.as_str()))
        .filter(role_assignment::Column::Subject.eq(assignment.actor().subject.as_str()))
        .filter(role_assignment::Column::Role.eq(assignment.role().as_str()))
        .one(conn)
        .await?)
}

async fn insert_assignment<C: sea_orm::ConnectionTrait>(
    conn: &C,
    assignment: &Assignment,
    by: &Principal,
    at: DateTime<Utc>,
) -> Result<(AssignmentRecord, i64), AppError> {
    let model = role_assignment::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_kind: Set(assignment.actor().kind.as_str().to_owned()),
        subject: Set(assignment.actor().subject.clone()),
        role: Set(assignment.role().as_str().to_owned()),
        domain: Set(assignment.domain().key()),
        assigned_by: Set(by.label()),
        assigned_at: Set(at),
    }
    .insert(conn)
    .await
    .map_err(|e| AppError::on_unique(e, || "that role was granted meanwhile; reload".into()))?;
    let version = bump_version(conn).await?;
    Ok((AssignmentRecord::from_model(model)?, version))
}

fn role_event(principal: &Principal, action: &'static str, assignment: &Assignment) -> AuditEntry {
    AuditEntry::by(
        principal,
        action,
        "role_assignment",
        format!("{}:{}", assignment.actor().kind, assignment.actor().subject),
    )
    .with_detail(json!({ "role": assignment.role().as_str() }))
}

fn no_such_assignment() -> AppError {
    AppError::NotFound("no such role assignment".into())
}

fn clean_subject(raw: &str) -> Result<String, AppError> {
    crate::validate::label("subject", raw, MAX_SUBJECT_CHARS)
}

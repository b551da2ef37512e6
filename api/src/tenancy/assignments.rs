//! Role assignments as stored in the control database, and the shared version every change bumps so other instances
//! reload the authorizer. Lower than any domain: [`Tenancy`](super::Tenancy) loads them at start; `users` changes them.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use steward_entities::role_assignment;
use steward_policy::{Actor, ActorKind, Assignment, Domain, Role};

use crate::error::AppError;
use crate::ids::TenantId;

/// One role held by one person in one domain.
#[derive(Clone, Debug)]
pub struct AssignmentRecord {
    pub kind: ActorKind,
    pub subject: String,
    pub role: Role,
    /// `None` for staff roles, which hold in every tenant.
    pub tenant_id: Option<TenantId>,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
}

impl AssignmentRecord {
    pub(crate) fn from_model(m: role_assignment::Model) -> Result<Self, AppError> {
        let corrupt = || AppError::internal(anyhow::anyhow!("malformed role assignment {}", m.id));
        let kind = match m.actor_kind.as_str() {
            "staff" => ActorKind::Staff,
            "client" => ActorKind::Client,
            _ => return Err(corrupt()),
        };
        let role: Role = m.role.parse().map_err(|_| corrupt())?;
        let tenant_id = match Domain::from_key(&m.domain).ok_or_else(corrupt)? {
            Domain::Platform => None,
            Domain::Tenant(id) => Some(TenantId(id)),
        };
        Ok(AssignmentRecord {
            kind,
            subject: m.subject,
            role,
            tenant_id,
            assigned_by: m.assigned_by,
            assigned_at: m.assigned_at,
        })
    }

    pub(crate) fn to_assignment(&self) -> Result<Assignment, AppError> {
        let domain = self
            .tenant_id
            .map_or(Domain::Platform, |t| Domain::Tenant(t.0));
        Ok(Assignment::new(
            Actor::new(self.kind, self.subject.clone()),
            self.role,
            domain,
        )?)
    }
}

/// Every stored assignment, to load the authorizer at start.
pub async fn load_assignments(control: &DatabaseConnection) -> Result<Vec<Assignment>, AppError> {
    role_assignment::Entity::find()
        .all(control)
        .await?
        .into_iter()
        .map(|m| AssignmentRecord::from_model(m)?.to_assignment())
        .collect()
}

/// Every change to the assignments or to a tenant's directory entry bumps the shared version, in the change's own
/// transaction, so other instances reload.
pub async fn bump_version<C: sea_orm::ConnectionTrait>(conn: &C) -> Result<i64, AppError> {
    steward_entities::authz_state::Entity::update_many()
        .col_expr(
            steward_entities::authz_state::Column::Version,
            sea_orm::sea_query::ExprTrait::add(
                sea_orm::sea_query::Expr::col(steward_entities::authz_state::Column::Version),
                1,
            ),
        )
        .filter(steward_entities::authz_state::Column::Id.eq(1))
        .exec(conn)
        .await?;
    let version = steward_entities::authz_state::Entity::find_by_id(1)
        .one(conn)
        .await?
        .map_or(0, |s| s.version);
    // Instances listening on PostgreSQL hear of it as the change commits (never before, never if it rolls back).
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [super::AUTHZ_CHANNEL.into(), version.to_string().into()],
        ))
        .await?;
    }
    Ok(version)
}

/// The current version of the assignments.
pub async fn assignments_version(control: &DatabaseConnection) -> Result<i64, AppError> {
    Ok(steward_entities::authz_state::Entity::find_by_id(1)
        .one(control)
        .await?
        .map_or(0, |s| s.version))
}

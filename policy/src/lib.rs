#![forbid(unsafe_code)]
//! Steward's authorization, in one place.
//!
//! Casbin's RBAC-with-domains model (`model.conf`) and the baseline permissions of every role (`policy.csv`) are files
//! in this crate; role *assignments* are data the server keeps in its control database and hands to [`Authorizer`].
//! Callers never see Casbin strings: they ask typed questions — may this [`Actor`] do this [`Permission`] in this
//! [`Domain`]? — and get a yes or no.
//!
//! The rules this crate makes structural:
//! - client roles are granted only in a tenant's domain, staff roles only in the platform domain ([`Assignment::new`]);
//! - domains are compared exactly, never by pattern;
//! - the baseline policy is a few dozen lines whatever the number of tenants, so a denied check stays cheap.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use tokio::sync::RwLock;
use uuid::Uuid;

/// The Casbin model, as shipped.
pub const MODEL: &str = include_str!("../model.conf");
/// The baseline permissions of each role, as shipped.
pub const BASELINE_POLICY: &str = include_str!("../policy.csv");

const PLATFORM_DOMAIN: &str = "*";

/// Errors of the authorization layer. They are configuration or invariant errors, never "denied": a denial is `false`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the shipped Casbin model or policy is invalid: {0}")]
    Model(String),
    #[error("a {role} role cannot be granted in {domain}")]
    WrongDomain { role: Role, domain: Domain },
    #[error("a {role} role cannot be held by a {kind} principal")]
    WrongKind { role: Role, kind: ActorKind },
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("casbin: {0}")]
    Casbin(String),
}

impl From<casbin::Error> for PolicyError {
    fn from(e: casbin::Error) -> Self {
        PolicyError::Casbin(e.to_string())
    }
}

/// Every role Steward knows. Client roles live in a tenant's domain; staff roles in the platform domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    ClientAdmin,
    ClientViewer,
    PlatformAdmin,
    Support,
    PrivacyOfficer,
    Legal,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::ClientAdmin,
        Role::ClientViewer,
        Role::PlatformAdmin,
        Role::Support,
        Role::PrivacyOfficer,
        Role::Legal,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClientAdmin => "client_admin",
            Role::ClientViewer => "client_viewer",
            Role::PlatformAdmin => "platform_admin",
            Role::Support => "support",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Legal => "legal",
            Role::Auditor => "auditor",
        }
    }

    /// The kind of principal that may hold this role.
    pub fn holder_kind(self) -> ActorKind {
        match self {
            Role::ClientAdmin | Role::ClientViewer => ActorKind::Client,
            _ => ActorKind::Staff,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PolicyError::UnknownRole(s.to_owned()))
    }
}

/// What an action is about and what it does, as `(object, action)` in the policy file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    TenantRead,
    TenantCreate,
    /// Suspend, reactivate, offboard.
    TenantLifecycle,
    UserRead,
    UserInvite,
    /// Subject metadata: ids, counts, categories present, timestamps — never values.
    SubjectRead,
    SubjectWrite,
    ClientRoleAssign,
    StaffRoleAssign,
    PiiRead,
    PiiWrite,
    RequestRead,
    RequestSubmit,
    RequestHandle,
    RetentionManage,
    SubprocessorRead,
    SubprocessorManage,
    SubprocessorObject,
    TransferManage,
    /// Where a tenant's data went: onward transfers, the record of processing.
    TransferRead,
    DisclosureRead,
    DisclosureManage,
    BreachManage,
    /// A tenant confirms it received a breach notice.
    BreachAcknowledge,
    AuditRead,
    AuditVerify,
    AccessGrantRequest,
    AccessGrantApprove,
    AccessGrantRevoke,
    AccessGrantBreakGlass,
    AccessGrantRead,
    AccessLogRead,
    /// Place and lift legal holds, which suspend retention deletion and erasure.
    LegalHoldManage,
    /// Publish privacy-policy and terms versions; record changes of control.
    PolicyPublish,
    /// A tenant's delivery settings: its notice webhook, who receives what.
    TenantSettings,
    /// Send an announcement (administrative or marketing) to tenants.
    NoticeSend,
}

impl Permission {
    pub const ALL: [Permission; 36] = [
        Permission::TenantRead,
        Permission::TenantCreate,
        Permission::TenantLifecycle,
        Permission::UserRead,
        Permission::UserInvite,
        Permission::SubjectRead,
        Permission::SubjectWrite,
        Permission::ClientRoleAssign,
        Permission::StaffRoleAssign,
        Permission::PiiRead,
        Permission::PiiWrite,
        Permission::RequestRead,
        Permission::RequestSubmit,
        Permission::RequestHandle,
        Permission::RetentionManage,
        Permission::SubprocessorRead,
        Permission::SubprocessorManage,
        Permission::SubprocessorObject,
        Permission::TransferManage,
        Permission::TransferRead,
        Permission::DisclosureRead,
        Permission::DisclosureManage,
        Permission::BreachManage,
        Permission::BreachAcknowledge,
        Permission::AuditRead,
        Permission::AuditVerify,
        Permission::AccessGrantRequest,
        Permission::AccessGrantApprove,
        Permission::AccessGrantRevoke,
        Permission::AccessGrantBreakGlass,
        Permission::AccessGrantRead,
        Permission::AccessLogRead,
        Permission::LegalHoldManage,
        Permission::PolicyPublish,
        Permission::TenantSettings,
        Permission::NoticeSend,
    ];

    /// The `(object, action)` pair this permission is written as in `policy.csv`.
    pub fn object_action(self) -> (&'static str, &'static str) {
        match self {
            Permission::TenantRead => ("tenant", "read"),
            Permission::TenantCreate => ("tenant", "create"),
            Permission::TenantLifecycle => ("tenant", "lifecycle"),
            Permission::UserRead => ("user", "read"),
            Permission::UserInvite => ("user", "invite"),
            Permission::SubjectRead => ("subject", "read"),
            Permission::SubjectWrite => ("subject", "write"),
            Permission::ClientRoleAssign => ("client_role", "assign"),
            Permission::StaffRoleAssign => ("staff_role", "assign"),
            Permission::PiiRead => ("pii", "read"),
            Permission::PiiWrite => ("pii", "write"),
            Permission::RequestRead => ("request", "read"),
            Permission::RequestSubmit => ("request", "submit"),
            Permission::RequestHandle => ("request", "handle"),
            Permission::RetentionManage => ("retention", "manage"),
            Permission::SubprocessorRead => ("subprocessor", "read"),
            Permission::SubprocessorManage => ("subprocessor", "manage"),
            Permission::SubprocessorObject => ("subprocessor", "object"),
            Permission::TransferManage => ("transfer", "manage"),
            Permission::TransferRead => ("transfer", "read"),
            Permission::DisclosureRead => ("disclosure", "read"),
            Permission::DisclosureManage => ("disclosure", "manage"),
            Permission::BreachManage => ("breach", "manage"),
            Permission::BreachAcknowledge => ("breach", "acknowledge"),
            Permission::AuditRead => ("audit", "read"),
            Permission::AuditVerify => ("audit", "verify"),
            Permission::AccessGrantRequest => ("access_grant", "request"),
            Permission::AccessGrantApprove => ("access_grant", "approve"),
            Permission::AccessGrantRevoke => ("access_grant", "revoke"),
            Permission::AccessGrantBreakGlass => ("access_grant", "break_glass"),
            Permission::AccessGrantRead => ("access_grant", "read"),
            Permission::AccessLogRead => ("access_log", "read"),
            Permission::LegalHoldManage => ("legal_hold", "manage"),
            Permission::PolicyPublish => ("policy", "publish"),
            Permission::TenantSettings => ("tenant", "settings"),
            Permission::NoticeSend => ("notice", "send"),
        }
    }
}

/// Where a permission is asked for or a role is granted: one tenant, or the whole platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    Platform,
    Tenant(Uuid),
}

impl Domain {
    /// The Casbin domain string: `*` or the tenant's hyphenated UUID.
    pub fn key(&self) -> String {
        match self {
            Domain::Platform => PLATFORM_DOMAIN.to_owned(),
            Domain::Tenant(id) => id.hyphenated().to_string(),
        }
    }

    /// Parses a stored domain key back; `None` for anything that is neither `*` nor a UUID.
    pub fn from_key(key: &str) -> Option<Domain> {
        if key == PLATFORM_DOMAIN {
            Some(Domain::Platform)
        } else {
            Uuid::parse_str(key).ok().map(Domain::Tenant)
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Platform => f.write_str("the platform domain"),
            Domain::Tenant(id) => write!(f, "tenant {id}"),
        }
    }
}

/// The two kinds of people Steward knows: our staff, and users of a client (tenant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorKind {
    Staff,
    Client,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Staff => "staff",
            ActorKind::Client => "client",
        }
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Someone whose permissions are checked: the token's `sub` and its kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    pub kind: ActorKind,
    pub subject: String,
}

impl Actor {
    pub fn new(kind: ActorKind, subject: impl Into<String>) -> Self {
        Actor {
            kind,
            subject: subject.into(),
        }
    }

    fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.subject)
    }
}

/// One role held by one actor in one domain. Only constructible when the role fits the domain and the actor's kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    actor: Actor,
    role: Role,
    domain: Domain,
}

impl Assignment {
    pub fn new(actor: Actor, role: Role, domain: Domain) -> Result<Self, PolicyError> {
        if role.holder_kind() != actor.kind {
            return Err(PolicyError::WrongKind {
                role,
                kind: actor.kind,
            });
        }
        let fits = matches!(
            (role.holder_kind(), domain),
            (ActorKind::Client, Domain::Tenant(_)) | (ActorKind::Staff, Domain::Platform)
        );
        if !fits {
            return Err(PolicyError::WrongDomain { role, domain });
        }
        Ok(Assignment {
            actor,
            role,
            domain,
        })
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn domain(&self) -> Domain {
        self.domain
    }

    fn rule(&self) -> Vec<String> {
        vec![
            self.actor.key(),
            self.role.as_str().to_owned(),
            self.domain.key(),
        ]
    }
}

/// The shared, thread-safe authorization engine.
///
/// Checks take a read lock; assignment changes take the write lock, so a revocation is visible to the very next
/// check. Cloning is cheap and shares the same engine.
#[derive(Clone)]
pub struct Authorizer {
    enforcer: Arc<RwLock<Enforcer>>,
    /// Decisions already taken under the current assignments, cleared by every change (under the engine's write
    /// lock, and filled only under its read lock, so no decision of an older assignment set survives a change).
    decisions: Arc<std::sync::RwLock<HashMap<DecisionKey, bool>>>,
}

type DecisionKey = (String, String, Permission);

/// Beyond this many cached decisions the cache starts over (it is a cache, not a store).
const MAX_CACHED_DECISIONS: usize = 100_000;

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Builds the engine from the shipped model and baseline policy plus the given assignments.
    pub async fn new(
        assignments: impl IntoIterator<Item = Assignment>,
    ) -> Result<Self, PolicyError> {
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| PolicyError::Model(e.to_string()))?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(|e| PolicyError::Model(e.to_string()))?;
        enforcer.enable_auto_save(false);
        let baseline = parse_baseline(BASELINE_POLICY)?;
        enforcer.add_policies(baseline).await?;
        let rules: Vec<Vec<String>> = assignments.into_iter().map(|a| a.rule()).collect();
        if !rules.is_empty() {
            enforcer.add_grouping_policies(rules).await?;
        }
        Ok(Authorizer {
            enforcer: Arc::new(RwLock::new(enforcer)),
            decisions: Arc::default(),
        })
    }

    /// Replaces every assignment with `assignments` (another instance changed them), in one swap: a check sees either
    /// the old set or the new one, never a half-built engine.
    pub async fn reload(
        &self,
        assignments: impl IntoIterator<Item = Assignment>,
    ) -> Result<(), PolicyError> {
        let fresh = Authorizer::new(assignments).await?;
        let fresh = Arc::try_unwrap(fresh.enforcer)
            .map_err(|_| PolicyError::Model("a fresh engine is not shared".into()))?
            .into_inner();
        let mut enforcer = self.enforcer.write().await;
        *enforcer = fresh;
        self.forget_decisions();
        Ok(())
    }

    /// May `actor` do `permission` in `domain`?
    ///
    /// A client actor is only ever allowed inside the tenant domains it holds roles in; callers additionally pin a
    /// client to the tenant of its token.
    pub async fn is_allowed(&self, actor: &Actor, domain: Domain, permission: Permission) -> bool {
        let (obj, act) = permission.object_action();
        let key = (actor.key(), domain.key(), permission);
        let enforcer = self.enforcer.read().await;
        if let Some(&allowed) = self
            .decisions
            .read()
            .ok()
            .and_then(|d| d.get(&key).copied())
            .as_ref()
        {
            return allowed;
        }
        let allowed = Self::decide(&enforcer, &key.0, &key.1, obj, act);
        if let Ok(mut decisions) = self.decisions.write() {
            if decisions.len() >= MAX_CACHED_DECISIONS {
                decisions.clear();
            }
            decisions.insert(key, allowed);
        }
        drop(enforcer);
        allowed
    }

    /// [`Authorizer::is_allowed`] without the decision cache: what Casbin itself costs (benchmarks, tests).
    pub async fn is_allowed_uncached(
        &self,
        actor: &Actor,
        domain: Domain,
        permission: Permission,
    ) -> bool {
        let (obj, act) = permission.object_action();
        let enforcer = self.enforcer.read().await;
        Self::decide(&enforcer, &actor.key(), &domain.key(), obj, act)
    }

    fn decide(enforcer: &Enforcer, actor: &str, domain: &str, obj: &str, act: &str) -> bool {
        // An error here can only come from a malformed model, which `new` has already rejected; deny to be safe.
        enforcer.enforce((actor, domain, obj, act)).unwrap_or(false)
    }

    fn forget_decisions(&self) {
        if let Ok(mut decisions) = self.decisions.write() {
            decisions.clear();
        }
    }

    /// Adds an assignment; `false` if it was already there.
    pub async fn assign(&self, assignment: &Assignment) -> Result<bool, PolicyError> {
        let mut enforcer = self.enforcer.write().await;
        let added = enforcer.add_grouping_policy(assignment.rule()).await?;
        self.forget_decisions();
        Ok(added)
    }

    /// Removes an assignment; `false` if it was not there.
    pub async fn revoke(&self, assignment: &Assignment) -> Result<bool, PolicyError> {
        let mut enforcer = self.enforcer.write().await;
        let removed = enforcer.remove_grouping_policy(assignment.rule()).await?;
        self.forget_decisions();
        Ok(removed)
    }

    /// The roles `actor` holds directly in `domain`, sorted.
    pub async fn roles_in(&self, actor: &Actor, domain: Domain) -> Vec<Role> {
        let enforcer = self.enforcer.read().await;
        let mut roles: Vec<Role> = enforcer
            .get_filtered_grouping_policy(0, vec![actor.key(), String::new(), domain.key()])
            .into_iter()
            .filter(|rule| rule.get(2).map(String::as_str) == Some(domain.key().as_str()))
            .filter_map(|rule| rule.get(1).and_then(|r| r.parse().ok()))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Subjects (of the role's holder kind) holding `role` in `domain`.
    pub async fn holders(&self, role: Role, domain: Domain) -> Vec<String> {
        let enforcer = self.enforcer.read().await;
        let prefix = format!("{}:", role.holder_kind().as_str());
        let mut subjects: Vec<String> = enforcer
            .get_filtered_grouping_policy(1, vec![role.as_str().to_owned(), domain.key()])
            .into_iter()
            .filter_map(|rule| {
                rule.first()
                    .and_then(|k| k.strip_prefix(&prefix))
                    .map(str::to_owned)
            })
            .collect();
        subjects.sort();
        subjects
    }
}

/// Parses the `p` lines of a policy file; blank lines and `#` comments are skipped, anything else is an error.
fn parse_baseline(text: &str) -> Result<Vec<Vec<String>>, PolicyError> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = line.split(',').map(|f| f.trim().to_owned()).collect();
        match fields.as_slice() {
            [p, role, _dom, _obj, _act] if p == "p" => {
                role.parse::<Role>()?;
                rules.push(fields[1..].to_vec());
            }
            _ => {
                return Err(PolicyError::Model(format!(
                    "policy.csv line {}: expected `p, role, domain, object, action`",
                    n + 1
                )));
            }
        }
    }
    Ok(rules)
}

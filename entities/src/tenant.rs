//! The tenants directory (control database): one row per client, with the region its data lives in.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub name_key: String,
    pub region: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Days of notice the tenant's contract gives before a sub-processor change takes effect.
    pub notice_period_days: i32,
    /// Set once offboarding began.
    pub offboarding_choice: Option<OffboardingChoice>,
    pub offboarding_started_at: Option<DateTimeUtc>,
    /// When the grace period ends and every subject's data and keys are deleted.
    pub offboarding_due_at: Option<DateTimeUtc>,
    pub terminated_at: Option<DateTimeUtc>,
    /// The platform admin who began the offboarding.
    pub offboarding_requested_by: Option<String>,
    /// Who authorized the deletion: the tenant's `client_admin`, or a second platform admin. Nothing is deleted
    /// before.
    pub offboarding_authorized_by: Option<String>,
    pub offboarding_authorized_at: Option<DateTimeUtc>,
    /// When deletion started; from then on the offboarding can no longer be cancelled.
    pub offboarding_erasure_started_at: Option<DateTimeUtc>,
    /// The status a cancelled offboarding returns the tenant to.
    pub offboarding_previous_status: Option<TenantStatus>,
    /// The sub-processor list the tenant accepted when it was created: the registry's version then (its number of
    /// revisions) and when. `None` for tenants created before acceptance was recorded.
    pub subprocessors_accepted_version: Option<i64>,
    pub subprocessors_accepted_at: Option<DateTimeUtc>,
    /// The controller's contact, data protection officer and representative for its record of processing (Art.
    /// 30(2)(a)), kept by its `client_admin`.
    pub controller_contact: Option<String>,
    pub controller_dpo: Option<String>,
    pub controller_representative: Option<String>,
    /// The controller's instruction for its subjects who are children (Art. 8 and the controller's own law).
    pub children_rule: ChildrenRule,
    /// Where the controller is established (ISO 3166-1 alpha-2): its public holidays count in its deadlines, and its
    /// law decides which transfer mechanisms it may rely on.
    pub country: String,
    /// The subdivision whose public holidays also apply (e.g. `BY` in Germany), where they differ from the country's.
    pub subdivision: Option<String>,
    /// The IANA time zone its days are counted in (deadlines, due dates).
    pub time_zone: String,
    /// The tenant's keys (subject-key wrapping, blind indexes), sealed under the master key of `keys_version`; `None`
    /// while they are derived from the key root (tenants created before keys were stored, until a rotation).
    pub keys_sealed: Option<Vec<u8>>,
    pub keys_version: Option<i32>,
}

crate::stored_enum! {
    /// Lifecycle of a tenant.
    pub enum TenantStatus {
        /// Normal operation.
        Active = "active",
        /// No client access; data kept; staff may still act on it.
        Suspended = "suspended",
        /// Contract ended: clients may still read and export, nothing new is collected.
        Offboarding = "offboarding",
        /// Its personal data is deleted; clients may only read the tenant and its offboarding certificate.
        Terminated = "terminated",
    }
}

crate::stored_enum! {
    /// What the client chose for its data at contract end.
    pub enum OffboardingChoice {
        /// Delete everything when the grace period ends.
        Delete = "delete",
        /// Produce a full export for the client first, then delete when the grace period ends.
        ReturnThenDelete = "return_then_delete",
    }
}

crate::stored_enum! {
    /// How a controller instructs us to treat its subjects who are children. The seed policy's clause is about the
    /// users of the service; a client's own subjects follow the client's lawful instructions.
    pub enum ChildrenRule {
        /// The default: no personal data about a child under 13 (a subject learned to be one is erased), and a
        /// parent's or guardian's consent for 13 to 17.
        Seed = "seed",
        /// A parent's or guardian's consent for every subject under 18, none refused or erased for age (e.g. a
        /// paediatric clinic).
        GuardianForAllMinors = "guardian_for_all_minors",
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Notices and what the policy promises to tell clients: `policyVersions`, `publishPolicyVersion`,
//! `recordBusinessTransfer`, `acknowledgeNotice`, `sendNotice`, `setNoticeWebhook`, `noticeDeliveries`,
//! `communicationPreferences`, `setCommunicationPreferences` (the `viewer` banner is in [`crate::graphql::viewer`]).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use steward_entities::{notice, policy_version};
use steward_policy::Permission;

use crate::graphql::{open_scope, principal, tenancy};
use crate::ids::{NoticeId, TenantId, UserId};
use crate::privacy_policy::{self, Document, NewVersion};

/// How many days ahead a material change must be posted (`STEWARD_POLICY_NOTICE_DAYS`).
#[derive(Clone, Copy, Debug)]
pub struct PolicyNoticeDays(pub i64);

#[derive(SimpleObject)]
pub struct PolicyVersion {
    pub id: ID,
    /// `privacy_policy` or `terms`.
    pub document: String,
    pub version: String,
    pub effective_on: NaiveDate,
    pub material: bool,
    pub summary: String,
    pub url: Option<String>,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
}

impl From<policy_version::Model> for PolicyVersion {
    fn from(m: policy_version::Model) -> Self {
        PolicyVersion {
            id: ID(m.id.to_string()),
            document: m.document,
            version: m.version,
            effective_on: m.effective_on,
            material: m.material,
            summary: m.summary,
            url: m.url,
            published_by: m.published_by,
            published_at: m.published_at,
        }
    }
}

/// A notice of the tenant's inbox.
#[derive(SimpleObject)]
pub struct NoticeRecord {
    pub id: ID,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<notice::Model> for NoticeRecord {
    fn from(m: notice::Model) -> Self {
        NoticeRecord {
            id: ID(m.id.to_string()),
            kind: m.kind,
            title: m.title,
            body: m.body,
            created_at: m.created_at,
            acknowledged_by: m.acknowledged_by,
            acknowledged_at: m.acknowledged_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct BusinessTransfer {
    pub id: ID,
    pub acquirer: String,
    pub effective_on: NaiveDate,
    pub changes: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct PolicyVersionInput {
    pub document: Document,
    pub version: String,
    pub effective_on: NaiveDate,
    /// A material change must be posted the notice period ahead (default 30 days).
    pub material: bool,
    /// What changes, in plain words: shown publicly at `/policies` and in the notice to clients.
    pub summary: String,
    /// Where the full text is published.
    pub url: Option<String>,
}

/// One delivery of a notice.
#[derive(SimpleObject)]
pub struct NoticeDelivery {
    /// `email` or `webhook`.
    pub channel: String,
    pub recipient: String,
    pub state: steward_entities::notice_delivery::DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct CommunicationPreferences {
    /// Marketing messages are not sent; administrative notices still are.
    pub marketing_opt_out: bool,
}

/// A notice webhook as just set or rotated. Deliveries follow Standard Webhooks (standardwebhooks.com): headers
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`).
#[derive(SimpleObject)]
pub struct NoticeWebhook {
    pub url: Option<String>,
    /// The signing secret (`whsec_…`), shown this once: keep it where the receiver verifies deliveries (any
    /// Standard Webhooks library takes it as it is). Null when the webhook was cleared.
    pub signing_secret: Option<String>,
    /// After a rotation: until when deliveries also carry a signature made with the previous secret.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct SendNoticeInput {
    /// Leave out for every live tenant.
    pub tenant_ids: Option<Vec<ID>>,
    pub class: crate::notices::Class,
    /// Client roles it is for (default: CLIENT_ADMIN).
    pub roles: Option<Vec<crate::graphql::types::RoleGql>>,
    pub title: String,
    pub body: String,
}

#[derive(Default)]
pub struct PolicyQuery;

#[Object]
impl PolicyQuery {
    /// The calling client user's communication preferences.
    async fn communication_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<CommunicationPreferences> {
        let scope = open_scope(ctx, None, Permission::TenantRead).await?;
        let me = crate::notices::me(&scope).await?;
        Ok(CommunicationPreferences {
            marketing_opt_out: crate::notices::opted_out(&scope, UserId(me.id)).await?,
        })
    }

    /// How one notice was delivered (the tenant's `client_admin`, `platform_admin`).
    async fn notice_deliveries(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        notice_id: ID,
    ) -> async_graphql::Result<Vec<NoticeDelivery>> {
        let notice_id = NoticeId::parse("noticeId", &notice_id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantSettings).await?;
        Ok(crate::notices::deliveries(&scope, notice_id)
            .await?
            .into_iter()
            .map(|d| NoticeDelivery {
                channel: d.channel,
                recipient: d.recipient,
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error,
                sent_at: d.sent_at,
            })
            .collect())
    }

    /// Every published version, newest first (anyone authenticated; also public at `GET /policies`).
    async fn policy_versions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PolicyVersion>> {
        principal(ctx)?;
        Ok(privacy_policy::versions(tenancy(ctx)?)
            .await?
            .into_iter()
            .map(PolicyVersion::from)
            .collect())
    }
}

#[derive(Default)]
pub struct PolicyMutation;

#[Object]
impl PolicyMutation {
    /// Publishes a privacy-policy or terms version (`legal`); every tenant's admins are notified.
    async fn publish_policy_version(
        &self,
        ctx: &Context<'_>,
        input: PolicyVersionInput,
    ) -> async_graphql::Result<PolicyVersion> {
        let days = ctx.data::<PolicyNoticeDays>().map(|d| d.0).unwrap_or(30);
        let version = privacy_policy::publish(
            tenancy(ctx)?,
            principal(ctx)?,
            NewVersion {
                document: input.document,
                version: input.version,
                effective_on: input.effective_on,
                material: input.material,
                summary: input.summary,
                url: input.url,
            },
            days,
        )
        .await?;
        Ok(version.into())
    }

    /// Records a change of control (`legal`): every tenant's admins get an administrative notice, shown as a banner
    /// in `viewer` until acknowledged.
    async fn record_business_transfer(
        &self,
        ctx: &Context<'_>,
        acquirer: String,
        effective_on: NaiveDate,
        changes: String,
    ) -> async_graphql::Result<BusinessTransfer> {
        let m = privacy_policy::record_business_transfer(
            tenancy(ctx)?,
            principal(ctx)?,
            &acquirer,
            effective_on,
            &changes,
        )
        .await?;
        Ok(BusinessTransfer {
            id: ID(m.id.to_string()),
            acquirer: m.acquirer,
            effective_on: m.effective_on,
            changes: m.changes,
            recorded_at: m.recorded_at,
        })
    }

    /// Opts the calling client user out of (or back into) marketing messages. Administrative notices always go.
    async fn set_communication_preferences(
        &self,
        ctx: &Context<'_>,
        marketing_opt_out: bool,
    ) -> async_graphql::Result<CommunicationPreferences> {
        let principal = principal(ctx)?;
        if principal.kind != steward_policy::ActorKind::Client {
            return Err(crate::error::AppError::BadInput(
                "communication preferences are a client user's own".into(),
            )
            .into());
        }
        let scope = open_scope(ctx, None, Permission::TenantRead).await?;
        let me = crate::notices::me(&scope).await?;
        let entry = crate::audit::AuditEntry::by(
            principal,
            "communication.preferences_set",
            "tenant_user",
            me.id,
        );
        let saved = crate::notices::set_opt_out(
            tenancy(ctx)?,
            scope.tenant_id(),
            UserId(me.id),
            marketing_opt_out,
            "console",
            entry,
        )
        .await?;
        Ok(CommunicationPreferences {
            marketing_opt_out: saved.marketing_opt_out,
        })
    }

    /// Sets (or, with `null`, clears) where the tenant receives its notices by webhook (its `client_admin`):
    /// `https://` only. Each call gives the webhook a new random signing secret, in the answer only. Nullable, so an
    /// error in another field of the same document cannot take the answer, and the secret, with it.
    async fn set_notice_webhook(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        url: Option<String>,
    ) -> async_graphql::Result<Option<NoticeWebhook>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantSettings).await?;
        let secret = crate::notices::set_webhook(tenancy(ctx)?, &scope, url.as_deref()).await?;
        Ok(Some(NoticeWebhook {
            url: url.filter(|_| secret.is_some()),
            signing_secret: secret,
            previous_secret_valid_until: None,
        }))
    }

    /// Gives the notice webhook a new random signing secret (its `client_admin`), in the answer only. For
    /// `overlapHours` (default 24, at most 168; 0 for none) deliveries carry signatures with both the new and the
    /// previous secret, so the receiver can switch without losing one. Nullable, like `setNoticeWebhook`.
    async fn rotate_notice_webhook_secret(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        #[graphql(default = 24)] overlap_hours: i32,
    ) -> async_graphql::Result<Option<NoticeWebhook>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantSettings).await?;
        let rotated =
            crate::notices::rotate_webhook_secret(tenancy(ctx)?, &scope, overlap_hours).await?;
        Ok(Some(NoticeWebhook {
            url: Some(rotated.url),
            signing_secret: Some(rotated.secret),
            previous_secret_valid_until: rotated.previous_until,
        }))
    }

    /// Sends an announcement to some or every live tenant (`platform_admin`): `ADMINISTRATIVE` reaches everyone,
    /// `MARKETING` skips users who opted out and carries an unsubscribe link. Returns the tenants notified.
    async fn send_notice(
        &self,
        ctx: &Context<'_>,
        input: SendNoticeInput,
    ) -> async_graphql::Result<i32> {
        let only = input
            .tenant_ids
            .as_ref()
            .map(|ids| {
                ids.iter()
                    .map(|id| TenantId::parse("tenantIds", id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let roles: Vec<steward_policy::Role> = input
            .roles
            .unwrap_or_else(|| vec![crate::graphql::types::RoleGql::ClientAdmin])
            .into_iter()
            .map(Into::into)
            .collect();
        let n = crate::privacy_policy::send_notice(
            tenancy(ctx)?,
            principal(ctx)?,
            only,
            input.class,
            roles,
            &input.title,
            &input.body,
        )
        .await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Acknowledges one of the tenant's notices (the client's own users).
    async fn acknowledge_notice(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
    ) -> async_graphql::Result<NoticeRecord> {
        let id = NoticeId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantRead).await?;
        Ok(
            privacy_policy::acknowledge_notice(crate::graphql::tenancy(ctx)?, &scope, id)
                .await?
                .into(),
        )
    }
}

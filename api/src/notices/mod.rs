//! Notices to clients, one mechanism for all: every notice (sub-processor changes, request reminders, breaches, policy
//! changes, change of control, announcements) lands in the tenant's in-console inbox and is delivered by a job to the
//! users holding its audience roles — by email over SMTP when configured, and to the tenant's signed webhook when it
//! set one. A notice is `ADMINISTRATIVE` (always delivered) or `MARKETING` (not to users who opted out; every marketing
//! email carries an unsubscribe link that works without logging in). Each delivery is a row with its state, so a
//! retried job sends only what has not gone yet.

use std::collections::HashSet;
use steward_entities::notice_delivery::DeliveryState;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use sha2::Sha256;
use steward_entities::{
    communication_preference, notice, notice_delivery, role_assignment, tenant_user, tenant_webhook,
};
use steward_policy::Role;
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::crypto::Keyring;
use crate::error::AppError;
use crate::ids::{NoticeId, TenantId, UserId};
use crate::jobs::{self, Job, NewJob, Outcome};
use crate::pagination::{Page, PageOf};
use crate::tenancy::{Scope, Tenancy};

pub use steward_entities::notice::NoticeClass as Class;

/// Files a notice in the tenant's inbox and queues its delivery, inside the caller's transaction.
pub(crate) async fn file<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    kind: &str,
    class: Class,
    audience: &[Role],
    title: &str,
    body: &str,
) -> Result<notice::Model, AppError> {
    let audience: Vec<&str> = audience.iter().map(|r| r.as_str()).collect();
    let model = notice::ActiveModel {
        tenant_id: Set(tenant.0),
        id: Set(Uuid::now_v7()),
        kind: Set(kind.to_owned()),
        title: Set(title.chars().take(300).collect()),
        body: Set(body.to_owned()),
        created_at: Set(Utc::now()),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
        channel_class: Set(class),
        audience: Set(audience.join(",")),
    }
    .insert(txn)
    .await?;
    jobs::enqueue(
        txn,
        NewJob::new(Job::DeliverNotice {
            notice: NoticeId(model.id),
        })
        .for_tenant(tenant)
        .dedupe(model.id),
    )
    .await?;
    Ok(model)
}

/// Outgoing email, when `STEWARD_SMTP_URL` is set.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain, for a local relay), `smtp://host:port?tls=required` (STARTTLS) or
    /// `smtps://user:password@host` (implicit TLS).
    pub fn new(url: &str, from: &str, public_url: &str) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("STEWARD_SMTP_URL is not a usable SMTP URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("STEWARD_SMTP_FROM is not a mailbox: {e}"))?;
        Ok(Mailer {
            transport,
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        unsubscribe: Option<&str>,
    ) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|_| "not a mailbox".to_owned())?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        let mut text = body.to_owned();
        if let Some(link) = unsubscribe {
            // RFC 8058: mail clients unsubscribe in one click by POSTing to the link; a GET only shows a page.
            builder = builder
                .header(ListUnsubscribe(format!("<{link}>")))
                .header(ListUnsubscribePost);
            text.push_str(&format!(
                "\n\n--\nYou receive this because you are a user of Steward. Unsubscribe from marketing messages \
                 (administrative notices will still reach you): {link}\n"
            ));
        }
        let message = builder.body(text).map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// The `List-Unsubscribe` header of marketing email.
#[derive(Clone, Debug)]
struct ListUnsubscribe(String);

impl lettre::message::header::Header for ListUnsubscribe {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// How long an unsubscribe link works.
pub const UNSUBSCRIBE_LINK_DAYS: i64 = 60;

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Clone, Debug)]
struct ListUnsubscribePost;

impl lettre::message::header::Header for ListUnsubscribePost {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// A signed token naming one client user, for the unsubscribe link: `base64url(tenant:user:expires).hex(HMAC)`, valid
/// for [`UNSUBSCRIBE_LINK_DAYS`] from `now`.
pub fn unsubscribe_token(
    keyring: &Keyring,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> String {
    let expires = (now + chrono::Duration::days(UNSUBSCRIBE_LINK_DAYS)).timestamp();
    let payload = format!("{}:{}:{expires}", tenant.0, user);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.as_bytes());
    format!("{b64}.{}", sign(keyring, &payload))
}

fn sign(keyring: &Keyring, payload: &str) -> String {
    let key = keyring.purpose_key("unsubscribe-link");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Why an unsubscribe token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadUnsubscribe {
    /// Not a token Steward signed.
    Invalid,
    /// Signed, but past its date.
    Expired,
}

/// Checks an unsubscribe token at `now`.
pub fn verify_unsubscribe_token(
    keyring: &Keyring,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(TenantId, UserId), BadUnsubscribe> {
    let parsed = || -> Option<(String, String)> {
        let (b64, signature) = token.split_once('.')?;
        let payload = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .ok()?,
        )
        .ok()?;
        Some((payload, signature.to_owned()))
    };
    let (payload, signature) = parsed().ok_or(BadUnsubscribe::Invalid)?;
    let expected = sign(keyring, &payload);
    // Constant-time comparison of the two hex strings.
    if expected.len() != signature.len()
        || expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
    {
        return Err(BadUnsubscribe::Invalid);
    }
    let mut parts = payload.split(':');
    let (Some(tenant), Some(user), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadUnsubscribe::Invalid);
    };
    let expires: i64 = expires.parse().map_err(|_| BadUnsubscribe::Invalid)?;
    if now.timestamp() > expires {
        return Err(BadUnsubscribe::Expired);
    }
    Ok((
        TenantId(Uuid::parse_str(tenant).map_err(|_| BadUnsubscribe::Invalid)?),
        UserId(Uuid::parse_str(user).map_err(|_| BadUnsubscribe::Invalid)?),
    ))
}

/// Sets one client user's marketing opt-out, with an audit event.
pub async fn set_opt_out(
    tenancy: &Tenancy,
    tenant: TenantId,
    user: UserId,
    opt_out: bool,
    via: &str,
    actor: AuditEntry,
) -> Result<communication_preference::Model, AppError> {
    let scope = tenancy.system_scope(tenant).await?;
    let known = scope
        .find::<tenant_user::Entity>()
        .filter(tenant_user::Column::Id.eq(user))
        .one(scope.db())
        .await?;
    if known.is_none() {
        return Err(AppError::NotFound("no such user of this tenant".into()));
    }
    let existing = scope
        .find::<communication_preference::Entity>()
        .filter(communication_preference::Column::UserId.eq(user))
        .one(scope.db())
        .await?;
    // Nothing changes, nothing is written or audited (a link opened twice, a setting saved again).
    match &existing {
        Some(current) if current.marketing_opt_out == opt_out => return Ok(current.clone()),
        None if !opt_out => {
            return Ok(communication_preference::Model {
                tenant_id: tenant.0,
                user_id: user.0,
                marketing_opt_out: false,
                updated_via: "default".into(),
                updated_at: Utc::now(),
            });
        }
        _ => {}
    }
    let txn = scope.begin().await?;
    let model = communication_preference::ActiveModel {
        tenant_id: Set(tenant.0),
        user_id: Set(user.0),
        marketing_opt_out: Set(opt_out),
        updated_via: Set(via.to_owned()),
        updated_at: Set(Utc::now()),
    };
    let model = if existing.is_some() {
        model.update(&txn).await?
    } else {
        model.insert(&txn).await?
    };
    txn.commit(
        actor.with_detail(json!({ "user": user, "marketing_opt_out": opt_out, "via": via })),
    )
    .await?;
    Ok(model)
}

/// The calling client user's record in its tenant.
pub async fn me(scope: &Scope) -> Result<tenant_user::Model, AppError> {
    scope
        .find::<tenant_user::Entity>()
        .filter(tenant_user::Column::Subject.eq(&scope.principal().subject))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound("you are not a user of this tenant".into()))
}

pub async fn opted_out(scope: &Scope, user: UserId) -> Result<bool, AppError> {
    Ok(scope
        .find::<communication_preference::Entity>()
        .filter(communication_preference::Column::UserId.eq(user))
        .one(scope.db())
        .await?
        .is_some_and(|p| p.marketing_opt_out))
}

/// Sets (or clears) the tenant's notice webhook with a new random signing secret, returned this once as `whsec_…`.
pub async fn set_webhook(
    tenancy: &Tenancy,
    scope: &Scope,
    url: Option<&str>,
) -> Result<Option<String>, AppError> {
    let url = url
        .map(|u| tenancy.outbound().check_url("url", u))
        .transpose()?;
    let secret = url
        .as_ref()
        .map(|_| crate::crypto::WebhookSecret::generate())
        .transpose()
        .map_err(AppError::internal)?;
    let txn = scope.begin().await?;
    scope
        .delete_many::<tenant_webhook::Entity>()
        .exec(&txn)
        .await?;
    if let (Some(url), Some(secret)) = (&url, &secret) {
        let sealed = tenancy
            .keyring()
            .wrap_webhook_secret(scope.tenant_id().0, secret)
            .map_err(AppError::internal)?;
        txn.insert(tenant_webhook::ActiveModel {
            url: Set(url.clone()),
            set_by: Set(scope.principal().label()),
            updated_at: Set(Utc::now()),
            secret_sealed: Set(Some(sealed)),
            previous_secret_sealed: Set(None),
            previous_until: Set(None),
            ..Default::default()
        })
        .await?;
    }
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "notice.webhook_set",
            "tenant",
            scope.tenant_id(),
        )
        .with_detail(json!({ "configured": url.is_some() })),
    )
    .await?;
    Ok(secret.map(|s| s.to_whsec()))
}

/// A rotated signing secret: the new one (shown once) and until when the previous one is signed with too.
#[derive(Debug)]
pub struct Rotated {
    pub url: String,
    pub secret: String,
    pub previous_until: Option<DateTime<Utc>>,
}

/// Gives the tenant's notice webhook a new random secret; deliveries carry a signature with the previous one too for
/// `overlap_hours` (0–168), so the receiver can switch without losing a delivery.
pub async fn rotate_webhook_secret(
    tenancy: &Tenancy,
    scope: &Scope,
    overlap_hours: i32,
) -> Result<Rotated, AppError> {
    let overlap = crate::outbound::rotation_overlap(overlap_hours)?;
    let keyring = tenancy.keyring();
    let owner = scope.tenant_id().0;
    let secret = crate::crypto::WebhookSecret::generate().map_err(AppError::internal)?;
    let sealed = keyring
        .wrap_webhook_secret(owner, &secret)
        .map_err(AppError::internal)?;
    let txn = scope.begin().await?;
    let hook = scope
        .find::<tenant_webhook::Entity>()
        .one(&txn)
        .await?
        .ok_or_else(|| {
            AppError::BadInput(
                "the tenant has no notice webhook: set one with `setNoticeWebhook`".into(),
            )
        })?;
    let now = Utc::now();
    let previous = crate::outbound::StoredSecrets {
        owner,
        current: hook.secret_sealed.as_deref(),
        previous: None,
    }
    .sealed_current(keyring)
    .map_err(AppError::internal)?;
    let previous_until = overlap.map(|o| now + o);
    let url = hook.url.clone();
    let mut model: tenant_webhook::ActiveModel = hook.into();
    model.secret_sealed = Set(Some(sealed));
    model.previous_secret_sealed = Set(previous_until.map(|_| previous));
    model.previous_until = Set(previous_until);
    model.updated_at = Set(now);
    model.set_by = Set(scope.principal().label());
    model.update(&txn).await?;
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "notice.webhook_secret_rotated",
            "tenant",
            scope.tenant_id(),
        )
        .with_detail(json!({ "overlap_hours": overlap_hours })),
    )
    .await?;
    Ok(Rotated {
        url,
        secret: secret.to_whsec(),
        previous_until,
    })
}

/// The deliveries of one notice.
pub async fn deliveries(
    scope: &Scope,
    notice: NoticeId,
) -> Result<Vec<notice_delivery::Model>, AppError> {
    Ok(scope
        .find::<notice_delivery::Entity>()
        .filter(notice_delivery::Column::NoticeId.eq(notice))
        .order_by_asc(notice_delivery::Column::Id)
        .all(scope.db())
        .await?)
}

/// Records one delivery's state (idempotent per notice, channel and recipient).
/// Where one delivery goes.
struct Target<'a> {
    channel: &'a str,
    recipient: &'a str,
    user: Option<Uuid>,
}

async fn record(
    db: &DatabaseConnection,
    tenant: TenantId,
    notice: NoticeId,
    target: Target<'_>,
    result: Result<DeliveryState, String>,
    previous: Option<&notice_delivery::Model>,
) -> Result<(), AppError> {
    let Target {
        channel,
        recipient,
        user,
    } = target;
    let (state, error) = match result {
        Ok(state) => (state, None),
        Err(e) => (DeliveryState::Failed, Some(e)),
    };
    let now = Utc::now();
    let sent_at = (state == DeliveryState::Sent).then_some(now);
    match previous {
        Some(p) => {
            let mut model: notice_delivery::ActiveModel = p.clone().into();
            model.state = Set(state);
            model.attempts = Set(p.attempts + i32::from(state != DeliveryState::Suppressed));
            model.last_error = Set(error);
            model.sent_at = Set(sent_at);
            model.update(db).await?;
        }
        None => {
            notice_delivery::ActiveModel {
                tenant_id: Set(tenant.0),
                id: Set(Uuid::now_v7()),
                notice_id: Set(notice.0),
                channel: Set(channel.to_owned()),
                recipient: Set(recipient.to_owned()),
                user_id: Set(user),
                state: Set(state),
                attempts: Set(i32::from(state != DeliveryState::Suppressed)),
                last_error: Set(error),
                sent_at: Set(sent_at),
                created_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Delivers one notice (job): email to each user of its audience (unless a marketing notice meets an opt-out) and the
/// tenant's webhook. Fails — to be retried — while any delivery failed; what was sent is not sent again.
pub(crate) async fn deliver(
    tenancy: &Tenancy,
    mailer: Option<&Mailer>,
    scope: &Scope,
    notice_id: NoticeId,
) -> Result<Outcome, AppError> {
    let (db, tenant) = (scope.db(), scope.tenant_id());
    let Some(n) = scope
        .find::<notice::Entity>()
        .filter(notice::Column::Id.eq(notice_id))
        .one(db)
        .await?
    else {
        return Ok(Outcome::Done);
    };
    let marketing = n.channel_class == Class::Marketing;
    let previous = scope
        .find::<notice_delivery::Entity>()
        .filter(notice_delivery::Column::NoticeId.eq(n.id))
        .all(db)
        .await?;
    let done = |channel: &str, recipient: &str| {
        previous
            .iter()
            .find(|p| p.channel == channel && p.recipient == recipient)
    };
    let mut failures = 0;

    if let Some(mailer) = mailer {
        let roles: Vec<&str> = n.audience.split(',').filter(|r| !r.is_empty()).collect();
        let domain = tenant.0.hyphenated().to_string();
        let subjects: HashSet<String> = role_assignment::Entity::find()
            .filter(role_assignment::Column::Domain.eq(domain))
            .filter(role_assignment::Column::Role.is_in(roles))
            .all(tenancy.system().control())
            .await?
            .into_iter()
            .map(|a| a.subject)
            .collect();
        let users = scope
            .find::<tenant_user::Entity>()
            .filter(tenant_user::Column::Subject.is_in(subjects))
            .order_by_asc(tenant_user::Column::Id)
            .all(db)
            .await?;
        let opted_out: HashSet<Uuid> = scope
            .find::<communication_preference::Entity>()
            .filter(communication_preference::Column::MarketingOptOut.eq(true))
            .all(db)
            .await?
            .into_iter()
            .map(|p| p.user_id)
            .collect();
        for user in users {
            let prev = done("email", &user.email);
            if prev
                .is_some_and(|p| matches!(p.state, DeliveryState::Sent | DeliveryState::Suppressed))
            {
                continue;
            }
            let result = if marketing && opted_out.contains(&user.id) {
                Ok(DeliveryState::Suppressed)
            } else {
                let link = marketing.then(|| {
                    format!(
                        "{}/unsubscribe?token={}",
                        mailer.public_url,
                        unsubscribe_token(tenancy.keyring(), tenant, UserId(user.id), Utc::now())
                    )
                });
                mailer
                    .send(&user.email, &n.title, &n.body, link.as_deref())
                    .await
                    .map(|_| DeliveryState::Sent)
            };
            if result.is_err() {
                failures += 1;
            }
            let target = Target {
                channel: "email",
                recipient: &user.email,
                user: Some(user.id),
            };
            record(scope.writer(), tenant, NoticeId(n.id), target, result, prev).await?;
        }
    }

    let hook = scope.find::<tenant_webhook::Entity>().one(db).await?;
    if let Some(hook) = hook {
        let prev = done("webhook", &hook.url);
        if prev.is_none_or(|p| p.state != DeliveryState::Sent) {
            let body = json!({
                "type": "steward.notice",
                "id": n.id,
                "tenant_id": tenant.0,
                "kind": n.kind,
                "class": n.channel_class,
                "title": n.title,
                "body": n.body,
                "created_at": n.created_at,
            })
            .to_string();
            let now = Utc::now();
            let headers = crate::outbound::StoredSecrets {
                owner: tenant.0,
                current: hook.secret_sealed.as_deref(),
                previous: hook
                    .previous_secret_sealed
                    .as_deref()
                    .zip(hook.previous_until),
            }
            .delivery_headers(tenancy.keyring(), n.id, &body, now)
            .map_err(AppError::internal)?;
            let result = match tenancy
                .outbound()
                .post_json(&hook.url, &headers, body)
                .await
            {
                Ok(_) => Ok(DeliveryState::Sent),
                Err(failure) => Err(failure.to_string()),
            };
            if result.is_err() {
                failures += 1;
            }
            let target = Target {
                channel: "webhook",
                recipient: &hook.url,
                user: None,
            };
            record(scope.writer(), tenant, NoticeId(n.id), target, result, prev).await?;
        }
    }
    if failures > 0 {
        return Err(AppError::BadInput(format!(
            "{failures} delivery(ies) of notice {} failed; retrying",
            n.id
        )));
    }
    Ok(Outcome::Done)
}

/// A staff notice for the privacy officers, filed once per `key` (its id is derived from it: filing it again changes
/// nothing). Returns whether this call filed it.
pub(crate) async fn file_staff_once<C: sea_orm::ConnectionTrait>(
    control: &C,
    key: &str,
    kind: &str,
    tenant: TenantId,
    object_id: &str,
    title: &str,
    body: &str,
) -> Result<bool, AppError> {
    let filed = steward_entities::staff_notice::Entity::insert(
        steward_entities::staff_notice::ActiveModel {
            id: sea_orm::Set(Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes())),
            role: sea_orm::Set("privacy_officer".into()),
            kind: sea_orm::Set(kind.into()),
            tenant_id: sea_orm::Set(Some(tenant.0)),
            object_id: sea_orm::Set(Some(object_id.into())),
            title: sea_orm::Set(title.into()),
            body: sea_orm::Set(body.into()),
            created_at: sea_orm::Set(Utc::now()),
            acknowledged_by: sea_orm::Set(None),
            acknowledged_at: sea_orm::Set(None),
        },
    )
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(steward_entities::staff_notice::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(control)
    .await?;
    Ok(filed == 1)
}

/// Adds an administrative notice for the tenant's admins, inside the caller's transaction: in the inbox at once,
/// and delivered by email and webhook by the outbox's job.
pub(crate) async fn notify<C: sea_orm::ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    kind: &str,
    title: &str,
    body: &str,
) -> Result<(), AppError> {
    crate::notices::file(
        txn,
        tenant,
        kind,
        crate::notices::Class::Administrative,
        &[steward_policy::Role::ClientAdmin],
        title,
        body,
    )
    .await?;
    Ok(())
}

/// The tenant's notices, newest first.
pub async fn notices(scope: &Scope, page: Page) -> Result<PageOf<notice::Model>, AppError> {
    let mut query = scope.find::<notice::Entity>();
    let total = crate::pagination::count(query.clone(), scope.db()).await?;
    if let Some(after) = page.after {
        query = query.filter(notice::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(notice::Column::Id)
        .limit(page.fetch_limit())
        .all(scope.db())
        .await?;
    Ok(PageOf::from_fetched(rows, &page, total))
}

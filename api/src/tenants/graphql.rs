//! Tenants: `tenants`, `tenant(id:)`, `createTenant`, `suspendTenant`, `reactivateTenant`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use steward_policy::Permission;

use crate::graphql::types::{Conn, connection, parse_tenant_id};
use crate::graphql::{principal, tenancy};
use crate::pagination::Page;
use crate::tenancy::TenantRecord;
use crate::tenancy::TenantStatus;
use crate::tenants;
use crate::users::graphql::{User, users_page};

#[derive(Default)]
pub struct TenantQuery;

/// A departing tenant's full export.
#[derive(async_graphql::SimpleObject)]
pub struct TenantExport {
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Deleted with everything else when the grace period ends.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Every subject is in it: it can be downloaded. Until then it is being built, and the counts grow.
    pub ready: bool,
    pub subjects: i32,
    pub values: i32,
    pub downloads: i32,
    /// `GET` this path with the same bearer token: NDJSON, a `header` line, one `subject` line per data subject, and
    /// an `end` line with the counts (a download without it was cut short). Each download is audited.
    pub download_path: String,
}

/// The signed certificate of a tenant's offboarding.
#[derive(async_graphql::SimpleObject)]
pub struct OffboardingCertificate {
    pub document: String,
    pub signature: String,
    pub public_key: String,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// Whether every erasure propagation was acknowledged or confirmed when it was signed. An interim certificate
    /// (`false`) names what is outstanding; the final one replaces it once nothing is. Null for a certificate signed
    /// before the two were told apart.
    pub r#final: Option<bool>,
    /// The interim certificate the final one replaced, kept as signed.
    pub interim: Option<InterimCertificate>,
}

/// An interim offboarding certificate, signed at termination while propagations were outstanding.
#[derive(async_graphql::SimpleObject)]
pub struct InterimCertificate {
    pub document: String,
    pub signature: String,
    pub issued_at: chrono::DateTime<chrono::Utc>,
}

#[Object]
impl TenantQuery {
    /// The full export of a departing tenant's personal data (its `client_admin`), while offboarding with
    /// `RETURN_THEN_DELETE`: whether it is ready, and where to download it.
    async fn tenant_export(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<TenantExport> {
        let scope =
            crate::graphql::open_scope(ctx, tenant_id.as_ref(), Permission::RequestSubmit).await?;
        let export = crate::offboarding::export::status(&scope).await?;
        Ok(TenantExport {
            created_at: export.created_at,
            expires_at: export.expires_at,
            ready: export.ready,
            subjects: export.subjects,
            values: export.values_exported,
            downloads: export.downloads,
            download_path: crate::offboarding::export::DOWNLOAD_PATH.into(),
        })
    }

    /// The signed certificate that a terminated tenant's personal data is gone (readable by the tenant's users and
    /// staff). Verify `signature` (Ed25519, base64) over `document` with `/.well-known/steward-signing-key.json`.
    async fn offboarding_certificate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<OffboardingCertificate> {
        let scope =
            crate::graphql::open_scope(ctx, tenant_id.as_ref(), Permission::TenantRead).await?;
        let cert = crate::offboarding::certificate(&scope).await?;
        let interim = match (
            cert.interim_document,
            cert.interim_signature,
            cert.interim_issued_at,
        ) {
            (Some(document), Some(signature), Some(issued_at)) => Some(InterimCertificate {
                document,
                signature,
                issued_at,
            }),
            _ => None,
        };
        Ok(OffboardingCertificate {
            document: cert.document,
            signature: cert.signature,
            public_key: crate::requests::certificate_public_key(tenancy(ctx)?),
            issued_at: cert.issued_at,
            r#final: cert.is_final,
            interim,
        })
    }

    /// The public-holiday calendars deadlines are counted with: one per country a tenant can be established in, each
    /// with the subdivisions that have their own, the years it covers and its source.
    async fn holiday_calendars(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<HolidayCalendars> {
        principal(ctx)?;
        let today = Utc::now().date_naive();
        let ends_on = crate::deadlines::running_out(today);
        Ok(HolidayCalendars {
            calendars: crate::deadlines::countries()
                .map(|c| HolidayCalendar {
                    country: c.country.clone(),
                    name: c.name.clone(),
                    default_time_zone: c.default_time_zone.clone(),
                    subdivisions: crate::deadlines::subdivisions(&c.country)
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                    from: c.from,
                    until: c.until,
                    source: c.source.clone(),
                })
                .collect(),
            warning: ends_on.map(|end| {
                format!(
                    "the calendars end on {end}: deadlines after it are refused until a release ships new ones"
                )
            }),
        })
    }

    /// Every tenant, oldest first (staff with `tenant:read`).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1-100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        status: Option<TenantStatus>,
    ) -> async_graphql::Result<Conn<Tenant>> {
        let page = Page::new(first, after.as_deref())?;
        let found = tenants::list(tenancy(ctx)?, principal(ctx)?, page, status).await?;
        Ok(connection(found, |t| t.id.to_string(), Tenant))
    }

    /// One tenant. Clients may omit `id` (their own tenant); another tenant's id is `NOT_FOUND`.
    async fn tenant(&self, ctx: &Context<'_>, id: Option<ID>) -> async_graphql::Result<Tenant> {
        let id = id
            .as_ref()
            .map(|id| parse_tenant_id("id", id))
            .transpose()?;
        let scope = tenancy(ctx)?
            .scope(principal(ctx)?, id, Permission::TenantRead)
            .await?;
        Ok(Tenant(scope.tenant().clone()))
    }
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    /// The client's name, unique regardless of case and spacing.
    pub name: String,
    /// One of `regions`; the tenant's personal data will live only there.
    pub region: String,
    /// Where the controller is established (ISO 3166-1 alpha-2: an EU/EEA member state, GB, CH or US; see
    /// `holidayCalendars`). Default: the region's (`DE` for `eu`, `US` for `us`).
    pub country: Option<String>,
    /// A subdivision whose public holidays also apply (e.g. `BY`, `ZH`, `CA`).
    pub subdivision: Option<String>,
    /// The IANA time zone deadlines' days are counted in. Default: the country's (e.g. `Europe/Berlin`).
    pub time_zone: Option<String>,
}

/// A country's public-holiday calendar.
#[derive(SimpleObject)]
pub struct HolidayCalendar {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub name: String,
    /// The time zone a tenant established there gets unless it names another.
    pub default_time_zone: String,
    /// Subdivisions with their own public holidays (a tenant's `subdivision`).
    pub subdivisions: Vec<String>,
    pub from: chrono::NaiveDate,
    /// The last day covered: a deadline after it is refused.
    pub until: chrono::NaiveDate,
    /// Where the dates come from.
    pub source: String,
}

/// The shipped calendars, and a warning once they end within a year.
#[derive(SimpleObject)]
pub struct HolidayCalendars {
    pub calendars: Vec<HolidayCalendar>,
    pub warning: Option<String>,
}

#[derive(Default)]
pub struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Creates a tenant (platform admins).
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<Tenant> {
        let jurisdiction = tenants::Jurisdiction {
            country: input.country,
            subdivision: input.subdivision,
            time_zone: input.time_zone,
        };
        let created = tenants::create(
            tenancy(ctx)?,
            principal(ctx)?,
            &input.name,
            &input.region,
            jurisdiction,
        )
        .await?;
        Ok(Tenant(created))
    }

    /// Sets where the tenant is established (its public holidays) and the time zone its days are counted in (its
    /// `client_admin`, or a platform admin). Due dates already set stay; dates computed from now on use these.
    async fn set_tenant_jurisdiction(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        country: String,
        subdivision: Option<String>,
        time_zone: Option<String>,
    ) -> async_graphql::Result<Tenant> {
        let scope =
            crate::graphql::open_scope(ctx, tenant_id.as_ref(), Permission::TenantSettings).await?;
        let jurisdiction = tenants::Jurisdiction {
            country: Some(country),
            subdivision,
            time_zone,
        };
        Ok(Tenant(
            tenants::set_jurisdiction(tenancy(ctx)?, &scope, jurisdiction).await?,
        ))
    }

    /// Suspends an active tenant: its users lose access at their next request; its data is kept (platform admins).
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Tenant> {
        let id = parse_tenant_id("id", &id)?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, Some(id), Permission::TenantLifecycle)
            .await?;
        Ok(Tenant(tenants::suspend(tenancy, &scope, &reason).await?))
    }

    /// Begins a tenant's offboarding at contract end, on the client's instruction (platform admins): nothing new is
    /// collected; with `RETURN_THEN_DELETE` a full export is prepared for the client's admins. The deletion needs
    /// `authorizeOffboarding` by the tenant's `client_admin` or a second platform admin; once authorized and when
    /// `graceDays` (7-365, default 30) have passed, every subject's data and keys are deleted, sub-processors are told,
    /// a signed certificate is issued and the tenant is `TERMINATED`. `cancelOffboarding` until then.
    async fn begin_offboarding(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        choice: crate::offboarding::Choice,
        #[graphql(
            desc = "Days before the data is deleted (7-365; default 30): the window to cancel."
        )]
        grace_days: Option<i32>,
    ) -> async_graphql::Result<Tenant> {
        let id = parse_tenant_id("tenantId", &tenant_id)?;
        let grace_days = grace_days.unwrap_or(crate::offboarding::DEFAULT_GRACE_DAYS);
        Ok(Tenant(
            crate::offboarding::begin(tenancy(ctx)?, principal(ctx)?, id, choice, grace_days)
                .await?,
        ))
    }

    /// Authorizes the deletion of a departing tenant's data: its `client_admin` (the controller's instruction;
    /// `tenantId` may be omitted) or a platform admin other than the one who began the offboarding
    /// (`SECOND_PERSON_REQUIRED` otherwise). Nothing is deleted before.
    async fn authorize_offboarding(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Tenant> {
        let id = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        Ok(Tenant(
            crate::offboarding::authorize(tenancy(ctx)?, principal(ctx)?, id).await?,
        ))
    }

    /// Cancels an offboarding until its deletion starts (`ERASURE_STARTED` after): the tenant's `client_admin` or a
    /// platform admin. The tenant returns to the status it had; a prepared export is deleted.
    async fn cancel_offboarding(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        reason: String,
    ) -> async_graphql::Result<Tenant> {
        let id = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        Ok(Tenant(
            crate::offboarding::cancel(tenancy(ctx)?, principal(ctx)?, id, &reason).await?,
        ))
    }

    /// Reactivates a suspended tenant (platform admins).
    async fn reactivate_tenant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Tenant> {
        let id = parse_tenant_id("id", &id)?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, Some(id), Permission::TenantLifecycle)
            .await?;
        Ok(Tenant(tenants::reactivate(tenancy, &scope).await?))
    }
}

/// A tenant's offboarding.
#[derive(SimpleObject)]
pub struct Offboarding {
    pub choice: crate::offboarding::Choice,
    pub started_at: Option<DateTime<Utc>>,
    /// When the grace period ends; every subject's data and keys are deleted then if the deletion was authorized.
    pub data_deleted_at: Option<DateTime<Utc>>,
    pub terminated_at: Option<DateTime<Utc>>,
    /// The platform admin who began it.
    pub requested_by: Option<String>,
    /// Who authorized the deletion (the tenant's `client_admin` or a second platform admin); null: nothing will be
    /// deleted yet.
    pub authorized_by: Option<String>,
    pub authorized_at: Option<DateTime<Utc>>,
    /// When the deletion started; from then on it cannot be cancelled.
    pub erasure_started_at: Option<DateTime<Utc>>,
}

pub struct Tenant(pub TenantRecord);

/// A client (tenant) of the processor.
#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Where the tenant's personal data lives; it never leaves this region's database.
    async fn region(&self) -> &str {
        &self.0.region
    }
    /// Where the controller is established (ISO 3166-1 alpha-2): its public holidays count in deadlines, and its law
    /// decides which transfer mechanisms it may rely on.
    async fn country(&self) -> &str {
        &self.0.country
    }
    /// The subdivision whose public holidays also apply, if any.
    async fn subdivision(&self) -> Option<&str> {
        self.0.subdivision.as_deref()
    }
    /// The IANA time zone deadlines' days are counted in.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    async fn status(&self) -> TenantStatus {
        self.0.status
    }
    /// Why the tenant was last suspended, while it is.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    /// Contract end: the client's choice and its dates, once offboarding began.
    #[graphql(complexity = "10 + child_complexity")]
    async fn offboarding(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Offboarding>> {
        let Some(t) = crate::offboarding::details(tenancy(ctx)?, self.0.id).await? else {
            return Ok(None);
        };
        Ok(t.offboarding_choice.map(|choice| Offboarding {
            choice,
            started_at: t.offboarding_started_at,
            data_deleted_at: t.offboarding_due_at,
            terminated_at: t.terminated_at,
            requested_by: t.offboarding_requested_by,
            authorized_by: t.offboarding_authorized_by,
            authorized_at: t.offboarding_authorized_at,
            erasure_started_at: t.offboarding_erasure_started_at,
        }))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The tenant's users (needs `user:read` in this tenant).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<User>> {
        let page = Page::new(first, after.as_deref())?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, Some(self.0.id), Permission::UserRead)
            .await?;
        Ok(users_page(tenancy, &scope, page).await?)
    }
}

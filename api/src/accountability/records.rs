//! The processor's record of processing activities (GDPR Art. 30(2)), generated from live data, per controller and
//! over all of them: who we are (name, contact, DPO, EU representative: configuration), each controller (name, and
//! the contact, DPO and representative its `client_admin` keeps), what we process for it, which sub-processors
//! receive its data (with countries and safeguards), the transfers to third countries with their mechanism, and the
//! general description of our security measures — a maintained document with versions, not a constant. Only what
//! people know is typed in; the rest is never hand-kept.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use steward_entities::change_notice::ChangeNoticeStatus;
use steward_entities::{change_notice, personal_data};

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{SubProcessorId, TenantId};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set, TransactionTrait};
use steward_entities::{security_measures, tenant};
use steward_policy::Permission;

use crate::registry;
use crate::tenancy::{Scope, Tenancy};

/// The processor's identity, from configuration.
#[derive(Clone, Debug)]
pub struct Processor {
    pub name: String,
    pub contact: String,
    pub dpo: Option<String>,
    pub eu_representative: Option<String>,
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct ProcessorIdentity {
    pub name: String,
    pub contact: String,
    /// The data protection officer (`STEWARD_PROCESSOR_DPO`).
    pub dpo: Option<String>,
    /// The representative in the Union, when established outside it (`STEWARD_PROCESSOR_EU_REPRESENTATIVE`).
    pub eu_representative: Option<String>,
}

impl From<&Processor> for ProcessorIdentity {
    fn from(p: &Processor) -> Self {
        ProcessorIdentity {
            name: p.name.clone(),
            contact: p.contact.clone(),
            dpo: p.dpo.clone(),
            eu_representative: p.eu_representative.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct ControllerIdentity {
    pub tenant_id: String,
    pub name: String,
    pub region: String,
    /// The controller's contact, data protection officer and representative, as its `client_admin` keeps them
    /// (`setControllerDetails`); null until given.
    pub contact: Option<String>,
    pub dpo: Option<String>,
    pub representative: Option<String>,
    /// The controller's instruction for its subjects who are children (`setChildrenRule`).
    pub children_rule: tenant::ChildrenRule,
}

/// One version of the general description of the security measures.
#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct SecurityMeasures {
    pub version: i32,
    pub text: String,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
}

impl From<security_measures::Model> for SecurityMeasures {
    fn from(m: security_measures::Model) -> Self {
        SecurityMeasures {
            version: m.version,
            text: m.text,
            published_by: m.published_by,
            published_at: m.published_at,
        }
    }
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct ProcessingCategory {
    pub category: String,
    pub purposes: Vec<String>,
    pub records: u64,
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct SubProcessorUse {
    pub name: String,
    pub legal_entity: String,
    pub purpose: String,
    pub countries: Vec<String>,
    pub safeguards: Vec<String>,
    pub status: ChangeNoticeStatus,
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct ThirdCountryTransfer {
    pub sub_processor: String,
    pub country: String,
    pub mechanism: Option<String>,
    pub transfers: u64,
    pub subjects: u64,
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct RecordOfProcessing {
    pub generated_at: DateTime<Utc>,
    pub processor: ProcessorIdentity,
    pub controller: ControllerIdentity,
    pub categories: Vec<ProcessingCategory>,
    pub sub_processors: Vec<SubProcessorUse>,
    pub third_country_transfers: Vec<ThirdCountryTransfer>,
    /// The general description of the security measures in force (its latest version).
    pub security_measures: String,
    pub security_measures_version: i32,
    /// The whole record as JSON.
    #[serde(skip)]
    pub json: String,
    /// The whole record as CSV (section, field, value).
    #[serde(skip)]
    pub csv: String,
}

/// Builds the record for the scope's tenant.
pub async fn record(
    tenancy: &Tenancy,
    scope: &Scope,
    processor: &Processor,
) -> Result<RecordOfProcessing, AppError> {
    // Categories and purposes, counted from the tenant's records (metadata only).
    let rows: Vec<(String, String)> = scope
        .find::<personal_data::Entity>()
        .select_only()
        .column(personal_data::Column::Category)
        .column(personal_data::Column::Purpose)
        .into_tuple()
        .all(scope.db())
        .await?;
    let mut by_category: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
    for (category, purpose) in rows {
        let entry = by_category.entry(category).or_default();
        entry.0.insert(purpose);
        entry.1 += 1;
    }
    let categories = by_category
        .into_iter()
        .map(|(category, (purposes, records))| ProcessingCategory {
            category,
            purposes: purposes.into_iter().collect(),
            records,
        })
        .collect();

    let notices = scope
        .find_control::<change_notice::Entity>()
        .all(scope.control())
        .await?;
    let mut sub_processors = Vec::new();
    let mut names = BTreeMap::new();
    let rules = registry::transfers::mechanisms_in_force(tenancy).await?;
    let home = scope.tenant().country.clone();
    let law = registry::mechanisms::exporter_law(Some(home.as_str()));
    let today = Utc::now().date_naive();
    // One line per sub-processor, standing as all the tenant's notices about it say (its own, and changes to it).
    let mut by_entry: BTreeMap<uuid::Uuid, Vec<&change_notice::Model>> = BTreeMap::new();
    for n in &notices {
        by_entry.entry(n.sub_processor_id).or_default().push(n);
    }
    for (sp_id, mut mine) in by_entry {
        mine.sort_by_key(|n| n.id);
        let Some((status, _)) = registry::in_force(&mine) else {
            continue;
        };
        if status == ChangeNoticeStatus::Excluded {
            continue;
        }
        let sp = registry::get(tenancy, SubProcessorId(sp_id)).await?;
        names.insert(sp.id, sp.name.clone());
        sub_processors.push(SubProcessorUse {
            name: sp.name.clone(),
            legal_entity: sp.legal_entity.clone(),
            purpose: sp.purpose.clone(),
            countries: sp.countries.0.clone(),
            // Only what the tenant can rely on today: valid, and open to exporters under its law.
            safeguards: sp
                .mechanisms
                .0
                .iter()
                .filter(|m| rules.usable(m, law, today))
                .cloned()
                .collect(),
            status,
        });
    }
    sub_processors.sort_by(|a, b| a.name.cmp(&b.name));

    let mut transfers: BTreeMap<(String, String, Option<String>), (u64, u64)> = BTreeMap::new();
    for t in registry::transfers::transfers_of(scope).await? {
        let name = match names.get(&t.sub_processor_id) {
            Some(n) => n.clone(),
            None => {
                registry::get(tenancy, SubProcessorId(t.sub_processor_id))
                    .await?
                    .name
            }
        };
        // Data kept in the controller's own country is not transferred to a third country.
        for country in t.countries.0.iter().filter(|c| **c != home).cloned() {
            if rules.needs_mechanism(&country, t.transferred_on) || t.mechanism.is_some() {
                let entry = transfers
                    .entry((name.clone(), country, t.mechanism.clone()))
                    .or_default();
                entry.0 += 1;
                entry.1 += t.subject_count.max(0) as u64;
            }
        }
    }
    let third_country_transfers = transfers
        .into_iter()
        .map(
            |((sub_processor, country, mechanism), (count, subjects))| ThirdCountryTransfer {
                sub_processor,
                country,
                mechanism,
                transfers: count,
                subjects,
            },
        )
        .collect();

    let tenant = tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(scope.control())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tenant {}", scope.tenant_id())))?;
    let measures = security_measures(scope.control()).await?;
    let mut record = RecordOfProcessing {
        generated_at: Utc::now(),
        processor: processor.into(),
        controller: ControllerIdentity {
            tenant_id: tenant.id.to_string(),
            name: tenant.name,
            region: tenant.region,
            contact: tenant.controller_contact,
            dpo: tenant.controller_dpo,
            representative: tenant.controller_representative,
            children_rule: tenant.children_rule,
        },
        categories,
        sub_processors,
        third_country_transfers,
        security_measures: measures.text,
        security_measures_version: measures.version,
        json: String::new(),
        csv: String::new(),
    };
    record.json = serde_json::to_string_pretty(&record).map_err(AppError::internal)?;
    record.csv = to_csv(&record)?;
    Ok(record)
}

/// A cell a spreadsheet would not run as a formula: one starting with `=`, `+`, `-`, `@` (or a tab or carriage
/// return, which some spreadsheets skip before looking) gets a leading `'` (OWASP's CSV-injection advice).
fn neutralised(v: &str) -> std::borrow::Cow<'_, str> {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}").into()
    } else {
        v.into()
    }
}

/// The record as CSV (`section,field,value`), written by the `csv` crate (quoting) with every cell neutralised: names
/// and purposes come from sub-processor entries and tenant names, which are not ours to trust.
fn to_csv(r: &RecordOfProcessing) -> Result<String, AppError> {
    let mut rows: Vec<[String; 3]> = vec![
        [
            "record".into(),
            "generated_at".into(),
            r.generated_at.to_rfc3339(),
        ],
        ["processor".into(), "name".into(), r.processor.name.clone()],
        [
            "processor".into(),
            "contact".into(),
            r.processor.contact.clone(),
        ],
        [
            "processor".into(),
            "dpo".into(),
            r.processor.dpo.clone().unwrap_or_default(),
        ],
        [
            "processor".into(),
            "eu_representative".into(),
            r.processor.eu_representative.clone().unwrap_or_default(),
        ],
        [
            "controller".into(),
            "tenant_id".into(),
            r.controller.tenant_id.clone(),
        ],
        [
            "controller".into(),
            "name".into(),
            r.controller.name.clone(),
        ],
        [
            "controller".into(),
            "region".into(),
            r.controller.region.clone(),
        ],
        [
            "controller".into(),
            "contact".into(),
            r.controller.contact.clone().unwrap_or_default(),
        ],
        [
            "controller".into(),
            "dpo".into(),
            r.controller.dpo.clone().unwrap_or_default(),
        ],
        [
            "controller".into(),
            "representative".into(),
            r.controller.representative.clone().unwrap_or_default(),
        ],
        [
            "controller".into(),
            "children_rule".into(),
            r.controller.children_rule.as_str().into(),
        ],
    ];
    for c in &r.categories {
        rows.push([
            "category".into(),
            c.category.clone(),
            format!("purposes: {}; records: {}", c.purposes.join(" "), c.records),
        ]);
    }
    for s in &r.sub_processors {
        rows.push([
            "sub_processor".into(),
            s.name.clone(),
            format!(
                "{}; {}; countries: {}; safeguards: {}; status: {}",
                s.legal_entity,
                s.purpose,
                s.countries.join(" "),
                s.safeguards.join(" "),
                s.status
            ),
        ]);
    }
    for t in &r.third_country_transfers {
        rows.push([
            "third_country_transfer".into(),
            format!("{} -> {}", t.sub_processor, t.country),
            format!(
                "mechanism: {}; transfers: {}; subjects: {}",
                t.mechanism.as_deref().unwrap_or("none needed"),
                t.transfers,
                t.subjects
            ),
        ]);
    }
    rows.push([
        "security".into(),
        format!("measures (version {})", r.security_measures_version),
        r.security_measures.clone(),
    ]);
    write_csv(rows)
}

/// Rows as CSV with a header, every cell neutralised (see [`neutralised`]).
fn write_csv(rows: Vec<[String; 3]>) -> Result<String, AppError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for row in std::iter::once(["section", "field", "value"].map(String::from)).chain(rows) {
        writer
            .write_record(row.iter().map(|cell| neutralised(cell).into_owned()))
            .map_err(AppError::internal)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::internal(e.into_error()))?;
    String::from_utf8(bytes).map_err(AppError::internal)
}

/// The security measures in force: the latest published version.
pub async fn security_measures<C: sea_orm::ConnectionTrait>(
    control: &C,
) -> Result<security_measures::Model, AppError> {
    security_measures::Entity::find()
        .order_by_desc(security_measures::Column::Version)
        .one(control)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no security measures published")))
}

/// Every published version of the security measures, newest first.
pub async fn security_measures_history(
    tenancy: &Tenancy,
) -> Result<Vec<security_measures::Model>, AppError> {
    Ok(security_measures::Entity::find()
        .order_by_desc(security_measures::Column::Version)
        .all(tenancy.system().control())
        .await?)
}

/// Publishes a new version of the security measures (`legal`, who maintains the platform's published documents);
/// every record generated from then on carries it, with its version. Earlier versions are kept.
pub async fn publish_security_measures(
    tenancy: &Tenancy,
    principal: &Principal,
    text: &str,
) -> Result<security_measures::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::PolicyPublish)
        .await?;
    let text = crate::validate::text("text", text, 20_000)?;
    if text.chars().count() < 50 {
        return Err(AppError::BadInput(
            "`text` is the general description of the security measures: at least 50 characters"
                .into(),
        ));
    }
    let txn = platform.control().begin().await?;
    let current = security_measures(&txn).await?;
    if current.text == text {
        return Err(AppError::Conflict(format!(
            "version {} already says exactly this",
            current.version
        )));
    }
    // The version is the primary key: two publishing at once cannot both take the next one.
    let published = security_measures::ActiveModel {
        version: Set(current.version + 1),
        text: Set(text),
        published_by: Set(principal.label()),
        published_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        AppError::on_unique(e, || {
            "another version was published meanwhile; read it and try again".into()
        })
    })?;
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "security_measures.published",
            "security_measures",
            published.version,
        )
        .with_detail(serde_json::json!({ "version": published.version })),
    )
    .await?;
    txn.commit().await?;
    Ok(published)
}

/// The controller's own details for its record (Art. 30(2)(a)), as its `client_admin` gives them.
#[derive(Clone, Debug, Default)]
pub struct ControllerDetails {
    pub contact: Option<String>,
    pub dpo: Option<String>,
    pub representative: Option<String>,
}

/// Sets the scope's tenant's contact, DPO and representative (its `client_admin`); an empty value clears one. The
/// change and its event in the tenant's chain commit together.
pub async fn set_controller_details(
    tenancy: &Tenancy,
    scope: &Scope,
    details: ControllerDetails,
) -> Result<ControllerIdentity, AppError> {
    let clean = |field: &str, v: Option<String>| -> Result<Option<String>, AppError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => Ok(Some(crate::validate::text(field, t, 500)?)),
        }
    };
    let contact = clean("contact", details.contact)?;
    let dpo = clean("dpo", details.dpo)?;
    let representative = clean("representative", details.representative)?;
    let txn = scope.control().begin().await?;
    let found = tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tenant {}", scope.tenant_id())))?;
    let mut model: tenant::ActiveModel = found.into();
    model.controller_contact = Set(contact);
    model.controller_dpo = Set(dpo);
    model.controller_representative = Set(representative);
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    let deferred = crate::owed::defer(
        &txn,
        scope.tenant_id(),
        &AuditEntry::by(
            scope.principal(),
            "tenant.controller_details_set",
            "tenant",
            scope.tenant_id(),
        )
        .with_detail(serde_json::json!({
            "contact": updated.controller_contact.is_some(),
            "dpo": updated.controller_dpo.is_some(),
            "representative": updated.controller_representative.is_some(),
        })),
        Vec::new(),
    )
    .await?;
    txn.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(ControllerIdentity {
        tenant_id: updated.id.to_string(),
        name: updated.name,
        region: updated.region,
        contact: updated.controller_contact,
        dpo: updated.controller_dpo,
        representative: updated.controller_representative,
        children_rule: updated.children_rule,
    })
}

/// The platform-wide record: the processor, the security measures in force, and the record of every live controller.
#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct PlatformRecord {
    pub generated_at: DateTime<Utc>,
    pub processor: ProcessorIdentity,
    pub security_measures: SecurityMeasures,
    pub controllers: Vec<RecordOfProcessing>,
    /// The whole record as JSON.
    #[serde(skip)]
    pub json: String,
    /// The whole record as CSV (controller, section, field, value).
    #[serde(skip)]
    pub csv: String,
}

/// The record over every controller not terminated (`legal`, `auditor`: whoever reads transfers platform-wide).
pub async fn platform_record(
    tenancy: &Tenancy,
    principal: &Principal,
    processor: &Processor,
) -> Result<PlatformRecord, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TransferRead)
        .await?;
    let tenants = tenant::Entity::find()
        .filter(tenant::Column::Status.ne(crate::tenancy::TenantStatus::Terminated))
        .order_by_asc(tenant::Column::Id)
        .all(platform.control())
        .await?;
    let mut controllers = Vec::with_capacity(tenants.len());
    for t in tenants {
        let scope = tenancy.system_scope(TenantId(t.id)).await?;
        controllers.push(record(tenancy, &scope, processor).await?);
    }
    let mut whole = PlatformRecord {
        generated_at: Utc::now(),
        processor: processor.into(),
        security_measures: security_measures(platform.control()).await?.into(),
        controllers,
        json: String::new(),
        csv: String::new(),
    };
    whole.json = serde_json::to_string_pretty(&whole).map_err(AppError::internal)?;
    let mut rows = Vec::new();
    for c in &whole.controllers {
        let mut reader = csv::ReaderBuilder::new().from_reader(c.csv.as_bytes());
        for row in reader.records() {
            let row = row.map_err(AppError::internal)?;
            rows.push([
                format!("{} ({})", c.controller.name, c.controller.tenant_id),
                row.get(0).unwrap_or_default().to_owned(),
                row.get(1).unwrap_or_default().to_owned(),
                row.get(2).unwrap_or_default().to_owned(),
            ]);
        }
    }
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(["controller", "section", "field", "value"])
        .map_err(AppError::internal)?;
    for row in rows {
        // Each cell was neutralised when its controller's CSV was written; the controller's name is neutralised here.
        writer
            .write_record([
                neutralised(&row[0]).into_owned(),
                row[1].clone(),
                row[2].clone(),
                row[3].clone(),
            ])
            .map_err(AppError::internal)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::internal(e.into_error()))?;
    whole.csv = String::from_utf8(bytes).map_err(AppError::internal)?;
    Ok(whole)
}

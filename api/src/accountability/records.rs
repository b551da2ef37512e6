//! The processor's record of processing activities for one tenant (GDPR Art. 30(2)), generated from live data:
//! who we are, what we process for the controller, which sub-processors receive its data (with countries and
//! safeguards), the transfers to third countries with their mechanism, and our security measures. Never hand-kept.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use steward_entities::change_notice::ChangeNoticeStatus;
use steward_entities::{change_notice, personal_data};

use crate::error::AppError;
use crate::ids::SubProcessorId;

use crate::registry::{self, mechanisms};
use crate::tenancy::{Scope, Tenancy};

/// The processor's identity, from configuration.
#[derive(Clone, Debug)]
pub struct Processor {
    pub name: String,
    pub contact: String,
}

pub const SECURITY_MEASURES: &str = "Personal data is encrypted at rest per data subject (AES-256-GCM under a \
    per-subject key wrapped by a per-tenant key derived from a master key held outside the database); lookups use \
    keyed hashes, never plaintext. Each tenant's data is kept in its region's database and reached only through a \
    tenant-scoped access path. Staff reach personal data only through time-boxed, justified access grants approved by \
    the client, and every such read is logged for the client. All changes are recorded in a hash-chained, \
    tamper-evident audit log per tenant. Access is authenticated with signed tokens and authorised by role.";

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct ProcessorIdentity {
    pub name: String,
    pub contact: String,
}

#[derive(Clone, Debug, Serialize, SimpleObject)]
pub struct ControllerIdentity {
    pub tenant_id: String,
    pub name: String,
    pub region: String,
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
    pub security_measures: String,
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
        .filter(change_notice::Column::Status.is_in([
            ChangeNoticeStatus::Active,
            ChangeNoticeStatus::Pending,
            ChangeNoticeStatus::Blocked,
        ]))
        .all(scope.control())
        .await?;
    let mut sub_processors = Vec::new();
    let mut names = BTreeMap::new();
    for notice in &notices {
        let sp = registry::get(tenancy, SubProcessorId(notice.sub_processor_id)).await?;
        names.insert(sp.id, sp.name.clone());
        sub_processors.push(SubProcessorUse {
            name: sp.name.clone(),
            legal_entity: sp.legal_entity.clone(),
            purpose: sp.purpose.clone(),
            countries: sp.countries.0.clone(),
            safeguards: sp.mechanisms.0.clone(),
            status: notice.status,
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
        for country in t.countries.0.iter().cloned() {
            if mechanisms::needs_mechanism(&country, t.transferred_on) || t.mechanism.is_some() {
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

    let tenant = scope.tenant();
    let mut record = RecordOfProcessing {
        generated_at: Utc::now(),
        processor: ProcessorIdentity {
            name: processor.name.clone(),
            contact: processor.contact.clone(),
        },
        controller: ControllerIdentity {
            tenant_id: tenant.id.to_string(),
            name: tenant.name.clone(),
            region: tenant.region.clone(),
        },
        categories,
        sub_processors,
        third_country_transfers,
        security_measures: SECURITY_MEASURES.to_owned(),
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
        "measures".into(),
        r.security_measures.clone(),
    ]);
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

//! Transfer mechanisms and country rules, as data with validity periods (`api/data/transfer-mechanisms.json`), plus
//! the invalidations legal records in the control database.
//!
//! A transfer to a country needs no mechanism when the country is in the EEA or has an adequacy decision in force on
//! the transfer date; otherwise it needs a mechanism that the sub-processor signed, that applies to that country, that
//! is valid on that date, and — for certification schemes such as the Data Privacy Framework — a certified recipient.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct MechanismData {
    pub version: String,
    pub eea: Vec<String>,
    pub adequacy: Vec<Adequacy>,
    pub mechanisms: Vec<Mechanism>,
}

/// An adequacy decision of the European Commission (GDPR Art. 45): transfers to the country need no mechanism
/// from `decided_on`, until `withdrawn_on` (not included) if it was withdrawn.
#[derive(Clone, Debug, Deserialize)]
pub struct Adequacy {
    pub country: String,
    pub decided_on: NaiveDate,
    #[serde(default)]
    pub withdrawn_on: Option<NaiveDate>,
    /// Where the dates come from (the decision, the judgment, or legal's recorded change).
    pub source: String,
}

impl Adequacy {
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.decided_on <= date && self.withdrawn_on.is_none_or(|w| date < w)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Mechanism {
    pub key: String,
    pub name: String,
    pub valid_from: Option<NaiveDate>,
    pub invalid_from: Option<NaiveDate>,
    /// Destination countries it applies to; `None` for any.
    pub countries: Option<Vec<String>>,
    /// The laws whose exporters may rely on it (`EEA`: the GDPR, `CH`: the Swiss FADP, `GB`: the UK GDPR); `None`
    /// for any.
    #[serde(default)]
    pub exporters: Option<Vec<String>>,
    pub requires_certification: bool,
    /// The source of each date, by the date's field name (`valid_from`, `invalid_from`).
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

static DATA: LazyLock<MechanismData> = LazyLock::new(|| {
    // Shipped inside the binary and parsed by a unit test, so this cannot fail in a built server.
    serde_json::from_str(include_str!("../../data/transfer-mechanisms.json"))
        .unwrap_or_else(|e| panic!("transfer-mechanisms.json: {e}"))
});

pub fn data() -> &'static MechanismData {
    &DATA
}

/// A change to an adequacy decision legal recorded: a new or re-dated decision (`decided_on`) and/or its withdrawal.
#[derive(Clone, Debug)]
pub struct AdequacyChange {
    pub country: String,
    pub decided_on: Option<NaiveDate>,
    pub withdrawn_on: Option<NaiveDate>,
    pub reason: String,
}

/// The transfer rules in force: the shipped baseline with what legal recorded since (mechanism invalidations and
/// adequacy changes).
#[derive(Clone, Debug)]
pub struct Rules {
    pub mechanisms: Vec<Mechanism>,
    pub adequacy: Vec<Adequacy>,
}

impl Rules {
    /// The shipped baseline and legal's changes: an invalidation applies from its date (the earlier date wins); a
    /// recorded adequacy change replaces the shipped dates it names.
    pub fn with_changes(
        invalidations: &HashMap<String, (NaiveDate, String)>,
        adequacy_changes: &[AdequacyChange],
    ) -> Rules {
        let mechanisms = data()
            .mechanisms
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if let Some((date, why)) = invalidations.get(&m.key) {
                    let date = *date;
                    if m.invalid_from.is_none_or(|d| date < d) {
                        m.invalid_from = Some(date);
                        m.sources.insert(
                            "invalid_from".into(),
                            format!("recorded by legal in Steward: {why}"),
                        );
                    }
                }
                m
            })
            .collect();
        let mut adequacy = data().adequacy.clone();
        for change in adequacy_changes {
            let recorded = format!("recorded by legal in Steward: {}", change.reason);
            match adequacy.iter_mut().find(|a| a.country == change.country) {
                Some(a) => {
                    if let Some(on) = change.decided_on {
                        a.decided_on = on;
                    }
                    a.withdrawn_on = change.withdrawn_on;
                    a.source = format!("{}; {recorded}", a.source);
                }
                None => {
                    if let Some(decided_on) = change.decided_on {
                        adequacy.push(Adequacy {
                            country: change.country.clone(),
                            decided_on,
                            withdrawn_on: change.withdrawn_on,
                            source: recorded,
                        });
                    }
                }
            }
        }
        adequacy.sort_by(|a, b| a.country.cmp(&b.country));
        Rules {
            mechanisms,
            adequacy,
        }
    }

    /// The shipped baseline alone.
    pub fn baseline() -> Rules {
        Rules::with_changes(&HashMap::new(), &[])
    }

    /// Can an exporter under `law` rely on mechanism `key` on `date` (valid then, and open to that law)?
    pub fn usable(&self, key: &str, law: &str, date: NaiveDate) -> bool {
        self.mechanisms.iter().any(|m| {
            m.key == key
                && m.exporters
                    .as_ref()
                    .is_none_or(|laws| laws.iter().any(|l| l == law))
                && m.valid_from.is_none_or(|f| f <= date)
                && m.invalid_from.is_none_or(|u| date < u)
        })
    }

    /// Does a transfer to `country` on `date` need a mechanism at all?
    pub fn needs_mechanism(&self, country: &str, date: NaiveDate) -> bool {
        !(data().eea.iter().any(|c| c == country)
            || self
                .adequacy
                .iter()
                .any(|a| a.country == country && a.in_force_on(date)))
    }
}

/// The law a tenant exports under, from its country: Switzerland's and the UK's own; the GDPR's for every other
/// tenant (the standard Steward applies to all of them).
pub fn exporter_law(country: Option<&str>) -> &'static str {
    match country {
        Some("CH") => "CH",
        Some("GB") => "GB",
        _ => "EEA",
    }
}

fn law_name(law: &str) -> &'static str {
    match law {
        "CH" => "Switzerland",
        "GB" => "the United Kingdom",
        _ => "the EEA",
    }
}

pub fn known(key: &str) -> Result<&'static Mechanism, AppError> {
    data()
        .mechanisms
        .iter()
        .find(|m| m.key == key)
        .ok_or_else(|| {
            let keys: Vec<&str> = data().mechanisms.iter().map(|m| m.key.as_str()).collect();
            AppError::BadInput(format!(
                "unknown transfer mechanism `{key}`: choose one of {}",
                keys.join(", ")
            ))
        })
}

/// Why a mechanism does not cover a transfer; the string is the stable reason code clients see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    MechanismRequired,
    MechanismNotAgreed,
    MechanismNotApplicable,
    MechanismInvalidOnDate,
    EntityNotCertified,
}

impl Refusal {
    pub fn reason(self) -> crate::error::RefusalReason {
        use crate::error::RefusalReason;
        match self {
            Refusal::MechanismRequired => RefusalReason::MechanismRequired,
            Refusal::MechanismNotAgreed => RefusalReason::MechanismNotAgreed,
            Refusal::MechanismNotApplicable => RefusalReason::MechanismNotApplicable,
            Refusal::MechanismInvalidOnDate => RefusalReason::MechanismInvalidOnDate,
            Refusal::EntityNotCertified => RefusalReason::EntityNotCertified,
        }
    }
}

/// Checks one destination country of a transfer.
pub fn check_country(
    rules: &Rules,
    exporter: &str,
    country: &str,
    date: NaiveDate,
    given: Option<&str>,
    agreed: &[String],
    certified: bool,
) -> Result<(), (Refusal, String)> {
    if !rules.needs_mechanism(country, date) {
        return Ok(());
    }
    let Some(key) = given else {
        return Err((
            Refusal::MechanismRequired,
            format!("{country} has no adequacy decision: a transfer there needs a mechanism"),
        ));
    };
    if !agreed.iter().any(|a| a == key) {
        return Err((
            Refusal::MechanismNotAgreed,
            format!("the sub-processor has not signed `{key}`"),
        ));
    }
    let Some(m) = rules.mechanisms.iter().find(|m| m.key == key) else {
        return Err((
            Refusal::MechanismNotAgreed,
            format!("unknown mechanism `{key}`"),
        ));
    };
    if m.countries
        .as_ref()
        .is_some_and(|cs| !cs.iter().any(|c| c == country))
    {
        return Err((
            Refusal::MechanismNotApplicable,
            format!("`{key}` does not cover transfers to {country}"),
        ));
    }
    if m.exporters
        .as_ref()
        .is_some_and(|laws| !laws.iter().any(|l| l == exporter))
    {
        let from: Vec<&str> = m.exporters.iter().flatten().map(|l| law_name(l)).collect();
        return Err((
            Refusal::MechanismNotApplicable,
            format!(
                "`{key}` covers transfers from {} only; this tenant exports from {}",
                from.join(" or "),
                law_name(exporter)
            ),
        ));
    }
    let started = m.valid_from.is_none_or(|from| from <= date);
    let ended = m.invalid_from.is_some_and(|until| date >= until);
    if !started || ended {
        let window = match (m.valid_from, m.invalid_from) {
            (Some(f), Some(u)) => format!("valid from {f} until (not including) {u}"),
            (Some(f), None) => format!("valid from {f}"),
            (None, Some(u)) => format!("invalid from {u}"),
            (None, None) => "valid".into(),
        };
        return Err((
            Refusal::MechanismInvalidOnDate,
            format!("`{key}` is not valid on {date} ({window})"),
        ));
    }
    if m.requires_certification && !certified {
        return Err((
            Refusal::EntityNotCertified,
            format!(
                "`{key}` covers only certified recipients, and this sub-processor is not certified"
            ),
        ));
    }
    Ok(())
}

/// ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET \
    FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR \
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN \
    MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR \
    TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Validates and upper-cases a country code.
pub fn country(code: &str) -> Result<String, AppError> {
    let upper = code.trim().to_ascii_uppercase();
    if upper.len() == 2 && ISO_3166_ALPHA2.split_whitespace().any(|c| c == upper) {
        Ok(upper)
    } else if upper == "UK" {
        Err(AppError::BadInput(
            "`UK` is not an ISO 3166-1 alpha-2 code: the United Kingdom is `GB`".into(),
        ))
    } else {
        Err(AppError::BadInput(format!(
            "`{}` is not an ISO 3166-1 alpha-2 country code (e.g. DE, US, IE)",
            code.trim().chars().take(40).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_shipped_data_parses() {
        assert!(!data().version.is_empty());
        for key in [
            "eu_scc_2021",
            "bcr",
            "eu_us_dpf",
            "uk_idta",
            "swiss_us_dpf",
            "safe_harbor",
            "privacy_shield",
            "swiss_us_safe_harbor",
            "swiss_us_privacy_shield",
            "uk_us_data_bridge",
        ] {
            assert!(known(key).is_ok(), "{key}");
        }
        for c in &data().eea {
            assert!(country(c).is_ok(), "{c}");
        }
    }

    #[test]
    fn safe_harbor_ends_on_6_october_2015() {
        let all = Rules::baseline();
        let agreed = vec!["safe_harbor".to_owned()];
        assert!(
            check_country(
                &all,
                "EEA",
                "US",
                d("2015-10-05"),
                Some("safe_harbor"),
                &agreed,
                true
            )
            .is_ok()
        );
        let refused = check_country(
            &all,
            "EEA",
            "US",
            d("2015-10-06"),
            Some("safe_harbor"),
            &agreed,
            true,
        )
        .unwrap_err();
        assert_eq!(refused.0, Refusal::MechanismInvalidOnDate);
    }

    #[test]
    fn the_transfer_rules() {
        let all = Rules::baseline();
        let agreed: Vec<String> = ["eu_scc_2021", "eu_us_dpf", "privacy_shield"]
            .map(String::from)
            .to_vec();
        let today = d("2026-11-28");
        // EEA and adequate countries need nothing.
        assert!(check_country(&all, "EEA", "DE", today, None, &agreed, false).is_ok());
        assert!(check_country(&all, "EEA", "JP", today, None, &agreed, false).is_ok());
        // A third country needs one.
        let err = |r: Result<(), (Refusal, String)>| r.unwrap_err().0;
        assert_eq!(
            err(check_country(
                &all, "EEA", "US", today, None, &agreed, false
            )),
            Refusal::MechanismRequired
        );
        assert!(
            check_country(
                &all,
                "EEA",
                "US",
                today,
                Some("eu_scc_2021"),
                &agreed,
                false
            )
            .is_ok()
        );
        assert_eq!(
            err(check_country(
                &all,
                "EEA",
                "US",
                today,
                Some("bcr"),
                &agreed,
                false
            )),
            Refusal::MechanismNotAgreed
        );
        // DPF: US only, certified only, from 10 July 2023.
        assert_eq!(
            err(check_country(
                &all,
                "EEA",
                "US",
                today,
                Some("eu_us_dpf"),
                &agreed,
                false
            )),
            Refusal::EntityNotCertified
        );
        assert!(check_country(&all, "EEA", "US", today, Some("eu_us_dpf"), &agreed, true).is_ok());
        assert_eq!(
            err(check_country(
                &all,
                "EEA",
                "US",
                d("2023-07-09"),
                Some("eu_us_dpf"),
                &agreed,
                true
            )),
            Refusal::MechanismInvalidOnDate
        );
        assert_eq!(
            err(check_country(
                &all,
                "EEA",
                "IN",
                today,
                Some("eu_us_dpf"),
                &agreed,
                true
            )),
            Refusal::MechanismNotApplicable
        );
        // Privacy Shield: gone since 16 July 2020.
        assert!(
            check_country(
                &all,
                "EEA",
                "US",
                d("2020-07-15"),
                Some("privacy_shield"),
                &agreed,
                true
            )
            .is_ok()
        );
        assert_eq!(
            err(check_country(
                &all,
                "EEA",
                "US",
                d("2020-07-16"),
                Some("privacy_shield"),
                &agreed,
                true
            )),
            Refusal::MechanismInvalidOnDate
        );
        // A recorded invalidation applies from its date.
        let invalidated = Rules::with_changes(
            &HashMap::from([(
                "eu_scc_2021".to_owned(),
                (d("2026-01-01"), "struck down".to_owned()),
            )]),
            &[],
        );
        assert_eq!(
            err(check_country(
                &invalidated,
                "EEA",
                "US",
                today,
                Some("eu_scc_2021"),
                &agreed,
                false
            )),
            Refusal::MechanismInvalidOnDate
        );
        assert!(
            check_country(
                &invalidated,
                "EEA",
                "US",
                d("2025-12-31"),
                Some("eu_scc_2021"),
                &agreed,
                false
            )
            .is_ok()
        );
    }

    /// Every date in the shipped file has its source beside it.
    #[test]
    fn every_date_has_a_source() {
        for a in &data().adequacy {
            assert!(a.source.len() > 20, "adequacy {}: no source", a.country);
            assert!(country(&a.country).is_ok(), "{}", a.country);
        }
        for m in &data().mechanisms {
            for (field, date) in [
                ("valid_from", m.valid_from),
                ("invalid_from", m.invalid_from),
            ] {
                if date.is_some() {
                    assert!(
                        m.sources.get(field).is_some_and(|s| s.len() > 20),
                        "{}: {field} has no source",
                        m.key
                    );
                }
            }
            for law in m.exporters.iter().flatten() {
                assert!(
                    ["EEA", "CH", "GB"].contains(&law.as_str()),
                    "{}: {law}",
                    m.key
                );
            }
        }
    }

    /// The Swiss and UK frameworks, each with its dates, only for exporters under its law.
    #[test]
    fn swiss_and_uk_frameworks() {
        let all = Rules::baseline();
        let agreed: Vec<String> = [
            "swiss_us_safe_harbor",
            "swiss_us_privacy_shield",
            "swiss_us_dpf",
            "uk_us_data_bridge",
            "eu_us_dpf",
        ]
        .map(String::from)
        .to_vec();
        let check = |law: &str, on: &str, key: &str| {
            check_country(&all, law, "US", d(on), Some(key), &agreed, true).map_err(|e| e.0)
        };
        assert_eq!(
            check("CH", "2009-02-15", "swiss_us_safe_harbor"),
            Err(Refusal::MechanismInvalidOnDate)
        );
        assert_eq!(check("CH", "2009-02-16", "swiss_us_safe_harbor"), Ok(()));
        assert_eq!(check("CH", "2015-10-21", "swiss_us_safe_harbor"), Ok(()));
        assert_eq!(
            check("CH", "2015-10-22", "swiss_us_safe_harbor"),
            Err(Refusal::MechanismInvalidOnDate)
        );
        assert_eq!(check("CH", "2020-09-07", "swiss_us_privacy_shield"), Ok(()));
        assert_eq!(
            check("CH", "2020-09-08", "swiss_us_privacy_shield"),
            Err(Refusal::MechanismInvalidOnDate)
        );
        assert_eq!(
            check("CH", "2024-09-14", "swiss_us_dpf"),
            Err(Refusal::MechanismInvalidOnDate)
        );
        assert_eq!(check("CH", "2024-09-15", "swiss_us_dpf"), Ok(()));
        assert_eq!(
            check("GB", "2023-10-11", "uk_us_data_bridge"),
            Err(Refusal::MechanismInvalidOnDate)
        );
        assert_eq!(check("GB", "2023-10-12", "uk_us_data_bridge"), Ok(()));
        // Each covers exporters under its own law only.
        assert_eq!(
            check("EEA", "2026-01-05", "swiss_us_dpf"),
            Err(Refusal::MechanismNotApplicable)
        );
        assert_eq!(
            check("CH", "2026-01-05", "eu_us_dpf"),
            Err(Refusal::MechanismNotApplicable)
        );
        assert_eq!(
            check("EEA", "2026-01-05", "uk_us_data_bridge"),
            Err(Refusal::MechanismNotApplicable)
        );
        assert_eq!(exporter_law(Some("CH")), "CH");
        assert_eq!(exporter_law(Some("DE")), "EEA");
        assert_eq!(exporter_law(None), "EEA");
    }

    /// An adequacy decision withdrawn from a date needs a mechanism from then; a new one needs none from its date.
    #[test]
    fn adequacy_changes_apply_from_their_dates() {
        let changed = Rules::with_changes(
            &HashMap::new(),
            &[
                AdequacyChange {
                    country: "JP".into(),
                    decided_on: None,
                    withdrawn_on: Some(d("2027-01-01")),
                    reason: "annulled".into(),
                },
                AdequacyChange {
                    country: "IN".into(),
                    decided_on: Some(d("2027-03-01")),
                    withdrawn_on: None,
                    reason: "new decision".into(),
                },
            ],
        );
        assert!(!changed.needs_mechanism("JP", d("2026-12-31")));
        assert!(changed.needs_mechanism("JP", d("2027-01-01")));
        assert!(changed.needs_mechanism("IN", d("2027-02-28")));
        assert!(!changed.needs_mechanism("IN", d("2027-03-01")));
        let jp = changed.adequacy.iter().find(|a| a.country == "JP").unwrap();
        assert!(jp.source.contains("annulled"), "{}", jp.source);
        // The baseline is untouched.
        assert!(!Rules::baseline().needs_mechanism("JP", d("2027-06-01")));
    }

    #[test]
    fn country_codes() {
        assert_eq!(country(" de ").unwrap(), "DE");
        assert!(country("XX").is_err());
        assert!(country("DEU").is_err());
    }
}

//! Transfer mechanisms and country rules, as data with validity periods (`api/data/transfer-mechanisms.json`), plus
//! the invalidations legal records in the control database.
//!
//! A transfer to a country needs no mechanism when the country is in the EEA or has an adequacy decision in force on
//! the transfer date; otherwise it needs a mechanism that the sub-processor signed, that applies to that country, that
//! is valid on that date, and — for certification schemes such as the Data Privacy Framework — a certified recipient.

use std::collections::HashMap;
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

#[derive(Debug, Deserialize)]
pub struct Adequacy {
    pub country: String,
    pub decided_on: NaiveDate,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Mechanism {
    pub key: String,
    pub name: String,
    pub valid_from: Option<NaiveDate>,
    pub invalid_from: Option<NaiveDate>,
    /// Destination countries it applies to; `None` for any.
    pub countries: Option<Vec<String>>,
    pub requires_certification: bool,
}

static DATA: LazyLock<MechanismData> = LazyLock::new(|| {
    // Shipped inside the binary and parsed by a unit test, so this cannot fail in a built server.
    serde_json::from_str(include_str!("../../data/transfer-mechanisms.json"))
        .unwrap_or_else(|e| panic!("transfer-mechanisms.json: {e}"))
});

pub fn data() -> &'static MechanismData {
    &DATA
}

/// The mechanisms with legal's recorded invalidations applied (the earlier date wins).
pub fn with_invalidations(invalidations: &HashMap<String, NaiveDate>) -> Vec<Mechanism> {
    data()
        .mechanisms
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(&date) = invalidations.get(&m.key) {
                m.invalid_from = Some(m.invalid_from.map_or(date, |d| d.min(date)));
            }
            m
        })
        .collect()
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

/// Does a transfer to `country` on `date` need a mechanism at all?
pub fn needs_mechanism(country: &str, date: NaiveDate) -> bool {
    let d = data();
    !(d.eea.iter().any(|c| c == country)
        || d.adequacy
            .iter()
            .any(|a| a.country == country && a.decided_on <= date))
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
    mechanisms: &[Mechanism],
    country: &str,
    date: NaiveDate,
    given: Option<&str>,
    agreed: &[String],
    certified: bool,
) -> Result<(), (Refusal, String)> {
    if !needs_mechanism(country, date) {
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
    let Some(m) = mechanisms.iter().find(|m| m.key == key) else {
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
    } else {
        Err(AppError::BadInput(format!(
            "`{}` is not an ISO 3166-1 alpha-2 country code (e.g. DE, US, IE)",
            code.trim()
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
        ] {
            assert!(known(key).is_ok(), "{key}");
        }
        for c in &data().eea {
            assert!(country(c).is_ok(), "{c}");
        }
    }

    #[test]
    fn safe_harbor_ends_on_6_october_2015() {
        let all = with_invalidations(&HashMap::new());
        let agreed = vec!["safe_harbor".to_owned()];
        assert!(
            check_country(
                &all,
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
        let all = with_invalidations(&HashMap::new());
        let agreed: Vec<String> = ["eu_scc_2021", "eu_us_dpf", "privacy_shield"]
            .map(String::from)
            .to_vec();
        let today = d("2026-11-28");
        // EEA and adequate countries need nothing.
        assert!(check_country(&all, "DE", today, None, &agreed, false).is_ok());
        assert!(check_country(&all, "JP", today, None, &agreed, false).is_ok());
        // A third country needs one.
        let err = |r: Result<(), (Refusal, String)>| r.unwrap_err().0;
        assert_eq!(
            err(check_country(&all, "US", today, None, &agreed, false)),
            Refusal::MechanismRequired
        );
        assert!(check_country(&all, "US", today, Some("eu_scc_2021"), &agreed, false).is_ok());
        assert_eq!(
            err(check_country(
                &all,
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
                "US",
                today,
                Some("eu_us_dpf"),
                &agreed,
                false
            )),
            Refusal::EntityNotCertified
        );
        assert!(check_country(&all, "US", today, Some("eu_us_dpf"), &agreed, true).is_ok());
        assert_eq!(
            err(check_country(
                &all,
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
                "US",
                d("2020-07-16"),
                Some("privacy_shield"),
                &agreed,
                true
            )),
            Refusal::MechanismInvalidOnDate
        );
        // A recorded invalidation applies from its date.
        let invalidated = with_invalidations(&HashMap::from([(
            "eu_scc_2021".to_owned(),
            d("2026-01-01"),
        )]));
        assert_eq!(
            err(check_country(
                &invalidated,
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
                "US",
                d("2025-12-31"),
                Some("eu_scc_2021"),
                &agreed,
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn country_codes() {
        assert_eq!(country(" de ").unwrap(), "DE");
        assert!(country("XX").is_err());
        assert!(country("DEU").is_err());
    }
}

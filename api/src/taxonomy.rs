//! The versioned taxonomy of data categories and purposes (`api/data/taxonomy.json`), and the checks a value must
//! pass for its category.

use std::net::IpAddr;
use std::sync::LazyLock;

use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use crate::error::AppError;

/// Longest personal value accepted, in characters.
pub const MAX_VALUE_CHARS: usize = 4096;

#[derive(Debug, Deserialize)]
pub struct Taxonomy {
    pub version: String,
    pub categories: Vec<Category>,
    pub purposes: Vec<Purpose>,
}

#[derive(Debug, Deserialize)]
pub struct Category {
    pub key: String,
    pub name: String,
    pub description: String,
    pub format: Format,
}

#[derive(Debug, Deserialize)]
pub struct Purpose {
    pub key: String,
    pub name: String,
    pub description: String,
}

/// How a category's values are checked and normalised.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Text,
    Email,
    Phone,
    Date,
    IpAddress,
}

static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(|| {
    // The file ships inside the binary and a unit test parses it, so this cannot fail in a built server.
    serde_json::from_str(include_str!("../data/taxonomy.json"))
        .unwrap_or_else(|e| panic!("taxonomy.json: {e}"))
});

pub fn taxonomy() -> &'static Taxonomy {
    &TAXONOMY
}

pub const EMAIL: &str = "user.contact.email";
pub const NAME: &str = "user.name";

pub fn category(key: &str) -> Result<&'static Category, AppError> {
    let t = taxonomy();
    t.categories.iter().find(|c| c.key == key).ok_or_else(|| {
        let keys: Vec<&str> = t.categories.iter().map(|c| c.key.as_str()).collect();
        AppError::BadInput(format!(
            "unknown category `{key}`: choose one of {}",
            keys.join(", ")
        ))
    })
}

pub fn purpose(key: &str) -> Result<&'static Purpose, AppError> {
    let t = taxonomy();
    t.purposes.iter().find(|p| p.key == key).ok_or_else(|| {
        let keys: Vec<&str> = t.purposes.iter().map(|p| p.key.as_str()).collect();
        AppError::BadInput(format!(
            "unknown purpose `{key}`: choose one of {}",
            keys.join(", ")
        ))
    })
}

/// Checks a value for its category and returns it as stored (trimmed; emails and IPs in canonical form).
pub fn check_value(category: &Category, raw: &str) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
        return Err(AppError::BadInput(format!(
            "`value` must be 1-{MAX_VALUE_CHARS} characters"
        )));
    }
    let bad = |what: &str| AppError::BadInput(format!("a `{}` value must be {what}", category.key));
    match category.format {
        Format::Text => {
            if value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(bad("printable text"));
            }
            Ok(value.to_owned())
        }
        Format::Email => crate::validate::email(value).map_err(|_| bad("an email address")),
        Format::Phone => {
            let digits = value.chars().filter(char::is_ascii_digit).count();
            let allowed = value
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
            let plus_only_first = value.rfind('+').is_none_or(|i| i == 0);
            if allowed && plus_only_first && (6..=15).contains(&digits) {
                Ok(value.to_owned())
            } else {
                Err(bad("a phone number of 6-15 digits, e.g. +49 30 1234567"))
            }
        }
        Format::Date => {
            let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(|_| bad("a date, YYYY-MM-DD"))?;
            check_past_date(date).map_err(|_| bad("a date that is not in the future"))?;
            Ok(date.format("%Y-%m-%d").to_string())
        }
        Format::IpAddress => value
            .parse::<IpAddr>()
            .map(|ip| ip.to_string())
            .map_err(|_| bad("an IPv4 or IPv6 address")),
    }
}

/// A date of birth (or any past date): not in the future, not before 1900.
pub fn check_past_date(date: NaiveDate) -> Result<NaiveDate, AppError> {
    let today = Utc::now().date_naive();
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if date > today {
        return Err(AppError::BadInput(format!("{date} is in the future")));
    }
    if date < earliest {
        return Err(AppError::BadInput(format!("{date} is before 1900")));
    }
    Ok(date)
}

/// How an email is compared: trimmed and lower-cased, so lookups do not depend on how it was typed.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_taxonomy_parses_and_has_the_promised_keys() {
        let t = taxonomy();
        assert!(!t.version.is_empty());
        for key in [
            "user.contact.email",
            "user.name",
            "user.contact.phone_number",
            "user.contact.address",
            "user.demographic.date_of_birth",
            "user.device.ip_address",
            "user.financial.bank_account",
            "user.behavior.browsing_history",
        ] {
            assert!(category(key).is_ok(), "{key}");
        }
        for key in [
            "essential.service",
            "analytics",
            "marketing.communications.email",
        ] {
            assert!(purpose(key).is_ok(), "{key}");
        }
        let mut keys: Vec<&str> = t.categories.iter().map(|c| c.key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), t.categories.len(), "category keys are unique");
    }

    #[test]
    fn unknown_keys_name_the_valid_choices() {
        let err = category("user.shoe_size").unwrap_err().to_string();
        assert!(
            err.contains("user.contact.email") && err.contains("user.name"),
            "{err}"
        );
        let err = purpose("profit").unwrap_err().to_string();
        assert!(err.contains("essential.service"), "{err}");
    }

    #[test]
    fn values_are_checked_by_format() {
        let check = |cat: &str, v: &str| check_value(category(cat).unwrap(), v);
        assert_eq!(
            check("user.contact.email", " ann@example.org ").unwrap(),
            "ann@example.org"
        );
        assert!(check("user.contact.email", "ann").is_err());
        assert!(check("user.contact.phone_number", "+49 30 1234567").is_ok());
        assert!(check("user.contact.phone_number", "call me").is_err());
        assert!(check("user.contact.phone_number", "12+34567").is_err());
        assert!(check("user.contact.phone_number", "123").is_err());
        assert!(check("user.demographic.date_of_birth", "1990-02-28").is_ok());
        assert!(check("user.demographic.date_of_birth", "1990-02-30").is_err());
        assert!(check("user.demographic.date_of_birth", "2999-01-01").is_err());
        assert_eq!(
            check("user.device.ip_address", "2001:DB8::1").unwrap(),
            "2001:db8::1"
        );
        assert!(check("user.device.ip_address", "300.1.1.1").is_err());
        assert!(check("user.name", &"x".repeat(MAX_VALUE_CHARS + 1)).is_err());
        assert!(check("user.name", "   ").is_err());
    }
}

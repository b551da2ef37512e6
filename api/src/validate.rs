//! Checks shared by every free-text field of the API.

use crate::error::AppError;

/// The days a date given to Steward may fall on. Date columns are compared in SQL, and SQLite compares them as text:
/// a date outside years 1900–2199 (`+10000-01-01` sorts before `2026-…`) would be due at once.
pub const EARLIEST_DATE: (i32, u32, u32) = (1900, 1, 1);
pub const LATEST_DATE: (i32, u32, u32) = (2199, 12, 31);

/// A date within [`EARLIEST_DATE`]..=[`LATEST_DATE`]; the error names the field.
pub fn date(field: &str, day: chrono::NaiveDate) -> Result<chrono::NaiveDate, AppError> {
    let (y0, m0, d0) = EARLIEST_DATE;
    let (y1, m1, d1) = LATEST_DATE;
    let earliest = chrono::NaiveDate::from_ymd_opt(y0, m0, d0);
    let latest = chrono::NaiveDate::from_ymd_opt(y1, m1, d1);
    if earliest.is_some_and(|e| day >= e) && latest.is_some_and(|l| day <= l) {
        Ok(day)
    } else {
        Err(AppError::BadInput(format!(
            "`{field}` must be a date from {y0} to {y1}"
        )))
    }
}

/// Trimmed text of 1 to `max` characters without control characters (newlines allowed) and without the characters
/// that reorder what follows (bidirectional embeddings, overrides and isolates: with them, text shown to a person can
/// read differently from what was stored); the error names the field.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty()
        || value.chars().count() > max
        || value
            .chars()
            .any(|c| (c.is_control() && c != '\n') || reorders(c))
    {
        return Err(AppError::BadInput(format!(
            "`{field}` must be 1-{max} printable characters (no control or direction-changing characters)"
        )));
    }
    Ok(value.to_owned())
}

/// [`text`] for an optional field: absent stays absent.
pub fn text_opt(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, AppError> {
    raw.map(|r| text(field, r, max)).transpose()
}

/// A trimmed one-line label of 1 to `max` characters that a person tells apart from others by sight (a name, a
/// ticket, an id): no control characters and no characters that print as nothing or reorder what follows.
pub fn label(field: &str, raw: &str, max: usize) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(hidden) {
        return Err(AppError::BadInput(format!(
            "`{field}` must be 1-{max} printable characters (no control, zero-width or direction-changing \
             characters)"
        )));
    }
    Ok(value.to_owned())
}

/// A character a person cannot see in a label: a control character, or a Unicode format character that prints as
/// nothing or reorders what follows (two labels that differ only by one look the same).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}')
}

/// A bidirectional embedding, override or isolate (and the marks), which change the order in which text is shown.
fn reorders(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A trimmed email address of at most 320 characters, `local@domain.tld`, without spaces or control characters.
pub fn email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim();
    let bad = || {
        AppError::BadInput(format!(
            "`{}` is not an email address",
            email.chars().take(80).collect::<String>()
        ))
    };
    if email.is_empty() || email.chars().count() > 320 {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let well_formed = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || hidden(c));
    if !well_formed {
        return Err(bad());
    }
    Ok(email.to_owned())
}

#[cfg(test)]
mod email_tests {
    #[test]
    fn emails() {
        assert_eq!(
            super::email(" Ann@Example.org ").unwrap(),
            "Ann@Example.org"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "a b@example.org",
            "a@b@example.org",
            "a@.org",
        ] {
            assert!(super::email(bad).is_err(), "{bad}");
        }
    }
}

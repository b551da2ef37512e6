//! Checks shared by every free-text field of the API.

use crate::error::AppError;

/// Trimmed text of 1 to `max` characters without control characters (newlines allowed); the error names the field.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty()
        || value.chars().count() > max
        || value.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(AppError::BadInput(format!(
            "`{field}` must be 1-{max} printable characters"
        )));
    }
    Ok(value.to_owned())
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
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
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

//! Input rules shared by the server (which enforces them) and clients (which can check a form
//! before sending it).

/// Fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Most bytes a password may have (bounds hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Most bytes an email address may have (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Most characters an authtoken description may have.
pub const MAX_DESCRIPTION_CHARS: usize = 255;
/// Most bytes a region name may have.
pub const MAX_REGION_BYTES: usize = 32;
/// Most bytes an agent version string may have.
pub const MAX_AGENT_VERSION_BYTES: usize = 128;

/// Why an input was refused; the message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The email address does not look like `name@domain.tld`.
    #[error("email must look like name@example.com")]
    EmailShape,
    /// The password is shorter than [`MIN_PASSWORD_CHARS`].
    #[error("password must have at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("password must have at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    /// The description is longer than [`MAX_DESCRIPTION_CHARS`].
    #[error("description must have at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    /// The region is empty, too long, or has characters other than `a-z`, `0-9` and `-`.
    #[error("region must be 1 to {MAX_REGION_BYTES} of a-z, 0-9 and '-'")]
    RegionShape,
    /// The agent version is longer than [`MAX_AGENT_VERSION_BYTES`] or has control characters.
    #[error("agent_version must be at most {MAX_AGENT_VERSION_BYTES} printable bytes")]
    AgentVersionShape,
    /// A subdomain (or relay ID) is not one DNS label of `a-z`, `0-9` and `-`.
    #[error("{0} must be 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'")]
    LabelShape(&'static str),
    /// A day is not `YYYY-MM-DD`.
    #[error("{0} must be a date like 2026-01-31")]
    DayShape(&'static str),
}

/// The form in which emails are stored and compared: trimmed and lower-cased, so that
/// `Alice@Example.com` and `alice@example.com` are one account.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks that a (normalized) email has the shape `local@domain.tld`.
///
/// Deliberately loose — the only real test of an address is mail reaching it — but it refuses
/// what is surely a mistake: no `@`, spaces, an empty part, a domain without a dot.
pub fn check_email(email: &str) -> Result<(), ValidationError> {
    if email_shape_ok(email) {
        Ok(())
    } else {
        Err(ValidationError::EmailShape)
    }
}

fn email_shape_ok(email: &str) -> bool {
    if email.len() > MAX_EMAIL_BYTES || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && labels_ok
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), ValidationError> {
    if password.len() > MAX_PASSWORD_BYTES {
        Err(ValidationError::PasswordTooLong)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(ValidationError::PasswordTooShort)
    } else {
        Ok(())
    }
}

/// Checks an authtoken description's length.
pub fn check_description(description: &str) -> Result<(), ValidationError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        Err(ValidationError::DescriptionTooLong)
    } else {
        Ok(())
    }
}

/// Checks a region name (`eu`, `us-east`): 1 to [`MAX_REGION_BYTES`] of `a-z 0-9 -`.
pub fn check_region(region: &str) -> Result<(), ValidationError> {
    let ok = !region.is_empty()
        && region.len() <= MAX_REGION_BYTES
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::RegionShape)
    }
}

/// Checks an agent version string: at most [`MAX_AGENT_VERSION_BYTES`], no control characters.
pub fn check_agent_version(version: &str) -> Result<(), ValidationError> {
    if version.len() <= MAX_AGENT_VERSION_BYTES && !version.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ValidationError::AgentVersionShape)
    }
}

/// Checks that `label` is one DNS label: 1–63 of `a-z 0-9 -`, not starting or ending with
/// `-`. `what` names the field in the error (`subdomain`, `relay_id`).
pub fn check_label(what: &'static str, label: &str) -> Result<(), ValidationError> {
    let ok = !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::LabelShape(what))
    }
}

/// Whether `group` is a well-formed agent replica group (a binding's `ha_group`): 8 to 32
/// ASCII letters and digits. The agent protocol's `Hello` carries the same rule.
pub fn valid_ha_group(group: &str) -> bool {
    (8..=32).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parses a `YYYY-MM-DD` day; `what` names the field in the error.
pub fn parse_day(what: &'static str, day: &str) -> Result<time::Date, ValidationError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format).map_err(|_| ValidationError::DayShape(what))
}

/// A day as `YYYY-MM-DD`.
pub fn format_day(day: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
/// Slicing `&s[..max]` panics when byte `max` falls inside a character: use this instead.
pub fn cut(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_stops_on_a_character_boundary() {
        // 'é' is two bytes: byte 500 falls inside the 250th.
        let s = format!("a{}", "é".repeat(300));
        let c = cut(&s, 500);
        assert_eq!(c.len(), 499);
        assert!(s.starts_with(c));
        assert_eq!(cut("short", 500), "short");
        assert_eq!(cut("€", 2), "");
    }

    #[test]
    fn labels_and_days() {
        assert!(check_label("subdomain", "my-app1").is_ok());
        for bad in ["", "-a", "a-", "a.b", "A", "ünï", &"x".repeat(64)] {
            assert!(check_label("subdomain", bad).is_err(), "{bad:?}");
        }
        let d = parse_day("from", "2026-02-28").expect("valid day");
        assert_eq!(format_day(d), "2026-02-28");
        for bad in ["2026-02-30", "2026-2-1", "yesterday", ""] {
            assert!(parse_day("from", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn regions_and_agent_versions() {
        assert!(check_region("eu").is_ok() && check_region("us-east-1").is_ok());
        for bad in ["", "EU", "eu west", &"x".repeat(33)] {
            assert_eq!(
                check_region(bad),
                Err(ValidationError::RegionShape),
                "{bad:?}"
            );
        }
        assert!(check_agent_version("fdt/0.1.0").is_ok());
        assert!(check_agent_version("a\nb").is_err());
        assert!(check_agent_version(&"v".repeat(129)).is_err());
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@b..com",
            "a@-b.com",
            "a@@b.com",
        ] {
            assert_eq!(check_email(bad), Err(ValidationError::EmailShape), "{bad}");
        }
        assert_eq!(normalize_email("  Alice@Example.COM "), "alice@example.com");
    }

    #[test]
    fn passwords() {
        assert_eq!(
            check_password("123456789"),
            Err(ValidationError::PasswordTooShort)
        );
        assert_eq!(check_password("1234567890"), Ok(()));
        // Ten characters even though more bytes: length is counted in characters.
        assert_eq!(
            check_password("ééééééééé"),
            Err(ValidationError::PasswordTooShort)
        );
        assert_eq!(
            check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(ValidationError::PasswordTooLong)
        );
    }
}

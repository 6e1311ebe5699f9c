//! Domain names as people type them: normalised and checked, the TXT record that proves
//! control, and wildcard matching.

use super::{CHALLENGE_LABEL, MAX_DOMAIN_BYTES, MAX_LABEL_BYTES};

/// Why a domain name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    /// Longer than [`MAX_DOMAIN_BYTES`].
    #[error("must be at most {MAX_DOMAIN_BYTES} bytes")]
    TooLong,
    /// A label is empty or longer than [`MAX_LABEL_BYTES`].
    #[error("every label must be 1 to {MAX_LABEL_BYTES} bytes")]
    LabelLength,
    /// A label has a character other than `a-z 0-9 -`, or starts or ends with `-`.
    #[error("labels must be a-z, 0-9 and '-', not starting or ending with '-'")]
    LabelShape,
    /// Fewer than two labels (`localhost`, `com`).
    #[error("must have at least two labels, like example.com")]
    TooFewLabels,
    /// An IPv4 or IPv6 literal.
    #[error("must be a name, not an IP address")]
    IpLiteral,
    /// `*` anywhere but as the whole first label, or a wildcard of a single label.
    #[error("a wildcard must be '*.' followed by a domain of two or more labels")]
    Wildcard,
    /// The top-level label is all digits (no such TLD exists; it reads as an address).
    #[error("the last label must not be all digits")]
    NumericTld,
}

/// Normalises a domain as typed (trimmed, lower case, one trailing dot dropped) and checks it:
/// a host name of at most 253 bytes with LDH labels of 1–63 bytes and at least two labels, or
/// `*.` followed by one. Internationalised names must be sent in their `xn--` form.
pub fn normalize_domain(input: &str) -> Result<String, DomainNameError> {
    let name = input.trim();
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.len() > MAX_DOMAIN_BYTES {
        return Err(DomainNameError::TooLong);
    }
    if name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[') {
        return Err(DomainNameError::IpLiteral);
    }
    let (wildcard, rest) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name.as_str()),
    };
    if rest.contains('*') {
        return Err(DomainNameError::Wildcard);
    }
    let labels: Vec<&str> = rest.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > MAX_LABEL_BYTES {
            return Err(DomainNameError::LabelLength);
        }
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(DomainNameError::LabelShape);
        }
    }
    if labels.len() < 2 {
        return Err(if wildcard {
            DomainNameError::Wildcard
        } else {
            DomainNameError::TooFewLabels
        });
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DomainNameError::NumericTld);
    }
    Ok(name)
}

/// The name of the TXT record that proves control of `domain` (its parent for a wildcard).
pub fn challenge_name(domain: &str) -> String {
    let base = domain.strip_prefix("*.").unwrap_or(domain);
    format!("{CHALLENGE_LABEL}.{base}")
}

/// The TXT value that proves control, for a domain's token.
pub fn challenge_value(token: &str) -> String {
    format!("fdt-verify={token}")
}

/// Whether `host` is `domain` itself, or (for `*.parent`) exactly one label under `parent`.
pub fn domain_matches(domain: &str, host: &str) -> bool {
    match domain.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => domain == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            normalize_domain(" App.Example.COM. ").as_deref(),
            Ok("app.example.com")
        );
        assert_eq!(
            normalize_domain("*.example.com").as_deref(),
            Ok("*.example.com")
        );
        assert_eq!(
            normalize_domain("xn--bcher-kva.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        let long = format!("{}.com", ["a"; 150].join("."));
        assert_eq!(normalize_domain(&long), Err(DomainNameError::TooLong));
        let label64 = format!("{}.example.com", "a".repeat(64));
        assert_eq!(
            normalize_domain(&label64),
            Err(DomainNameError::LabelLength)
        );
        assert_eq!(
            normalize_domain("*.*.example.com"),
            Err(DomainNameError::Wildcard)
        );
        assert_eq!(
            normalize_domain("a.*.example.com"),
            Err(DomainNameError::Wildcard)
        );
        assert_eq!(normalize_domain("*.com"), Err(DomainNameError::Wildcard));
        assert_eq!(
            normalize_domain("10.0.0.1"),
            Err(DomainNameError::IpLiteral)
        );
        assert_eq!(normalize_domain("::1"), Err(DomainNameError::IpLiteral));
        assert_eq!(normalize_domain("[::1]"), Err(DomainNameError::IpLiteral));
        assert_eq!(
            normalize_domain("1.2.3.999"),
            Err(DomainNameError::NumericTld)
        );
        assert_eq!(
            normalize_domain("localhost"),
            Err(DomainNameError::TooFewLabels)
        );
        assert_eq!(
            normalize_domain("a..com"),
            Err(DomainNameError::LabelLength)
        );
        assert_eq!(normalize_domain("-a.com"), Err(DomainNameError::LabelShape));
        assert_eq!(
            normalize_domain("a_b.com"),
            Err(DomainNameError::LabelShape)
        );
        assert_eq!(normalize_domain("é.com"), Err(DomainNameError::LabelShape));
    }

    #[test]
    fn wildcards_match_one_label() {
        assert!(domain_matches("*.example.com", "a.example.com"));
        assert!(!domain_matches("*.example.com", "a.b.example.com"));
        assert!(!domain_matches("*.example.com", "example.com"));
        assert!(!domain_matches("*.example.com", "aexample.com"));
        assert!(domain_matches("app.example.com", "app.example.com"));
        assert_eq!(
            challenge_name("*.example.com"),
            "_fdt-challenge.example.com"
        );
    }
}

//! Amounts in minor units of an ISO 4217 currency, as people read them: shared by the control
//! plane (invoices, messages) and the pages (billing), so both print `12.34 USD` alike.

/// Currencies without a minor unit.
pub const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies with three decimals.
pub const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// Decimals of `code`'s minor unit (upper-case code).
pub fn exponent(code: &str) -> u32 {
    if ZERO_DECIMAL.contains(&code) {
        0
    } else if THREE_DECIMAL.contains(&code) {
        3
    } else {
        2
    }
}

/// `minor` units of `code` as a decimal number (`-12.34`).
pub fn decimal(minor: i64, code: &str) -> String {
    let exp = exponent(code);
    if exp == 0 {
        return minor.to_string();
    }
    let div = 10u64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / div,
        abs % div,
        width = exp as usize
    )
}

/// `minor` units of `code` as `12.34 USD`.
pub fn display(minor: i64, code: &str) -> String {
    format!("{} {code}", decimal(minor, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_with_their_currencys_decimals() {
        assert_eq!(display(1190, "EUR"), "11.90 EUR");
        assert_eq!(display(-500, "USD"), "-5.00 USD");
        assert_eq!(display(500, "JPY"), "500 JPY");
        assert_eq!(display(1234, "KWD"), "1.234 KWD");
        assert_eq!(display(-5, "USD"), "-0.05 USD");
    }
}

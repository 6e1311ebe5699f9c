//! Money as integers: minor units (`i64`) of an ISO 4217 currency. No floats anywhere:
//! providers' decimal strings ("10.00", PayPal) are parsed digit by digit with the currency's
//! exponent.

use serde::{Deserialize, Serialize};

/// An amount in a currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents, paise; yen for JPY).
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

/// An ISO 4217 code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// Why a currency or an amount is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not three ASCII letters.
    #[error("{0:?} is not an ISO 4217 currency code")]
    Currency(String),
    /// Not a decimal amount with at most the currency's number of decimals, or too large.
    #[error("{0:?} is not an amount in this currency")]
    Amount(String),
}

impl Currency {
    /// Parses a code, any case.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let b = s.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::Currency(s.chars().take(16).collect()));
        }
        Ok(Self([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Decimals of its minor unit.
    pub fn exponent(&self) -> u32 {
        fdt_api::money::exponent(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl Money {
    /// `minor` units of `currency` (Stripe and Razorpay send minor units).
    pub fn minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a decimal string ("10.00", "10", "0.5") in `currency`: no sign, no exponent, at
    /// most the currency's decimals.
    pub fn parse_decimal(s: &str, currency: Currency) -> Result<Self, MoneyError> {
        let bad = || MoneyError::Amount(s.chars().take(32).collect());
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let exp = currency.exponent() as usize;
        if whole.is_empty()
            || whole.len() > 15
            || frac.len() > exp
            || (s.contains('.') && frac.is_empty())
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut minor: i64 = whole.parse().map_err(|_| bad())?;
        for i in 0..exp {
            let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(d))
                .ok_or_else(bad)?;
        }
        Ok(Self { minor, currency })
    }

    /// The amount as a decimal string in its currency ("10.00").
    pub fn decimal(&self) -> String {
        fdt_api::money::decimal(self.minor, self.currency.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decimals_follow_the_currency() {
        let usd = Currency::parse("usd").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse_decimal("10.00", usd).unwrap().minor, 1000);
        assert_eq!(Money::parse_decimal("10.5", usd).unwrap().minor, 1050);
        assert_eq!(Money::parse_decimal("7", usd).unwrap().minor, 700);
        assert_eq!(Money::parse_decimal("1500", jpy).unwrap().minor, 1500);
        assert_eq!(Money::parse_decimal("1.234", kwd).unwrap().minor, 1234);
        for bad in [
            "",
            "-1.00",
            "1e3",
            "1.001",
            "1.",
            ".5",
            "１",
            "1,00",
            "9999999999999999.00",
        ] {
            assert!(Money::parse_decimal(bad, usd).is_err(), "{bad}");
        }
        assert!(Money::parse_decimal("1.5", jpy).is_err());
        assert_eq!(Money::minor(1050, usd).decimal(), "10.50");
        assert_eq!(Money::minor(-5, usd).decimal(), "-0.05");
        assert_eq!(Money::minor(1500, jpy).decimal(), "1500");
        for bad in ["US", "USDX", "U$D", "ÜSD"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}

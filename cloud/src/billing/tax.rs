//! Tax on an invoice, sans-IO: the rate for the customer's country from a per-country table
//! (basis points), and the EU's reverse charge for business customers with a VAT ID in
//! another member state. Amounts charged by providers are gross (what the customer paid);
//! the split into net and tax is integer arithmetic in minor units, rounded half up, so net
//! plus tax is always exactly the total.

use std::collections::BTreeMap;

/// The EU member states (ISO 3166-1 alpha-2; Greece as `GR`), where the reverse charge applies
/// between businesses in two of them.
pub const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The note printed on a reverse-charged invoice.
pub const REVERSE_CHARGE_NOTE: &str = "Reverse charge: VAT to be accounted for by the recipient (Article 196, Directive 2006/112/EC).";

/// Who is invoiced, as far as tax goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customer<'a> {
    /// ISO country code, when the customer gave one.
    pub country: Option<&'a str>,
    /// VAT ID, for a business.
    pub vat_id: Option<&'a str>,
}

/// The tax on one total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Rate in basis points (1900 = 19 %).
    pub rate_bp: u32,
    /// Net, minor units.
    pub net: i64,
    /// Tax, minor units.
    pub tax: i64,
    /// The reverse charge applies (rate 0, [`REVERSE_CHARGE_NOTE`] printed).
    pub reverse_charge: bool,
}

/// The tax on `total` (gross, minor units) for `customer`, sold from `seller_country` with
/// `rates` (country → basis points). A customer without a country pays the seller's
/// country's rate; a country without a rate pays none.
pub fn split(
    total: i64,
    customer: &Customer<'_>,
    seller_country: &str,
    rates: &BTreeMap<String, u32>,
) -> Split {
    let country = customer.country.unwrap_or(seller_country);
    let reverse_charge = customer.vat_id.is_some_and(|v| !v.is_empty())
        && country != seller_country
        && EU.contains(&country)
        && EU.contains(&seller_country);
    let rate_bp = if reverse_charge {
        0
    } else {
        rates.get(country).copied().unwrap_or(0)
    };
    let net = net_of(total, rate_bp);
    Split {
        rate_bp,
        net,
        tax: total - net,
        reverse_charge,
    }
}

/// The split of `total` at a rate already decided (a credit note takes its invoice's).
pub fn split_at(total: i64, rate_bp: u32, reverse_charge: bool) -> Split {
    let net = net_of(total, rate_bp);
    Split {
        rate_bp,
        net,
        tax: total - net,
        reverse_charge,
    }
}

/// `total / (1 + rate)`, rounded half away from zero, in i128 so no product overflows.
fn net_of(total: i64, rate_bp: u32) -> i64 {
    let num = i128::from(total) * 10_000;
    let den = 10_000 + i128::from(rate_bp);
    let q = num / den;
    let r = num % den;
    let rounded = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    i64::try_from(rounded).unwrap_or(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> BTreeMap<String, u32> {
        [("DE", 1900), ("FR", 2000), ("IN", 1800), ("IE", 2300)]
            .into_iter()
            .map(|(c, r)| (c.to_owned(), r))
            .collect()
    }

    #[test]
    fn gross_totals_split_exactly_into_net_and_tax() {
        // 11.90 EUR gross at 19 %: 10.00 net + 1.90 tax.
        let s = split(
            1190,
            &Customer {
                country: Some("DE"),
                vat_id: None,
            },
            "DE",
            &rates(),
        );
        assert_eq!(
            (s.rate_bp, s.net, s.tax, s.reverse_charge),
            (1900, 1000, 190, false)
        );
        // 12.00 USD at 19 %: 10.084… → 10.08 net, 1.92 tax; the parts add up.
        let s = split(
            1200,
            &Customer {
                country: Some("DE"),
                vat_id: None,
            },
            "DE",
            &rates(),
        );
        assert_eq!((s.net, s.tax), (1008, 192));
        // 499.00 INR at 18 %: 422.881… → 422.88 + 76.12.
        let s = split(
            49900,
            &Customer {
                country: Some("IN"),
                vat_id: None,
            },
            "IE",
            &rates(),
        );
        assert_eq!((s.net, s.tax), (42288, 7612));
        // Credit notes are negative and split the same way.
        let s = split(
            -1190,
            &Customer {
                country: Some("DE"),
                vat_id: None,
            },
            "DE",
            &rates(),
        );
        assert_eq!((s.net, s.tax), (-1000, -190));
        // No country given: the seller's; a country without a rate: none.
        assert_eq!(split(1230, &Customer::default(), "IE", &rates()).tax, 230);
        let s = split(
            1000,
            &Customer {
                country: Some("US"),
                vat_id: None,
            },
            "IE",
            &rates(),
        );
        assert_eq!((s.rate_bp, s.net, s.tax), (0, 1000, 0));
        for total in [1, 2, 3, 99, 101, 9_999, i64::MAX / 20_000] {
            let s = split(total, &Customer::default(), "DE", &rates());
            assert_eq!(s.net + s.tax, total);
        }
    }

    #[test]
    fn the_reverse_charge_is_for_eu_businesses_in_another_member_state() {
        let b2b = |country, vat| Customer {
            country: Some(country),
            vat_id: vat,
        };
        let s = split(1190, &b2b("FR", Some("FR40303265045")), "DE", &rates());
        assert_eq!(
            (s.rate_bp, s.net, s.tax, s.reverse_charge),
            (0, 1190, 0, true)
        );
        // Same country: domestic VAT even with an ID.
        assert!(!split(1190, &b2b("DE", Some("DE123456789")), "DE", &rates()).reverse_charge);
        // No ID: a consumer, who pays their country's rate.
        assert_eq!(split(1200, &b2b("FR", None), "DE", &rates()).tax, 200);
        // Outside the EU: no reverse charge, the table's rate.
        assert!(!split(1180, &b2b("IN", Some("29ABCDE1234F1Z5")), "DE", &rates()).reverse_charge);
    }
}

//! The finance ledger's bookkeeping, sans-IO: each money event becomes a transaction of
//! entries that sum to zero in its currency (debits positive, credits negative), on books
//! named here. Append-only: a refund is a new transaction, never an edit of the charge.
//!
//! - charge `A` (fee `F`): provider balance +A, revenue −A; fees +F, provider balance −F;
//! - refund `R`: refunds +R, provider balance −R;
//! - payout `P`: bank +P, provider balance −P.

use super::Provider;

/// Revenue from charges.
pub const REVENUE: &str = "revenue";
/// Refunds given (against revenue).
pub const REFUNDS: &str = "refunds";
/// Providers' fees.
pub const FEES: &str = "fees";
/// Money paid out to our bank.
pub const BANK: &str = "bank";

/// One line of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The book.
    pub book: String,
    /// Minor units: positive debits, negative credits.
    pub minor: i64,
}

fn balance(p: Provider) -> String {
    format!("provider:{}", p.as_str())
}

fn pair(debit: String, credit: String, minor: i64) -> [Entry; 2] {
    [
        Entry { book: debit, minor },
        Entry {
            book: credit,
            minor: -minor,
        },
    ]
}

/// A charge of `amount`, the provider keeping `fee`.
pub fn charge(p: Provider, amount: i64, fee: Option<i64>) -> Vec<Entry> {
    let mut out = pair(balance(p), REVENUE.into(), amount).to_vec();
    if let Some(fee) = fee.filter(|f| *f != 0) {
        out.extend(pair(FEES.into(), balance(p), fee));
    }
    out
}

/// A refund of `amount`.
pub fn refund(p: Provider, amount: i64) -> Vec<Entry> {
    pair(REFUNDS.into(), balance(p), amount).to_vec()
}

/// A payout of `amount` to the bank.
pub fn payout(p: Provider, amount: i64) -> Vec<Entry> {
    pair(BANK.into(), balance(p), amount).to_vec()
}

/// Whether `entries` sum to zero (without overflow).
pub fn balanced(entries: &[Entry]) -> bool {
    entries
        .iter()
        .try_fold(0i64, |s, e| s.checked_add(e.minor))
        .is_some_and(|s| s == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transaction_balances() {
        for t in [
            charge(Provider::Stripe, 1000, Some(59)),
            charge(Provider::Razorpay, 49900, None),
            refund(Provider::Paypal, 250),
            payout(Provider::Stripe, 100_000),
        ] {
            assert!(balanced(&t), "{t:?}");
        }
        assert_eq!(charge(Provider::Stripe, 1000, Some(59)).len(), 4);
        assert!(!balanced(&[Entry {
            book: "x".into(),
            minor: 1
        }]));
        assert!(!balanced(&[
            Entry {
                book: "x".into(),
                minor: i64::MAX
            },
            Entry {
                book: "y".into(),
                minor: 1
            },
        ]));
    }
}

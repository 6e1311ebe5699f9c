//! Signed settlement receipts and their reconciliation with the ledger, sans-IO.
//!
//! A receipt says what a provider paid out and which charges, fees and refunds the payout
//! settles. It is signed like the certificate events: headers `fdt-settlement-timestamp`
//! (Unix seconds) and `fdt-settlement-signature: v1=<hex>`, the hex HMAC-SHA256 of
//! `"v1:<timestamp>:" + body` under one of `[billing.settlements] keys` (several, so a key
//! rolls), within 300 s of now. The body:
//!
//! ```json
//! {"id": "stl-2026-12-06-stripe", "provider": "stripe", "currency": "USD",
//!  "payout": "po_1", "amount": 1635,
//!  "items": [{"kind": "charge", "reference": "ch_1", "amount": 2000, "fee": 88},
//!            {"kind": "refund", "reference": "re_1", "amount": 277}]}
//! ```
//!
//! Reconciling compares each item with the ledger's transaction of that kind and reference,
//! and the payout with the sum of the items (charges − fees − refunds); every difference is a
//! [`Mismatch`] with its amount.

use super::money::Currency;
use super::verify::{SignatureError, hmac_hex};
use serde::Deserialize;

/// How far a receipt's timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// Most items in one receipt.
pub const MAX_ITEMS: usize = 10_000;

/// A settlement receipt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The sender's ID for the receipt (deduplicated).
    pub id: String,
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The payout's ID at the provider.
    pub payout: String,
    /// What was paid out, minor units.
    pub amount: i64,
    /// What it settles.
    pub items: Vec<Item>,
}

/// One settled charge or refund.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// `charge` or `refund`.
    pub kind: String,
    /// The provider's charge or refund ID.
    pub reference: String,
    /// Minor units (positive).
    pub amount: i64,
    /// The provider's fee on a charge.
    #[serde(default)]
    pub fee: i64,
}

/// What the ledger holds for an item: currency, amount, fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    /// ISO code.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
    /// Fee booked with a charge.
    pub fee: i64,
}

/// A difference between a receipt and the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `missing` (not in the ledger), `amount`, `fee`, `currency`, `total`.
    pub kind: &'static str,
    /// The item's reference (the payout's for `total`).
    pub reference: String,
    /// What the ledger says (minor units; 0 when missing).
    pub expected: i64,
    /// What the receipt says.
    pub actual: i64,
}

/// Why a receipt is refused outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The signature does not hold.
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// Not a receipt.
    #[error("not a settlement receipt: {0}")]
    Shape(String),
}

/// The header value for `body` signed at `timestamp` with `key` (for senders and tests).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hmac_hex(key, &[format!("v1:{timestamp}:").as_bytes(), body])
    )
}

/// Checks the signature headers for `body` at `now` under any of `keys`.
pub fn verify(
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    keys: &[&[u8]],
    now: i64,
) -> Result<(), SignatureError> {
    let t: i64 = timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or(SignatureError::Malformed)?;
    let sig = signature
        .and_then(|s| s.trim().strip_prefix("v1="))
        .filter(|s| s.len() == 64)
        .ok_or(SignatureError::Malformed)?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    // Compared as hex of equal length in constant time over the bytes.
    let ok = keys.iter().any(|k| {
        let want = sign(k, t, body);
        constant_time_eq(want.as_bytes(), format!("v1={sig}").as_bytes())
    });
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Reads and checks a receipt's shape.
pub fn parse(body: &[u8]) -> Result<Receipt, ReceiptError> {
    let r: Receipt =
        serde_json::from_slice(body).map_err(|e| ReceiptError::Shape(e.to_string()))?;
    let bad = |m: &str| Err(ReceiptError::Shape(m.to_owned()));
    if !id_ok(&r.id) || !id_ok(&r.payout) {
        return bad("id and payout: 1 to 128 printable ASCII characters");
    }
    if super::Provider::parse(&r.provider).is_none() {
        return bad("provider: stripe, razorpay or paypal");
    }
    if Currency::parse(&r.currency).is_err() {
        return bad("currency: an ISO 4217 code");
    }
    if r.items.len() > MAX_ITEMS {
        return bad("at most 10000 items");
    }
    for i in &r.items {
        if !matches!(i.kind.as_str(), "charge" | "refund") || !id_ok(&i.reference) {
            return bad("items: kind charge or refund, and a reference");
        }
        if i.amount <= 0 || i.fee < 0 || i.fee > i.amount || (i.kind == "refund" && i.fee != 0) {
            return bad("items: a positive amount, and a fee only on a charge, at most its amount");
        }
    }
    Ok(r)
}

/// The differences between `r` and the ledger (`booked` answers for one item's kind and
/// reference).
pub fn reconcile(r: &Receipt, booked: impl Fn(&Item) -> Option<Booked>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut sum: i128 = 0;
    for i in &r.items {
        let sign = if i.kind == "charge" { 1 } else { -1 };
        sum += i128::from(sign) * (i128::from(i.amount) - i128::from(i.fee));
        let m = |kind, expected, actual| Mismatch {
            kind,
            reference: i.reference.clone(),
            expected,
            actual,
        };
        match booked(i) {
            None => out.push(m("missing", 0, i.amount)),
            Some(b) if b.currency != r.currency.to_ascii_uppercase() => {
                out.push(m("currency", b.amount, i.amount));
            }
            Some(b) => {
                if b.amount != i.amount {
                    out.push(m("amount", b.amount, i.amount));
                }
                if b.fee != i.fee {
                    out.push(m("fee", b.fee, i.fee));
                }
            }
        }
    }
    if sum != i128::from(r.amount) {
        out.push(Mismatch {
            kind: "total",
            reference: r.payout.clone(),
            expected: i64::try_from(sum).unwrap_or(i64::MAX),
            actual: r.amount,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"stl-1","provider":"stripe","currency":"USD","payout":"po_1","amount":1635,"items":[{"kind":"charge","reference":"ch_1","amount":2000,"fee":88},{"kind":"refund","reference":"re_1","amount":277}]}"#;

    #[test]
    fn signatures_are_hmac_of_version_timestamp_and_body() {
        // printf 'v1:1796536800:{}' | openssl dgst -sha256 -hmac 'settlement-key-1'
        assert_eq!(
            sign(b"settlement-key-1", 1_796_536_800, b"{}"),
            "v1=79ca7910bc4b20805ba7e4d276f11cda59e19c58c67b258da7c789e6e2810f50"
        );
        let keys: [&[u8]; 2] = [b"old-key-for-settle", b"settlement-key-1"];
        let now = 1_796_536_800;
        let good = sign(b"settlement-key-1", now, BODY);
        assert_eq!(
            verify(Some("1796536800"), Some(&good), BODY, &keys, now + 300),
            Ok(())
        );
        assert_eq!(
            verify(Some("1796536800"), Some(&good), BODY, &keys, now + 301),
            Err(SignatureError::Stale)
        );
        let mut changed = BODY.to_vec();
        changed[10] = b'X';
        assert_eq!(
            verify(Some("1796536800"), Some(&good), &changed, &keys, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(None, Some(&good), BODY, &keys, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("1796536800"), Some("v1=zz"), BODY, &keys, now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_receipt_matching_the_ledger_has_no_mismatch() {
        let r = parse(BODY).unwrap_or_else(|e| panic!("{e}"));
        let ledger = |i: &Item| {
            Some(Booked {
                currency: "USD".into(),
                amount: i.amount,
                fee: i.fee,
            })
        };
        assert_eq!(reconcile(&r, ledger), vec![]);
    }

    #[test]
    fn every_difference_is_a_mismatch_with_its_amounts() {
        let r = parse(BODY).unwrap_or_else(|e| panic!("{e}"));
        let ledger = |i: &Item| match i.reference.as_str() {
            "ch_1" => Some(Booked {
                currency: "USD".into(),
                amount: 1900,
                fee: 88,
            }),
            _ => None,
        };
        let m = reconcile(&r, ledger);
        let got: Vec<_> = m
            .iter()
            .map(|m| (m.kind, m.reference.as_str(), m.expected, m.actual))
            .collect();
        assert_eq!(
            got,
            vec![("amount", "ch_1", 1900, 2000), ("missing", "re_1", 0, 277)]
        );
        // The payout itself disagreeing with its items.
        let body = String::from_utf8_lossy(BODY).replace("\"amount\":1635", "\"amount\":1600");
        let r = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let same = |i: &Item| {
            Some(Booked {
                currency: "USD".into(),
                amount: i.amount,
                fee: i.fee,
            })
        };
        let m = reconcile(&r, same);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].kind, m[0].expected, m[0].actual),
            ("total", 1635, 1600)
        );
    }

    #[test]
    fn malformed_receipts_are_refused() {
        for bad in [
            r#"{"id":"","provider":"stripe","currency":"USD","payout":"p","amount":1,"items":[]}"#,
            r#"{"id":"s","provider":"square","currency":"USD","payout":"p","amount":1,"items":[]}"#,
            r#"{"id":"s","provider":"stripe","currency":"usdx","payout":"p","amount":1,"items":[]}"#,
            r#"{"id":"s","provider":"stripe","currency":"USD","payout":"p","amount":1,"items":[{"kind":"refund","reference":"r","amount":5,"fee":1}]}"#,
            r#"{"id":"s","provider":"stripe","currency":"USD","payout":"p","amount":1,"items":[{"kind":"charge","reference":"c","amount":-5}]}"#,
            r#"{"id":"s","provider":"stripe","currency":"USD","payout":"p","amount":1,"extra":1,"items":[]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

//! Payment providers' signatures, checked exactly as each documents them, on raw bytes.
//! Sans-IO: no clock (the caller passes "now"), no network.
//!
//! - Stripe webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` the hex
//!   HMAC-SHA256 of `"<t>." + body` under the endpoint secret; any `v1` may match (the secret
//!   rolls), and `t` must be within the tolerance of now (300 s, Stripe's default).
//! - Razorpay webhooks: `X-Razorpay-Signature`, the hex HMAC-SHA256 of the body under the
//!   webhook secret.
//! - Razorpay checkout: the payment signature, hex HMAC-SHA256 of `"<order_id>|<payment_id>"`
//!   under the API key secret (not the webhook secret), where `order_id` is the one we stored.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance between `t` and now, either way.
pub const STRIPE_TOLERANCE_SECS: i64 = 300;
/// Most `v1` signatures read from one header.
const MAX_SIGNATURES: usize = 8;

/// Why a signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is missing or malformed.
    #[error("missing or malformed signature header")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// No signature matches.
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// A short stable name (counters).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Stale => "stale",
            Self::Mismatch => "mismatch",
        }
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// The hex HMAC-SHA256 of `parts` (concatenated) under `key`.
pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    fdt_api::hex::encode(&m.finalize().into_bytes())
}

fn matches(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

/// Checks a `Stripe-Signature` header for `body` against any of `secrets` at `now` (Unix
/// seconds); returns the signed timestamp.
pub fn stripe(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',').take(32) {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" if t.is_none() => {
                t = Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|_| v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or(SignatureError::Malformed)?,
                )
            }
            "v1" if tags.len() < MAX_SIGNATURES => {
                if let Some(tag) = fdt_api::hex::decode_sha256(v) {
                    tags.push(tag);
                }
            }
            // Other schemes (v0 test signatures) are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > STRIPE_TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let prefix = format!("{t}.");
    let ok = secrets.iter().any(|s| {
        tags.iter()
            .any(|tag| matches(s, &[prefix.as_bytes(), body], tag))
    });
    if ok {
        Ok(t)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks an `X-Razorpay-Signature` header for `body` under the webhook `secret`.
pub fn razorpay_webhook(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
) -> Result<(), SignatureError> {
    let tag = header
        .and_then(|h| fdt_api::hex::decode_sha256(h.trim()))
        .ok_or(SignatureError::Malformed)?;
    if matches(secret, &[body], &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks a Razorpay checkout payment signature for an order: HMAC-SHA256 of
/// `order_id|payment_id` under the API `key_secret`, with `order_id` the one we stored for the
/// order (never the one the browser sends).
pub fn razorpay_payment(
    stored_order_id: &str,
    payment_id: &str,
    signature: &str,
    key_secret: &[u8],
) -> Result<(), SignatureError> {
    razorpay_pair(stored_order_id, payment_id, signature, key_secret)
}

/// Checks a Razorpay checkout payment signature for a subscription: HMAC-SHA256 of
/// `payment_id|subscription_id` (Razorpay's documented order for subscriptions) under the API
/// `key_secret`, with `subscription_id` the one we stored.
pub fn razorpay_subscription_payment(
    stored_subscription_id: &str,
    payment_id: &str,
    signature: &str,
    key_secret: &[u8],
) -> Result<(), SignatureError> {
    razorpay_pair(payment_id, stored_subscription_id, signature, key_secret)
}

fn razorpay_pair(
    first: &str,
    second: &str,
    signature: &str,
    key_secret: &[u8],
) -> Result<(), SignatureError> {
    let tag = fdt_api::hex::decode_sha256(signature.trim()).ok_or(SignatureError::Malformed)?;
    let parts: [&[u8]; 3] = [first.as_bytes(), b"|", second.as_bytes()];
    if matches(key_secret, &parts, &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Known answers computed independently of this code, with
    // `printf '<payload>' | openssl dgst -sha256 -hmac '<secret>'`.
    const STRIPE_SECRET: &[u8] = b"whsec_test_secret";
    const STRIPE_BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const STRIPE_T: i64 = 1_700_000_000;
    const STRIPE_V1: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

    #[test]
    fn stripe_known_answer_and_tolerance() {
        let header = format!("t={STRIPE_T},v1={STRIPE_V1}");
        assert_eq!(
            hmac_hex(STRIPE_SECRET, &[b"1700000000.", STRIPE_BODY]),
            STRIPE_V1
        );
        let ok = |h: &str, now| stripe(Some(h), STRIPE_BODY, &[STRIPE_SECRET], now);
        assert_eq!(ok(&header, STRIPE_T), Ok(STRIPE_T));
        assert_eq!(ok(&header, STRIPE_T + 300), Ok(STRIPE_T));
        // 301 s old, 600 s ahead.
        assert_eq!(ok(&header, STRIPE_T + 301), Err(SignatureError::Stale));
        assert_eq!(ok(&header, STRIPE_T - 600), Err(SignatureError::Stale));
        // One good v1 among bad ones; an older secret next to the new one.
        let mixed = format!("t={STRIPE_T},v1={},v0=abc,v1={STRIPE_V1}", "0".repeat(64));
        assert_eq!(ok(&mixed, STRIPE_T), Ok(STRIPE_T));
        assert_eq!(
            stripe(
                Some(&header),
                STRIPE_BODY,
                &[b"old", STRIPE_SECRET],
                STRIPE_T
            ),
            Ok(STRIPE_T)
        );
        // A re-serialised body (same JSON, other bytes).
        let reserialised = br#"{"id": "evt_1", "object": "event"}"#;
        assert_eq!(
            stripe(Some(&header), reserialised, &[STRIPE_SECRET], STRIPE_T),
            Err(SignatureError::Mismatch)
        );
        for bad in [
            "",
            "t=,v1=",
            "v1=00",
            &format!("t={STRIPE_T}"),
            "t=-5,v1=00",
            "t=1e9,v1=ab",
        ] {
            assert_eq!(ok(bad, STRIPE_T), Err(SignatureError::Malformed), "{bad}");
        }
        assert_eq!(
            stripe(None, STRIPE_BODY, &[STRIPE_SECRET], STRIPE_T),
            Err(SignatureError::Malformed)
        );
    }

    const RZP_SECRET: &[u8] = b"rzp_webhook_secret";
    const RZP_BODY: &[u8] = br#"{"entity":"event","event":"subscription.activated"}"#;
    const RZP_SIG: &str = "7d293f491d19fd975fb7e09b222799e3c5ef7013f64a3daefaaccb75baeeaba1";
    const RZP_KEY_SECRET: &[u8] = b"rzp_key_secret";
    const RZP_PAYMENT_SIG: &str =
        "ad677ae26fa8057d64be151a901d6f8cf17da07a52dc9da0def087d67bddef3e";

    #[test]
    fn razorpay_known_answers() {
        assert_eq!(
            razorpay_webhook(Some(RZP_SIG), RZP_BODY, RZP_SECRET),
            Ok(())
        );
        let reserialised = br#"{"entity": "event", "event": "subscription.activated"}"#;
        assert_eq!(
            razorpay_webhook(Some(RZP_SIG), reserialised, RZP_SECRET),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            razorpay_webhook(None, RZP_BODY, RZP_SECRET),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            razorpay_payment(
                "order_DBJOWzybf0sJbb",
                "pay_DGRJ3Yu8Vd1dF7",
                RZP_PAYMENT_SIG,
                RZP_KEY_SECRET
            ),
            Ok(())
        );
        // The same signature for another order, or made with the webhook secret: refused.
        assert_eq!(
            razorpay_payment(
                "order_other",
                "pay_DGRJ3Yu8Vd1dF7",
                RZP_PAYMENT_SIG,
                RZP_KEY_SECRET
            ),
            Err(SignatureError::Mismatch)
        );
        let with_webhook_secret =
            hmac_hex(RZP_SECRET, &[b"order_DBJOWzybf0sJbb|pay_DGRJ3Yu8Vd1dF7"]);
        assert_eq!(
            razorpay_payment(
                "order_DBJOWzybf0sJbb",
                "pay_DGRJ3Yu8Vd1dF7",
                &with_webhook_secret,
                RZP_KEY_SECRET
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn razorpay_subscription_signatures_sign_payment_then_subscription() {
        // printf 'pay_29QQoUBi66xm2f|sub_00000000000001' |
        //   openssl dgst -sha256 -hmac 'EnLs21M47BllR3X8PSFtjtbd'
        const SIG: &str = "a22d92267211eb5cdd37a2edd35297b1f6751f19bed62544b064b8b0ff5aa3e7";
        const KEY: &[u8] = b"EnLs21M47BllR3X8PSFtjtbd";
        let check = |sub, pay, sig| razorpay_subscription_payment(sub, pay, sig, KEY);
        assert_eq!(
            check("sub_00000000000001", "pay_29QQoUBi66xm2f", SIG),
            Ok(())
        );
        // Another subscription, or the order form's order (subscription first): refused.
        assert_eq!(
            check("sub_00000000000002", "pay_29QQoUBi66xm2f", SIG),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            razorpay_payment("sub_00000000000001", "pay_29QQoUBi66xm2f", SIG, KEY),
            Err(SignatureError::Mismatch)
        );
    }
}

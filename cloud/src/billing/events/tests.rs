//! Reading providers' events: subscriptions, and money in minor units.

#![allow(clippy::unwrap_used)]
use super::*;
use serde_json::json;

#[test]
fn charges_refunds_and_payouts_are_read_in_minor_units() {
    let none = BTreeMap::new();
    let charge = json!({"id": "evt_c", "type": "charge.succeeded", "created": 1,
        "data": {"object": {"id": "ch_1", "amount": 1999, "currency": "usd", "metadata": {"account_id": "acc_x"}}}});
    let m = stripe(charge.to_string().as_bytes(), &none)
        .unwrap()
        .money
        .unwrap()
        .unwrap();
    assert_eq!(
        m,
        MoneyEvent::Charge {
            id: "ch_1".into(),
            account: Some("acc_x".into()),
            amount: Money::minor(1999, Currency::parse("USD").unwrap()),
            fee: None,
            subscription: None,
        }
    );
    let refund = json!({"id": "evt_r", "type": "refund.created", "created": 2,
        "data": {"object": {"id": "re_1", "amount": 500, "currency": "usd", "charge": "ch_1"}}});
    assert!(matches!(
        stripe(refund.to_string().as_bytes(), &none).unwrap().money,
        Some(Ok(MoneyEvent::Refund { .. }))
    ));
    let negative = json!({"id": "evt_n", "type": "payout.paid", "created": 2,
        "data": {"object": {"id": "po_1", "amount": -5, "currency": "usd"}}});
    assert!(
        stripe(negative.to_string().as_bytes(), &none)
            .unwrap()
            .money
            .unwrap()
            .is_err()
    );
    let sale = json!({"id": "WH-S", "event_type": "PAYMENT.SALE.COMPLETED", "create_time": "2026-12-06T00:00:00Z",
        "resource": {"id": "SALE-1", "amount": {"total": "10.00", "currency": "USD"},
            "transaction_fee": {"value": "0.59", "currency": "USD"}, "custom": "acc_x"}});
    let m = paypal(sale.to_string().as_bytes(), &none)
        .unwrap()
        .money
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            m,
            MoneyEvent::Charge {
                fee: Some(59),
                amount: Money { minor: 1000, .. },
                ..
            }
        ),
        "{m:?}"
    );
    let captured = json!({"entity": "event", "event": "payment.captured", "created_at": 3,
        "payload": {"payment": {"entity": {"id": "pay_1", "amount": 49900, "currency": "INR", "fee": 1180,
            "notes": {"account_id": "acc_x"}}}}});
    let m = razorpay(Some("e1"), captured.to_string().as_bytes(), &none)
        .unwrap()
        .money
        .unwrap()
        .unwrap();
    assert!(matches!(
        m,
        MoneyEvent::Charge {
            fee: Some(1180),
            ..
        }
    ));
}

#[test]
fn a_paid_subscription_invoice_is_its_charge() {
    let none = BTreeMap::new();
    // Newer API versions: the charge as an ID, the subscription under `parent`.
    let paid = json!({"id": "evt_i", "type": "invoice.paid", "created": 1,
        "data": {"object": {"id": "in_1", "charge": "ch_9", "amount_paid": 1200, "currency": "usd",
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": "sub_1", "metadata": {"account_id": "acc_x"}}}}}});
    let m = stripe(paid.to_string().as_bytes(), &none).unwrap().money;
    assert_eq!(
        m,
        Some(Ok(MoneyEvent::Charge {
            id: "ch_9".into(),
            account: Some("acc_x".into()),
            amount: Money::minor(1200, Currency::parse("USD").unwrap()),
            fee: None,
            subscription: Some("sub_1".into()),
        }))
    );
    // Older versions (and localstripe): the charge expanded, the subscription at the top, no
    // metadata (the account is then the stored subscription's).
    let older = json!({"id": "evt_j", "type": "invoice.payment_succeeded", "created": 1,
        "data": {"object": {"id": "in_2", "charge": {"id": "ch_8", "object": "charge"},
            "amount_paid": 1200, "currency": "usd", "subscription": "sub_2"}}});
    let m = stripe(older.to_string().as_bytes(), &none).unwrap().money;
    assert!(
        matches!(&m, Some(Ok(MoneyEvent::Charge { id, account: None, subscription: Some(s), .. }))
            if id == "ch_8" && s == "sub_2"),
        "{m:?}"
    );
    // A trial's invoice of nothing is not a charge.
    let trial = json!({"id": "evt_t", "type": "invoice.paid", "created": 1,
        "data": {"object": {"id": "in_3", "charge": null, "amount_paid": 0, "currency": "usd"}}});
    assert_eq!(
        stripe(trial.to_string().as_bytes(), &none).unwrap().money,
        None
    );
}

fn prices() -> BTreeMap<String, String> {
    BTreeMap::from([("price_pro".to_owned(), "pro".to_owned())])
}

#[test]
fn stripe_subscription_events_are_read() {
    let body = json!({"id": "evt_1", "type": "customer.subscription.updated", "created": 1700000000,
        "data": {"object": {"id": "sub_1", "status": "past_due", "current_period_end": 1702592000,
            "metadata": {"account_id": "acc_x"}, "items": {"data": [{"price": {"id": "price_pro"}}]}}}});
    let e = stripe(body.to_string().as_bytes(), &prices()).unwrap();
    assert_eq!((e.id.as_str(), e.created), ("evt_1", 1700000000));
    let s = e.subscription.unwrap().unwrap();
    assert_eq!(s.status, SubStatus::PastDue);
    assert_eq!(
        (s.plan.as_str(), s.account.as_str(), s.period_end),
        ("pro", "acc_x", Some(1702592000))
    );
    // Deleted means canceled whatever the status says; an unknown price is named.
    let mut deleted = body.clone();
    deleted["type"] = json!("customer.subscription.deleted");
    let s = stripe(deleted.to_string().as_bytes(), &prices())
        .unwrap()
        .subscription
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SubStatus::Canceled);
    let mut other = body.clone();
    other["data"]["object"]["items"]["data"][0]["price"]["id"] = json!("price_gold");
    let why = stripe(other.to_string().as_bytes(), &prices())
        .unwrap()
        .subscription
        .unwrap()
        .unwrap_err();
    assert!(why.contains("price_gold"), "{why}");
    // Other event types carry no subscription; a body without an ID is not an event.
    let invoice = json!({"id": "evt_2", "type": "invoice.paid", "created": 1});
    assert_eq!(
        stripe(invoice.to_string().as_bytes(), &prices())
            .unwrap()
            .subscription,
        None
    );
    assert!(stripe(b"{\"type\":\"x\",\"created\":1}", &prices()).is_err());
    assert!(stripe(b"not json", &prices()).is_err());
}

#[test]
fn razorpay_subscription_events_are_read() {
    let plans = BTreeMap::from([("plan_pro".to_owned(), "pro".to_owned())]);
    let body = json!({"entity": "event", "event": "subscription.halted", "created_at": 1700000000,
        "payload": {"subscription": {"entity": {"id": "sub_R1", "plan_id": "plan_pro", "status": "halted",
            "current_end": 1702592000, "notes": {"account_id": "acc_x"}}}}});
    let e = razorpay(Some("evt_R1"), body.to_string().as_bytes(), &plans).unwrap();
    let s = e.subscription.unwrap().unwrap();
    assert_eq!((s.status, s.id.as_str()), (SubStatus::PastDue, "sub_R1"));
    assert!(razorpay(None, body.to_string().as_bytes(), &plans).is_err());
    assert!(razorpay(Some(""), body.to_string().as_bytes(), &plans).is_err());
}

/// Razorpay's `order.paid` (payload as documented: the order and the payment entities) names a
/// one-time payment; without the account in its notes it is refused in words.
#[test]
fn razorpay_order_paid_names_the_order_account_and_payment() {
    let none = BTreeMap::new();
    let body = json!({"entity": "event", "event": "order.paid", "created_at": 1_700_000_000,
        "payload": {
            "payment": {"entity": {"id": "pay_29QQoUBi66xm2f", "entity": "payment",
                "amount": 49900, "currency": "INR", "status": "captured",
                "order_id": "order_9A33XWu170gUtm"}},
            "order": {"entity": {"id": "order_9A33XWu170gUtm", "entity": "order",
                "amount": 49900, "amount_paid": 49900, "currency": "INR", "status": "paid",
                "notes": {"account_id": "acc_x", "checkout_id": "chk_1"}}}}});
    let e = razorpay(Some("evt_o"), body.to_string().as_bytes(), &none).unwrap();
    assert_eq!(
        e.order,
        Some(Ok(OrderPaid {
            id: "order_9A33XWu170gUtm".into(),
            account: "acc_x".into(),
            payment: "pay_29QQoUBi66xm2f".into(),
        }))
    );
    assert!(e.money.is_none() && e.subscription.is_none());
    let mut anonymous = body.clone();
    anonymous["payload"]["order"]["entity"]["notes"] = json!([]);
    let e = razorpay(Some("evt_o2"), anonymous.to_string().as_bytes(), &none).unwrap();
    assert!(matches!(e.order, Some(Err(_))), "{:?}", e.order);
}

/// PayPal's `PAYMENT.CAPTURE.COMPLETED` (Orders v2): the capture is the charge, in minor
/// units, with PayPal's fee from `seller_receivable_breakdown`.
#[test]
fn paypal_capture_completed_is_a_charge_with_its_fee() {
    let none = BTreeMap::new();
    let body = json!({"id": "WH-58D329510W468432D-8HN650336L201105X",
        "event_type": "PAYMENT.CAPTURE.COMPLETED", "create_time": "2026-12-06T10:00:00Z",
        "resource": {"id": "2GG279541U471931P", "status": "COMPLETED", "custom_id": "acc_x",
            "amount": {"currency_code": "USD", "value": "12.00"},
            "seller_receivable_breakdown": {
                "gross_amount": {"currency_code": "USD", "value": "12.00"},
                "paypal_fee": {"currency_code": "USD", "value": "0.77"},
                "net_amount": {"currency_code": "USD", "value": "11.23"}}}});
    let m = paypal(body.to_string().as_bytes(), &none)
        .unwrap()
        .money
        .unwrap()
        .unwrap();
    assert_eq!(
        m,
        MoneyEvent::Charge {
            id: "2GG279541U471931P".into(),
            account: Some("acc_x".into()),
            amount: Money::minor(1200, Currency::parse("USD").unwrap()),
            fee: Some(77),
            subscription: None,
        }
    );
}

/// PayPal's `PAYMENT.CAPTURE.REFUNDED`: the refund of the capture its `up` link names.
#[test]
fn paypal_capture_refunded_names_its_capture() {
    let none = BTreeMap::new();
    let body = json!({"id": "WH-1GE84257G0350133W-6RW800890C634293G",
        "event_type": "PAYMENT.CAPTURE.REFUNDED", "create_time": "2026-12-06T11:00:00Z",
        "resource": {"id": "1Y107995YT783435V", "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "5.00"},
            "links": [
                {"href": "https://api.paypal.com/v2/payments/refunds/1Y107995YT783435V", "rel": "self", "method": "GET"},
                {"href": "https://api.paypal.com/v2/payments/captures/2GG279541U471931P", "rel": "up", "method": "GET"}]}});
    let m = paypal(body.to_string().as_bytes(), &none)
        .unwrap()
        .money
        .unwrap()
        .unwrap();
    assert_eq!(
        m,
        MoneyEvent::Refund {
            id: "1Y107995YT783435V".into(),
            charge: "2GG279541U471931P".into(),
            amount: Money::minor(500, Currency::parse("USD").unwrap()),
        }
    );
}

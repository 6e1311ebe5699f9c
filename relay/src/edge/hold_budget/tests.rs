#![allow(clippy::unwrap_used)]
use super::*;

const CAPS: HoldCaps = HoldCaps {
    name_requests: 2,
    name_bytes: 100,
    total_requests: 3,
    total_bytes: 150,
};

#[test]
fn per_name_request_count_is_capped_and_released_on_drop() {
    let b = HoldBudget::default();
    let t1 = b.reserve(CAPS, "a", 10).unwrap();
    let _t2 = b.reserve(CAPS, "a", 10).unwrap();
    assert_eq!(
        b.reserve(CAPS, "a", 0).unwrap_err(),
        HoldRefusal::NameRequests
    );
    assert_eq!(
        b.usage("a"),
        HoldUsage {
            requests: 2,
            bytes: 20
        }
    );
    drop(t1);
    assert_eq!(
        b.usage("a"),
        HoldUsage {
            requests: 1,
            bytes: 10
        }
    );
    b.reserve(CAPS, "a", 0).unwrap();
}

#[test]
fn per_name_bytes_are_capped_including_growth() {
    let b = HoldBudget::default();
    assert_eq!(
        b.reserve(CAPS, "a", 101).unwrap_err(),
        HoldRefusal::NameBytes
    );
    let mut t = b.reserve(CAPS, "a", 60).unwrap();
    assert_eq!(
        b.reserve(CAPS, "a", 41).unwrap_err(),
        HoldRefusal::NameBytes
    );
    // A body longer than announced grows the reservation until the cap.
    t.cover(90).unwrap();
    t.cover(50).unwrap(); // never shrinks
    assert_eq!(b.usage("a").bytes, 90);
    assert_eq!(t.cover(101).unwrap_err(), HoldRefusal::NameBytes);
    assert_eq!(b.usage("a").bytes, 90, "a refused growth takes nothing");
    // Other names have their own budget.
    let _other = b.reserve(CAPS, "b", 50).unwrap();
    drop(t);
    assert_eq!(b.usage("a"), HoldUsage::default());
    assert_eq!(
        b.total(),
        HoldUsage {
            requests: 1,
            bytes: 50
        }
    );
}

#[test]
fn relay_wide_caps_apply_across_names() {
    let b = HoldBudget::default();
    let _a = b.reserve(CAPS, "a", 80).unwrap();
    let mut c = b.reserve(CAPS, "c", 10).unwrap();
    // Within b's own budget, but over the relay-wide bytes.
    assert_eq!(
        b.reserve(CAPS, "b", 61).unwrap_err(),
        HoldRefusal::RelayFull
    );
    assert_eq!(c.cover(71).unwrap_err(), HoldRefusal::RelayFull);
    let _b = b.reserve(CAPS, "b", 60).unwrap();
    assert_eq!(
        b.reserve(CAPS, "d", 0).unwrap_err(),
        HoldRefusal::RelayFull,
        "three requests held relay-wide"
    );
}

#[test]
fn everything_is_released_when_tickets_drop() {
    let b = HoldBudget::default();
    let tickets: Vec<_> = ["a", "a", "b"]
        .into_iter()
        .map(|h| b.reserve(CAPS, h, 30).unwrap())
        .collect();
    assert_eq!(b.total().requests, 3);
    drop(tickets);
    assert_eq!(b.total(), HoldUsage::default());
    assert!(b.lock().names.is_empty(), "no entry left behind");
}

#[test]
fn caps_come_from_limits() {
    let caps = HoldCaps::from(&Limits::default());
    assert_eq!(caps.name_requests, 64);
    assert_eq!(caps.name_bytes, 8 * 1024 * 1024);
    assert_eq!(caps.total_requests, 10_000);
    assert_eq!(caps.total_bytes, 256 * 1024 * 1024);
}

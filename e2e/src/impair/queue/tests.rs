#![allow(clippy::unwrap_used)]
use super::*;
use std::time::Duration;

const LIMITS: QueueLimits = QueueLimits {
    packets: 3,
    bytes: 100,
};

#[test]
fn pops_by_due_time_and_equal_times_in_arrival_order() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut q = DelayQueue::new(QueueLimits::default());
    q.push(t0 + ms(30), "c", 1).unwrap();
    q.push(t0 + ms(10), "a1", 1).unwrap();
    q.push(t0 + ms(10), "a2", 1).unwrap();
    q.push(t0 + ms(20), "b", 1).unwrap();
    q.push(t0 + ms(10), "a3", 1).unwrap();
    assert_eq!(q.next_due(), Some(t0 + ms(10)));
    assert_eq!(q.pop_due(t0 + ms(9)), None, "nothing is due yet");
    let mut order = Vec::new();
    while let Some((item, _)) = q.pop_due(t0 + ms(30)) {
        order.push(item);
    }
    assert_eq!(order, ["a1", "a2", "a3", "b", "c"]);
    assert!(q.is_empty());
    assert_eq!(q.next_due(), None);
}

#[test]
fn only_what_is_due_leaves() {
    let t0 = Instant::now();
    let mut q = DelayQueue::new(QueueLimits::default());
    q.push(t0 + Duration::from_millis(5), 1, 10).unwrap();
    q.push(t0 + Duration::from_millis(50), 2, 10).unwrap();
    assert_eq!(q.pop_due(t0 + Duration::from_millis(5)), Some((1, 10)));
    assert_eq!(q.pop_due(t0 + Duration::from_millis(49)), None);
    assert_eq!(q.len(), 1);
}

#[test]
fn packet_limit_refuses_and_hands_the_item_back() {
    let t0 = Instant::now();
    let mut q = DelayQueue::new(LIMITS);
    for i in 0..3 {
        q.push(t0, i, 1).unwrap();
    }
    assert!(!q.has_room(1));
    assert_eq!(q.push(t0, 99, 1), Err(99));
    q.pop_due(t0).unwrap();
    assert!(q.push(t0, 4, 1).is_ok(), "room again after a pop");
}

#[test]
fn byte_limit_refuses_before_the_packet_limit() {
    let t0 = Instant::now();
    let mut q = DelayQueue::new(LIMITS);
    q.push(t0, "big", 60).unwrap();
    assert_eq!(q.push(t0, "too big", 41), Err("too big"));
    assert_eq!(q.len(), 1);
    assert_eq!(q.bytes(), 60);
    q.push(t0, "fits exactly", 40).unwrap();
    assert_eq!(q.bytes(), 100);
    assert!(
        !q.has_room(1),
        "the bytes are used up though a packet slot is free"
    );
    q.pop_due(t0).unwrap();
    assert_eq!(q.bytes(), 40);
    // Lengths that would overflow the byte count are refused, not wrapped.
    assert_eq!(q.push(t0, "huge", usize::MAX), Err("huge"));
}

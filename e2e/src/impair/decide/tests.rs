#![allow(clippy::unwrap_used)]
use super::*;

fn imp(spec: &str) -> Impairment {
    spec.parse().unwrap()
}

/// Verdicts for `n` datagrams of 1200 bytes arriving 100 µs apart from `t0`.
fn run(d: &mut Decider, t0: Instant, n: usize) -> Vec<Verdict> {
    (0..n)
        .map(|i| d.datagram(t0 + Duration::from_micros(100 * i as u64), 1200))
        .collect()
}

fn drops(v: &[Verdict]) -> usize {
    v.iter().filter(|v| **v == Verdict::Drop).count()
}

fn dues(v: &[Verdict]) -> Vec<Instant> {
    v.iter()
        .filter_map(|v| match v {
            Verdict::Deliver(at) => Some(*at),
            Verdict::Drop | Verdict::Twice(..) => None,
        })
        .collect()
}

#[test]
fn same_seed_and_stream_give_the_same_decisions() {
    let t0 = Instant::now();
    let spec = imp("delay=10ms,jitter=3ms,loss=30%,rate=10mbit,seed=42");
    let a = run(&mut Decider::new(&spec, 1), t0, 2000);
    let b = run(&mut Decider::new(&spec, 1), t0, 2000);
    assert_eq!(a, b);
    // Another stream or another seed is another sequence.
    assert_ne!(a, run(&mut Decider::new(&spec, 2), t0, 2000));
    let other_seed = imp("delay=10ms,jitter=3ms,loss=30%,rate=10mbit,seed=43");
    assert_ne!(a, run(&mut Decider::new(&other_seed, 1), t0, 2000));
}

#[test]
fn no_loss_drops_nothing_and_full_loss_drops_everything() {
    let t0 = Instant::now();
    for seed in 0..5 {
        let none = imp(&format!("delay=5ms,loss=0%,seed={seed}"));
        assert_eq!(drops(&run(&mut Decider::new(&none, 0), t0, 10_000)), 0);
        let all = imp(&format!("delay=5ms,loss=100%,seed={seed}"));
        assert_eq!(drops(&run(&mut Decider::new(&all, 0), t0, 10_000)), 10_000);
    }
}

#[test]
fn one_percent_loss_drops_about_one_percent() {
    let t0 = Instant::now();
    for seed in 0..4 {
        let spec = imp(&format!("loss=1%,seed={seed}"));
        let n = drops(&run(&mut Decider::new(&spec, 0), t0, 100_000));
        // Expected 1000, standard deviation ~31.5: this range is ±9σ.
        assert!(
            (700..=1300).contains(&n),
            "seed {seed}: {n} of 100000 dropped"
        );
    }
}

#[test]
fn without_jitter_arrivals_are_arrival_plus_delay_in_order() {
    let t0 = Instant::now();
    let mut d = Decider::new(&imp("delay=25ms,loss=20%"), 0);
    let mut last = None;
    for i in 0..1000u64 {
        let now = t0 + Duration::from_micros(37 * i);
        if let Verdict::Deliver(at) = d.datagram(now, 1200) {
            assert_eq!(at, now + Duration::from_millis(25));
            assert!(last.is_none_or(|l| l <= at));
            last = Some(at);
        }
    }
}

#[test]
fn rate_serializes_datagrams_on_the_link() {
    let t0 = Instant::now();
    // 1000 bytes/s: a 500-byte datagram occupies the link for half a second.
    let mut d = Decider::new(&imp("delay=10ms,rate=8kbit"), 0);
    let ms = Duration::from_millis;
    assert_eq!(d.datagram(t0, 500), Verdict::Deliver(t0 + ms(510)));
    assert_eq!(d.datagram(t0, 500), Verdict::Deliver(t0 + ms(1010)));
    // An idle link starts sending at once again.
    let later = t0 + Duration::from_secs(5);
    assert_eq!(d.datagram(later, 250), Verdict::Deliver(later + ms(260)));
}

#[test]
fn jitter_stays_within_bounds_and_may_reorder() {
    let t0 = Instant::now();
    let mut d = Decider::new(&imp("delay=20ms,jitter=5ms,seed=3"), 0);
    let arrivals: Vec<Instant> = (0..1000)
        .map(|i| t0 + Duration::from_micros(10 * i))
        .collect();
    let verdicts: Vec<Verdict> = arrivals.iter().map(|&now| d.datagram(now, 100)).collect();
    let got = dues(&verdicts);
    assert_eq!(got.len(), 1000);
    for (now, at) in arrivals.iter().zip(&got) {
        assert!(*at >= *now + Duration::from_millis(15) && *at <= *now + Duration::from_millis(25));
    }
    assert!(
        got.windows(2).any(|w| w[1] < w[0]),
        "10 µs apart with ±5 ms jitter, some datagram should overtake another"
    );
}

#[test]
fn chunks_are_never_dropped_lost_ones_stall_one_rto_and_order_holds() {
    let t0 = Instant::now();
    let mut d = Decider::new(&imp("delay=25ms,loss=100%"), 0);
    let (at, lost) = d.chunk(t0, 100);
    assert!(lost);
    assert_eq!(at, t0 + Duration::from_millis(25) + TCP_RTO);

    let mut d = Decider::new(&imp("delay=25ms,jitter=10ms,loss=5%,seed=9"), 0);
    let mut last = t0;
    let mut stalled = 0;
    for i in 0..2000u64 {
        let (at, lost) = d.chunk(t0 + Duration::from_micros(50 * i), 1448);
        assert!(at >= last, "chunk {i} overtook the one before it");
        last = at;
        stalled += usize::from(lost);
    }
    // One segment per chunk: the per-packet rate applies (expected 100, σ ≈ 9.7).
    assert!((50..=150).contains(&stalled), "{stalled} of 2000 stalled");
}

#[test]
fn chunk_loss_is_per_segment_not_per_read() {
    let t0 = Instant::now();
    let mut d = Decider::new(&imp("loss=1%,seed=5"), 0);
    // 64 KiB reads are 46 segments: 1 - 0.99^46 ≈ 37 % of them should stall.
    let stalled = (0..4000)
        .filter(|&i| d.chunk(t0 + Duration::from_millis(i), 64 * 1024).1)
        .count();
    assert!(
        (1200..=1760).contains(&stalled),
        "{stalled} of 4000 stalled"
    );
}

#[test]
fn duplicates_arrive_twice_in_order_without_jitter_and_only_when_asked() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut all = Decider::new(&imp("delay=10ms,dup=100%"), 0);
    match all.datagram(t0, 100) {
        Verdict::Twice(a, b) => {
            assert_eq!(a, t0 + ms(10));
            assert!(
                b >= a,
                "the copy never overtakes the original without jitter"
            );
        }
        other => panic!("{other:?}"),
    }
    // About 10 % duplicated at dup=10%; none at all without dup, for the same seed.
    let mut some = Decider::new(&imp("dup=10%,seed=3"), 0);
    let twice = (0..10_000)
        .filter(|_| matches!(some.datagram(t0, 100), Verdict::Twice(..)))
        .count();
    assert!((800..1200).contains(&twice), "{twice} of 10000");
    let mut none = Decider::new(&imp("seed=3"), 0);
    assert!((0..1000).all(|_| matches!(none.datagram(t0, 100), Verdict::Deliver(_))));
}

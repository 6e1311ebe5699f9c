//! The staggered race: who starts when, who wins.

#![allow(clippy::unwrap_used)]
use super::*;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// A dial plan: per index, after how long it answers and whether it succeeds.
fn plan(
    outcomes: &'static [(u64, bool)],
    started: Arc<Mutex<Vec<(usize, Duration)>>>,
) -> impl FnMut(usize) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send>> {
    let t0 = Instant::now();
    move |i| {
        started.lock().unwrap().push((i, t0.elapsed()));
        let (ms, ok) = outcomes[i];
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if ok {
                Ok(i)
            } else {
                Err(anyhow::anyhow!("relay {i} down"))
            }
        })
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[tokio::test(start_paused = true)]
async fn a_silent_first_relay_costs_one_stagger() {
    let started = Arc::default();
    let t0 = Instant::now();
    let won = race(
        3,
        STAGGER,
        plan(
            &[(10_000, false), (50, true), (1, true)],
            Arc::clone(&started),
        ),
    )
    .await
    .unwrap();
    assert_eq!(won.0, 1);
    assert_eq!(t0.elapsed(), ms(350));
    assert_eq!(*started.lock().unwrap(), [(0, ms(0)), (1, ms(300))]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_starts_the_next_dial_at_once() {
    let started = Arc::default();
    let won = race(
        3,
        STAGGER,
        plan(
            &[(20, false), (400, false), (10, true)],
            Arc::clone(&started),
        ),
    )
    .await
    .unwrap();
    assert_eq!(won.0, 2);
    assert_eq!(
        *started.lock().unwrap(),
        [(0, ms(0)), (1, ms(20)), (2, ms(320))]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_answer_wins_even_from_an_earlier_relay() {
    let started = Arc::default();
    let won = race(
        2,
        STAGGER,
        plan(&[(310, true), (100, true)], Arc::clone(&started)),
    )
    .await
    .unwrap();
    assert_eq!(won.0, 0);
}

#[tokio::test(start_paused = true)]
async fn all_failing_reports_the_last_error() {
    let started = Arc::default();
    let err = race(
        2,
        STAGGER,
        plan(&[(1, false), (1, false)], Arc::clone(&started)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "relay 1 down");
    let none = race(0, STAGGER, plan(&[], started)).await.unwrap_err();
    assert_eq!(none.to_string(), "no relay to connect to");
}

#[test]
fn demote_moves_the_lost_relay_last_and_keeps_the_others_in_order() {
    let target = |addr: &str| RelayTarget {
        addr: addr.into(),
        server_name: None,
        ca_file: None,
    };
    let addrs = |r: &[RelayTarget]| r.iter().map(|t| t.addr.clone()).collect::<Vec<_>>();
    let mut relays = vec![
        target("eu-1:7000"),
        target("eu-2:7000"),
        target("us-1:7000"),
    ];
    demote(&mut relays, "eu-1:7000");
    assert_eq!(addrs(&relays), ["eu-2:7000", "us-1:7000", "eu-1:7000"]);
    // An address not in the list (the cloud no longer offers it) changes nothing.
    demote(&mut relays, "gone:7000");
    assert_eq!(addrs(&relays), ["eu-2:7000", "us-1:7000", "eu-1:7000"]);
    // Alone, it is still dialled.
    let mut one = vec![target("eu-1:7000")];
    demote(&mut one, "eu-1:7000");
    assert_eq!(addrs(&one), ["eu-1:7000"]);
}

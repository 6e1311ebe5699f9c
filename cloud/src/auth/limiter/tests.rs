//! Login and registration limiter tests, on SQLite and (with `FDT_TEST_PG_URL`) PostgreSQL.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::testing::TestDb;
use std::time::Duration as Wait;
use time::Duration;

const ATTACKER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));
const OWNER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 9)));

fn config() -> LoginLimitConfig {
    LoginLimitConfig {
        window_secs: 60,
        max_failures_per_ip: 100,
        max_failures_per_ip_and_email: 3,
        email_slowdown_after: 4,
        email_delay_step_ms: 250,
        email_delay_max_ms: 1_000,
    }
}

fn nth_address(i: u8) -> Option<IpAddr> {
    Some(IpAddr::from([10, 0, 1, i]))
}

/// The answer with a refusal as its `Retry-After` seconds; a storage failure fails the test.
fn secs<T>(r: Result<T, Limited>) -> Result<T, u64> {
    r.map_err(|e| match e {
        Limited::Wait(w) => w.secs,
        Limited::Store(e) => panic!("storage: {e}"),
    })
}

#[tokio::test]
async fn guessing_address_is_refused_but_the_owner_elsewhere_is_not() {
    for db in TestDb::every().await {
        let l = LoginLimiter::new(&config(), db.store.clone());
        let clock = ManualClock::starting_now();
        let login = async |email, ip| secs(l.begin_attempt(email, ip, clock.now()).await);
        for _ in 0..3 {
            assert_eq!(login("a@x.io", ATTACKER).await, Ok(Wait::ZERO));
        }
        clock.advance(Duration::seconds(10));
        assert_eq!(login("a@x.io", ATTACKER).await, Err(50));
        // The owner, from another address, goes ahead (no hard limit per email)...
        assert_eq!(login("a@x.io", OWNER).await, Ok(Wait::ZERO));
        secs(l.succeeded("a@x.io", OWNER, clock.now()).await).unwrap();
        // ...and so does the attacker's address for other emails.
        assert_eq!(login("b@x.io", ATTACKER).await, Ok(Wait::ZERO));
        // The attacker's window for the pair ends by itself.
        clock.advance(Duration::seconds(50));
        assert!(login("a@x.io", ATTACKER).await.is_ok());
        db.finish().await;
    }
}

#[tokio::test]
async fn many_addresses_guessing_one_email_are_slowed_never_refused() {
    for db in TestDb::every().await {
        let l = LoginLimiter::new(&config(), db.store.clone());
        let clock = ManualClock::starting_now();
        let login = async |email, ip| secs(l.begin_attempt(email, ip, clock.now()).await);
        let mut delays = Vec::new();
        for i in 0..10 {
            delays.push(login("a@x.io", nth_address(i)).await.unwrap().as_millis());
        }
        assert_eq!(delays, [0, 0, 0, 0, 250, 500, 750, 1_000, 1_000, 1_000]);
        // The owner waits the same bounded delay, and is let in.
        assert_eq!(login("a@x.io", OWNER).await, Ok(Wait::from_millis(1_000)));
        // Other emails are not slowed.
        assert_eq!(login("b@x.io", nth_address(0)).await, Ok(Wait::ZERO));
        // The delay ends with the window.
        clock.advance(Duration::seconds(60));
        assert_eq!(login("a@x.io", nth_address(11)).await, Ok(Wait::ZERO));
        db.finish().await;
    }
}

#[tokio::test]
async fn an_address_is_refused_across_emails() {
    for db in TestDb::every().await {
        let cfg = LoginLimitConfig {
            max_failures_per_ip: 2,
            ..config()
        };
        let l = LoginLimiter::new(&cfg, db.store.clone());
        let now = ManualClock::starting_now().now();
        let login = async |email, ip| secs(l.begin_attempt(email, ip, now).await);
        assert!(login("a@x.io", ATTACKER).await.is_ok());
        assert!(login("b@x.io", ATTACKER).await.is_ok());
        assert!(login("c@x.io", ATTACKER).await.is_err());
        assert!(login("c@x.io", OWNER).await.is_ok());
        // The neighbours of an IPv6 client share its count; its /64 is one client.
        let v6 = |s: &str| s.parse::<IpAddr>().ok();
        assert!(login("a@x.io", v6("2001:db8::1")).await.is_ok());
        assert!(login("b@x.io", v6("2001:db8::2")).await.is_ok());
        assert!(login("c@x.io", v6("2001:db8::3")).await.is_err());
        db.finish().await;
    }
}

#[tokio::test]
async fn success_clears_the_pair_and_refunds_address_and_email() {
    for db in TestDb::every().await {
        let cfg = LoginLimitConfig {
            max_failures_per_ip: 3,
            email_slowdown_after: 3,
            ..config()
        };
        let l = LoginLimiter::new(&cfg, db.store.clone());
        let now = ManualClock::starting_now().now();
        let login = async |email, ip| secs(l.begin_attempt(email, ip, now).await);
        for _ in 0..3 {
            assert!(login("a@x.io", OWNER).await.is_ok());
        }
        secs(l.succeeded("a@x.io", OWNER, now).await).unwrap();
        // Two failures remain on the address and the email; the pair starts again.
        assert_eq!(login("a@x.io", OWNER).await, Ok(Wait::ZERO));
        assert!(login("a@x.io", OWNER).await.is_err());
        db.finish().await;
    }
}

/// A refused attempt counts nowhere: the email's count (and so its delay) and the address's
/// other windows stay where they were.
#[tokio::test]
async fn a_refused_attempt_is_not_counted() {
    for db in TestDb::every().await {
        let cfg = LoginLimitConfig {
            max_failures_per_ip_and_email: 1,
            email_slowdown_after: 2,
            ..config()
        };
        let l = LoginLimiter::new(&cfg, db.store.clone());
        let now = ManualClock::starting_now().now();
        let login = async |email, ip| secs(l.begin_attempt(email, ip, now).await);
        assert_eq!(login("a@x.io", ATTACKER).await, Ok(Wait::ZERO));
        for _ in 0..5 {
            assert_eq!(login("a@x.io", ATTACKER).await, Err(60));
        }
        // One failure on the email so far: the next address is not yet slowed.
        assert_eq!(login("a@x.io", OWNER).await, Ok(Wait::ZERO));
        db.finish().await;
    }
}

/// Two replicas (two limiters on one database) share the counts, and parallel guesses from
/// one address cannot all slip in under its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_limit_and_parallel_guesses_do_not_slip_through() {
    for db in TestDb::every().await {
        let cfg = LoginLimitConfig {
            max_failures_per_ip_and_email: 5,
            ..config()
        };
        let replicas = [
            LoginLimiter::new(&cfg, db.store.clone()),
            LoginLimiter::new(&cfg, db.store.clone()),
        ];
        let now = ManualClock::starting_now().now();
        let guesses = (0..24).map(|i| {
            let l = replicas[i % 2].clone();
            tokio::spawn(async move { secs(l.begin_attempt("a@x.io", ATTACKER, now).await) })
        });
        let mut let_in = 0;
        for g in guesses.collect::<Vec<_>>() {
            match g.await.unwrap() {
                Ok(_) => let_in += 1,
                Err(s) => assert_eq!(s, 60),
            }
        }
        assert_eq!(let_in, 5);
        db.finish().await;
    }
}

#[tokio::test]
async fn registrations_are_counted_per_address() {
    for db in TestDb::every().await {
        let cfg = RegisterLimitConfig {
            window_secs: 60,
            max_per_ip: 2,
        };
        let l = RegisterLimiter::new("register", &cfg, db.store.clone());
        let clock = ManualClock::starting_now();
        let attempt = async |ip| secs(l.attempt(ip, clock.now()).await);
        assert_eq!(attempt(ATTACKER).await, Ok(()));
        assert_eq!(attempt(ATTACKER).await, Ok(()));
        clock.advance(Duration::seconds(1));
        assert_eq!(attempt(ATTACKER).await, Err(59));
        assert_eq!(attempt(OWNER).await, Ok(()));
        assert_eq!(attempt(None).await, Ok(()));
        clock.advance(Duration::seconds(59));
        assert_eq!(attempt(ATTACKER).await, Ok(()));
        // Another scope counts apart.
        let other = RegisterLimiter::new("device", &cfg, db.store.clone());
        assert!(secs(other.attempt(ATTACKER, clock.now()).await).is_ok());
        // Windows that ended are swept (the owner's, opened 60 s ago); live ones stay.
        clock.advance(Duration::seconds(1));
        assert_eq!(db.store.sweep_windows(clock.now()).await.unwrap(), 1);
        assert_eq!(attempt(ATTACKER).await, Ok(()));
        assert_eq!(attempt(ATTACKER).await, Err(59));
        db.finish().await;
    }
}

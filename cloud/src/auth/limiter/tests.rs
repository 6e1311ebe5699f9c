//! Login and registration limiter tests.

use super::*;
use crate::clock::{Clock, ManualClock};
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

#[test]
fn guessing_address_is_refused_but_the_owner_elsewhere_is_not() {
    let l = LoginLimiter::new(&config());
    let clock = ManualClock::starting_now();
    for _ in 0..3 {
        assert_eq!(
            l.begin_attempt("a@x.io", ATTACKER, clock.now()),
            Ok(Wait::ZERO)
        );
    }
    clock.advance(Duration::seconds(10));
    assert_eq!(
        l.begin_attempt("a@x.io", ATTACKER, clock.now()),
        Err(RetryAfter { secs: 50 })
    );
    // The owner, from another address, goes ahead (no hard limit per email)...
    assert_eq!(
        l.begin_attempt("a@x.io", OWNER, clock.now()),
        Ok(Wait::ZERO)
    );
    l.succeeded("a@x.io", OWNER);
    // ...and so does the attacker's address for other emails.
    assert_eq!(
        l.begin_attempt("b@x.io", ATTACKER, clock.now()),
        Ok(Wait::ZERO)
    );
    // The attacker's window for the pair ends by itself.
    clock.advance(Duration::seconds(50));
    assert!(l.begin_attempt("a@x.io", ATTACKER, clock.now()).is_ok());
}

#[test]
fn many_addresses_guessing_one_email_are_slowed_never_refused() {
    let l = LoginLimiter::new(&config());
    let clock = ManualClock::starting_now();
    let delays: Vec<_> = (0..10)
        .map(|i| l.begin_attempt("a@x.io", nth_address(i), clock.now()))
        .collect();
    let ms = |ms| Ok(Wait::from_millis(ms));
    assert_eq!(
        delays,
        [
            ms(0),
            ms(0),
            ms(0),
            ms(0),
            ms(250),
            ms(500),
            ms(750),
            ms(1_000),
            ms(1_000),
            ms(1_000)
        ]
    );
    // The owner waits the same bounded delay, and is let in.
    assert_eq!(l.begin_attempt("a@x.io", OWNER, clock.now()), ms(1_000));
    // Other emails are not slowed.
    assert_eq!(
        l.begin_attempt("b@x.io", nth_address(0), clock.now()),
        ms(0)
    );
    // The delay ends with the window.
    clock.advance(Duration::seconds(60));
    assert_eq!(
        l.begin_attempt("a@x.io", nth_address(11), clock.now()),
        ms(0)
    );
}

#[test]
fn an_address_is_refused_across_emails() {
    let l = LoginLimiter::new(&LoginLimitConfig {
        max_failures_per_ip: 2,
        ..config()
    });
    let now = ManualClock::starting_now().now();
    assert!(l.begin_attempt("a@x.io", ATTACKER, now).is_ok());
    assert!(l.begin_attempt("b@x.io", ATTACKER, now).is_ok());
    assert!(l.begin_attempt("c@x.io", ATTACKER, now).is_err());
    assert!(l.begin_attempt("c@x.io", OWNER, now).is_ok());
    // The neighbours of an IPv6 client share its count; its /64 is one client.
    let v6 = |s: &str| s.parse::<IpAddr>().ok();
    assert!(l.begin_attempt("a@x.io", v6("2001:db8::1"), now).is_ok());
    assert!(l.begin_attempt("b@x.io", v6("2001:db8::2"), now).is_ok());
    assert!(l.begin_attempt("c@x.io", v6("2001:db8::3"), now).is_err());
}

#[test]
fn success_clears_the_pair_and_refunds_address_and_email() {
    let l = LoginLimiter::new(&LoginLimitConfig {
        max_failures_per_ip: 3,
        email_slowdown_after: 3,
        ..config()
    });
    let now = ManualClock::starting_now().now();
    for _ in 0..3 {
        assert!(l.begin_attempt("a@x.io", OWNER, now).is_ok());
    }
    l.succeeded("a@x.io", OWNER);
    // Two failures remain on the address and the email; the pair starts again.
    assert_eq!(l.begin_attempt("a@x.io", OWNER, now), Ok(Wait::ZERO));
    assert!(l.begin_attempt("a@x.io", OWNER, now).is_err());
}

#[test]
fn registrations_are_counted_per_address() {
    let l = RegisterLimiter::new(&RegisterLimitConfig {
        window_secs: 60,
        max_per_ip: 2,
    });
    let clock = ManualClock::starting_now();
    assert_eq!(l.attempt(ATTACKER, clock.now()), Ok(()));
    assert_eq!(l.attempt(ATTACKER, clock.now()), Ok(()));
    clock.advance(Duration::seconds(1));
    assert_eq!(
        l.attempt(ATTACKER, clock.now()),
        Err(RetryAfter { secs: 59 })
    );
    assert_eq!(l.attempt(OWNER, clock.now()), Ok(()));
    assert_eq!(l.attempt(None, clock.now()), Ok(()));
    clock.advance(Duration::seconds(59));
    assert_eq!(l.attempt(ATTACKER, clock.now()), Ok(()));
}

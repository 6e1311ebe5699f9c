//! Password hashing tests: salts, old parameters and the slot limit.

#![allow(clippy::unwrap_used)]
use super::*;

fn hasher(cfg: &Argon2Config) -> PasswordHasher {
    PasswordHasher::new(cfg, &PasswordHashingConfig::default()).unwrap()
}

fn fast() -> Argon2Config {
    Argon2Config {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    }
}

#[tokio::test]
async fn hashes_verify_and_salts_differ() {
    let h = hasher(&fast());
    let a = h.hash(Password::new("correct horse")).await.unwrap();
    let b = h.hash(Password::new("correct horse")).await.unwrap();
    assert!(a.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{a}");
    assert_ne!(a, b);
    assert!(
        h.verify(Password::new("correct horse"), Some(a.clone()))
            .await
            .unwrap()
    );
    assert!(
        !h.verify(Password::new("wrong horse"), Some(a))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn unknown_account_never_matches() {
    let h = hasher(&fast());
    assert!(!h.verify(Password::new("anything"), None).await.unwrap());
}

#[tokio::test]
async fn hashes_from_other_parameters_still_verify() {
    let old = hasher(&fast());
    let hash = old.hash(Password::new("pw-0123456789")).await.unwrap();
    let new = hasher(&Argon2Config {
        memory_kib: 16,
        iterations: 2,
        parallelism: 1,
    });
    assert!(
        new.verify(Password::new("pw-0123456789"), Some(hash))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn all_slots_taken_answers_busy_and_a_freed_slot_is_used() {
    let h = PasswordHasher::new(
        &fast(),
        &PasswordHashingConfig {
            max_concurrent: Some(2),
            max_wait_ms: 1,
        },
    )
    .unwrap();
    let hash = h.hash(Password::new("pw-0123456789")).await.unwrap();
    let taken = h.slots.clone().acquire_many_owned(2).await.unwrap();
    assert!(matches!(
        h.hash(Password::new("pw-0123456789")).await,
        Err(PasswordError::Busy)
    ));
    assert!(matches!(
        h.verify(Password::new("pw-0123456789"), Some(hash.clone()))
            .await,
        Err(PasswordError::Busy)
    ));
    drop(taken);
    assert!(
        h.verify(Password::new("pw-0123456789"), Some(hash))
            .await
            .unwrap()
    );
    assert_eq!(h.slots.available_permits(), 2, "slots are given back");
}

#[test]
fn slots_default_to_twice_the_cpus_and_at_least_two() {
    let auto = PasswordHashingConfig::default().slots();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(auto, (2 * cpus).max(2));
    let one = PasswordHashingConfig {
        max_concurrent: Some(1),
        ..PasswordHashingConfig::default()
    };
    assert_eq!(one.slots(), 1);
}

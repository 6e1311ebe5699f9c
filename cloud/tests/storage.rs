//! Storage stories, run against SQLite and (when `FDT_TEST_PG_URL` is set) PostgreSQL: the same
//! assertions must hold on both databases.
#![allow(clippy::unwrap_used)]

#[macro_use]
extern crate fdt_cloud;

mod common;

use common::TestDb;
use fdt_api::{AccountId, AuthtokenId, SessionId};
use fdt_cloud::random::{new_account_id, new_authtoken_id, new_session_id, secret_hash};
use fdt_cloud::store::{
    Job, NewAuthtoken, RefreshOutcome, RevokeReason, Store, StoreError, StoreStats,
};
use time::{Duration, OffsetDateTime};

on_both_databases!(
    migrations_are_idempotent,
    accounts_round_trip_and_emails_are_unique,
    refresh_rotation_then_reuse_revokes_the_family,
    expired_refresh_token_is_invalid_not_reuse,
    logout_revokes_the_session_once,
    concurrent_refreshes_of_one_token_rotate_at_most_once,
    authtokens_are_scoped_to_their_account,
    a_job_round_is_leased_to_one_replica_at_a_time,
    the_revocation_feed_becomes_visible_in_commit_order,
);

fn now() -> OffsetDateTime {
    // Whole milliseconds: what the database keeps.
    let t = OffsetDateTime::now_utc();
    t - Duration::nanoseconds(i64::from(t.nanosecond() % 1_000_000))
}

async fn account(db: &TestDb, email: &str) -> AccountId {
    let id = new_account_id();
    db.store
        .create_account(&id, email, "$argon2id$fake", now())
        .await
        .unwrap();
    id
}

async fn session(db: &TestDb, account: &AccountId, refresh: &str) -> SessionId {
    let id = new_session_id();
    let t = now();
    db.store
        .create_session(
            &id,
            account,
            &secret_hash(refresh),
            t,
            t + Duration::days(1),
        )
        .await
        .unwrap();
    id
}

async fn migrations_are_idempotent(db: &TestDb) {
    db.store.migrate().await.unwrap();
    assert_eq!(
        db.store.stats().await.unwrap(),
        StoreStats {
            accounts: 0,
            sessions: 0,
            refresh_tokens: 0,
            authtokens: 0
        }
    );
}

async fn accounts_round_trip_and_emails_are_unique(db: &TestDb) {
    let id = new_account_id();
    let t = now();
    let created = db
        .store
        .create_account(&id, "a@example.com", "$argon2id$hash", t)
        .await
        .unwrap();
    assert_eq!(created.created_at, t);
    let by_email = db
        .store
        .account_by_email("a@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email, created);
    assert_eq!(db.store.account_by_id(&id).await.unwrap(), Some(created));
    assert_eq!(
        db.store.account_by_email("b@example.com").await.unwrap(),
        None
    );
    assert_eq!(
        db.store.account_by_id(&new_account_id()).await.unwrap(),
        None
    );

    let dup = db
        .store
        .create_account(&new_account_id(), "a@example.com", "$argon2id$other", t)
        .await;
    assert!(matches!(dup, Err(StoreError::EmailTaken)), "{dup:?}");
    assert_eq!(db.store.stats().await.unwrap().accounts, 1);
}

async fn refresh_rotation_then_reuse_revokes_the_family(db: &TestDb) {
    let acc = account(db, "r@example.com").await;
    let ses = session(db, &acc, "first").await;
    assert_eq!(
        db.store.live_session_account(&ses).await.unwrap(),
        Some(acc.clone())
    );

    let t = now();
    let rotated = db
        .store
        .rotate_refresh_token(
            &secret_hash("first"),
            &secret_hash("second"),
            t,
            t + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RefreshOutcome::Rotated {
            account_id: acc.clone(),
            session_id: ses.clone()
        }
    );

    // The spent token again: reuse, and the session goes.
    let reused = db
        .store
        .rotate_refresh_token(
            &secret_hash("first"),
            &secret_hash("third"),
            t,
            t + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(
        reused,
        RefreshOutcome::ReuseDetected {
            session_id: ses.clone()
        }
    );
    assert_eq!(db.store.live_session_account(&ses).await.unwrap(), None);

    // The newer token of the same family no longer works either.
    let newer = db
        .store
        .rotate_refresh_token(
            &secret_hash("second"),
            &secret_hash("fourth"),
            t,
            t + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(newer, RefreshOutcome::Invalid);
    // Nothing was added by the refused rotations.
    assert_eq!(db.store.stats().await.unwrap().refresh_tokens, 2);

    // An unknown token is just invalid.
    let unknown = db
        .store
        .rotate_refresh_token(
            &secret_hash("never"),
            &secret_hash("x"),
            t,
            t + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(unknown, RefreshOutcome::Invalid);
}

async fn expired_refresh_token_is_invalid_not_reuse(db: &TestDb) {
    let acc = account(db, "e@example.com").await;
    let ses = session(db, &acc, "old").await;
    let later = now() + Duration::days(2);
    let outcome = db
        .store
        .rotate_refresh_token(
            &secret_hash("old"),
            &secret_hash("new"),
            later,
            later + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
    // Expiry is not theft: the session is not revoked.
    assert_eq!(
        db.store.live_session_account(&ses).await.unwrap(),
        Some(acc)
    );
}

async fn logout_revokes_the_session_once(db: &TestDb) {
    let acc = account(db, "l@example.com").await;
    let ses = session(db, &acc, "tok").await;
    let first = db
        .store
        .revoke_session_by_refresh_token(&secret_hash("tok"), now(), RevokeReason::Logout)
        .await
        .unwrap();
    assert_eq!(first, Some(ses.clone()));
    let again = db
        .store
        .revoke_session_by_refresh_token(&secret_hash("tok"), now(), RevokeReason::Logout)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(db.store.live_session_account(&ses).await.unwrap(), None);
    let t = now();
    assert_eq!(
        db.store
            .rotate_refresh_token(
                &secret_hash("tok"),
                &secret_hash("n"),
                t,
                t + Duration::days(1)
            )
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

async fn concurrent_refreshes_of_one_token_rotate_at_most_once(db: &TestDb) {
    let acc = account(db, "c@example.com").await;
    let ses = session(db, &acc, "shared").await;
    let t = now();
    // Two tasks on the multi-threaded runtime, so the statements really overlap.
    let rotate = |next: &'static str| {
        let store = db.store.clone();
        tokio::spawn(async move {
            store
                .rotate_refresh_token(
                    &secret_hash("shared"),
                    &secret_hash(next),
                    t,
                    t + Duration::days(1),
                )
                .await
        })
    };
    let (a, b) = (rotate("a"), rotate("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let outcomes = [a.unwrap(), b.unwrap()];
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Rotated { .. }))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    // The loser presented a spent token: that is reuse, and the family is revoked.
    assert!(
        outcomes.contains(&RefreshOutcome::ReuseDetected {
            session_id: ses.clone()
        }),
        "{outcomes:?}"
    );
    assert_eq!(db.store.live_session_account(&ses).await.unwrap(), None);
}

async fn authtokens_are_scoped_to_their_account(db: &TestDb) {
    let alice = account(db, "alice@example.com").await;
    let bob = account(db, "bob@example.com").await;
    let id: AuthtokenId = new_authtoken_id();
    let hash = secret_hash("fdt_secret");
    let t = now();
    let created = db
        .store
        .create_authtoken(NewAuthtoken {
            id: &id,
            account_id: &alice,
            token_hash: &hash,
            prefix: "fdt_abcdefgh",
            description: Some("laptop"),
            created_by: &alice,
            created_at: t,
        })
        .await
        .unwrap();
    assert_eq!(created.created_at, t);
    assert_eq!(
        db.store.list_authtokens(&alice).await.unwrap(),
        vec![created.clone()]
    );
    assert!(db.store.list_authtokens(&bob).await.unwrap().is_empty());

    // Bob cannot revoke Alice's token.
    assert!(!db.store.revoke_authtoken(&bob, &id, t).await.unwrap());
    assert_eq!(db.store.list_authtokens(&alice).await.unwrap().len(), 1);

    // Using it records the time.
    let used_at = t + Duration::minutes(1);
    let used = db
        .store
        .use_authtoken(&hash, used_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (used.id.clone(), used.last_used_at),
        (id.clone(), Some(used_at))
    );
    assert_eq!(
        db.store
            .use_authtoken(&secret_hash("other"), t)
            .await
            .unwrap(),
        None
    );

    // Alice revokes it: gone from the list, unusable, and a second revoke finds nothing.
    assert!(db.store.revoke_authtoken(&alice, &id, t).await.unwrap());
    assert!(db.store.list_authtokens(&alice).await.unwrap().is_empty());
    assert_eq!(db.store.use_authtoken(&hash, t).await.unwrap(), None);
    assert!(!db.store.revoke_authtoken(&alice, &id, t).await.unwrap());
    // The row stays (soft revoke) for the audit trail.
    assert_eq!(db.store.stats().await.unwrap().authtokens, 1);
}

/// A job interval short enough that every round is due.
const NOW_AND_THEN: std::time::Duration = std::time::Duration::ZERO;

/// Two replicas on one PostgreSQL database: while one holds a job's lease the other gets none
/// (other jobs stay free), and the lease is free again once dropped. On SQLite, which one
/// process owns, every round gets a lease.
async fn a_job_round_is_leased_to_one_replica_at_a_time(db: &TestDb) {
    let Some(url) = db.postgres_url() else {
        let a = db
            .store
            .try_job_lease(Job::Retention, NOW_AND_THEN)
            .await
            .unwrap()
            .unwrap();
        let b = db
            .store
            .try_job_lease(Job::Retention, NOW_AND_THEN)
            .await
            .unwrap()
            .unwrap();
        a.release().await.unwrap();
        b.release().await.unwrap();
        return;
    };
    let target = fdt_cloud::config::DatabaseTarget::Url(fdt_cloud::secret::Secret::new(url.into()));
    let other = Store::connect(&target).await.unwrap();
    let held = db
        .store
        .try_job_lease(Job::Retention, NOW_AND_THEN)
        .await
        .unwrap()
        .unwrap();
    assert!(
        other
            .try_job_lease(Job::Retention, NOW_AND_THEN)
            .await
            .unwrap()
            .is_none()
    );
    let dunning = other
        .try_job_lease(Job::Dunning, NOW_AND_THEN)
        .await
        .unwrap()
        .unwrap();
    dunning.release().await.unwrap();
    held.release().await.unwrap();
    let taken = other
        .try_job_lease(Job::Retention, NOW_AND_THEN)
        .await
        .unwrap()
        .unwrap();
    // And now the first replica is the one refused.
    assert!(
        db.store
            .try_job_lease(Job::Retention, NOW_AND_THEN)
            .await
            .unwrap()
            .is_none()
    );
    taken.release().await.unwrap();
    // With an interval, a round started by one replica makes the other skip its own until
    // the interval has passed since that start (by the database's clock).
    let minute = std::time::Duration::from_secs(60);
    let hour = std::time::Duration::from_secs(3600);
    let first = other
        .try_job_lease(Job::Mailer, minute)
        .await
        .unwrap()
        .unwrap();
    first.release().await.unwrap();
    assert!(
        db.store
            .try_job_lease(Job::Mailer, minute)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        other
            .try_job_lease(Job::Mailer, hour)
            .await
            .unwrap()
            .is_none()
    );
    // A refused lease records nothing: the round is still due at a shorter interval.
    let due = db
        .store
        .try_job_lease(Job::Mailer, NOW_AND_THEN)
        .await
        .unwrap()
        .unwrap();
    due.release().await.unwrap();
    // Other jobs keep their own pace.
    let audit = db
        .store
        .try_job_lease(Job::AuditCheckpoint, hour)
        .await
        .unwrap()
        .unwrap();
    audit.release().await.unwrap();
    other.close().await;
}

async fn token(db: &TestDb, owner: &AccountId, secret: &str) -> AuthtokenId {
    let id = new_authtoken_id();
    db.store
        .create_authtoken(NewAuthtoken {
            id: &id,
            account_id: owner,
            token_hash: &secret_hash(secret),
            prefix: "fdt_abcdefgh",
            description: None,
            created_by: owner,
            created_at: now(),
        })
        .await
        .unwrap();
    id
}

/// Relays move their cursor to the last revocation they read, so the feed must only ever show
/// a prefix: while one revocation is written but not committed (here a raw transaction that
/// got as far as its feed row, as another replica would), a later one waits for it instead of
/// becoming visible first with a higher position, and both then read in commit order.
async fn the_revocation_feed_becomes_visible_in_commit_order(db: &TestDb) {
    let alice = account(db, "alice@example.com").await;
    let first = token(db, &alice, "fdt_first").await;
    let second = token(db, &alice, "fdt_second").await;
    let Some(url) = db.postgres_url() else {
        assert!(
            db.store
                .revoke_authtoken(&alice, &first, now())
                .await
                .unwrap()
        );
        assert!(
            db.store
                .revoke_authtoken(&alice, &second, now())
                .await
                .unwrap()
        );
        let (ids, _) = db.store.revocations_after(0, 10).await.unwrap();
        assert_eq!(ids, vec![first, second]);
        return;
    };
    let raw = sqlx::PgPool::connect(url).await.unwrap();
    let mut stalled = raw.begin().await.unwrap();
    // The feed's writer lock (store::authtokens::feed_lock), then the feed row.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(0x6664_7472_0000_0001_i64)
        .execute(&mut *stalled)
        .await
        .unwrap();
    sqlx::query("UPDATE authtokens SET revoked_at = $1 WHERE id = $2")
        .bind(now().unix_timestamp() * 1000)
        .bind(first.as_str())
        .execute(&mut *stalled)
        .await
        .unwrap();
    sqlx::query("INSERT INTO authtoken_revocations (authtoken_id, revoked_at) VALUES ($1, $2)")
        .bind(first.as_str())
        .bind(now().unix_timestamp() * 1000)
        .execute(&mut *stalled)
        .await
        .unwrap();
    let later = {
        let store = db.store.clone();
        let (alice, second) = (alice.clone(), second.clone());
        tokio::spawn(async move { store.revoke_authtoken(&alice, &second, now()).await })
    };
    // Until the later revocation is queued behind the lock (at most 10 s).
    let mut waiting = 0_i64;
    for _ in 0..200 {
        (waiting,) = sqlx::query_as(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&raw)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waiting, 1, "the later revocation never waited for the feed");
    let (ids, cursor) = db.store.revocations_after(0, 10).await.unwrap();
    assert!(ids.is_empty(), "a later revocation showed first: {ids:?}");
    assert_eq!(cursor, 0);
    stalled.commit().await.unwrap();
    assert!(later.await.unwrap().unwrap());
    let (ids, _) = db.store.revocations_after(0, 10).await.unwrap();
    assert_eq!(ids, vec![first, second]);
    raw.close().await;
}

use super::*;

fn fields(seq: i64, scope: &str, action: &str) -> Fields {
    Fields {
        seq,
        at_ms: 1_700_000_000_000 + seq,
        scope: scope.into(),
        actor: "acc_x".into(),
        action: action.into(),
        target: format!("t{seq}"),
        detail: "{}".into(),
        ip: "203.0.113.9".into(),
        user_agent: "curl/8".into(),
    }
}

/// A well-formed log of `n` rows alternating between two scopes and none.
fn log(n: i64) -> Vec<Stored> {
    let mut global = GENESIS;
    let mut scopes: std::collections::HashMap<String, [u8; 32]> = Default::default();
    (1..=n)
        .map(|seq| {
            let scope = ["acc_a", "acc_b", ""][(seq % 3) as usize];
            let f = fields(seq, scope, "auth.login");
            let (prev, hash, scoped) = link(&global, scopes.get(scope), &f);
            global = hash;
            if let Some((_, sh)) = scoped {
                scopes.insert(scope.to_owned(), sh);
            }
            Stored {
                fields: f,
                prev_hash: Some(prev.to_vec()),
                hash: Some(hash.to_vec()),
                scope_prev_hash: scoped.map(|(p, _)| p.to_vec()),
                scope_hash: scoped.map(|(_, h)| h.to_vec()),
            }
        })
        .collect()
}

fn first_break(rows: Vec<Stored>) -> Option<(i64, Break)> {
    verify(rows).first_break.map(|(seq, _, why)| (seq, why))
}

#[test]
fn an_untouched_log_verifies_and_reports_its_head() {
    let rows = log(10);
    let last = rows.last().and_then(|r| as_hash(&r.hash));
    let v = verify(rows);
    assert_eq!(v.rows, 10);
    assert_eq!(v.first_break, None);
    assert_eq!(v.head.map(|(s, _)| s), Some(10));
    assert_eq!(v.head.map(|(_, h)| h), last);
    assert_eq!(verify(Vec::new()).first_break, None);
}

#[test]
fn each_kind_of_tampering_is_named_at_the_first_broken_row() {
    // Edited: any field.
    let mut rows = log(10);
    rows[4].fields.action = "authtoken.create".into();
    assert_eq!(first_break(rows), Some((5, Break::Edited)));
    let mut rows = log(10);
    rows[6].fields.ip = "198.51.100.1".into();
    assert_eq!(first_break(rows), Some((7, Break::Edited)));

    // Deleted: the row after the gap no longer links.
    let mut rows = log(10);
    rows.remove(3);
    assert_eq!(first_break(rows), Some((5, Break::Unlinked)));

    // Reordered: two rows swap places.
    let mut rows = log(10);
    rows.swap(2, 3);
    assert_eq!(first_break(rows), Some((4, Break::Unlinked)));

    // A row's hash removed.
    let mut rows = log(10);
    rows[8].hash = None;
    assert_eq!(first_break(rows), Some((9, Break::Unhashed)));
}

#[test]
fn a_global_chain_rewritten_around_a_deletion_still_breaks_the_scope_chain() {
    // Delete row 4 (scope acc_b), then recompute every global link after it, as someone who
    // knows the scheme would: the scope chain of acc_b still shows the gap.
    let mut rows = log(10);
    rows.remove(3);
    let mut global = GENESIS;
    for r in &mut rows {
        let hash = row_hash(&global, &r.fields);
        r.prev_hash = Some(global.to_vec());
        r.hash = Some(hash.to_vec());
        global = hash;
    }
    let v = verify(rows);
    let (seq, chain, why) = v.first_break.unwrap_or((0, String::new(), Break::Unhashed));
    assert_eq!((seq, chain.as_str(), why), (7, "acc_b", Break::Unlinked));
}

#[test]
fn fields_are_length_prefixed_so_shifting_text_between_them_changes_the_hash() {
    let mut a = fields(1, "s", "x");
    a.target = "ab".into();
    a.detail = "c".into();
    let mut b = a.clone();
    b.target = "a".into();
    b.detail = "bc".into();
    assert_ne!(row_hash(&GENESIS, &a), row_hash(&GENESIS, &b));
}

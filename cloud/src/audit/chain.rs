//! The audit log's hash chains, without I/O. Every row carries the SHA-256 of its own fields
//! and of the row before it, twice: in the global chain (all rows, by `seq`) and in its
//! scope's chain (the rows of one organisation; an account's own scope until organisations
//! exist). Editing a row breaks its own hash; deleting or reordering rows breaks the link of
//! the row after; cutting the tail is caught against a signed checkpoint of an earlier head.

use sha2::{Digest, Sha256};

/// The hash before the first row of a chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// Domain separation: the hash of an audit row is never the hash of anything else.
const DOMAIN: &[u8] = b"fdt-audit-v1\0";

/// The fields of a row its hash covers (everything but the hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// Position in the global chain.
    pub seq: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The organisation (or account) whose chain it is also in; empty for none.
    pub scope: String,
    /// Who acted (an account ID, `system`, a SCIM token…).
    pub actor: String,
    /// What happened (`auth.login`, `authtoken.revoke`…).
    pub action: String,
    /// On what.
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
    /// The client's address, if known.
    pub ip: String,
    /// The client's user agent, if known.
    pub user_agent: String,
}

/// The hash of a row with `fields` after a row hashed `prev`. Every field is length-prefixed,
/// so no two different rows serialise alike.
pub fn row_hash(prev: &[u8; 32], f: &Fields) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(f.seq.to_be_bytes());
    h.update(f.at_ms.to_be_bytes());
    for s in [
        &f.scope,
        &f.actor,
        &f.action,
        &f.target,
        &f.detail,
        &f.ip,
        &f.user_agent,
    ] {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.finalize().into()
}

/// A row as stored: its fields and both chains' links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The hashed fields.
    pub fields: Fields,
    /// The global chain: the previous row's hash and this row's.
    pub prev_hash: Option<Vec<u8>>,
    /// This row's hash in the global chain.
    pub hash: Option<Vec<u8>>,
    /// The scope's chain: the previous row of the scope's hash.
    pub scope_prev_hash: Option<Vec<u8>>,
    /// This row's hash in its scope's chain.
    pub scope_hash: Option<Vec<u8>>,
}

/// Why a chain is broken, at the first row where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The row's fields no longer give its hash: it was edited.
    Edited,
    /// The row does not follow the one before it: a row between them was deleted, or rows
    /// were reordered.
    Unlinked,
    /// The row has no hash (written around the log, or its hash was removed).
    Unhashed,
}

impl Break {
    /// In words.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Edited => "edited: its fields do not give its hash",
            Self::Unlinked => "unlinked: a row before it was deleted, or rows were reordered",
            Self::Unhashed => "unhashed: the row has no hash",
        }
    }
}

/// A verification's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Rows checked.
    pub rows: u64,
    /// The first broken row: its `seq`, the chain (`global` or the scope), and why.
    pub first_break: Option<(i64, String, Break)>,
    /// The global head: the last row's `seq` and hash.
    pub head: Option<(i64, [u8; 32])>,
}

fn as_hash(v: &Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.as_deref().and_then(|b| b.try_into().ok())
}

/// Checks rows fed in `seq` order, both chains and every link, one row at a time (a log is
/// read in pages); stops looking at the first break.
#[derive(Debug)]
pub struct Verifier {
    global: [u8; 32],
    scopes: std::collections::HashMap<String, [u8; 32]>,
    verdict: Verdict,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            global: GENESIS,
            scopes: Default::default(),
            verdict: Verdict {
                rows: 0,
                first_break: None,
                head: None,
            },
        }
    }
}

impl Verifier {
    /// Checks the next row; `false` once a chain is broken (later rows are not looked at).
    pub fn push(&mut self, r: &Stored) -> bool {
        if self.verdict.first_break.is_some() {
            return false;
        }
        self.verdict.rows += 1;
        match self.check(r) {
            Ok(()) => true,
            Err((chain, why)) => {
                self.verdict.first_break = Some((r.fields.seq, chain, why));
                false
            }
        }
    }

    fn check(&mut self, r: &Stored) -> Result<(), (String, Break)> {
        let global = |why| ("global".to_owned(), why);
        let (Some(prev), Some(hash)) = (as_hash(&r.prev_hash), as_hash(&r.hash)) else {
            return Err(global(Break::Unhashed));
        };
        if prev != self.global {
            return Err(global(Break::Unlinked));
        }
        if row_hash(&prev, &r.fields) != hash {
            return Err(global(Break::Edited));
        }
        self.global = hash;
        self.verdict.head = Some((r.fields.seq, hash));
        let scope = &r.fields.scope;
        if scope.is_empty() {
            return Ok(());
        }
        let scoped = |why| (scope.clone(), why);
        let expected = self.scopes.get(scope).copied().unwrap_or(GENESIS);
        let (Some(sprev), Some(shash)) = (as_hash(&r.scope_prev_hash), as_hash(&r.scope_hash))
        else {
            return Err(scoped(Break::Unhashed));
        };
        if sprev != expected {
            return Err(scoped(Break::Unlinked));
        }
        if row_hash(&sprev, &r.fields) != shash {
            return Err(scoped(Break::Edited));
        }
        self.scopes.insert(scope.clone(), shash);
        Ok(())
    }

    /// The outcome.
    pub fn finish(self) -> Verdict {
        self.verdict
    }
}

/// Checks a whole log given in `seq` order.
pub fn verify(rows: impl IntoIterator<Item = Stored>) -> Verdict {
    let mut v = Verifier::default();
    for r in rows {
        if !v.push(&r) {
            break;
        }
    }
    v.finish()
}

/// A hash and the one before it: `(prev, hash)`.
pub type Link = ([u8; 32], [u8; 32]);

/// Links a new row after the heads `global` and `scope` (the scope's, when it has one):
/// `(prev_hash, hash, scope_prev_hash, scope_hash)`.
pub fn link(
    global: &[u8; 32],
    scope: Option<&[u8; 32]>,
    f: &Fields,
) -> ([u8; 32], [u8; 32], Option<Link>) {
    let hash = row_hash(global, f);
    let scoped = (!f.scope.is_empty()).then(|| {
        let sprev = scope.copied().unwrap_or(GENESIS);
        (sprev, row_hash(&sprev, f))
    });
    (*global, hash, scoped)
}

#[cfg(test)]
mod tests;

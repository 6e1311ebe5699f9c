//! `POST /v1/billing/settlements` (signed receipts, no bearer token: the signature is the
//! authentication), and the operators' receipts and incidents.

use super::admin::{AdminCaller, audited};
use super::extract::{ApiJson, ApiPath};
use super::openapi::{Auth, Endpoint};
use crate::billing::settlement::{self, Booked, ReceiptError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::BillingIncidentRecord;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use fdt_api::{
    BillingIncident, BillingIncidentList, ResolveIncident, Settlement, SettlementAck,
    SettlementList,
};
use serde::Deserialize;
use std::collections::HashMap;

/// Largest receipt (10 000 items of about 100 bytes, with room).
const MAX_RECEIPT_BYTES: usize = 2 * 1024 * 1024;
/// Most rows listed.
const LIST_LIMIT: i64 = 500;

/// The settlement routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::POST, "/v1/billing/settlements", "settlementReceipt", receive)
            .summary("A signed settlement receipt, reconciled against the ledger (differences become incidents)")
            .body_limit(MAX_RECEIPT_BYTES)
            .json::<SettlementAck>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/settlements",
            "adminSettlements",
            list,
        )
        .summary("Operators: settlement receipts received, newest first")
        .auth(Auth::User(P::Operator))
        .json::<SettlementList>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/incidents",
            "adminBillingIncidents",
            incidents,
        )
        .summary("Operators: reconciliation incidents (?open=true: unresolved only), newest first")
        .auth(Auth::User(P::Operator))
        .json::<BillingIncidentList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/billing/incidents/{id}/resolve",
            "adminResolveBillingIncident",
            resolve,
        )
        .summary("Operators: mark a reconciliation incident resolved, with a note (audited)")
        .auth(Auth::User(P::Operator))
        .request::<ResolveIncident>()
        .json::<BillingIncident>(200),
    ]
}

fn to_api(r: BillingIncidentRecord) -> BillingIncident {
    BillingIncident {
        id: r.seq,
        difference: r.actual.saturating_sub(r.expected),
        settlement: r.settlement,
        kind: r.kind,
        reference: r.reference,
        currency: r.currency,
        expected: r.expected,
        actual: r.actual,
        opened_at: r.opened_at,
        resolved_at: r.resolved_at,
        resolved_by: r.resolved_by,
        note: r.note,
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /v1/billing/settlements` → 200 with the incidents it opened; 401 for a bad or stale
/// signature (nothing stored), 400 for a body that is not a receipt.
async fn receive(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SettlementAck>, ApiError> {
    let keys: Vec<&[u8]> = st
        .billing()
        .settlement_keys
        .iter()
        .map(|k| k.expose().as_bytes())
        .collect();
    if keys.is_empty() {
        return Err(ApiError::Unauthorized(
            "settlement receipts are not accepted here",
        ));
    }
    settlement::verify(
        header(&headers, "fdt-settlement-timestamp"),
        header(&headers, "fdt-settlement-signature"),
        &body,
        &keys,
        st.clock().now().unix_timestamp(),
    )
    .map_err(|e| {
        tracing::warn!(reason = e.reason(), "settlement receipt refused");
        ApiError::Unauthorized("settlement signature refused")
    })?;
    let receipt = settlement::parse(&body).map_err(|e| match e {
        ReceiptError::Shape(m) => ApiError::InvalidBody(format!("not a settlement receipt: {m}")),
        ReceiptError::Signature(_) => ApiError::Unauthorized("settlement signature refused"),
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidBody("the receipt is not UTF-8".into()))?;
    // The ledger's view of each item, then the comparison (sans-IO).
    let mut booked: HashMap<(String, String), Option<Booked>> = HashMap::new();
    for i in &receipt.items {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            booked.entry((i.kind.clone(), i.reference.clone()))
        {
            let b = st
                .store()
                .ledger_item(&receipt.provider, &i.kind, &i.reference)
                .await?;
            slot.insert(b);
        }
    }
    let mismatches = settlement::reconcile(&receipt, |i| {
        booked
            .get(&(i.kind.clone(), i.reference.clone()))
            .cloned()
            .flatten()
    });
    let fresh = st
        .store()
        .record_settlement(&receipt, text, &mismatches, st.clock().now())
        .await?;
    let incidents = if fresh {
        if !mismatches.is_empty() {
            tracing::warn!(settlement = %receipt.id, count = mismatches.len(), "settlement does not match the ledger");
            st.events().publish_all(crate::events::Topic::Admin);
        }
        st.store()
            .billing_incidents(false, Some(&receipt.id), LIST_LIMIT)
            .await?
            .into_iter()
            .map(to_api)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(SettlementAck {
        id: receipt.id,
        duplicate: !fresh,
        incidents,
    }))
}

/// `GET /v1/admin/billing/settlements`.
async fn list(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<SettlementList>, ApiError> {
    let settlements = st
        .store()
        .settlements(LIST_LIMIT)
        .await?
        .into_iter()
        .map(|s| {
            Ok(Settlement {
                received_at: crate::store::from_millis(s.received_at)?,
                id: s.id,
                provider: s.provider,
                currency: s.currency,
                payout: s.payout,
                amount: s.amount,
                items: s.items,
                mismatches: s.mismatches,
            })
        })
        .collect::<Result<_, crate::store::StoreError>>()?;
    Ok(Json(SettlementList { settlements }))
}

/// `?open=true`.
#[derive(Debug, Deserialize)]
struct IncidentQuery {
    #[serde(default)]
    open: bool,
}

/// `GET /v1/admin/billing/incidents`.
async fn incidents(
    State(st): State<AppState>,
    _admin: AdminCaller,
    Query(q): Query<IncidentQuery>,
) -> Result<Json<BillingIncidentList>, ApiError> {
    let rows = st
        .store()
        .billing_incidents(q.open, None, LIST_LIMIT)
        .await?;
    Ok(Json(BillingIncidentList {
        incidents: rows.into_iter().map(to_api).collect(),
    }))
}

/// `POST /v1/admin/billing/incidents/{n}/resolve`; 404 when there is none.
async fn resolve(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ResolveIncident>,
) -> Result<Json<BillingIncident>, ApiError> {
    let seq: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 500 || n.chars().any(char::is_control)) {
        return Err(ApiError::InvalidField {
            field: "note".into(),
            message: "at most 500 characters, no control characters".into(),
        });
    }
    let r = st
        .store()
        .resolve_billing_incident(seq, &admin.0.person, note, st.clock().now())
        .await?
        .ok_or(ApiError::NotFound)?;
    audited(
        &st,
        &admin,
        "billing.incident.resolve",
        &id,
        serde_json::json!({"note": note}),
    )
    .await?;
    Ok(Json(to_api(r)))
}

//! `/v1/admin/ledger…`: the finance ledger for operators: exports over a date range (JSON or
//! CSV) and the acknowledgement workflow (every transaction waits for an operator's ack, which
//! is recorded and audited).

use super::admin::{AdminCaller, audited, query};
use super::extract::ApiPath;
use super::openapi::{Auth, Endpoint};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{LedgerLine as Line, LedgerTxnRecord};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use fdt_api::validate::parse_day;
use fdt_api::{LedgerExport, LedgerLine, LedgerQuery, LedgerTxn, LedgerTxnList, LedgerTxnQuery};
use time::OffsetDateTime;

/// Most lines in one export.
const MAX_LINES: i64 = 100_000;
/// Longest export range.
const MAX_DAYS: i64 = 400;

/// The ledger routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::GET, "/v1/admin/ledger", "adminLedger", export)
            .summary("Operators: ledger lines over a date range (from, to: YYYY-MM-DD; format: json or csv)")
            .auth(Auth::User(P::Operator))
            .json::<LedgerExport>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/ledger/transactions",
            "adminLedgerTransactions",
            transactions,
        )
        .summary("Operators: ledger transactions, newest first (pending: only unacknowledged)")
        .auth(Auth::User(P::Operator))
        .json::<LedgerTxnList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/ledger/transactions/{id}/ack",
            "adminAckLedgerTransaction",
            ack,
        )
        .summary("Operators: acknowledge a ledger transaction (recorded and audited)")
        .auth(Auth::User(P::Operator))
        .json::<LedgerTxn>(200),
    ]
}

fn at(ms: i64) -> Result<OffsetDateTime, ApiError> {
    crate::store::from_millis(ms).map_err(ApiError::from)
}

fn line(l: Line) -> Result<LedgerLine, ApiError> {
    Ok(LedgerLine {
        txn: l.txn_seq,
        at: at(l.created_at)?,
        kind: l.kind,
        provider: l.provider,
        reference: l.reference,
        account: l.account_id.and_then(|a| a.parse().ok()),
        book: l.book,
        amount: l.amount,
        currency: l.currency,
    })
}

/// A CSV field: quoted when it holds a separator, a quote or a line break, and prefixed with
/// `'` when a spreadsheet would read it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<i64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /v1/admin/ledger?from&to&format` → JSON lines or `text/csv`.
async fn export(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let today = st.clock().now().date();
    let to = match &q.to {
        Some(d) => parse_day("to", d)?,
        None => today.next_day().unwrap_or(today),
    };
    let from = match &q.from {
        Some(d) => parse_day("from", d)?,
        None => to - time::Duration::days(30),
    };
    if from >= to || (to - from).whole_days() > MAX_DAYS {
        return Err(ApiError::InvalidBody(format!(
            "from must be before to, and the range at most {MAX_DAYS} days"
        )));
    }
    let lines = st
        .store()
        .ledger_lines(
            from.midnight().assume_utc(),
            to.midnight().assume_utc(),
            MAX_LINES,
        )
        .await?;
    let lines = lines.into_iter().map(line).collect::<Result<Vec<_>, _>>()?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(LedgerExport { lines }).into_response()),
        Some("csv") => {
            let mut out =
                String::from("txn,at,kind,provider,reference,account,book,amount,currency\n");
            for l in &lines {
                let when =
                    l.at.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                let account = l
                    .account
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let fields = [
                    l.txn.to_string(),
                    when,
                    l.kind.clone(),
                    l.provider.clone(),
                    l.reference.clone(),
                    account,
                    l.book.clone(),
                    l.amount.to_string(),
                    l.currency.clone(),
                ];
                let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.push_str(&row.join(","));
                out.push('\n');
            }
            let mut resp = out.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            Ok(resp)
        }
        Some(_) => Err(ApiError::InvalidBody("format is json or csv".into())),
    }
}

fn txn(t: LedgerTxnRecord) -> Result<LedgerTxn, ApiError> {
    Ok(LedgerTxn {
        id: t.seq,
        at: at(t.created_at)?,
        acked_at: t.acked_at.map(at).transpose()?,
        kind: t.kind,
        provider: t.provider,
        reference: t.reference,
        account: t.account_id.and_then(|a| a.parse().ok()),
        amount: t.amount,
        refunded: t.refunded,
        currency: t.currency,
        acked_by: t.acked_by,
    })
}

/// `GET /v1/admin/ledger/transactions?pending`.
async fn transactions(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<LedgerTxnQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerTxnList>, ApiError> {
    let q = query(q)?;
    let rows = st.store().ledger_txns(q.pending, 500).await?;
    let transactions = rows.into_iter().map(txn).collect::<Result<_, _>>()?;
    Ok(Json(LedgerTxnList { transactions }))
}

/// `POST /v1/admin/ledger/transactions/{id}/ack` → the transaction; 404 when there is none.
async fn ack(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LedgerTxn>, ApiError> {
    let seq: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    audited(&st, &admin, "ledger.ack", &id, serde_json::json!({})).await?;
    if !st
        .store()
        .ack_ledger_txn(seq, &admin.0.person, st.clock().now())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    let row = st
        .store()
        .ledger_txn(seq)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(txn(row)?))
}

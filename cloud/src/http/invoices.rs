//! `/v1/billing/invoices` (list, PDF), `/v1/billing/profile` (what invoices are made out to),
//! and the operators' list of every invoice.

use super::admin::AdminCaller;
use super::extract::{ApiJson, ApiPath, Authenticated};
use super::openapi::{Auth, Endpoint};
use crate::billing::{invoice_pdf, invoices};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::ProfileRecord;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use fdt_api::{BillingProfile, InvoiceList};

/// Most invoices listed.
const LIST_LIMIT: i64 = 500;

/// The invoice routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::GET, "/v1/billing/invoices", "listInvoices", list)
            .summary("The caller's invoices and credit notes, newest first")
            .auth(Auth::User(P::BillingRead))
            .json::<InvoiceList>(200),
        Endpoint::new(M::GET, "/v1/billing/invoices/{id}/pdf", "invoicePdf", pdf)
            .summary("One invoice or credit note as a PDF")
            .auth(Auth::User(P::BillingRead))
            .bytes(200),
        Endpoint::new(
            M::GET,
            "/v1/billing/profile",
            "getBillingProfile",
            get_profile,
        )
        .summary("What invoices are made out to: name, country, VAT ID, address")
        .auth(Auth::User(P::BillingRead))
        .json::<BillingProfile>(200),
        Endpoint::new(
            M::PUT,
            "/v1/billing/profile",
            "setBillingProfile",
            put_profile,
        )
        .summary("Set what invoices are made out to (invoices issued later use it)")
        .auth(Auth::User(P::BillingWrite))
        .request::<BillingProfile>()
        .json::<BillingProfile>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/invoices",
            "adminInvoices",
            admin_list,
        )
        .summary("Operators: every account's invoices and credit notes, newest first")
        .auth(Auth::User(P::Operator))
        .json::<InvoiceList>(200),
    ]
}

/// `GET /v1/billing/invoices`.
async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<InvoiceList>, ApiError> {
    let rows = st
        .store()
        .invoices(Some(&who.account_id), LIST_LIMIT)
        .await?;
    Ok(Json(InvoiceList {
        invoices: rows
            .into_iter()
            .map(|r| invoices::to_api(r, false))
            .collect(),
    }))
}

/// `GET /v1/admin/billing/invoices`.
async fn admin_list(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<InvoiceList>, ApiError> {
    let rows = st.store().invoices(None, LIST_LIMIT).await?;
    Ok(Json(InvoiceList {
        invoices: rows
            .into_iter()
            .map(|r| invoices::to_api(r, true))
            .collect(),
    }))
}

/// `GET /v1/billing/invoices/{id}/pdf`; another account's invoice is 404.
async fn pdf(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let inv = st
        .store()
        .invoice(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let bytes = invoice_pdf::render(&inv, &st.billing().invoices);
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    // The number is A-Z, 0-9 and '-' (the series is checked at start): a safe file name.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.pdf\"",
        inv.display_number()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

fn to_api(p: ProfileRecord) -> BillingProfile {
    BillingProfile {
        name: p.name,
        country: p.country,
        vat_id: p.vat_id,
        address: p.address,
    }
}

/// `GET /v1/billing/profile` (empty until set).
async fn get_profile(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<BillingProfile>, ApiError> {
    let p = st.store().billing_profile(&who.account_id).await?;
    Ok(Json(p.map(to_api).unwrap_or_default()))
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks and normalises a profile: trimmed, country and VAT ID in capitals without spaces.
fn checked(p: BillingProfile) -> Result<ProfileRecord, ApiError> {
    let name = p.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "1 to 200 characters, no control characters",
        ));
    }
    let country = p
        .country
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty());
    if let Some(c) = &country
        && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(invalid("country", "an ISO 3166-1 alpha-2 code (DE, IN)"));
    }
    let vat_id = p
        .vat_id
        .map(|v| v.replace([' ', '-', '.'], "").to_ascii_uppercase())
        .filter(|v| !v.is_empty());
    if let Some(v) = &vat_id
        && !((2..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(invalid("vat_id", "2 to 32 letters and digits"));
    }
    if vat_id.is_some() && country.is_none() {
        return Err(invalid("country", "needed with a VAT ID"));
    }
    let address = p.address.trim().to_owned();
    if address.chars().count() > 500 {
        return Err(invalid("address", "at most 500 characters"));
    }
    Ok(ProfileRecord {
        name,
        country,
        vat_id,
        address,
    })
}

/// `PUT /v1/billing/profile` → the profile as stored; 422 naming the field it refuses.
async fn put_profile(
    State(st): State<AppState>,
    who: Authenticated,
    ApiJson(req): ApiJson<BillingProfile>,
) -> Result<Json<BillingProfile>, ApiError> {
    let p = checked(req)?;
    st.store().set_billing_profile(&who.account_id, &p).await?;
    Ok(Json(to_api(p)))
}

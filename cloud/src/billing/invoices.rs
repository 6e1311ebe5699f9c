//! Issuing invoices and credit notes as money moves: a charge recorded in the ledger for an
//! account gets an invoice (series `[billing.invoices] series`), a refund of an invoiced
//! charge a credit note (series `<series>-CN`) at the invoice's rate. Both are idempotent per
//! provider reference, so a redelivered event issues nothing twice and uses no number.

use super::Provider;
use super::money::Money;
use super::tax::{self, Customer};
use crate::random::random_base62;
use crate::state::AppState;
use crate::store::{InvoiceRecord, Issued, NewInvoice, StoreError};
use fdt_api::AccountId;

/// Random characters in an invoice ID.
const INVOICE_ID_LEN: usize = 20;

/// Issues the invoice for `charge`, `amount` paid by `account`.
pub async fn on_charge(
    st: &AppState,
    provider: Provider,
    charge: &str,
    account: &AccountId,
    amount: &Money,
) -> Result<Issued, StoreError> {
    let cfg = &st.billing().invoices;
    let profile = st
        .store()
        .billing_profile(account)
        .await?
        .unwrap_or_default();
    let name = if profile.name.is_empty() {
        st.store()
            .account_by_id(account)
            .await?
            .map(|a| a.email)
            .unwrap_or_default()
    } else {
        profile.name.clone()
    };
    let customer = Customer {
        country: profile.country.as_deref(),
        vat_id: profile.vat_id.as_deref(),
    };
    let split = tax::split(amount.minor, &customer, &cfg.seller_country, &cfg.tax_rates);
    let id = format!("inv_{}", random_base62(INVOICE_ID_LEN));
    let description = format!(
        "{} subscription (payment {charge} via {})",
        cfg.seller_name,
        provider.label()
    );
    st.store()
        .issue_invoice(
            &NewInvoice {
                id: &id,
                series: &cfg.series,
                kind: "invoice",
                account,
                provider: provider.as_str(),
                reference: charge,
                corrects: None,
                currency: amount.currency.as_str(),
                net: split.net,
                tax: split.tax,
                total: amount.minor,
                tax_rate_bp: split.rate_bp,
                reverse_charge: split.reverse_charge,
                customer_name: &name,
                customer_country: customer.country,
                customer_vat_id: customer.vat_id,
                customer_address: &profile.address,
                description: &description,
            },
            st.clock().now(),
        )
        .await
}

/// Issues the credit note for `refund` of `charge`; `None` when the charge has no invoice
/// (a charge without an account).
pub async fn on_refund(
    st: &AppState,
    provider: Provider,
    refund: &str,
    charge: &str,
    amount: &Money,
) -> Result<Option<Issued>, StoreError> {
    let Some(inv) = st
        .store()
        .invoice_for(provider.as_str(), charge, "invoice")
        .await?
    else {
        return Ok(None);
    };
    let rate = u32::try_from(inv.tax_rate_bp).unwrap_or(0);
    let split = tax::split_at(-amount.minor, rate, inv.reverse_charge);
    let id = format!("inv_{}", random_base62(INVOICE_ID_LEN));
    let series = format!("{}-CN", inv.series);
    let description = format!("Refund {refund} of invoice {}", inv.display_number());
    let corrects = inv.display_number();
    st.store()
        .issue_invoice(
            &NewInvoice {
                id: &id,
                series: &series,
                kind: "credit_note",
                account: &inv.account,
                provider: provider.as_str(),
                reference: refund,
                corrects: Some(&corrects),
                currency: &inv.currency,
                net: split.net,
                tax: split.tax,
                total: -amount.minor,
                tax_rate_bp: rate,
                reverse_charge: inv.reverse_charge,
                customer_name: &inv.customer_name,
                customer_country: inv.customer_country.as_deref(),
                customer_vat_id: inv.customer_vat_id.as_deref(),
                customer_address: &inv.customer_address,
                description: &description,
            },
            st.clock().now(),
        )
        .await
        .map(Some)
}

/// An invoice as the API shows it.
pub fn to_api(r: InvoiceRecord, with_account: bool) -> fdt_api::Invoice {
    fdt_api::Invoice {
        number: r.display_number(),
        id: r.id,
        kind: r.kind,
        corrects: r.corrects,
        issued_at: r.issued_at,
        currency: r.currency,
        net: r.net,
        tax: r.tax,
        total: r.total,
        tax_rate_bp: u32::try_from(r.tax_rate_bp).unwrap_or(0),
        reverse_charge: r.reverse_charge,
        description: r.description,
        account: with_account.then_some(r.account),
    }
}

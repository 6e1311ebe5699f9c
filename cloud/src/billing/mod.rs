//! Billing: payment providers' webhooks, verified on their raw bytes as each provider
//! documents ([`verify`]), read into subscription states ([`events`]), stored before they are
//! processed and processed once ([`webhooks`]); the account's plan follows its subscriptions.
//!
//! Stripe, Razorpay and PayPal webhooks and subscriptions; checkout, one-time payments
//! ([`orders`]), plan changes, cancelling
//! and refunds ([`checkout`] adapters, [`purchase`] on top, [`limit`] on how often an account
//! may call the providers); the ledger ([`ledger`]), dunning ([`dunning`]), invoices
//! ([`invoices`], [`tax`], [`invoice_pdf`]) and settlement receipts ([`settlement`]).

pub mod checkout;
pub mod dunning;
pub mod duplicates;
mod effects;
pub mod entitlement;
pub mod events;
pub mod invoice_pdf;
pub mod invoices;
pub mod ledger;
pub mod limit;
pub mod money;
pub mod orders;
pub mod paypal;
pub mod purchase;
pub mod reconcile;
pub mod rejections;
pub mod settlement;
pub mod tax;
pub mod verify;
pub mod webhooks;

/// A payment provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Stripe.
    Stripe = 0,
    /// Razorpay.
    Razorpay = 1,
    /// PayPal.
    Paypal = 2,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 3] = [Provider::Stripe, Provider::Razorpay, Provider::Paypal];

    /// The name in paths and rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Razorpay => "razorpay",
            Self::Paypal => "paypal",
        }
    }

    /// The name for people (`PayPal`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Stripe => "Stripe",
            Self::Razorpay => "Razorpay",
            Self::Paypal => "PayPal",
        }
    }

    /// The provider named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

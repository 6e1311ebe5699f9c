-- Checkouts: a plan being paid for at a provider, started by an account. The provider's
-- reference (Stripe Checkout Session, Razorpay or PayPal subscription) is what its callbacks
-- name; a callback is honoured only for the account that started the checkout.
CREATE TABLE billing_checkouts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    plan        TEXT NOT NULL,
    reference   TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    paid_at     INTEGER,
    payment_id  TEXT,
    UNIQUE (provider, reference)
) STRICT;
CREATE INDEX billing_checkouts_account ON billing_checkouts (account_id, created_at);

-- The provider's customer for an account (Stripe), so repeated checkouts and the portal
-- use one customer.
CREATE TABLE billing_customers (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (account_id, provider)
) STRICT;

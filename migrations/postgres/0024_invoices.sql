-- Invoices and credit notes, numbered without gaps per series: the number is taken from
-- invoice_series in the transaction that writes the invoice, so a rolled-back invoice uses no
-- number. One invoice per charge and one credit note per refund (provider, reference, kind).
CREATE TABLE invoice_series (
    series      TEXT PRIMARY KEY,
    next_number BIGINT NOT NULL
);

CREATE TABLE invoices (
    id             TEXT PRIMARY KEY,
    series         TEXT NOT NULL,
    number         BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    reference      TEXT NOT NULL,
    corrects       TEXT,
    currency       TEXT NOT NULL,
    net            BIGINT NOT NULL,
    tax            BIGINT NOT NULL,
    total          BIGINT NOT NULL,
    tax_rate_bp    BIGINT NOT NULL,
    reverse_charge BIGINT NOT NULL,
    customer_name  TEXT NOT NULL,
    customer_country TEXT,
    customer_vat_id  TEXT,
    customer_address TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL,
    issued_at      BIGINT NOT NULL,
    UNIQUE (series, number),
    UNIQUE (provider, reference, kind)
);
CREATE INDEX invoices_account ON invoices (account_id, issued_at);

-- What an account's invoices are made out to.
CREATE TABLE billing_profiles (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    country    TEXT,
    vat_id     TEXT,
    address    TEXT NOT NULL DEFAULT ''
);

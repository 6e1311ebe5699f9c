-- Invoices and credit notes, numbered without gaps per series: the number is taken from
-- invoice_series in the transaction that writes the invoice, so a rolled-back invoice uses no
-- number. One invoice per charge and one credit note per refund (provider, reference, kind).
CREATE TABLE invoice_series (
    series      TEXT PRIMARY KEY,
    next_number INTEGER NOT NULL
) STRICT;

CREATE TABLE invoices (
    id             TEXT PRIMARY KEY,
    series         TEXT NOT NULL,
    number         INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    reference      TEXT NOT NULL,
    corrects       TEXT,
    currency       TEXT NOT NULL,
    net            INTEGER NOT NULL,
    tax            INTEGER NOT NULL,
    total          INTEGER NOT NULL,
    tax_rate_bp    INTEGER NOT NULL,
    reverse_charge INTEGER NOT NULL,
    customer_name  TEXT NOT NULL,
    customer_country TEXT,
    customer_vat_id  TEXT,
    customer_address TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL,
    issued_at      INTEGER NOT NULL,
    UNIQUE (series, number),
    UNIQUE (provider, reference, kind)
) STRICT;
CREATE INDEX invoices_account ON invoices (account_id, issued_at);

-- What an account's invoices are made out to.
CREATE TABLE billing_profiles (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    country    TEXT,
    vat_id     TEXT,
    address    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE invoice_totals (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    total      REAL NOT NULL
);
INSERT INTO invoice_totals (account_id, total)
    SELECT account_id, coalesce(sum(amount), 0) FROM invoices GROUP BY account_id;

CREATE TABLE accounts (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'personal'
);
CREATE TABLE invoices (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    amount_cents INTEGER NOT NULL DEFAULT 0,
    status       TEXT
);

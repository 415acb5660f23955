CREATE TABLE invoice_statuses (name TEXT PRIMARY KEY NOT NULL);
INSERT INTO invoice_statuses (name)
    SELECT DISTINCT status FROM invoices WHERE status IS NOT NULL;
INSERT OR IGNORE INTO invoice_statuses (name) VALUES ('draft'), ('paid'), ('void');

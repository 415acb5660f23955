ALTER TABLE invoices ADD COLUMN amount REAL;
UPDATE invoices SET amount = amount_cents / 100.0;

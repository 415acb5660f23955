-- Rows the author means to delete: the same with foreign keys on or off.
DELETE FROM invoices WHERE status = 'void';
UPDATE invoices SET status = 'draft' WHERE status IS NULL;

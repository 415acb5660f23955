ALTER TABLE accounts ADD COLUMN display_name TEXT;
UPDATE accounts
SET display_name = upper(substr(name, 1, 1)) || substr(name, 2)
WHERE display_name IS NULL;

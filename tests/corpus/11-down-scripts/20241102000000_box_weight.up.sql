ALTER TABLE boxes ADD COLUMN weight REAL;
UPDATE boxes SET weight = 0 WHERE weight IS NULL;

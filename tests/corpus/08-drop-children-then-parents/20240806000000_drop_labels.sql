-- The children's rows are deleted on purpose first, then the parent goes.
DELETE FROM label_links;
DROP TABLE labels;
DROP TABLE label_links;

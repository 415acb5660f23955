DROP TABLE boxes;
DROP TABLE shelves;

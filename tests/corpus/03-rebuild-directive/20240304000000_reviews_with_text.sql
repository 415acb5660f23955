-- foreign-keys: off
CREATE TABLE "reviews_new" (
    "id"      INTEGER PRIMARY KEY,
    "book_id" INTEGER NOT NULL REFERENCES "books" ("id") ON DELETE CASCADE,
    "stars"   INTEGER NOT NULL CHECK ("stars" BETWEEN 0 AND 5),
    "text"    TEXT
);
INSERT INTO "reviews_new" ("id", "book_id", "stars") SELECT "id", "book_id", min("stars", 5) FROM "reviews";
DROP TABLE "reviews";
ALTER TABLE "reviews_new" RENAME TO "reviews";

-- A parent renamed on its own: its children's foreign keys follow the new name.
ALTER TABLE posts RENAME TO articles;

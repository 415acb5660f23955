-- A child table renamed: nothing references it.
ALTER TABLE comments RENAME TO replies;

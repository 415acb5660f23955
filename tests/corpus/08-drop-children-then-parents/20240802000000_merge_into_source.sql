-- Two tables merged into one, then the old ones dropped, children first.
CREATE TABLE source (
    id       INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    repo     TEXT NOT NULL,
    stars    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO source (id, provider, repo, stars)
    SELECT r.id, p.name, r.name, (SELECT count(*) FROM repo_star s WHERE s.repo_id = r.id)
    FROM repo r JOIN provider p ON p.id = r.provider_id;
DROP TABLE repo_star;
DROP TABLE repo;
DROP TABLE provider;

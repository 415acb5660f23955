//! Reading migration SQL the way SQLite does, without a regular expression over the whole text:
//! a tokenizer that knows comments, string literals, quoted identifiers and trigger bodies, the
//! statements it splits, and the lint rules that need nothing but the text.
//!
//! Like `parse`, this module serves both sides: [`Embed`](crate::Embed) refuses to embed a
//! migration with a finding at build time, and `pipeline-store`'s runner and linter use it at
//! run time. It uses nothing but the standard library.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or bare identifier (`CREATE`, `pipelines`, `foreign_keys`), or a number.
    Word,
    /// A string literal: `'...'`.
    String,
    /// A quoted identifier: `"..."`, `` `...` `` or `[...]`.
    Quoted,
    /// Any other character: `;`, `(`, `=`, `.`...
    Punct,
}

/// One token, with its byte offset in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: TokenKind,
    /// Its text as written (quotes included).
    pub text: &'a str,
    /// Where it starts.
    pub offset: usize,
}

impl Token<'_> {
    /// Whether this is the word `keyword`, in any case.
    pub fn is(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    /// The name this token spells, unquoted, when it is a word or a quoted identifier.
    pub fn name(&self) -> Option<String> {
        match self.kind {
            TokenKind::Word => Some(self.text.to_owned()),
            TokenKind::Quoted => {
                let inner = &self.text[1..self.text.len() - 1];
                let quote = &self.text[..1];
                Some(match quote {
                    "\"" => inner.replace("\"\"", "\""),
                    "`" => inner.replace("``", "`"),
                    _ => inner.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// Splits `sql` into tokens, comments and blank space left out. An unterminated string,
/// identifier or comment runs to the end of the text (SQLite refuses it when it runs).
pub fn tokens(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        let start = at;
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => {
                at += 1;
                continue;
            }
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = sql[at..].find('\n').map_or(bytes.len(), |i| at + i + 1);
                continue;
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = sql[at + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |i| at + 2 + i + 2);
                continue;
            }
            b'\'' => {
                at = closing(bytes, at, b'\'');
                TokenKind::String
            }
            b'"' | b'`' => {
                at = closing(bytes, at, c);
                TokenKind::Quoted
            }
            b'[' => {
                at = sql[at..].find(']').map_or(bytes.len(), |i| at + i + 1);
                TokenKind::Quoted
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                while at < bytes.len()
                    && (bytes[at].is_ascii_alphanumeric()
                        || bytes[at] == b'_'
                        || bytes[at] == b'$'
                        || bytes[at] >= 0x80)
                {
                    at += 1;
                }
                TokenKind::Word
            }
            _ => {
                at += 1;
                TokenKind::Punct
            }
        };
        out.push(Token {
            kind,
            text: &sql[start..at],
            offset: start,
        });
    }
    out
}

/// The end of a quoted run that starts at `at` with `quote`, a doubled quote standing for one.
fn closing(bytes: &[u8], mut at: usize, quote: u8) -> usize {
    at += 1;
    while at < bytes.len() {
        if bytes[at] == quote {
            if bytes.get(at + 1) == Some(&quote) {
                at += 2;
                continue;
            }
            return at + 1;
        }
        at += 1;
    }
    bytes.len()
}

/// Splits a script's tokens into statements at `;`, except the `;`s inside a trigger's
/// `BEGIN ... END` body (where `CASE ... END` nests). Empty statements are left out.
pub fn statements<'a>(tokens: &[Token<'a>]) -> Vec<Vec<Token<'a>>> {
    split(tokens)
        .into_iter()
        .map(|(statement, _)| statement)
        .collect()
}

/// Where each statement of `sql` ends: the offset just after the `;` that ends it, as
/// [`statements`] splits them. A runner can hand SQLite a window of whole statements at a time.
pub fn statement_ends(sql: &str) -> Vec<usize> {
    split(&tokens(sql))
        .into_iter()
        .filter_map(|(_, end)| end.map(|at| at + 1))
        .collect()
}

/// The statements and the offset of the `;` that ends each (none for a last one without).
fn split<'a>(tokens: &[Token<'a>]) -> Vec<(Vec<Token<'a>>, Option<usize>)> {
    let mut out = Vec::new();
    let mut current: Vec<Token<'a>> = Vec::new();
    // Inside a CREATE TRIGGER's body: how deep in BEGIN/CASE ... END.
    let mut depth = 0_usize;
    for token in tokens {
        if token.kind == TokenKind::Punct && token.text == ";" && depth == 0 {
            if !current.is_empty() {
                out.push((std::mem::take(&mut current), Some(token.offset)));
            }
            continue;
        }
        let in_trigger = is_create_trigger(&current);
        current.push(*token);
        if in_trigger {
            if token.is("BEGIN") || (depth > 0 && token.is("CASE")) {
                depth += 1;
            } else if depth > 0 && token.is("END") {
                depth -= 1;
            }
        }
    }
    if !current.is_empty() {
        out.push((current, None));
    }
    out
}

/// Whether a statement so far is `CREATE [TEMP|TEMPORARY] TRIGGER`.
fn is_create_trigger(statement: &[Token<'_>]) -> bool {
    let mut words = statement.iter().take(3);
    match (words.next(), words.next(), words.next()) {
        (Some(create), Some(second), third) if create.is("CREATE") => {
            second.is("TRIGGER")
                || ((second.is("TEMP") || second.is("TEMPORARY"))
                    && third.is_some_and(|t| t.is("TRIGGER")))
        }
        _ => false,
    }
}

/// The 1-based line of byte `offset`: for one offset. For many, make [`Lines`] once.
pub fn line_of(sql: &str, offset: usize) -> usize {
    sql.get(..offset).unwrap_or(sql).matches('\n').count() + 1
}

/// Where each line of a script starts, so the line of any offset is a binary search: the line
/// of every statement of a file then costs one pass over it, not one pass per statement.
#[derive(Debug, Clone)]
pub struct Lines {
    /// The byte offset of each `\n`.
    breaks: Vec<usize>,
}

impl Lines {
    /// The lines of `sql`.
    pub fn new(sql: &str) -> Self {
        Self {
            breaks: sql
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The 1-based line of byte `offset` (as [`line_of`] counts it).
    pub fn line(&self, offset: usize) -> usize {
        self.breaks.partition_point(|&at| at < offset) + 1
    }
}

/// A rule's finding on the text of one migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFinding {
    /// The rule's stable id.
    pub rule: &'static str,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// Why it matters.
    pub why: &'static str,
    /// What to do instead.
    pub fix: String,
}

/// `PRAGMA foreign_keys` in a migration that runs in a transaction.
pub const FOREIGN_KEYS_PRAGMA: &str = "foreign-keys-pragma";
/// A header comment that looks like a directive but is not spelled as one.
pub const DIRECTIVE_SPELLING: &str = "directive-spelling";
/// `BEGIN`, `COMMIT`, `END` or `ROLLBACK` (without `TO`) in a migration that runs in a
/// transaction.
pub const TRANSACTION_CONTROL: &str = "transaction-control";
/// `DROP TABLE t` while another table references `t` with an action that changes its rows (a
/// rename away only moves the children to the new name: a later drop of that name is the
/// finding).
pub const DROP_REFERENCED_TABLE: &str = "drop-referenced-table";
/// Every rule, for the escape directive's check.
pub const RULES: [&str; 4] = [
    FOREIGN_KEYS_PRAGMA,
    DIRECTIVE_SPELLING,
    TRANSACTION_CONTROL,
    DROP_REFERENCED_TABLE,
];

/// The escape: `-- pipeline-store: allow RULE` in the file's header.
pub const ALLOW_DIRECTIVE: &str = "pipeline-store: allow";

/// The rules the file allows through `-- pipeline-store: allow RULE`, and the lines that name a
/// rule that does not exist.
pub fn allowed(sql: &str) -> (Vec<&str>, Vec<(usize, &str)>) {
    let mut rules = Vec::new();
    let mut unknown = Vec::new();
    for (line, comment) in crate::parse::header_comments(sql) {
        if let Some(rest) = comment.strip_prefix(ALLOW_DIRECTIVE) {
            for rule in rest.split([',', ' ']).filter(|r| !r.is_empty()) {
                if RULES.contains(&rule) {
                    rules.push(rule);
                } else {
                    unknown.push((line, rule));
                }
            }
        }
    }
    (rules, unknown)
}

/// Whether a finding of `rule` refuses a migration unless its file allows the rule: every rule
/// but `foreign-keys-pragma`, which reports a switch the runner honours (off) or that does
/// nothing (on).
pub fn refuses(rule: &str) -> bool {
    rule != FOREIGN_KEYS_PRAGMA
}

/// `Some(true)` for a `PRAGMA [schema.]foreign_keys` statement that switches them off (`= OFF`,
/// `0`, `FALSE`, `NO`, quoted or not, or `(OFF)`), `Some(false)` for any other value or a read,
/// `None` for any other statement.
fn foreign_keys_pragma(statement: &[Token<'_>]) -> Option<bool> {
    let first = statement.first()?;
    if !first.is("PRAGMA") {
        return None;
    }
    let at = match (statement.get(1), statement.get(2)) {
        (Some(_), Some(dot)) if dot.text == "." => 3,
        _ => 1,
    };
    let name = statement.get(at)?.name()?;
    if !name.eq_ignore_ascii_case("foreign_keys") {
        return None;
    }
    let value = match statement.get(at + 1) {
        Some(t) if t.text == "=" || t.text == "(" => statement.get(at + 2),
        _ => None,
    };
    Some(value.is_some_and(|v| {
        let text = v.text.trim_matches(['\'', '"', '`', '[', ']']);
        ["off", "0", "false", "no"]
            .iter()
            .any(|off| text.eq_ignore_ascii_case(off))
    }))
}

/// Whether a script switches foreign keys off with a `PRAGMA foreign_keys = OFF` statement of
/// its own (outside trigger bodies, strings and comments).
pub fn switches_foreign_keys_off(sql: &str) -> bool {
    statements(&tokens(sql))
        .iter()
        .any(|statement| foreign_keys_pragma(statement) == Some(true))
}

/// The findings on a migration's text, allowed rules included (the caller filters them).
/// `transactional` is whether the file runs inside a transaction (no `-- no-transaction`).
pub fn text_findings(sql: &str, transactional: bool) -> Vec<TextFinding> {
    let mut findings = directive_findings(sql);
    let (_, unknown) = allowed(sql);
    for (line, rule) in unknown {
        findings.push(TextFinding {
            rule: DIRECTIVE_SPELLING,
            line,
            message: format!("`-- {ALLOW_DIRECTIVE} {rule}` names no rule"),
            why: "an escape that names nothing escapes nothing",
            fix: format!("name one of {}", RULES.join(", ")),
        });
    }
    if !transactional {
        return findings;
    }
    let all = tokens(sql);
    let lines = Lines::new(sql);
    for statement in statements(&all) {
        let first = &statement[0];
        let line = lines.line(first.offset);
        if let Some(off) = foreign_keys_pragma(&statement) {
            findings.push(if off {
                TextFinding {
                    rule: FOREIGN_KEYS_PRAGMA,
                    line,
                    message: "`PRAGMA foreign_keys = OFF` in a migration that runs in a \
                              transaction: honoured, as `-- foreign-keys: off` is"
                        .to_owned(),
                    why: "SQLite ignores the switch inside a transaction, so the runner switches \
                          foreign keys off before BEGIN, runs `PRAGMA foreign_key_check` before \
                          COMMIT and switches them back on: the rebuild its author meant, with \
                          no row lost to a cascade",
                    fix: "nothing to do; `-- foreign-keys: off` in the header says the same"
                        .to_owned(),
                }
            } else {
                TextFinding {
                    rule: FOREIGN_KEYS_PRAGMA,
                    line,
                    message: "`PRAGMA foreign_keys = ON` in a migration that runs in a \
                              transaction: it does nothing"
                        .to_owned(),
                    why: "SQLite ignores the switch inside a transaction; foreign keys are on \
                          for the migration, or switched back on after it when it switched \
                          them off",
                    fix: "nothing to do; it can be removed".to_owned(),
                }
            });
        }
        let ends_or_starts = first.is("BEGIN")
            || first.is("COMMIT")
            || first.is("END")
            || (first.is("ROLLBACK") && !statement.iter().any(|t| t.is("TO")));
        if ends_or_starts {
            findings.push(TextFinding {
                rule: TRANSACTION_CONTROL,
                line,
                message: format!(
                    "`{}` in a migration that runs in a transaction",
                    first.text.to_ascii_uppercase()
                ),
                why: "each migration already runs with its history row in one transaction: a \
                      BEGIN fails, and a COMMIT in the middle commits half a migration with no \
                      history row",
                fix: "remove the transaction statements, or make the file `-- no-transaction` \
                      (first line) if it must manage its own"
                    .to_owned(),
            });
        }
    }
    findings
}

/// Header comments that look like `-- no-transaction` or `-- foreign-keys: off` but are not
/// spelled as the runner reads them, or stand where it does not read them.
fn directive_findings(sql: &str) -> Vec<TextFinding> {
    let normalize = |text: &str| -> String {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect::<String>()
            .trim_end_matches(';')
            .to_owned()
    };
    let body = crate::parse::without_bom(sql);
    let raw_lines: Vec<&str> = body.lines().collect();
    let mut findings = Vec::new();
    for (line, comment) in crate::parse::header_comments(sql) {
        let raw = raw_lines.get(line - 1).map_or("", |l| l.trim());
        let (meant, problem) = match normalize(comment).as_str() {
            // `parse::foreign_keys_off`: any header line whose comment is exactly this.
            "foreign-keys:off" if comment == "foreign-keys: off" => continue,
            "foreign-keys:off" => ("-- foreign-keys: off", None),
            // `parse::no_transaction`: the file's first line, spelled exactly so.
            "no-transaction" | "notransaction" if raw == "-- no-transaction" => {
                if line_is_first(sql, line) {
                    continue;
                }
                (
                    "-- no-transaction",
                    Some(format!("`{raw}` is read only as the file's first line")),
                )
            }
            "no-transaction" | "notransaction" => ("-- no-transaction", None),
            _ => continue,
        };
        findings.push(TextFinding {
            rule: DIRECTIVE_SPELLING,
            line,
            message: problem.unwrap_or_else(|| format!("`{raw}` is not the directive `{meant}`")),
            why: "a directive written any other way is an ordinary comment: the migration would \
                  run as if it were not there",
            fix: format!("write exactly `{meant}`"),
        });
    }
    findings
}

/// Whether `line` is the first non-blank line of the file (after a BOM).
fn line_is_first(sql: &str, line: usize) -> bool {
    let body = crate::parse::without_bom(sql);
    body.lines()
        .position(|l| !l.trim().is_empty())
        .is_some_and(|first| first + 1 == line)
}

/// The tables a script drops or renames away: `(name, line, what it does)`.
pub fn tables_removed(sql: &str) -> Vec<(String, usize, &'static str)> {
    removals(sql)
        .into_iter()
        .map(|(name, line, how, _)| (name, line, how))
        .collect()
}

/// The tables a script drops or renames away, in order: `(name, line, what it does, the byte
/// offset where the statement starts)`, so that a linter can bring a schema up to just before
/// each one.
pub fn removals(sql: &str) -> Vec<(String, usize, &'static str, usize)> {
    let all = tokens(sql);
    let lines = Lines::new(sql);
    let mut out = Vec::new();
    for statement in statements(&all) {
        let words: Vec<&Token<'_>> = statement.iter().collect();
        let start = words[0].offset;
        let line = lines.line(start);
        // DROP TABLE [IF EXISTS] [schema.]name
        if words.len() >= 3 && words[0].is("DROP") && words[1].is("TABLE") {
            let mut i = 2;
            if words.get(i).is_some_and(|t| t.is("IF"))
                && words.get(i + 1).is_some_and(|t| t.is("EXISTS"))
            {
                i += 2;
            }
            if let Some(name) = qualified_name(&words, i) {
                out.push((name, line, "drops", start));
            }
        }
        // ALTER TABLE [schema.]name RENAME TO other
        if words.len() >= 6 && words[0].is("ALTER") && words[1].is("TABLE") {
            let Some(name) = qualified_name(&words, 2) else {
                continue;
            };
            let after = if words.get(3).is_some_and(|t| t.text == ".") {
                5
            } else {
                3
            };
            if words.get(after).is_some_and(|t| t.is("RENAME"))
                && words.get(after + 1).is_some_and(|t| t.is("TO"))
            {
                out.push((name, line, "renames away", start));
            }
        }
    }
    out
}

/// What a script does to whether its tables hold rows, in order: `(offset of the statement,
/// Some(table))` where the table is known to be empty from that statement on (made by `CREATE
/// TABLE` without `IF NOT EXISTS` or `AS SELECT`, or emptied by `DELETE FROM table` with no
/// `WHERE`), `(offset, None)` where any table may hold rows again (an `INSERT`, `REPLACE`,
/// `UPDATE` or `WITH`, which may fill tables directly or through triggers, or a rename, which
/// moves names). A linter can so tell a child whose rows are already gone from one that still
/// has them.
pub fn emptiness(sql: &str) -> Vec<(usize, Option<String>)> {
    let all = tokens(sql);
    let mut out = Vec::new();
    for statement in statements(&all) {
        let words: Vec<&Token<'_>> = statement.iter().collect();
        let start = words[0].offset;
        if ["INSERT", "REPLACE", "UPDATE", "WITH"]
            .iter()
            .any(|w| words[0].is(w))
            || (words[0].is("ALTER") && words.iter().any(|t| t.is("RENAME")))
        {
            out.push((start, None));
            continue;
        }
        // DELETE FROM [schema.]name, and nothing after it.
        if words.len() >= 3 && words[0].is("DELETE") && words[1].is("FROM") {
            let qualified = words.get(3).is_some_and(|t| t.text == ".");
            let end = if qualified { 5 } else { 3 };
            if words.len() == end
                && let Some(name) = qualified_name(&words, 2)
            {
                out.push((start, Some(name)));
            }
            continue;
        }
        // CREATE TABLE [schema.]name ( ... ), not IF NOT EXISTS (it may be there with rows)
        // and not AS SELECT.
        if words.len() >= 4 && words[0].is("CREATE") && words[1].is("TABLE") {
            if words[2].is("IF") {
                continue;
            }
            let qualified = words.get(3).is_some_and(|t| t.text == ".");
            let after = if qualified { 5 } else { 3 };
            if words.get(after).is_some_and(|t| t.text == "(")
                && let Some(name) = qualified_name(&words, 2)
            {
                out.push((start, Some(name)));
            }
        }
    }
    out
}

/// The indexes, triggers and views a script drops by name: `(kind, name)`, the kind in lower
/// case (`index`, `trigger`, `view`).
pub fn objects_dropped(sql: &str) -> Vec<(&'static str, String)> {
    let all = tokens(sql);
    let mut out = Vec::new();
    for statement in statements(&all) {
        let words: Vec<&Token<'_>> = statement.iter().collect();
        // DROP INDEX|TRIGGER|VIEW [IF EXISTS] [schema.]name
        if words.len() < 3 || !words[0].is("DROP") {
            continue;
        }
        let Some(kind) = ["index", "trigger", "view"]
            .into_iter()
            .find(|k| words[1].is(k))
        else {
            continue;
        };
        let mut i = 2;
        if words.get(i).is_some_and(|t| t.is("IF"))
            && words.get(i + 1).is_some_and(|t| t.is("EXISTS"))
        {
            i += 2;
        }
        if let Some(name) = qualified_name(&words, i) {
            out.push((kind, name));
        }
    }
    out
}

/// The name at `i`, skipping a `schema.` qualifier.
fn qualified_name(words: &[&Token<'_>], i: usize) -> Option<String> {
    if words.get(i + 1).is_some_and(|t| t.text == ".") {
        words.get(i + 2).and_then(|t| t.name())
    } else {
        words.get(i).and_then(|t| t.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(sql: &str) -> Vec<&'static str> {
        let transactional = !sql.trim_start().starts_with("-- no-transaction");
        text_findings(sql, transactional)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn objects_dropped_by_name() {
        let sql = "DROP INDEX idx_a; drop trigger if exists main.\"t b\"; DROP VIEW [v];\n\
                   DROP TABLE t; CREATE INDEX i ON t (x); SELECT 'DROP INDEX no';";
        assert_eq!(
            objects_dropped(sql),
            vec![
                ("index", "idx_a".to_owned()),
                ("trigger", "t b".to_owned()),
                ("view", "v".to_owned())
            ]
        );
    }

    #[test]
    fn splits_statements_but_not_trigger_bodies() {
        let sql = "CREATE TABLE a (x); CREATE TRIGGER t AFTER INSERT ON a BEGIN \
                   UPDATE a SET x = CASE WHEN x > 1 THEN 1 ELSE 0 END; DELETE FROM a; END; \
                   SELECT ';' ; ";
        let all = tokens(sql);
        let split = statements(&all);
        assert_eq!(split.len(), 3, "{split:?}");
        assert!(split[1].last().is_some_and(|t| t.is("END")));
    }

    #[test]
    fn finds_what_the_rules_name() {
        assert_eq!(rules("PRAGMA foreign_keys=OFF;"), [FOREIGN_KEYS_PRAGMA]);
        assert_eq!(rules("pragma  Foreign_Keys = 0 ;"), [FOREIGN_KEYS_PRAGMA]);
        assert_eq!(
            rules("PRAGMA main.foreign_keys = false;"),
            [FOREIGN_KEYS_PRAGMA]
        );
        assert_eq!(rules("PRAGMA foreign_keys(OFF);"), [FOREIGN_KEYS_PRAGMA]);
        assert_eq!(
            rules("BEGIN TRANSACTION; CREATE TABLE a (x); COMMIT;"),
            [TRANSACTION_CONTROL, TRANSACTION_CONTROL]
        );
        assert_eq!(rules("CREATE TABLE a (x);\nEND;"), [TRANSACTION_CONTROL]);
        assert_eq!(rules("ROLLBACK;"), [TRANSACTION_CONTROL]);
        for near in [
            "-- foreign-keys:off",
            "-- Foreign-Keys: OFF",
            "-- foreign_keys: off",
            "-- foreign-keys: off;",
            "-- no transaction",
            "-- No-Transaction",
            "--no-transaction",
        ] {
            let sql = format!("{near}\nCREATE TABLE a (x);");
            assert_eq!(rules(&sql), [DIRECTIVE_SPELLING], "{near}");
        }
        assert_eq!(
            rules("-- a comment\n-- no-transaction\nVACUUM;"),
            [DIRECTIVE_SPELLING],
            "read only on the first line"
        );
        assert_eq!(
            rules("-- pipeline-store: allow no-such-rule\nSELECT 1;"),
            [DIRECTIVE_SPELLING]
        );
    }

    #[test]
    fn words_in_strings_comments_identifiers_and_trigger_bodies_are_not_findings() {
        for sql in [
            "-- foreign-keys: off\nCREATE TABLE a (x);",
            "-- no-transaction\nBEGIN; PRAGMA foreign_keys = OFF; COMMIT;",
            "INSERT INTO notes VALUES ('BEGIN; COMMIT; PRAGMA foreign_keys=OFF');",
            "CREATE TABLE \"commit\" (\"begin\" TEXT, [end] TEXT, `rollback` TEXT);",
            "/* BEGIN; COMMIT; */ CREATE TABLE a (x); -- COMMIT;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 1; END;",
            "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END; END;",
            "SAVEPOINT s; CREATE TABLE a (x); ROLLBACK TO s; RELEASE s;",
            "ROLLBACK TRANSACTION TO SAVEPOINT s;",
            "PRAGMA foreign_key_check;",
            "SELECT 'PRAGMA foreign_keys';",
        ] {
            assert_eq!(rules(sql), Vec::<&str>::new(), "{sql}");
        }
    }

    #[test]
    fn tables_known_empty_and_what_may_fill_them_again() {
        let sql = "CREATE TABLE a (x);\nDELETE FROM main.b;\nDELETE FROM c WHERE x = 1;\n\
                   CREATE TABLE IF NOT EXISTS d (x);\nCREATE TABLE e AS SELECT 1;\n\
                   insert into a values (1);\nDELETE FROM \"f g\";\nWITH q AS (SELECT 1) SELECT 1;\n\
                   ALTER TABLE a RENAME TO h;\nALTER TABLE a ADD COLUMN y;\nUPDATE a SET x = 2;\n\
                   REPLACE INTO a VALUES (3);\nCREATE TEMP TABLE t (x);\nSELECT 'DELETE FROM z';";
        let lines = Lines::new(sql);
        let found: Vec<(usize, Option<String>)> = emptiness(sql)
            .into_iter()
            .map(|(at, table)| (lines.line(at), table))
            .collect();
        assert_eq!(
            found,
            [
                (1, Some("a".to_owned())),
                (2, Some("b".to_owned())),
                (6, None),
                (7, Some("f g".to_owned())),
                (8, None),
                (9, None),
                (11, None),
                (12, None),
            ]
        );
    }

    #[test]
    fn finds_tables_dropped_or_renamed_away() {
        let found = tables_removed(
            "CREATE TABLE new_p (x);\nDROP TABLE IF EXISTS main.pipelines;\n\
             ALTER TABLE \"stages\" RENAME TO old_stages;\nALTER TABLE t RENAME COLUMN a TO b;\n\
             SELECT 'DROP TABLE x';",
        );
        assert_eq!(
            found,
            [
                ("pipelines".to_owned(), 2, "drops"),
                ("stages".to_owned(), 3, "renames away"),
            ]
        );
    }

    #[test]
    fn a_foreign_keys_off_switch_is_found_in_every_spelling_and_nowhere_else() {
        for sql in [
            "PRAGMA foreign_keys=OFF;",
            "pragma FOREIGN_KEYS = 0;",
            "PRAGMA main.foreign_keys = false;",
            "PRAGMA foreign_keys = 'no';",
            "PRAGMA foreign_keys(off)",
            "CREATE TABLE t (x);\n  PRAGMA   foreign_keys\n=\nOff ;",
        ] {
            assert!(switches_foreign_keys_off(sql), "{sql}");
        }
        for sql in [
            "PRAGMA foreign_keys = ON;",
            "PRAGMA foreign_keys;",
            "PRAGMA foreign_key_check;",
            "-- PRAGMA foreign_keys = OFF;\nCREATE TABLE t (x);",
            "INSERT INTO t VALUES ('PRAGMA foreign_keys = OFF;');",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 'PRAGMA foreign_keys = OFF'; END;",
            "PRAGMA defer_foreign_keys = OFF;",
        ] {
            assert!(!switches_foreign_keys_off(sql), "{sql}");
        }
        assert!(!refuses(FOREIGN_KEYS_PRAGMA));
        assert!(RULES.iter().filter(|r| refuses(r)).count() == RULES.len() - 1);
    }

    #[test]
    fn the_line_index_counts_as_line_of_does() {
        for sql in ["", "a", "\n", "a\nb", "a\n\nb\n", "\r\nx\r\n"] {
            let lines = Lines::new(sql);
            for offset in 0..=sql.len() + 1 {
                assert_eq!(
                    lines.line(offset),
                    line_of(sql, offset),
                    "{sql:?} at {offset}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        #[test]
        fn rule_words_inside_strings_comments_and_identifiers_are_never_findings(
            word in proptest::sample::select(vec![
                "BEGIN", "COMMIT", "END", "ROLLBACK", "begin transaction", "PRAGMA foreign_keys=OFF",
                "pragma foreign_keys = 0", "DROP TABLE pipelines", "-- foreign-keys:off", "no transaction",
            ]),
            wrapper in 0_usize..5,
            filler in "[a-z ]{0,12}",
        ) {
            let quoted = |q: char| format!("{q}{}{q}", word.replace(q, &format!("{q}{q}")));
            let sql = match wrapper {
                0 => format!("CREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ({});", quoted('\'')),
                1 => format!("CREATE TABLE notes (x); -- {filler} {word}\n"),
                2 => format!("/* {filler}\n{word} */ CREATE TABLE notes (x);"),
                3 => format!("CREATE TABLE {} (x);", quoted('"')),
                _ => format!("CREATE TABLE [{filler}{}] (x);", word.replace(']', "")),
            };
            let transactional = true;
            let found: Vec<&str> = text_findings(&sql, transactional).into_iter().map(|f| f.rule).collect();
            proptest::prop_assert!(found.is_empty(), "{}: {:?}", sql, found);
            proptest::prop_assert!(tables_removed(&sql).is_empty(), "{}", sql);
        }
    }
}

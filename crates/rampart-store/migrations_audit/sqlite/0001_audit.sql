-- The audit trail, in its own SQLite file (apart from application data). The chain and its
-- checkpoints are rampart_core::audit's; the triggers make the trail append-only for anyone
-- going through SQLite (someone editing the file directly is what the chain is for). STRICT
-- tables and seq as the rowid alias: no row can hide from the verifier with a NULL or text seq.
CREATE TABLE audit_entries (
    seq              INTEGER PRIMARY KEY,
    ts_ms            INTEGER NOT NULL,
    action           TEXT NOT NULL,
    actor_user_id    TEXT,
    actor_ip         TEXT NOT NULL,
    actor_user_agent TEXT NOT NULL,
    target_type      TEXT,
    target_id        TEXT,
    result           TEXT NOT NULL,
    request_id       TEXT,
    metadata         TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
) STRICT;
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
CREATE INDEX audit_entries_actor ON audit_entries (actor_user_id, seq);
CREATE INDEX audit_entries_target ON audit_entries (target_type, target_id, seq);
CREATE INDEX audit_entries_ts ON audit_entries (ts_ms);

-- Signed heads of the chain (rampart_core::audit::Checkpoint); prev_seq chains them.
CREATE TABLE audit_checkpoints (
    seq        INTEGER NOT NULL,
    prev_seq   INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (seq, key_id)
) STRICT;

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

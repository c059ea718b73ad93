"""catalog: region_tiles → revisions checked once per statement, not once per tile row

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 16:20:00

Issue 14 (import rate). Every revision writes ~36 ``region_tiles`` rows in one COPY; the
foreign key ``fk_region_tiles_revision_pk_revisions`` queued one RI trigger per row, each a
``SELECT ... FOR KEY SHARE`` of the same revision. The key is replaced by statement-level
triggers over the transition tables that keep the same rule (``ON DELETE NO ACTION``):

- an INSERT or UPDATE of ``region_tiles`` locks (``FOR KEY SHARE``, as the RI check does)
  each distinct revision its rows name, once, and refuses the statement with SQLSTATE 23503
  (foreign_key_violation) and the old constraint's name when one is missing;
- a DELETE of ``revisions`` (statement level) or a change of a revision's ``id`` (row
  level, only when ``id`` changes) that leaves tiles naming a removed id is refused the same
  way; ``TRUNCATE revisions`` is refused while tiles exist.

The locks make the rule hold under concurrency as the key did: a deleting transaction
waits for an inserting one that locked the revision first and then sees its tiles, and an
inserting transaction that waits for a deleting one finds the revision gone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_region_tiles_revision_pk_revisions"

_UPGRADE = f"""
CREATE FUNCTION region_tiles_revision_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    locked bigint;
    missing bigint;
BEGIN
    SELECT count(DISTINCT revision_pk) INTO wanted FROM new_tiles;
    PERFORM 1 FROM revisions r
    WHERE r.id IN (SELECT revision_pk FROM new_tiles) FOR KEY SHARE OF r;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked <> wanted THEN
        SELECT n.revision_pk INTO missing FROM new_tiles n
        WHERE NOT EXISTS (SELECT 1 FROM revisions r WHERE r.id = n.revision_pk) LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "region_tiles" violates foreign key '
                        'constraint "{_FK}"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{_FK}',
                  TABLE = 'region_tiles', SCHEMA = 'public',
                  DETAIL = format('Key (revision_pk)=(%s) is not present in table '
                                  '"revisions".', missing);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION revisions_keep_tiled() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    gone bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM 1 FROM region_tiles LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'cannot truncate "revisions": "region_tiles" refers to it'
                USING ERRCODE = 'feature_not_supported', CONSTRAINT = '{_FK}',
                      HINT = 'Truncate table "region_tiles" first.';
        END IF;
        RETURN NULL;
    ELSIF TG_LEVEL = 'ROW' THEN
        gone := OLD.id;
        PERFORM 1 FROM region_tiles t WHERE t.revision_pk = gone
        AND NOT EXISTS (SELECT 1 FROM revisions r WHERE r.id = gone) LIMIT 1;
    ELSE
        SELECT o.id INTO gone FROM old_revisions o
        WHERE EXISTS (SELECT 1 FROM region_tiles t WHERE t.revision_pk = o.id)
        AND NOT EXISTS (SELECT 1 FROM revisions r WHERE r.id = o.id) LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'update or delete on table "revisions" violates foreign key '
                        'constraint "{_FK}" on table "region_tiles"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{_FK}',
                  TABLE = 'region_tiles', SCHEMA = 'public',
                  DETAIL = format('Key (id)=(%s) is still referenced from table '
                                  '"region_tiles".', gone);
    END IF;
    RETURN NULL;
END $$;

ALTER TABLE region_tiles DROP CONSTRAINT {_FK};

CREATE TRIGGER region_tiles_key_insert AFTER INSERT ON region_tiles
    REFERENCING NEW TABLE AS new_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION region_tiles_revision_exists();
CREATE TRIGGER region_tiles_key_update AFTER UPDATE ON region_tiles
    REFERENCING NEW TABLE AS new_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION region_tiles_revision_exists();
CREATE TRIGGER revisions_key_delete AFTER DELETE ON revisions
    REFERENCING OLD TABLE AS old_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION revisions_keep_tiled();
CREATE TRIGGER revisions_key_update AFTER UPDATE OF id ON revisions
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION revisions_keep_tiled();
CREATE TRIGGER revisions_key_truncate BEFORE TRUNCATE ON revisions
    FOR EACH STATEMENT EXECUTE FUNCTION revisions_keep_tiled();
"""

_DOWNGRADE = f"""
DROP TRIGGER revisions_key_truncate ON revisions;
DROP TRIGGER revisions_key_update ON revisions;
DROP TRIGGER revisions_key_delete ON revisions;
DROP TRIGGER region_tiles_key_update ON region_tiles;
DROP TRIGGER region_tiles_key_insert ON region_tiles;
DROP FUNCTION revisions_keep_tiled();
DROP FUNCTION region_tiles_revision_exists();
ALTER TABLE region_tiles ADD CONSTRAINT {_FK}
    FOREIGN KEY (revision_pk) REFERENCES revisions (id);
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(_DOWNGRADE)

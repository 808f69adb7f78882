-- Whether a snapshot holds one quiescent state of its graph (issue 16, item 2): NULL for
-- snapshots taken before it was recorded. Keep in step with the other backend.
ALTER TABLE backup_metadata ADD COLUMN consistent BOOLEAN;
ALTER TABLE backup_metadata ADD COLUMN inconsistency TEXT;

-- Snapshots a replication target keeps after the primary forgot them (issue 13, defect 10):
-- a JSON object {"<snapshot id>": <unix ms when a sync first found it forgotten>}, NULL when
-- none. Syncs delete a kept snapshot from the target once LIGHTRAG_REPLICATION_DELETE_GRACE
-- has passed since that time. Keep in step with the other backend.
ALTER TABLE replication_state ADD COLUMN forgotten_since TEXT;

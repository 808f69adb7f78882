ALTER TABLE replication_state DROP COLUMN forgotten_since;

ALTER TABLE backup_metadata DROP COLUMN inconsistency;
ALTER TABLE backup_metadata DROP COLUMN consistent;

-- DbTools integrity check policy

-- 1. What the server has:
SELECT d.name, d.recovery_model_desc, d.state_desc, d.is_read_only,
       CAST(CASE WHEN d.replica_id IS NULL THEN 0 ELSE 1 END AS bit) AS in_availability_group,
       CAST(CASE WHEN d.replica_id IS NULL THEN 1
                 ELSE sys.fn_hadr_backup_is_preferred_replica(d.name) END AS bit)
           AS preferred_backup_replica,
       CAST(CASE WHEN d.replica_id IS NULL THEN 1
                 WHEN EXISTS (SELECT 1 FROM sys.dm_hadr_availability_replica_states AS rs
                              WHERE rs.replica_id = d.replica_id AND rs.role = 1) THEN 1
                 ELSE 0 END AS bit) AS is_primary_replica,
       CAST(CASE WHEN rs.last_log_backup_lsn IS NULL THEN 0 ELSE 1 END AS bit) AS log_chain,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM msdb.dbo.backupset AS b
                              WHERE b.database_name = d.name AND b.type = 'D'
                                AND b.is_copy_only = 0) THEN 1 ELSE 0 END AS bit)
           AS has_full_backup,
       (SELECT MAX(b.backup_finish_date) FROM msdb.dbo.backupset AS b
        WHERE b.database_name = d.name AND b.type IN ('D', 'I') AND b.is_copy_only = 0)
           AS last_full_or_diff,
       CAST(CASE WHEN d.source_database_id IS NULL THEN 0 ELSE 1 END AS bit) AS is_snapshot
FROM sys.databases AS d
LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id
ORDER BY d.name;

-- 2. Commands on the example server:
DBCC CHECKDB ([master]) WITH NO_INFOMSGS, ALL_ERRORMSGS;
DBCC CHECKDB ([model]) WITH NO_INFOMSGS, ALL_ERRORMSGS;
DBCC CHECKDB ([msdb]) WITH NO_INFOMSGS, ALL_ERRORMSGS;
DBCC CHECKDB ([Sales]) WITH NO_INFOMSGS, ALL_ERRORMSGS;
DBCC CHECKDB ([Staging]) WITH NO_INFOMSGS, ALL_ERRORMSGS;
-- Archive: skipped (offline: not checked)

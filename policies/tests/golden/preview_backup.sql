-- DbTools backup policy

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

-- FULL backups (0 1 * * 0), on the example server:
EXECUTE master.dbo.xp_create_subdir N'D:\Backup\SQLPROD01\Sales\FULL';
BACKUP DATABASE [Sales] TO DISK = N'D:\Backup\SQLPROD01\Sales\FULL\SQLPROD01_Sales_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'D:\Backup\SQLPROD01\Sales\FULL\SQLPROD01_Sales_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'D:\Backup\SQLPROD01\Sales\FULL', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'D:\Backup\SQLPROD01\Staging\FULL';
BACKUP DATABASE [Staging] TO DISK = N'D:\Backup\SQLPROD01\Staging\FULL\SQLPROD01_Staging_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'D:\Backup\SQLPROD01\Staging\FULL\SQLPROD01_Staging_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'D:\Backup\SQLPROD01\Staging\FULL', N'bak', N'2026-11-19T01:00:00', 0;
-- Archive: skipped (offline: not backed up)

-- DIFF backups (0 1 * * 1-6), on the example server:
EXECUTE master.dbo.xp_create_subdir N'D:\Backup\SQLPROD01\Sales\DIFF';
BACKUP DATABASE [Sales] TO DISK = N'D:\Backup\SQLPROD01\Sales\DIFF\SQLPROD01_Sales_DIFF_20261126_010000.bak' WITH DIFFERENTIAL, CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'D:\Backup\SQLPROD01\Sales\DIFF\SQLPROD01_Sales_DIFF_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'D:\Backup\SQLPROD01\Sales\DIFF', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'D:\Backup\SQLPROD01\Staging\DIFF';
BACKUP DATABASE [Staging] TO DISK = N'D:\Backup\SQLPROD01\Staging\DIFF\SQLPROD01_Staging_DIFF_20261126_010000.bak' WITH DIFFERENTIAL, CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'D:\Backup\SQLPROD01\Staging\DIFF\SQLPROD01_Staging_DIFF_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'D:\Backup\SQLPROD01\Staging\DIFF', N'bak', N'2026-11-19T01:00:00', 0;
-- Archive: skipped (offline: not backed up)

-- LOG backups (every 15 minutes), on the example server:
EXECUTE master.dbo.xp_create_subdir N'D:\Backup\SQLPROD01\Sales\LOG';
BACKUP LOG [Sales] TO DISK = N'D:\Backup\SQLPROD01\Sales\LOG\SQLPROD01_Sales_LOG_20261126_010000.trn' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'D:\Backup\SQLPROD01\Sales\LOG\SQLPROD01_Sales_LOG_20261126_010000.trn' WITH CHECKSUM;
-- Staging: skipped (simple recovery model: log backups impossible)
-- Archive: skipped (offline: not backed up)

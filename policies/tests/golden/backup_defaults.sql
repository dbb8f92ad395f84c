-- full
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Sales\FULL';
BACKUP DATABASE [Sales] TO DISK = N'\\backupsrv\sql\SQLPROD01\Sales\FULL\SQLPROD01_Sales_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\Sales\FULL\SQLPROD01_Sales_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\Sales\FULL', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Staging\FULL';
BACKUP DATABASE [Staging] TO DISK = N'\\backupsrv\sql\SQLPROD01\Staging\FULL\SQLPROD01_Staging_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\Staging\FULL\SQLPROD01_Staging_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\Staging\FULL', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL';
BACKUP DATABASE [New]]DB's] TO DISK = N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL\SQLPROD01_New]DB''s_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL\SQLPROD01_New]DB''s_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL', N'bak', N'2026-11-19T01:00:00', 0;
-- Archive: skipped (offline: not backed up)
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\AgPrimary\FULL';
BACKUP DATABASE [AgPrimary] TO DISK = N'\\backupsrv\sql\SQLPROD01\AgPrimary\FULL\SQLPROD01_AgPrimary_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\AgPrimary\FULL\SQLPROD01_AgPrimary_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\AgPrimary\FULL', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\AgSecondary\FULL';
BACKUP DATABASE [AgSecondary] TO DISK = N'\\backupsrv\sql\SQLPROD01\AgSecondary\FULL\SQLPROD01_AgSecondary_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION, COPY_ONLY;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\AgSecondary\FULL\SQLPROD01_AgSecondary_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\AgSecondary\FULL', N'bak', N'2026-11-19T01:00:00', 0;
-- AgNotPreferred: skipped (not the preferred backup replica of its availability group)
-- diff
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Sales\DIFF';
BACKUP DATABASE [Sales] TO DISK = N'\\backupsrv\sql\SQLPROD01\Sales\DIFF\SQLPROD01_Sales_DIFF_20261126_010000.bak' WITH DIFFERENTIAL, CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\Sales\DIFF\SQLPROD01_Sales_DIFF_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\Sales\DIFF', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Staging\DIFF';
BACKUP DATABASE [Staging] TO DISK = N'\\backupsrv\sql\SQLPROD01\Staging\DIFF\SQLPROD01_Staging_DIFF_20261126_010000.bak' WITH DIFFERENTIAL, CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\Staging\DIFF\SQLPROD01_Staging_DIFF_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\Staging\DIFF', N'bak', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL';
-- diff changed to FULL: no full backup yet
BACKUP DATABASE [New]]DB's] TO DISK = N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL\SQLPROD01_New]DB''s_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL\SQLPROD01_New]DB''s_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL', N'bak', N'2026-11-19T01:00:00', 0;
-- Archive: skipped (offline: not backed up)
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\AgPrimary\DIFF';
BACKUP DATABASE [AgPrimary] TO DISK = N'\\backupsrv\sql\SQLPROD01\AgPrimary\DIFF\SQLPROD01_AgPrimary_DIFF_20261126_010000.bak' WITH DIFFERENTIAL, CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\AgPrimary\DIFF\SQLPROD01_AgPrimary_DIFF_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\AgPrimary\DIFF', N'bak', N'2026-11-19T01:00:00', 0;
-- AgSecondary: skipped (differential backups are not supported on a secondary replica)
-- AgNotPreferred: skipped (not the preferred backup replica of its availability group)
-- log
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Sales\LOG';
BACKUP LOG [Sales] TO DISK = N'\\backupsrv\sql\SQLPROD01\Sales\LOG\SQLPROD01_Sales_LOG_20261126_010000.trn' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\Sales\LOG\SQLPROD01_Sales_LOG_20261126_010000.trn' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\Sales\LOG', N'trn', N'2026-11-19T01:00:00', 0;
-- Staging: skipped (simple recovery model: log backups impossible)
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL';
-- log changed to FULL: no full backup yet
BACKUP DATABASE [New]]DB's] TO DISK = N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL\SQLPROD01_New]DB''s_FULL_20261126_010000.bak' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL\SQLPROD01_New]DB''s_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\New]DB''s\FULL', N'bak', N'2026-11-19T01:00:00', 0;
-- Archive: skipped (offline: not backed up)
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\AgPrimary\LOG';
BACKUP LOG [AgPrimary] TO DISK = N'\\backupsrv\sql\SQLPROD01\AgPrimary\LOG\SQLPROD01_AgPrimary_LOG_20261126_010000.trn' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\AgPrimary\LOG\SQLPROD01_AgPrimary_LOG_20261126_010000.trn' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'\\backupsrv\sql\SQLPROD01\AgPrimary\LOG', N'trn', N'2026-11-19T01:00:00', 0;
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\AgSecondary\LOG';
BACKUP LOG [AgSecondary] TO DISK = N'\\backupsrv\sql\SQLPROD01\AgSecondary\LOG\SQLPROD01_AgSecondary_LOG_20261126_010000.trn' WITH CHECKSUM, COMPRESSION;
RESTORE VERIFYONLY FROM DISK = N'\\backupsrv\sql\SQLPROD01\AgSecondary\LOG\SQLPROD01_AgSecondary_LOG_20261126_010000.trn' WITH CHECKSUM;
-- AgNotPreferred: skipped (not the preferred backup replica of its availability group)

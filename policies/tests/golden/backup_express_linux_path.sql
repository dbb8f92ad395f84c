-- full
EXECUTE master.dbo.xp_create_subdir N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/FULL';
BACKUP DATABASE [Sales] TO DISK = N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/FULL/SQLEXPRESS01_Sales_FULL_20261126_010000.bak' WITH CHECKSUM;
RESTORE VERIFYONLY FROM DISK = N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/FULL/SQLEXPRESS01_Sales_FULL_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/FULL', N'bak', N'2026-11-19T01:00:00', 0;
-- diff
EXECUTE master.dbo.xp_create_subdir N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/DIFF';
BACKUP DATABASE [Sales] TO DISK = N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/DIFF/SQLEXPRESS01_Sales_DIFF_20261126_010000.bak' WITH DIFFERENTIAL, CHECKSUM;
RESTORE VERIFYONLY FROM DISK = N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/DIFF/SQLEXPRESS01_Sales_DIFF_20261126_010000.bak' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/DIFF', N'bak', N'2026-11-19T01:00:00', 0;
-- log
EXECUTE master.dbo.xp_create_subdir N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/LOG';
BACKUP LOG [Sales] TO DISK = N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/LOG/SQLEXPRESS01_Sales_LOG_20261126_010000.trn' WITH CHECKSUM;
RESTORE VERIFYONLY FROM DISK = N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/LOG/SQLEXPRESS01_Sales_LOG_20261126_010000.trn' WITH CHECKSUM;
EXECUTE master.dbo.xp_delete_file 0, N'/var/opt/mssql/backup/SQLEXPRESS01/Sales/LOG', N'trn', N'2026-11-19T01:00:00', 0;

-- full
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Sales\FULL';
BACKUP DATABASE [Sales] TO DISK = N'\\backupsrv\sql\SQLPROD01\Sales\FULL\SQLPROD01_Sales_FULL_20261126_010000.bak';
-- diff
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Sales\DIFF';
BACKUP DATABASE [Sales] TO DISK = N'\\backupsrv\sql\SQLPROD01\Sales\DIFF\SQLPROD01_Sales_DIFF_20261126_010000.bak' WITH DIFFERENTIAL;
-- log
EXECUTE master.dbo.xp_create_subdir N'\\backupsrv\sql\SQLPROD01\Sales\LOG';
BACKUP LOG [Sales] TO DISK = N'\\backupsrv\sql\SQLPROD01\Sales\LOG\SQLPROD01_Sales_LOG_20261126_010000.trn';

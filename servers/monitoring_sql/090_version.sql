-- Record what was deployed; DbTools compares it with the version it ships. NOCOUNT: without it
-- the UPDATE's row count reaches the client first, and an ODBC client that stops there (pyodbc
-- does) never sees an error of the INSERT.
SET NOCOUNT ON;
DECLARE @version nvarchar(20) = ?;
UPDATE DbTools.Config SET value = @version, updated_at = SYSUTCDATETIME()
WHERE name = N'schema_version';
IF @@ROWCOUNT = 0
    INSERT INTO DbTools.Config (name, value) VALUES (N'schema_version', @version);

-- Collection settings and the deployed script version, read by DbTools.
IF OBJECT_ID(N'DbTools.Config', N'U') IS NULL
    CREATE TABLE DbTools.Config (
        name sysname NOT NULL CONSTRAINT PK_DbTools_Config PRIMARY KEY,
        value nvarchar(4000) NULL,
        updated_at datetime2(0) NOT NULL CONSTRAINT DF_DbTools_Config_updated DEFAULT SYSUTCDATETIME()
    );

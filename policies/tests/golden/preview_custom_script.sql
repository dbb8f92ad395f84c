-- DbTools custom script policy

USE [master];
GO
EXEC dbo.usp_Purge @days = 30;
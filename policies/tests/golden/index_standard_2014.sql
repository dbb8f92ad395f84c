-- 42.0 % fragmented, 120000 pages
ALTER INDEX [PK_Orders] ON [dbo].[Orders] REBUILD WITH (ONLINE = OFF);
-- 12.5 % fragmented, 8000 pages
ALTER INDEX [IX_Orders_Customer] ON [dbo].[Orders] REORGANIZE;
-- 12.5 % fragmented, 8000 pages
ALTER INDEX [IX_NoPageLocks] ON [dbo].[Orders] REBUILD WITH (ONLINE = OFF);
-- 55.0 % fragmented, 900000 pages
ALTER INDEX [PK_Big] ON [sales].[Big]]Table] REBUILD PARTITION = 3 WITH (ONLINE = OFF);
-- 35.0 % fragmented, 2000 pages
ALTER INDEX [PK_Docs] ON [dbo].[Docs] REBUILD WITH (ONLINE = OFF);
-- 300 modifications
UPDATE STATISTICS [dbo].[Orders] ([IX_Orders_Customer]);
-- 1200 modifications
UPDATE STATISTICS [dbo].[Orders] ([_WA_Sys_00000002_Status]);

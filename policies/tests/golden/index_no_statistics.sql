-- 42.0 % fragmented, 120000 pages
ALTER INDEX [PK_Orders] ON [dbo].[Orders] REBUILD WITH (ONLINE = ON);
-- 55.0 % fragmented, 900000 pages
ALTER INDEX [PK_Big] ON [sales].[Big]]Table] REBUILD PARTITION = 3 WITH (ONLINE = ON);
-- 35.0 % fragmented, 2000 pages
ALTER INDEX [PK_Docs] ON [dbo].[Docs] REBUILD WITH (ONLINE = ON);

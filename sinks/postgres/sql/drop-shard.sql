-- Capping: a whole expired day goes at once, without the cost of deleting its rows.
DROP TABLE IF EXISTS $TABLE

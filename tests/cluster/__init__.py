"""Several Swell processes on one PostgreSQL database and one Redis, tested from outside."""

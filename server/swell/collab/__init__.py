"""The domain: documents, rooms, peers, presence. No Quart, no SQLAlchemy."""

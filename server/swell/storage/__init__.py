"""SQLAlchemy persistence: models, engine, and the store that fits the domain's ports."""

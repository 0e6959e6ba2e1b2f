"""What viewers watch: presence, activity and content projections over Server-Sent Events."""

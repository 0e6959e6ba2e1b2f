"""The only package that imports Quart: HTTP API, WebSocket, event streams, pages."""

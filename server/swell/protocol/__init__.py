"""Sans-IO codecs: y-websocket frames, Swell's protocol extension, SSE events."""

"""Adapters that join processes of one deployment (fit ``collab.relay.Relay``)."""

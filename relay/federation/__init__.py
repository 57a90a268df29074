"""Relay-to-relay federation over HTTPS with mutual TLS: server routes and peer client."""

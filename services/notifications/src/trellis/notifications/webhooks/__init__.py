"""Webhooks for outside systems (Standard Webhooks): fan-out, signing, the delivery worker, replay."""

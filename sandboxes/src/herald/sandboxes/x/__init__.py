"""Sandbox emulator of the X (Twitter API v2) endpoints Herald uses: see :mod:`herald.sandboxes.x.app`."""

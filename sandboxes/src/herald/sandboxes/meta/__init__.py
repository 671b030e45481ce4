"""Sandbox emulator of Facebook Pages (Meta Graph API); see :mod:`herald.sandboxes.meta.app`."""

"""Exceptions raised by the crypto package."""


class DecryptionError(Exception):
    """A ciphertext failed to open: altered, moved to another owner, or the wrong key."""


class CiphertextFormatError(DecryptionError):
    """A ciphertext is malformed: unknown version, truncated or impossible lengths."""

"""Cryptography for ReportLine: key pairs, sealed keys, envelopes and receipts.

Pure functions over bytes. Imports neither Flask nor SQLAlchemy. The formats
are specified byte by byte in docs/crypto.md.
"""

from reportline.crypto.errors import CiphertextFormatError, DecryptionError

__all__ = ["CiphertextFormatError", "DecryptionError"]

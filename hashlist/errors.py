"""The exception hierarchy: one root per concern, one type per failure.

Callers catch a root (``VerificationError``, ``InputError``, ``ConfigError``)
when they only need to know *that* something failed, and a leaf type when
the kind of failure decides what happens next (a node stops on
``EquivocationError`` but merely retries on ``BadProofError``).

Invariants:

* Every error carries a message a person can act on: it names the offending
  value, the limit or the expectation, never just "invalid".
* Foreign exceptions (``cryptography``, ``binascii``, ``tomllib``) are wrapped
  with ``raise ... from e`` so the cause is kept but callers only ever see
  these types.
* Nothing in this module does IO; evidence is carried as bytes.
"""

from __future__ import annotations


class HashlistError(Exception):
    """Root of every error this package raises on purpose."""


# --- Bad input (a person or a peer sent something that is not well formed) ---


class InputError(HashlistError, ValueError):
    """Input that is not well formed. Maps to gRPC ``INVALID_ARGUMENT``."""


class InvalidSignalError(InputError):
    """A ``kind:hex`` hash that is of an unknown kind, the wrong length or not hex."""


class HashingError(InputError):
    """A file could not be read or decoded; the message names it (``hashlist.hashing``,
    ``hashlist.video``)."""


# --- Service: who may do what, and what exists ---


class ServiceError(HashlistError):
    """A request refused for reasons of identity, permission or existence."""


class UnauthenticatedError(ServiceError):
    """The caller's certificate does not establish a hashlist identity."""


class PermissionDeniedError(ServiceError):
    """The caller is known but not allowed to do this."""


class NotFoundError(ServiceError):
    """The named list (or other object) does not exist."""


class UnavailableError(ServiceError):
    """The peer could not be reached or did not answer in time."""


class ResourceExhaustedError(ServiceError):
    """The peer refused for lack of capacity (a cap or a rate limit): not retried at
    once, only after the caller's own backoff. Maps to gRPC ``RESOURCE_EXHAUSTED``."""


class AlreadyExistsError(ServiceError):
    """The object to create exists already (a case number taken). Maps to gRPC
    ``ALREADY_EXISTS``."""


class ConflictError(ServiceError):
    """The object is not in a state that allows this (a case already decided, a list
    that takes no cases). Maps to gRPC ``FAILED_PRECONDITION``, with its detail."""


# --- Storage ---


class StorageError(HashlistError):
    """A database that cannot be opened, is of another schema, or is inconsistent."""


class CorruptReplicaError(StorageError):
    """A node's rows disagree with the state it verified: the file was changed outside
    the node (or damaged). The list is repaired from the hub."""


# --- Configuration ---


class ConfigError(HashlistError):
    """A configuration or trust-root file that cannot be used as written."""


class TrustRootError(ConfigError):
    """A trust root that is malformed or internally inconsistent."""


class KeyFormatError(ConfigError):
    """A signer or verifier key string that does not follow C2SP signed-note."""


# --- Verification of what the hub publishes ---


class VerificationError(HashlistError):
    """Root of every way published data can fail to verify."""


class MalformedNoteError(VerificationError):
    """A signed note or checkpoint that is not structurally valid."""


class BadSignatureError(VerificationError):
    """A signature from a known key does not verify, or no trusted key signed."""


class UnknownKeyError(BadSignatureError):
    """No key the trust root knows signed: perhaps the hub's keys were rotated.

    The one verification failure that makes a node look for a newer trust
    root before refusing."""


class QuorumError(VerificationError):
    """Fewer valid witness cosignatures than the trust root requires.

    Not a bad signature: it is also what every new checkpoint looks like
    until its witnesses answer, so a node treats it as pending."""


class BadWitnessError(VerificationError):
    """A witness's cosignature did not verify, or is dated in the future: it was not
    counted (the checkpoint may still have its quorum from the other witnesses)."""


class OriginMismatchError(VerificationError):
    """A checkpoint for another log than the one being followed."""


class BadProofError(VerificationError):
    """An inclusion or consistency proof, or a recomputed root, does not match."""


class MalformedDeltaError(VerificationError):
    """A delta whose bytes are not exactly canonical, or exceed the limits."""


class OversizedDeltaError(MalformedDeltaError):
    """A leaf over its format version's bound (65,535 bytes for v2, 16 MiB for v1) or
    the verifier's own limit: refused before a byte of it is parsed."""


class DeltaConflictError(MalformedDeltaError):
    """A well-formed delta that cannot apply: it adds a listed hash or removes
    an unlisted one, belongs to another list or version, or is a v1 leaf after a
    v2 one (a log's format version never goes back)."""


class OversizedResponseError(VerificationError):
    """The hub sent a message larger than this client's configured limit."""


class DigestMismatchError(VerificationError):
    """The state digest after applying a delta differs from the one it claims."""


class RollbackError(VerificationError):
    """A checkpoint smaller than the verified state: the log went backwards."""


class EquivocationError(VerificationError):
    """Two validly signed checkpoints of the same size with different roots.

    Both signed notes are kept as evidence: together they prove the log key
    signed two histories, and anyone holding the trust root can check that.
    """

    def __init__(self, message: str, *, trusted_note: bytes, conflicting_note: bytes) -> None:
        super().__init__(message)
        self.trusted_note = trusted_note
        self.conflicting_note = conflicting_note


class StaleCheckpointError(VerificationError):
    """The newest valid cosignature is older than the configured maximum age."""

    def __init__(self, message: str, *, age_seconds: int) -> None:
        super().__init__(message)
        self.age_seconds = age_seconds


class FutureTimestampError(VerificationError):
    """A cosignature dated further in the future than the allowed clock skew."""


class WitnessConflictError(VerificationError):
    """A witness was asked to extend a size other than the one it last cosigned.

    Not an attack: the submitter's idea of the witness's state is out of date
    (C2SP tlog-witness answers 409 with its own size, carried in ``size``).
    """

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


# --- Trust-root rotation (TUF's root chaining) ---


class RotationError(VerificationError):
    """A new trust-root version that may not replace the current one."""


class RotationThresholdError(RotationError):
    """Too few distinct root keys (of the old or of the new version) signed it."""


class RotationVersionError(RotationError):
    """The new version is not exactly the current version plus one, or is for another hub."""


class ExpiredTrustRootError(RotationError):
    """The newest trust-root version has passed its ``expires`` time."""

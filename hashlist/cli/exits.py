"""One exit-status policy for the whole ``hashlist`` command.

=====  =========================================================================
  0    done; everything checked verified
  1    the command ran and its answer is no: a file could not be hashed, a node
       is not healthy, evidence does not prove a split view, a case was decided
  2    bad usage or input: arguments (argparse exits 2 too), a file, a
       configuration or key, a name that does not exist on the hub
  3    a peer (the hub, a witness, the node's Matcher) could not be reached, or
       is at capacity (try again later)
  4    undecided: ``audit compare`` could not compare every pair
  5    refused: the peer does not accept this certificate for this call
  6    internal or storage error (the details are in the log or on stderr)
 10-19 verification failed, one status per kind (``VERIFICATION_STATUSES``)
=====  =========================================================================

Commands return one of these constants (or raise); ``exit_status`` maps a
raised error through the one table below. Nothing here imports more than
the error types, so ``hashlist --help`` stays fast.
"""

from __future__ import annotations

from hashlist import errors

OK = 0
NEGATIVE = 1
USAGE = 2
UNAVAILABLE = 3
UNDECIDED = 4
REFUSED = 5
INTERNAL = 6
SPLIT_VIEW = 10  # two histories signed: also what a rewritten history is

VERIFICATION_STATUSES: tuple[tuple[type[errors.VerificationError], int], ...] = (
    (errors.EquivocationError, SPLIT_VIEW),  # history rewritten / two roots for one size
    (errors.RollbackError, 11),
    (errors.BadSignatureError, 12),
    (errors.QuorumError, 12),  # too few witness cosignatures: the signatures are missing
    (errors.OriginMismatchError, 13),
    (errors.DigestMismatchError, 14),  # a set digest (or a replica's rows) does not add up
    (errors.BadProofError, 15),
    (errors.MalformedDeltaError, 16),
    (errors.StaleCheckpointError, 17),
    (errors.FutureTimestampError, 18),
    (errors.VerificationError, 19),
)

STATUSES: tuple[tuple[type[errors.HashlistError], int], ...] = (
    *VERIFICATION_STATUSES,
    (errors.UnavailableError, UNAVAILABLE),
    (errors.ResourceExhaustedError, UNAVAILABLE),  # at capacity: try again later
    (errors.UnauthenticatedError, REFUSED),
    (errors.PermissionDeniedError, REFUSED),
    (errors.NotFoundError, USAGE),
    (errors.AlreadyExistsError, NEGATIVE),
    (errors.ConflictError, NEGATIVE),  # not possible in the object's state: a case decided
    (errors.InputError, USAGE),
    (errors.ConfigError, USAGE),
    (errors.StorageError, INTERNAL),
    (errors.HashlistError, INTERNAL),
)


def exit_status(error: errors.HashlistError) -> int:
    return next(code for kind, code in STATUSES if isinstance(error, kind))

"""One error hierarchy for the relay: every error carries a :class:`~relay.core.reasons.Reason`.

::

    RelayError(code)                        code: a Reason value (DeliveryError: or Slack's own)
     ├── InputError                         bad input: exit 2, HTTP 400
     │    └── ConfigError(source, line)     a config or policy file that cannot be used
     │         ├── PolicyError              a sharing-policy file that cannot be used
     │         └── LoadError(source, problems)   every problem of one file, FILE:LINE each
     │              └── ConfigLoadError     relay.yaml
     ├── VerificationError                  an envelope, key or checkpoint refused (4xx)
     │    └── CheckpointError               an audit checkpoint token refused
     ├── DeliveryError(retryable)           a peer or Slack call that failed
     │    └── AuditWriteError               an audit write failed: nothing goes ahead
     │         └── AuditUnavailable         audit writes are failing: nothing is forwarded
     └── CommandError(message, exit_code)   a command's one-line failure

:func:`exit_code` is the one mapping from an error to a command's exit status: 2 for bad
input or configuration, 1 for any other failure (0 is success, no error).

Messages carry ids, field names, counts and reason codes, never message text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from relay.core.reasons import Reason

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INPUT",
    "EXIT_OK",
    "AuditUnavailable",
    "AuditWriteError",
    "CheckpointError",
    "CommandError",
    "ConfigError",
    "ConfigLoadError",
    "DeliveryError",
    "InputError",
    "LoadError",
    "PolicyError",
    "ReceiptError",
    "RelayError",
    "TransactionsUnsupported",
    "VerificationError",
    "exit_code",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1  # a runtime failure (a store that cannot be read, a refused envelope)
EXIT_INPUT: Final = 2  # bad input or configuration
# Reasons that are the caller's input, whatever error class carries them.
_INPUT_REASONS: Final = frozenset({Reason.BAD_INPUT, Reason.CONFIG_INVALID, Reason.POLICY_INVALID})


class RelayError(Exception):
    """Base class: ``code`` is a stable snake_case reason, ``http_status`` a hint for servers."""

    code: str = Reason.INTERNAL
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InputError(RelayError):
    """Malformed input: a bad JSON document on stdin, a bad request body, a bad file."""

    code = Reason.BAD_INPUT
    http_status = 400


class ConfigError(InputError):
    """A configuration file problem, located as ``source:line``."""

    code = Reason.CONFIG_INVALID
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        source: str = "<config>",
        line: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


class PolicyError(ConfigError):
    """A sharing-policy file that does not load: nothing leaves (fail closed)."""

    code = Reason.POLICY_INVALID


class LoadError(ConfigError):
    """All problems of one file; ``str()`` gives one ``file:line: message`` per line."""

    def __init__(self, source: str, problems: Sequence[tuple[int, str]]) -> None:
        first_line, first = problems[0]
        super().__init__(first, source=source, line=first_line)
        self.problems = sorted(problems)

    def lines(self) -> list[str]:
        return [f"{self.source}:{line}: {msg}" for line, msg in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class ConfigLoadError(LoadError):
    """All problems of a ``relay.yaml``; one ``file:line: message`` per problem."""


class VerificationError(RelayError):
    """An envelope that must be refused; ``code`` is the refusal :class:`Reason` and
    ``http_status`` its status in the reason table."""

    code: Reason = Reason.SIGNATURE_INVALID
    http_status = 403

    def __init__(
        self, message: str, *, code: Reason | str, http_status: int | None = None
    ) -> None:
        reason = Reason(code)
        super().__init__(message, code=reason)
        self.code = reason
        status = http_status if http_status is not None else reason.http_status
        if status is not None:
            self.http_status = status


class CheckpointError(VerificationError):
    """A checkpoint token that cannot be accepted (``malformed``, ``wrong_type``, a key or
    signature reason, ``not_yet_valid``, ...)."""


class ReceiptError(VerificationError):
    """A receipt token that cannot be accepted (``malformed``, ``wrong_type``, a key or
    signature reason, ``not_yet_valid``, ...)."""


class DeliveryError(RelayError):
    """A call to a peer or to Slack that failed; ``retryable`` says whether to try again.
    ``code`` is a :class:`Reason` value, ``http_<status>``, or Slack's own error code."""

    code = Reason.DELIVERY_FAILED
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        retry_after: float | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.retry_after = retry_after
        self.cause = cause  # the library's exception class behind it (a name, never its text)


class TransactionsUnsupported(DeliveryError):
    """The partner relay has no ``POST /v1/transactions`` (an older relay): the outbox sends
    it one envelope per request from then on."""

    def __init__(self, partner: str) -> None:
        super().__init__(
            f"partner {partner} takes no transactions", code=Reason.DELIVERY_FAILED, retryable=True
        )


class AuditWriteError(DeliveryError):
    """An audit write failed; nothing it recorded may go ahead. Retryable: what it belonged
    to (a Slack event, a queue item) stays and is tried again once writes succeed. The
    message names no value and no driver text (that may echo a URL or data)."""

    def __init__(
        self, message: str = "audit write failed", *, code: str = Reason.AUDIT_WRITE_FAILED
    ) -> None:
        super().__init__(message, code=code, retryable=True)


class AuditUnavailable(AuditWriteError):
    """Audit writes are failing: nothing is forwarded until the ledger takes writes again.
    Retryable: the Slack event (or queue item) stays and is tried again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=Reason.AUDIT_UNAVAILABLE)


class CommandError(RelayError):
    """A command's one-line error for stderr; ``exit_code`` 2 for bad input or
    configuration (``code`` ``bad_input``), 1 for a failure (``command_failed``)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        if exit_code not in (EXIT_FAILURE, EXIT_INPUT):
            raise ValueError("a command fails with exit 1 or 2")
        reason = Reason.BAD_INPUT if exit_code == EXIT_INPUT else Reason.COMMAND_FAILED
        super().__init__(message, code=reason)

    @property
    def exit_code(self) -> int:
        return exit_code(self)


def exit_code(error: BaseException) -> int:
    """A command's exit status for ``error``: 2 for bad input or configuration (an
    :class:`InputError`, or an error whose reason is the caller's input), else 1."""
    if isinstance(error, InputError):
        return EXIT_INPUT
    if isinstance(error, RelayError) and error.code in _INPUT_REASONS:
        return EXIT_INPUT
    return EXIT_FAILURE

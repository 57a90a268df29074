"""One error hierarchy for the relay.

::

    RelayError(code, http_status)
     ├── ConfigError(source, line)      a config or policy file that cannot be used (exit 2)
     │    └── PolicyError               a sharing-policy file that cannot be used
     ├── InputError                     bad input on the command line or over HTTP (exit 2 / 400)
     ├── VerificationError              an envelope or signature that does not verify (4xx)
     └── DeliveryError(retryable)       a peer or Slack call that failed

Messages carry ids, field names, counts and reason codes, never message text.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "InputError",
    "PolicyError",
    "RelayError",
    "VerificationError",
]


class RelayError(Exception):
    """Base class: ``code`` is a stable snake_case reason, ``http_status`` a hint for servers."""

    code: str = "internal"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(RelayError):
    """A configuration file problem, located as ``source:line``."""

    code = "config_invalid"
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

    code = "policy_invalid"


class InputError(RelayError):
    """Malformed input: a bad JSON document on stdin, a bad request body."""

    code = "bad_input"
    http_status = 400


class VerificationError(RelayError):
    """An envelope that must be refused; ``code`` is the refusal reason."""

    code = "signature_invalid"
    http_status = 403

    def __init__(self, message: str, *, code: str, http_status: int | None = None) -> None:
        super().__init__(message, code=code)
        if http_status is not None:
            self.http_status = http_status


class DeliveryError(RelayError):
    """A call to a peer or to Slack that failed; ``retryable`` says whether to try again."""

    code = "delivery_failed"
    http_status = 502

    def __init__(
        self, message: str, *, code: str, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.retry_after = retry_after

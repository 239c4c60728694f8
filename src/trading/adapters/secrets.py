"""Broker credentials from Secrets Manager, read through Powertools parameters (cached).

The secret (the storage stack's ``BrokerCredentialsSecret``, KMS-encrypted) holds JSON
``{"key_id", "secret"}``; a function receives only its ARN (``BROKER_SECRET_ARN``). The value
never goes to an environment variable, a log or an output: :class:`BrokerCredentials` leaves
the secret out of its ``repr``, and errors name missing fields, never values.

>>> credentials = read_broker_credentials(secret_arn)  # doctest: +SKIP
>>> broker.connect(credentials.key_id, credentials.secret)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# Powertools keeps the value this long: a rotated secret reaches a warm function within it.
CACHE_SECONDS = 3600
REQUIRED_FIELDS = ("key_id", "secret")


class BrokerCredentialsError(RuntimeError):
    """The secret is missing, unreadable or lacks a field (the message never holds a value)."""


@dataclass(frozen=True, slots=True)
class BrokerCredentials:
    """A broker's API key id and secret; ``repr`` and ``str`` show the key id only."""

    key_id: str
    secret: str = field(repr=False)


def read_broker_credentials(
    secret_arn: str, provider: SecretsProvider | None = None
) -> BrokerCredentials:
    """The credentials in ``secret_arn``, from Powertools' cache when read within
    :data:`CACHE_SECONDS` (``provider`` defaults to Powertools' own Secrets Manager client)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        if provider is None:
            value: Any = parameters.get_secret(secret_arn, transform="json", max_age=CACHE_SECONDS)
        else:
            value = provider.get(secret_arn, transform="json", max_age=CACHE_SECONDS)
    except parameters.exceptions.TransformParameterError:
        raise BrokerCredentialsError(f"secret {secret_arn} is not JSON") from None
    except parameters.exceptions.GetParameterError as error:
        raise BrokerCredentialsError(f"cannot read secret {secret_arn}: {error}") from None
    if not isinstance(value, dict):
        raise BrokerCredentialsError(f"secret {secret_arn} is not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if not isinstance(value.get(name), str)]
    if missing:
        raise BrokerCredentialsError(f"secret {secret_arn} lacks {', '.join(missing)}")
    return BrokerCredentials(key_id=value["key_id"], secret=value["secret"])

"""Errors of `ledger.community_config`, one root for all of them.

CommunityConfigError        (a LedgerError, so the CLI prints it as one line)
├── ConfigRefusedError      the file is not a valid community (exit 2, nothing sent)
│   └── ChainConflictError  the file asks what the chain can never do (exit 2, nothing sent)
├── PartialDeploymentError  a journal of an interrupted deployment that cannot be resumed
└── SignerError             no usable key: keystore missing, unreadable or wrong password
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import requests
from web3.exceptions import Web3Exception

from ledger.errors import ChainUnreachableError, LedgerError

#: Exit status of a refused input (the CLI contract: exit 2, one line on stderr).
EXIT_REFUSED = 2


class CommunityConfigError(LedgerError):
    """Root of every error raised by `ledger.community_config`."""


class ConfigRefusedError(CommunityConfigError):
    """The config file is refused; the message names the file, the line when known, the key."""

    exit_code: ClassVar[int] = EXIT_REFUSED


class ChainConflictError(ConfigRefusedError):
    """The file contradicts what the chain fixed for ever (time grid, a removed member, ...)."""


class PartialDeploymentError(CommunityConfigError):
    """An interrupted deployment's journal names another chain or deployer."""


class SignerError(CommunityConfigError):
    """The signing key could not be loaded."""


@contextmanager
def chain_errors_named() -> Iterator[None]:
    """A node that stops answering midway is one ChainUnreachableError, not a traceback.

    `ledger.chain` names the failures of the calls it makes; this package's own reads
    (nonces, code, logs) go through web3.py directly.
    """
    try:
        yield
    except (requests.RequestException, ConnectionError) as error:
        raise ChainUnreachableError(f"the node stopped answering: {type(error).__name__}") from None
    except Web3Exception as error:
        raise ChainUnreachableError(f"the node refused a request: {error}") from None

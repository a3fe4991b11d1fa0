"""Errors of the metering package: one root, so callers catch one thing.

MeteringError                      root; the CLI prints it as one line, exit 1
+-- ReadingFormatError             a reading / signed reading / JSON that breaks the format
|   +-- PeriodFormatError          a meter period batch that breaks its format (v2)
|       +-- BoundaryCountError     not one register pair per boundary of the period
+-- KeyFileError                   missing, unreadable or wrongly protected meter key
+-- TelegramError                  a P1 telegram we refuse (exit 2)
|   +-- TelegramChecksumError      CRC missing or wrong
|   +-- MissingRegisterError       an energy register is absent
|   +-- PlaceholderClockError      the meter clock is unset (000101010000W, 632525252525W)
+-- MeterUnreachableError          serial port, P1 gateway or Modbus device does not answer
+-- MeterDataError                 a device answered with values we refuse (NaN, bad SF)
+-- RegistersWentBackwardsError    a cumulative register decreased: never signed or sent
|   +-- RegistersDecreasedError    ... between two boundaries of a period batch (v2)
+-- SpoolError                     the agent's SQLite spool is unusable
+-- MeterConfigError               the agent's chain settings: missing, inconsistent, unreadable
"""

from __future__ import annotations


class MeteringError(Exception):
    """Root of every error raised by `metering`."""

    #: Process exit code used by the `quartier` CLI for this error.
    exit_code: int = 1


class ReadingFormatError(MeteringError, ValueError):
    """A reading, signed reading or its JSON does not follow the fixed format."""


class KeyFileError(MeteringError):
    """A meter key file cannot be written, read or decrypted."""


class TelegramError(MeteringError):
    """A P1 telegram was refused; `read-p1` exits 2 on it."""

    exit_code = 2


class TelegramChecksumError(TelegramError):
    """The telegram's CRC16 is missing or does not match its content."""


class MissingRegisterError(TelegramError):
    """A required energy register (1.8.1, 1.8.2, 2.8.1, 2.8.2) is absent or unreadable."""


class PlaceholderClockError(TelegramError):
    """The meter's clock holds a placeholder instead of a real time."""


class MeterUnreachableError(MeteringError):
    """The meter (serial port, TCP gateway, Modbus device) cannot be reached."""


class MeterDataError(MeteringError):
    """The meter answered, but with values that cannot be cumulative Wh registers."""


class RegistersWentBackwardsError(MeteringError):
    """A cumulative register is lower than the last one signed: refused, never sent."""


class SpoolError(MeteringError):
    """The agent's durable spool cannot be opened or holds inconsistent data."""


class PeriodFormatError(ReadingFormatError):
    """A meter period batch (protocol v2, `metering.period`) that its format cannot carry."""


class BoundaryCountError(PeriodFormatError):
    """A period batch was built from a number of boundary readings other than intervals + 1."""


class RegistersDecreasedError(RegistersWentBackwardsError):
    """A register is lower at a boundary of a period than at the one before: never signed."""


class MeterConfigError(MeteringError):
    """The agent's chain settings (deployment file, flags, the chain's time grid) are missing,
    inconsistent with each other or unreadable."""
